"""Each claim's criterion pinned on hand-made tables: passing, failing, exactly at a threshold,
NaN or missing rows, empty tables and the "not decided" cases."""

import math

import numpy as np
import pandas as pd
import pytest

from illusion import claims
from illusion.catalog import ForgetSet, cell_label, method_label
from illusion.claims import FAILS, HOLDS, PARTLY, UNDECIDED

NAN = math.nan


def table(rows: dict[str, dict]) -> pd.DataFrame:
    """Per-method table with a ``method`` column, as the notebooks build it."""
    return pd.DataFrame([{"method": m, **v} for m, v in rows.items()])


# ------------------------------------------------------------------------------ C0

def history(nc1=(2.0, 0.1), nc2=(0.8, 0.2), nc3=(0.9, 0.3), nc4=(0.5, 0.995)):
    return pd.DataFrame({"nc1": nc1, "nc2": nc2, "nc3": nc3, "nc4": nc4})


def test_terminal_phase_threshold_inclusive_and_nan():
    assert claims.terminal_phase(99.0).status == HOLDS
    v = claims.terminal_phase(98.99, profile="smoke")
    assert v.status == FAILS and v.text.startswith("Not reached") and "'smoke'" in v.text
    assert claims.terminal_phase(NAN).status == UNDECIDED


def test_near_collapse_checks():
    assert claims.near_collapse(history(), 100.0).status == HOLDS
    # NC1 exactly 0.2 x its first value passes; just above fails
    assert claims.near_collapse(history(nc1=(2.0, 0.4)), 100.0).status == HOLDS
    v = claims.near_collapse(history(nc1=(2.0, 0.41)), 100.0)
    assert v.status == FAILS and "NC1" in v.text
    # NC1 must also be below 1 however large the first epoch was
    assert claims.near_collapse(history(nc1=(10.0, 1.0)), 100.0).status == FAILS
    assert claims.near_collapse(history(nc2=(0.5, 0.5)), 100.0).status == FAILS  # not below
    assert claims.near_collapse(history(nc4=(0.5, 0.99)), 100.0).status == HOLDS
    assert claims.near_collapse(history(nc4=(0.5, 0.989)), 100.0).status == FAILS
    assert claims.near_collapse(history(), 98.0).status == FAILS


def test_near_collapse_undecided_and_failure_wins():
    assert claims.near_collapse(pd.DataFrame(), 100.0).status == UNDECIDED
    assert claims.near_collapse(history(nc3=(0.9, NAN)), 100.0).status == UNDECIDED
    # a failed check decides even when another is NaN
    assert claims.near_collapse(history(nc3=(0.9, NAN)), 50.0).status == FAILS
    v = claims.near_collapse(history(), 100.0)
    assert list(v.details["holds"]) == [True] * 5


# ------------------------------------------------------------------------------ C1

ABCD = claims.OutputSuccess(counted=("a", "b", "c", "d"))  # toy names all count


def c1_rows(**methods):
    rows = {"original": {"output_test_forget": 90.0, "output_test_retain": 90.0},
            "retrain": {"output_test_forget": 0.0, "output_test_retain": 90.0}}
    rows.update({m: {"output_test_forget": f, "output_test_retain": r}
                 for m, (f, r) in methods.items()})
    return table(rows)


def test_output_success_majority_and_thresholds():
    # exactly 5% forget and exactly 5 points of retain drop both pass
    v = claims.output_success(c1_rows(a=(5.0, 85.0), b=(0.0, 90.0), c=(60.0, 90.0)), ABCD)
    assert v.status == HOLDS and "2 of 3" in v.text
    assert v.details.loc["a", "output_success"] is True
    v = claims.output_success(c1_rows(a=(5.01, 90.0), b=(0.0, 84.9)), ABCD)
    assert v.status == FAILS and "0 of 2" in v.text
    # a tie is not a majority
    assert claims.output_success(c1_rows(a=(0.0, 90.0), b=(50.0, 90.0)), ABCD).status == FAILS
    assert "retrain" not in claims.output_success(c1_rows(a=(0.0, 90.0)), ABCD).details.index


def test_output_success_not_decided():
    assert claims.output_success(pd.DataFrame(), ABCD).status == UNDECIDED
    assert claims.output_success(c1_rows(), ABCD).status == UNDECIDED  # no baseline
    no_orig = c1_rows(a=(0.0, 90.0))
    no_orig = no_orig[no_orig["method"] != "original"]
    assert claims.output_success(no_orig, ABCD).status == UNDECIDED
    # one NaN method could tip 1 vs 1 either way ...
    v = claims.output_success(c1_rows(a=(0.0, 90.0), b=(50.0, 90.0), c=(NAN, 90.0)), ABCD)
    assert v.status == UNDECIDED and v.details.loc["c", "output_success"] is None
    # ... but not 3 vs 0
    v = claims.output_success(c1_rows(a=(0.0, 90.0), b=(1.0, 90.0), c=(2.0, 90.0),
                                      d=(NAN, 1.0)), ABCD)
    assert v.status == HOLDS

def test_output_success_counts_as_baselines_only_those_of_a():
    """[A]'s five baselines decide C1; the book's other four are judged and shown, not counted.
    A realistic failing table: [A]'s five keep 20-40% forget accuracy (under-forgetting, as
    at a learning rate too low), while our four reach 0%."""
    from illusion.catalog import A_BASELINES, OTHER_BASELINES

    rows = {m: (30.0, 89.0) for m in A_BASELINES} | {m: (0.0, 89.0) for m in OTHER_BASELINES}
    v = claims.output_success(c1_rows(**rows))
    assert v.status == FAILS and "0 of 5 of [A]'s baselines" in v.text
    assert "Other baselines, shown, not counted: 4 of 4 succeed" in v.text
    assert v.details["counted"].sum() == 5
    holds = claims.output_success(c1_rows(**{m: (0.0, 89.0) for m in A_BASELINES[:3]},
                                          **{m: (30.0, 89.0) for m in A_BASELINES[3:]}))
    assert holds.status == HOLDS and "3 of 5" in holds.text
    only_ours = claims.output_success(c1_rows(**{m: (0.0, 89.0) for m in OTHER_BASELINES}))
    assert only_ours.status == UNDECIDED and "none of [A]'s baselines" in only_ours.text


# ------------------------------------------------------------------------------ C2

def c2_rows(rl=(0.0, 88.0, 95.0), salun=(0.0, 88.0, 95.0), **extra):
    """(output, probe, NCC) test-forget accuracy per method; Retrain 80 / 60, original 90 / 96."""
    rows = {"original": (95.0, 90.0, 96.0), "retrain": (0.0, 80.0, 60.0),
            "random_label": rl, "salun": salun, **extra}
    return table({m: {"output_test_forget": o, "probe_test_forget": p, "ncc_test_forget": n}
                  for m, (o, p, n) in rows.items() if (o, p, n) is not None})


