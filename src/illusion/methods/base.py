"""The shared unlearning loop and the registry every method plugs into.

A method is one small class: it names the data it reads (``batches``), the loss of one batch
(``loss``) and, rarely, a hook around the optimizer step (``backward``, ``after_step``). The
loop here owns the optimizer (SGD with Nesterov momentum, as in [A], unless the method's
``phases`` say otherwise), epochs, batching, augmentation, gradient clipping (hyperparameter
``max_grad_norm``: the whole gradient of a step, clipped just before the optimizer step),
progress bar and timing, so no method repeats it. A method whose optimisation has stages with
their own optimizer (UNSIR: impair with Adam, then repair with a fresh Adam) lists them as
``Phase``s; every other method has one phase.

A variant of a method (``last_layer:<m>``, ``<m>+cmf``, ``<m>+ec``) is a :class:`Wrapper`
subclass registered once with :func:`register_variant` under a name pattern and the bases it
accepts; :func:`parse_method_name` splits any method name into its variant and base.

Randomness comes only from the generators in ``Context.generators`` ("order", "augment",
"labels", "noise"), derived from the run's seed; the global RNG is never used.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..data import ImageData, augment_batch, batches, normalize
from ..train import device_generator
from .checks import check_hparams
from .work import Sizes, Work

__all__ = ["Batch", "Context", "Method", "Phase", "Variant", "Wrapper", "available",
           "create_method", "dry_caps", "method_label", "parse_method_name",
           "register_method", "register_variant", "run_unlearning", "tuned_by"]

_REGISTRY: dict[str, type["Method"]] = {}
_VARIANTS: dict[str, "Variant"] = {}  # pattern -> variant, in registration order


def register_method(cls: type["Method"]) -> type["Method"]:
    """Class decorator adding a method under ``cls.name``; duplicates raise."""
    if not getattr(cls, "name", None):
        raise ValueError(f"{cls.__name__} has no name")
    if cls.name in _REGISTRY:
        raise ValueError(f"method {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls
    return cls


@dataclass(frozen=True)
class Variant:
    """The methods ``pattern.format(base)`` (``"{}+cmf"``: ``scrub+cmf``; ``"last_layer:{}"``:
    ``last_layer:scrub``), each built as ``wrapper(base, **hparams)``, for every base that
    ``bases`` accepts (method names, or a test on the class of a registered method)."""

    pattern: str
    wrapper: type["Wrapper"]
    bases: tuple[str, ...] | Callable[[type["Method"]], bool]

    @property
    def prefix(self) -> str:
        return self.pattern.split("{}")[0]

    @property
    def suffix(self) -> str:
        return self.pattern.split("{}")[1]

    def base_of(self, name: str) -> str | None:
        """The base of ``name`` when ``name`` has this variant's form, else None."""
        pre, post = self.prefix, self.suffix
        if len(name) > len(pre) + len(post) and name.startswith(pre) and name.endswith(post):
            return name[len(pre):len(name) - len(post)]
        return None

    def base_names(self) -> list[str]:
        """The bases, in the order ``available`` lists them."""
        if callable(self.bases):
            return [n for n in sorted(_REGISTRY) if self.bases(_REGISTRY[n])]
        return list(self.bases)


def register_variant(pattern: str, bases: Sequence[str] | Callable[[type["Method"]], bool]):
    """Class decorator registering a :class:`Wrapper` subclass as the methods
    ``pattern.format(base)`` for every base in ``bases`` (names, or a test on the class of a
    registered method), e.g. ``@register_variant("{}+cmf", bases=("scrub", ...))``."""
    if pattern.count("{}") != 1 or pattern == "{}":
        raise ValueError(f"a variant pattern needs one '{{}}' and an affix, got {pattern!r}")

    def wrap(cls: type["Wrapper"]) -> type["Wrapper"]:
        if not (isinstance(cls, type) and issubclass(cls, Wrapper)):
            raise TypeError(f"variant {pattern!r}: {cls!r} is not a Wrapper subclass")
        if pattern in _VARIANTS:
            raise ValueError(f"variant {pattern!r} is already registered")
        cls.pattern = pattern
        _VARIANTS[pattern] = Variant(pattern, cls, bases if callable(bases) else tuple(bases))
        return cls
    return wrap


