"""What the claim pages compute from models: metric rows, feature drift, per-stage tables.

:func:`method_row` is one model's row (used by :func:`illusion.cells.run_cell`): every metric of
:func:`illusion.evaluation.evaluate`, flattened to columns such as ``output_test_forget``,
``probe_test_forget``, ``ncc_test_forget``, ``mia_efficacy``, ``duality_forget``. Evaluation
records are cached next to the models, so pages that share models share the work.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from .cache import ArtifactCache, Recent, spec_key
from .evaluation import evaluate, head_parameters, output_accuracy, probe_per_stage
from .features import FeatureSet, flat_stage_grams
from .methods.classifier_only import nc_flip_head
from .keys import (evaluation_spec, stage_cka_draws_spec, stage_cka_flat_spec,
                   stage_probe_spec)
from .metrics import gram_cka, linear_cka, split_mask
from .pipeline import TrainedModel, cached_features, cached_stage_features
from .stats import (IMAGE_SEED, RESAMPLES, CKAReference, accuracy_gap, cka_draws, mean_interval,
                    resample_weights, subset_gap)

__all__ = ["FLAT_CKA_IMAGES", "GAP_COLUMNS",
           "evaluation_record", "feature_drift", "flatten", "flip_curve", "gap_columns",
           "gap_means", "lead_means", "method_row", "readout_gaps", "relearn_leads",
           "stage_cka_draws", "stage_cka_flat", "stage_probes", "stage_similarity"]


# The columns of readout_gaps' table.
GAP_COLUMNS = ["method", "readout", "gap", "low", "high", "interval"]


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


def readout_gaps(predictions: dict[str, dict], test_y: torch.Tensor, forget: Sequence[int],
                 reference: str = "retrain", readouts: Sequence[str] = ("probe", "ncc"),
                 split: str = "forget", seed: int | None = None) -> pd.DataFrame:
    """Each model's test accuracy through each readout minus ``reference``'s, on the test
    images of the forget classes (``split="forget"``) or of the retained ones, with its paired
    95% bootstrap interval over those images (:func:`illusion.stats.accuracy_gap`), resampled
    with :data:`illusion.stats.IMAGE_SEED` unless ``seed`` says otherwise; a readout fitted
    several times (the probe: one row of predictions per fit) also resamples its fits.

    ``predictions`` maps a label to its evaluation record's ``test_predictions``. Every gap
    of a cell resamples with the same ``seed``: the same images in every resample, for every
    model. One row per (``method``, ``readout``): ``gap``, ``low``, ``high`` (points) and the
    :class:`~illusion.stats.Interval` in ``interval`` (for :func:`gap_means`)."""
    seed = IMAGE_SEED if seed is None else seed
    if reference not in predictions:
        raise KeyError(f"readout_gaps: no predictions of the reference {reference!r}")
    mask = split_mask(test_y, forget)
    if split == "retain":
        mask = ~mask
    elif split != "forget":
        raise ValueError(f"readout_gaps: split must be 'forget' or 'retain', not {split!r}")
    y = test_y[mask]

    def correct(label: str, readout: str) -> np.ndarray:  # (images,), or (fits, images)
        return (predictions[label][readout][..., mask].long() == y).numpy()

    rows = []
    for label in predictions:
        if label == reference:
            continue
        for r in readouts:
            iv = accuracy_gap(correct(label, r), correct(reference, r), seed=seed)
            rows.append({"method": label, "readout": r, "gap": iv.estimate, "low": iv.low,
                         "high": iv.high, "interval": iv})
    return pd.DataFrame(rows, columns=GAP_COLUMNS)


def relearn_leads(scores: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]],
                  test_forget: np.ndarray, reference: str = "retrain") -> pd.DataFrame:
    """The relearning lead of every model of one cell over the reference, per attack: the
    forget accuracy averaged over the evaluated steps minus the reference's (the ``gap`` of
    :func:`illusion.attacks.relearn_summary`), with its paired 95% bootstrap interval over the
    forget-class test images the curves are read on (:func:`illusion.stats.subset_gap`,
    resampling the cell's whole forget test set, ``test_forget``, the indices of its
    forget-class test images, with :data:`illusion.stats.IMAGE_SEED`).

    ``scores`` maps a label (``reference`` among them) to ``{attack: (test image indices,
    score)}`` (:func:`illusion.attacks.relearn_scores`, stored by the ``relearn`` extra). One
    row per (``method``, ``attack``): ``gap``, ``low``, ``high``, ``interval``."""
    if reference not in scores:
        raise KeyError(f"relearn_leads: no reference model {reference!r}")
    test_forget = np.sort(np.asarray(test_forget))
    rows = []
    for attack, (ref_images, ref_scores) in scores[reference].items():
        for label, by_attack in scores.items():
            if label == reference:
                continue
            images, values = by_attack[attack]
            if not np.array_equal(images, ref_images):
                raise ValueError(f"relearn_leads: {label} and {reference} were read on other "
                                 "test images")
            iv = subset_gap(values, ref_scores, np.searchsorted(test_forget, images),
                            len(test_forget), seed=IMAGE_SEED)
            rows.append({"method": label, "attack": attack, "gap": iv.estimate, "low": iv.low,
                         "high": iv.high, "interval": iv})
    return pd.DataFrame(rows, columns=["method", "attack", "gap", "low", "high", "interval"])


def lead_means(leads: pd.DataFrame) -> pd.DataFrame:
    """:func:`relearn_leads` of several cells (stacked) as the mean lead per (``method``,
    ``attack``) over the cells with its interval and ``cells`` (:func:`gap_means`)."""
    return gap_means(leads, "attack")


def gap_means(gaps: pd.DataFrame, by: str = "readout") -> pd.DataFrame:
    """:func:`readout_gaps` of several cells (stacked, each row tagged with its cell) as the
    mean gap per (``method``, ``by``) over the cells with its interval
    (:func:`illusion.stats.mean_interval`) and ``cells``, in order of first appearance."""
    rows = []
    for (method, key), group in gaps.groupby(["method", by], sort=False):
        iv = mean_interval(list(group["interval"]))
        rows.append({"method": method, by: key, "gap": iv.estimate, "low": iv.low,
                     "high": iv.high, "cells": len(group), "interval": iv})
    return pd.DataFrame(rows, columns=["method", by, "gap", "low", "high", "cells",
                                       "interval"])


def gap_columns(gaps: pd.DataFrame, name: str = "vs_retrain") -> pd.DataFrame:
    """Gaps (:func:`readout_gaps` or :func:`gap_means`) as columns a claim's table can carry:
    one row per ``method`` (and per ``seed`` / ``forget`` when the gaps have them) with
    ``<readout>_<name>_low`` and ``<readout>_<name>_high``."""
    keys = [k for k in ("seed", "forget") if k in gaps.columns] + ["method"]
    rows: dict[tuple, dict] = {}
    for rec in gaps.to_dict("records"):
        row = rows.setdefault(tuple(rec[k] for k in keys), {k: rec[k] for k in keys})
        row[f"{rec['readout']}_{name}_low"] = rec["low"]
        row[f"{rec['readout']}_{name}_high"] = rec["high"]
    return pd.DataFrame(list(rows.values()), columns=None if rows else keys)


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


class _LastOnly(Recent):
    """A one-entry :class:`illusion.cache.Recent`: the sweep runs a cell's rows one per task
    on worker processes it reuses, in cell order, so the original's part of a per-model
    comparison (its Grams, its CKA reference) that one row computed is reused by the next
    row of the same cell on that worker; one entry bounds the memory (the multi-class
    cells' Grams are several hundred MB)."""

    def __init__(self) -> None:
        super().__init__(1)


_DRAWS_REFERENCE = _LastOnly()  # stage_cka_draws: the original's CKAReference per stage
_FLAT_REFERENCE = _LastOnly()  # stage_cka_flat: the original's flattened-map Grams


def stage_cka_draws(original: TrainedModel, models: dict[str, TrainedModel],
                    forget: Sequence[int], stages: Sequence[str] | None = None,
                    seed: int = 0,
                    resamples: int | None = None,
                    cache: ArtifactCache | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Bootstrap draws of each model's linear CKA to the original per stage on the test images
    of the forget classes (``{label: {stage: draws}}``; :func:`illusion.stats.cka_draws`).
    Every model of the cell is resampled with the same rows, so the draws of two models are
    paired: their differences are draws of the difference (claim C7). ``stages`` limits the
    stages (default: all). ``seed`` drives the resampling of the images: keep it the same
    (:data:`illusion.stats.IMAGE_SEED`) for every cell on the same images, so that their
    draws average into the mean's (:func:`illusion.stats.mean_interval`).

    Each model's draws are a cached artifact (``stage_cka_draws``, keyed by both models, the
    forget set, the seed, the resamples and the stages): the sweep's ``stage_cka_draws``
    extra computes them with the model's cell, and a notebook reads them back."""
    cache = cache or ArtifactCache()
    resamples = resamples or RESAMPLES
    memo = _DRAWS_REFERENCE.get(
        (spec_key("original", original.spec), tuple(sorted(forget)), seed, resamples), dict)

    def reference(stage: str) -> tuple[np.ndarray, CKAReference]:
        """The resamples and the original's part, built once per process and cell (the
        sweep's rows of a cell share it, :class:`_LastOnly`) and only when a draw is."""
        if not memo:
            memo["ref"] = cached_stage_features(original, cache)["test"]
            memo["mask"] = split_mask(original.data.y_test, forget).numpy()
            memo["weights"] = resample_weights(int(memo["mask"].sum()), resamples, seed)
        if stage not in memo:
            memo[stage] = CKAReference(memo["ref"][stage][memo["mask"]].double().numpy(),
                                       memo["weights"])
        return memo["weights"], memo[stage]

    out: dict[str, dict[str, np.ndarray]] = {}
    for name, tm in models.items():
        spec = stage_cka_draws_spec(tm.spec, original.spec, forget, seed, resamples, stages)

        def build(tm: TrainedModel = tm) -> dict:
            test = cached_stage_features(tm, cache)["test"]
            mask = split_mask(tm.data.y_test, forget).numpy()
            draws = {}
            for stage in (stages or test):
                weights, ref = reference(stage)
                draws[stage] = torch.from_numpy(
                    cka_draws(None, test[stage][mask].double().numpy(), weights, ref))
            return draws

        record, _ = cache.get_or_create("stage_cka_draws", spec, build)
        out[name] = {stage: draws.numpy() for stage, draws in record.items()}
    return out


def stage_probes(models: dict[str, TrainedModel], forget: Sequence[int], seed: int = 0,
                 cache: ArtifactCache | None = None) -> pd.DataFrame:
    """[A]'s linear probe on every stage's pooled features (cached per model): one row per
    (``method``, ``stage``) with ``probe_test_retain`` and ``probe_test_forget`` (percent)."""
    cache = cache or ArtifactCache()
    rows = []
    for name, tm in models.items():
        spec = stage_probe_spec(tm.spec, tm.kind, forget, seed)

        def build(tm: TrainedModel = tm) -> dict:
            return probe_per_stage(tm.model, tm.data, tm.splits.train, forget, seed,
                                   features=cached_stage_features(tm, cache))

        record, _ = cache.get_or_create("stage_probe", spec, build)
        rows += [{"method": name, "stage": stage, "probe_test_retain": r["test_retain"],
                  "probe_test_forget": r["test_forget"]} for stage, r in record.items()]
    return pd.DataFrame(rows)


# The most forget-class test images that flattened-map CKA reads: its Gram matrices are N x N
# (72 MB each in float64 at 3000, the size of a 3-class forget set of a 10-class test set).
FLAT_CKA_IMAGES = 3000


def _flat_cka_images(tm: TrainedModel, forget: Sequence[int], max_images: int,
                     seed: int) -> torch.Tensor:
    """The forget classes' test images, in test-set order: all of them when there are at most
    ``max_images``, else ``max_images`` of them drawn with ``seed``."""
    idx = torch.nonzero(split_mask(tm.data.y_test, forget)).squeeze(1)
    if len(idx) > max_images:
        pick = torch.randperm(len(idx), generator=torch.Generator().manual_seed(seed))
        idx = idx[pick[:max_images]].sort().values
    return tm.data.x_test[idx]


def stage_cka_flat(original: TrainedModel, models: dict[str, TrainedModel],
                   forget: Sequence[int], seed: int = IMAGE_SEED,
                   max_images: int = FLAT_CKA_IMAGES,
                   cache: ArtifactCache | None = None) -> pd.DataFrame:
    """Linear CKA of every model to the original per stage on the **flattened** stage maps
    (N, C·H·W) of the forget classes' test images: the variant of :func:`stage_similarity`'s
    pooled reading that claim C7's page reports (pooled is the reference, as in UUEF's code).
    One row per (``method``, ``stage``) with ``cka`` and ``images`` (N).

    All the forget classes' test images are read when there are at most ``max_images``
    (3000: a 3-class forget set of a 10-class test set), else a subset of ``max_images`` drawn
    with ``seed``. Each stage's N x N Gram matrices are filled in float64 from batched forward
    passes, 1000 images at a time (:func:`illusion.features.flat_stage_grams`), holding the
    maps of at most two such blocks, and CKA is read from them
    (:func:`illusion.metrics.gram_cka`). Maps are extracted under bfloat16 autocast when the
    model's profile trains under it, the rule of
    :func:`illusion.pipeline.cached_stage_features`. Each model's values are cached (kind
    ``stage_cka_flat``), keyed by both models' specs, the forget set and the image choice; the
    original's Grams are computed only when some model's values are missing, and once per
    process for consecutive calls on the same cell (the sweep's extra calls once per model,
    on workers it reuses).
    """
    cache = cache or ArtifactCache()
    x = _flat_cka_images(original, forget, max_images, seed)  # (N, C, H, W) uint8
    # the original's Grams, built at most once per process and cell (:class:`_LastOnly`)
    reference: dict[str, torch.Tensor] = _FLAT_REFERENCE.get(
        (spec_key("original", original.spec), tuple(sorted(forget)), max_images, seed,
         original.bf16), dict)

    def grams(tm: TrainedModel) -> dict[str, torch.Tensor]:
        return flat_stage_grams(tm.model, tm.data, x, bf16=tm.bf16)

    rows = []
    for name, tm in models.items():
        spec = stage_cka_flat_spec(tm.spec, tm.kind, original.spec, forget, max_images, seed,
                                   tm.bf16)

        def build(tm: TrainedModel = tm) -> dict:
            reference.update(reference or grams(original))
            return {"cka": {stage: gram_cka(reference[stage], g)
                            for stage, g in grams(tm).items()}, "images": len(x)}

        record, _ = cache.get_or_create("stage_cka_flat", spec, build)
        rows += [{"method": name, "stage": stage, "cka": v, "images": record["images"]}
                 for stage, v in record["cka"].items()]
    return pd.DataFrame(rows)


def flip_curve(original: TrainedModel, forget: Sequence[int], ratios: Sequence[float],
               cache: ArtifactCache | None = None) -> pd.DataFrame:
    """Claim C4's analytic flip on the original's cached features: for each ``c / bound`` in
    ``ratios`` (the bound being (K-1)·alpha;
    :func:`illusion.methods.classifier_only.nc_flip_head`), output ``test retain`` / ``test forget`` accuracy of the flipped head, the original's
    ``original test retain`` and ``alpha``, one row per ratio."""
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
