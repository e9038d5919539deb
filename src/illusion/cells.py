"""A cell of an experiment, on its own: what it is, what decides it, and the one executor.

A :class:`Cell` is one row of a grid: a method (or ``"original"``) of a (dataset, profile,
seed) evaluated with a forget set. :func:`run_cell` computes its row (the model trained,
unlearned or loaded, every metric of :func:`illusion.experiments.method_row`, and the
requested extras) once, as an artifact of kind ``"sweep_cell"`` keyed by :func:`cell_spec`:
it is the one executor behind ``illusion sweep`` (:mod:`illusion.gridfile` reads grid files,
:mod:`illusion.sweep` adds Ray) and behind the book's pages (:mod:`illusion.book`), so a page's row and the sweep's
row are the same cached artifact.

``EXTRAS`` maps a name to ``fn(tm, original, cell, cache) -> dict`` of scalar columns; an
extra also leaves its artifacts in the cache (per-stage features, relearning curves), which is
how a sweep feeds the notebooks that read them. Shipped: ``feature_drift``, ``stage_cka``,
``stage_cka_draws``, ``stage_cka_flat``, ``stage_probes``, ``relearn``, ``attack_calibration``,
``audit_page``;
register a new one here with :func:`register_extra` (Ray workers import this module through
the sweep's tasks).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import pandas as pd

from .attacks import (RELEARN_RECORD, calibrate_attack, default_attacks, relearn,
                      relearn_summary)
from .audit.demo import audit_demo
from .cache import ArtifactCache
from .catalog import ForgetSet
from .experiments import (EVALUATION_RECORD, feature_drift, method_row, stage_cka_draws,
                          stage_cka_flat, stage_probes, stage_similarity)
from .methods import hparams_for, passes_spec, resolve_method
from .metrics import metrics_spec
from .pipeline import (STARTS, TrainedModel, cached_features, cached_stage_features,
                       start_passes_spec, train_or_load, unlearn_or_load)
from .profiles import get_profile
from .stats import IMAGE_SEED

__all__ = ["EXTRAS", "KIND", "MODELS", "STAGE_EXTRAS", "Cell", "Grid", "cell_model",
           "cell_spec", "register_extra", "run_cell", "start_of", "summarise"]

KIND = "sweep_cell"
# The hparams.toml entry that decides each starting point of pipeline.STARTS.
START_HPARAMS = {"cmf_original": "cmf_finetune"}
# Rows that are models rather than unlearning methods: the original (a row of every grid) and
# [A]'s CMF original (a row when listed), each evaluated with the cell's forget set
MODELS = ("original", "cmf_original")
# extras that read per-stage (pooled) features
STAGE_EXTRAS = {"stage_cka", "stage_cka_draws", "stage_probes"}


def summarise(table: pd.DataFrame, columns: Sequence[str], by: str | list[str] = "method"
              ) -> pd.DataFrame:
    """Mean, standard deviation (NaN for a single run) and run count of each column per
    ``by`` value, in order of first appearance: columns ``<col>_mean``, ``<col>_std``, ``n``."""
    groups = table.groupby(by, sort=False)
    return pd.concat({**{f"{c}_{stat}": getattr(groups[c], stat)() for c in columns
                         for stat in ("mean", "std")}, "n": groups.size()}, axis=1)


@dataclass(frozen=True)
class Cell:
    """One row of a sweep: ``method`` (``"original"`` for the original model) of (``dataset``,
    ``profile``, ``seed``) evaluated with ``forget`` as the forget classes; ``hparams``
    override the profile's entry in ``methods/hparams.toml``."""

    dataset: str
    profile: str
    seed: int
    forget: tuple[int, ...]
    method: str
    label: str
    hparams: dict[str, Any] = field(default_factory=dict, hash=False)
    extras: tuple[str, ...] = ()  # this entry's extras, on top of the grid's

    @property
    def group(self) -> tuple[str, str, int]:
        """The cells sharing one original model."""
        return self.dataset, self.profile, self.seed

    @property
    def key(self) -> tuple:
        return self.dataset, self.profile, self.seed, self.forget, self.label

    def describe(self) -> str:
        """The cell's config on one line."""
        hp = f" hparams={self.hparams}" if self.hparams else ""
        return (f"dataset={self.dataset} profile={self.profile} seed={self.seed} "
                f"forget={ForgetSet(self.forget)} method={self.label} ({self.method}){hp}")


