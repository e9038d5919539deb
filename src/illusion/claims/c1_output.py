"""C1: standard unlearning methods look successful at the output: forget accuracy about 0,
retain accuracy about the original's.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..catalog import A_BASELINES
from .logic import (UNDECIDED, Verdict, all_true, by_method, capitalised, is_missing,
                    label_list, methods_where, rows_frame, status_of, tri_compare, tri_majority,
                    value_of)
from .render import criterion

__all__ = ["OutputSuccess", "output_success"]


@criterion("C1")
@dataclass(frozen=True)
class OutputSuccess:
    """C1: a method succeeds *at the output* when its output test-forget accuracy is at most
    ``forget_max`` and its output test-retain accuracy at least the original's minus
    ``retain_drop_max``. The claim holds when more of [A]'s baselines (``counted``,
    :data:`illusion.catalog.A_BASELINES`) succeed than not; every other row (our other
    baselines) is judged the same way and shown, not counted. Until issue 34 every baseline
    the book runs counted, four of them ours rather than [A]'s."""

    forget_max: float = 5.0
    retain_drop_max: float = 5.0
    counted: tuple[str, ...] = A_BASELINES


def output_success(table: pd.DataFrame, criterion: OutputSuccess = OutputSuccess()) -> Verdict:
    """C1 from a per-method table with ``output_test_forget`` / ``output_test_retain``; every
    row but ``original`` and ``retrain`` is a baseline."""
    c, t = criterion, by_method(table)
    orig = value_of(t, "original", "output_test_retain")
    rows = []
    for m in [m for m in t.index if m not in ("original", "retrain")]:
        forget, retain = value_of(t, m, "output_test_forget"), value_of(t, m, "output_test_retain")
        forgets = tri_compare(forget, "<=", c.forget_max)
        keeps = tri_compare(retain, ">=", orig - c.retain_drop_max)
        rows.append({"method": m, "output_test_forget": forget, "output_test_retain": retain,
                     "forgets": forgets, "keeps_retain": keeps, "counted": m in c.counted,
                     "output_success": all_true([forgets, keeps])})
    details = rows_frame(rows, ["method", "output_test_forget", "output_test_retain", "forgets",
                            "keeps_retain", "counted", "output_success"])
    is_counted = details["counted"].astype(bool) if len(details) else details.index == ""
    flags = details.loc[is_counted, "output_success"].to_dict()
    shown = details.loc[~is_counted, "output_success"].to_dict()
    ok, bad, open_ = methods_where(flags, True), methods_where(flags, False), methods_where(flags, None)
    verdict = tri_majority(len(ok), len(bad), len(open_))
    if is_missing(orig) or not flags or verdict is None:
        why = ("no original row" if is_missing(orig) else "none of [A]'s baselines was run"
               if not flags else
               f"{label_list(open_)} could not be judged")
        return Verdict("C1", UNDECIDED, f"Not decided: {why}.", details)
    status = status_of(verdict)
    text = (f"{capitalised(status)}: {len(ok)} of {len(flags)} of [A]'s baselines reach <= "
            f"{c.forget_max:.0f}% test-forget accuracy with test-retain accuracy within "
            f"{c.retain_drop_max:.0f} points of the original ({label_list(ok) or 'none'})"
            + (f"; not: {label_list(bad)}" if bad else "")
            + (f"; not judged (missing values): {label_list(open_)}" if open_ else "") + "."
            + (f" Other baselines, shown, not counted: {len(methods_where(shown, True))} of "
               f"{len(shown)} succeed ({label_list(methods_where(shown, True)) or 'none'})."
               if shown else ""))
    return Verdict("C1", status, text, details)
