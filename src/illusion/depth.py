"""What the representation holds, stage by stage: feature drift, per-stage CKA (pooled and
flattened, with bootstrap draws) and per-stage probes, each cached per model.

The sweep's extras (:mod:`illusion.rows`) call these; pages read what they stored.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch

from .cache import ArtifactCache, Recent, spec_key
from .evaluation import probe_per_stage
from .features import FeatureSet, flat_stage_grams
from .keys import stage_cka_draws_spec, stage_cka_flat_spec, stage_probe_spec
from .metrics import gram_cka, linear_cka, split_mask
from .pipeline import TrainedModel, cached_stage_features
from .stats import IMAGE_SEED, RESAMPLES, CKAReference, cka_draws, resample_weights

__all__ = ["FLAT_CKA_IMAGES", "feature_drift", "stage_cka_draws", "stage_cka_flat",
           "stage_probes", "stage_similarity"]


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
