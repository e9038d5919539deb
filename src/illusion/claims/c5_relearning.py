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
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..catalog import A_BASELINES, method_label
from .logic import (OTHER, UNDECIDED, Statement, Verdict, all_true, capitalised, tri_compare, rows_frame,
                    tri_majority, label_list, is_missing, status_of, truth_value, methods_where)
from .render import criterion

__all__ = ["STATEMENT", "Relearning", "RelearningStronger", "relearning", "relearning_control",
           "relearning_stronger"]

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
            mine = steps[(m, a)]
            per[a] = (not is_missing(mine)) if is_missing(ref[a]) else (False if is_missing(mine)
                                                            else bool(mine < ref[a]))
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
    not_forgotten = [m for m in details.index if truth_value(details.loc[m, "forgot"]) is False]
    word = {True: "relearns faster", False: "not faster", None: "not judged"}
    shown = details[~details["counted"].astype(bool)] if len(details) else details
    extra = ((" Shown, not counted (other baselines, EC, +CMF): " + ", ".join(
        f"{method_label(m)} ({word[truth_value(v)]})" for m, v in shown["faster"].items())
        + ".") if len(shown) else "") + (
        f" Not judged, forget accuracy already above Retrain's + {c.margin:g} before the "
        f"attack: {label_list(not_forgotten)}." if not_forgotten else "")
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
    word = {True: "relearns faster", False: "not faster", None: "not judged"}
    shown = details[~is_counted]
    not_forgotten = [m for m in details.index if truth_value(details.loc[m, "forgot"]) is False]
    extra = ((" Shown, not counted: " + ", ".join(
        f"{method_label(m)} ({word[truth_value(v)]})" for m, v in shown["faster"].items()) + ".")
        if len(shown) else "") + (
        f" Not judged, forget accuracy already above Retrain's + {c.margin:g} before the "
        f"attack: {label_list(not_forgotten)}." if not_forgotten else "")
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