@dataclass(frozen=True)
class Grid:
    name: str
    cells: tuple[Cell, ...]
    extras: tuple[str, ...] = ()


# ------------------------------------------------------------------------------- extras

Extra = Callable[[TrainedModel, TrainedModel, Cell, ArtifactCache], dict]
EXTRAS: dict[str, Extra] = {}


def register_extra(name: str) -> Callable[[Extra], Extra]:
    """Decorator adding ``fn(tm, original, cell, cache) -> {column: scalar}`` to ``EXTRAS``."""
    def wrap(fn: Extra) -> Extra:
        if name in EXTRAS:
            raise ValueError(f"extra {name!r} is already registered")
        EXTRAS[name] = fn
        return fn
    return wrap


@register_extra("feature_drift")
def _feature_drift(tm: TrainedModel, original: TrainedModel, cell: Cell,
                   cache: ArtifactCache) -> dict:
    """``cka_test``, ``cka_test_forget``, ``forget_mean_shift`` against the original."""
    return feature_drift(cached_features(original, cache), cached_features(tm, cache),
                         cell.forget)


@register_extra("stage_cka")
def _stage_cka(tm: TrainedModel, original: TrainedModel, cell: Cell,
               cache: ArtifactCache) -> dict:
    """``stage_cka_<split>_<stage>``: linear CKA to the original per stage, on the test images
    of the forget (``forget``) and retained (``retain``) classes."""
    table = stage_similarity({cell.label: tm}, {"original": original}, cell.forget, cache)
    return {f"stage_cka_{r.split}_{r.stage}": r.cka for r in table.itertuples()}


@register_extra("stage_cka_draws")
def _stage_cka_draws(tm: TrainedModel, original: TrainedModel, cell: Cell,
                     cache: ArtifactCache) -> dict:
    """No columns: caches the bootstrap draws of the model's per-stage CKA to the original
    (:func:`illusion.experiments.stage_cka_draws`, resampled with
    :data:`illusion.stats.IMAGE_SEED`) that claim C7's intervals read, so that a notebook
    only loads them."""
    stage_cka_draws(original, {cell.label: tm}, cell.forget, seed=IMAGE_SEED, cache=cache)
    return {}


@register_extra("stage_cka_flat")
def _stage_cka_flat(tm: TrainedModel, original: TrainedModel, cell: Cell,
                    cache: ArtifactCache) -> dict:
    """``stage_cka_flat_forget_<stage>``: linear CKA to the original per stage on the
    flattened stage maps of the forget classes' test images (``stage_cka``'s variant)."""
    table = stage_cka_flat(original, {cell.label: tm}, cell.forget, cache=cache)
    return {f"stage_cka_flat_forget_{r.stage}": r.cka for r in table.itertuples()}


@register_extra("stage_probes")
def _stage_probes(tm: TrainedModel, original: TrainedModel, cell: Cell,
                  cache: ArtifactCache) -> dict:
    """``stage_probe_<split>_<stage>``: [A]'s linear probe on every stage's pooled features."""
    table = stage_probes({cell.label: tm}, cell.forget, cell.seed, cache)
    return {f"stage_probe_{split}_{r.stage}": getattr(r, f"probe_test_{split}")
            for r in table.itertuples() for split in ("forget", "retain")}


@register_extra("relearn")
def _relearn(tm: TrainedModel, original: TrainedModel, cell: Cell,
             cache: ArtifactCache) -> dict:
    """``relearn_<attack>``: :func:`illusion.attacks.relearn_summary`'s ``mean`` (test forget
    accuracy over the attack's steps) for each default attack of the cell's profile
    (:func:`illusion.attacks.default_attacks`); none for the original, which forgot nothing."""
    if cell.method in MODELS:
        return {}
    configs = default_attacks(profile=cell.profile)
    curves = pd.concat([relearn(tm, config, cell.seed, cache).assign(method=cell.label,
                                                                    attack=label)
                        for label, config in configs.items()], ignore_index=True)
    means = relearn_summary(curves).set_index("attack")["mean"]
    return {f"relearn_{'retain_only' if not c.include_forget else f'{c.fraction:g}'}":
            float(means[label]) for label, c in configs.items()}


@register_extra("attack_calibration")
def _attack_calibration(tm: TrainedModel, original: TrainedModel, cell: Cell,
                        cache: ArtifactCache) -> dict:
    """``attack_lr_chosen``: the relearning attack's learning rate that
    :func:`illusion.attacks.calibrate_attack` chooses on this model (Retrain) and the cell's
    validation images; its curves stay in the cache for the C5 page."""
    if cell.method != "retrain":
        return {}
    table = calibrate_attack(tm, seed=cell.seed, cache=cache)
    return {"attack_lr_chosen": float(table.loc[table["chosen"], "lr"].iloc[0])}


