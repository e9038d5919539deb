"""C4: under neural collapse, changing only the classifier gives about 0 forget accuracy with
retain accuracy kept, while a probe still recovers everything (analytic flip and empirical
classifier-only methods).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .logic import (FAILS, HOLDS, PARTLY, UNDECIDED, Verdict, _all, _any, _cap, _cmp, _frame, _get,
                    _indexed, _names, _nan, _status, _which)
from .render import criterion

__all__ = ["ClassifierOnly", "classifier_only"]


@criterion("C4")
@dataclass(frozen=True)
class ClassifierOnly:
    """C4. (a) Analytic: every flip scale c below the bound gives at most ``forget_max``
    test-forget accuracy with test-retain accuracy within ``analytic_retain_tol`` points of the
    original, and some c above the bound loses more than ``analytic_retain_tol`` points (both
    sides of the bound must have been tried). (b) Empirical: each classifier-only method
    reaches at most ``forget_max`` output test-forget accuracy with test-retain accuracy within
    ``retain_drop_max`` points of the original, while its probe and NCC test-forget accuracy
    stay within ``feature_tol`` points of the original's."""

    forget_max: float = 5.0
    analytic_retain_tol: float = 2.0
    retain_drop_max: float = 5.0
    feature_tol: float = 0.5


def classifier_only(flip: pd.DataFrame, original_retain: float, table: pd.DataFrame,
                    criterion: ClassifierOnly = ClassifierOnly(),
                    originals: str = "original") -> Verdict:
    """C4 from the analytic sweep (``flip``: columns ``c / bound``, ``test retain``,
    ``test forget``; means over cells), the original's test-retain accuracy on the same
    features, and the per-method table of the classifier-only models (``output_test_*``,
    ``probe_test_forget``, ``ncc_test_forget``; needs the ``original`` row). ``originals``
    names the model(s) the analytic part ran on, for the text."""
    c, t = criterion, _indexed(table)
    below, above = flip[flip["c / bound"] < 1], flip[flip["c / bound"] > 1]
    floor = original_retain - c.analytic_retain_tol
    if below.empty or above.empty or _nan(original_retain):
        analytic = None  # both sides of the bound must have been tried
    else:
        analytic = _all([_all(_cmp(v, "<=", c.forget_max) for v in below["test forget"]),
                         _all(_cmp(v, ">=", floor) for v in below["test retain"]),
                         _any(_cmp(v, "<", floor) for v in above["test retain"])])
    o = {k: _get(t, "original", k) for k in ("output_test_retain", "probe_test_forget",
                                              "ncc_test_forget")}
    rows = []
    for m in [m for m in t.index if m not in ("original", "retrain")]:
        out = _all([_cmp(_get(t, m, "output_test_forget"), "<=", c.forget_max),
                    _cmp(_get(t, m, "output_test_retain"), ">=",
                         o["output_test_retain"] - c.retain_drop_max)])
        kept = _all(_cmp(abs(_get(t, m, k) - o[k]), "<=", c.feature_tol)
                    for k in ("probe_test_forget", "ncc_test_forget"))
        rows.append({"method": m, "output_test_forget": _get(t, m, "output_test_forget"),
                     "output_test_retain": _get(t, m, "output_test_retain"),
                     "output_success": out, "features_kept": kept,
                     "holds": _all([out, kept])})
    details = _frame(rows)
    flags = details["holds"].to_dict() if rows else {}
    empirical = _all(flags.values()) if rows else None
    if analytic is True and empirical is True:
        status = HOLDS
    elif analytic is False or empirical is False:
        status = PARTLY if analytic is True or _which(flags, True) else FAILS
    else:
        status = UNDECIDED
    met, failed = _which(flags, True), _which(flags, False)
    word = {True: "confirmed", False: "not confirmed", None: "not decided"}[analytic]
    text = (f"{_cap(status)}: analytic bound {word} on the cached {originals}; "
            f"classifier-only methods meeting both criteria: {_names(met) or 'none'}"
            + (f"; not: {_names(failed)}" if failed else "")
            + ("" if rows else " (no classifier-only method was run)") + ".")
    return Verdict("C4", status, text, details,
                   {"analytic": _status(analytic), "empirical": _status(empirical)})
