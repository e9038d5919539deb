"""Grid files: which cells an ``illusion sweep`` runs, read and checked before anything runs.

A grid file (``grids/*.yaml``, run with ``illusion sweep GRID.yaml``)::

    name: smoke                  # results: <ILLUSION_CACHE>/sweeps/<name>.csv (default: file stem)
    profile: smoke               # a profile name or a list of them (smoke, cpu, paper)
    dataset: cifar100            # optional, a name or a list; default: each profile's dataset
    seeds: [0, 1, 2]             # optional; default: the profile's (Profile.grid: with
    forget_sets: [[0], [2, 4, 8]]  # neither key, its own cells), lists of class indices
    methods:                     # registered names (`illusion methods`) or mappings
      - retrain
      - scrub+cmf
      - last_layer:random_label
      - {method: ec, label: ec_ramp, hparams: {epochs: 5}}   # overrides of hparams.toml
      - {method: scrub, extras: [relearn]}   # extras of this entry's cells only
    extras: [feature_drift]      # optional: names in EXTRAS, extra columns of every row

Cells: one per (dataset, profile, seed, forget set, method entry), plus an ``original`` cell per
(dataset, profile, seed, forget set) — the original model evaluated with that forget set. The
row each cell gives is described in :mod:`illusion.sweep`; extras are
:data:`illusion.rows.EXTRAS`.

Everything is checked here, before anything runs: :func:`parse_grid` raises ``ValueError``
with one line (an unknown method, profile, dataset, extra or hyperparameter, a forget class
out of range, a duplicate cell). ``book:<profile>`` names the book's own grid
(:func:`resolve_grid`). Nothing here imports Ray.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import yaml

from . import data as idata
from .book import book_grid
from .catalog import ForgetSet
from .rows import EXTRAS, Row, Grid
from .methods import available, create_method
from .profiles import PROFILES, get_profile

__all__ = ["load_grid", "parse_grid", "resolve_grid"]

GRID_KEYS = ("name", "profile", "dataset", "seeds", "forget_sets", "methods", "extras")
ENTRY_KEYS = ("method", "label", "hparams", "extras")


def resolve_grid(name: str) -> Grid:
    """A grid file, or ``book:PROFILE``: every cell the book's pages declare
    (:func:`illusion.book.book_grid`)."""
    if name.startswith("book:"):
        profile = name.split(":", 1)[1]
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r} in {name!r}; choose from "
                             f"{', '.join(PROFILES)}")
        return book_grid(profile)
    return load_grid(name)


def load_grid(path: str | Path) -> Grid:
    """Read and check a grid YAML (its ``name`` defaults to the file's stem)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ValueError(f"cannot read grid {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {' '.join(str(exc).split())}") from None
    return parse_grid(raw, default_name=path.stem)


def parse_grid(raw: Any, default_name: str | None = None) -> Grid:
    """The cells of a grid mapping (the YAML format above); ``ValueError`` on any mistake."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"a grid is a mapping with the keys {', '.join(GRID_KEYS)}")
    unknown = sorted(set(raw) - set(GRID_KEYS))
    if unknown:
        raise ValueError(f"unknown grid key(s) {unknown}; valid: {', '.join(GRID_KEYS)}")
    name = raw.get("name", default_name)
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"the grid needs a `name` usable as a file name, got {name!r}")
    profiles = _names(raw.get("profile"), "profile")
    for profile in profiles:
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    entries = [_entry(item) for item in _list(raw.get("methods"), "methods")]
    extras = _extras(raw.get("extras", []), "extras")
    cells = [cell for profile in profiles for cell in _profile_cells(raw, profile, entries)]
    return Grid(name, tuple(cells), extras)


def _profile_cells(raw: Mapping, profile: str, entries: list[tuple]) -> list[Row]:
    p = get_profile(profile)
    datasets = _names(raw["dataset"], "dataset") if "dataset" in raw else [p.dataset]
    seeds = _list(raw["seeds"], "seeds") if "seeds" in raw else None
    if seeds is not None and not all(isinstance(s, int) and not isinstance(s, bool)
                                     and 0 <= s < 2**63 for s in seeds):
        raise ValueError(f"seeds must be integers in 0..2**63-1, got {seeds}")
    cells = []
    for dataset in datasets:
        k = _num_classes(dataset)
        sets = ([_forget_set(f, k, dataset) for f in _list(raw["forget_sets"], "forget_sets")]
                if "forget_sets" in raw else None)
        for axis, values in (("seed", seeds), ("forget", sets)):
            twice = [v for i, v in enumerate(values or ()) if v in values[:i]]
            if twice:
                shown = ForgetSet(twice[0]) if axis == "forget" else twice[0]
                raise ValueError(f"duplicate cell in the grid: {axis}={shown} is listed twice")
        # the profile's cells where the file leaves an axis out (Profile.grid)
        pairs = [(seed, _forget_set(list(f), k, dataset)) for seed, f in p.grid(seeds, sets)]
        for seed, forget in pairs:
            cells.append(Row(dataset, profile, seed, forget, "original", "original"))
            cells += [Row(dataset, profile, seed, forget, *e) for e in entries]
    seen = set()
    for cell in cells:
        if cell.key in seen:
            raise ValueError(f"duplicate cell in the grid: {cell.describe()}")
        seen.add(cell.key)
    return cells


def _entry(item: Any) -> tuple[str, str, dict, tuple[str, ...]]:
    """A ``methods`` item -> (method, label, hparams overrides, extras), checked."""
    if isinstance(item, Mapping):
        unknown = sorted(set(item) - set(ENTRY_KEYS))
        if unknown:
            raise ValueError(f"unknown key(s) {unknown} in method entry {dict(item)}; "
                             f"valid: {', '.join(ENTRY_KEYS)}")
        method, label, hp = item.get("method"), item.get("label"), item.get("hparams") or {}
        extras = item.get("extras", [])
    else:
        method, label, hp, extras = item, None, {}, []
    if not isinstance(method, str):
        raise ValueError(f"a method entry is a name or {{method, label, hparams, extras}}, "
                         f"got {item!r}")
    if method == "original":
        raise ValueError("'original' is a row of every grid already; do not list it")
    if method == "cmf_original" and (hp or label not in (None, method)):
        raise ValueError("'cmf_original' takes no label or hparams (hparams.toml's "
                         "cmf_finetune entry decides it)")
    if method == "cmf_original":
        return method, method, {}, _extras(extras, "method entry 'cmf_original'")
    if method not in available():
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(available())}")
    label = method if label is None else label
    if not isinstance(label, str) or not label or label == "original":
        raise ValueError(f"method entry {item!r}: `label` must be a non-empty name")
    if not isinstance(hp, Mapping) or not all(isinstance(k, str) for k in hp):
        raise ValueError(f"method entry {label!r}: `hparams` must be a mapping, got {hp!r}")
    try:
        create_method(method, **hp)  # unknown hyperparameters raise here, before any work
    except (TypeError, ValueError) as exc:
        raise ValueError(f"method entry {label!r}: {exc}") from None
    return method, label, dict(hp), _extras(extras, f"method entry {label!r}")


def _extras(value: Any, where: str) -> tuple[str, ...]:
    extras = tuple(_names(value, where, empty=True))
    for extra in extras:
        if extra not in EXTRAS:
            raise ValueError(f"unknown extra {extra!r} in {where}; choose from "
                             f"{', '.join(EXTRAS)}")
    return extras


def _forget_set(value: Any, num_classes: int | None, dataset: str) -> tuple[int, ...]:
    try:
        return ForgetSet.parse(value, num_classes, dataset).classes
    except ValueError as exc:
        raise ValueError(f"{exc} in `forget_sets`") from None


def _num_classes(dataset: str) -> int | None:
    if dataset.startswith("imagefolder:"):
        train = Path(dataset.split(":", 1)[1]) / "train"
        if not train.is_dir():
            raise ValueError(f"imagefolder: {train} is missing (expected PATH/train/<class>/)")
        return sum(p.is_dir() for p in train.iterdir())
    if dataset.startswith("synthetic:") and idata.known_num_classes(dataset):
        return idata.known_num_classes(dataset)  # a dry run's (illusion.dryrun)
    if dataset not in idata.available():
        raise ValueError(f"unknown dataset {dataset!r}; choose from "
                         f"{', '.join(idata.available())}")
    return idata.known_num_classes(dataset)


def _list(value: Any, key: str, empty: bool = False) -> list:
    if not isinstance(value, list) or (not value and not empty):
        raise ValueError(f"`{key}` must be a non-empty list, got {value!r}")
    return value


def _names(value: Any, key: str, empty: bool = False) -> list[str]:
    """A name or a list of names."""
    names = [value] if isinstance(value, str) else _list(value, key, empty)
    if not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"`{key}` must be a name or a list of names, got {value!r}")
    return names
