"""Build-or-load every model (original, Retrain, unlearned, CMF original) through the artifact
cache, with one routine, :func:`_model_artifact`, for all of them.

This is the one place where data, model, training and cache meet; the CLI and the notebooks
call :func:`train_or_load` and never repeat its logic.
"""

from __future__ import annotations

import copy
import hashlib
import time
from dataclasses import asdict, dataclass, replace
from typing import Callable, Sequence

import torch
from torch import nn

from .cache import ArtifactCache, Checkpoint, Recent
from .catalog import check_forget as valid_forget
from .cmf import to_cmf
from .data import ImageData, class_split, load_dataset, per_class_subset, train_val_split
from .evaluation import nc_tracker
from .features import FeatureSet, extract_features, feature_set, with_head
from .keys import (cmf_original_spec, feature_spec, model_spec, passes_spec,
                   unlearned_spec)
from .methods import hparams_for, resolve_method, run_unlearning
from .methods.cmf import cmf_finetune
from .models import create_model, memory_format
from .profiles import get_profile
from .train import TrainConfig, evaluate_accuracy, fit

__all__ = ["STARTS", "Splits", "TrainedModel", "cached_features", "cached_stage_features",
           "check_forget", "cmf_original_or_load", "default_device", "generators", "make_splits",
           "split_accuracies", "train_or_load", "unlearn_or_load"]

STREAMS = ("split", "init", "order", "augment", "labels")


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def generators(seed: int, names: Sequence[str] = STREAMS,
               salt: str = "") -> dict[str, torch.Generator]:
    """Independent CPU generators derived from one seed, one per named stream (``salt``
    separates the streams of different stages, e.g. each unlearning method)."""
    out = {}
    for name in names:
        digest = hashlib.sha256(f"illusion:{salt}{seed}:{name}".encode()).digest()
        out[name] = torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)
    return out


@dataclass(frozen=True)
class Splits:
    """Index tensors into ``x_train`` / ``x_test``; ``retain``/``forget`` partition ``train``."""

    train: torch.Tensor
    val: torch.Tensor
    retain: torch.Tensor
    forget: torch.Tensor
    test_retain: torch.Tensor
    test_forget: torch.Tensor
    forget_classes: tuple[int, ...]


def make_splits(data: ImageData, cfg: TrainConfig, seed: int, forget: Sequence[int]) -> Splits:
    """Per-class subset -> stratified train/val -> class-wise retain/forget (deterministic;
    remembered per dataset object, so the ~0.3 s of index work is done once per process)."""
    key = (id(data), cfg.per_class, cfg.val_fraction, int(seed), tuple(forget))
    found = _SPLITS.get(key)
    if found is not None and found[0] is data:
        return found[1]
    splits = _make_splits(data, cfg, seed, forget)
    _SPLITS[key] = (data, splits)  # holding ``data`` keeps its id from being reused
    return splits


_SPLITS: dict[tuple, tuple[ImageData, Splits]] = {}


def _make_splits(data: ImageData, cfg: TrainConfig, seed: int, forget: Sequence[int]) -> Splits:
    g = generators(seed, ["split"])["split"]
    subset = per_class_subset(data.y_train, cfg.per_class, g)
    train, val = train_val_split(data.y_train, subset, cfg.val_fraction, g)
    retain, forget_idx = class_split(data.y_train, train, forget)
    test_retain, test_forget = class_split(data.y_test, torch.arange(len(data.y_test)), forget)
    return Splits(train, val, retain, forget_idx, test_retain, test_forget, tuple(forget))


@dataclass
class TrainedModel:
    model: nn.Module
    data: ImageData
    splits: Splits
    spec: dict
    history: list[dict]
    seconds: float  # training time when it was built
    cached: bool

    @property
    def bf16(self) -> bool:
        """Whether the model's profile trains (and so evaluates) under bfloat16 autocast: the
        ``train`` config of the original it descends from."""
        spec = self.spec
        while "train" not in spec and isinstance(spec.get("original"), dict):
            spec = spec["original"]
        return bool(spec.get("train", {}).get("bf16", False))

    @property
    def kind(self) -> str:
        """"original", "retrain" or the unlearning method's name."""
        if "method" in self.spec:
            return self.spec["method"]
        return "retrain" if self.splits.forget_classes else "original"


