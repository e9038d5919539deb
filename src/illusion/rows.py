"""A grid row on its own: what it is, what decides it, its extras, and the one executor.

A :class:`Row` is one row of a grid: a method (or ``"original"``) of a (dataset, profile,
seed) evaluated with a forget set. :func:`run_row` computes its row (the model trained,
unlearned or loaded, every metric of :func:`illusion.records.method_row`, and the
requested extras) once, as an artifact of kind ``"sweep_cell"`` keyed by :func:`row_spec`:
it is the one executor behind ``illusion sweep`` (:mod:`illusion.gridfile` reads grid files,
:mod:`illusion.sweep` adds Ray) and behind the book (:mod:`illusion.book`), whose pages only
read what it stored (:func:`read_row`, :func:`read_extra`).

An **extra** is a named artifact of one row, computed from the row's model (and its cell's
original): per-stage CKA, relearning curves, the analytic head flip, a sample of features...
:func:`register_extra` adds one. Each extra stores its own artifact (kind ``"extra"``, keyed
by :func:`illusion.keys.extra_spec`): that artifact is what a page reads, by name, and a
page never recomputes it. An extra may also put scalar columns in the row (``columns``);
then it is named in the row's key. Ray workers import this module through the sweep's tasks.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import pandas as pd
import torch

from .attack_config import CALIBRATION_LRS, DOSE_LRS, default_attacks
from .attacks import (calibrate_attack, dose_curves, dose_response, relearn, relearn_scores,
                      relearn_summary)
from .audit.demo import audit_demo
from .cache import ArtifactCache
from .catalog import ForgetSet
from .evaluation import output_accuracy
from .depth import (FLAT_CKA_IMAGES, feature_drift, stage_cka_draws, stage_cka_flat,
                    stage_probes, stage_similarity)
from .records import evaluation_record, flip_curve, method_row
from .features import extract_features
from .keys import MODEL_ROWS, RELEARN_RECORD, ROW_KIND
from .keys import row_spec as _row_spec
from .keys import extra_spec, row_method
from .pipeline import (STARTS, TrainedModel, cached_features, cached_stage_features,
                       train_or_load, unlearn_or_load)
from .stats import IMAGE_SEED

__all__ = ["EXTRAS", "EXTRA_KIND", "FLIP_RATIOS", "KIND", "MODELS", "SAMPLE_IMAGES",
           "STAGE_EXTRAS", "AUDIT_TEST_PER_CLASS", "Row", "Extra", "Grid", "row_model",
           "row_spec", "extra_artifact_spec", "frame", "is_built", "read_row",
           "read_extra", "records", "register_extra", "run_row", "start_of", "summarise"]

KIND = ROW_KIND
EXTRA_KIND = "extra"
MODELS = MODEL_ROWS
# extras that read per-stage (pooled) features
STAGE_EXTRAS = {"stage_cka", "stage_cka_draws", "stage_probes"}
# claim C4's analytic flip: c as multiples of the bound (K-1)·alpha
FLIP_RATIOS = (0.1, 0.25, 0.5, 0.75, 0.9, 1.1, 1.5, 2.0, 4.0)
SAMPLE_IMAGES = 2000  # the first test images whose features the PCA figures show
AUDIT_TEST_PER_CLASS = 100  # test images per class the audit page's ImageFolder holds


def summarise(table: pd.DataFrame, columns: Sequence[str], by: str | list[str] = "method"
              ) -> pd.DataFrame:
    """Mean, standard deviation (NaN for a single run) and run count of each column per
    ``by`` value, in order of first appearance: columns ``<col>_mean``, ``<col>_std``, ``n``."""
    groups = table.groupby(by, sort=False)
    return pd.concat({**{f"{c}_{stat}": getattr(groups[c], stat)() for c in columns
                         for stat in ("mean", "std")}, "n": groups.size()}, axis=1)


@dataclass(frozen=True)
class Row:
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
    run_seed: int = 0  # > 0: another run of the same unlearning (illusion.pipeline)

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
        run = f" run={self.run_seed}" if self.run_seed else ""
        return (f"dataset={self.dataset} profile={self.profile} seed={self.seed} "
                f"forget={ForgetSet(self.forget)} method={self.label} ({self.method}){hp}{run}")


@dataclass(frozen=True)
class Grid:
    """A named set of rows to compute (a grid file, ``book:<profile>``), with the extras of
    every row."""

    name: str
    rows: tuple[Row, ...]
    extras: tuple[str, ...] = ()


# ------------------------------------------------------------------------------- extras

@dataclass(frozen=True)
class Extra:
    """A named artifact of one row: ``build(tm, original, cell, cache) -> payload`` (a dict of
    tensors, lists, numbers and strings, what ``torch.load(weights_only=True)`` reads back);
    ``columns(payload) -> {column: scalar}`` when it also puts columns in the row;
    ``settings(cell)``: what else decides it (part of its key); bump ``version`` when what
    it computes changes. ``in_row_key``: the row's key names it (every extra with columns)."""

    name: str
    build: Callable[[TrainedModel, TrainedModel, "Row", ArtifactCache], dict]
    columns: Callable[[dict], dict] | None = None
    settings: Callable[["Row"], dict] = lambda cell: {}
    version: int = 1
    in_row_key: bool = True


