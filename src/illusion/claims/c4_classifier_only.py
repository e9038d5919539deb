"""C4: under neural collapse, changing only the classifier gives about 0 forget accuracy with
retain accuracy kept, while a probe still recovers everything.

[A]'s statement is existential (:data:`STATEMENT`): *some* edit of the head alone reaches
output-level success, and its experiments train the last layer with RL and UNSIR. The
headline criterion (:class:`ClassifierOnly`) asks exactly that; how tight our reconstruction
of the flip bound is, read against the original's measured NC2 / NC3, is reported as a
finding, not judged. The project's earlier test (every c below the bound keeps retain within
2 points, and every head-only method passes, an untuned last-layer NegGrad+ included) is the
labelled stronger reading (:class:`ClassifierOnlyStronger`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .logic import (HOLDS, PARTLY, STRONGER, UNDECIDED, FAILS, Statement, Verdict, all_true,
                    any_true, capitalised, tri_compare, rows_frame, value_of, by_method, label_list, is_missing, status_of, truth_value, methods_where)
from .render import criterion

__all__ = ["STATEMENT", "ClassifierOnly", "ClassifierOnlyStronger", "classifier_only",
           "classifier_only_stronger"]

STATEMENT = Statement(
    "C4", "[A], paraphrased (its text was not reachable offline to quote a section)",
    "under neural collapse, changing only the classifier already gives the output-level "
    "\"success\" of unlearning (forget accuracy about 0, retained accuracy kept), while the "
    "untouched features still reveal the class to a probe; [A] trains only the last layer "
    "with an unlearning loss (RL, UNSIR). The flip of the forget row used in (a) below is this "
    "project's construction of such an edit, not [A]'s.")


def _head_only_rows(t: pd.DataFrame, c) -> list[dict]:
    """Per classifier-only method (every row but the original and Retrain): output-level
    success against the original's retained accuracy and whether its probe and NCC
    test-forget accuracy stayed within ``feature_tol`` points of the original's."""
    o = {k: value_of(t, "original", k) for k in ("output_test_retain", "probe_test_forget",
                                              "ncc_test_forget")}
    rows = []
    for m in [m for m in t.index if m not in ("original", "retrain")]:
        out = all_true([tri_compare(value_of(t, m, "output_test_forget"), "<=", c.forget_max),
                    tri_compare(value_of(t, m, "output_test_retain"), ">=",
                         o["output_test_retain"] - c.retain_drop_max)])
        kept = all_true(tri_compare(abs(value_of(t, m, k) - o[k]), "<=", c.feature_tol)
                    for k in ("probe_test_forget", "ncc_test_forget"))
        rows.append({"method": m, "output_test_forget": value_of(t, m, "output_test_forget"),
                     "output_test_retain": value_of(t, m, "output_test_retain"),
                     "output_success": out, "features_kept": kept,
                     "holds": all_true([out, kept])})
    return rows


@criterion("C4")
@dataclass(frozen=True)
class ClassifierOnly:
    """C4 as [A] states it (:data:`STATEMENT`). (a) *Existence*: some tried flip scale c
    gives at most ``forget_max`` test-forget accuracy with test-retain accuracy within
    ``analytic_retain_tol`` points of the original's. Reported, not judged: the largest tried
    c / bound that keeps retain and the smallest that does not (how tight the reconstructed
    bound is), beside the original's NC2 / NC3. (b) *[A]'s experiments*: every method of
    ``key_methods`` (last-layer RL; last-layer UNSIR at [A]'s classifier-only learning rates,
    head zeroed first as [A]'s scripts do) reaches at most ``forget_max`` output test-forget
    accuracy with test-retain accuracy within ``retain_drop_max`` points of the original's, and its
    probe and NCC test-forget accuracy stay within ``feature_tol`` points of the original's
    (a sanity check: the backbone is frozen, so they hold by construction unless the
    pipeline leaks). Other head-only methods are shown, not counted. Holds when (a) and (b)
    hold."""

    forget_max: float = 5.0
    analytic_retain_tol: float = 2.0
    retain_drop_max: float = 5.0
    feature_tol: float = 0.5
    key_methods: tuple[str, ...] = ("last_layer:random_label", "last_layer:unsir@A")