def build_model(cfg: TrainConfig, data: ImageData, seed: int) -> nn.Module:
    """A freshly initialised model; initialisation draws from its own stream, not the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(generators(seed, ["init"])["init"].initial_seed())
        return create_model(cfg.arch, num_classes=data.num_classes, width=cfg.width,
                            in_channels=data.in_channels)


def check_forget(forget: Sequence[int], num_classes: int) -> tuple[int, ...]:
    """A library caller's forget set, checked against the data (the empty set: the
    original): :func:`illusion.catalog.check_forget`, the check every entry point uses."""
    return valid_forget(forget, num_classes, empty_ok=True)


def _nc_hook(data: ImageData, splits: Splits, cfg: TrainConfig, seed: int):
    """Per-epoch NC1–NC4 on a fixed subset of the training images (claim C0), or ``None``."""
    if cfg.nc_per_class <= 0 or len(torch.unique(data.y_train[splits.retain])) < 2:
        return None

    g = generators(seed, ["nc"])["nc"]
    pos = per_class_subset(data.y_train[splits.retain], cfg.nc_per_class, g)
    return nc_tracker(data, splits.retain[pos])


def train_or_load(dataset: str | None = None, profile: str = "cpu", seed: int = 0,
                  forget: Sequence[int] = (), cache: ArtifactCache | None = None,
                  device: torch.device | str | None = None, progress: bool = True,
                  config: TrainConfig | None = None, data: ImageData | None = None) -> TrainedModel:
    """The original model (``forget=()``) or Retrain on the retained classes, cached.

    ``config`` overrides the profile's training recipe (tests); ``data`` skips loading.
    """
    prof = get_profile(profile)
    cfg = config or prof.train
    data = data or load_dataset(dataset or prof.dataset)
    forget = check_forget(forget, data.num_classes)
    cache = cache or ArtifactCache()
    device = torch.device(device) if device is not None else default_device()
    spec = model_spec(data.name, asdict(cfg), seed, forget)
    splits = make_splits(data, cfg, seed, forget)

    def train(ckpt: Checkpoint) -> tuple[nn.Module, list[dict], float]:
        model = build_model(cfg, data, seed)
        val = class_split(data.y_train, splits.val, forget)[0]
        start = time.perf_counter()
        history = fit(model, data, splits.retain, val, cfg, generators(seed), device, progress,
                      on_epoch=_nc_hook(data, splits, cfg, seed), resume=ckpt.load(),
                      checkpoint=ckpt.save)
        return model, history, time.perf_counter() - start

    return _model_artifact(cache, "retrain" if forget else "original", spec, train,
                           lambda: build_model(cfg, data, seed), data, splits, device)


# Start models (every unlearned model of a seed loads its original, a +CMF one also the CMF
# original) are kept loaded in this process, the last few, keyed by their file on disk
SHARED_KINDS = ("original", "cmf_original")
SHARED_KEPT = 4
_SHARED = Recent(SHARED_KEPT)


def _shared_key(cache: ArtifactCache, kind: str, spec: dict, device) -> tuple | None:
    """The key of a start model in :data:`_SHARED`: its artifact's path, modification time and
    size (a rebuilt or replaced file is another entry) and the device; None when absent."""
    path = cache.path(kind, spec)
    try:
        st = path.stat()
    except OSError:
        return None
    return (str(path.resolve()), st.st_mtime_ns, st.st_size, str(device))


def _model_artifact(cache: ArtifactCache, kind: str, spec: dict,
                    train: Callable[[Checkpoint], tuple[nn.Module, list[dict], float]],
                    skeleton: Callable[[], nn.Module], data: ImageData, splits: Splits,
                    device: torch.device | None = None) -> TrainedModel:
    """Build-or-load a model artifact of any kind. ``train(checkpoint)`` runs only on a miss
    (resuming from ``checkpoint`` if it can) and returns ``(model, history, seconds)``; the
    stored state dict is loaded into ``skeleton()``, moved to ``device`` (when given) in its
    memory format, and set to evaluation mode. An original or CMF original
    (:data:`SHARED_KINDS`) read again in the same process is not loaded again: the last
    :data:`SHARED_KEPT` are kept and share their network, which nothing modifies (every
    method unlearns, and every attack fine-tunes, a deep copy)."""
    key = _shared_key(cache, kind, spec, device) if kind in SHARED_KINDS else None
    if key is not None and (kept := _SHARED.get(key)) is not None:
        return replace(kept, data=data, splits=splits, cached=True)
    tm = _load_or_build(cache, kind, spec, train, skeleton, data, splits, device)
    key = _shared_key(cache, kind, spec, device) if kind in SHARED_KINDS else None
    if key is not None:  # the file's key after a build
        _SHARED.put(key, tm)
    return tm


def _load_or_build(cache: ArtifactCache, kind: str, spec: dict,
                   train: Callable[[Checkpoint], tuple[nn.Module, list[dict], float]],
                   skeleton: Callable[[], nn.Module], data: ImageData, splits: Splits,
                   device: torch.device | None = None) -> TrainedModel:
    ckpt = cache.checkpoint(kind, spec)

    def build() -> dict:
        model, history, seconds = train(ckpt)
        return {"state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
                "history": history, "spec": spec, "seconds": seconds}

    payload, cached = cache.get_or_create(kind, spec, build)
    ckpt.clear()
    model = skeleton()
    model.load_state_dict(payload["state_dict"])
    if device is not None:
        model.to(device=device, memory_format=memory_format(model))
    model.eval()
    return TrainedModel(model, data, splits, spec, payload["history"], payload["seconds"], cached)


def split_accuracies(tm: TrainedModel, device: torch.device | str | None = None) -> dict:
    """Output accuracy (percent) on train/test x retain/forget."""
    device = device or next(tm.model.parameters()).device
    d, s = tm.data, tm.splits
    return {
        "train_retain": evaluate_accuracy(tm.model, d, d.x_train[s.retain], d.y_train[s.retain], device),
        "train_forget": evaluate_accuracy(tm.model, d, d.x_train[s.forget], d.y_train[s.forget], device),
        "test_retain": evaluate_accuracy(tm.model, d, d.x_test[s.test_retain], d.y_test[s.test_retain], device),
        "test_forget": evaluate_accuracy(tm.model, d, d.x_test[s.test_forget], d.y_test[s.test_forget], device),
    }


def cached_features(tm: TrainedModel, cache: ArtifactCache | None = None) -> FeatureSet:
    """The model's :class:`FeatureSet` on its training split and the test set, extracted once
    and stored in the artifact cache next to the model (taken from its cached per-stage
    features when those exist and the neck is the identity: the same numbers, one pass less)."""
    cache = cache or ArtifactCache()

    def build() -> dict:
        stages = cache.load("stage_features", _feature_spec(tm))
        if stages is not None and isinstance(getattr(tm.model, "neck", None), nn.Identity):
            # the last stage's pooled features are the head input: no second pass over the data
            last = tm.model.stage_names[-1]
            fs = with_head(tm.model, tm.data, tm.splits.train, stages["train"][last],
                           stages["test"][last])
        else:
            fs = feature_set(tm.model, tm.data, tm.splits.train, bf16=tm.bf16)
        return {name: getattr(fs, name) for name in fs.__dataclass_fields__}

    payload, _ = cache.get_or_create("features", _feature_spec(tm), build)
    return FeatureSet(**payload)


def cached_stage_features(tm: TrainedModel, cache: ArtifactCache | None = None) -> dict:
    """Pooled features of every stage (stem, each residual stage; the last is the penultimate
    layer) as ``{"train": {stage: (N_train, C)}, "test": {stage: (N_test, C)}}`` on the
    model's training split and the whole test set, extracted once and cached."""
    cache = cache or ArtifactCache()

    def build() -> dict:
        x = {"train": tm.data.x_train[tm.splits.train], "test": tm.data.x_test}
        return {k: extract_features(tm.model, tm.data, v, stages=True, bf16=tm.bf16)
                for k, v in x.items()}

    payload, _ = cache.get_or_create("stage_features", _feature_spec(tm), build)
    return payload