def test_illusion_via_both_probe_ncc_neither():
    v = claims.illusion(c2_rows())
    assert v.status == HOLDS and v.parts == {"probe": HOLDS, "ncc": HOLDS}
    assert "through the probe and NCC" in v.text
    assert v.details.loc["random_label", "illusion_via"] == "both"
    # probe only 4 points above Retrain: the illusion shows through NCC only
    v = claims.illusion(c2_rows(rl=(0.0, 84.0, 95.0)))
    assert v.status == HOLDS and v.parts == {"probe": FAILS, "ncc": HOLDS}
    assert "through NCC only" in v.text and v.details.loc["random_label", "illusion_via"] == "NCC"
    v = claims.illusion(c2_rows(salun=(0.0, 88.0, 62.0)))
    assert v.parts == {"probe": HOLDS, "ncc": FAILS} and "through the probe only" in v.text
    v = claims.illusion(c2_rows(rl=(0.0, 84.0, 95.0), salun=(0.0, 88.0, 62.0)))
    assert v.status == FAILS and "through neither readout" in v.text


def test_illusion_thresholds_exact():
    # exactly 5 points above Retrain (85 vs 80) and exactly 5 below the original (85 vs 90)
    v = claims.illusion(c2_rows(rl=(5.0, 85.0, 55.0), salun=(5.0, 85.0, 55.0)))
    assert v.parts["probe"] == HOLDS and v.parts["ncc"] == FAILS
    # output 5.01% does not look forgotten
    v = claims.illusion(c2_rows(rl=(5.01, 88.0, 95.0)))
    assert v.status == FAILS


def test_illusion_close_to_original_is_checked():
    # far above Retrain but 12 points below the original: not "close to the original"
    rows = c2_rows(rl=(0.0, 88.0, 84.0), salun=(0.0, 88.0, 84.0))
    v = claims.illusion(rows)
    assert v.parts == {"probe": HOLDS, "ncc": FAILS}
    assert v.details.loc["random_label", "ncc_above_retrain"] is True
    assert v.details.loc["random_label", "ncc_close_to_original"] is False
    assert v.details.loc["random_label", "ncc_vs_original"] == pytest.approx(-12.0)
    # above the original is not held against the illusion (one-sided tolerance)
    assert claims.illusion(c2_rows(rl=(0.0, 99.0, 99.0))).parts["probe"] == HOLDS


def test_illusion_not_decided():
    assert claims.illusion(pd.DataFrame()).status == UNDECIDED
    no_salun = c2_rows()
    v = claims.illusion(no_salun[no_salun["method"] != "salun"])
    assert v.status == UNDECIDED and "SalUn not run" in v.text
    no_retrain = c2_rows()
    assert claims.illusion(no_retrain[no_retrain["method"] != "retrain"]).status == UNDECIDED
    v = claims.illusion(c2_rows(rl=(0.0, NAN, 95.0)))
    assert v.parts == {"probe": UNDECIDED, "ncc": HOLDS} and v.status == HOLDS
    assert claims.illusion(c2_rows(rl=(0.0, NAN, 60.0))).status == UNDECIDED


def test_illusion_with_intervals_asks_the_lower_end_to_clear_the_margin():
    rows = c2_rows()  # probe 88 vs Retrain 80: 8 points, NCC 95 vs 60: 35 points
    rows["probe_vs_retrain_low"] = [NAN, NAN, 5.0, 4.9]   # SalUn's interval reaches 4.9
    rows["probe_vs_retrain_high"] = [NAN, NAN, 11.0, 11.0]
    rows["ncc_vs_retrain_low"] = [NAN, NAN, 30.0, 30.0]
    rows["ncc_vs_retrain_high"] = [NAN, NAN, 40.0, 40.0]
    v = claims.illusion(rows)
    assert v.parts == {"probe": FAILS, "ncc": HOLDS}  # the point estimate alone would pass
    assert v.details.loc["random_label", "probe_above_retrain"] is True
    assert v.details.loc["salun", "probe_above_retrain"] is False
    assert v.details.loc["salun", "probe_vs_retrain"] == pytest.approx(8.0)
    assert v.details.loc["salun", "probe_vs_retrain_low"] == pytest.approx(4.9)
    rows.loc[rows["method"] == "salun", "probe_vs_retrain_low"] = NAN  # no interval: open
    assert claims.illusion(rows).parts["probe"] == UNDECIDED


def test_illusion_readout_not_decidable_where_original_and_retrain_are_close():
    """Where the original's readout is less than the margin above Retrain's no model can be
    near the original and above Retrain by the margin: that readout is not decided, whatever
    the methods show, and never counts as a failure (cpu class 0's probe: 83.0 vs 81.9)."""
    close = c2_rows(original=(95.0, 83.0, 96.0), retrain=(0.0, 81.9, 60.0),
                    random_label=(0.0, 70.0, 95.0), salun=(0.0, 70.0, 95.0))
    v = claims.illusion(close)
    assert v.parts == {"probe": UNDECIDED, "ncc": HOLDS} and v.status == HOLDS
    assert v.details.loc["random_label", "probe_decidable"] is False
    assert v.details.loc["random_label", "probe_illusion"] is None  # not a failure
    assert "probe cannot show it here: the original is only 1.1 points above Retrain" in v.text
    # NCC failing and the probe undecidable: the claim is not decided, not refuted
    worse = close.copy()
    worse.loc[worse["method"].isin(["random_label", "salun"]), "ncc_test_forget"] = 61.0
    assert claims.illusion(worse).status == UNDECIDED
    # a method that does not look forgotten fails through the undecidable readout too
    unforgotten = close.copy()
    unforgotten.loc[unforgotten["method"] == "salun", "output_test_forget"] = 60.0
    unforgotten.loc[unforgotten["method"] == "salun", "ncc_test_forget"] = 61.0
    v = claims.illusion(unforgotten)
    assert v.details.loc["salun", "probe_illusion"] is False and v.parts["probe"] == FAILS
    # exactly the margin apart: decidable
    edge = c2_rows(original=(95.0, 85.0, 96.0), retrain=(0.0, 80.0, 60.0),
                   random_label=(0.0, 85.0, 95.0), salun=(0.0, 85.0, 95.0))
    assert claims.illusion(edge).parts["probe"] == HOLDS


# ------------------------------------------------------------------------------ C3

