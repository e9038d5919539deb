"""Method comparisons for the claim notebooks: one tidy table per (dataset, profile, seed, forget).

Each row is a model (the original, Retrain or an unlearned model) with every metric of
:func:`illusion.evaluation.evaluate`, flattened to columns such as ``output_test_forget``,
``probe_test_forget``, ``ncc_test_forget``, ``mia_efficacy``, ``duality_forget``. Evaluation
records are cached next to the models, so notebooks that share models share the work.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import pandas as pd
from tqdm.auto import tqdm

from .cache import ArtifactCache
from .evaluation import evaluate, probe_per_stage
from .features import FeatureSet
from .metrics import METRICS_VERSION, linear_cka, split_mask
from .pipeline import (TrainedModel, cached_features, cached_stage_features, train_or_load,
                       unlearn_or_load)

__all__ = ["compare_methods", "evaluation_record", "feature_drift", "flatten", "method_row",
           "stage_probes", "stage_similarity"]


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
    return row


def evaluation_record(tm: TrainedModel, forget: Sequence[int], seed: int = 0,
                      cache: ArtifactCache | None = None) -> dict:
    """:func:`evaluate` of a model with ``forget`` as the forget classes, cached."""
    cache = cache or ArtifactCache()
    spec = {"model": tm.spec, "kind": tm.kind, "forget": sorted(forget), "seed": seed,
            "metrics": METRICS_VERSION}

    def build() -> dict:
        return evaluate(tm.model, tm.data, tm.splits.train, forget, seed,
                        features=cached_features(tm, cache))

    record, _ = cache.get_or_create("evaluation", spec, build)
    return record


Entry = str | tuple[str, str, Mapping]


def compare_methods(methods: Iterable[Entry], dataset: str | None = None, profile: str = "cpu",
                    seed: int = 0, forget: Sequence[int] = (0,), progress: bool = True,
                    cache: ArtifactCache | None = None) -> pd.DataFrame:
    """One row per model: ``original``, then each of ``methods`` (``retrain`` included if
    named), with ``method``, ``seconds`` (unlearning time; training time for Retrain and the
    original) and every flattened metric. An entry is a method name or, like a sweep's
    labelled entry, ``(label, method, hparams)``: ``method`` with ``hparams`` overriding the
    profile's, its row named ``label`` (the same cached model as the sweep's entry)."""
    rows = []
    original = train_or_load(dataset, profile, seed, (), cache, progress=progress)
    base = cached_features(original, cache)
    for entry in tqdm(["original", *methods], desc="methods", disable=not progress, leave=False):
        name, method, hp = (entry, entry, None) if isinstance(entry, str) else entry
        tm = original if name == "original" else unlearn_or_load(
            dataset, profile, seed, forget, method, dict(hp or {}), cache=cache,
            progress=progress)
        rows.append({**method_row(name, tm, forget, seed, cache),
                     **feature_drift(base, cached_features(tm, cache), forget)})
    return pd.DataFrame(rows)


def method_row(name: str, tm: TrainedModel, forget: Sequence[int], seed: int = 0,
               cache: ArtifactCache | None = None) -> dict:
    """One model's row of a comparison: ``method`` (``name``), ``seconds`` (unlearning time;
    training time for Retrain and the original) and every flattened metric of its cached
    :func:`evaluation_record` with ``forget`` as the forget classes."""
    return {"method": name, "seconds": tm.seconds,
            **flatten(evaluation_record(tm, forget, seed, cache))}


def feature_drift(before: FeatureSet, after: FeatureSet, forget: Sequence[int]) -> dict:
    """How far the penultimate features moved: linear CKA to the original on the test set
    (all / forget-class images) and the relative shift of the forget classes' training mean."""
    mt = split_mask(before.test_y, forget)
    mf = split_mask(before.train_y, forget)
    mu_b, mu_a = before.train[mf].double().mean(0), after.train[mf].double().mean(0)
    return {"cka_test": linear_cka(before.test, after.test),
            "cka_test_forget": linear_cka(before.test[mt], after.test[mt]),
            "forget_mean_shift": ((mu_a - mu_b).norm() / mu_b.norm()).item()}


def stage_similarity(models: dict[str, TrainedModel], references: dict[str, TrainedModel],
                     forget: Sequence[int], cache: ArtifactCache | None = None) -> pd.DataFrame:
    """Linear CKA per stage between every model and every reference (e.g. the original and
    Retrain) on the test images of the forget classes and of the retained classes.

    One row per (``method``, ``reference``, ``split`` in {"forget", "retain"}, ``stage``) with
    ``cka``; stages in network order (stem first, the last one being the penultimate layer).
    Features come from :func:`cached_stage_features`, so each model is run once.
    """
    ref_feats = {r: cached_stage_features(tm, cache)["test"] for r, tm in references.items()}
    rows = []
    for name, tm in models.items():
        test = cached_stage_features(tm, cache)["test"]
        mask = split_mask(tm.data.y_test, forget)
        for ref, other in ref_feats.items():
            for split, m in (("forget", mask), ("retain", ~mask)):
                for stage in test:
                    cka = linear_cka(test[stage][m], other[stage][m])
                    rows.append({"method": name, "reference": ref, "split": split,
                                 "stage": stage, "cka": cka})
    return pd.DataFrame(rows)


def stage_probes(models: dict[str, TrainedModel], forget: Sequence[int], seed: int = 0,
                 cache: ArtifactCache | None = None) -> pd.DataFrame:
    """[A]'s linear probe on every stage's pooled features (cached per model): one row per
    (``method``, ``stage``) with ``probe_test_retain`` and ``probe_test_forget`` (percent)."""
    cache = cache or ArtifactCache()
    rows = []
    for name, tm in models.items():
        spec = {"model": tm.spec, "kind": tm.kind, "forget": sorted(forget), "seed": seed,
                "metrics": METRICS_VERSION}

        def build(tm: TrainedModel = tm) -> dict:
            return probe_per_stage(tm.model, tm.data, tm.splits.train, forget, seed,
                                   features=cached_stage_features(tm, cache))

        record, _ = cache.get_or_create("stage_probe", spec, build)
        rows += [{"method": name, "stage": stage, "probe_test_retain": r["test_retain"],
                  "probe_test_forget": r["test_forget"]} for stage, r in record.items()]
    return pd.DataFrame(rows)
