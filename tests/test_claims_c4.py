"""C4's headline criterion (claims.classifier_only, issue #34) on realistic synthetic tables:
what holds, what fails it, each threshold exactly, and the "not decided" cases. Only parts
that could fail are counted; what is true by construction is shown as a check."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from illusion import claims
from illusion.claims import FAILS, HOLDS, PARTLY, UNDECIDED

NAN = math.nan
# (output test forget, output test retain, probe test forget, NCC test forget), %: a cpu-like
# CIFAR-10 cell (original near 90%, Retrain forgets at the output and keeps retain)
ROWS = {"original": (90.0, 90.0, 92.0, 90.0), "retrain": (0.0, 91.0, 75.0, 50.0),
        "prune_row": (0.0, 89.5, 92.0, 90.0), "nc_flip": (0.5, 88.0, 92.0, 90.0),
        "last_layer:random_label": (2.0, 88.0, 92.0, 90.0),
        "last_layer:unsir@A": (0.0, 89.0, 92.0, 90.0),
        "last_layer:neggrad_plus": (40.0, 70.0, 92.0, 90.0)}  # untuned: shown, not counted
RL, UNSIR = "last_layer:random_label", "last_layer:unsir@A"


def rows(**changed) -> pd.DataFrame:
    """C4's per-method table as notebook 05 passes it (a ``method`` column); ``None`` drops a
    row."""
    merged = {m: v for m, v in {**ROWS, **changed}.items() if v is not None}
    return pd.DataFrame([{"method": m, "output_test_forget": f, "output_test_retain": r,
                          "probe_test_forget": p, "ncc_test_forget": n}
                         for m, (f, r, p, n) in merged.items()])


def sweep(points=((0.1, 90.0, 0.0), (0.25, 89.0, 0.0), (0.5, 85.0, 0.0), (1.1, 60.0, 0.0))):
    """The analytic flip: (c / bound, test retain, test forget)."""
    return pd.DataFrame([{"c / bound": c, "test retain": r, "test forget": f}
                         for c, r, f in points])


def judge(table=None, flip=None, original_retain=90.0, **criterion):
    return claims.classifier_only(sweep() if flip is None else flip, original_retain,
                                  rows() if table is None else table,
                                  claims.ClassifierOnly(**criterion))


def test_criterion_states_its_new_constants():
    c = claims.ClassifierOnly()
    assert (c.output_margin, c.full_network, c.zeroed_head) == (5.0, ("retrain",), (UNSIR,))
    assert "2026-12-06" in claims.ClassifierOnly.__doc__ and "#34" in claims.ClassifierOnly.__doc__


def test_holds_on_a_realistic_table_with_the_checks_shown_not_counted():
    v = judge()
    assert v.status == HOLDS and v.reading == claims.PAPER
    assert v.parts == {"experiment": HOLDS, "output_match": HOLDS}  # the counted parts only
    assert set(v.values["checks"].values()) == {"passes"}
    assert v.text.startswith("Holds: (b)")
    assert "Shown, not counted (true by construction)" in v.text
    assert "(c) within 5 points of Retrain (the full-network reference this page reads)" in v.text
    assert v.details.loc[RL, "retain_gap"] == pytest.approx(-3.0)
    assert v.details.loc[UNSIR, "forget_built_in"] is True
    # the tightness finding is reported, never judged
    assert v.values["largest_kept"] == 0.25 and v.values["smallest_lost"] == 0.5
    assert "retain kept up to c = 0.25 x the bound, lost from 0.5 x" in v.text


def test_fails_when_a_head_only_edit_loses_15_points_of_retain_while_the_checks_pass():
    """The result that would have failed the headline: LL-UNSIR@A's output retain accuracy 15
    points below Retrain's. The checks (a flip c, the zeroed head's forgetting, the frozen
    features) still pass and do not make it "partly"."""
    v = judge(rows(**{UNSIR: (0.0, 76.0, 92.0, 90.0)}))
    assert v.status == FAILS
    assert v.parts == {"experiment": FAILS, "output_match": FAILS}
    assert set(v.values["checks"].values()) == {"passes"}
    assert v.details.loc[UNSIR, "retain_gap"] == pytest.approx(-15.0)
    assert v.text.startswith("Does not hold:") and "LL-UNSIR@A no (+0.0 / -15.0 points)" in v.text


def test_output_metrics_tell_them_apart_though_retain_is_kept():
    # an undertrained original (retain 84) that Retrain beats by 7 points: the head-only edits
    # keep the original's retain ((b) holds) but read 7 points below a full-network model
    table = rows(original=(88.0, 84.0, 92.0, 90.0), **{RL: (1.0, 84.0, 92.0, 90.0),
                                                      UNSIR: (0.0, 83.0, 92.0, 90.0)})
    v = judge(table, original_retain=84.0)
    assert v.parts == {"experiment": HOLDS, "output_match": FAILS} and v.status == PARTLY


def test_output_margin_is_inclusive():
    # exactly 5 points from Retrain's retain (91) and forget (0): still indistinguishable
    at = judge(rows(**{RL: (5.0, 86.0, 92.0, 90.0)}))
    assert at.details.loc[RL, "output_match"] is True and at.status == HOLDS
    beyond = judge(rows(**{RL: (0.0, 85.9, 92.0, 90.0)}))
    assert beyond.details.loc[RL, "output_match"] is False
    assert beyond.parts["output_match"] == FAILS and beyond.parts["experiment"] == HOLDS
    assert judge(rows(**{RL: (5.1, 88.0, 92.0, 90.0)})).parts == {"experiment": FAILS,
                                                                  "output_match": FAILS}


def test_retain_and_forget_thresholds_of_b():
    # retain exactly 5 points under the original's, forget exactly 5%: LL-RL meets (b)
    assert judge(rows(**{RL: (5.0, 85.0, 92.0, 90.0)})).parts["experiment"] == HOLDS
    assert judge(rows(**{RL: (0.0, 84.9, 92.0, 90.0)})).parts["experiment"] == FAILS


def test_a_built_in_part_is_a_check_and_never_counted():
    # the zeroed head's forget above forget_max: its check fails and is shown; (b) reads
    # only its retain, and (c) compares it with Retrain (forget 1%: 4.5 points apart)
    v = judge(rows(retrain=(1.0, 91.0, 75.0, 50.0), **{UNSIR: (5.5, 89.0, 92.0, 90.0)}))
    assert v.status == HOLDS
    assert v.values["checks"]["LL-UNSIR@A's forget <= 5% (head zeroed, re-learnt without "
                              "the class)"] == "fails"
    # no flip c keeps retain, and the features moved: both checks fail, neither is counted
    v = judge(rows(**{RL: (2.0, 88.0, 92.6, 90.0)}),
              flip=sweep(((0.1, 80.0, 0.0), (1.1, 60.0, 0.0))))
    assert v.status == HOLDS
    checks = v.values["checks"]
    assert checks["(a) a flip c with forget <= 5% and retain within 2 points"] == "fails"
    assert checks["probe / NCC unchanged (frozen backbone)"] == "fails"
    assert "(a) a flip c with forget <= 5% and retain within 2 points: fails" in v.text


def test_other_head_only_edits_are_shown_not_counted():
    v = judge()
    assert v.details.loc["last_layer:neggrad_plus", "counted"] is False
    assert v.details.loc["last_layer:neggrad_plus", "output_match"] is False
    assert "LL-NegGrad+: (b) no, (c) no" in v.text and v.status == HOLDS


def test_not_decided_never_passes():
    # no full-network row: (c) cannot be judged
    v = judge(rows(retrain=None))
    assert v.parts == {"experiment": HOLDS, "output_match": UNDECIDED}
    assert v.status == UNDECIDED
    # a NaN retain: neither part is decided for that method
    v = judge(rows(**{RL: (2.0, NAN, 92.0, 90.0)}))
    assert v.parts == {"experiment": UNDECIDED, "output_match": UNDECIDED}
    # [A]'s experiments not run
    v = judge(rows(**{UNSIR: None}))
    assert v.status == UNDECIDED and "not run (LL-UNSIR@A)" in v.text
    # a failure still decides when another part is not decided
    v = judge(rows(retrain=None, **{RL: (30.0, 88.0, 92.0, 90.0)}))
    assert v.status == FAILS
    # an empty sweep leaves the (a) check not decided, never the headline
    v = judge(flip=sweep(()))
    assert v.status == HOLDS
    assert v.values["checks"]["(a) a flip c with forget <= 5% and retain within 2 points"] == (
        "not decided")