def parse_method_name(name: str) -> tuple[Variant | None, str]:
    """``(variant, base)`` when ``name`` has the form of a registered variant (the first
    registered that matches; the base is not checked), else ``(None, name)``."""
    for variant in _VARIANTS.values():
        if (base := variant.base_of(name)) is not None:
            return variant, base
    return None, name


def available() -> list[str]:
    """Registered method names, then every registered variant of each of its bases."""
    return sorted(_REGISTRY) + sorted(v.pattern.format(b) for v in _VARIANTS.values()
                                      for b in v.base_names())


def tuned_by(rule: str) -> list[str]:
    """The registered methods and variants that declare ``tuning = rule``
    (``Method.tuning``): what ``tools/tune_methods.py --rule RULE`` tunes when no method is
    named."""
    return ([name for name in sorted(_REGISTRY) if _REGISTRY[name].tuning == rule]
            + [v.pattern.format(b) for v in _VARIANTS.values() if v.wrapper.tuning == rule
               for b in v.base_names()])


def create_method(name: str, **hparams) -> "Method":
    """Instantiate a registered method or variant; unknown names raise ``KeyError`` listing
    valid ones, a hyperparameter of the wrong type or range ``ValueError`` (:mod:`.checks`)."""
    variant, base = parse_method_name(name)
    if variant is not None and base in variant.base_names():
        method = variant.wrapper(base, **hparams)
    elif name in _REGISTRY:
        method = _REGISTRY[name](**hparams)
    else:
        raise KeyError(f"unknown method {name!r}; choose from {', '.join(available())}")
    check_hparams(name, method.hp, _own_rules(method))
    return method


def _own_rules(method: "Method") -> dict[str, tuple]:
    """The rules a method declares for its own hyperparameters (``Method.rules``); a variant's
    are its base's and its own."""
    base = getattr(method, "base", None)
    return {**(_own_rules(base) if base is not None else {}), **type(method).rules}


def method_label(name: str) -> str | None:
    """The book's label of a registered method or variant (``scrub+cmf``: ``SCRUB+CMF``;
    ``last_layer:random_label``: ``LL-RL``), ``None`` for a name that is neither."""
    variant, base = parse_method_name(name)
    if variant is not None:
        pattern = variant.wrapper.label_pattern or (
            variant.prefix.upper() + "{}" + variant.suffix.upper())
        return pattern.format(method_label(base) or base)
    if name in _REGISTRY:
        return _REGISTRY[name].label or name
    return None


@dataclass
class Batch:
    """A batch of inputs ready for the model: ``x`` float (B, C, H, W), ``y`` int64 (B,),
    ``kind`` says which data it came from ("retain", "forget", "mixed" or "noise")."""

    x: torch.Tensor
    y: torch.Tensor
    kind: str
    is_forget: torch.Tensor | None = None  # (B,) bool, for mixed batches


@dataclass(frozen=True)
class Phase:
    """``epochs`` epochs under one fresh optimizer at base learning rate ``lr`` (which
    ``Method.scale_lr`` multiplies): ``"sgd"`` (the method's ``momentum`` and ``weight_decay``,
    Nesterov when ``nesterov`` and momentum > 0) or ``"adam"`` (PyTorch's default betas, the
    method's ``weight_decay``)."""

    name: str
    epochs: int
    lr: float
    optimizer: str = "sgd"
    nesterov: bool = True


OPTIMIZERS = ("sgd", "adam")


