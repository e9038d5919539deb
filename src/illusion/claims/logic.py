"""What every claim's verdict is made of: the statuses, :class:`Verdict`, three-valued logic
(``True`` / ``False`` / ``None`` = undecidable) over possibly missing values, the words the
verdicts are written with, and :func:`across_cells`, a claim judged cell by cell and on the
means, with :class:`HeadlineRule`, the stated k-of-n rule a headline may be held to. A method
that is missing, or a value that is NaN, is *not decided*: it never counts as passing or
failing; one failed check decides "does not hold" even when another is undecidable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..catalog import method_label

__all__ = ["FAILS", "HEADLINE_RULE", "HOLDS", "OTHER", "PAPER", "PARTLY", "STRONGER",
           "UNDECIDED", "HeadlineRule", "Statement", "Verdict", "across_cells", "all_true",
           "any_true", "by_method", "capitalised", "combine_statuses", "headline_status",
           "is_missing", "label_list", "methods_where", "pct_text",
           "rows_frame", "series_text", "status_of", "tri_compare", "tri_majority",
           "truth_value", "value_of"]

HOLDS, PARTLY, FAILS, UNDECIDED = "holds", "partly holds", "does not hold", "not decided"
# Which reading of a claim a verdict judges: the paper's own statement (the headline), a
# stricter one this project adds, or another test of ours that is neither (C5's area lead);
# the last two are always labelled as such and never the headline.
PAPER, STRONGER, OTHER = "the paper's statement", "stronger reading", "another reading (ours)"


@dataclass(frozen=True)
class Statement:
    """What a paper states for a claim, paraphrased, and where (``source``: the paper and its
    section); the claim's headline criterion makes exactly this operational."""

    claim: str
    source: str
    text: str

    def _repr_markdown_(self) -> str:
        return f"**{self.claim}, as stated** ({self.source}): {self.text}"


@dataclass(frozen=True)
class Verdict:
    """A claim's verdict: ``status``, ``text`` (one sentence, starting with the status),
    ``details`` (per method or per check), ``parts`` (statuses of a claim's halves),
    ``values`` (the numbers the text quotes) and ``reading``: :data:`PAPER` (the paper's own
    statement), :data:`STRONGER` (a stricter reading of ours) or :data:`OTHER`."""

    claim: str
    status: str
    text: str
    details: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False, repr=False)
    parts: Mapping[str, str] = field(default_factory=dict, compare=False)
    values: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    reading: str = PAPER

    def __str__(self) -> str:
        return self.text


def is_missing(x) -> bool:
    try:
        return x is None or math.isnan(float(x))
    except (TypeError, ValueError):
        return False


def truth_value(v) -> bool | None:
    """``True`` / ``False`` (Python or NumPy booleans) or ``None`` (anything else: None, NaN)."""
    return bool(v) if isinstance(v, (bool, np.bool_)) else None


def tri_compare(a, op: str, b) -> bool | None:
    """``a op b``, or ``None`` when either side is missing or NaN."""
    if is_missing(a) or is_missing(b):
        return None
    a, b = float(a), float(b)
    return {">=": a >= b, "<=": a <= b, ">": a > b, "<": a < b}[op]


def all_true(flags: Iterable) -> bool | None:
    """Three-valued AND: any False -> False; else any None -> None; else True (also when
    empty: callers decide what an empty set means before calling)."""
    flags = [truth_value(f) for f in flags]
    if any(f is False for f in flags):
        return False
    return None if any(f is None for f in flags) else True


def any_true(flags: Iterable) -> bool | None:
    """Three-valued OR: any True -> True; else any None -> None; else False."""
    flags = [truth_value(f) for f in flags]
    if any(f is True for f in flags):
        return True
    return None if any(f is None for f in flags) else False


def tri_majority(n_true: int, n_false: int, n_open: int) -> bool | None:
    """"More than half are true", with ``n_open`` undecidable members: ``None`` when they
    could tip it either way."""
    if n_true > n_false + n_open:
        return True
    if n_true + n_open <= n_false:
        return False
    return None


def status_of(flag) -> str:
    return {True: HOLDS, False: FAILS, None: UNDECIDED}[truth_value(flag)]


def combine_statuses(flags: Sequence) -> str:
    """Status of a claim made of several parts: all hold -> holds; any undecidable ->
    not decided; else some hold -> partly holds; none -> does not hold."""
    flags = [truth_value(f) for f in flags]
    if flags and all(f is True for f in flags):
        return HOLDS
    if not flags or any(f is None for f in flags):
        return UNDECIDED
    return PARTLY if any(flags) else FAILS


