"""The book's experiment table: every model and extra each claim page reads, declared once.

``ENTRIES`` is the table's rows: a label and the method (with overrides) that computes it,
in the order of the sweep's CSV. ``PAGES`` says, per page, which labels it reads and which
extras (:data:`illusion.cells.EXTRAS`) it needs of each. :func:`book_grid` is their union for
one profile: ``make book`` sweeps it (``illusion sweep book:cpu``) before the notebooks run,
so that the notebooks only read. A notebook reads through :func:`page`, which refuses a label
or an extra its page does not declare, and never builds: a read the sweep did not compute
raises :class:`illusion.cache.NotBuilt`, naming the command that builds it.

Every row and every extra's artifact is computed by :func:`illusion.cells.run_cell` (the one
executor, also behind ``illusion sweep`` on Ray); a page reads them back
(:func:`illusion.cells.read_cell`, :func:`illusion.cells.read_extra`) and computes only
cheap pure functions of them (bootstraps over images and cells, means, re-judging).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .cache import ArtifactCache, NotBuilt
from .catalog import BASELINES, CMF_BASES, ForgetSet, cell_label
from .cells import Cell, Grid, frame, read_cell, read_extra, summarise
from .claims import across_cells
from .attacks import relearn_summary
from .experiments import GAP_COLUMNS, gap_columns, gap_means, readout_gaps, relearn_leads
from .methods import hparams_for
from .profiles import get_profile

__all__ = ["ACCURACY_COLUMNS", "BOOK_EXTRAS", "ENTRIES", "PAGES", "Entry", "Page",
           "PageReader", "UndeclaredRead", "ablation_table", "book_grid", "calibration_table",
           "change_from", "depth_inputs", "depth_tables", "forget_cka", "grid_cells", "judge",
           "judge_cells", "means", "page", "relearn_tables"]

# extras of every row the book reads: the feature drift's columns, and the test predictions
# the readout gaps resample
BOOK_EXTRAS = ("feature_drift", "predictions")


class UndeclaredRead(KeyError):
    """A page asked for a label its declaration does not list."""

    def __str__(self) -> str:
        return str(self.args[0])


def _lrs(hparams: Mapping[str, Any]) -> dict:
    """The learning rates (``lr`` and every ``*_lr``) of a set of hyperparameters."""
    return {k: v for k, v in hparams.items() if k == "lr" or k.endswith("_lr")}


def paper_lrs(method: str, profile: str, n_forget: int, dataset: str | None) -> dict:
    """[A]'s learning rates (every ``lr`` / ``*_lr`` of the ``paper`` profile's entry) for a
    forget set of ``n_forget`` classes: the ``@A`` rows of claims C6 and C4."""
    return _lrs(hparams_for(method, "paper", n_forget))


def cmf_lrs(method: str, profile: str, n_forget: int, dataset: str | None) -> dict:
    """The learning rates of ``method``'s +CMF variant on ``profile``: the ``@cmf-lr`` rows,
    C6's same-step-size control of the tuned +CMF ablation."""
    return _lrs(hparams_for(f"{method}+cmf", profile, n_forget, dataset))


@dataclass(frozen=True)
class Entry:
    """One row label of the table: ``method`` with ``hparams`` overriding the profile's, or a
    function of (method, profile, forget-set size, dataset) giving them."""

    method: str
    hparams: Mapping[str, Any] | Callable[[str, str, int, str | None], dict] = \
        field(default_factory=dict)

    def overrides(self, profile: str, n_forget: int, dataset: str | None) -> dict:
        hp = self.hparams
        return dict(hp(self.method, profile, n_forget, dataset) if callable(hp) else hp)


def _plain(*names: str) -> dict[str, Entry]:
    return {n: Entry(n) for n in names}


