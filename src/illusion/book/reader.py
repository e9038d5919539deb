"""What a notebook reads: :func:`page` gives the reader of one page, which reads its declared
rows and their extras' artifacts from the cache and never builds.

A read the sweep did not compute raises :class:`illusion.cache.NotBuilt`, naming the command
that builds it; a label or extra the page does not declare raises :class:`UndeclaredRead`.
Every row and every extra's artifact is computed by :func:`illusion.rows.run_row` (the one
executor, also behind ``illusion sweep`` on Ray); a page reads them back
(:func:`illusion.rows.read_row`, :func:`illusion.rows.read_extra`) and computes only
cheap pure functions of them (bootstraps over images and cells, means, re-judging). The
functions at the end assemble the tables of claims C5 and C7 from those reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..attacks import relearn_leads, relearn_summary
from ..cache import ArtifactCache, NotBuilt
from ..catalog import ForgetSet
from ..rows import Row, Grid, frame, read_row, read_extra
from ..gaps import GAP_COLUMNS, readout_gaps
from ..profiles import get_profile
from ..stats import IMAGE_SEED, Interval, hierarchical_interval
from . import table as _table
from .numbers import RUN_STATS, set_page
from .table import BOOK_EXTRAS, extras_by_label, grid_cells, row_of, runs_of

__all__ = ["ACCURACY_COLUMNS", "PageReader", "UndeclaredRead", "ablation_table",
           "calibration_table", "depth_tables", "dose_table", "page", "relearn_runs",
           "relearn_tables", "run_means"]


class UndeclaredRead(KeyError):
    """A page asked for a label its declaration does not list."""

    def __str__(self) -> str:
        return str(self.args[0])


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
        self._extras = {True: extras_by_label(_table.PAGES.values()),
                        False: extras_by_label(_table.PAGES.values(), first=False)}

    @property
    def labels(self) -> list[str]:
        """The page's declared labels, ``original`` first."""
        return _table.PAGES[self.name].labels

    @property
    def first(self) -> tuple[int, tuple[int, ...]]:
        """The cell a page shows in detail."""
        return self.cells[0]

    def _check(self, label: str) -> None:
        if label not in _table.PAGES[self.name].all_labels:
            raise UndeclaredRead(f"page {self.name} does not declare {label!r}; add it to "
                                 f"illusion.book.PAGES[{self.name!r}] (declared: "
                                 f"{', '.join(_table.PAGES[self.name].all_labels)})")

    def cells_of(self, label: str) -> list[tuple[int, tuple[int, ...]]]:
        """The cells in which the page reads ``label``: all, or the first alone for a label
        its headline does not read (:attr:`Page.headline`)."""
        self._check(label)
        return self.cells if _table.PAGES[self.name].in_later_cells(label) else self.cells[:1]

    def cell(self, label: str, seed: int | None = None,
             forget: Sequence[int] | None = None) -> Row:
        """The sweep cell of ``label`` (default: the first cell's seed and forget set)."""
        self._check(label)
        s, f = self.first
        seed = s if seed is None else seed
        forget = f if forget is None else ForgetSet(forget).classes
        first = (seed, forget) == (s, f)
        if not first and not _table.PAGES[self.name].in_later_cells(label):
            raise UndeclaredRead(f"page {self.name} reads {label!r} in its first cell only "
                                 f"(its headline does not: illusion.book.PAGES[{self.name!r}]"
                                 "), not in "
                                 f"seed {seed}, forget set {list(forget)}")
        extras = self._extras[first][label]  # later cells: this page reads it there, so listed
        return row_of(self.profile, self.dataset, seed, forget, label, extras)

    def grid(self) -> Grid:
        """Every row the page reads, with the book's extras (the same keys as
        :func:`book_grid`'s): what ``tools/run_notebooks.py`` sweeps before it executes a page
        with parameters of its own. A page never runs it."""
        out = [self.cell(label, s, f) for s, f in self.cells
               for label in _table.PAGES[self.name].all_labels
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
        """One row per (cell, label) with the columns of :func:`illusion.rows.run_row`'s row
        and ``seed``, ``forget`` (label), ``n_forget``: the page's labels (default: all), each
        in the cells the page reads it (:meth:`cells_of`)."""
        labels = list(labels or _table.PAGES[self.name].labels)
        rows = []
        for seed, forget in self.cells:
            for label in labels:
                if (seed, forget) not in self.cells_of(label):
                    continue
                cell = self.cell(label, seed, forget)
                row = self._read(lambda: read_row(cell, BOOK_EXTRAS, self.cache))
                # the cached row is keyed by what decides it, not by its label: two labels of
                # the same configuration (an @A entry whose learning rate is the profile's)
                # share it, so the row is named here
                rows.append({**row, "method": label, "seed": seed,
                             "forget": ForgetSet(forget), "n_forget": len(forget)})
        return pd.DataFrame(rows)

    def extra(self, name: str, label: str, seed: int | None = None,
              forget: Sequence[int] | None = None) -> dict:
        """The artifact of extra ``name`` on ``label`` in one cell (default: the first), as the
        sweep stored it (:func:`illusion.rows.read_extra`). The page must declare the extra
        for that label and cell (:data:`PAGES`; :data:`BOOK_EXTRAS` for every row)."""
        cell = self.cell(label, seed, forget)
        first = (cell.seed, cell.forget) == self.first
        declared = (*BOOK_EXTRAS, *_table.PAGES[self.name].extras(label, first))
        if name not in declared:
            raise UndeclaredRead(
                f"page {self.name} does not declare extra {name!r} of {label!r} "
                f"{'in its first cell' if first else 'beyond its first cell'}; add it to "
                f"illusion.book.PAGES[{self.name!r}] (declared: {', '.join(declared)})")
        return self._read(lambda: read_extra(cell, name, self.cache))

    def declares(self, name: str, label: str, seed: int | None = None,
                 forget: Sequence[int] | None = None) -> bool:
        """Whether the page reads extra ``name`` of ``label`` in that cell (default: the
        first)."""
        s, f = self.first
        cell = ((s if seed is None else seed),
                (f if forget is None else ForgetSet(forget).classes))
        if label not in _table.PAGES[self.name].all_labels or cell not in self.cells_of(label):
            return False
        return name in (*BOOK_EXTRAS, *_table.PAGES[self.name].extras(label, cell == (s, f)))

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
        """:func:`illusion.gaps.readout_gaps` of ``labels`` against ``reference`` in
        every cell where the page reads ``reference`` (a first-cell-only control: that cell),
        stacked with each cell's ``seed``, ``forget`` and ``n_forget``; the mean over the
        cells is :func:`illusion.gaps.gap_means` of the result.

        Where the page reads other runs of a label (:attr:`Page.runs`, the first cell), its
        gap is the mean over the runs and its interval the two-stage bootstrap over them
        (:func:`illusion.stats.hierarchical_interval`: the runs, then each run's images and
        probe fits), so that the cell's interval carries the run-to-run spread; ``runs``
        counts them (1 elsewhere)."""
        def one(seed: int, forget: tuple[int, ...]) -> pd.DataFrame:
            if (seed, forget) not in self.cells_of(reference):  # e.g. a first-cell-only row
                return pd.DataFrame(columns=[*GAP_COLUMNS, "runs"])
            ref = self.extra("predictions", reference, seed, forget)
            runs = {lab: self.runs_of(lab, seed, forget) for lab in labels
                    if (seed, forget) in self.cells_of(lab)}
            preds = {reference: ref["test_predictions"],
                     **{run: self.predictions(run, seed, forget)
                        for lab in runs for run in runs[lab]}}
            table = readout_gaps(preds, ref["test_y"].long(), forget, reference, readouts,
                                 split)
            return _combine_runs(table, runs)

        return self.per_cell(one)

    def runs_of(self, label: str, seed: int | None = None,
                forget: Sequence[int] | None = None) -> list[str]:
        """The labels of every run of ``label`` the page reads in one cell (default: the
        first), run 0 (``label``) first: the other runs only where :attr:`Page.runs` names
        ``label``, and only in the first cell."""
        s, f = self.first
        here = ((s if seed is None else seed), (f if forget is None
                                                else ForgetSet(forget).classes)) == (s, f)
        return runs_of(label) if here and label in _table.PAGES[self.name].runs else [label]

    def run_spread(self, labels: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
        """The run-to-run spread, in the first cell, of ``columns`` of each of ``labels``
        whose other runs the page reads: one row per label with each column's value in run 0
        (the row every table shows), the mean, standard deviation and range over the runs, and
        ``runs``: columns ``<column> <statistic>``, the statistics of
        :data:`illusion.book.numbers.RUN_STATS`."""
        out = []
        for label in labels:
            runs = self.runs_of(label)
            if len(runs) < 2:
                continue
            seed, forget = self.first
            table = self.table(runs)  # run 0 is read in every cell: keep the first cell's
            table = table[(table["seed"] == seed) & (table["forget"] == ForgetSet(forget))]
            row = {"method": label, "runs": len(runs)}
            for c in columns:
                values = table[c].astype(float)
                stats = {"(run 0)": values.iloc[0], "mean": values.mean(),
                         "sd": values.std(ddof=1), "range": values.max() - values.min()}
                assert stats.keys() == RUN_STATS.keys()  # the names the book and contract read
                row.update({f"{c} {stat}": v for stat, v in stats.items()})
            out.append(row)
        return pd.DataFrame(out)


def _combine_runs(table: pd.DataFrame, runs: Mapping[str, list[str]]) -> pd.DataFrame:
    """One row per (label, readout) of :func:`readout_gaps`' ``table`` over every run of the
    label (``runs``: label -> its runs' labels): the mean gap and the two-stage bootstrap
    interval over the runs; a label with one run is left as it is."""
    rows = []
    for label, names in runs.items():
        for readout in dict.fromkeys(table["readout"]):
            part = table[(table["method"].isin(names)) & (table["readout"] == readout)]
            if len(part) == 1:
                rows.append({**part.iloc[0].to_dict(), "runs": 1})
                continue
            iv = hierarchical_interval(list(part["interval"]), seed=IMAGE_SEED)
            iv = Interval(float(part["gap"].mean()), iv.low, iv.high, iv.n, iv.level, iv.draws)
            rows.append({"method": label, "readout": readout, "gap": iv.estimate,
                         "low": iv.low, "high": iv.high, "interval": iv, "runs": len(part)})
    return pd.DataFrame(rows, columns=[*GAP_COLUMNS, "runs"])


def page(name: str, profile: str = "cpu", dataset: str | None = None, seed: int | None = None,
         forget: Sequence[int] | None = None, forget_sets: Iterable[Sequence[int]] | None = None,
         seeds: Iterable[int] | None = None, cache: ArtifactCache | None = None) -> PageReader:
    """The reader of page ``name`` (a key of :data:`PAGES`) over the cells its parameters
    select (:func:`grid_cells`)."""
    if name not in _table.PAGES:
        raise KeyError(f"unknown page {name!r}; choose from {', '.join(_table.PAGES)}")
    set_page(name)  # what the page shows next is recorded under its name (book.numbers)
    return PageReader(name, profile, dataset or get_profile(profile).dataset,
                      grid_cells(profile, seed, forget, forget_sets, seeds), cache)


def relearn_tables(page: PageReader, labels: Sequence[str], reference: str = "retrain",
                   level: float = 50.0) -> dict[str, pd.DataFrame]:
    """Claim C5's tables of every cell, from the ``relearn`` extra of ``labels``
    (``reference`` among them), stacked with each cell's ``seed``, ``forget`` and
    ``n_forget``: ``curves`` (one row per method, attack and evaluated step), ``summary``
    (:func:`illusion.attacks.relearn_summary` of each cell) and ``leads``
    (:func:`illusion.attacks.relearn_leads` of each cell). In the first cell, a model whose
    other runs the page reads has its curves and per-image scores averaged over the runs
    (the summary's step counts are read on the runs' mean curve); :func:`relearn_runs`
    shows the runs one by one."""
    def one(seed: int, forget: tuple[int, ...]) -> dict[str, pd.DataFrame]:
        payloads = {label: [page.extra("relearn", run, seed, forget)
                            for run in page.runs_of(label, seed, forget)]
                    for label in labels if (seed, forget) in page.cells_of(label)}
        configs = payloads[reference][0]["configs"]
        curves = pd.concat([_mean_curve([frame(p["curves"][attack]) for p in runs]).assign(
            method=label, attack=attack, fraction=configs[attack]["fraction"])
            for label, runs in payloads.items() for attack in configs], ignore_index=True)
        scores = {label: {attack: (runs[0]["scores"][attack]["images"].numpy(),
                                   np.mean([p["scores"][attack]["scores"].numpy()
                                            for p in runs], axis=0))
                          for attack in configs}
                  for label, runs in payloads.items()}
        test_y = page.extra("predictions", reference, seed, forget)["test_y"].numpy()
        test_forget = np.flatnonzero(np.isin(test_y, forget))
        return {"curves": curves, "summary": relearn_summary(curves, reference, level),
                "leads": relearn_leads(scores, test_forget, reference)}

    return page.per_cell(one)


def _mean_curve(curves: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The mean of one attack's curves over runs (the same evaluated steps in each)."""
    if len(curves) == 1:
        return curves[0]
    steps = [tuple(c["step"]) for c in curves]
    if len(set(steps)) != 1:
        raise ValueError(f"relearning curves of runs evaluated at different steps: {steps}")
    out = curves[0].copy()
    for col in ("forget_acc", "retain_acc"):
        out[col] = np.mean([c[col].to_numpy(dtype=float) for c in curves], axis=0)
    return out


def relearn_runs(page: PageReader, labels: Sequence[str], level: float = 50.0) -> pd.DataFrame:
    """The run-to-run spread of claim C5's summary in the first cell: for each of ``labels``
    whose other runs the page reads and each attack, the steps to ``level`` percent and the
    mean forget accuracy over the attack (:func:`illusion.attacks.relearn_summary`) of every
    run (``run`` 0, 1, ...), one row each."""
    seed, forget = page.first
    rows = []
    for label in labels:
        runs = page.runs_of(label)
        if len(runs) < 2:
            continue
        for r, run in enumerate(runs):
            payload = page.extra("relearn", run, seed, forget)
            curves = pd.concat([frame(c).assign(method=label, attack=attack)
                                for attack, c in payload["curves"].items()], ignore_index=True)
            rows.append(relearn_summary(curves, level=level).assign(run=r))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def dose_table(page: PageReader, labels: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Claim C5's dose-response of every cell where the page reads it (the ``relearn_dose``
    extra, :func:`illusion.attacks.dose_response`), of those of ``labels`` it is declared
    for, stacked with each cell's ``seed``, ``forget`` and ``n_forget``: ``curves`` (the
    validation curves at every rate) and ``table`` (one row per method and rate)."""
    parts: dict[str, list] = {"curves": [], "table": []}
    for seed, forget in page.cells:
        got = {label: page.extra("relearn_dose", label, seed, forget) for label in labels
               if page.declares("relearn_dose", label, seed, forget)}
        for key in parts:
            for label, payload in got.items():
                rows = frame(payload[key]).assign(method=label)
                parts[key].append(rows.assign(seed=seed, forget=[ForgetSet(forget)] * len(rows),
                                              n_forget=len(forget)))
    return {key: pd.concat(frames, ignore_index=True) for key, frames in parts.items()}


def calibration_table(page: PageReader, reference: str = "retrain") -> pd.DataFrame:
    """The attack's calibration on ``reference`` in the cell shown in detail (the
    ``attack_calibration`` extra; :func:`illusion.attacks.calibrate_attack`), whose choice
    fixed the profile's attack rate; no verdict reads it, so the other cells do not run it."""
    seed, forget = page.first
    table = frame(page.extra("attack_calibration", reference, seed, forget)["table"])
    return table.assign(seed=seed, forget=[ForgetSet(forget)] * len(table),
                        n_forget=len(forget))


ACCURACY_COLUMNS = ("train_retain", "train_forget", "test_retain", "test_forget")


def run_means(page: PageReader, table: pd.DataFrame, read: Callable[[str], pd.DataFrame],
              values: Sequence[str]) -> pd.DataFrame:
    """``table`` (one cell's rows per ``method``, stacked over the cells) with ``values``, in
    the first cell, replaced by their mean over the runs of each method whose other runs the
    page reads (:meth:`PageReader.runs_of`); ``read(run)`` gives a run's rows of the first
    cell, in the same order as the method's rows there (the same extra or row of another
    run). Other cells and methods are unchanged."""
    seed, forget = page.first
    out = table.copy()
    here = (out["seed"] == seed) & (out["forget"] == ForgetSet(forget))
    for label in dict.fromkeys(out["method"]):
        runs = page.runs_of(label)
        if len(runs) < 2:
            continue
        mask = here & (out["method"] == label)
        parts = [read(run) for run in runs]
        parts = [p[(p["seed"] == seed) & (p["forget"] == ForgetSet(forget))]
                 if "seed" in p.columns else p for p in parts]  # read in every cell: the first
        if any(len(p) != int(mask.sum()) for p in parts):
            raise ValueError(f"run_means: the runs of {label!r} have {[len(p) for p in parts]} "
                             f"rows, the table {int(mask.sum())}")
        out.loc[mask, list(values)] = np.mean([p[list(values)].to_numpy(dtype=float)
                                               for p in parts], axis=0)
    return out


def depth_tables(page: PageReader, main: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Claim C7's tables of every cell: ``accuracy`` (the original's and every ``main``
    model's output accuracy and time, from their rows), ``sim`` (per-stage CKA of the ``main``
    models to the original and to Retrain, the ``stage_cka`` extra) and ``probes`` (per-stage
    probes of the original and the ``main`` models, the ``stage_probes`` extra, in the first
    cell: no verdict reads them). In the first cell, a model whose other runs the page reads
    has its accuracy and CKA averaged over the runs (:func:`run_means`); its probes are run
    0's."""
    labels = ["original", *main]
    rows = page.table(labels)
    accuracy = rows[["method", "seconds", *(f"output_{c}" for c in ACCURACY_COLUMNS),
                     "seed", "forget", "n_forget"]]
    accuracy = accuracy.rename(columns={f"output_{c}": c for c in ACCURACY_COLUMNS})
    accuracy = run_means(page, accuracy, lambda run: page.table([run]).rename(
        columns={f"output_{c}": c for c in ACCURACY_COLUMNS}),
        ["seconds", *ACCURACY_COLUMNS])
    sim = run_means(page, page.extra_table("stage_cka", main),
                    lambda run: frame(page.extra("stage_cka", run)["table"]), ["cka"])
    return {"accuracy": accuracy, "sim": sim,
            "probes": page.extra_table("stage_probes", labels, first_only=True)}


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