def make_optimizer(phase: Phase, params: list[nn.Parameter], hp: dict) -> torch.optim.Optimizer:
    """The optimizer of one phase over ``params``."""
    if phase.optimizer == "sgd":
        return torch.optim.SGD(params, lr=phase.lr, momentum=hp["momentum"],
                               nesterov=phase.nesterov and hp["momentum"] > 0,
                               weight_decay=hp["weight_decay"])
    if phase.optimizer == "adam":
        return torch.optim.Adam(params, lr=phase.lr, weight_decay=hp["weight_decay"])
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {phase.optimizer!r}")


@dataclass
class Context:
    """Everything a method may read while unlearning."""

    model: nn.Module
    original: nn.Module  # frozen copy of the model before unlearning, eval mode
    data: ImageData
    retain_idx: torch.Tensor  # indices into x_train
    forget_idx: torch.Tensor
    forget_classes: tuple[int, ...]
    device: torch.device
    generators: dict[str, torch.Generator]
    hp: dict[str, Any]
    padding: int = 0
    flip: bool = False
    bf16: bool = False  # the steps' bfloat16 autocast, also read by work outside the steps
    state: dict[str, Any] = field(default_factory=dict)  # method-private (masks, noise...)
    phase: str = ""  # name of the running Phase (set by the loop)
    # the training split on the device, copied once (on the CPU: the data's own tensors), so
    # that a batch is indexed where it is used: no host-to-device copy per batch on a GPU
    x_train: torch.Tensor = field(init=False, repr=False)
    y_train: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.x_train = self.data.x_train.to(self.device)
        self.y_train = self.data.y_train.to(self.device)

    @property
    def num_classes(self) -> int:
        return self.data.num_classes

    @property
    def retain_classes(self) -> list[int]:
        return [c for c in range(self.num_classes) if c not in set(self.forget_classes)]

    def inputs(self, idx: torch.Tensor, augment: bool = True) -> torch.Tensor:
        """Normalised (optionally augmented) training images ``x_train[idx]`` on the device."""
        x = self.x_train[idx.to(self.x_train.device)]
        if augment and (self.padding or self.flip):
            x = augment_batch(x, self.padding, self.flip, self.generators["augment"])
        return normalize(x, self.data.mean, self.data.std)

    def batch(self, idx: torch.Tensor, kind: str) -> Batch:
        return Batch(self.inputs(idx), self.y_train[idx.to(self.y_train.device)], kind)

    def loader(self, idx: torch.Tensor, kind: str, batch_size: int | None = None) -> Iterator[Batch]:
        """Shuffled batches over ``x_train[idx]``."""
        bs = batch_size or self.hp["batch_size"]
        for pos in batches(len(idx), bs, self.generators["order"]):
            yield self.batch(idx[pos], kind)

    def mixed_loader(self, batch_size: int | None = None) -> Iterator[Batch]:
        """Shuffled batches over retain ∪ forget, with a per-sample forget mask."""
        idx = torch.cat([self.retain_idx, self.forget_idx])
        forget = torch.cat([torch.zeros(len(self.retain_idx), dtype=torch.bool),
                            torch.ones(len(self.forget_idx), dtype=torch.bool)])
        bs = batch_size or self.hp["batch_size"]
        for pos in batches(len(idx), bs, self.generators["order"]):
            b = self.batch(idx[pos], "mixed")
            b.is_forget = forget[pos].to(self.device)
            yield b

    def cycle(self, idx: torch.Tensor, kind: str, batch_size: int | None = None) -> Iterator[Batch]:
        """Endless shuffled batches over ``idx`` (reshuffled each pass)."""
        while True:
            yield from self.loader(idx, kind, batch_size)