@register_extra("audit_page")
def _audit_page(tm: TrainedModel, original: TrainedModel, cell: Cell,
                cache: ArtifactCache) -> dict:
    """``audit_seconds``: ``illusion audit`` of the cell's model against the cell's Retrain
    and original, run as a user would (:func:`illusion.audit.demo.audit_demo`)."""
    retrain = unlearn_or_load(cell.dataset, cell.profile, cell.seed, cell.forget, "retrain",
                              cache=cache, progress=False)
    result, _ = audit_demo(tm, retrain, original, cell.forget, cell.seed, cache=cache)
    return {"audit_seconds": float(json.loads(result["record"])["seconds"])}


# ------------------------------------------------------------------------------- a cell

def _method(cell: Cell):
    """The cell's configured method object (``None`` for the original)."""
    if cell.method in MODELS:
        return None
    return resolve_method(cell.method, cell.profile, cell.hparams, len(cell.forget),
                          cell.dataset)


def start_of(cell: Cell) -> str:
    """The model the cell's method starts from (a key of :data:`illusion.pipeline.STARTS`)."""
    return cell.method if cell.method in MODELS else _method(cell).start_from


def cell_spec(cell: Cell, extras: Sequence[str] = ()) -> dict:
    """Everything that decides a cell's row: the cache spec of its ``"sweep_cell"`` artifact
    (the label is not part of it; it only names the row)."""
    algo, start = _method(cell), start_of(cell)
    train = get_profile(cell.profile).train
    extras = sorted({*extras, *cell.extras})
    # a cell with the relearn extra also names its curves' record and the attacks it runs, so
    # that a sweep rebuilds curves of an older record or another attack
    relearn_record = ({"relearn_record": RELEARN_RECORD,
                       "attacks": {label: asdict(c) for label, c in
                                   default_attacks(profile=cell.profile).items()}}
                      if "relearn" in extras else {})
    return {"dataset": cell.dataset, "profile": cell.profile,
            "train": asdict(train), "seed": cell.seed,
            "forget": list(cell.forget), "method": cell.method,
            "hparams": algo.hp if algo is not None else {}, "start": start,
            "start_hparams": (hparams_for(START_HPARAMS[start], cell.profile)
                              if start in START_HPARAMS else {}),
            **start_passes_spec(start, train.bf16),
            **(passes_spec(algo, train.bf16) if algo is not None else {}),
            "extras": extras, **metrics_spec(),
            "record": EVALUATION_RECORD, **relearn_record}


def cell_model(cell: Cell, cache: ArtifactCache | None = None
               ) -> tuple[TrainedModel, TrainedModel]:
    """``(model, original)`` of a cell: trained, unlearned or loaded from the cache."""
    original = train_or_load(cell.dataset, cell.profile, cell.seed, (), cache, progress=False)
    if cell.method in MODELS:
        return STARTS[cell.method](original, cell.profile, cache, False), original
    return unlearn_or_load(cell.dataset, cell.profile, cell.seed, cell.forget, cell.method,
                           cell.hparams, cache, progress=False), original


def run_cell(cell: Cell, extras: Sequence[str] = (),
             cache: ArtifactCache | None = None) -> tuple[dict, bool]:
    """``(row, cached)``: the cell's model (trained, unlearned or loaded), its metrics and
    extras, computed once and stored in the cache: the one executor behind ``illusion
    sweep`` and the book's pages (:mod:`illusion.book`). The row holds no identity columns but
    ``method``; ``wall_seconds`` is the time it took when it was computed."""
    cache = cache or ArtifactCache()

    def build() -> dict:
        start = time.perf_counter()
        tm, original = cell_model(cell, cache)
        if STAGE_EXTRAS & {*extras, *cell.extras}:
            cached_stage_features(tm, cache)  # first: the head features are its last stage
        row = method_row(cell.label, tm, cell.forget, cell.seed, cache)
        for name in sorted({*extras, *cell.extras}):
            row.update(EXTRAS[name](tm, original, cell, cache))
        row["wall_seconds"] = time.perf_counter() - start
        return {k: v.item() if hasattr(v, "item") else v for k, v in row.items()}

    return cache.get_or_create(KIND, cell_spec(cell, extras), build)


