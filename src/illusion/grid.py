"""Scale knobs of the claim notebooks: one comparison over several forget sets and seeds.

:func:`run_grid` repeats :func:`illusion.experiments.compare_methods` for every (seed, forget
set) of a grid; every model and evaluation goes through the artifact cache, so a cell already
computed (e.g. the notebook's main run) costs nothing. :func:`summarise` aggregates a metric as
mean ± standard deviation over the grid, per method. The default grid is the profile's
(``Profile.forget_sets`` x ``Profile.seeds``): one forget class and one seed on ``smoke`` and
``cpu``, [A]'s CIFAR-10 grid (every class alone, five multi-class groups, three seeds) on
``paper``.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import pandas as pd
from tqdm.auto import tqdm

from .cache import ArtifactCache
from .experiments import compare_methods
from .profiles import get_profile

__all__ = ["forget_label", "grid_cells", "run_grid", "summarise"]


def forget_label(forget: Sequence[int]) -> str:
    """A forget set as a short label: ``(0,)`` -> ``"0"``, ``(2, 4, 8)`` -> ``"2+4+8"``."""
    return "+".join(str(c) for c in forget)


def grid_cells(profile: str, forget_sets: Iterable[Sequence[int]] | None = None,
               seeds: Iterable[int] | None = None) -> list[tuple[int, tuple[int, ...]]]:
    """The (seed, forget set) cells of a grid; ``None`` takes the profile's default. Forget
    sets are sorted tuples; an empty set or a repeated cell raises ``ValueError``."""
    p = get_profile(profile)
    sets = [tuple(sorted(int(c) for c in f)) for f in (p.forget_sets if forget_sets is None
                                                        else forget_sets)]
    seeds = list(p.seeds if seeds is None else seeds)
    if not sets or not seeds or any(len(f) == 0 for f in sets):
        raise ValueError("a grid needs at least one seed and non-empty forget sets")
    cells = [(int(s), f) for s in seeds for f in sets]
    if len(set(cells)) != len(cells):
        raise ValueError(f"repeated (seed, forget set) cells in the grid: {cells}")
    return cells


def run_grid(methods: Iterable[str], dataset: str | None = None, profile: str = "cpu",
             forget_sets: Iterable[Sequence[int]] | None = None,
             seeds: Iterable[int] | None = None, progress: bool = True,
             cache: ArtifactCache | None = None) -> pd.DataFrame:
    """:func:`compare_methods` for every cell of the grid, stacked: one row per (seed, forget
    set, model) with the columns ``seed``, ``forget`` (label), ``n_forget`` added. A method
    entry is a name or ``(label, method, hparams)`` (see :func:`compare_methods`)."""
    methods = list(methods)
    cells = grid_cells(profile, forget_sets, seeds)
    tables = []
    for seed, forget in tqdm(cells, desc="grid", disable=not progress or len(cells) == 1):
        t = compare_methods(methods, dataset, profile, seed, forget, progress=False, cache=cache)
        tables.append(t.assign(seed=seed, forget=forget_label(forget), n_forget=len(forget)))
    return pd.concat(tables, ignore_index=True)


def summarise(table: pd.DataFrame, columns: Sequence[str], by: str = "method") -> pd.DataFrame:
    """Mean, standard deviation (NaN for a single run) and run count of each column per
    ``by`` value, in order of first appearance: columns ``<col>_mean``, ``<col>_std``, ``n``."""
    groups = table.groupby(by, sort=False)
    out = pd.concat({f"{c}_{stat}": getattr(groups[c], stat)() for c in columns
                     for stat in ("mean", "std")}, axis=1)
    out["n"] = groups.size()
    return out