EXTRAS: dict[str, Extra] = {}


def register_extra(name: str, columns: Callable[[dict], dict] | None = None,
                   settings: Callable[[Row], dict] | None = None, version: int = 1,
                   in_row_key: bool | None = None):
    """Decorator adding ``build(tm, original, cell, cache) -> payload`` to :data:`EXTRAS`
    (:class:`Extra`; ``in_row_key`` defaults to whether it has ``columns``)."""
    def wrap(fn):
        if name in EXTRAS:
            raise ValueError(f"extra {name!r} is already registered")
        EXTRAS[name] = Extra(name, fn, columns, settings or (lambda cell: {}), version,
                             columns is not None if in_row_key is None else in_row_key)
        return fn
    return wrap


def records(table: pd.DataFrame) -> list[dict]:
    """A frame as a payload can hold it (:func:`frame` reads it back)."""
    return [{k: v.item() if hasattr(v, "item") else v for k, v in row.items()}
            for row in table.to_dict("records")]


def frame(rows: list[dict]) -> pd.DataFrame:
    """The frame of :func:`records`."""
    return pd.DataFrame(rows)


def _retrain_of(cell: Row, cache: ArtifactCache) -> TrainedModel:
    """The cell's Retrain (trained once, whichever row asks first: the cache's lock)."""
    return unlearn_or_load(cell.dataset, cell.profile, cell.seed, cell.forget, "retrain",
                           cache=cache, progress=False)


@register_extra("feature_drift", columns=dict)
def _feature_drift(tm, original, cell, cache) -> dict:
    """``cka_test``, ``cka_test_forget``, ``forget_mean_shift`` against the original."""
    return feature_drift(cached_features(original, cache), cached_features(tm, cache),
                         cell.forget)


@register_extra("predictions", in_row_key=False)
def _predictions(tm, original, cell, cache) -> dict:
    """Each readout's predicted class of every test image (the evaluation record's
    ``test_predictions``) and the test labels: what a page's readout gaps resample."""
    record = evaluation_record(tm, cell.forget, cell.seed, cache)
    return {"test_predictions": record["test_predictions"],
            "test_y": tm.data.y_test.to(torch.int16)}


def _stage_cka_columns(payload: dict) -> dict:
    return {f"stage_cka_{r['split']}_{r['stage']}": r["cka"] for r in payload["table"]
            if r["reference"] == "original"}


@register_extra("stage_cka", columns=_stage_cka_columns)
def _stage_cka(tm, original, cell, cache) -> dict:
    """Linear CKA per stage to the original and to the cell's Retrain, on the test images of
    the forget (``forget``) and retained (``retain``) classes (:func:`stage_similarity`);
    columns ``stage_cka_<split>_<stage>`` (to the original)."""
    refs = {"original": original, "retrain": _retrain_of(cell, cache)}
    return {"table": records(stage_similarity({cell.label: tm}, refs, cell.forget, cache))}


