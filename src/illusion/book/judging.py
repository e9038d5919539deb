"""A claim judged from a page's tables: in every (seed, forget set) cell and on the means over
the cells (:func:`judge`, :func:`judge_cells`), with the helpers claims C3 and C7 need.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd

from ..catalog import ForgetSet, cell_label
from ..rows import summarise
from ..claims import HEADLINE_RULE, HeadlineRule, across_cells
from ..gaps import gap_columns, gap_means
from ..stats import IMAGE_SEED, hierarchical_draws, run_draws
from .reader import PageReader

__all__ = ["STATUS_ORDER", "change_from", "depth_inputs", "flips", "forget_cka",
           "in_every_cell", "judge", "judge_cells", "means", "sensitivity"]


def means(table: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Per method (in order of first appearance): the mean of each column over the table's
    cells, ``<column>_std`` beside it (NaN for one cell) and ``n`` (cells), ``method`` a
    column."""
    out = summarise(table, columns)
    return out.rename(columns=lambda c: c.removesuffix("_mean")).reset_index()


def in_every_cell(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``table`` (stacked over the cells, ``seed`` / ``forget`` / ``method``) of
    the methods present in every one of its cells: what a verdict on the means may read.
    Since issue 35 the later cells hold only what a headline reads, so the other baselines,
    controls and checks of the cell shown in detail do not enter the means (their one cell
    is not a mean over cells); that cell's own verdict reads them."""
    cells = set(zip(table["seed"], table["forget"]))
    seen = table.groupby("method", sort=False)[["seed", "forget"]].apply(
        lambda rows: set(zip(rows["seed"], rows["forget"])))
    return table[table["method"].isin([m for m, c in seen.items() if c == cells])]


def judge(grid: pd.DataFrame, columns: Sequence[str], verdict: Callable[[pd.DataFrame], Any],
          gaps: pd.DataFrame | Mapping[str, pd.DataFrame] | None = None,
          rule: HeadlineRule | None = HEADLINE_RULE):
    """A claim judged in every (seed, forget set) cell of ``grid`` and on the means over them
    (:func:`illusion.claims.across_cells`).

    ``verdict`` is the claim's function of a per-method table (e.g.
    ``lambda t: claims.illusion(t, criterion)``). Each cell's table is its rows of ``grid``
    (``method`` and ``columns``); the means' table is :func:`means` of the methods in every
    cell (:func:`in_every_cell`). With ``gaps`` (a page's
    :meth:`PageReader.gaps`, or ``{name: gaps}`` for several), each table also carries the
    gaps' intervals as ``<readout>_<name>_low`` / ``_high`` (name ``vs_retrain`` for a bare
    frame; :func:`illusion.gaps.gap_columns`): the cell's own, and on the means
    :func:`illusion.gaps.gap_means` (a two-stage bootstrap over the cells, then within each).

    The headline status follows ``rule`` (:data:`illusion.claims.HEADLINE_RULE`: "holds"
    needs the means and at least 4 of 5 cells to hold); ``rule=None`` gives the status on the
    means alone, as before issue 34."""
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
    on_means = verdict(with_gaps(means(in_every_cell(grid), columns), gaps_on_means))
    return across_cells(per_cell, on_means, rule=rule)


def judge_cells(verdict: Callable[..., Any], cells: Iterable[tuple[int, Any]],
                inputs: Callable[[int | None, Any], Mapping[str, Any]],
                rule: HeadlineRule | None = HEADLINE_RULE):
    """A claim judged in every cell and on the means, for claims whose verdict reads more than
    one per-method table: ``verdict(**inputs(seed, forget))`` in each of ``cells`` ((seed,
    forget set or its label) pairs) and ``verdict(**inputs(None, None))`` on the means
    (:func:`illusion.claims.across_cells`), the headline under ``rule`` as in :func:`judge`."""
    per_cell = {cell_label(s, f): verdict(**inputs(s, f)) for s, f in cells}
    return across_cells(per_cell, verdict(**inputs(None, None)), rule=rule)


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
    ``models``' CKA (:func:`illusion.depth.stage_cka_draws`, every model of a cell on
    the same resamples of the same images; a model whose other runs the page reads, in the
    first cell, over its runs too (:func:`illusion.stats.run_draws`); on the means, the
    two-stage bootstrap over the cells).

    With ``flat`` (:func:`illusion.depth.stage_cka_flat` of every cell, stacked by
    :meth:`PageReader.per_cell`), the CKA is the flattened maps' instead, and ``draws`` is
    ``None``: the criterion then compares the point values (no interval is computed)."""
    sim = forget_cka(stack["sim"]) if flat is None else flat
    pivot = lambda t: t.pivot_table(index="method", columns="stage", values="cka",  # noqa: E731
                                    sort=False)
    cka = pivot(sim)  # mean over the cells
    judged = set(zip(sim["seed"], sim["forget"]))  # the flat variant: the first cell only
    accuracy = stack["accuracy"]
    accuracy = accuracy[[c in judged for c in zip(accuracy["seed"], accuracy["forget"])]]
    def model_draws(m: str, s: int, f: tuple[int, ...], k: int) -> dict[str, Any]:
        # a model whose other runs the page reads (the first cell): the runs resampled too,
        # each image resample kept paired with the other models' (illusion.stats.run_draws)
        runs = page.runs_of(m, s, f)
        per_run = [page.extra("stage_cka_draws", run, s, f) for run in runs]
        return {stage: run_draws([p[stage].numpy() for p in per_run], IMAGE_SEED + k)
                for stage in per_run[0]}

    draws = None if flat is not None else {
        (s, ForgetSet(f)): {m: model_draws(m, s, f, k) for k, m in enumerate(models)}
        for s, f in page.cells}
    mean_draws = None if draws is None else {
        m: {st: hierarchical_draws([d[m][st] for d in draws.values()], IMAGE_SEED)
            for st in cka.columns}
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


# -------------------------------------------------------------- how robust a verdict is

STATUS_ORDER = ("not decided", "does not hold", "partly holds", "holds")


def sensitivity(judge_with: Callable[[Any], Any], criterion: Any,
                ranges: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """A verdict re-judged over a range of each of its criterion's constants, the others kept
    at their values: ``judge_with(criterion)`` returns the verdict (e.g. ``lambda c:
    book.judge(grid, cols, lambda t: claims.illusion(t, c), gaps)``), and ``ranges`` maps a
    field of the (frozen dataclass) criterion to the values to try. Nothing is trained or
    read again: only the cached tables are re-judged.

    One row per (``constant``, ``value``): ``status`` (the headline's), ``k`` and ``n`` (the
    cells that hold), ``on_means`` (the status on the means) and ``stated`` (the value the
    page states). The stated value is always among the rows."""
    rows = []
    for field, values in ranges.items():
        stated = getattr(criterion, field)
        for value in sorted({*map(float, values), float(stated)}):
            v = judge_with(dataclasses.replace(criterion, **{field: type(stated)(value)}))
            rows.append({"constant": field, "value": value, "status": v.status,
                         "k": v.values.get("k"), "n": v.values.get("n"),
                         "on_means": v.values.get("on_means", v.status),
                         "stated": value == float(stated)})
    return pd.DataFrame(rows, columns=["constant", "value", "status", "k", "n", "on_means",
                                       "stated"])


def flips(table: pd.DataFrame) -> str:
    """Where each constant's re-judged status differs from the stated value's, in one
    sentence per constant (:func:`sensitivity`'s table): ``"margin: holds from 2 to 8
    (stated 5); partly holds at 10; does not hold from 12 to 20."``"""
    out = []
    for field, rows in table.groupby("constant", sort=False):
        stated = rows.loc[rows["stated"], "value"].iloc[0]
        runs: list[list] = []
        for r in rows.itertuples():
            if runs and runs[-1][0] == r.status:
                runs[-1][2] = r.value
            else:
                runs.append([r.status, r.value, r.value])
        parts = [f"{status} {'at ' + f'{lo:g}' if lo == hi else f'from {lo:g} to {hi:g}'}"
                 + (f" (stated {stated:g})" if lo <= stated <= hi else "")
                 for status, lo, hi in runs]
        out.append(f"{field}: " + "; ".join(parts) + ".")
    return " ".join(out)
