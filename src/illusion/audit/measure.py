"""Every number of the audit, from modules and in-memory data (no files, no printing).

Per model (the audited one, the reference, the original), on the test images of the retained
and of the forget classes: output accuracy, [A]'s linear probe, nearest class mean and k-NN
accuracy (all fitted on the training images' penultimate features, every class with its true
label), the duality distance of the forget classes' classifier rows, SalUn's SVC MIA-efficacy,
and — for the audited model and the reference — the relearning attack. Linear CKA compares the
audited model with the original at every stage both have (:mod:`.taps`). The library's own
metric functions do the work; this module only routes features to them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Sequence

import pandas as pd
import torch
from torch import nn

from ..attack_config import RelearnConfig
from ..attacks import intra_op_threads, relearn_curve, relearn_summary
from ..data import ImageData, class_split
from ..evaluation import mia_scores, output_accuracy
from ..features import FeatureSet
from ..metrics import knn_accuracy, linear_cka, linear_probe, ncc_accuracy, neural_collapse
from .taps import Taps, extract, find_taps
from .verdict import Readouts, judge

__all__ = ["AuditConfig", "ContiguousInput", "audit", "measure_model"]


def _attack() -> RelearnConfig:
    # notebook 06's "5% of the forget class" attack (illusion.attack_config.default_attacks)
    return RelearnConfig(fraction=0.05, retain_ratio=9.0, steps=50, eval_every=10, lr=1e-3)


@dataclass(frozen=True)
class AuditConfig:
    """What the audit measures and how (stored in ``audit.json``)."""

    seed: int = 0  # probe's held-out split, MIA subsample, relearning sample and order
    knn_k: int = 5
    relearn: RelearnConfig | None = field(default_factory=_attack)  # None: no attack
    feature_layer: str | None = None  # None: the input of the last nn.Linear
    batch_size: int = 128


class ContiguousInput(nn.Module):
    """Hands the wrapped model contiguous (NCHW) inputs: the library's loops feed channels-last
    batches, which a user's ``x.view(B, -1)`` would reject."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.contiguous())


def _split(acc: dict) -> dict:
    return {"retain": acc["retain"], "forget": acc["forget"]}


def measure_model(model: nn.Module, data: ImageData, forget: Sequence[int], cfg: AuditConfig,
                  relearn: bool = True, progress: bool = True,
                  name: str = "model") -> tuple[dict, dict]:
    """(record, test stage features) of one model; see the module docstring."""
    k = data.num_classes
    taps = find_taps(model, k, cfg.feature_layer)
    tr = extract(model, data, data.x_train, taps, batch_size=cfg.batch_size,
                 desc=f"{name}: train features", progress=progress)
    te = extract(model, data, data.x_test, taps, stages=True, batch_size=cfg.batch_size,
                 desc=f"{name}: test features", progress=progress)
    if tr["logits"].shape[1] != k:
        raise ValueError(f"{name} has {tr['logits'].shape[1]} outputs but the data has {k} "
                         "classes")
    fs = FeatureSet(tr["features"], data.y_train, te["features"], data.y_test, tr["logits"],
                    te["logits"])
    with intra_op_threads(1, torch.device("cpu")):
        rec = _readouts(fs, taps, forget, k, cfg)
        rec["taps"]["stages"] = [s for s in taps.stages if s in te]
    if relearn and cfg.relearn is not None:
        rec.update(_relearn(model, data, forget, cfg, name))
    stages = {s: te[s] for s in taps.stages if s in te}
    stages["features"] = te["features"]
    return rec, stages