def c3_rows(rl=(0.5, 0.95), salun=(0.5, 0.95), **extra):
    """(duality_forget, cka_test_forget); the original's duality is 0.1, all-image CKA 0.99."""
    rows = {"original": (0.1, 1.0), "retrain": (0.9, 0.3), "random_label": rl, "salun": salun,
            **extra}
    return table({m: {"duality_forget": d, "cka_test_forget": k, "cka_test": 0.99}
                  for m, (d, k) in rows.items()})


def c3_paper(rl=(0.5, 0.15, 90.0, 70.0), salun=(0.5, 0.15, 90.0, 70.0), **extra):
    """(duality_forget, duality_retain, probe_test_forget, ncc_test_forget) per method; the
    original's duality is 0.1 / 0.1, Retrain's readouts 80 / 60."""
    rows = {"original": (0.1, 0.1, 95.0, 97.0), "retrain": (0.9, 0.12, 80.0, 60.0),
            "random_label": rl, "salun": salun, **extra}
    return table({m: {"duality_forget": d, "duality_retain": r, "probe_test_forget": p,
                      "ncc_test_forget": n, "cka_test_forget": 0.5}
                  for m, (d, r, p, n) in rows.items()})


def test_misalignment_is_the_papers_statement():
    v = claims.misalignment(c3_rows_ok := c3_paper())
    assert v.status == HOLDS and v.reading == claims.PAPER
    d = v.details.loc["random_label"]
    assert d["duality_growth"] == pytest.approx(0.4) and d["cka_vs_retrain"] == pytest.approx(0)
    assert d["rotated"] is True and d["discriminative"] is True and d["retain_aligned"] is True
    # features that moved (CKA 0.5) do not fail it: [A] claims discriminative, not unmoved
    assert claims.misalignment_stronger(c3_rows_ok.assign(cka_test=0.99)).status == FAILS


def test_misalignment_each_check_at_its_threshold():
    edge = claims.misalignment(c3_paper(rl=(0.4, 0.2, 80.0, 65.0)))  # growth 0.3, +0.1, +5
    assert edge.status == HOLDS
    for rl, failed in (((0.39, 0.15, 90.0, 70.0), "rotated"),       # the row did not turn
                       ((0.5, 0.21, 90.0, 70.0), "retain_aligned"),  # retained rows moved too
                       ((0.5, 0.15, 84.9, 64.9), "discriminative")):  # no readout above Retrain
        v = claims.misalignment(c3_paper(rl=rl))
        assert v.status == FAILS and v.details.loc["random_label", failed] is False, failed
        assert "RL (" in v.text
    # one readout above Retrain is enough (NCC here), as in C2
    assert claims.misalignment(c3_paper(rl=(0.5, 0.15, 80.0, 90.0))).status == HOLDS


def test_misalignment_readout_that_cannot_separate_original_from_retrain_decides_nothing():
    rows = c3_paper(rl=(0.5, 0.15, 70.0, 70.0), salun=(0.5, 0.15, 70.0, 70.0))
    rows.loc[rows["method"] == "original", "probe_test_forget"] = 83.0  # Retrain: 80
    v = claims.misalignment(rows)  # NCC decides (original 97 vs Retrain 60): above by 10
    assert v.status == HOLDS
    rows.loc[rows["method"].isin(["random_label", "salun"]), "ncc_test_forget"] = 61.0
    assert claims.misalignment(rows).status == UNDECIDED  # NCC fails, the probe cannot decide


def test_misalignment_reads_the_gaps_interval():
    rows = c3_paper().assign(probe_vs_retrain_low=4.9, ncc_vs_retrain_low=4.9)
    v = claims.misalignment(rows)  # point gaps of 10 points, but no lower end clears 5
    assert v.status == FAILS and v.details.loc["salun", "discriminative"] is False
    rows.loc[rows["method"] == "salun", "ncc_vs_retrain_low"] = NAN
    rows.loc[rows["method"] == "random_label", "ncc_vs_retrain_low"] = 6.0
    assert claims.misalignment(rows).status == UNDECIDED  # SalUn's interval is missing


def test_misalignment_not_decided_never_passes():
    assert claims.misalignment(pd.DataFrame()).status == UNDECIDED
    rows = c3_paper()
    assert claims.misalignment(rows[rows["method"] != "retrain"]).status == UNDECIDED
    assert claims.misalignment(rows[rows["method"] != "salun"]).status == UNDECIDED
    assert claims.misalignment(c3_paper(rl=(NAN, 0.15, 90.0, 70.0))).status == UNDECIDED
    # a failed check decides even when another method is open
    assert claims.misalignment(c3_paper(rl=(0.39, 0.15, 90.0, 70.0),
                                        salun=(NAN, 0.1, 90.0, 70.0))).status == FAILS


def test_stronger_misalignment_uses_forget_class_cka():
    v = claims.misalignment_stronger(c3_rows())
    assert v.status == HOLDS and v.reading == claims.STRONGER
    # all-image CKA 0.99 does not save a method whose forget-class features moved
    v = claims.misalignment_stronger(c3_rows(salun=(0.5, 0.89)))
    assert v.status == FAILS and v.details.loc["salun", "stable"] is False
    # exact thresholds: growth 0.3, CKA 0.9
    assert claims.misalignment_stronger(c3_rows(rl=(0.4, 0.9), salun=(0.4, 0.9))).status == HOLDS
    assert claims.misalignment_stronger(c3_rows(rl=(0.39, 0.95))).status == FAILS


def test_stronger_misalignment_not_decided():
    assert claims.misalignment_stronger(pd.DataFrame()).status == UNDECIDED
    assert claims.misalignment_stronger(c3_rows(rl=(0.5, NAN))).status == UNDECIDED
    rows = c3_rows()
    assert claims.misalignment_stronger(rows[rows["method"] != "original"]).status == UNDECIDED
    assert claims.misalignment_stronger(rows[rows["method"] != "salun"]).status == UNDECIDED
    # the old criterion's column would have passed this: the new one is the forget-class CKA
    assert claims.MisalignmentStronger().cka_column == "cka_test_forget"


# ------------------------------------------------------------------------------ C4
# (the headline, claims.classifier_only: tests/test_claims_c4.py)

def flip(below=((0.5, 90.0, 0.0),), above=((2.0, 80.0, 0.0),)):
    return pd.DataFrame([{"c / bound": c, "test retain": r, "test forget": f}
                         for c, r, f in (*below, *above)])


def c4_rows(**methods):
    rows = {"original": (90.0, 90.0, 80.0, 70.0), "retrain": (0.0, 90.0, 60.0, 40.0),
            "prune_row": (0.0, 89.0, 80.0, 70.0), **methods}
    return table({m: {"output_test_forget": f, "output_test_retain": r, "probe_test_forget": p,
                      "ncc_test_forget": n} for m, (f, r, p, n) in rows.items()})


