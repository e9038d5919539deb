"""C5, relearning: fine-tuning on a few images brings the erased class back, faster than for
Retrain.

The headline criterion (:class:`Relearning`) compares how many attack steps each of [A]'s nine
baselines needs to bring the class back to ``level`` percent with Retrain's. Retrain must be
able to relearn for the comparison to mean more than "relearns at all": the attack's learning
rate is calibrated on the validation split for that (:func:`illusion.attacks.calibrate_attack`);
where Retrain still never reaches the level, the verdict says so. The project's earlier test
(each method's mean forget accuracy over the steps more than 10 points above Retrain's, on the
lead's 95% interval, in every attack) is kept as another reading of ours, labelled as such
(:class:`RelearningStronger`): it is stricter in its margin but reads an area under the curve,
not a level crossing, so neither reading implies the other.

The calibration's half-decade grid found no rate at which Retrain relearns and keeps its
retained classes on cpu (issue 34), so C5 is also read as a dose-response
(:class:`RelearningDose`): steps to ``level`` percent against the attack's learning rate on a
tenth-of-a-decade grid, on the validation split, for Retrain and every judged method; where no
rate of that grid lets Retrain relearn while keeping its retained classes, the verdict says so
and judges "relearns where Retrain does not" (another reading, ours).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..catalog import A_BASELINES, method_label
from .logic import (OTHER, PAPER, UNDECIDED, Statement, Verdict, all_true, any_true, capitalised,
                    tri_compare, rows_frame, tri_majority, label_list, is_missing, status_of,
                    truth_value, methods_where)
from .render import criterion

__all__ = ["DOSE_FASTER", "DOSE_WHERE_NOT", "STATEMENT", "Relearning", "RelearningDose",
           "RelearningStronger", "reaches_first", "relearning", "relearning_control",
           "relearning_dose", "relearning_stronger"]

STATEMENT = Statement(
    "C5", "[A], abstract and introduction, paraphrased (its text was not reachable offline "
    "to quote a section)",
    "after unlearning that succeeds at the output, a little fine-tuning is enough to bring the "
    "erased class back: the information was hidden, not removed. [A]'s released code has no "
    "relearning attack; the protocol here is this project's, with Retrain, which never saw "
    "the class, as the reference.")


@criterion("C5")
@dataclass(frozen=True)
class Relearning:
    """C5 as [A] states it (:data:`STATEMENT`). Only methods that forgot at the output
    (forget accuracy before the attack at most ``margin`` points above Retrain's) are judged.
    A judged method *relearns faster than Retrain* in an attack when its forget accuracy
    reaches ``level`` percent at an earlier evaluated step than Retrain's; where Retrain never
    reaches the level within the attack, reaching it at all counts, and ``details`` and the
    text say that Retrain did not relearn measurably there. It relearns faster when it does so
    in every attack that shows forget images (every attack but ``control_attack``). Only
    [A]'s five baselines (``counted``, :data:`illusion.catalog.A_BASELINES`) count: the claim
    holds when more than half of the judged ones relearn faster; other rows (our other
    baselines, EC, +CMF) are judged the same way and shown, not counted. Until issue 34 the
    counted set was all nine baselines the book runs, four of which are ours, not [A]'s."""

    margin: float = 10.0
    level: float = 50.0
    counted: tuple[str, ...] = A_BASELINES
    reference: str = "retrain"
    control_attack: str = "retain images only"


def reaches_first(steps: float, reference_steps: float) -> bool:
    """Whether a model reaching the level in ``steps`` (NaN: never) relearns faster than the
    reference reaching it in ``reference_steps``: fewer steps, or at all where the reference
    never does; never reaching it is never faster."""
    if is_missing(steps):
        return False
    return True if is_missing(reference_steps) else bool(steps < reference_steps)


def relearning(summary: pd.DataFrame, criterion: Relearning = Relearning()) -> Verdict:
    """C5 from :func:`illusion.attacks.relearn_summary`'s table (one cell's, or that of the
    curves averaged over the cells): one row per (``method``, ``attack``) with ``start`` and
    ``steps_to_<level>`` (NaN: never reached). ``details`` per method: ``start``, ``forgot``,
    ``counted``, ``faster`` (``None`` when not judged), the attacks in which it reached the
    level first (``faster_in``) and those in which Retrain never reached it
    (``retrain_never``). ``values``: ``n_faster``, ``retrain_reaches`` (attacks)."""
    c = criterion
    col = f"steps_to_{c.level:g}"
    attacks = summary[summary["attack"] != c.control_attack]
    start = summary.groupby("method", sort=False)["start"].first()
    ref_start = float(start.get(c.reference, float("nan")))
    steps = (attacks.set_index(["method", "attack"])[col] if col in attacks
             else pd.Series(dtype=float))
    names = list(dict.fromkeys(attacks["attack"]))
    ref = {a: steps.get((c.reference, a), float("nan")) for a in names}
    never = [a for a in names if is_missing(ref[a])]
    rows = []
    for m in [m for m in start.index if m != c.reference]:
        forgot = tri_compare(start[m], "<=", ref_start + c.margin)
        per = {}
        for a in names:
            if (m, a) not in steps.index:
                per[a] = None
                continue
            per[a] = reaches_first(steps[(m, a)], ref[a])
        faster = all_true(per.values()) if per else None
        rows.append({"method": m, "start": float(start[m]), "forgot": forgot,
                     "counted": m in c.counted, "faster": faster if forgot else None,
                     "faster_in": ", ".join(a for a, f in per.items() if f is True),
                     "retrain_never": ", ".join(never)})
    details = rows_frame(rows, ["method", "start", "forgot", "counted", "faster", "faster_in",
                            "retrain_never"])
    counted = details[details["counted"].astype(bool)] if len(details) else details
    forgot = counted["forgot"].to_dict() if len(counted) else {}
    judged = counted.loc[methods_where(forgot, True)] if forgot else counted
    flags = judged["faster"].to_dict() if len(judged) else {}
    fast, slow, open_ = methods_where(flags, True), methods_where(flags, False), methods_where(flags, None)
    values = {"n_faster": len(fast), "retrain_reaches": [a for a in names if a not in never]}
    verdict = tri_majority(len(fast), len(slow), len(open_))
    unknown = methods_where(forgot, None)
    extra = _asides(details, "faster", {True: "relearns faster", False: "not faster",
                                        None: "not judged"}, c.margin)
    if is_missing(ref_start) or not len(judged) or verdict is None or unknown or not names:
        why = ("no Retrain reference" if is_missing(ref_start) else
               "no attack with forget images" if not names else
               f"{label_list(unknown)} could not be compared with Retrain" if unknown else
               "no standard method that forgot at the output was run" if not len(judged) else
               f"{label_list(open_)} could not be judged")
        return Verdict("C5", UNDECIDED, f"Not decided: {why}." + extra, details, values=values)
    status = status_of(verdict)
    caveat = ("" if not never else
              f" Retrain never reached {c.level:g}% in "
              + ("any attack" if len(never) == len(names) else ", ".join(never))
              + ", so there 'faster' means relearning the class at all")
    text = (f"{capitalised(status)}: {len(fast)} of {len(judged)} of [A]'s standard methods that "
            f"forgot at the output reach {c.level:g}% forget accuracy in fewer attack steps "
            f"than Retrain in every attack ({label_list(fast) or 'none'})."
            + (f"{caveat}." if caveat else "") + extra)
    return Verdict("C5", status, text, details, values=values)


@criterion("C5")
@dataclass(frozen=True)
class RelearningStronger:
    """C5, **another reading** (ours, not [A]'s statement; the earlier headline): only methods that
    forgot at the output (forget accuracy before the attack at most ``margin`` points above
    Retrain's) are judged. A judged method *relearns faster than Retrain* when, in every
    attack that shows forget images (every attack but ``control_attack``), its forget
    accuracy averaged over the evaluated steps exceeds Retrain's by more than ``margin``
    points. Only [A]'s five baselines (``counted``) count: the claim holds when more than
    half of the judged ones relearn faster. Other rows (our other baselines, EC, +CMF) are
    judged the same way and shown, not counted.

    When the table carries the leads' 95% bootstrap intervals over the test images
    (``gap_low``, :func:`illusion.attacks.relearn_leads`), a lead exceeds the margin
    only when the interval's lower end does; a missing interval leaves the method not
    judged."""

    margin: float = 10.0
    counted: tuple[str, ...] = A_BASELINES
    reference: str = "retrain"
    control_attack: str = "retain images only"


def _asides(details: pd.DataFrame, flag: str, word: dict, margin: float,
            shown_as: str = "Shown, not counted (other baselines, EC, +CMF)") -> str:
    """The sentences after a C5 verdict: the rows shown but not counted, with ``word`` of
    their ``flag``, and the methods not judged because they had not forgotten."""
    not_forgotten = [m for m in details.index if truth_value(details.loc[m, "forgot"]) is False]
    shown = details[~details["counted"].astype(bool)] if len(details) else details
    return ((f" {shown_as}: " + ", ".join(
        f"{method_label(m)} ({word[truth_value(v)]})" for m, v in shown[flag].items())
        + ".") if len(shown) else "") + (
        f" Not judged, forget accuracy already above Retrain's + {margin:g} before the "
        f"attack: {label_list(not_forgotten)}." if not_forgotten else "")


def relearning_stronger(summary: pd.DataFrame,
                        criterion: RelearningStronger = RelearningStronger()) -> Verdict:
    """C5's other reading (ours) from :func:`illusion.attacks.relearn_summary`'s table (means over
    cells): one row per (``method``, ``attack``) with ``start``, ``mean`` and ``gap``
    (``mean`` minus the reference's). ``details`` per method: ``start``, ``forgot``,
    ``counted``, ``faster`` (``None`` when not judged), mean and smallest ``gap`` over the
    attacks with forget images. ``values``: ``retrain_mean``, ``mean_gap`` and ``max_gap``
    of the judged methods, ``n_faster``."""
    c = criterion
    attacks = summary[summary["attack"] != c.control_attack]
    start = summary.groupby("method", sort=False)["start"].first()
    ref_start = float(start.get(c.reference, float("nan")))
    rows = []
    lead = "gap_low" if "gap_low" in attacks else "gap"  # the interval's lower end, if any
    for m in [m for m in start.index if m != c.reference]:
        gaps = attacks.loc[attacks["method"] == m, "gap"] if "gap" in attacks else pd.Series()
        leads = attacks.loc[attacks["method"] == m, lead] if lead in attacks else pd.Series()
        forgot = tri_compare(start[m], "<=", ref_start + c.margin)
        faster = all_true(tri_compare(g, ">", c.margin) for g in leads) if len(leads) else None
        rows.append({"method": m, "start": float(start[m]), "forgot": forgot,
                     "counted": m in c.counted, "faster": faster if forgot else None,
                     "mean_gap": float(gaps.mean()) if len(gaps) else float("nan"),
                     "min_gap": float(gaps.min()) if len(gaps) else float("nan"),
                     **({"min_gap_low": float(leads.min()) if len(leads) else float("nan")}
                        if lead == "gap_low" else {})})
    details = rows_frame(rows, ["method", "start", "forgot", "counted", "faster", "mean_gap",
                            "min_gap", *(["min_gap_low"] if lead == "gap_low" else [])])
    is_counted = details["counted"].astype(bool)
    counted = details[is_counted]
    forgot = counted["forgot"].to_dict()
    judged = counted.loc[methods_where(forgot, True)]
    flags = judged["faster"].to_dict()
    faster, slower, open_ = methods_where(flags, True), methods_where(flags, False), methods_where(flags, None)
    ref_mean = float(attacks.loc[attacks["method"] == c.reference, "mean"].mean())
    values = {"retrain_mean": ref_mean,
              "mean_gap": float(judged["mean_gap"].mean()) if len(judged) else float("nan"),
              "max_gap": float(attacks.loc[attacks["method"].isin(judged.index), "gap"].max())
              if len(judged) else float("nan"), "n_faster": len(faster)}
    extra = _asides(details, "faster", {True: "relearns faster", False: "not faster",
                                        None: "not judged"}, c.margin, "Shown, not counted")
    verdict = tri_majority(len(faster), len(slower), len(open_))
    unknown = methods_where(forgot, None)  # counted methods whose start could not be compared
    if is_missing(ref_start) or judged.empty or verdict is None or unknown:
        why = ("no Retrain reference" if is_missing(ref_start) else
               f"{label_list(unknown)} could not be compared with Retrain" if unknown else
               "no standard method that forgot at the output was run" if judged.empty else
               f"{label_list(open_)} could not be judged")
        return Verdict("C5", UNDECIDED, f"Not decided: {why}." + extra, details, values=values,
                       reading=OTHER)
    status = status_of(verdict)
    text = (f"{capitalised(status)}: {len(faster)} of {len(judged)} of [A]'s standard methods that "
            f"forgot at the output relearn faster than Retrain in every attack "
            f"({label_list(faster) or 'none'}). Retrain's forget accuracy averages "
            f"{ref_mean:.1f}% over the attacks; the judged methods' lead over it averages "
            f"{values['mean_gap']:.1f} points (largest {values['max_gap']:.1f})."
            + (" A lead counts when its 95% interval's lower end clears the margin."
               if lead == "gap_low" else "") + extra)
    return Verdict("C5", status, text, details, values=values, reading=OTHER)


def relearning_control(summary: pd.DataFrame, verdict: Verdict,
                       criterion: Relearning | RelearningStronger = Relearning()
                       ) -> tuple[str, float]:
    """The retain-only control of C5, read beside its verdict: ``(text, highest mean forget
    accuracy)`` of the methods that forgot at the output under ``control_attack`` (NaN and
    "No retain-only control was judged." when there are none), with Retrain's for reference."""
    c = criterion
    forgot = [m for m, f in verdict.details["forgot"].items() if f is True]
    control = summary[(summary["attack"] == c.control_attack) & summary["method"].isin(forgot)]
    if control.empty:
        return "No retain-only control was judged.", float("nan")
    ref = summary.set_index(["method", "attack"])["mean"].get((c.reference, c.control_attack),
                                                              float("nan"))
    top = control.loc[control["mean"].idxmax()]
    return (f"Fine-tuning on retain images alone brings the class back to at most "
            f"{top['mean']:.1f}% on average over the steps ({method_label(top['method'])}), "
            f"Retrain to {ref:.1f}%.", float(top["mean"]))


# ------------------------------------------------------------------ the dose-response reading

# The two comparisons :func:`relearning_dose` can make (``values["rule"]``): steps to the level
# against Retrain's where Retrain relearns (the paper's "faster"), or, where it never does while
# keeping its retained classes, relearning at all (another reading, ours).
DOSE_FASTER = "faster"
DOSE_WHERE_NOT = "where Retrain does not"


@criterion("C5")
@dataclass(frozen=True)
class RelearningDose:
    """C5 as a **dose-response** over the attack's learning rate, on the validation split
    (:func:`illusion.attacks.dose_response` at every rate of
    :data:`illusion.attack_config.DOSE_LRS`, a tenth of a decade apart from 1e-3 to 1e-2).
    Written on 2026-12-06, after the cpu calibration table (``tuning/attack_cpu.csv``) had
    been seen: on its half-decade grid Retrain relearned nothing at 1e-3 and lost its
    retained classes at 3e-3 and above (issue 34), so :class:`Relearning`'s "faster than
    Retrain" reduced to "reaches 50% at all". No dose-response had run.

    A model *keeps its retained classes* at a rate when its validation retain accuracy after
    the attack is at most ``retain_tol`` points below its value before it. The *usable*
    rates are those at which Retrain keeps its retained classes. Only methods that forgot at
    the output (validation forget accuracy before the attack at most ``margin`` points above
    Retrain's) are judged; only [A]'s five baselines (``counted``) count, the other rows are
    judged the same way and shown, not counted.

    - **Retrain reaches** ``level`` **percent at some usable rate** (the paper's statement): a
      judged method *relearns faster* when, at every usable rate at which Retrain reaches the
      level, it reaches it in fewer attack steps than Retrain while keeping its own retained
      classes. The claim holds when more than half of the judged counted methods do.
    - **Retrain reaches it at no usable rate**: no rate of the grid lets Retrain relearn
      while keeping its retained classes, so "faster" cannot be read; the verdict says so and
      judges **"relearns where Retrain does not"** (another reading, ours): a method passes
      when it reaches the level, keeping its retained classes, at some usable rate. The claim
      holds when more than half of the judged counted methods do.
    - No usable rate at all, Retrain missing or unknown at some rate, or undecidable methods
      that could tip the majority: not decided."""

    level: float = 50.0
    retain_tol: float = 5.0
    margin: float = 10.0
    counted: tuple[str, ...] = A_BASELINES
    reference: str = "retrain"


def _lrs_text(lrs) -> str:
    return ", ".join(f"{lr:g}" for lr in lrs)


def relearning_dose(doses: pd.DataFrame, criterion: RelearningDose = RelearningDose(),
                    rule: str | None = None) -> Verdict:
    """C5's dose-response verdict (:class:`RelearningDose`) from a table with one row per
    (``method``, ``lr``): ``steps_to_<level>`` (NaN: never reached), and either
    ``start_retain`` and ``final_retain`` (then whether the model keeps its retained classes
    is read at ``criterion.retain_tol``) or ``keeps_retain``; with ``start_forget``, methods
    that did not forget at the output are not judged (without it every method is judged).
    :func:`illusion.attacks.dose_response` of each model, stacked, is such a table, and so is
    :func:`illusion.attacks.dose_summary` of curves averaged over the cells.

    ``rule`` forces the comparison (:data:`DOSE_FASTER` or :data:`DOSE_WHERE_NOT`) instead of
    choosing it from the table, so that every cell of a page is judged by the reading chosen on
    the means (:func:`illusion.claims.across_cells` takes one reading): forced "faster" where
    Retrain reaches the level at no usable rate is not decided; forced "where Retrain does
    not" compares at the usable rates at which Retrain does not reach the level.

    ``details`` per method: ``start``, ``forgot``, ``counted``, ``passes`` (relearns faster,
    or relearns where Retrain does not; ``None`` when not judged) and ``passes_at`` (the
    rates at which it does). ``values``: ``rule``, ``usable``, ``retrain_reaches`` (usable
    rates at which Retrain reaches the level), ``retrain_steps`` there, ``compared`` (the
    rates the rule reads), ``n_pass``, ``n_judged``. The reading is :data:`PAPER` for
    "faster", :data:`OTHER` for "where Retrain does not"."""
    c = criterion
    if rule not in (None, DOSE_FASTER, DOSE_WHERE_NOT):
        raise ValueError(f"relearning_dose: rule must be None, {DOSE_FASTER!r} or "
                         f"{DOSE_WHERE_NOT!r}, not {rule!r}")
    col = f"steps_to_{c.level:g}"
    has = set(doses.columns)
    def keeps(r: dict) -> bool | None:  # final retain at most retain_tol below the start
        if {"start_retain", "final_retain"} <= has:
            if is_missing(r["start_retain"]):
                return None
            return tri_compare(r["final_retain"], ">=", float(r["start_retain"]) - c.retain_tol)
        return truth_value(r.get("keeps_retain"))

    rows_of = {}
    for r in doses.to_dict("records"):
        key = (r["method"], float(r["lr"]))
        if key in rows_of:
            raise ValueError(f"relearning_dose: two rows for {key} (one cell's table, or "
                             "one of the means, not several stacked)")
        rows_of[key] = {"keeps": keeps(r), "steps": r.get(col, float("nan")),
                        "start": r.get("start_forget", float("nan"))}
    lrs = sorted({lr for _, lr in rows_of})
    methods = list(dict.fromkeys(m for m, _ in rows_of))
    ref = {lr: rows_of[(c.reference, lr)] for lr in lrs if (c.reference, lr) in rows_of}
    usable = [lr for lr in lrs if lr in ref and ref[lr]["keeps"] is True]
    reaches = [lr for lr in usable if not is_missing(ref[lr]["steps"])]
    rule = rule or (DOSE_FASTER if reaches else DOSE_WHERE_NOT)
    reading = PAPER if rule == DOSE_FASTER else OTHER
    compared = reaches if rule == DOSE_FASTER else [lr for lr in usable if lr not in reaches]
    ref_steps = {lr: float(ref[lr]["steps"]) for lr in reaches}

    def start_of(m: str) -> float:
        starts = [rows_of[(m, lr)]["start"] for lr in lrs if (m, lr) in rows_of
                  and not is_missing(rows_of[(m, lr)]["start"])]
        return float(starts[0]) if starts else float("nan")

    checks_start = "start_forget" in has
    ref_start = start_of(c.reference)
    rows = []
    for m in [m for m in methods if m != c.reference]:
        forgot = tri_compare(start_of(m), "<=", ref_start + c.margin) if checks_start else True
        per = {}
        for lr in compared:
            mine = rows_of.get((m, lr))
            if mine is None or mine["keeps"] is None:
                per[lr] = None
            elif mine["keeps"] is False or is_missing(mine["steps"]):
                per[lr] = False
            else:
                per[lr] = (bool(float(mine["steps"]) < ref_steps[lr]) if rule == DOSE_FASTER
                           else True)
        passes = ((all_true(per.values()) if rule == DOSE_FASTER else any_true(per.values()))
                  if compared else (None if rule == DOSE_FASTER else False))
        rows.append({"method": m, "start": start_of(m), "forgot": forgot,
                     "counted": m in c.counted, "passes": passes if forgot else None,
                     "passes_at": _lrs_text(lr for lr, f in per.items() if f is True)})
    details = rows_frame(rows, ["method", "start", "forgot", "counted", "passes", "passes_at"])
    counted = details[details["counted"].astype(bool)] if len(details) else details
    forgot = counted["forgot"].to_dict() if len(counted) else {}
    judged = counted.loc[methods_where(forgot, True)] if forgot else counted
    flags = judged["passes"].to_dict() if len(judged) else {}
    yes, no, open_ = (methods_where(flags, True), methods_where(flags, False),
                      methods_where(flags, None))
    values = {"rule": rule, "usable": usable, "retrain_reaches": reaches,
              "retrain_steps": ref_steps, "compared": compared, "n_pass": len(yes),
              "n_judged": len(judged)}
    verdict = tri_majority(len(yes), len(no), len(open_))
    unknown = methods_where(forgot, None)
    unknown_ref = [lr for lr in lrs if lr not in ref or ref[lr]["keeps"] is None]
    extra = _asides(details, "passes",
                    {True: "relearns faster", False: "not faster", None: "not judged"}
                    if rule == DOSE_FASTER else
                    {True: "relearns", False: "does not relearn", None: "not judged"}, c.margin)
    grid = f"{_lrs_text(lrs[:1])} to {_lrs_text(lrs[-1:])}" if lrs else "none"
    if (not ref or col not in has or not usable or unknown_ref or unknown or not len(judged)
            or verdict is None or (rule == DOSE_FASTER and not reaches)):
        why = ("no Retrain reference" if not ref else
               f"the table has no {col}" if col not in has else
               f"Retrain's retain accuracy is unknown at learning rate(s) "
               f"{_lrs_text(unknown_ref)}" if unknown_ref else
               f"no learning rate of the grid ({grid}) keeps Retrain's retained classes "
               f"within {c.retain_tol:g} points" if not usable else
               f"no learning rate of the grid ({grid}) lets Retrain reach {c.level:g}% while "
               f"keeping its retained classes here, so 'faster than Retrain' (the reading "
               f"chosen on the means) cannot be read"
               if rule == DOSE_FASTER and not reaches else
               f"{label_list(unknown)} could not be compared with Retrain" if unknown else
               "no standard method that forgot at the output was run" if not len(judged) else
               f"{label_list(open_)} could not be judged")
        return Verdict("C5", UNDECIDED, f"Not decided: {why}." + extra, details,
                       values=values, reading=reading)
    status = status_of(verdict)
    if rule == DOSE_FASTER:
        text = (f"{capitalised(status)}: {len(yes)} of {len(judged)} of [A]'s standard methods "
                f"that forgot at the output reach {c.level:g}% validation forget accuracy in "
                f"fewer attack steps than Retrain, keeping their retained classes, at every "
                f"learning rate at which Retrain relearns while keeping its own ("
                + ", ".join(f"{lr:g}: Retrain in {ref_steps[lr]:g} steps" for lr in reaches)
                + f"; grid {grid}) ({label_list(yes) or 'none'}).")
    elif not reaches:
        text = (f"{capitalised(status)}: no learning rate of the grid ({grid}) lets Retrain "
                f"reach {c.level:g}% validation forget accuracy while keeping its retained "
                f"classes (within {c.retain_tol:g} points), so 'faster than Retrain' cannot "
                f"be read and the comparison is 'relearns where Retrain does not' (another "
                f"reading, ours, not the paper's): {len(yes)} of {len(judged)} of [A]'s "
                f"standard methods that forgot at the output reach it, keeping their retained "
                f"classes, at a learning rate at which Retrain keeps its own "
                f"({label_list(yes) or 'none'}).")
    else:
        text = (f"{capitalised(status)}: read as 'relearns where Retrain does not' (another "
                f"reading, ours, the one chosen on the means), at the learning rates at which "
                f"Retrain keeps its retained classes but does not reach {c.level:g}% "
                f"({_lrs_text(compared) or 'none'}; it does at {_lrs_text(reaches)}): "
                f"{len(yes)} of {len(judged)} of [A]'s standard methods that forgot at the "
                f"output reach it there, keeping their retained classes "
                f"({label_list(yes) or 'none'}).")
    return Verdict("C5", status, text + extra, details, values=values, reading=reading)