def _readouts(fs: FeatureSet, taps: Taps, forget: Sequence[int], k: int,
              cfg: AuditConfig) -> dict:
    """Every feature readout of one model. The caller runs it on one intra-op thread: these
    are thousands of tiny ops, which a second spinning thread slows down many times over on a
    busy machine."""
    g = torch.Generator().manual_seed(cfg.seed)
    out = output_accuracy(fs, forget)
    probe = linear_probe(fs.train, fs.train_y, fs.test, fs.test_y, k, forget, generator=g)
    return {"taps": {"features": taps.description, "dim": int(fs.train.shape[1])},
            "accuracy": {
                "output": {"retain": out["test_retain"], "forget": out["test_forget"]},
                "probe": _split(probe),
                "ncc": _split(ncc_accuracy(fs.train, fs.train_y, fs.test, fs.test_y, k, forget)),
                "knn": _split(knn_accuracy(fs.train, fs.train_y, fs.test, fs.test_y,
                                           cfg.knn_k, forget))},
            "train_forget_output": out["train_forget"],
            "mia_efficacy": mia_scores(fs, forget, g)["mia_efficacy"],
            "duality": _duality(fs, taps, forget)}


def _duality(fs: FeatureSet, taps: Taps, forget: Sequence[int]) -> dict | None:
    """1 - cos(w_c, mu_c - mu_G) per class (training features); None without a linear head."""
    if taps.head is None:
        return None
    weight = taps.head.weight.detach().float().cpu()
    bias = taps.head.bias.detach().float().cpu() if taps.head.bias is not None else None
    per_class = neural_collapse(fs.train, fs.train_y, weight, bias)["duality"]
    mean = lambda cs: (sum(per_class[c] for c in cs) / len(cs)) if cs else float("nan")  # noqa
    retain = [c for c in per_class if c not in set(forget)]
    return {"forget": mean([c for c in forget if c in per_class]), "retain": mean(retain),
            "per_class": {str(c): v for c, v in per_class.items()}}


def _relearn(model: nn.Module, data: ImageData, forget: Sequence[int], cfg: AuditConfig,
             name: str) -> dict:
    all_train, all_test = torch.arange(len(data.y_train)), torch.arange(len(data.y_test))
    retain_idx, forget_idx = class_split(data.y_train, all_train, forget)
    test_retain, test_forget = class_split(data.y_test, all_test, forget)
    res = relearn_curve(ContiguousInput(model), data, forget_idx, retain_idx, test_forget,
                        test_retain, cfg.relearn, cfg.seed, device="cpu")
    curve = pd.DataFrame(res["curve"]).assign(method=name, attack="audit")
    mean = float(relearn_summary(curve, reference="")["mean"].iloc[0])
    return {"relearn": res["curve"], "relearn_mean": mean,
            "relearn_images": {"forget": res["n_forget"], "retain": res["n_retain"]}}


def _cka(model_stages: dict, original_stages: dict) -> dict[str, float]:
    """Linear CKA per stage present in both models (same test images)."""
    return {s: linear_cka(model_stages[s], original_stages[s]) for s in model_stages
            if s in original_stages and len(model_stages[s]) == len(original_stages[s])}


def audit(model: nn.Module, data: ImageData, forget: Sequence[int],
          reference: nn.Module | None = None, original: nn.Module | None = None,
          cfg: AuditConfig = AuditConfig(), progress: bool = True) -> dict:
    """The audit record: per-model measurements, CKA to the original, the verdict."""
    forget = sorted(forget)
    models = {"model": model, "reference": reference, "original": original}
    records, stages = {}, {}
    for name, m in models.items():
        if m is None:
            records[name] = None
            continue
        records[name], stages[name] = measure_model(m, data, forget, cfg, name != "original",
                                                    progress, name)
    cka = _cka(stages["model"], stages["original"]) if original is not None else None
    ref = Readouts.from_record(records["reference"]) if reference is not None else None
    verdict = judge(Readouts.from_record(records["model"]), ref)
    return {"forget": forget, "classes": list(data.classes),
            "images": {"train": len(data.y_train), "test": len(data.y_test),
                       "shape": list(data.x_train.shape[1:])},
            "config": {**asdict(cfg)}, "models": records, "cka": cka,
            "verdict": verdict.as_dict()}