ENTRIES: dict[str, Entry] = {
    **_plain("original", "retrain", *BASELINES),
    **_plain("prune_row", "nc_flip", "last_layer:random_label", "last_layer:neggrad_plus"),
    **_plain(*(f"{m}+cmf" for m in CMF_BASES)),
    **{f"{m}+cmf@A": Entry(f"{m}+cmf", paper_lrs) for m in CMF_BASES},
    # each base method at its +CMF variant's tuned learning rates: C6's ablation control
    **{f"{m}@cmf-lr": Entry(m, cmf_lrs) for m in CMF_BASES},
    # [A]'s classifier-only UNSIR: its scripts' "for classifier only" learning rates, the head
    # zeroed first (--zero_last_layer), for claim C4
    "last_layer:unsir@A": Entry("last_layer:unsir", lambda *a: {**paper_lrs(*a),
                                                                 "zero_head": True}),
    **_plain("ec", "random_label+ec"),
    "ec_ramp": Entry("ec", {"layer_weights": [0.25, 0.5, 0.75, 1.0]}),
    "ec_output_only": Entry("ec", {"layer_weights": [0.0, 0.0, 0.0, 1.0]}),
    "cmf_original": Entry("cmf_original"),
}


@dataclass(frozen=True)
class Page:
    """A notebook's reads: label -> the extras it needs of that row (on top of
    :data:`BOOK_EXTRAS`). Every page reads ``original``.

    ``first_only``: labels the page reads in the grid's first cell only (the cell it shows in
    detail), because no verdict of the page reads them in the others; ``True`` for every label
    (a page that is not a claim). ``first_extras``: label -> extras the page reads in the
    first cell only (a figure of the cell shown in detail). The later cells compute only what
    some page reads there."""

    notebook: str
    reads: Mapping[str, tuple[str, ...]]
    first_only: tuple[str, ...] | bool = ()
    first_extras: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        return ["original", *(label for label in {**self.reads, **self.first_extras}
                              if label != "original")]

    def extras(self, label: str, first: bool) -> tuple[str, ...]:
        """The extras the page reads of ``label`` in the grid's first cell or a later one."""
        return (*self.reads.get(label, ()), *(self.first_extras.get(label, ()) if first else ()))

    def in_later_cells(self, label: str) -> bool:
        """Whether the page reads ``label`` beyond the grid's first cell."""
        return (label in self.labels and self.first_only is not True
                and label not in (self.first_only or ()))