def test_stronger_classifier_only_holds_and_thresholds():
    v = claims.classifier_only_stronger(flip(), 90.0, c4_rows())
    assert v.status == HOLDS and v.parts == {"analytic": HOLDS, "empirical": HOLDS}
    # retain exactly 2 points down below the bound passes; above the bound it must lose more
    assert claims.classifier_only_stronger(flip(below=((0.5, 88.0, 5.0),)), 90.0,
                                           c4_rows()).parts["analytic"] == HOLDS
    assert claims.classifier_only_stronger(flip(above=((2.0, 88.0, 0.0),)), 90.0,
                                           c4_rows()).parts["analytic"] == FAILS
    # probe moved by exactly 0.5 points: still kept; 0.51: not
    ok = c4_rows(nc_flip=(0.0, 90.0, 80.5, 70.0))
    assert claims.classifier_only_stronger(flip(), 90.0, ok).status == HOLDS
    v = claims.classifier_only_stronger(flip(), 90.0, c4_rows(nc_flip=(0.0, 90.0, 80.51, 70.0)))
    assert v.status == PARTLY and v.details.loc["nc_flip", "features_kept"] is False


def test_stronger_classifier_only_fails_and_not_decided():
    bad = c4_rows(prune_row=(10.0, 90.0, 80.0, 70.0))
    v = claims.classifier_only_stronger(flip(below=((0.5, 80.0, 0.0),)), 90.0, bad)
    assert v.status == FAILS
    # one side of the bound never tried: the analytic part is not decided, never a pass
    v = claims.classifier_only_stronger(flip(above=()), 90.0, c4_rows())
    assert v.parts["analytic"] == UNDECIDED and v.status == UNDECIDED
    v = claims.classifier_only_stronger(flip(), 90.0, c4_rows().iloc[:2])  # no classifier-only method
    assert v.status == UNDECIDED and "no classifier-only method" in v.text
    v = claims.classifier_only_stronger(flip(), 90.0, c4_rows(nc_flip=(0.0, 90.0, NAN, 70.0)))
    assert v.parts["empirical"] == UNDECIDED


# ------------------------------------------------------------------------------ C5

def summary(starts: dict, gaps: dict, control="retain images only"):
    """relearn_summary-like table: two forget attacks and the control per method."""
    rows = []
    for m, s in starts.items():
        for attack, gap in zip(("1%", "5%"), gaps.get(m, (0.0, 0.0))):
            rows.append({"method": m, "attack": attack, "start": s, "mean": 20.0 + gap,
                         "gap": gap})
        rows.append({"method": m, "attack": control, "start": s, "mean": 1.0, "gap": 0.0})
    return pd.DataFrame(rows)


def steps_table(starts: dict, steps: dict, control="retain images only"):
    """relearn_summary-like table with steps_to_50 per method and the two forget attacks."""
    rows = []
    for m, s in starts.items():
        for attack, n in zip(("1%", "5%"), steps.get(m, (NAN, NAN))):
            rows.append({"method": m, "attack": attack, "start": s, "steps_to_50": n})
        rows.append({"method": m, "attack": control, "start": s, "steps_to_50": NAN})
    return pd.DataFrame(rows)


def test_relearning_counts_only_the_baselines_of_a():
    """A realistic failing table: [A]'s five baselines relearn no faster than Retrain while
    the book's four other baselines do. Only [A]'s five count, so the headline fails; the
    others are shown."""
    from illusion.catalog import A_BASELINES, OTHER_BASELINES

    starts = {"retrain": 0.0, **{m: 0.0 for m in (*A_BASELINES, *OTHER_BASELINES)}}
    steps = {"retrain": (40.0, 20.0), **{m: (45.0, 25.0) for m in A_BASELINES},
             **{m: (5.0, 5.0) for m in OTHER_BASELINES}}
    v = claims.relearning(steps_table(starts, steps))
    assert v.status == FAILS and "0 of 5 of [A]'s standard methods" in v.text
    assert "Shown, not counted (other baselines, EC, +CMF): " in v.text
    assert all(f"{method_label(m)} (relearns faster)" in v.text for m in OTHER_BASELINES)


def test_relearning_compares_steps_to_the_level_with_retrains():
    starts = {"retrain": 0.0, "random_label": 0.0, "scrub": 0.0, "salun": 0.0, "ec": 0.0}
    steps = {"retrain": (40.0, 20.0), "random_label": (10.0, 5.0), "scrub": (35.0, 20.0),
             "salun": (20.0, 10.0), "ec": (5.0, 5.0)}
    v = claims.relearning(steps_table(starts, steps))
    assert v.reading == claims.PAPER and v.status == HOLDS and "2 of 3" in v.text
    assert v.details.loc["scrub", "faster"] is False  # ties Retrain in the 5% attack
    assert v.details.loc["scrub", "faster_in"] == "1%"
    assert not v.details.loc["ec", "counted"] and v.values["retrain_reaches"] == ["1%", "5%"]
    assert "never reached" not in v.text


def test_relearning_when_retrain_never_reaches_the_level_says_so():
    starts = {"retrain": 0.0, "random_label": 0.0, "scrub": 0.0}
    steps = {"retrain": (NAN, NAN), "random_label": (10.0, 5.0), "scrub": (NAN, NAN)}
    v = claims.relearning(steps_table(starts, steps))
    # reaching the level at all counts where Retrain never does, and the text says so
    assert v.details.loc["random_label", "faster"] is True
    assert v.details.loc["scrub", "faster"] is False and v.status == FAILS  # 1 of 2
    assert "Retrain never reached 50% in any attack, so there 'faster' means relearning" in v.text
    assert v.values["retrain_reaches"] == []
    # a method that never reaches the level where Retrain does is not faster
    steps = {"retrain": (40.0, NAN), "random_label": (NAN, 5.0), "scrub": (30.0, 5.0)}
    v = claims.relearning(steps_table(starts, steps))
    assert v.details.loc["random_label", "faster"] is False
    assert v.details.loc["scrub", "faster"] is True and "never reached 50% in 5%" in v.text


def test_relearning_not_decided_never_passes():
    starts = {"retrain": 0.0, "random_label": 0.0, "scrub": 0.0}
    assert claims.relearning(steps_table({"random_label": 0.0}, {})).status == UNDECIDED
    t = steps_table(starts, {"retrain": (40.0, 20.0), "random_label": (10.0, 5.0),
                             "scrub": (10.0, 5.0)})
    t = t[~((t["method"] == "scrub") & (t["attack"] == "5%"))]  # an attack missing: open
    v = claims.relearning(t)
    # 1 faster, 1 open: it could end 1 of 2 (not more than half) or 2 of 2
    assert v.details.loc["scrub", "faster"] is None and v.status == UNDECIDED
    only_ec = steps_table({"retrain": 0.0, "ec": 0.0}, {"ec": (5.0, 5.0)})
    assert claims.relearning(only_ec).status == UNDECIDED
    # a method that did not forget at the output is not judged
    late = steps_table({"retrain": 0.0, "random_label": 10.01}, {"random_label": (5.0, 5.0)})
    v = claims.relearning(late)
    assert v.details.loc["random_label", "forgot"] is False and "Not judged" in v.text


