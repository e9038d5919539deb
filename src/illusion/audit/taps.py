"""Logits, penultimate features and per-stage features of any classifier, in one pass.

**Penultimate features** are the input of the model's last ``nn.Linear`` (in module
registration order), flattened to (N, D); ``feature_layer="NAME"`` takes the input of module
``NAME`` instead, ``"NAME:out"`` its output (globally average-pooled when it is a feature map).
When the features are the input of a linear layer with one row per class, that layer is the
*head* whose rows the duality distance compares with the class means.

**Stages** (for CKA against the original) are found by structure, not by name: every top-level
child of the model that is itself a container of modules (``torchvision`` ResNet:
``layer1``..``layer4``; this project's ResNet: ``stem``, ``stages.0``..``stages.3``; the items
of a top-level ``nn.ModuleList`` count as top-level), keeping those whose output is a feature map
(B, C, H, W), pooled over H and W, or a token sequence (B, T, C), averaged over T. Single layers
at the top (a stem convolution, pooling, the head) are not stages.

Eager models are read through forward hooks. TorchScript modules do not take hooks, so their
top-level children are *replayed* in order (a linear layer receives its input flattened, or
pooled when its width equals the channel count); the replay must reproduce the module's own
logits on the first batch, otherwise the audit stops with a message.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from ..data import ImageData, batches, normalize
from .loading import AuditInputError, is_linear

__all__ = ["Taps", "extract", "find_taps"]


@dataclass(frozen=True)
class Taps:
    """Where to read a model: the feature module, whether its input or output, its head."""

    feature: str  # module name
    output: bool  # False: the module's input; True: its output
    head: nn.Module | None  # the linear classifier reading the features (duality), if any
    stages: tuple[str, ...]  # candidate stage modules (kept when their output is a map)

    @property
    def description(self) -> str:
        return f"{'output' if self.output else 'input'} of {self.feature}"


def _chain(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Top-level children, with the items of a top-level ``ModuleList`` in its place."""
    out = []
    for name, child in model.named_children():
        kind = getattr(child, "original_name", type(child).__name__)
        if isinstance(child, nn.ModuleList) or kind == "ModuleList":
            out += [(f"{name}.{n}", c) for n, c in child.named_children()]
        else:
            out.append((name, child))
    return out


def find_taps(model: nn.Module, num_classes: int, feature_layer: str | None = None) -> Taps:
    """Resolve the feature layer and the candidate stages of ``model`` (see module doc)."""
    modules = dict(model.named_modules())
    if feature_layer is None:
        linears = [n for n, m in modules.items() if n and is_linear(m)]
        if not linears:
            raise AuditInputError("the model has no nn.Linear layer to read features from; "
                                  "name one with --feature-layer NAME")
        name, output = linears[-1], False
    else:
        name, _, side = feature_layer.partition(":")
        if name not in modules or not name:
            some = ", ".join(n for n in list(modules)[1:9])
            raise AuditInputError(f"--feature-layer {name!r} is not a module of the model "
                                  f"(e.g. {some})")
        if side not in ("", "in", "out"):
            raise AuditInputError("--feature-layer expects NAME, NAME:in or NAME:out")
        output = side == "out"
    module = modules[name]
    head = None
    if not output and is_linear(module) and module.weight.shape[0] == num_classes:
        head = module
    stages = tuple(n for n, c in _chain(model) if n != name and any(True for _ in c.children()))
    return Taps(name, output, head, stages)


def _pool(t: torch.Tensor) -> torch.Tensor | None:
    """(B, C, H, W) -> (B, C); (B, T, C) -> (B, C); anything else -> None."""
    if t.ndim == 4:
        return t.float().mean(dim=(2, 3))
    if t.ndim == 3:
        return t.float().mean(dim=1)
    return None