def _reads(labels: Iterable[str], extras: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    return {label: extras for label in labels}


_DEPTH = ("stage_cka", "stage_cka_draws", "stage_probes")
PAGES: dict[str, Page] = {
    # each seed's training record
    "C0": Page("01_original_model", {"original": ("training",)}),
    "C1": Page("02_output_level", _reads(("retrain", *BASELINES))),
    # the feature PCA of the cell shown in detail: the original, Retrain and every baseline
    # (the page's parameter picks one)
    "C2": Page("03_probe_recovery", _reads(("retrain", *BASELINES)),
               first_extras=_reads(("original", "retrain", *BASELINES), ("feature_sample",))),
    "C3": Page("04_misalignment", _reads(("retrain", *BASELINES))),
    # the analytic flip of the original's head in every cell
    "C4": Page("05_classifier_only", {"original": ("flip_curve",),
                                      **_reads(("retrain", "prune_row", "nc_flip",
                                                "last_layer:random_label",
                                                "last_layer:neggrad_plus",
                                                "last_layer:unsir@A"))}),
    # every one of [A]'s baselines is attacked; Retrain also calibrates the attack
    "C5": Page("06_relearning", {"retrain": ("relearn", "attack_calibration"),
                                 **_reads((*BASELINES, "ec", "random_label+cmf"), ("relearn",))}),
    # the claim's verdict reads [A]'s learning rates (@A) in every cell; the profile's tuned
    # ones are an ablation, with each base method at the same learning rates as its control,
    # in the first cell (the one shown in detail)
    "C6": Page("07_cmf", _reads(("retrain", *CMF_BASES, *(f"{m}+cmf" for m in CMF_BASES),
                                *(f"{m}+cmf@A" for m in CMF_BASES),
                                *(f"{m}@cmf-lr" for m in CMF_BASES), "cmf_original")),
               first_only=(*(f"{m}+cmf" for m in CMF_BASES),
                           *(f"{m}@cmf-lr" for m in CMF_BASES)),
               # the feature PCA of the cell shown in detail
               first_extras=_reads(("cmf_original", *(f"{m}+cmf@A" for m in CMF_BASES)),
                                   ("feature_sample",))),
    # stage_cka_flat: the flattened-map CKA of the page's variant reading
    "C7": Page("08_erase_at_core", {"original": ("stage_probes",),
                                    **_reads(("retrain", "random_label", "neggrad_plus", "scrub",
                                              "salun", "ec", "random_label+ec"),
                                             (*_DEPTH, "stage_cka_flat")),
                                    **_reads(("ec_ramp", "ec_output_only"), ("stage_cka",))},
               # the layer-weight ablation: no verdict reads it, shown in the first cell
               first_only=("ec_ramp", "ec_output_only")),
    "audit": Page("09_audit", {"retrain": (), "random_label": ("audit_page",)},
                  first_only=True),
    # the models on which the metric deviations' effects are measured
    "fidelity": Page("10_fidelity", _reads(("retrain", "random_label", "salun", "scrub",
                                            "neggrad_plus"))),
}


def grid_cells(profile: str, seed: int | None = None, forget: Sequence[int] | None = None,
               forget_sets: Iterable[Sequence[int]] | None = None,
               seeds: Iterable[int] | None = None) -> list[tuple[int, tuple[int, ...]]]:
    """The (seed, forget set) cells a page reads, from its papermill parameters: ``forget_sets``
    (else ``[forget]``) and ``seeds`` (else ``[seed]``), by
    :meth:`illusion.profiles.Profile.grid`'s rule (neither: the profile's cells). Forget sets
    are sorted tuples; an empty set or a repeated cell raises ``ValueError``."""
    p = get_profile(profile)
    if forget_sets is None and forget is not None:
        forget_sets = [forget]
    if seeds is None and seed is not None:
        seeds = [seed]
    sets = None if forget_sets is None else [tuple(sorted(int(c) for c in f))
                                             for f in forget_sets]
    seeds = None if seeds is None else [int(s) for s in seeds]
    if (sets is not None and (not sets or any(len(f) == 0 for f in sets))) or seeds == []:
        raise ValueError("a grid needs at least one seed and non-empty forget sets")
    cells = [(s, tuple(sorted(f))) for s, f in p.grid(seeds, sets)]
    if len(set(cells)) != len(cells):
        raise ValueError(f"repeated (seed, forget set) cells in the grid: {cells}")
    return cells


def _extras_by_label(pages: Iterable[Page], first: bool = True) -> dict[str, tuple[str, ...]]:
    """Every label any of ``pages`` reads (in :data:`ENTRIES` order) with the union of their
    extras: in the grid's first cell (``first``), or in a later one (only the reads of pages
    that read the label there, :meth:`Page.in_later_cells`)."""
    wanted: dict[str, set[str]] = {}
    for p in pages:
        for label in p.labels:
            if first or p.in_later_cells(label):
                wanted.setdefault(label, set()).update(p.extras(label, first))
    return {label: tuple(sorted(wanted[label])) for label in ENTRIES if label in wanted}


def _cell(profile: str, dataset: str, seed: int, forget: tuple[int, ...], label: str,
          extras: tuple[str, ...]) -> Cell:
    entry = ENTRIES[label]
    return Cell(dataset, profile, seed, forget, entry.method, label,
                entry.overrides(profile, len(forget), dataset), extras)


def book_grid(profile: str, dataset: str | None = None, pages: Iterable[str] | None = None,
              cells: Sequence[tuple[int, tuple[int, ...]]] | None = None) -> Grid:
    """The union of the pages' reads (default: every page) as a sweep grid named after the
    profile, over ``cells`` (default: the profile's): every read in the first cell, in the
    later ones only the labels and extras some page reads there (:attr:`Page.first_only`)."""
    dataset = dataset or get_profile(profile).dataset
    chosen = [PAGES[p] for p in (PAGES if pages is None else pages)]
    first, later = _extras_by_label(chosen), _extras_by_label(chosen, first=False)
    out = [_cell(profile, dataset, s, f, label, extras)
           for i, (s, f) in enumerate(cells or grid_cells(profile))
           for label, extras in (later if i else first).items()]
    return Grid(profile, tuple(out), BOOK_EXTRAS)


@dataclass
class PageReader:
    """What a notebook reads: its page's declared rows and their extras' artifacts over
    ``cells``, from the cache only (a missing one raises :class:`illusion.cache.NotBuilt`)."""

    name: str
    profile: str
    dataset: str
    cells: list[tuple[int, tuple[int, ...]]]
    cache: ArtifactCache | None = None
    _extras: dict[bool, dict[str, tuple[str, ...]]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # the extras the whole book asks of each label, in the first cell and in the later
        # ones: the same cells as book_grid's, so the same cache keys
        self._extras = {True: _extras_by_label(PAGES.values()),
                        False: _extras_by_label(PAGES.values(), first=False)}

    @property
    def labels(self) -> list[str]:
        """The page's declared labels, ``original`` first."""
        return PAGES[self.name].labels

    @property
    def first(self) -> tuple[int, tuple[int, ...]]:
        """The cell a page shows in detail."""
        return self.cells[0]

    def _check(self, label: str) -> None:
        if label not in PAGES[self.name].labels:
            raise UndeclaredRead(f"page {self.name} does not declare {label!r}; add it to "
                                 f"illusion.book.PAGES[{self.name!r}] (declared: "
                                 f"{', '.join(PAGES[self.name].labels)})")

    def cells_of(self, label: str) -> list[tuple[int, tuple[int, ...]]]:
        """The cells in which the page reads ``label``: all, or the first alone for a label
        of its :attr:`Page.first_only`."""
        self._check(label)
        return self.cells if PAGES[self.name].in_later_cells(label) else self.cells[:1]

    def cell(self, label: str, seed: int | None = None,
             forget: Sequence[int] | None = None) -> Cell:
        """The sweep cell of ``label`` (default: the first cell's seed and forget set)."""
        self._check(label)
        s, f = self.first
        seed = s if seed is None else seed
        forget = f if forget is None else ForgetSet(forget).classes
        first = (seed, forget) == (s, f)
        if not first and not PAGES[self.name].in_later_cells(label):
            raise UndeclaredRead(f"page {self.name} reads {label!r} in its first cell only "
                                 f"(illusion.book.PAGES[{self.name!r}].first_only), not in "
                                 f"seed {seed}, forget set {list(forget)}")
        extras = self._extras[first][label]  # later cells: this page reads it there, so listed
        return _cell(self.profile, self.dataset, seed, forget, label, extras)

    def grid(self) -> Grid:
        """Every row the page reads, with the book's extras (the same keys as
        :func:`book_grid`'s): what ``tools/run_notebooks.py`` sweeps before it executes a page
        with parameters of its own. A page never runs it."""
        out = [self.cell(label, s, f) for s, f in self.cells for label in self.labels
               if (s, f) in self.cells_of(label)]
        return Grid(f"{self.profile} page {self.name}", tuple(out), BOOK_EXTRAS)

    def _read(self, read: Callable[[], Any]) -> Any:
        try:
            return read()
        except NotBuilt as exc:
            raise NotBuilt(exc.kind, exc.key, f"{exc.what}, read by page {self.name},",
                           f"run `illusion sweep book:{self.profile}` first (the profile's "
                           "cells), or execute the page with `python tools/run_notebooks.py "
                           "NOTEBOOK -p NAME VALUE`, which sweeps its grid first") from None

    def table(self, labels: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per (cell, label) with the columns of :func:`illusion.cells.run_cell`'s row
        and ``seed``, ``forget`` (label), ``n_forget``: the page's labels (default: all), each
        in the cells the page reads it (:meth:`cells_of`)."""
        labels = list(labels or PAGES[self.name].labels)
        rows = []
        for seed, forget in self.cells:
            for label in labels:
                if (seed, forget) not in self.cells_of(label):
                    continue
                cell = self.cell(label, seed, forget)
                row = self._read(lambda: read_cell(cell, BOOK_EXTRAS, self.cache))
                # the cached row is keyed by what decides it, not by its label: two labels of
                # the same configuration (an @A entry whose learning rate is the profile's)
                # share it, so the row is named here
                rows.append({**row, "method": label, "seed": seed,
                             "forget": ForgetSet(forget), "n_forget": len(forget)})
        return pd.DataFrame(rows)

    def extra(self, name: str, label: str, seed: int | None = None,
              forget: Sequence[int] | None = None) -> dict:
        """The artifact of extra ``name`` on ``label`` in one cell (default: the first), as the
        sweep stored it (:func:`illusion.cells.read_extra`). The page must declare the extra
        for that label and cell (:data:`PAGES`; :data:`BOOK_EXTRAS` for every row)."""
        cell = self.cell(label, seed, forget)
        first = (cell.seed, cell.forget) == self.first
        declared = (*BOOK_EXTRAS, *PAGES[self.name].extras(label, first))
        if name not in declared:
            raise UndeclaredRead(
                f"page {self.name} does not declare extra {name!r} of {label!r} "
                f"{'in its first cell' if first else 'beyond its first cell'}; add it to "
                f"illusion.book.PAGES[{self.name!r}] (declared: {', '.join(declared)})")
        return self._read(lambda: read_extra(cell, name, self.cache))

    def extra_table(self, name: str, labels: Sequence[str], key: str = "table",
                    first_only: bool = False) -> pd.DataFrame:
        """The table ``key`` of extra ``name``'s artifacts (:meth:`extra`) of ``labels``, with
        ``method``, ``seed``, ``forget`` (label) and ``n_forget``, stacked over every cell the
        page reads each label in (or the first only)."""
        parts = []
        for seed, forget in self.cells[:1] if first_only else self.cells:
            for label in labels:
                if (seed, forget) in self.cells_of(label):
                    rows = self.extra(name, label, seed, forget)[key]
                    parts.append(frame(rows).assign(method=label, seed=seed,
                                                    forget=[ForgetSet(forget)] * len(rows),
                                                    n_forget=len(forget)))
        return pd.concat(parts, ignore_index=True)

    def per_cell(self, fn: Callable[[int, tuple[int, ...]], Any]) -> Any:
        """``fn(seed, forget)`` for every cell, stacked: a DataFrame result gets the cell's
        ``seed``, ``forget`` (label) and ``n_forget`` columns and the cells' frames are
        concatenated; a dict of DataFrames is stacked key by key."""
        def tag(frame: pd.DataFrame, seed: int, forget: tuple[int, ...]) -> pd.DataFrame:
            return frame.assign(seed=seed, forget=[ForgetSet(forget)] * len(frame),
                                n_forget=len(forget))

        results = [(s, f, fn(s, f)) for s, f in self.cells]
        if isinstance(results[0][2], dict):
            return {k: pd.concat([tag(r[k], s, f) for s, f, r in results], ignore_index=True)
                    for k in results[0][2]}
        return pd.concat([tag(r, s, f) for s, f, r in results], ignore_index=True)

    def predictions(self, label: str, seed: int | None = None,
                    forget: Sequence[int] | None = None) -> dict:
        """Each readout's predicted class of every test image of ``label`` in one cell
        (default: the first): the ``predictions`` extra's ``test_predictions``."""
        return self.extra("predictions", label, seed, forget)["test_predictions"]

    def gaps(self, labels: Sequence[str], reference: str = "retrain",
             readouts: Sequence[str] = ("probe", "ncc"), split: str = "forget") -> pd.DataFrame:
        """:func:`illusion.experiments.readout_gaps` of ``labels`` against ``reference`` in
        every cell where the page reads ``reference`` (a first-cell-only control: that cell),
        stacked with each cell's ``seed``, ``forget`` and ``n_forget``; the mean over the
        cells is :func:`illusion.experiments.gap_means` of the result."""
        def one(seed: int, forget: tuple[int, ...]) -> pd.DataFrame:
            if (seed, forget) not in self.cells_of(reference):  # e.g. a first-cell-only row
                return pd.DataFrame(columns=GAP_COLUMNS)
            ref = self.extra("predictions", reference, seed, forget)
            preds = {reference: ref["test_predictions"],
                     **{lab: self.predictions(lab, seed, forget) for lab in labels
                        if (seed, forget) in self.cells_of(lab)}}
            return readout_gaps(preds, ref["test_y"].long(), forget, reference, readouts,
                                split)

        return self.per_cell(one)


def page(name: str, profile: str = "cpu", dataset: str | None = None, seed: int | None = None,
         forget: Sequence[int] | None = None, forget_sets: Iterable[Sequence[int]] | None = None,
         seeds: Iterable[int] | None = None, cache: ArtifactCache | None = None) -> PageReader:
    """The reader of page ``name`` (a key of :data:`PAGES`) over the cells its parameters
    select (:func:`grid_cells`)."""
    if name not in PAGES:
        raise KeyError(f"unknown page {name!r}; choose from {', '.join(PAGES)}")
    return PageReader(name, profile, dataset or get_profile(profile).dataset,
                      grid_cells(profile, seed, forget, forget_sets, seeds), cache)



def means(table: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Per method (in order of first appearance): the mean of each column over the table's
    cells, ``<column>_std`` beside it (NaN for one cell) and ``n`` (cells), ``method`` a
    column."""
    out = summarise(table, columns)
    return out.rename(columns=lambda c: c.removesuffix("_mean")).reset_index()


def judge(grid: pd.DataFrame, columns: Sequence[str], verdict: Callable[[pd.DataFrame], Any],
          gaps: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None):
    """A claim judged in every (seed, forget set) cell of ``grid`` and on the means over them
    (:func:`illusion.claims.across_cells`).

    ``verdict`` is the claim's function of a per-method table (e.g.
    ``lambda t: claims.illusion(t, criterion)``). Each cell's table is its rows of ``grid``
    (``method`` and ``columns``); the means' table is :func:`means`. With ``gaps`` (a page's
    :meth:`PageReader.gaps`, or ``{name: gaps}`` for several), each table also carries the
    gaps' intervals as ``<readout>_<name>_low`` / ``_high`` (name ``vs_retrain`` for a bare
    frame; :func:`illusion.experiments.gap_columns`): the cell's own, and on the means
    :func:`illusion.experiments.gap_means`."""
    named = {} if gaps is None else (dict(gaps) if isinstance(gaps, Mapping)
                                     else {"vs_retrain": gaps})

    def with_gaps(table: pd.DataFrame, pick: Callable[[pd.DataFrame], pd.DataFrame]):
        for name, g in named.items():
            expected = [f"{r}_{name}_{end}" for r in dict.fromkeys(g["readout"])
                        for end in ("low", "high")]
            g = pick(g)
            if not g.empty:
                wide = gap_columns(g.drop(columns=[c for c in ("seed", "forget")
                                                   if c in g.columns]), name)
                table = table.merge(wide, on="method", how="left")
            for col in expected:  # a cell without its intervals is not decided, not judged
                if col not in table.columns:  # on the point estimates
                    table[col] = float("nan")
        return table

    # a method's mean gap needs its interval in every cell its row is in
    cells_of = grid.groupby("method", sort=False)[["seed", "forget"]].apply(
        lambda rows: len(set(zip(rows["seed"], rows["forget"]))))

    def gaps_on_means(g: pd.DataFrame) -> pd.DataFrame:
        out = gap_means(g)
        short = out["cells"] < out["method"].map(cells_of).fillna(0)
        out.loc[short, ["gap", "low", "high"]] = float("nan")
        return out

    per_cell = {}
    for (seed, forget), rows in grid.groupby(["seed", "forget"], sort=False):
        table = rows[["method", *columns]].reset_index(drop=True)
        in_cell = lambda g: g[(g["seed"] == seed) & (g["forget"] == forget)]  # noqa: E731
        per_cell[cell_label(seed, forget)] = verdict(with_gaps(table, in_cell))
    on_means = verdict(with_gaps(means(grid, columns), gaps_on_means))
    return across_cells(per_cell, on_means)


def judge_cells(verdict: Callable[..., Any], cells: Iterable[tuple[int, Any]],
                inputs: Callable[[int | None, Any], Mapping[str, Any]]):
    """A claim judged in every cell and on the means, for claims whose verdict reads more than
    one per-method table: ``verdict(**inputs(seed, forget))`` in each of ``cells`` ((seed,
    forget set or its label) pairs) and ``verdict(**inputs(None, None))`` on the means
    (:func:`illusion.claims.across_cells`)."""
    per_cell = {cell_label(s, f): verdict(**inputs(s, f)) for s, f in cells}
    return across_cells(per_cell, verdict(**inputs(None, None)))


def change_from(grid: pd.DataFrame, column: str, name: str, reference: str = "original",
                leave_out: Sequence[str] = ("original", "retrain")) -> pd.DataFrame:
    """The rows of ``grid`` (a page's :meth:`PageReader.table`) but those of ``leave_out``,
    with ``name``: their ``column`` minus ``reference``'s in the same (seed, forget set) cell
    (e.g. the growth of the forget row's duality distance over the original's)."""
    ref = grid[grid["method"] == reference].set_index(["seed", "forget"])[column]
    rows = grid[~grid["method"].isin(leave_out)].copy()
    rows[name] = rows[column].to_numpy() - ref.loc[
        list(zip(rows["seed"], rows["forget"]))].to_numpy()
    return rows


def forget_cka(sim: pd.DataFrame) -> pd.DataFrame:
    """The rows of C7's per-stage similarity (``depth_tables``' ``sim``, stacked over the
    cells) that the claim judges: CKA to the original on the forget classes' test images."""
    return sim[(sim["split"] == "forget") & (sim["reference"] == "original")]


def depth_inputs(page: PageReader, stack: Mapping[str, pd.DataFrame], models: Sequence[str],
                 flat: pd.DataFrame | None = None) -> tuple[list, Callable[[Any, Any], dict]]:
    """Claim C7's inputs for :func:`judge_cells`: ``(cells, inputs)``, ``inputs(seed,
    forget)`` giving ``verdict(cka=, retain_acc=, forget_acc=, draws=)`` of one cell, or of
    the means with ``(None, None)`` (e.g. for ``claims.depth_forgetting``): the draws are
    computed once and serve every reading. The inputs are
    the forget classes' CKA to the original per (method, stage) (:func:`forget_cka` of
    ``stack["sim"]``), output test-retain and test-forget accuracy per method
    (``stack["accuracy"]``) and the bootstrap draws of each of
    ``models``' CKA (:func:`illusion.experiments.stage_cka_draws`, every model of a cell on
    the same resamples of the same images; on the means, the cells' draws averaged).

    With ``flat`` (:func:`illusion.experiments.stage_cka_flat` of every cell, stacked by
    :meth:`PageReader.per_cell`), the CKA is the flattened maps' instead, and ``draws`` is
    ``None``: the criterion then compares the point values (no interval is computed)."""
    sim = forget_cka(stack["sim"]) if flat is None else flat
    pivot = lambda t: t.pivot_table(index="method", columns="stage", values="cka",  # noqa: E731
                                    sort=False)
    cka = pivot(sim)  # mean over the cells
    accuracy = stack["accuracy"]
    draws = None if flat is not None else {
        (s, ForgetSet(f)): {m: {stage: d.numpy() for stage, d in
                                page.extra("stage_cka_draws", m, s, f).items()}
                            for m in models}
        for s, f in page.cells}
    mean_draws = None if draws is None else {
        m: {st: np.mean([d[m][st] for d in draws.values()], axis=0) for st in cka.columns}
        for m in models}

    def inputs(seed, forget) -> dict:
        if seed is None:
            means = accuracy.groupby("method", sort=False)[["test_retain", "test_forget"]].mean()
            return {"cka": cka, "draws": mean_draws, "retain_acc": means["test_retain"],
                    "forget_acc": means["test_forget"]}
        here = lambda t: t[(t["seed"] == seed) & (t["forget"] == forget)]  # noqa: E731
        acc = here(accuracy).set_index("method")
        return {"cka": pivot(here(sim)),
                "draws": None if draws is None else draws[(seed, forget)],
                "retain_acc": acc["test_retain"], "forget_acc": acc["test_forget"]}

    return list(dict.fromkeys(zip(sim["seed"], sim["forget"]))), inputs



# ------------------------------------------------------------- tables pages assemble from reads

def relearn_tables(page: PageReader, labels: Sequence[str], reference: str = "retrain",
                   level: float = 50.0) -> dict[str, pd.DataFrame]:
    """Claim C5's tables of every cell, from the ``relearn`` extra of ``labels``
    (``reference`` among them), stacked with each cell's ``seed``, ``forget`` and
    ``n_forget``: ``curves`` (one row per method, attack and evaluated step), ``summary``
    (:func:`illusion.attacks.relearn_summary` of each cell) and ``leads``
    (:func:`illusion.experiments.relearn_leads` of each cell)."""
    def one(seed: int, forget: tuple[int, ...]) -> dict[str, pd.DataFrame]:
        payloads = {label: page.extra("relearn", label, seed, forget) for label in labels
                    if (seed, forget) in page.cells_of(label)}
        configs = payloads[reference]["configs"]
        curves = pd.concat([frame(p["curves"][attack]).assign(
            method=label, attack=attack, fraction=configs[attack]["fraction"])
            for label, p in payloads.items() for attack in configs], ignore_index=True)
        scores = {label: {attack: (p["scores"][attack]["images"].numpy(),
                                   p["scores"][attack]["scores"].numpy()) for attack in configs}
                  for label, p in payloads.items()}
        test_y = page.extra("predictions", reference, seed, forget)["test_y"].numpy()
        test_forget = np.flatnonzero(np.isin(test_y, forget))
        return {"curves": curves, "summary": relearn_summary(curves, reference, level),
                "leads": relearn_leads(scores, test_forget, reference)}

    return page.per_cell(one)


def calibration_table(page: PageReader, reference: str = "retrain") -> pd.DataFrame:
    """The attack's calibration on ``reference`` in every cell (the ``attack_calibration``
    extra; :func:`illusion.attacks.calibrate_attack`)."""
    return page.per_cell(lambda s, f: frame(
        page.extra("attack_calibration", reference, s, f)["table"]))


ACCURACY_COLUMNS = ("train_retain", "train_forget", "test_retain", "test_forget")


def depth_tables(page: PageReader, main: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Claim C7's tables of every cell: ``accuracy`` (the original's and every ``main``
    model's output accuracy and time, from their rows), ``sim`` (per-stage CKA of the ``main``
    models to the original and to Retrain, the ``stage_cka`` extra) and ``probes`` (per-stage
    probes of the original and the ``main`` models, the ``stage_probes`` extra)."""
    labels = ["original", *main]
    rows = page.table(labels)
    accuracy = rows[["method", "seconds", *(f"output_{c}" for c in ACCURACY_COLUMNS),
                     "seed", "forget", "n_forget"]]
    accuracy = accuracy.rename(columns={f"output_{c}": c for c in ACCURACY_COLUMNS})
    return {"accuracy": accuracy, "sim": page.extra_table("stage_cka", main),
            "probes": page.extra_table("stage_probes", labels)}


def ablation_table(page: PageReader, models: Mapping[str, str]) -> pd.DataFrame:
    """C7's ablation table of the first cell: per model (display name -> label), the forget
    classes' CKA of each stage to the original (the ``stage_cka`` extra) and ``test retain
    acc`` (%, its row)."""
    names = {label: name for name, label in models.items()}
    sim = page.extra_table("stage_cka", list(models.values()), first_only=True)
    sim = sim[(sim["split"] == "forget") & (sim["reference"] == "original")]
    table = sim.assign(method=sim["method"].map(names)).pivot_table(
        index="method", columns="stage", values="cka", sort=False)
    seed, forget = page.first
    retain = page.table(list(models.values()))
    retain = retain[(retain["seed"] == seed) & (retain["forget"] == ForgetSet(forget))]
    table["test retain acc"] = retain.set_index(retain["method"].map(names)).loc[
        table.index, "output_test_retain"].to_numpy()
    return table
