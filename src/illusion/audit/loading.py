"""MODEL files and ``--arch`` specs -> ``nn.Module``; the dataset fitted to the model's input.

A MODEL file is one of

* a TorchScript archive (``torch.jit.save``), recognised by its ``constants.pkl`` entry;
* a state dict (or a dict holding one under ``"state_dict"`` / ``"model"``), loaded with
  ``weights_only=True`` and poured into the architecture ``--arch`` builds;
* a pickled ``nn.Module`` (``torch.save(model)``), loaded only when the caller passes
  ``unsafe_pickle=True``: unpickling runs arbitrary code.

Every user mistake raises :class:`AuditInputError` (a ``ValueError``) with a one-line message,
which the command line prints and exits 2 on.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import math
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..data import ImageData
from ..models import create_model

__all__ = ["AuditInputError", "build_arch", "fit_data", "input_shape", "is_linear",
           "load_model", "parse_forget"]


class AuditInputError(ValueError):
    """Bad input to the audit; the message is one line meant for the user."""


def is_linear(module: nn.Module) -> bool:
    """``nn.Linear``, also inside a TorchScript archive (where it keeps its original name)."""
    return isinstance(module, nn.Linear) or getattr(module, "original_name", None) == "Linear"


def _parse_kwargs(text: str) -> dict:
    """``"width=16,in_channels=1"`` -> ``{"width": 16, "in_channels": 1}`` (JSON values)."""
    out = {}
    for item in filter(None, text.split(",")):
        if "=" not in item:
            raise AuditInputError(f"--arch: expected KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def build_arch(spec: str, num_classes: int, in_channels: int) -> nn.Module:
    """A freshly initialised model from an ``--arch`` spec (initialisation draws from the
    global RNG; callers that need a determined init fork it).

    * ``torchvision:NAME[:k=v,...]`` — any torchvision classification model, untrained;
    * ``timm:NAME[:k=v,...]`` — when timm is installed (the ``timm`` extra);
    * ``illusion:NAME[:k=v,...]`` — this project's models, e.g. ``illusion:resnet18:width=16``;
    * ``package.module:factory[:k=v,...]`` — any importable callable returning an ``nn.Module``.

    ``num_classes`` (and, for ``timm`` / ``illusion``, the input channels) come from the data
    unless given as ``k=v``; a factory receives ``num_classes`` only if it accepts it.
    """
    kind, _, rest = spec.partition(":")
    name, _, kw_text = rest.partition(":")
    if not name:
        raise AuditInputError(f"--arch {spec!r}: expected torchvision:NAME, timm:NAME, "
                              "illusion:NAME[:k=v,...] or package.module:factory")
    kwargs = _parse_kwargs(kw_text)
    try:
        if kind == "torchvision":
            import torchvision

            if name not in torchvision.models.list_models():
                raise AuditInputError(f"--arch: torchvision has no model {name!r}")
            return torchvision.models.get_model(name, weights=None,
                                                **{"num_classes": num_classes, **kwargs})
        if kind == "timm":
            try:
                import timm
            except ImportError:
                raise AuditInputError("--arch timm:...: timm is not installed "
                                      "(pip install 'illusion[timm]')") from None
            return timm.create_model(name, pretrained=False, **{
                "num_classes": num_classes, "in_chans": in_channels, **kwargs})
        if kind == "illusion":
            return create_model(name, **{"num_classes": num_classes,
                                         "in_channels": in_channels, **kwargs})
        return _from_factory(kind, name, num_classes, kwargs)
    except TypeError as exc:  # a keyword the constructor does not take
        raise AuditInputError(f"--arch {spec!r}: {exc}") from None


def _from_factory(module_name: str, attr: str, num_classes: int, kwargs: dict) -> nn.Module:
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise AuditInputError(f"--arch {module_name}:{attr}: cannot import it ({exc})") from None
    params = inspect.signature(factory).parameters
    if "num_classes" in params and "num_classes" not in kwargs:
        kwargs = {"num_classes": num_classes, **kwargs}
    model = factory(**kwargs)
    if not isinstance(model, nn.Module):
        raise AuditInputError(f"--arch {module_name}:{attr} returned a "
                              f"{type(model).__name__}, not an nn.Module")
    return model


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(n.endswith("/constants.pkl") or n == "constants.pkl" for n in zf.namelist())


def _state_dict(obj) -> dict | None:
    """The tensors of a state dict (``module.`` prefixes of DataParallel removed), or None."""
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not obj or not all(
            isinstance(v, torch.Tensor) for v in obj.values()):
        return None
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def _state_channels(state: dict) -> int | None:
    """Input channels of the first convolution in a state dict (its first 4-D weight)."""
    for key, value in state.items():
        if key.endswith("weight") and value.ndim == 4:
            return int(value.shape[1])
    return None


def load_model(path: str | Path, arch: str | None, num_classes: int, in_channels: int,
               unsafe_pickle: bool = False, what: str = "MODEL") -> nn.Module:
    """The model stored at ``path``, on the CPU, in eval mode (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise AuditInputError(f"{what} {path}: no such file")
    if _is_torchscript(path):
        with warnings.catch_warnings():  # torch.jit.load's deprecation notice: not the user's
            warnings.simplefilter("ignore")
            try:
                return torch.jit.load(str(path), map_location="cpu").eval()
            except RuntimeError as exc:
                raise AuditInputError(f"{what} {path}: unreadable TorchScript: "
                                      f"{_first_line(exc)}") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only rejects a class it may not import ("Unsupported global": a pickled
        # object) and any byte stream that is no pickle at all (a text or random file)
        if "Unsupported global" not in str(exc):
            raise AuditInputError(f"{what} {path}: not a PyTorch file (unreadable pickle "
                                  "data)") from None
        if not unsafe_pickle:
            raise AuditInputError(
                f"{what} {path} is a pickled object, not a state dict; unpickling runs "
                "arbitrary code: pass --unsafe-pickle if you trust the file") from None
        try:
            obj = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc2:  # noqa: BLE001 (a class that no longer imports, ...)
            raise AuditInputError(f"{what} {path}: cannot unpickle it "
                                  f"({type(exc2).__name__}: {_first_line(exc2)})") from None
    except Exception as exc:  # noqa: BLE001 (a text file: IndexError; a broken zip: RuntimeError)
        raise AuditInputError(f"{what} {path}: not a PyTorch file ({type(exc).__name__}: "
                              f"{_first_line(exc)})") from None
    if isinstance(obj, nn.Module):
        return obj.eval()
    state = _state_dict(obj)
    if state is None:
        raise AuditInputError(f"{what} {path}: neither a state dict, a TorchScript archive "
                              "nor an nn.Module")
    if arch is None:
        raise AuditInputError(f"{what} {path} is a state dict: say which architecture it "
                              "belongs to with --arch (e.g. torchvision:resnet18)")
    model = build_arch(arch, num_classes, _state_channels(state) or in_channels)
    _check_head(model, state, num_classes, what)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise AuditInputError(f"{what} {path} does not fit --arch {arch}: "
                              f"{_first_line(exc, skip_header=True)}") from None
    return model.eval()


def _check_head(model: nn.Module, state: dict, num_classes: int, what: str) -> None:
    """A clear message when the state dict's classifier has another number of classes."""
    linears = [n for n, m in model.named_modules() if is_linear(m)]
    key = f"{linears[-1]}.weight" if linears else None
    if key in state and state[key].ndim == 2 and state[key].shape[0] != num_classes:
        raise AuditInputError(f"{what} has {state[key].shape[0]} classes ({key}) but the data "
                              f"has {num_classes} class folders")


def _first_line(exc: BaseException, skip_header: bool = False) -> str:
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    if skip_header and len(lines) > 1:  # "Error(s) in loading state_dict for X:" + details
        return lines[1]
    return lines[0] if lines else type(exc).__name__


# ------------------------------------------------------------------ data <-> model input

def input_shape(model: nn.Module) -> tuple[int | None, int | None]:
    """(channels, image size) the model's first layer expects, ``None`` where it cannot say:
    a first ``Conv2d`` gives the channels; a first ``Linear`` on flattened square images gives
    both when ``in_features = C * S * S`` for C in (3, 1)."""
    for module in model.modules():
        kind = getattr(module, "original_name", type(module).__name__)
        if kind == "Conv2d":
            return int(module.weight.shape[1]), None
        if kind == "Linear":
            n = int(module.weight.shape[1])
            for c in (3, 1):
                s = math.isqrt(n // c)
                if n % c == 0 and s * s * c == n:
                    return c, s
            return None, None
    return None, None


def fit_data(data: ImageData, channels: int | None, size: int | None,
             mean: Sequence[float] | None, std: Sequence[float] | None) -> ImageData:
    """``data`` with ``channels`` channels (grey repeated to RGB; RGB to grey by luminance),
    resized (bilinear, antialiased) to ``size`` x ``size``, and the normalisation ``mean`` /
    ``std`` (default: the statistics of its own training images after those changes)."""
    x_train, x_test = data.x_train, data.x_test
    if channels is not None and channels != data.in_channels:
        if data.in_channels == 1:
            x_train, x_test = (x.expand(-1, channels, -1, -1) for x in (x_train, x_test))
        elif data.in_channels == 3 and channels == 1:
            lum = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            x_train, x_test = ((x.float() * lum).sum(1, keepdim=True).round().to(torch.uint8)
                               for x in (x_train, x_test))
        else:
            raise AuditInputError(f"the model expects {channels} input channels; the data has "
                                  f"{data.in_channels}")
    if size is not None and size != x_train.shape[-1]:
        x_train, x_test = (_resize(x, size) for x in (x_train, x_test))
    x_train, x_test = x_train.contiguous(), x_test.contiguous()
    c = x_train.shape[1]
    if mean is None or std is None:
        xf = x_train.double() / 255.0
        mean = mean or tuple(xf.mean(dim=(0, 2, 3)).tolist())
        std = std or tuple(xf.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist())
    mean, std = _per_channel(mean, c, "--mean"), _per_channel(std, c, "--std")
    return dataclasses.replace(data, x_train=x_train, x_test=x_test, mean=mean, std=std)


def _per_channel(values: Sequence[float], channels: int, flag: str) -> tuple[float, ...]:
    values = tuple(float(v) for v in values)
    if len(values) == 1:
        return values * channels
    if len(values) != channels:
        raise AuditInputError(f"{flag} has {len(values)} values for {channels} channels")
    return values


def _resize(x: torch.Tensor, size: int, chunk: int = 1024) -> torch.Tensor:
    """uint8 (N, C, H, W) -> (N, C, size, size), in chunks to bound the float copy."""
    out = [F.interpolate(x[i:i + chunk].float(), size=(size, size), mode="bilinear",
                         antialias=True, align_corners=False).round().clamp(0, 255)
           .to(torch.uint8) for i in range(0, len(x), chunk)]
    return torch.cat(out) if out else x[:, :, :size, :size]


def parse_forget(values: Sequence[str], classes: Sequence[str]) -> tuple[int, ...]:
    """Forget classes given as indices or class-folder names -> sorted indices."""
    out = set()
    for v in values:
        if v in classes:
            out.add(list(classes).index(v))
        elif v.lstrip("-").isdigit() and 0 <= int(v) < len(classes):
            out.add(int(v))
        else:
            raise AuditInputError(
                f"forget class {v!r} is not in the data (classes 0..{len(classes) - 1}: "
                f"{', '.join(classes[:12])}{', ...' if len(classes) > 12 else ''})")
    if len(out) >= len(classes):
        raise AuditInputError("at least one class must be retained")
    return tuple(sorted(out))