def classifier_only(flip: pd.DataFrame, original_retain: float, table: pd.DataFrame,
                    criterion: ClassifierOnly = ClassifierOnly(),
                    originals: str = "original") -> Verdict:
    """C4 from the analytic sweep (``flip``: ``c / bound``, ``test retain``, ``test forget``),
    the original's test-retain accuracy on the same features, and the per-method table of the
    classifier-only models (``output_test_*``, ``probe_test_forget``, ``ncc_test_forget``;
    needs the ``original`` row; ``nc2_all`` / ``nc3_all`` of the original are quoted when
    present). ``values``: ``largest_kept`` and ``smallest_lost`` (c / bound)."""
    c, t = criterion, by_method(table)
    floor = original_retain - c.analytic_retain_tol
    tried = [(float(r["c / bound"]), r["test forget"], r["test retain"])
             for _, r in flip.iterrows()]
    existence = (None if not tried or is_missing(original_retain) else
                 any_true(all_true([tri_compare(f, "<=", c.forget_max), tri_compare(r, ">=", floor)])
                      for _, f, r in tried))
    kept = [k for k, _, r in tried if tri_compare(r, ">=", floor) is True]
    lost = [k for k, _, r in tried if tri_compare(r, ">=", floor) is False]
    largest_kept = max(kept) if kept else float("nan")
    smallest_lost = min(lost) if lost else float("nan")
    rows = [{**r, "counted": r["method"] in c.key_methods} for r in _head_only_rows(t, c)]
    details = rows_frame(rows, ["method", "output_test_forget", "output_test_retain", "counted",
                            "output_success", "features_kept", "holds"])
    missing = [m for m in c.key_methods if m not in details.index]
    experiment = (None if missing or not c.key_methods
                  else all_true(details.loc[m, "holds"] for m in c.key_methods))
    flags = [existence, experiment]
    if all(f is True for f in flags):
        status = HOLDS
    elif any(f is False for f in flags):
        status = PARTLY if any(f is True for f in flags) else FAILS
    else:
        status = UNDECIDED
    others = [m for m in details.index if m not in c.key_methods] if rows else []
    meets = {True: "meets it", False: "misses it", None: "not judged"}
    word = {True: "some c gives", False: "no tried c gives",
            None: "not decided whether a c gives"}
    nc = {k: value_of(t, "original", k) for k in ("nc2_all", "nc3_all")}
    text = (f"{capitalised(status)}: (a) on the cached {originals}, {word[existence]} forget "
            f"<= {c.forget_max:g}% with retain within {c.analytic_retain_tol:g} points"
            + (f" (retain kept up to c = {largest_kept:g} x the bound"
               + (f", lost from {smallest_lost:g} x" if not is_missing(smallest_lost) else "")
               + ")" if not is_missing(largest_kept) else "")
            + "; (b) [A]'s experiments, output-level success with the features unchanged: "
            + (f"{label_list(missing)} not run" if missing else ", ".join(
                f"{label_list([m])} {meets[truth_value(details.loc[m, 'holds'])]}"
                for m in c.key_methods))
            + (". Other head-only edits, shown not counted: " + ", ".join(
                f"{label_list([m])} ({meets[truth_value(details.loc[m, 'holds'])]})"
                for m in others) if others else "")
            + (f". Original NC2 / NC3: {nc['nc2_all']:.3f} / {nc['nc3_all']:.3f}"
               if not is_missing(nc["nc2_all"]) and not is_missing(nc["nc3_all"]) else "") + ".")
    return Verdict("C4", status, text, details,
                   {"existence": status_of(existence), "experiment": status_of(experiment)},
                   values={"largest_kept": largest_kept, "smallest_lost": smallest_lost,
                           **nc})


@criterion("C4")
@dataclass(frozen=True)
class ClassifierOnlyStronger:
    """C4, **stronger reading** (ours, not [A]'s statement). (a) Analytic: every flip scale c below
    the bound gives at most ``forget_max`` test-forget accuracy with test-retain accuracy
    within ``analytic_retain_tol`` points of the original, and some c above the bound loses
    more than ``analytic_retain_tol`` points (both sides of the bound must have been tried).
    (b) Empirical: each classifier-only method reaches at most ``forget_max`` output test-
    forget accuracy with test-retain accuracy within ``retain_drop_max`` points of the
    original, while its probe and NCC test-forget accuracy stay within ``feature_tol``
    points of the original's."""

    forget_max: float = 5.0
    analytic_retain_tol: float = 2.0
    retain_drop_max: float = 5.0
    feature_tol: float = 0.5


def classifier_only_stronger(flip: pd.DataFrame, original_retain: float,
                             table: pd.DataFrame,
                             criterion: ClassifierOnlyStronger = ClassifierOnlyStronger(),
                             originals: str = "original") -> Verdict:
    """C4's stronger reading from the analytic sweep (``flip``: columns ``c / bound``, ``test
    retain``, ``test forget``; means over cells), the original's test-retain accuracy on the
    same features, and the per-method table of the classifier-only models
    (``output_test_*``, ``probe_test_forget``, ``ncc_test_forget``; needs the ``original``
    row). ``originals`` names the model(s) the analytic part ran on, for the text."""
    c, t = criterion, by_method(table)
    below, above = flip[flip["c / bound"] < 1], flip[flip["c / bound"] > 1]
    floor = original_retain - c.analytic_retain_tol
    if below.empty or above.empty or is_missing(original_retain):
        analytic = None  # both sides of the bound must have been tried
    else:
        analytic = all_true([all_true(tri_compare(v, "<=", c.forget_max) for v in below["test forget"]),
                         all_true(tri_compare(v, ">=", floor) for v in below["test retain"]),
                         any_true(tri_compare(v, "<", floor) for v in above["test retain"])])
    rows = _head_only_rows(t, c)
    details = rows_frame(rows)
    flags = details["holds"].to_dict() if rows else {}
    empirical = all_true(flags.values()) if rows else None
    if analytic is True and empirical is True:
        status = HOLDS
    elif analytic is False or empirical is False:
        status = PARTLY if analytic is True or methods_where(flags, True) else FAILS
    else:
        status = UNDECIDED
    met, failed = methods_where(flags, True), methods_where(flags, False)
    word = {True: "confirmed", False: "not confirmed", None: "not decided"}[analytic]
    text = (f"{capitalised(status)}: analytic bound {word} on the cached {originals}; "
            f"classifier-only methods meeting both criteria: {label_list(met) or 'none'}"
            + (f"; not: {label_list(failed)}" if failed else "")
            + ("" if rows else " (no classifier-only method was run)") + ".")
    return Verdict("C4", status, text, details,
                   {"analytic": status_of(analytic), "empirical": status_of(empirical)},
                   reading=STRONGER)