def test_stronger_relearning_counts_standard_methods_only():
    starts = {"retrain": 0.0, "random_label": 0.0, "scrub": 0.0, "neggrad_plus": 10.0,
              "ec": 0.0, "random_label+cmf": 0.0}
    gaps = {"random_label": (30.0, 20.0), "scrub": (12.0, 10.01), "neggrad_plus": (1.0, 50.0),
            "ec": (0.0, 0.0), "random_label+cmf": (0.0, 0.0)}
    v = claims.relearning_stronger(summary(starts, gaps))
    # RL and SCRUB relearn faster in every attack, NegGrad+ not in the first: 2 of 3
    assert v.status == HOLDS and "2 of 3" in v.text and v.reading == claims.OTHER
    assert "Shown, not counted: EC (not faster), RL+CMF (not faster)" in v.text
    assert not v.details.loc["ec", "counted"] and v.details.loc["ec", "faster"] is False
    # EC and RL+CMF would have tipped the old majority vote (2 of 5); they no longer count
    gaps_tie = {**gaps, "scrub": (10.0, 30.0)}  # exactly the margin: not faster
    v = claims.relearning_stronger(summary(starts, gaps_tie))
    assert v.status == FAILS and "1 of 3" in v.text


def test_stronger_relearning_forgot_threshold_and_not_decided():
    starts = {"retrain": 5.0, "random_label": 15.0, "scrub": 15.01}
    gaps = {"random_label": (30.0, 30.0), "scrub": (30.0, 30.0)}
    v = claims.relearning_stronger(summary(starts, gaps))
    assert v.details.loc["random_label", "forgot"] is True  # exactly Retrain + margin
    assert v.details.loc["scrub", "forgot"] is False and "Not judged" in v.text
    assert v.status == HOLDS and "1 of 1" in v.text
    # only non-standard methods: nothing counted, not decided
    v = claims.relearning_stronger(summary({"retrain": 0.0, "ec": 0.0}, {"ec": (50.0, 50.0)}))
    assert v.status == UNDECIDED and "no standard method" in v.text
    v = claims.relearning_stronger(summary({"random_label": 0.0}, {"random_label": (50.0, 50.0)}))
    assert v.status == UNDECIDED and "no Retrain" in v.text
    v = claims.relearning_stronger(summary({"retrain": 0.0, "scrub": 0.0, "salun": 0.0},
                                           {"scrub": (50.0, NAN), "salun": (50.0, 50.0)}))
    assert v.status == UNDECIDED  # 1 faster, 1 open: could be 1 of 2 or 2 of 2


def test_stronger_relearning_reads_the_lower_end_of_the_leads_interval():
    """With intervals, a lead exceeds the margin only when its lower end does: a point
    estimate above the margin with an interval reaching below it is not faster, and a missing
    interval leaves the method open (never a point-estimate pass)."""
    starts = {"retrain": 0.0, "random_label": 0.0, "scrub": 0.0, "neggrad_plus": 0.0}
    gaps = {"random_label": (30.0, 20.0), "scrub": (30.0, 20.0), "neggrad_plus": (30.0, 20.0)}
    t = summary(starts, gaps)
    lows = {"random_label": 12.0, "scrub": 9.0, "neggrad_plus": 11.0}
    t["gap_low"] = [lows.get(m, 0.0) for m in t["method"]]
    v = claims.relearning_stronger(t)
    assert v.details.loc["scrub", "faster"] is False and v.details.loc["random_label", "faster"]
    assert v.details.loc["scrub", "min_gap_low"] == 9.0 and v.details.loc["scrub", "min_gap"] == 20
    assert v.status == HOLDS and "2 of 3" in v.text and "lower end" in v.text
    t.loc[t["method"] == "random_label", "gap_low"] = 10.0  # exactly the margin: not faster
    assert claims.relearning_stronger(t).status == FAILS
    t.loc[t["method"] == "random_label", "gap_low"] = 12.0
    t.loc[(t["method"] == "random_label") & (t["attack"] == "1%"), "gap_low"] = NAN
    v = claims.relearning_stronger(t)
    assert v.details.loc["random_label", "faster"] is None and v.status == UNDECIDED
    # without the column the point estimates decide, as before
    assert claims.relearning_stronger(summary(starts, gaps)).status == HOLDS


# ------------------------------------------------------------------------------ C6

def c6_rows(variant="+cmf", **cmf):
    """Linear-head rows fixed; ``cmf``: method -> (output forget, output retain, probe, NCC)."""
    rows = {"original": (95.0, 90.0, 90.0, 95.0), "retrain": (0.0, 90.0, 70.0, 50.0)}
    for m in ("random_label", "salun", "neggrad_plus", "scrub", "unsir"):
        rows[m] = (0.0, 89.0, 85.0, 90.0)
    defaults = {"random_label": (80.0, 89.0, 85.0, 90.0), "salun": (80.0, 89.0, 85.0, 90.0),
                "neggrad_plus": (30.0, 88.0, 84.0, 60.0), "scrub": (20.0, 88.0, 65.0, 40.0),
                "unsir": (10.0, 86.0, 60.0, 10.0)}
    for m, v in {**defaults, **cmf}.items():
        if v is not None:
            rows[m + variant] = v
    return table({m: {"output_test_forget": o, "output_test_retain": r, "probe_test_forget": p,
                      "ncc_test_forget": n} for m, (o, r, p, n) in rows.items()})


METHODS = ["random_label", "salun", "neggrad_plus", "scrub", "unsir"]


def test_cmf_representation_needs_the_probe_ncc_reads_the_head():
    """A realistic failing table: with CMF, SCRUB and UNSIR's NCC falls far below Retrain's,
    but their probe stays at the base's (85%). NCC of a CMF model is its head's own prediction,
    so it is shown, not counted, and the headline fails."""
    rows = c6_rows(scrub=(20.0, 88.0, 85.0, 5.0), unsir=(10.0, 86.0, 85.0, 5.0))
    v = claims.cmf_representation(rows, METHODS)
    assert v.status == FAILS
    assert v.details.loc["scrub", "ncc_moved"] is True and v.details.loc["scrub", "moved"] is False
    assert "NCC on a CMF model reads its own head (its class means): shown, not counted." in v.text
    both = claims.CMFRepresentation(counted_readouts=("probe", "ncc"))
    assert claims.cmf_representation(rows, METHODS, both).status == HOLDS  # the old rule
    at_a = claims.cmf_representation(c6_rows("+cmf@A"), METHODS, variant="+cmf@A")
    assert "the change mixes CMF with a change of learning rate" in at_a.text