# no columns, yet named in the row key: it was before extras had artifacts of their own, and
# the book's keys stay identical
@register_extra("stage_cka_draws", in_row_key=True)
def _stage_cka_draws(tm, original, cell, cache) -> dict:
    """``{stage: draws}``: the bootstrap draws of the model's per-stage CKA to the original
    (:func:`illusion.depth.stage_cka_draws`, resampled with
    :data:`illusion.stats.IMAGE_SEED`) that claim C7's intervals read."""
    draws = stage_cka_draws(original, {cell.label: tm}, cell.forget, seed=IMAGE_SEED,
                            cache=cache)[cell.label]
    return {stage: torch.from_numpy(d) for stage, d in draws.items()}


def _flat_columns(payload: dict) -> dict:
    return {f"stage_cka_flat_forget_{stage}": v for stage, v in payload["cka"].items()}


@register_extra("stage_cka_flat", columns=_flat_columns,
                settings=lambda cell: {"images": FLAT_CKA_IMAGES})
def _stage_cka_flat(tm, original, cell, cache) -> dict:
    """Linear CKA to the original per stage on the flattened stage maps of the forget
    classes' test images (``stage_cka``'s variant): ``cka`` per stage and ``images``."""
    table = stage_cka_flat(original, {cell.label: tm}, cell.forget, cache=cache)
    return {"cka": dict(zip(table["stage"], table["cka"].astype(float))),
            "images": int(table["images"].iloc[0])}


def _probe_columns(payload: dict) -> dict:
    return {f"stage_probe_{split}_{r['stage']}": r[f"probe_test_{split}"]
            for r in payload["table"] for split in ("forget", "retain")}


@register_extra("stage_probes", columns=_probe_columns)
def _stage_probes(tm, original, cell, cache) -> dict:
    """[A]'s linear probe on every stage's pooled features: columns
    ``stage_probe_<split>_<stage>``."""
    return {"table": records(stage_probes({cell.label: tm}, cell.forget, cell.seed, cache))}


def _attacks_of(cell: Row) -> dict:
    return {"relearn_record": RELEARN_RECORD,
            "attacks": {label: asdict(c) for label, c in
                        default_attacks(profile=cell.profile).items()}}


def _relearn_columns(payload: dict) -> dict:
    if not payload:
        return {}
    configs = payload["configs"]
    curves = pd.concat([frame(rows).assign(method="m", attack=label)
                        for label, rows in payload["curves"].items()], ignore_index=True)
    means = relearn_summary(curves).set_index("attack")["mean"]

    def column(label: str) -> str:
        config = configs[label]
        return ("relearn_retain_only" if not config["include_forget"]
                else f"relearn_{config['fraction']:g}")

    return {column(label): float(means[label]) for label in payload["curves"]}


@register_extra("relearn", columns=_relearn_columns, settings=_attacks_of)
def _relearn(tm, original, cell, cache) -> dict:
    """The relearning curve of each default attack of the row's profile
    (:func:`illusion.attack_config.default_attacks`) and each forget image's score
    (:func:`illusion.attacks.relearn_scores`); columns ``relearn_<attack>``, the mean forget
    accuracy over the attack's steps. None for a model row, which forgot nothing."""
    if cell.method in MODELS:
        return {}
    configs = default_attacks(profile=cell.profile)
    curves, scores = {}, {}
    for label, config in configs.items():
        curves[label] = records(relearn(tm, config, cell.seed, cache))
        images, score = relearn_scores(tm, config, cell.seed, cache)
        scores[label] = {"images": torch.from_numpy(images), "scores": torch.from_numpy(score)}
    return {"curves": curves, "scores": scores,
            "configs": {label: asdict(c) for label, c in configs.items()}}


def _calibration_columns(payload: dict) -> dict:
    if not payload:
        return {}
    table = frame(payload["table"])
    return {"attack_lr_chosen": float(table.loc[table["chosen"], "lr"].iloc[0])}


@register_extra("attack_calibration", columns=_calibration_columns,
                settings=lambda cell: {"lrs": list(CALIBRATION_LRS),
                                       "relearn_record": RELEARN_RECORD})
def _attack_calibration(tm, original, cell, cache) -> dict:
    """Retrain's attack calibration on the cell's validation images
    (:func:`illusion.attacks.calibrate_attack`): its table; column ``attack_lr_chosen``.
    Empty for any other row."""
    if cell.method != "retrain":
        return {}
    return {"table": records(calibrate_attack(tm, seed=cell.seed, cache=cache))}