def _feature_spec(tm: TrainedModel) -> dict:
    return feature_spec(tm.spec, tm.kind, tm.bf16)


def unlearn_or_load(dataset: str | None = None, profile: str = "cpu", seed: int = 0,
                    forget: Sequence[int] = (0,), method: str = "random_label",
                    hparams: dict | None = None, cache: ArtifactCache | None = None,
                    device: torch.device | str | None = None, progress: bool = True,
                    config: TrainConfig | None = None,
                    data: ImageData | None = None, run_seed: int = 0) -> TrainedModel:
    """Unlearn ``forget`` from the cached original with ``method``, cached.

    ``run_seed`` > 0 is another run of the same unlearning from the same original: its own
    unlearning streams (batch order, augmentation, random labels, noise), so that the
    run-to-run spread of a method can be read beside its effect; run 0 is the usual one.

    Hyperparameters: the profile's entry in ``methods/hparams.toml`` for this forget set's size
    and dataset (:func:`illusion.methods.hparams_for`), updated by ``hparams``.
    The returned model's ``splits`` are the original's (its training split includes the forget
    classes, as the probe protocol needs); ``seconds`` is the unlearning time only (for
    ``retrain``: its training time).
    """
    algo = resolve_method(method, profile, hparams, len(forget), dataset)
    if not forget:
        raise ValueError("unlearning needs at least one forget class")
    recipe = get_profile(profile)
    data = data or load_dataset(dataset or recipe.dataset)
    forget = check_forget(forget, data.num_classes)  # before the original is trained, not after
    if algo.from_scratch:
        if run_seed:
            raise ValueError(f"{method} trains from scratch: its other runs are other seeds")
        return train_or_load(dataset, profile, seed, forget, cache, device, progress, config, data)
    cache = cache or ArtifactCache()
    original = train_or_load(dataset, profile, seed, (), cache, device, progress, config, data)
    # the model the method starts from: the original, or e.g. the CMF original for "+cmf"
    start = STARTS[algo.start_from](original, profile, cache, progress)
    cfg = config or recipe.train
    splits = make_splits(original.data, cfg, seed, forget)
    spec = unlearned_spec(start.spec, method, algo.hp, forget, seed, passes_spec(algo, cfg.bf16),
                          run_seed)
    salt = f"unlearn:{method}:" + (f"run{run_seed}:" if run_seed else "")

    def train(_: Checkpoint) -> tuple[nn.Module, list[dict], float]:
        return run_unlearning(
            algo, copy.deepcopy(start.model), original.data, splits.retain, splits.forget, forget,
            generators(seed, ("order", "augment", "labels", "noise"), salt=salt),
            start.model.fc.weight.device, cfg.padding, cfg.flip, progress, cfg.bf16)

    return _model_artifact(cache, "unlearned", spec, train, lambda: copy.deepcopy(start.model),
                           original.data, splits)


