"""C2, the illusion: a method that looks forgotten at the output still separates the forget
class in its features (linear probe, nearest class mean), above the Retrain oracle, for RL and
SalUn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import pandas as pd

from .logic import (Verdict, all_true, any_true, capitalised, tri_compare, rows_frame, value_of, by_method, label_list, pct_text, status_of,
                    truth_value, methods_where)
from .render import criterion

__all__ = ["Illusion", "illusion"]


@criterion("C2")
@dataclass(frozen=True)
class Illusion:
    """C2, judged for each readout (linear probe, NCC) separately. A method shows *the
    illusion* through a readout when (i) its output test-forget accuracy is at most
    ``forget_max`` (it looks forgotten), (ii) the readout's test-forget accuracy is at least
    ``retrain_margin`` points above Retrain's (the features still separate the class better
    than a model that never saw it) and (iii) it is at most ``original_tolerance`` points below
    the original's (the claim's "close to the original"). When the table carries the gap's
    95% bootstrap interval over the test images (``<readout>_vs_retrain_low`` / ``_high``,
    :func:`illusion.book.judge`), (ii) asks its lower end to clear the margin, so a gap that
    the test images' sampling could explain does not count; for the probe, fitted several
    times (:data:`illusion.evaluation.PROBE_FITS`), the interval also redraws the fits, so
    neither can a gap that the probe's own training noise could explain.

    Why 5 points for (iii): it is the same distance this book calls "near" everywhere (C1's
    retain drop, (ii)'s margin, both set before any ``cpu`` result); (iii) itself was added
    on 2026-12-01, after the cpu pages had first run. With (ii) it asks the
    readout to sit nearer the original than Retrain sits below it whenever Retrain trails the
    original by more than 10 points. The tolerance is one-sided on purpose: a readout *above*
    the original's recovers the class at least as well as before unlearning, which is the
    illusion, not evidence against it; the signed difference is reported in ``details``.
    The claim holds through a readout when every method of ``key_methods`` ([A]'s cases, RL
    and SalUn) shows the illusion through it.

    A readout can only show the illusion where it separates the original from Retrain: when
    the original's test-forget accuracy through it is less than ``retrain_margin`` points
    above Retrain's, what a readout recovers cannot be told apart from what a model that never
    saw the class recovers, so (ii) and (iii) decide nothing there and the readout is *not
    decided* in that cell (``<readout>_decidable`` in ``details``), unless (i) fails: a method
    that does not look forgotten at the output still does not show the illusion.
    """

    forget_max: float = 5.0
    retrain_margin: float = 5.0
    original_tolerance: float = 5.0
    key_methods: tuple[str, ...] = ("random_label", "salun")
    readouts: tuple[str, ...] = ("probe", "ncc")


_READOUT = {"probe": "probe", "ncc": "NCC"}


def _via(flags: Mapping[str, bool | None]) -> str:
    """Which readouts show it: "probe", "NCC", "both", "neither" or "not decided"."""
    shown = [_READOUT[r] for r in methods_where(flags, True)]
    if shown and len(shown) == len(flags):
        return "both" if len(shown) > 1 else shown[0]
    if shown:
        return " and ".join(shown)
    return "neither" if all(truth_value(f) is False for f in flags.values()) else "not decided"


def illusion(table: pd.DataFrame, criterion: Illusion = Illusion()) -> Verdict:
    """C2 from a per-method table with ``output_test_forget`` and ``<readout>_test_forget``
    for every readout; needs the ``original`` and ``retrain`` rows. ``parts`` holds the
    status through each readout; ``details`` per method: each readout's gap to Retrain and to
    the original, its three checks and ``illusion_via`` (probe / NCC / both / neither)."""
    c, t = criterion, by_method(table)
    # a readout decides only where the original lies at least the margin above Retrain
    decidable = {r: tri_compare(value_of(t, "original", f"{r}_test_forget")
                         - value_of(t, "retrain", f"{r}_test_forget"), ">=", c.retrain_margin)
                 for r in c.readouts}
    rows, per = [], {}
    for m in [m for m in t.index if m not in ("original", "retrain")]:
        row = {"method": m, "output_test_forget": value_of(t, m, "output_test_forget")}
        looks = tri_compare(row["output_test_forget"], "<=", c.forget_max)
        flags = {}
        for r in c.readouts:
            col = f"{r}_test_forget"
            value = value_of(t, m, col)
            row[f"{r}_vs_retrain"] = value - value_of(t, "retrain", col)
            row[f"{r}_vs_original"] = value - value_of(t, "original", col)
            gap = row[f"{r}_vs_retrain"]
            if f"{r}_vs_retrain_low" in t.columns:  # the gap's interval must clear the margin
                gap = row[f"{r}_vs_retrain_low"] = value_of(t, m, f"{r}_vs_retrain_low")
                row[f"{r}_vs_retrain_high"] = value_of(t, m, f"{r}_vs_retrain_high")
            row[f"{r}_above_retrain"] = tri_compare(gap, ">=", c.retrain_margin)
            row[f"{r}_close_to_original"] = tri_compare(row[f"{r}_vs_original"], ">=",
                                                 -c.original_tolerance)
            row[f"{r}_decidable"] = decidable[r]
            shown = all_true([looks, row[f"{r}_above_retrain"], row[f"{r}_close_to_original"]])
            # where the readout cannot separate original from Retrain, (ii) and (iii) decide
            # nothing; a method that does not look forgotten (i) still fails
            flags[r] = row[f"{r}_illusion"] = (shown if decidable[r] is not False
                                               else False if looks is False else None)
        row["illusion_via"] = _via(flags)
        per[m] = flags
        rows.append(row)
    details = rows_frame(rows)
    missing = [m for m in c.key_methods if m not in per]
    holds_via = {r: (None if missing else all_true(per[m][r] for m in c.key_methods))
                 for r in c.readouts}
    parts = {r: status_of(f) for r, f in holds_via.items()}
    status = status_of(any_true(holds_via.values()))
    via = _via(holds_via)
    how = {"both": "through the probe and NCC", "neither": "through neither readout",
           "not decided": "undecided", "probe": "through the probe only"}.get(
        via, f"through {via} only")
    shown = {r: [m for m in per if truth_value(per[m][r]) is True] for r in c.readouts}
    ref = {r: value_of(t, "retrain", f"{r}_test_forget") for r in c.readouts}
    orig = {r: value_of(t, "original", f"{r}_test_forget") for r in c.readouts}
    text = (f"{capitalised(status)} for [A]'s cases ({label_list(c.key_methods)}) {how}"
            + (f" ({label_list(missing)} not run)" if missing else "") + ": illusion "
            + "; ".join(f"via {_READOUT[r]} in {label_list(shown[r]) or 'no method'}"
                        for r in c.readouts)
            + ". Retrain's " + " / ".join(_READOUT[r] for r in c.readouts)
            + " test-forget accuracy: " + " / ".join(pct_text(ref[r]) for r in c.readouts)
            + "; the original's: " + " / ".join(pct_text(orig[r]) for r in c.readouts) + "."
            + "".join(f" The {_READOUT[r]} cannot show it here: the original is only "
                      f"{orig[r] - ref[r]:.1f} points above Retrain (< {c.retrain_margin:g})."
                      for r in c.readouts if decidable[r] is False))
    return Verdict("C2", status, text, details, parts)