class Method:
    """Base class: subclasses set ``name`` and ``defaults`` and implement ``loss``.

    Hyperparameters are stored unmodified (``self.hp``: defaults updated with the keyword
    arguments, unknown keys raise) and feed the cache key. Common keys: ``epochs``, ``lr``,
    ``batch_size``, ``momentum``, ``weight_decay``; read by the loop when a method defines
    them: ``nesterov`` (default true) and ``max_grad_norm`` (0 or absent: no clipping).
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""  # its name in the book's tables and figures (default: ``name``)
    defaults: ClassVar[dict[str, Any]] = {}
    # type and range of this method's own hyperparameters, on top of the shared
    # :data:`illusion.methods.checks.RULES` (same format)
    rules: ClassVar[dict[str, tuple]] = {}
    head_compatible: ClassVar[bool] = True  # usable as last_layer:<name>
    # Where the pipeline starts the method (illusion.pipeline.unlearn_or_load): a key of
    # illusion.pipeline.STARTS, or from scratch on the retained classes (Retrain)
    start_from: ClassVar[str] = "original"
    from_scratch: ClassVar[bool] = False
    # Whether the method has work outside the loop's steps that follows ``Context.bf16`` like
    # the steps (the CMF class means' full passes, EC's head pretraining; float32 before issue
    # 26): the flag does not switch that behaviour, it marks the artifacts made under bfloat16
    # with :func:`illusion.keys.passes_spec` in their cache spec, so that they do not share keys with the
    # float32 ones computed before. A wrapper has it when its base or the wrapper itself does.
    bf16_passes: ClassVar[bool] = False
    common: ClassVar[dict[str, Any]] = {"epochs": 3, "lr": 1e-2, "batch_size": 128,
                                        "momentum": 0.9, "weight_decay": 5e-4}
    # A dry run (illusion.dryrun) caps each of these hyperparameters (step counts, and sizes
    # that scale a step) at the value given; a class adds its own to its parents' (dry_caps)
    dry_caps: ClassVar[dict[str, int]] = {"epochs": 1}
    # The validation-split rule tools/tune_methods.py tunes it by when no method is named
    # ("forget": val forget <= 5%, then best val retain); None: not tuned by default
    tuning: ClassVar[str | None] = None

    def __init__(self, **hparams):
        allowed = {**self.common, **self.defaults}
        unknown = set(hparams) - set(allowed)
        if unknown:
            raise ValueError(f"{self.name}: unknown hyperparameter(s) {sorted(unknown)}; "
                             f"valid: {sorted(allowed)}")
        self.hp = {**allowed, **hparams}

    # -- hooks ---------------------------------------------------------------------------
    def setup(self, ctx: Context) -> None:
        """Run once before the first epoch (saliency masks, noise, teachers...)."""

    def batches(self, ctx: Context, epoch: int) -> Iterator[Batch]:
        """The batches of one epoch; default: the retain set."""
        return ctx.loader(ctx.retain_idx, "retain")

    def loss(self, ctx: Context, batch: Batch) -> torch.Tensor:
        raise NotImplementedError

    def backward(self, ctx: Context, batch: Batch) -> torch.Tensor:
        """Compute gradients for one batch and return the (detached) loss."""
        loss = self.loss(ctx, batch)
        loss.backward()
        return loss.detach()

    def after_step(self, ctx: Context) -> None:
        """Called after every optimizer step (e.g. to enforce a mask)."""

    def phases(self) -> list[Phase]:
        """The optimisation stages, run in order; default: ``epochs`` epochs of SGD at ``lr``.
        ``batches(ctx, epoch)`` counts epochs across phases and can read ``ctx.phase``."""
        return [Phase("unlearn", self.hp.get("epochs", 0), self.hp.get("lr", 0.0),
                      nesterov=self.hp.get("nesterov", True))]

    def parameters(self, ctx: Context) -> list[nn.Parameter]:
        return [p for p in ctx.model.parameters() if p.requires_grad]

    def train_mode(self, ctx: Context) -> None:
        ctx.model.train()

    def scale_lr(self, epoch: int, step: int) -> float:
        """Multiplier of the learning rate (constant by default)."""
        return 1.0

    def logits(self, ctx: Context, x: torch.Tensor) -> torch.Tensor:
        """The model's logits (float32 even under bf16 autocast, so losses built on softmaxes
        keep their precision)."""
        return ctx.model(x).float()

    def ce(self, ctx: Context, batch: Batch) -> torch.Tensor:
        return F.cross_entropy(self.logits(ctx, batch.x), batch.y)

    # -- cost --------------------------------------------------------------------------
    def work(self, s: Sizes) -> Work:
        """The images this run pushes through a network on a dataset of sizes ``s``
        (:mod:`.work`; read by :mod:`illusion.cost`): every method declares its own."""
        raise NotImplementedError(f"no cost model for method {self.name!r}: define "
                                  f"work(self, s) in its class (illusion.methods.work)")


class Wrapper(Method):
    """A variant of another method, ``self.base``, registered with :func:`register_variant`:
    every hook runs the base's, so a subclass overrides only what it changes.

    ``hp`` is the base's plus the wrapper's own (:meth:`own_defaults`, kept from the base);
    :meth:`base_defaults` replaces some of the base's defaults unless they are given. A
    wrapper starts where its base starts (``start_from``, ``from_scratch``) unless the
    subclass sets its own.
    """

    pattern: ClassVar[str] = "{}"  # set by register_variant; the name is pattern.format(base)
    # the book's label, ``label_pattern.format(base's label)``; default: the pattern's affix
    # in capitals (``{}+cmf``: ``SCRUB+CMF``)
    label_pattern: ClassVar[str] = ""
    head_compatible = False
    own: ClassVar[dict[str, Any]] = {}  # the wrapper's hyperparameters and their defaults

    def __init__(self, base: str, **hparams):
        own = self.own_defaults(base)
        mine = {k: hparams.pop(k) for k in list(hparams) if k in own}
        self.name = self.pattern.format(base)
        self.base = create_method(base, **{**self.base_defaults(base), **hparams})
        clash = set(own) & set(self.base.hp)
        if clash:
            raise ValueError(f"{self.name}: hyperparameter names clash: {sorted(clash)}")
        self.hp = {**self.base.hp, **own, **mine}

    @classmethod
    def own_defaults(cls, base: str) -> dict[str, Any]:
        return dict(cls.own)

    @classmethod
    def base_defaults(cls, base: str) -> dict[str, Any]:
        return {}

    @classmethod
    def decides(cls, base: str) -> set[str]:
        """Hyperparameters whose default the wrapper sets (its own and ``base_defaults``): a
        profile's value for the base does not carry over to them (:func:`.config.hparams_for`)."""
        return set(cls.own_defaults(base)) | set(cls.base_defaults(base))

    @property
    def start_from(self) -> str:  # type: ignore[override]
        return self.base.start_from

    @property
    def from_scratch(self) -> bool:  # type: ignore[override]
        return self.base.from_scratch

    def setup(self, ctx: Context) -> None:
        self.base.setup(ctx)

    def batches(self, ctx: Context, epoch: int) -> Iterator[Batch]:
        return self.base.batches(ctx, epoch)

    def loss(self, ctx: Context, batch: Batch) -> torch.Tensor:
        return self.base.loss(ctx, batch)

    def backward(self, ctx: Context, batch: Batch) -> torch.Tensor:
        return self.base.backward(ctx, batch)

    def after_step(self, ctx: Context) -> None:
        self.base.after_step(ctx)

    def phases(self) -> list[Phase]:
        return self.base.phases()

    def parameters(self, ctx: Context) -> list[nn.Parameter]:
        return self.base.parameters(ctx)

    def train_mode(self, ctx: Context) -> None:
        self.base.train_mode(ctx)

    def scale_lr(self, epoch: int, step: int) -> float:
        return self.base.scale_lr(epoch, step)

    def logits(self, ctx: Context, x: torch.Tensor) -> torch.Tensor:
        return self.base.logits(ctx, x)

    def ce(self, ctx: Context, batch: Batch) -> torch.Tensor:
        return self.base.ce(ctx, batch)

    def work(self, s: Sizes) -> Work:
        return self.base.work(s)