def cmf_original_or_load(original: TrainedModel, profile: str = "cpu",
                         cache: ArtifactCache | None = None, progress: bool = True) -> TrainedModel:
    """[A]'s "CMF original", cached: ``original`` with its linear head replaced by the
    class-mean-feature head (:mod:`illusion.cmf`) and the whole network fine-tuned with
    cross-entropy on the CMF logits over its training split (true labels, every class), with
    the profile's ``cmf_finetune`` hyperparameters. Its ``splits`` are the original's."""
    algo = cmf_finetune(**hparams_for("cmf_finetune", profile))
    cfg = TrainConfig(**original.spec["train"])
    cache = cache or ArtifactCache()
    spec = cmf_original_spec(original.spec, algo.hp, passes_spec(algo, cfg.bf16))

    def train(_: Checkpoint) -> tuple[nn.Module, list[dict], float]:
        return run_unlearning(
            algo, copy.deepcopy(original.model), original.data, original.splits.train,
            torch.empty(0, dtype=torch.int64), (),
            generators(original.spec["seed"], ("order", "augment", "labels", "noise"),
                       salt="cmf_original:"),
            original.model.fc.weight.device, cfg.padding, cfg.flip, progress, cfg.bf16)

    return _model_artifact(cache, "cmf_original", spec, train,
                           lambda: to_cmf(copy.deepcopy(original.model)), original.data,
                           original.splits)


# Starting points of unlearning, by a method's ``start_from`` (default "original"):
# fn(original, profile, cache, progress) -> TrainedModel.
STARTS: dict[str, Callable[[TrainedModel, str, ArtifactCache, bool], TrainedModel]] = {
    "original": lambda original, *_: original,
    "cmf_original": cmf_original_or_load,
}