def test_cmf_representation_holds_partly_fails():
    v = claims.cmf_representation(c6_rows(), METHODS, setting="tuned")
    assert v.status == HOLDS and v.text.startswith("Holds (tuned).")
    assert "As [A] reports, RL+CMF and SalUn+CMF forgot little" in v.text
    # SCRUB+CMF's probe and NCC fall but stay above Retrain's: not moved for SCRUB
    v = claims.cmf_representation(c6_rows(scrub=(20.0, 88.0, 75.0, 55.0)), METHODS)
    assert v.status == PARTLY and v.details.loc["scrub", "moved"] is False
    # retain accuracy exactly 5 points below the original passes, below that fails
    assert claims.cmf_representation(c6_rows(unsir=(10.0, 85.0, 60.0, 10.0)),
                                     METHODS).status == HOLDS
    v = claims.cmf_representation(c6_rows(unsir=(10.0, 84.9, 60.0, 10.0),
                                          scrub=(20.0, 84.0, 65.0, 40.0)), METHODS)
    assert v.status == FAILS and v.text.startswith("Does not reproduce at this scale")


def test_cmf_representation_margin_and_variant_labels():
    # NCC exactly 1 point below the linear head's counts as moved (RL needs no Retrain check)
    v = claims.cmf_representation(c6_rows(random_label=(80.0, 89.0, 85.0, 89.0)), METHODS)
    assert v.details.loc["random_label", "ncc_moved"] is True
    assert v.details.loc["random_label", "probe_moved"] is False
    v = claims.cmf_representation(c6_rows(variant="+cmf@A"), METHODS, variant="+cmf@A",
                                  setting="[A]'s learning rates")
    assert v.status == HOLDS and "SCRUB+CMF@A" in v.text
    v = claims.cmf_representation(c6_rows(random_label=(20.0, 89.0, 85.0, 80.0),
                                          salun=(10.0, 89.0, 85.0, 80.0)), METHODS)
    assert "Unlike [A], neither RL+CMF nor SalUn+CMF kept much" in v.text
    # lists of three or more read "a, b and c"
    assert ("moved forgetting into the representation (probe) for RL+CMF, SalUn+CMF, NegGrad++CMF, "
            "SCRUB+CMF and UNSIR+CMF;") in claims.cmf_representation(
        c6_rows(random_label=(20.0, 89.0, 10.0, 10.0), salun=(10.0, 89.0, 10.0, 10.0)),
        METHODS).text


def test_cmf_representation_with_intervals_asks_the_upper_ends_to_clear():
    rows = c6_rows()  # SCRUB+CMF: probe 65 (base 85, Retrain 70), NCC 40 (base 90, Retrain 50)
    for col in ("probe_vs_base_high", "ncc_vs_base_high", "probe_vs_retrain_high",
                "ncc_vs_retrain_high"):
        rows[col] = NAN
    scrub = rows["method"] == "scrub+cmf"
    # the NCC's interval against Retrain reaches +0.5: not clearly below Retrain
    rows.loc[scrub, ["probe_vs_base_high", "ncc_vs_base_high"]] = [-15.0, -45.0]
    rows.loc[scrub, ["probe_vs_retrain_high", "ncc_vs_retrain_high"]] = [-2.0, 0.5]
    v = claims.cmf_representation(rows, ["scrub"])
    d = v.details.loc["scrub"]
    assert d["probe_below_retrain"] is True and d["ncc_below_retrain"] is False
    assert d["probe_moved"] is True and d["moved"] is True  # through the probe
    assert d["ncc_vs_retrain"] == pytest.approx(-10.0) and d["ncc_vs_retrain_high"] == 0.5
    # the probe's change interval reaching -0.5 does not clear the 1-point margin
    rows.loc[scrub, "probe_vs_base_high"] = -0.5
    assert claims.cmf_representation(rows, ["scrub"]).details.loc["scrub", "moved"] is False
    # a variant without an interval is not decided
    rows.loc[scrub, ["probe_vs_base_high", "ncc_vs_base_high"]] = NAN
    assert claims.cmf_representation(rows, ["scrub"]).details.loc["scrub", "moved"] is None


def test_cmf_representation_never_reports_a_missing_row_as_a_finding():
    rows = c6_rows()
    rows.loc[rows["method"] == "random_label+cmf", "output_test_forget"] = NAN
    v = claims.cmf_representation(rows, METHODS)
    assert "As [A] reports, SalUn+CMF forgot little" in v.text
    assert "RL+CMF forgot more than [A] reports" not in v.text  # it was not measured
    gone = claims.cmf_representation(rows[~rows["method"].isin(
        ["random_label+cmf", "salun+cmf"])], METHODS)
    assert "No RL / SalUn variant was run" in gone.text


def test_cmf_representation_not_decided():
    assert claims.cmf_representation(pd.DataFrame(), METHODS).status == UNDECIDED
    v = claims.cmf_representation(c6_rows(unsir=None), METHODS)
    assert v.status == UNDECIDED and "UNSIR+CMF could not be judged" in v.text
    v = claims.cmf_representation(c6_rows(), ["random_label", "salun", "scrub"])
    assert v.status == UNDECIDED and "; SCRUB+CMF met the criterion." in v.text
    v = claims.cmf_representation(c6_rows(scrub=(20.0, NAN, 65.0, 40.0)), METHODS)
    assert v.status == UNDECIDED


# ------------------------------------------------------------------------------ C7
# (the headline, claims.depth_forgetting: tests/test_claims_c7.py)

STAGES = ["stem", "stage1", "stage2", "stage3", "stage4"]


def cka(retrain=(1.0, 0.995, 0.95, 0.8, 0.5), base=(1.0, 0.99, 0.95, 0.92, 0.7),
        ec=(1.0, 0.9, 0.8, 0.6, 0.3), plug=(1.0, 0.9, 0.8, 0.6, 0.3)):
    rows = {"retrain": retrain, "ec": ec, "random_label+ec": plug}
    for b in ("random_label", "neggrad_plus", "scrub", "salun"):
        rows[b] = base
    return pd.DataFrame(rows, index=STAGES).T


ACC = {"original": 90.0, "retrain": 90.0, "ec": 88.0, "random_label+ec": 88.0,
       "random_label": 89.0, "neggrad_plus": 89.0, "scrub": 89.0, "salun": 89.0}