class _Hooks:
    """Forward hooks that record the features and the pooled stage outputs of one batch."""

    def __init__(self, model: nn.Module, taps: Taps, stages: bool):
        modules = dict(model.named_modules())
        self.seen: dict[str, torch.Tensor] = {}
        self.handles = []
        mod = modules[taps.feature]
        if taps.output:
            self.handles.append(mod.register_forward_hook(
                lambda m, i, o: self.seen.__setitem__("features", _features(o))))
        else:
            self.handles.append(mod.register_forward_pre_hook(
                lambda m, i: self.seen.__setitem__("features", i[0].float().flatten(1))))
        for name in taps.stages if stages else ():
            self.handles.append(modules[name].register_forward_hook(self._stage(name)))

    def _stage(self, name: str):
        def hook(module, inputs, output):
            pooled = _pool(output) if isinstance(output, torch.Tensor) else None
            if pooled is not None:
                self.seen[name] = pooled
        return hook

    def __call__(self, model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        self.seen = {}
        logits = model(x)
        return logits, self.seen

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def _features(t: torch.Tensor) -> torch.Tensor:
    pooled = _pool(t)
    return pooled if pooled is not None else t.float().flatten(1)


def _replay(model: nn.Module, taps: Taps, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """Run a TorchScript model's top-level children in order, recording what the hooks would."""
    seen, h = {}, x
    for name, child in _chain(model):
        if is_linear(child) and h.ndim > 2:
            width = child.weight.shape[1]
            h = h.mean(dim=(2, 3)) if h.ndim == 4 and h.shape[1] == width else h.flatten(1)
        if name == taps.feature and not taps.output:
            seen["features"] = h.float().flatten(1)
        h = child(h)
        if name == taps.feature and taps.output:
            seen["features"] = _features(h)
        if name in taps.stages and _pool(h) is not None:
            seen[name] = _pool(h)
    return h, seen


@torch.no_grad()
def extract(model: nn.Module, data: ImageData, x: torch.Tensor, taps: Taps,
            stages: bool = False, batch_size: int = 128, desc: str = "features",
            progress: bool = True) -> dict[str, torch.Tensor]:
    """``{"logits": (N, K), "features": (N, D), <stage>: (N, C)...}`` of uint8 images ``x``,
    float32 on the CPU (stages only with ``stages``). Eval mode; no RNG is touched."""
    scripted = isinstance(model, torch.jit.ScriptModule)
    if scripted and "." in taps.feature and taps.feature not in dict(_chain(model)):
        raise AuditInputError(f"TorchScript: the feature layer {taps.feature} is not a "
                              "top-level module; save a state dict and pass --arch instead")
    hooks = None if scripted else _Hooks(model, taps, stages)
    chunks: dict[str, list] = {}
    try:
        for i, pos in enumerate(tqdm(list(batches(len(x), batch_size)), desc=desc,
                                     leave=False, disable=not progress)):
            inputs = normalize(x[pos], data.mean, data.std).contiguous()  # (B, C, H, W)
            try:
                logits, seen = (_replay(model, taps, inputs) if scripted
                                else hooks(model, inputs))
            except RuntimeError as exc:
                raise AuditInputError(_shape_message(exc, tuple(inputs.shape[1:]))) from None
            if scripted and i == 0 and not torch.allclose(
                    logits.float(), model(inputs).float(), atol=1e-4, rtol=1e-3):
                raise AuditInputError("TorchScript: the model's forward is not a chain of its "
                                      "top-level modules, so its features cannot be read; save a "
                                      "state dict and pass --arch instead")
            if "features" not in seen:
                raise AuditInputError(f"the feature layer ({taps.description}) is never called "
                                      "in the model's forward")
            for key, value in {"logits": logits.float(), **seen}.items():
                chunks.setdefault(key, []).append(value.cpu())
    finally:
        if hooks is not None:
            hooks.remove()
    return {k: torch.cat(v) for k, v in chunks.items()}


def _shape_message(exc: RuntimeError, shape: tuple) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    c, h, w = shape
    return (f"the model rejects the data's {c}x{h}x{w} images ({first}); set --image-size "
            "(and --channels) to what it was trained on")
