"""C6: with a class-mean-feature (CMF) classifier, unlearning removes information from the
representation, not just the output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pandas as pd

from ..catalog import method_label
from .logic import (FAILS, HOLDS, PARTLY, UNDECIDED, Verdict, all_true, any_true, combine_statuses,
                    rows_frame, tri_compare,
                    value_of, by_method, pct_text, series_text, methods_where)
from .render import criterion

__all__ = ["CMFRepresentation", "cmf_representation"]


@criterion("C6")
@dataclass(frozen=True)
class CMFRepresentation:
    """C6: for each base method, *CMF moves forgetting into the representation* when its
    probe test-forget accuracy with CMF (a readout of ``counted_readouts``) lies at least
    ``margin`` points below the same readout without CMF and, for ``below_retrain`` methods
    (SCRUB, UNSIR, where [A] reports it), also below Retrain's. NCC is computed and shown, not
    counted: a CMF model's head *is* its class means, so NCC on its features is (nearly) the
    head's own prediction, output-level forgetting rather than the representation's (issue
    34, 2026-12-06: until then the probe **or** NCC counted, after the cpu verdicts had been
    seen). The claim holds when every ``below_retrain`` method
    passes with output test-retain accuracy within ``retain_drop_max`` points of the
    original's. [A]'s other observation, that the ``little`` methods (RL, SalUn) forget little
    with CMF, is checked as output test-forget accuracy of at least ``little_min``.

    When the table carries the gaps' 95% bootstrap intervals over the test images (the
    variant's row: ``<readout>_vs_base_high`` against its base method and
    ``<readout>_vs_retrain_high`` against Retrain; :func:`illusion.book.judge`), a change
    counts only when the interval's upper end clears the margin, and "below Retrain" only when
    it is below 0.

    The change is measured against a base model that still works: when the base row's output
    test-retain accuracy is more than ``retain_drop_max`` points below the original's (e.g. a
    base method run at a +CMF variant's much larger learning rate, which can collapse the
    network so that every readout forgets everything), the change decides nothing and the
    method is *not decided* (``base_retain_ok`` in ``details``)."""

    margin: float = 1.0
    retain_drop_max: float = 5.0
    little_min: float = 50.0
    counted_readouts: tuple[str, ...] = ("probe",)
    below_retrain: tuple[str, ...] = ("scrub", "unsir")
    little: tuple[str, ...] = ("random_label", "salun")


def cmf_representation(table: pd.DataFrame, methods: Sequence[str],
                       criterion: CMFRepresentation = CMFRepresentation(),
                       variant: str = "+cmf", setting: str = "", base: str = "") -> Verdict:
    """C6 from a per-method table holding, for each base method ``m`` of ``methods``, the rows
    ``m<base>`` (the linear-head model the variant is compared with: ``scrub``, or
    ``scrub@cmf-lr``, the base method at the variant's learning rates) and ``m<variant>``
    (e.g. ``scrub+cmf`` or ``scrub+cmf@A``), plus ``retrain`` and ``original`` (``probe`` /
    ``ncc`` / ``output`` test columns). ``setting`` names the variant's learning rates in the
    text (e.g. "tuned learning rates")."""
    c, t = criterion, by_method(table)
    rows = []
    for m in methods:
        v = f"{m}{variant}"
        row = {"method": m, "base_retain_ok": tri_compare(
            value_of(t, f"{m}{base}", "output_test_retain"), ">=",
            value_of(t, "original", "output_test_retain") - c.retain_drop_max)}
        for r in ("probe", "ncc"):
            col = f"{r}_test_forget"
            row[f"{r}_change"] = value_of(t, v, col) - value_of(t, f"{m}{base}", col)
            row[f"{r}_vs_retrain"] = value_of(t, v, col) - value_of(t, "retrain", col)
            change, below = row[f"{r}_change"], row[f"{r}_vs_retrain"]
            # with the gaps' intervals (illusion.book.judge), their upper ends must clear
            if f"{r}_vs_base_high" in t.columns:
                change = row[f"{r}_change_high"] = value_of(t, v, f"{r}_vs_base_high")
            if f"{r}_vs_retrain_high" in t.columns:
                below = row[f"{r}_vs_retrain_high"] = value_of(t, v, f"{r}_vs_retrain_high")
            row[f"{r}_below_retrain"] = tri_compare(below, "<", 0.0)
            # against a base model that lost retained accuracy, the change decides nothing
            changed = (None if row["base_retain_ok"] is False
                       else tri_compare(change, "<=", -c.margin))
            row[f"{r}_moved"] = all_true([changed] + ([row[f"{r}_below_retrain"]]
                                                  if m in c.below_retrain else []))
        row["moved"] = any_true([row[f"{r}_moved"] for r in c.counted_readouts])
        row["retain_ok"] = tri_compare(value_of(t, v, "output_test_retain"), ">=",
                                value_of(t, "original", "output_test_retain") - c.retain_drop_max)
        row["output_forget"] = value_of(t, v, "output_test_forget")
        rows.append(row)
    details = rows_frame(rows)
    flags = {m: (all_true([details.loc[m, "moved"], details.loc[m, "retain_ok"]])
                 if m in details.index else None) for m in c.below_retrain}
    passed = methods_where(flags, True)
    # RL / SalUn variants with an output accuracy: a missing row or value is "not run"
    little = [m for m in c.little if m in details.index
              and tri_compare(details.loc[m, "output_forget"], ">=", c.little_min) is not None]
    agree = [m for m in little if tri_compare(details.loc[m, "output_forget"], ">=", c.little_min)]
    labels = lambda ms: [method_label(m + variant) for m in ms]  # noqa: E731
    names = lambda ms, empty="none": series_text(labels(ms), empty)  # noqa: E731
    where = f" ({setting})" if setting else ""
    if methods_where(flags, None):
        judged = "".join(f"; {names(ms)} {word}" for ms, word in (
            (passed, "met the criterion"), (methods_where(flags, False), "did not")) if ms)
        lost = [m for m in methods_where(flags, None)
                if m in details.index and details.loc[m, "base_retain_ok"] is False]
        why = "; ".join(
            (["not run or missing values"] if len(lost) < len(methods_where(flags, None)) else [])
            + [f"{method_label(m + base)} lost retained accuracy (output test retain "
               f"{pct_text(value_of(t, m + base, 'output_test_retain'))}), so it is no base to "
               f"compare with" for m in lost])
        return Verdict("C6", UNDECIDED, f"Not decided{where}: "
                       f"{names(methods_where(flags, None))} could not be judged ({why}){judged}.",
                       details)
    status = combine_statuses(list(flags.values()))
    label = {HOLDS: "Holds", PARTLY: "Partly holds",
             FAILS: "Does not reproduce at this scale"}[status]
    ref = {r: value_of(t, "retrain", f"{r}_test_forget") for r in ("probe", "ncc")}
    moved_all = methods_where(details["moved"].to_dict(), True)
    readouts = series_text([r if r == "probe" else r.upper() for r in c.counted_readouts])
    shown = [r.upper() if r == "ncc" else r for r in ("probe", "ncc")
             if r not in c.counted_readouts]
    text = (f"{label}{where}. CMF moved forgetting into the representation ({readouts}) for "
            f"{names(moved_all, 'no method')}"
            + (" (each against its base method at the same learning rates)" if base else
               " (against each base method at the profile's learning rates: the change mixes "
               "CMF with a change of learning rate; the same-rate control is the ablation)"
               if variant.endswith("@A") else "")
            + "; of [A]'s key cases "
            f"({names(c.below_retrain)}), {names(passed)} met the criterion (Retrain's probe /"
            f" NCC test-forget accuracy: {pct_text(ref['probe'])} / {pct_text(ref['ncc'])}). "
            + (f"As [A] reports, {names(agree)} forgot little (output test-forget "
               f"{series_text([pct_text(details.loc[m, 'output_forget']) for m in agree])})"
               if agree else f"Unlike [A], {_none_kept(labels(little))} much of the class"
               if little else "No RL / SalUn variant was run")
            + (f"; {names([m for m in little if m not in agree])} forgot more than [A] "
               f"reports." if agree and len(agree) < len(little) else ".")
            + (f" {series_text(shown)} on a CMF model reads its own head (its class means): "
               f"shown, not counted." if shown else ""))
    return Verdict("C6", status, text, details)


def _none_kept(labels: Sequence[str]) -> str:
    """``X did not keep`` / ``neither X nor Y kept`` / ``none of X, Y and Z kept``."""
    if len(labels) == 1:
        return f"{labels[0]} did not keep"
    if len(labels) == 2:
        return f"neither {labels[0]} nor {labels[1]} kept"
    return f"none of {series_text(labels)} kept"