def _dose_settings(cell: Row) -> dict:
    base = list(default_attacks(retain_only_control=False).values())[-1]
    return {"lrs": list(DOSE_LRS), "relearn_record": RELEARN_RECORD, "attack": asdict(base),
            "level": 50.0, "retain_tol": 5.0}


@register_extra("relearn_dose", settings=_dose_settings)
def _relearn_dose(tm, original, cell, cache) -> dict:
    """Claim C5's dose-response on the row's validation split
    (:func:`illusion.attacks.dose_response` at every rate of
    :data:`illusion.attack_config.DOSE_LRS`): its table and the curves behind it (the same
    cached curves). Empty for a model row."""
    if cell.method in MODELS:
        return {}
    return {"table": records(dose_response(tm, seed=cell.seed, cache=cache)),
            "curves": records(dose_curves(tm, seed=cell.seed, cache=cache))}


@register_extra("audit_page", columns=lambda p: {
    "audit_seconds": float(json.loads(p["record"])["seconds"])},
    settings=lambda cell: {"test_per_class": AUDIT_TEST_PER_CLASS})
def _audit_page(tm, original, cell, cache) -> dict:
    """``illusion audit`` of the row's model against the cell's Retrain and original, run as
    a user would (:func:`illusion.audit.demo.audit_demo`): the command's JSON record and the
    size of its report; column ``audit_seconds``."""
    result, _ = audit_demo(tm, _retrain_of(cell, cache), original, cell.forget, cell.seed,
                           AUDIT_TEST_PER_CLASS, cache=cache)
    return dict(result)


@register_extra("training", in_row_key=False)
def _training(tm, original, cell, cache) -> dict:
    """The model's training record: its per-epoch ``history``, ``seconds``, the number of
    training / validation / test ``images``, and its output ``accuracy`` with every class
    counted as retained (from the cached features: evaluation mode, the profile's
    precision)."""
    return {"history": list(tm.history), "seconds": float(tm.seconds),
            "images": {"train": len(tm.splits.train), "val": len(tm.splits.val),
                       "test": len(tm.data.y_test)},
            "accuracy": output_accuracy(cached_features(tm, cache), ())}


@register_extra("flip_curve", in_row_key=False,
                settings=lambda cell: {"ratios": list(FLIP_RATIOS)})
def _flip_curve(tm, original, cell, cache) -> dict:
    """Claim C4's analytic flip of the model's head for each ``c / bound`` of
    :data:`FLIP_RATIOS` (:func:`illusion.records.flip_curve`)."""
    return {"table": records(flip_curve(tm, cell.forget, FLIP_RATIOS, cache))}


@register_extra("feature_sample", in_row_key=False,
                settings=lambda cell: {"images": SAMPLE_IMAGES})
def _feature_sample(tm, original, cell, cache) -> dict:
    """Penultimate features of the first :data:`SAMPLE_IMAGES` test images and their labels
    (float32, as :func:`illusion.features.extract_features` gives them): a page's PCA."""
    x, y = tm.data.x_test[:SAMPLE_IMAGES], tm.data.y_test[:SAMPLE_IMAGES]
    return {"features": extract_features(tm.model, tm.data, x), "labels": y}


# ------------------------------------------------------------------------------- a cell

def start_of(cell: Row) -> str:
    """The model the cell's method starts from (a key of :data:`illusion.pipeline.STARTS`)."""
    return cell.method if cell.method in MODELS else row_method(cell).start_from


def _extras_of(cell: Row, extras: Sequence[str]) -> list[str]:
    names = sorted({*extras, *cell.extras})
    unknown = [n for n in names if n not in EXTRAS]
    if unknown:
        raise ValueError(f"unknown extra(s) {unknown}; registered: {', '.join(EXTRAS)}")
    return names


def row_spec(cell: Row, extras: Sequence[str] = ()) -> dict:
    """Everything that decides a cell's row: the cache spec of its ``"sweep_cell"`` artifact
    (:func:`illusion.keys.row_spec`, naming the extras with columns)."""
    return _row_spec(cell, extras, keyed=[n for n, e in EXTRAS.items() if e.in_row_key])


