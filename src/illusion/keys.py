"""Everything that decides a cache key, in one module: the record versions, the pass markers
and the spec of every kind of artifact.

An artifact is stored under ``sha256(kind, spec)`` (:func:`illusion.cache.spec_key`). The spec
names exactly what decides the artifact's content, so that a change of any of it computes a
new artifact and never mixes old and new numbers. Code that builds an artifact asks this
module for its spec; nothing else writes a spec. A change here that alters an existing spec
is a change of results: ``tests/snapshots/cell_keys.json`` holds every row key of the book
grids, and ``tests/test_layout.py`` compares them.

Conventions that keep old keys valid: a marker added to a spec under some condition only is
absent otherwise (``bf16_passes`` under bfloat16, ``registered_metrics`` when a metric is
registered, ``split`` for a relearning curve off the test split).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Mapping, Sequence

from .attack_config import RelearnConfig, default_attacks
from .methods import hparams_for, resolve_method
from .methods.cmf import cmf_finetune
from .metrics import METRICS
from .profiles import get_profile

__all__ = ["EVALUATION_RECORD", "EXTRA_RECORD", "METRICS_VERSION", "MODEL_ROWS", "PROBE_VERSION",
           "RELEARN_RECORD", "ROW_KIND", "START_HPARAMS", "audit_page_spec", "cmf_original_spec",
           "row_method", "row_spec",
           "evaluation_spec", "extra_spec", "feature_spec", "metrics_spec", "model_spec",
           "passes_spec", "relearn_spec", "stage_cka_draws_spec", "stage_cka_flat_spec",
           "stage_probe_spec", "start_passes_spec", "unlearned_spec"]

# Bump when a metric's definition or solver changes: cached evaluation records carry it in
# their key, so numbers computed by an older version are recomputed, never mixed in.
# 3: profiles that train under bfloat16 autocast (cpu) also extract features under it.
# 4: [A]'s linear probe (minibatch SGD on raw features) and [A]'s NC1–NC3 (per-sample
#    L2-normalised features, Frobenius-only normalisation of the Gram matrices).
METRICS_VERSION = 4
# The linear probe's training, apart from the other metrics (so that a change of the probe
# recomputes only what reads it: evaluation records, rows and stage probes):
# 2: the learning rate decays by a cosine and the last epoch is kept (illusion.metrics,
#    "cosine-last"; issue 34), instead of [A]'s first epoch with the best held-out accuracy.
PROBE_VERSION = 2
# What an evaluation record holds, beyond its metrics' definitions (METRICS_VERSION):
# 2: each readout's predicted class of every test image (``test_predictions``).
# 3: the linear probe fitted PROBE_FITS times (illusion.evaluation): its accuracies are the
#    fits' mean, its predictions one row per fit, each fit's accuracies in ``probe_fits``.
EVALUATION_RECORD = 3
# The relearn artifact's record: 2 adds the per-image forget hits (forget_images, forget_hits)
RELEARN_RECORD = 2
# What an extra's artifact holds (illusion.rows.register_extra): 1, the first.
EXTRA_RECORD = 1
# Rows that are models rather than unlearning methods: the original (a row of every grid) and
# [A]'s CMF original (a row when listed), each evaluated with the row's forget set
MODEL_ROWS = ("original", "cmf_original")
# The kind of a grid row's artifact (illusion.rows.run_row)
ROW_KIND = "sweep_cell"
# The hparams.toml entry that decides each starting point of illusion.pipeline.STARTS
START_HPARAMS = {"cmf_original": "cmf_finetune"}


def metrics_spec() -> dict[str, Any]:
    """What the metrics add to the spec of a record that holds them: the built-in
    definitions' version, and the registered metrics' names and versions when there are any
    (absent otherwise, so that every existing key is unchanged)."""
    extra = {m.name: m.version for m in METRICS.values()}
    return {"metrics": METRICS_VERSION, "probe": PROBE_VERSION,
            **({"registered_metrics": extra} if extra else {})}


def passes_spec(method, bf16: bool) -> dict[str, Any]:
    """What a method with ``bf16_passes`` (its own, or its base's for a wrapper) adds to the
    spec of its artifacts when they run under bfloat16 (``bf16``, the profile's flag); empty
    otherwise, so that every other key is unchanged."""
    flagged = method.bf16_passes or getattr(getattr(method, "base", None), "bf16_passes", False)
    return {"bf16_passes": True} if flagged and bf16 else {}


def start_passes_spec(start: str, bf16: bool) -> dict:
    """What a start model's own method adds to the spec of a row that starts from it
    (:func:`passes_spec` of the CMF original's fine-tune under the profile's ``bf16``; empty
    for the original)."""
    if start != "cmf_original":
        return {}
    return {f"start_{k}": v for k, v in passes_spec(cmf_finetune(), bf16).items()}


# ------------------------------------------------------------------------------ models

def model_spec(dataset: str, train: Mapping[str, Any], seed: int,
               forget: Sequence[int]) -> dict:
    """A trained model: the original (``forget`` empty) or Retrain on the retained classes."""
    return {"dataset": dataset, "train": dict(train), "seed": seed, "forget": list(forget)}


def unlearned_spec(start: dict, method: str, hparams: dict, forget: Sequence[int], seed: int,
                   passes: dict, run_seed: int = 0) -> dict:
    """A model unlearned by ``method`` from the model of spec ``start``; ``run_seed`` > 0 is
    another run of the same unlearning (its own batch order, augmentation and labels), named
    only then so that run 0 keeps its old key."""
    return {"original": start, "method": method, "hparams": hparams, "forget": list(forget),
            "seed": seed, **passes, **({"run_seed": run_seed} if run_seed else {})}


def cmf_original_spec(original: dict, hparams: dict, passes: dict) -> dict:
    """[A]'s CMF original, fine-tuned from the original of spec ``original``."""
    return {"original": original, "method": "cmf_original", "hparams": hparams, **passes}


def feature_spec(model: dict, kind: str, bf16: bool) -> dict:
    """A model's features (penultimate, or per stage): float32 features keep their old key;
    bfloat16 ones are another artifact."""
    return {"model": model, "kind": kind, **({"bf16": True} if bf16 else {})}


# ------------------------------------------------------------------ what is read off models

def evaluation_spec(model: dict, kind: str, forget: Sequence[int], seed: int) -> dict:
    """A model's evaluation record (:func:`illusion.evaluation.evaluate`)."""
    return {"model": model, "kind": kind, "forget": sorted(forget), "seed": seed,
            **metrics_spec(), "record": EVALUATION_RECORD}


def relearn_spec(model: dict, kind: str, forget: Sequence[int], config: RelearnConfig,
                 seed: int, split: str = "test") -> dict:
    """One relearning curve of a model (``config.bf16`` resolved)."""
    return {"model": model, "kind": kind, "forget": list(forget), "config": asdict(config),
            "seed": seed, "record": RELEARN_RECORD,
            **({"split": split} if split != "test" else {})}


def stage_cka_draws_spec(model: dict, original: dict, forget: Sequence[int], seed: int,
                         resamples: int, stages: Sequence[str] | None) -> dict:
    return {"model": model, "original": original, "forget": sorted(forget), "seed": seed,
            "resamples": resamples, "stages": None if stages is None else list(stages),
            "metrics": METRICS_VERSION}


def stage_probe_spec(model: dict, kind: str, forget: Sequence[int], seed: int) -> dict:
    return {"model": model, "kind": kind, "forget": sorted(forget), "seed": seed,
            "metrics": METRICS_VERSION, "probe": PROBE_VERSION}


def stage_cka_flat_spec(model: dict, kind: str, original: dict, forget: Sequence[int],
                        max_images: int, seed: int, bf16: bool) -> dict:
    return {"model": model, "kind": kind, "original": original, "forget": sorted(forget),
            "images": {"max": max_images, "seed": seed}, "bf16": bf16,
            "metrics": METRICS_VERSION}


def audit_page_spec(audited: dict, retrain: dict, original: dict, forget: Sequence[int],
                    seed: int, test_per_class: int) -> dict:
    return {"audited": audited, "retrain": retrain, "original": original,
            "forget": list(forget), "seed": seed, "test_per_class": test_per_class,
            "probe": PROBE_VERSION}


# -------------------------------------------------------------------------- grid rows

def row_method(cell):
    """The row's configured method object (``None`` for a model row)."""
    if cell.method in MODEL_ROWS:
        return None
    return resolve_method(cell.method, cell.profile, cell.hparams, len(cell.forget),
                          cell.dataset)


def row_spec(cell, extras: Sequence[str] = (), keyed: Sequence[str] | None = None) -> dict:
    """Everything that decides a grid row (:class:`illusion.rows.Row`): the spec of its
    ``"sweep_cell"`` artifact. The label is not part of it; it only names the row.

    ``extras`` are the grid's extras on top of the row's own. Only the extras that put
    columns in the row (``keyed``, default: all) are named: an extra that only stores its
    own artifact (:func:`extra_spec`) does not change the row."""
    algo = row_method(cell)
    start = cell.method if algo is None else algo.start_from
    train = get_profile(cell.profile).train
    extras = sorted(e for e in {*extras, *cell.extras} if keyed is None or e in keyed)
    # a row with the relearn extra also names its curves' record and the attacks it runs, so
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
            "record": EVALUATION_RECORD, **relearn_record,
            **({"run_seed": cell.run_seed} if cell.run_seed else {})}


def extra_spec(cell, name: str, version: int, settings: Mapping[str, Any]) -> dict:
    """The artifact of extra ``name`` on one grid row: the row's model and forget set (its
    :func:`row_spec` without extras), the extra's ``version`` and its ``settings`` (what
    else decides it, e.g. the attacks a relearning extra runs)."""
    row = row_spec(cell, (), keyed=())
    row.pop("extras")
    return {"row": row, "extra": name, "version": version, "settings": dict(settings),
            "record": EXTRA_RECORD}