def test_stronger_depth_forgetting_holds_and_stages_judged():
    v = claims.depth_forgetting_stronger(cka(), ACC)
    assert v.status == HOLDS and v.values["judged_stages"] == ("stage2", "stage3", "stage4")
    assert "Not judged (Retrain's CKA ≥ 0.99): stem, stage1" in v.text
    # at exactly 0.9 a baseline still forgets superficially; below it, it does not
    at = claims.depth_forgetting_stronger(cka(base=(1.0, 0.99, 0.9, 0.9, 0.7)), ACC)
    assert at.parts["a"] == HOLDS
    assert claims.depth_forgetting_stronger(cka(base=(1.0, 0.99, 0.95, 0.89, 0.7)),
                                            ACC).parts["a"] == FAILS


def test_stronger_depth_forgetting_ec_checks():
    # EC equal to a baseline at one judged stage: not strictly lower
    v = claims.depth_forgetting_stronger(cka(ec=(1.0, 0.9, 0.95, 0.6, 0.3)), ACC)
    assert v.parts["ec"] == FAILS and v.status == PARTLY
    # EC loses retain accuracy beyond the margin
    v = claims.depth_forgetting_stronger(cka(), {**ACC, "random_label+ec": 84.9})
    assert v.parts["random_label+ec"] == FAILS and v.status == PARTLY
    # everything fails
    v = claims.depth_forgetting_stronger(cka(base=(1.0, 0.5, 0.5, 0.5, 0.5)),
                                         {**ACC, "ec": 10.0, "random_label+ec": 10.0})
    assert v.status == FAILS


def _draws(table: pd.DataFrame, spread: dict[str, float]) -> dict:
    """Draws spread evenly +-``spread[m]`` around each CKA (the same offsets for every model:
    paired draws, as from common resamples)."""
    offsets = np.linspace(-1.0, 1.0, 2001)
    return {m: {s: table.loc[m, s] + spread.get(m, 0.0) * offsets for s in table.columns}
            for m in table.index}


def test_stronger_depth_forgetting_with_draws_reads_interval_ends():
    table = cka()
    # paired draws whose differences are exact: the point comparisons stand
    v = claims.depth_forgetting_stronger(table, ACC, draws=_draws(table, {}))
    assert v.status == HOLDS and v.details.loc["scrub", "stage3 low"] == pytest.approx(0.92)
    # a baseline whose CKA interval dips below 0.9 at stage3 (0.92 - 0.03) is not superficial
    spread = {b: 0.03 for b in ("random_label", "neggrad_plus", "scrub")}
    v = claims.depth_forgetting_stronger(table, ACC, draws=_draws(table, spread))
    assert v.parts["a"] == FAILS
    assert v.details.loc["scrub", "stage3 low"] == pytest.approx(0.92 - 0.03 * 0.95, abs=1e-3)
    # EC 0.6 vs baselines 0.92 at stage3: lower unless the difference's interval reaches 0
    wide = _draws(table, {})
    wide["ec"] = {s: table.loc["ec", s] + 0.5 * np.linspace(-1, 1, 2001) for s in STAGES}
    v = claims.depth_forgetting_stronger(table, ACC, draws=wide)
    assert v.parts["ec"] == FAILS and v.parts["random_label+ec"] == HOLDS
    # a model without draws cannot be judged
    missing = _draws(table, {})
    del missing["ec"]
    assert claims.depth_forgetting_stronger(table, ACC, draws=missing).parts["ec"] == UNDECIDED


def test_stronger_depth_forgetting_not_decided_when_no_stage_can_be_judged():
    v = claims.depth_forgetting_stronger(cka(retrain=(1.0, 0.999, 0.995, 0.99, 0.99)), ACC)
    assert v.status == UNDECIDED and "no stage can be judged" in v.text
    v = claims.depth_forgetting_stronger(cka().drop(index="retrain"), ACC)
    assert v.status == UNDECIDED
    assert claims.depth_forgetting_stronger(pd.DataFrame(), ACC).status == UNDECIDED
    # only the last stage judged: (a) has no stage before the last and is not decided
    v = claims.depth_forgetting_stronger(cka(retrain=(1.0, 0.999, 0.995, 0.99, 0.5)), ACC)
    assert v.parts["a"] == UNDECIDED and v.status == UNDECIDED
    # no baseline keeps retain accuracy: EC cannot be compared
    low = {**ACC, **{b: 10.0 for b in ("random_label", "neggrad_plus", "scrub", "salun")}}
    assert claims.depth_forgetting_stronger(cka(), low).parts["ec"] == UNDECIDED


def test_verdict_is_its_text_and_criteria_are_frozen():
    v = claims.output_success(c1_rows(a=(0.0, 90.0)))
    assert str(v) == v.text and v.claim == "C1"
    with pytest.raises(Exception):
        claims.Illusion().retrain_margin = 1.0  # type: ignore[misc]


def test_relearning_control_reads_the_methods_that_forgot():
    control = "retain images only"
    rows = [("retrain", "5% forget", 0.0, 20.0), ("retrain", control, 0.0, 3.0),
            ("random_label", "5% forget", 0.0, 60.0), ("random_label", control, 0.0, 12.5),
            ("grad_ascent", "5% forget", 80.0, 90.0), ("grad_ascent", control, 80.0, 85.0)]
    s = pd.DataFrame(rows, columns=["method", "attack", "start", "mean"])
    s["gap"] = s["mean"] - s["attack"].map({"5% forget": 20.0, control: 3.0})
    v = claims.relearning(s)
    text, top = claims.relearning_control(s, v)
    assert top == 12.5  # grad_ascent did not forget at the output: not read
    assert text == ("Fine-tuning on retain images alone brings the class back to at most "
                    "12.5% on average over the steps (RL), Retrain to 3.0%.")
    none = s[s["attack"] != control]
    text, top = claims.relearning_control(none, claims.relearning(none))
    assert text == "No retain-only control was judged." and math.isnan(top)


def test_criteria_render_as_a_table_of_their_settings():
    from dataclasses import fields

    for criterion in (claims.Illusion(), claims.DepthForgetting(), claims.Relearning()):
        html = criterion._repr_html_()
        assert html.startswith(f"<table><thead><tr><th>{type(criterion).__name__}</th>")
        assert html.count("<tr>") == 1 + len(fields(criterion))
    assert "<td>RL, SalUn</td>" in claims.Illusion()._repr_html_()


# ---------------------------------------------------------------------- across cells

def _v(status: str, claim: str = "C2") -> claims.Verdict:
    return claims.Verdict(claim, status, f"{status.capitalize()}.", parts={"x": status},
                          values={"q": 1})