def extra_artifact_spec(cell: Row, name: str) -> dict:
    """The spec of extra ``name``'s artifact on ``cell`` (:func:`illusion.keys.extra_spec`)."""
    e = EXTRAS[name]
    return extra_spec(cell, name, e.version, e.settings(cell))


def row_model(cell: Row, cache: ArtifactCache | None = None
               ) -> tuple[TrainedModel, TrainedModel]:
    """``(model, original)`` of a cell: trained, unlearned or loaded from the cache."""
    original = train_or_load(cell.dataset, cell.profile, cell.seed, (), cache, progress=False)
    if cell.method in MODELS:
        return STARTS[cell.method](original, cell.profile, cache, False), original
    return unlearn_or_load(cell.dataset, cell.profile, cell.seed, cell.forget, cell.method,
                           cell.hparams, cache, progress=False,
                           run_seed=cell.run_seed), original


def _payload(name: str, tm: TrainedModel, original: TrainedModel, cell: Row,
             cache: ArtifactCache) -> dict:
    payload, _ = cache.get_or_create(EXTRA_KIND, extra_artifact_spec(cell, name),
                                     lambda: EXTRAS[name].build(tm, original, cell, cache))
    return payload


def is_built(cell: Row, extras: Sequence[str] = (),
             cache: ArtifactCache | None = None) -> bool:
    """Whether the cell's row and every extra's artifact are stored."""
    cache = cache or ArtifactCache()
    return cache.has(KIND, row_spec(cell, extras)) and all(
        cache.has(EXTRA_KIND, extra_artifact_spec(cell, n)) for n in _extras_of(cell, extras))


def run_row(cell: Row, extras: Sequence[str] = (),
             cache: ArtifactCache | None = None) -> tuple[dict, bool]:
    """``(row, cached)``: the cell's model (trained, unlearned or loaded), its metrics and
    its extras' artifacts and columns, computed once and stored in the cache: the one
    executor behind ``illusion sweep`` and the book (:mod:`illusion.book`). The row holds no
    identity columns but ``method``; ``wall_seconds`` is the time it took when it was
    computed. A row stored before one of its extras' artifacts existed gets them now."""
    cache = cache or ArtifactCache()
    names = _extras_of(cell, extras)
    loaded: list = []

    def models() -> tuple[TrainedModel, TrainedModel]:
        if not loaded:
            loaded.extend(row_model(cell, cache))
        return loaded[0], loaded[1]

    def build() -> dict:
        start = time.perf_counter()
        tm, original = models()
        if STAGE_EXTRAS & set(names):
            cached_stage_features(tm, cache)  # first: the head features are its last stage
        row = method_row(cell.label, tm, cell.forget, cell.seed, cache)
        for name in names:
            payload = _payload(name, tm, original, cell, cache)
            if EXTRAS[name].columns is not None:
                row.update(EXTRAS[name].columns(payload))
        row["wall_seconds"] = time.perf_counter() - start
        return {k: v.item() if hasattr(v, "item") else v for k, v in row.items()}

    row, cached = cache.get_or_create(KIND, row_spec(cell, extras), build)
    missing = [n for n in names if not cache.has(EXTRA_KIND, extra_artifact_spec(cell, n))]
    for name in missing:
        _payload(name, *models(), cell, cache)
    return row, cached and not missing


def read_row(cell: Row, extras: Sequence[str] = (),
              cache: ArtifactCache | None = None) -> dict:
    """The cell's stored row; never builds (:class:`illusion.cache.NotBuilt`)."""
    return (cache or ArtifactCache()).read(KIND, row_spec(cell, extras), _what(cell, "row"))


def read_extra(cell: Row, name: str, cache: ArtifactCache | None = None) -> dict:
    """The stored artifact of extra ``name`` on the cell; never builds
    (:class:`illusion.cache.NotBuilt`)."""
    if name not in EXTRAS:
        raise KeyError(f"unknown extra {name!r}; registered: {', '.join(EXTRAS)}")
    return (cache or ArtifactCache()).read(EXTRA_KIND, extra_artifact_spec(cell, name),
                                           _what(cell, f"extra {name!r} of"))


def _what(cell: Row, part: str) -> str:
    return (f"{part} {cell.label!r} (profile {cell.profile}, seed {cell.seed}, forget set "
            f"{list(cell.forget)})")
