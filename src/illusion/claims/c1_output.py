"""C1: standard unlearning methods look successful at the output: forget accuracy about 0,
retain accuracy about the original's.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .logic import (UNDECIDED, Verdict, _all, _cap, _cmp, _frame, _get, _indexed, _majority,
                    _names, _nan, _status, _which)
from .render import criterion

__all__ = ["OutputSuccess", "output_success"]


@criterion("C1")
@dataclass(frozen=True)
class OutputSuccess:
    """C1: a method succeeds *at the output* when its output test-forget accuracy is at most
    ``forget_max`` and its output test-retain accuracy at least the original's minus
    ``retain_drop_max``. The claim holds when more of the judged baselines succeed than not."""

    forget_max: float = 5.0
    retain_drop_max: float = 5.0


def output_success(table: pd.DataFrame, criterion: OutputSuccess = OutputSuccess()) -> Verdict:
    """C1 from a per-method table with ``output_test_forget`` / ``output_test_retain``; every
    row but ``original`` and ``retrain`` is a baseline."""
    c, t = criterion, _indexed(table)
    orig = _get(t, "original", "output_test_retain")
    rows = []
    for m in [m for m in t.index if m not in ("original", "retrain")]:
        forget, retain = _get(t, m, "output_test_forget"), _get(t, m, "output_test_retain")
        forgets = _cmp(forget, "<=", c.forget_max)
        keeps = _cmp(retain, ">=", orig - c.retain_drop_max)
        rows.append({"method": m, "output_test_forget": forget, "output_test_retain": retain,
                     "forgets": forgets, "keeps_retain": keeps,
                     "output_success": _all([forgets, keeps])})
    details = _frame(rows, ["method", "output_test_forget", "output_test_retain", "forgets",
                            "keeps_retain", "output_success"])
    flags = details["output_success"].to_dict()
    ok, bad, open_ = _which(flags, True), _which(flags, False), _which(flags, None)
    verdict = _majority(len(ok), len(bad), len(open_))
    if _nan(orig) or not flags or verdict is None:
        why = ("no original row" if _nan(orig) else "no baseline was run" if not flags else
               f"{_names(open_)} could not be judged")
        return Verdict("C1", UNDECIDED, f"Not decided: {why}.", details)
    status = _status(verdict)
    text = (f"{_cap(status)}: {len(ok)} of {len(flags)} baselines reach <= "
            f"{c.forget_max:.0f}% test-forget accuracy with test-retain accuracy within "
            f"{c.retain_drop_max:.0f} points of the original ({_names(ok) or 'none'})"
            + (f"; not: {_names(bad)}" if bad else "")
            + (f"; not judged (missing values): {_names(open_)}" if open_ else "") + ".")
    return Verdict("C1", status, text, details)
