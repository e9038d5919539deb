"""One tidy record of everything a model still knows about its classes.

:func:`evaluate` extracts features once and derives every metric from them: output accuracy
(the head applied to the features), linear probe, nearest class mean, k-NN, neural collapse,
classifier–feature duality and membership inference. :func:`evaluate_checkpoint` does the same
for a user's own checkpoint and dataset.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .data import ImageData, load_dataset, per_class_subset
from .features import FeatureSet, extract_features, feature_set
from .metrics import (METRICS, knn_accuracy, linear_cka, linear_probe, linear_probes, mia_efficacy,
                      mia_loss_attack, ncc_accuracy, neural_collapse, split_mask)
from .models import create_model

__all__ = ["mia_scores", "PROBE_FITS", "cka_per_stage", "evaluate", "evaluate_checkpoint", "head_parameters",
           "nc_tracker", "output_accuracy", "probe_per_stage"]


# How many times the linear probe is fitted per evaluation (each with its own generator,
# :func:`probe_generators`): the probe's training noise enters the book's intervals
# (illusion.stats.accuracy_gap resamples the fits as well as the test images).
PROBE_FITS = 3
# Fit i draws from seed + i * PROBE_STRIDE, so fit 0 is the single probe of earlier records.
PROBE_STRIDE = 1_000_003


def probe_generators(seed: int, fits: int = PROBE_FITS) -> list[torch.Generator]:
    """The probe fits' dedicated generators for an evaluation with ``seed``."""
    return [torch.Generator().manual_seed(seed + i * PROBE_STRIDE) for i in range(fits)]


# [A]'s NC1–NC4 and the row-normalised NC2/NC3 variants (angles only; metrics.neural_collapse).
NC_KEYS = ("nc1", "nc2", "nc3", "nc4", "nc2_rownorm", "nc3_rownorm")