def test_cell_label():
    assert cell_label(1, (4, 2)) == "{2, 4}, seed 1"
    assert cell_label(0, ForgetSet((0,))) == "{0}, seed 0"
    assert cell_label(2, ForgetSet((8, 4, 2))) == "{2, 4, 8}, seed 2"
    with pytest.raises(TypeError):  # a label is never parsed back into classes
        cell_label(2, "2+4+8")


def test_across_cells_counts_k_of_n_and_names_the_cells_that_disagree():
    per_cell = {"{0}, seed 0": _v(claims.HOLDS), "{1}, seed 0": _v(claims.FAILS),
                "{6}, seed 0": _v(claims.HOLDS), "{0}, seed 1": _v(claims.PARTLY)}
    means = _v(claims.HOLDS)
    v = claims.across_cells(per_cell, means)
    assert v.status == claims.HOLDS and (v.values["k"], v.values["n"]) == (2, 4)
    assert v.values["k_of_n"] == "2/4" and v.values["q"] == 1 and v.parts == means.parts
    assert v.text.startswith("Holds. Cell by cell it holds in 2 of 4 (seed, forget set) cells "
                             "(partly in 1; fails in 1).")
    assert ("holds on the means but not for every cell: it partly holds for {0}, seed 1; "
            "does not hold for {1}, seed 0.") in v.text
    assert list(v.values["cells"].index) == list(per_cell)
    assert v.values["statuses"] == {c: x.status for c, x in per_cell.items()}


def test_across_cells_every_cell_and_the_means_agree():
    v = claims.across_cells({"a": _v(claims.HOLDS), "b": _v(claims.HOLDS)}, _v(claims.HOLDS))
    assert v.text == "Holds. Cell by cell it holds in 2 of 2 (seed, forget set) cells."
    one = claims.across_cells({"a": _v(claims.FAILS)}, _v(claims.FAILS))
    assert one.text == "Does not hold." and one.values["k_of_n"] == "0/1"


def test_across_cells_holding_in_a_cell_but_not_on_the_means_is_said():
    v = claims.across_cells({"a": _v(claims.HOLDS), "b": _v(claims.UNDECIDED)},
                            _v(claims.FAILS))
    assert v.status == claims.FAILS
    assert v.text == ("Does not hold. Cell by cell it holds in 1 of 2 (seed, forget set) cells "
                      "(not decided in 1). It holds for a but not on the means.")


def test_across_cells_of_seeds():
    v = claims.across_cells({"seed 0": _v(claims.HOLDS), "seed 1": _v(claims.FAILS)},
                            _v(claims.HOLDS), unit="seed")
    assert v.text == ("Holds. Seed by seed it holds in 1 of 2 seeds (fails in 1). It holds on "
                      "the means but not for every seed: it does not hold for seed 1.")
    assert v.values["cells"].index.name == "seed"


def test_across_cells_without_means_is_not_decided():
    v = claims.across_cells({"a": _v(claims.HOLDS)})
    assert v.status == claims.UNDECIDED and v.values["on_means"] is None
    assert v.text == "Holds in 1 of 1 (seed, forget set) cell; not judged on the means."


def test_across_cells_bad_inputs():
    with pytest.raises(ValueError, match="no cells"):
        claims.across_cells({})
    with pytest.raises(ValueError, match="different claims"):
        claims.across_cells({"a": _v(claims.HOLDS, "C2"), "b": _v(claims.HOLDS, "C3")})


def test_cmf_ablation_compares_with_the_same_lr_control():
    """``base="@cmf-lr"``: the change is measured against the base method run at the
    variant's learning rates, not against the base method at its own."""
    rows = c6_rows()
    control = {m: (0.0, 85.0, 66.0, 42.0) for m in METHODS}  # the larger step alone forgets
    rows = pd.concat([rows, table({f"{m}@cmf-lr": {
        "output_test_forget": o, "output_test_retain": r, "probe_test_forget": p,
        "ncc_test_forget": n} for m, (o, r, p, n) in control.items()})], ignore_index=True)
    against_base = claims.cmf_representation(rows, METHODS)
    assert against_base.status == HOLDS
    v = claims.cmf_representation(rows, METHODS, base="@cmf-lr")
    # SCRUB+CMF (probe 65, NCC 40) is 1 and 2 points below its control: NCC moved;
    # UNSIR+CMF (60, 10) moved; RL+CMF (85, 90) is above its control: not moved
    assert v.details.loc["scrub", "ncc_change"] == pytest.approx(-2.0)
    assert v.details.loc["scrub", "moved"] is True and v.details.loc["unsir", "moved"] is True
    assert v.details.loc["random_label", "moved"] is False
    assert "each against its base method at the same learning rates" in v.text
    # a control missing: that method is not decided
    v = claims.cmf_representation(rows[rows["method"] != "scrub@cmf-lr"], METHODS,
                                  base="@cmf-lr")
    assert v.status == UNDECIDED and v.details.loc["scrub", "moved"] is None


def test_cmf_change_against_a_collapsed_base_decides_nothing():
    """A control that lost retained accuracy (a base method collapsed by a large step) forgets
    everything through every readout; measured against it, no change can show, so the method
    is not decided rather than failed. Exactly ``retain_drop_max`` below still counts."""
    rows = c6_rows()
    control = {m: (0.0, 85.0, 66.0, 42.0) for m in METHODS}
    control["scrub"] = (0.0, 12.9, 0.8, 2.0)  # SCRUB at SCRUB+CMF's learning rate: collapsed
    rows = pd.concat([rows, table({f"{m}@cmf-lr": {
        "output_test_forget": o, "output_test_retain": r, "probe_test_forget": p,
        "ncc_test_forget": n} for m, (o, r, p, n) in control.items()})], ignore_index=True)
    v = claims.cmf_representation(rows, METHODS, base="@cmf-lr")
    d = v.details
    assert d.loc["scrub", "base_retain_ok"] is False and d.loc["scrub", "moved"] is None
    assert d.loc["unsir", "base_retain_ok"] is True and d.loc["unsir", "moved"] is True
    assert v.status == UNDECIDED
    assert ("SCRUB+CMF could not be judged (SCRUB@CMF-LR lost retained accuracy (output test "
            "retain 12.9%), so it is no base to compare with)") in v.text
    assert "UNSIR+CMF met the criterion" in v.text
    # the original's retain is 90: a control at 85.0 is exactly 5 below and still counts
    assert d.loc["random_label", "base_retain_ok"] is True
    rows.loc[rows["method"] == "unsir@cmf-lr", "output_test_retain"] = 84.9
    assert claims.cmf_representation(rows, METHODS, base="@cmf-lr").details.loc[
        "unsir", "moved"] is None
