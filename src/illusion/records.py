"""What is read off one model into a grid row: its evaluation record and the row's columns,
and claim C4's analytic flip of its head.

:func:`method_row` is one model's row (used by :func:`illusion.rows.run_row`): every metric
of :func:`illusion.evaluation.evaluate`, flattened to columns such as ``output_test_forget``,
``probe_test_forget``, ``ncc_test_forget``, ``mia_efficacy``, ``duality_forget``. Evaluation
records are cached next to the models, so rows that share a model share the work.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .cache import ArtifactCache
from .evaluation import evaluate, head_parameters, output_accuracy
from .features import FeatureSet
from .keys import evaluation_spec
from .methods.classifier_only import nc_flip_head
from .pipeline import TrainedModel, cached_features

__all__ = ["evaluation_record", "flatten", "flip_curve", "method_row"]


def flatten(record: dict) -> dict:
    """Nested evaluation record -> flat columns (``accuracy.output.test_forget`` ->
    ``output_test_forget``; neural-collapse summaries -> ``nc1_all``, ``duality_forget``...)."""
    row = {}
    for readout, values in record["accuracy"].items():
        for split, value in values.items():
            row[f"{readout}_{split}"] = value
    for key in ("ua", "mia_efficacy", "mia_loss"):
        row[key] = record[key]
    nc = record["neural_collapse"]
    for group in ("all", "retain"):
        for k, v in nc.get(group, {}).items():
            row[f"{k}_{group}"] = v
    row["duality_forget"], row["duality_retain"] = nc["duality_forget"], nc["duality_retain"]
    for split, values in record.get("probe_fits", {}).items():  # the probe's fit-to-fit spread
        if split != "epoch" and len(values) > 1:
            row[f"probe_{split}_sd"] = float(np.std(values, ddof=1))
    row.update(record.get("registered", {}))  # illusion.metrics.register_metric
    return row


def evaluation_record(tm: TrainedModel, forget: Sequence[int], seed: int = 0,
                      cache: ArtifactCache | None = None) -> dict:
    """:func:`evaluate` of a model with ``forget`` as the forget classes, cached."""
    cache = cache or ArtifactCache()
    spec = evaluation_spec(tm.spec, tm.kind, forget, seed)

    def build() -> dict:
        return evaluate(tm.model, tm.data, tm.splits.train, forget, seed,
                        features=cached_features(tm, cache))

    record, _ = cache.get_or_create("evaluation", spec, build)
    return record


def method_row(name: str, tm: TrainedModel, forget: Sequence[int], seed: int = 0,
               cache: ArtifactCache | None = None) -> dict:
    """One model's row of a comparison: ``method`` (``name``), ``seconds`` (unlearning time;
    training time for Retrain and the original) and every flattened metric of its cached
    :func:`evaluation_record` with ``forget`` as the forget classes."""
    return {"method": name, "seconds": tm.seconds,
            **flatten(evaluation_record(tm, forget, seed, cache))}


def flip_curve(original: TrainedModel, forget: Sequence[int], ratios: Sequence[float],
               cache: ArtifactCache | None = None) -> pd.DataFrame:
    """Claim C4's analytic flip on the original's cached features: for each ``c / bound`` in
    ``ratios`` (the bound being (K-1)·alpha;
    :func:`illusion.methods.classifier_only.nc_flip_head`), output ``test retain`` / ``test
    forget`` accuracy of the flipped head, the original's ``original test retain`` and
    ``alpha``, one row per ratio."""
    fs = cached_features(original, cache)
    weight, bias = head_parameters(original.model)
    before = output_accuracy(fs, forget)["test_retain"]
    rows = []
    for ratio in ratios:
        w, b, terms = nc_flip_head(weight, bias, fs.train, fs.train_y, list(forget), ratio)
        flipped = FeatureSet(fs.train, fs.train_y, fs.test, fs.test_y,
                             (fs.train.double() @ w.double().T + b.double()).float(),
                             (fs.test.double() @ w.double().T + b.double()).float())
        acc = output_accuracy(flipped, forget)
        rows.append({"c / bound": ratio,
                     "test retain": acc["test_retain"], "test forget": acc["test_forget"],
                     "original test retain": before, "alpha": terms["alpha"]})
    return pd.DataFrame(rows)