def head_parameters(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(W, b) of the model's linear classifier as detached CPU float tensors."""
    fc = model.fc
    bias = fc.bias.detach().float().cpu() if fc.bias is not None else None
    return fc.weight.detach().float().cpu(), bias


def _acc(logits: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> float:
    if not mask.any():
        return float("nan")
    return 100.0 * (logits[mask].argmax(1) == y[mask]).double().mean().item()


def output_accuracy(fs: FeatureSet, forget: Sequence[int]) -> dict:
    """Output accuracy (percent) on train/test x retain/forget from the cached logits."""
    mf, mt = split_mask(fs.train_y, forget), split_mask(fs.test_y, forget)
    return {"train_retain": _acc(fs.train_logits, fs.train_y, ~mf),
            "train_forget": _acc(fs.train_logits, fs.train_y, mf),
            "test_retain": _acc(fs.test_logits, fs.test_y, ~mt),
            "test_forget": _acc(fs.test_logits, fs.test_y, mt)}


def _true_class(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(confidence, loss) of the true class per sample."""
    logp = F.log_softmax(logits.double(), dim=1).gather(1, y[:, None]).squeeze(1)
    return logp.exp(), -logp


def mia_scores(fs: FeatureSet, forget: Sequence[int], generator: torch.Generator) -> dict:
    mf, mt = split_mask(fs.train_y, forget), split_mask(fs.test_y, forget)
    conf_tr, loss_tr = _true_class(fs.train_logits, fs.train_y)
    conf_te, loss_te = _true_class(fs.test_logits, fs.test_y)
    if not mf.any():
        return {"mia_efficacy": float("nan"), "mia_loss": float("nan")}
    return {"mia_efficacy": mia_efficacy(conf_tr[~mf], conf_te[~mt], conf_tr[mf], generator),
            "mia_loss": mia_loss_attack(loss_tr[mf], loss_te[mt])}


def _collapse(fs: FeatureSet, weight, bias, forget: Sequence[int], num_classes: int) -> dict:
    """NC1–NC4 on all and on retained classes; mean duality of forget vs retained classes."""
    retain = [c for c in range(num_classes) if c not in set(forget)]
    nc_all = neural_collapse(fs.train, fs.train_y, weight, bias)
    out = {"all": {k: nc_all[k] for k in NC_KEYS}}
    if forget and len(retain) >= 2:
        nc_r = neural_collapse(fs.train, fs.train_y, weight, bias, classes=retain)
        out["retain"] = {k: nc_r[k] for k in NC_KEYS}
    duality = nc_all["duality"]
    out["duality"] = {str(c): v for c, v in duality.items()}
    out["duality_uncentred"] = {str(c): v for c, v in nc_all["duality_uncentred"].items()}
    mean = lambda cs: sum(duality[c] for c in cs) / len(cs) if cs else float("nan")  # noqa: E731
    out["duality_forget"] = mean([c for c in forget if c in duality])
    out["duality_retain"] = mean([c for c in retain if c in duality])
    return out


def evaluate(model: nn.Module, data: ImageData, train_idx: torch.Tensor,
             forget: Sequence[int] = (), seed: int = 0, probe: bool = True,
             features: FeatureSet | None = None) -> dict:
    """Every metric of ``model`` on ``x_train[train_idx]`` (all classes) and the test set.

    Percentages throughout; ``ua`` = 100 − output test-forget accuracy;
    ``test_predictions`` holds each readout's predicted class of every test image (the probe's:
    one row per fit). The linear probe is fitted :data:`PROBE_FITS` times
    (:func:`probe_generators`); its accuracies are the fits' mean, each fit's are in
    ``probe_fits``. ``seed`` drives the probe fits and the MIA subsampling through dedicated
    generators. Pass
    ``features`` (e.g. from :func:`illusion.pipeline.cached_features`) to skip extraction.
    """
    forget = list(forget)
    fs = features if features is not None else feature_set(model, data, train_idx)
    k = data.num_classes
    weight, bias = head_parameters(model)
    g = torch.Generator().manual_seed(seed)
    record = {"accuracy": {"output": output_accuracy(fs, forget)}}
    if probe:
        fits = linear_probes(fs.train, fs.train_y, fs.test, fs.test_y, k, forget,
                             probe_generators(seed))  # their own streams
        mean = lambda key: sum(f[key] for f in fits) / len(fits)  # noqa: E731
        record["accuracy"]["probe"] = {"test_retain": mean("retain"),
                                       "test_forget": mean("forget"), "epoch": mean("epoch")}
        record["probe_fits"] = {key: [f[src] for f in fits] for key, src in
                                (("test_retain", "retain"), ("test_forget", "forget"),
                                 ("epoch", "epoch"))}
    n = ncc_accuracy(fs.train, fs.train_y, fs.test, fs.test_y, k, forget)
    kn = knn_accuracy(fs.train, fs.train_y, fs.test, fs.test_y, 5, forget)
    record["accuracy"]["ncc"] = {"test_retain": n["retain"], "test_forget": n["forget"]}
    record["accuracy"]["knn"] = {"test_retain": kn["retain"], "test_forget": kn["forget"]}
    record["ua"] = 100.0 - record["accuracy"]["output"]["test_forget"]
    # the predicted class of every test image per readout (int16): the book's intervals
    # resample these images (illusion.stats), with no second probe fit
    preds = {"output": fs.test_logits.argmax(1), "ncc": n["pred"], "knn": kn["pred"]}
    if probe:  # (fits, images): one row per probe fit
        preds["probe"] = torch.stack([f["pred"] for f in fits])
    record["test_predictions"] = {k: v.to(torch.int16) for k, v in preds.items()}
    record.update(mia_scores(fs, forget, g))
    record["neural_collapse"] = _collapse(fs, weight, bias, forget, k)
    if METRICS:  # the registered metrics (illusion.metrics.register_metric)
        record["registered"] = {m.name: float(m.fn(fs, forget, k)) for m in METRICS.values()}
    return record


def nc_tracker(data: ImageData, idx: torch.Tensor) -> Callable[[int, nn.Module], dict]:
    """An ``on_epoch`` hook for :func:`illusion.train.fit` recording NC1–NC4 on ``x_train[idx]``."""

    def hook(epoch: int, model: nn.Module) -> dict:
        f = extract_features(model, data, data.x_train[idx])
        weight, bias = head_parameters(model)
        nc = neural_collapse(f, data.y_train[idx], weight, bias)
        return {k: nc[k] for k in NC_KEYS}

    return hook


def evaluate_checkpoint(checkpoint: str | Path, dataset: str, arch: str = "resnet18",
                        width: int = 64, forget: Sequence[int] = (), per_class: int | None = None,
                        seed: int = 0, probe: bool = True,
                        device: torch.device | str = "cpu") -> dict:
    """Evaluate a user's checkpoint (a state dict, or a dict holding ``"state_dict"``).

    The model is rebuilt with ``create_model(arch, width=..., in_channels, num_classes)`` from
    the dataset; loading uses ``weights_only=True``. ``per_class`` limits the training images
    used for probes and class means (all by default).
    """
    data = load_dataset(dataset)
    try:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:  # missing/unsafe
        raise ValueError(f"cannot load checkpoint {checkpoint}: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    model = create_model(arch, num_classes=data.num_classes, width=width,
                         in_channels=data.in_channels)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise ValueError(f"checkpoint does not fit {arch} width {width} with "
                         f"{data.in_channels} channels and {data.num_classes} classes: {first}")
    model.to(device)
    train_idx = per_class_subset(data.y_train, per_class, torch.Generator().manual_seed(seed))
    return {"dataset": data.name, "checkpoint": str(checkpoint), "forget": list(forget),
            **evaluate(model, data, train_idx, forget, seed, probe)}


def cka_per_stage(model_a: nn.Module, model_b: nn.Module, data: ImageData,
                  x: torch.Tensor) -> dict[str, float]:
    """Linear CKA between two models' pooled features at every stage, on the same images."""
    fa = extract_features(model_a, data, x, stages=True)
    fb = extract_features(model_b, data, x, stages=True)
    return {name: linear_cka(fa[name], fb[name]) for name in fa}


def probe_per_stage(model: nn.Module, data: ImageData, train_idx: torch.Tensor,
                    forget: Sequence[int] = (), seed: int = 0,
                    features: dict | None = None) -> dict[str, dict]:
    """[A]'s linear probe on the pooled features of every stage: how much each depth still
    separates the retained and the forgotten classes (test accuracy, percent). Pass
    ``features`` (:func:`illusion.pipeline.cached_stage_features`) to skip extraction."""
    if features is None:
        features = {"train": extract_features(model, data, data.x_train[train_idx], stages=True),
                    "test": extract_features(model, data, data.x_test, stages=True)}
    train, test = features["train"], features["test"]
    out = {}
    for name in train:
        p = linear_probe(train[name], data.y_train[train_idx], test[name], data.y_test,
                         data.num_classes, forget, generator=torch.Generator().manual_seed(seed))
        out[name] = {"test_retain": p["retain"], "test_forget": p["forget"]}
    return out