def _caps_of(cls: type) -> dict[str, int]:
    """The dry-run caps ``cls`` and its parents declare (``Method.dry_caps``)."""
    out: dict[str, int] = {}
    for klass in reversed(cls.__mro__):
        out.update(vars(klass).get("dry_caps", {}))
    return out


def dry_caps() -> dict[str, int]:
    """Every registered method's and variant's dry-run caps (``Method.dry_caps``), merged: a
    hyperparameter name means one thing, so two classes capping it differently raise."""
    out: dict[str, int] = {}
    owners: dict[str, str] = {}
    classes = [*_REGISTRY.values(), *(v.wrapper for v in _VARIANTS.values())]
    for cls in classes:
        for key, cap in _caps_of(cls).items():
            if out.setdefault(key, cap) != cap:
                raise ValueError(f"dry-run cap of {key!r}: {cls.__name__} says {cap}, "
                                 f"{owners[key]} says {out[key]}")
            owners.setdefault(key, cls.__name__)
    return out


def run_unlearning(method: Method, model: nn.Module, data: ImageData, retain_idx: torch.Tensor,
                   forget_idx: torch.Tensor, forget_classes: Sequence[int],
                   generators: dict[str, torch.Generator], device: torch.device | str = "cpu",
                   padding: int = 0, flip: bool = False, progress: bool = True,
                   bf16: bool = False) -> tuple[nn.Module, list[dict], float]:
    """Unlearn in place; return ``(model, history, seconds)``.

    ``seconds`` is the wall-clock time of the unlearning itself (setup included). ``bf16``
    runs each step's forward passes under bfloat16 autocast, as training does (the method's
    ``setup`` stays in float32, except the passes of a method with ``bf16_passes``).
    """
    device = torch.device(device)
    model.to(device)
    original = copy.deepcopy(model).eval().requires_grad_(False)
    if device.type != "cpu":  # augmentation draws on the device (illusion.train does the same)
        generators = {**generators, "augment": device_generator(generators["augment"], device)}
    ctx = Context(model, original, data, retain_idx, forget_idx, tuple(forget_classes), device,
                  generators, method.hp, padding, flip, bf16)
    start = time.perf_counter()
    method.setup(ctx)
    phases = [p for p in method.phases() if p.epochs]  # analytic methods (0 epochs): setup only
    clip = method.hp.get("max_grad_norm") or 0.0
    history, epoch = [], 0
    bar = tqdm(total=sum(p.epochs for p in phases), desc=method.name, unit="epoch",
               disable=not progress, leave=False)
    for phase in phases:
        ctx.phase = phase.name
        params = method.parameters(ctx)
        opt = make_optimizer(phase, params, method.hp)
        for _ in range(phase.epochs):
            method.train_mode(ctx)
            total, count = torch.zeros((), device=device), 0
            for step, batch in enumerate(method.batches(ctx, epoch)):
                for group in opt.param_groups:
                    group["lr"] = phase.lr * method.scale_lr(epoch, step)
                opt.zero_grad(set_to_none=True)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    total += method.backward(ctx, batch)
                if clip > 0:  # the step's whole gradient, every loss term included
                    torch.nn.utils.clip_grad_norm_(params, clip)
                opt.step()
                method.after_step(ctx)
                count += 1
            epoch += 1
            history.append({"epoch": epoch, "loss": (total / max(count, 1)).item(),
                            **({"phase": phase.name} if len(phases) > 1 else {})})
            bar.update(1)
            bar.set_postfix(loss=f"{history[-1]['loss']:.3f}")
    bar.close()
    model.eval()
    return model, history, time.perf_counter() - start