def methods_where(flags: Mapping, value: bool | None) -> list:
    """Keys whose flag is ``value`` (True, False or None)."""
    return [k for k, f in flags.items() if truth_value(f) is value]


def rows_frame(rows: list[dict], columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Per-method details indexed by ``method``; check columns keep Python ``True`` /
    ``False`` / ``None`` (object dtype) so that an undecidable check stays visible as such."""
    df = pd.DataFrame(rows, columns=columns)
    for col in df.columns:
        if len(df) and all(isinstance(v, (bool, np.bool_)) or v is None for v in df[col]):
            df[col] = pd.Series([truth_value(v) for v in df[col]], index=df.index, dtype=object)
    return df.set_index("method") if "method" in df.columns else df


def by_method(table: pd.DataFrame) -> pd.DataFrame:
    """The table indexed by method (it may carry a ``method`` column or be indexed already)."""
    if "method" in table.columns:
        return table.set_index("method")
    return table


def value_of(t: pd.DataFrame, method: str, column: str) -> float:
    """``t.loc[method, column]`` as a float; NaN when the row or the column is missing."""
    if method not in t.index or column not in t.columns:
        return float("nan")
    value = t.loc[method, column]
    return float("nan") if is_missing(value) else float(value)


def label_list(methods: Iterable[str], suffix: str = "") -> str:
    return ", ".join(method_label(m) + suffix for m in methods)


def series_text(items: Sequence[str], empty: str = "") -> str:
    """``a``, ``a and b``, ``a, b and c`` (``empty`` for none)."""
    items = list(items)
    if len(items) < 2:
        return items[0] if items else empty
    return ", ".join(items[:-1]) + " and " + items[-1]


def capitalised(status: str) -> str:
    return status[0].upper() + status[1:]


def pct_text(x: float) -> str:
    return "n/a" if is_missing(x) else f"{x:.1f}%"


@dataclass(frozen=True)
class HeadlineRule:
    """How many cells must agree before a claim's headline may say "holds": with n cells, the
    claim must hold on the means **and** in at least ``ceil(min_share_holds * n)`` of them (the
    default 0.8 asks 4 of 5, 8 of 10, and every cell of 1 to 4). A mean can hold on the
    strength of a few cells that hold by far while the rest do not; the rule keeps such a claim
    at "partly holds" instead, stated beforehand rather than judged case by case."""

    min_share_holds: float = 0.8

    def __post_init__(self):
        share = self.min_share_holds
        if isinstance(share, bool) or not (isinstance(share, (int, float))
                                            and 0.0 < share <= 1.0):
            raise ValueError(f"HeadlineRule: min_share_holds must be in (0, 1], not {share!r}")

    def needed(self, n: int) -> int:
        """The number of the ``n`` cells that must hold (rounded up; the share is rounded to 9
        decimals first so that 0.7 * 10 asks 7, not 8)."""
        return math.ceil(round(self.min_share_holds * n, 9))

    def describe(self) -> str:
        """The rule in one sentence, for a page to state beside the verdicts."""
        return (f"The headline holds only when the claim holds on the means and in at least "
                f"{self.min_share_holds:.0%} of the cells, rounded up ({self.needed(5)} of 5); "
                "when it holds on the means but in fewer cells it partly holds, and otherwise "
                "the headline is the status on the means.")


HEADLINE_RULE = HeadlineRule()


def headline_status(on_means: str, statuses: Mapping[str, str],
                    rule: HeadlineRule = HEADLINE_RULE) -> str:
    """A claim's headline status from its status ``on_means`` and its per-cell ``statuses``
    (cell label -> status) under ``rule``: "holds" needs the means to hold and at least
    ``rule.needed(n)`` of the n cells to hold; means that hold with fewer cells holding give
    "partly holds". Any other status on the means is the headline as it is ("partly holds",
    "does not hold", "not decided"): the cells can lower a headline, never raise it."""
    if on_means not in (HOLDS, PARTLY, FAILS, UNDECIDED):
        raise ValueError(f"headline_status: unknown status {on_means!r}")
    if not statuses:
        raise ValueError("headline_status: no cells")
    if on_means != HOLDS:
        return on_means
    k = sum(s == HOLDS for s in statuses.values())
    return HOLDS if k >= rule.needed(len(statuses)) else PARTLY


def across_cells(per_cell: Mapping[str, Verdict], on_means: Verdict | None = None,
                 unit: str = "(seed, forget set) cell",
                 *, rule: HeadlineRule | None = None) -> Verdict:
    """One claim judged in several (seed, forget set) cells, and on the cells' means.

    ``per_cell`` maps a cell's label (:func:`illusion.catalog.cell_label`) to the claim's
    verdict on that cell alone; ``on_means`` is its verdict on the means over the cells. The status,
    ``details`` and ``parts`` are the means' (``not decided`` without them). The text is the
    means' text followed by *k* of *n*, the number of cells in which the claim holds, and it
    says so when the means and the cells disagree: a claim that holds on the means but not
    in every cell names the cells where it does not (with one cell, the means' text alone).
    ``values`` carries ``k``, ``n``, ``k_of_n`` ("3/4"), the per-cell ``statuses`` and their
    table ``cells`` (status and text per cell). ``unit`` names a cell in the text
    (``"seed"`` for a claim about the original models).

    With a ``rule`` (:class:`HeadlineRule`), the status is :func:`headline_status` instead of
    the means' alone: means that hold with too few cells holding give "partly holds", and the
    text ends with a sentence saying so; ``values["rule"]`` states the rule
    (:meth:`HeadlineRule.describe`). Without one (the default), the status is the means'."""
    if not per_cell:
        raise ValueError("across_cells: no cells")
    claims = {v.claim for v in per_cell.values()} | ({on_means.claim} if on_means else set())
    if len(claims) != 1:
        raise ValueError(f"across_cells: verdicts of different claims {sorted(claims)}")
    claim = claims.pop()
    readings = {v.reading for v in [*per_cell.values(), *([on_means] if on_means else [])]}
    if len(readings) != 1:
        raise ValueError(f"across_cells: verdicts of different readings {sorted(readings)}")
    statuses = {cell: v.status for cell, v in per_cell.items()}
    n = len(statuses)
    k = sum(s == HOLDS for s in statuses.values())
    others = [(st, [c for c, s in statuses.items() if s == st])
              for st in (PARTLY, FAILS, UNDECIDED)]
    short = {PARTLY: "partly", FAILS: "fails", UNDECIDED: "not decided"}
    counts = "; ".join(f"{short[st]} in {len(cells)}" for st, cells in others if cells)
    cells_text = (f"holds in {k} of {n} {unit}{'s' * (n > 1)}"
                  + (f" ({counts})" if counts else ""))
    word = unit.split()[-1]
    means_status = on_means.status if on_means else UNDECIDED
    status = (headline_status(means_status, statuses, rule) if rule is not None and on_means
              else means_status)
    if on_means is None:
        text = f"{capitalised(cells_text)}; not judged on the means."
    elif n == 1:  # the cell is the means: nothing to add
        text = on_means.text
    else:
        text = f"{on_means.text} {capitalised(word)} by {word} it {cells_text}."
        if means_status == HOLDS and k < n:
            verb = {PARTLY: "partly holds", FAILS: "does not hold", UNDECIDED: "is not decided"}
            where = "; ".join(f"{verb[st]} for {series_text(cells)}" for st, cells in others if cells)
            text += f" It holds on the means but not for every {word}: it {where}."
        elif means_status != HOLDS and k:
            text += (f" It holds for {series_text([c for c, s in statuses.items() if s == HOLDS])}"
                     f" but not on the means.")
    if means_status == HOLDS and status == PARTLY:  # the text starts with the headline's status
        text = (f"{capitalised(PARTLY)}: it holds on the means but in only {k} of {n} "
                f"{word}{'s' * (n > 1)}, and the headline needs {rule.needed(n)}. "
                f"On the means: {text}")
    table = pd.DataFrame({word: list(statuses), "status": list(statuses.values()),
                          "verdict": [per_cell[c].text for c in statuses]}).set_index(word)
    return Verdict(claim, status, text,
                   on_means.details if on_means else table,
                   parts=dict(on_means.parts) if on_means else {},
                   values={**(dict(on_means.values) if on_means else {}), "k": k, "n": n,
                           "k_of_n": f"{k}/{n}", "statuses": dict(statuses), "cells": table,
                           "on_means": on_means.status if on_means else None,
                           **({"rule": rule.describe()} if rule is not None else {})},
                   reading=readings.pop())
