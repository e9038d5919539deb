"""Claim C5 as a dose-response: steps to 50% against the attack's learning rate on the
validation split (``illusion.attacks.dose_response``) and its verdict
(``illusion.claims.c5_relearning.relearning_dose``), on the tiny test model and on realistic
hand-made tables (a cpu-like Retrain that relearns nothing at 1e-3 and collapses onto the
forget class from 3.2e-3)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from illusion.attack_config import CALIBRATION_LRS, DOSE_LRS
from illusion.attacks import calibrate_attack, dose_curves, dose_response, dose_summary
from illusion.catalog import A_BASELINES, OTHER_BASELINES, method_label
from illusion.claims import FAILS, HOLDS, OTHER, PAPER, UNDECIDED, across_cells
from illusion.claims.c5_relearning import (DOSE_FASTER, DOSE_WHERE_NOT, RelearningDose,
                                           relearning_dose)
from illusion.pipeline import unlearn_or_load
from illusion.train import TrainConfig

NAN = math.nan
SMALL = dict(steps=6, eval_every=3)  # a short version of the default attack for the tiny model


# ------------------------------------------------------------------------------ the grid

def test_dose_grid_is_a_tenth_of_a_decade_from_the_default_to_1e_2():
    lrs = np.array(DOSE_LRS)
    assert lrs[0] == 1e-3 and lrs[-1] == 1e-2 and len(lrs) == 11
    assert (np.diff(lrs) > 0).all()
    # each step a tenth of a decade, to two significant digits
    assert np.abs(np.log10(lrs[1:] / lrs[:-1]) - 0.1).max() < 0.01
    # fine enough: rates strictly between the calibration's 1e-3 and 3e-3
    assert sum(1e-3 < lr < 3e-3 for lr in DOSE_LRS) >= 4
    assert {1e-3, 1e-2} <= set(DOSE_LRS) & set(CALIBRATION_LRS)  # shared cached curves


# ------------------------------------------------------------------------------ on a model

@pytest.fixture
def retrain(tiny_data, cache):
    cfg = TrainConfig(width=4, per_class=None, epochs=6, batch_size=16, lr=0.05,
                      warmup_epochs=1, val_fraction=0.2, nc_per_class=0)
    return unlearn_or_load(profile="smoke", config=cfg, data=tiny_data, cache=cache,
                           device="cpu", progress=False, forget=[0], method="retrain")


def test_dose_response_shares_the_calibrations_rows_and_curves(retrain, cache):
    """The same per-rate rows as ``calibrate_attack`` (which adds ``chosen`` and ``note`` and
    leaves out ``start_forget``), read from the same cached validation curves."""
    lrs = (1e-3, 0.3, 0.03)
    calib = calibrate_attack(retrain, lrs, seed=0, cache=cache, **SMALL)
    n_curves = len(list(cache.root.glob("relearn/*.pt")))
    assert n_curves == 3
    doses = dose_response(retrain, lrs, seed=0, cache=cache, **SMALL)
    assert len(list(cache.root.glob("relearn/*.pt"))) == n_curves  # no new curve
    assert list(doses.columns) == ["lr", "start_retain", "final_retain", "keeps_retain",
                                   "final_forget", "steps_to_50", "start_forget"]
    assert doses["lr"].tolist() == sorted(lrs)
    pd.testing.assert_frame_equal(doses.drop(columns="start_forget"),
                                  calib.drop(columns=["chosen", "note"]))
    assert (doses["start_forget"] == doses["start_forget"].iloc[0]).all()  # same model


def test_calibration_and_dose_rows_follow_the_curves(retrain, cache):
    """Every column recomputed by hand from ``relearn``'s validation curves; the dose table
    equals ``dose_summary`` of ``dose_curves``, and another level or tolerance only re-reads
    the curves."""
    from dataclasses import replace

    from illusion.attack_config import default_attacks
    from illusion.attacks import relearn

    lrs = (1e-3, 0.3)
    base = list(default_attacks(**SMALL, retain_only_control=False).values())[-1]
    for level, tol in ((50.0, 5.0), (30.0, 100.0)):
        doses = dose_response(retrain, lrs, seed=0, cache=cache, level=level,
                              retain_tol=tol, **SMALL)
        for row in doses.itertuples(index=False):
            curve = relearn(retrain, replace(base, lr=row.lr), 0, cache, split="val")
            after = curve[curve["step"] > 0]
            reached = after.loc[after["forget_acc"] >= level, "step"]
            assert row.start_retain == curve["retain_acc"].iloc[0]
            assert row.final_retain == curve["retain_acc"].iloc[-1]
            assert row.keeps_retain == (row.final_retain >= row.start_retain - tol)
            assert row.final_forget == curve["forget_acc"].iloc[-1]
            assert row.start_forget == curve["forget_acc"].iloc[0]
            steps = getattr(row, f"steps_to_{level:g}")
            assert (math.isnan(steps) and reached.empty) or steps == reached.min()
        curves = dose_curves(retrain, lrs, seed=0, cache=cache, **SMALL)
        assert set(curves["lr"]) == set(lrs) and curves.groupby("lr").size().nunique() == 1
        pd.testing.assert_frame_equal(dose_summary(curves, level, tol), doses)
    assert len(list(cache.root.glob("relearn/*.pt"))) == 2


# ------------------------------------------------------------------------------ curves

def curve_rows(method: str, lr: float, forget: list[float], retain: list[float],
               every: int = 10) -> list[dict]:
    return [{"method": method, "lr": lr, "step": i * every, "forget_acc": f, "retain_acc": r}
            for i, (f, r) in enumerate(zip(forget, retain))]


def test_dose_summary_edges_exact_level_and_exact_tolerance():
    """Reaching exactly the level counts (at an evaluated step after step 0); a retain drop of
    exactly ``retain_tol`` keeps the retained classes, a hair more does not; rows come out in
    the curves' order of first appearance even when their steps are shuffled."""
    rows = (curve_rows("retrain", 2.5e-3, [0, 20, 50.0, 70], [90, 89, 87, 85.0])
            + curve_rows("retrain", 3.2e-3, [0, 60, 90, 100], [90, 60, 30, 84.99])
            + curve_rows("scrub", 2.5e-3, [50.0, 10, 49.99, 40], [90, 90, 90, 90]))
    curves = pd.DataFrame(rows).sample(frac=1.0, random_state=0)
    curves = curves.sort_values(["method", "lr"], kind="stable")  # steps shuffled within
    t = dose_summary(curves).set_index(["method", "lr"])
    assert t.loc[("retrain", 2.5e-3), "steps_to_50"] == 20.0  # exactly 50% at step 20
    assert bool(t.loc[("retrain", 2.5e-3), "keeps_retain"]) is True  # 90 -> 85: exactly 5
    assert bool(t.loc[("retrain", 3.2e-3), "keeps_retain"]) is False  # 90 -> 84.99
    assert t.loc[("retrain", 3.2e-3), "steps_to_50"] == 10.0
    # 50% before the attack is not a crossing; 49.99% later is not the level
    assert math.isnan(t.loc[("scrub", 2.5e-3), "steps_to_50"])
    assert t.loc[("scrub", 2.5e-3), "start_forget"] == 50.0
    strict = dose_summary(curves, retain_tol=4.99).set_index(["method", "lr"])
    assert bool(strict.loc[("retrain", 2.5e-3), "keeps_retain"]) is False
    assert "steps_to_40" in dose_summary(curves, level=40.0)


# ------------------------------------------------------------------------------ the verdict

def profile(reach: float = NAN, steps: float = 35.0, collapse: float = 3.2e-3,
            start: float = 0.0) -> dict:
    """One model's dose table over DOSE_LRS, shaped like the cpu calibration: below ``reach``
    nothing relearned and retain kept (90 -> 89.5); from ``reach`` the level reached in
    ``steps`` with retain kept (90 -> 88); from ``collapse`` the collapse onto the forget
    class (the level in 5 steps, retain 90 -> 10)."""
    out = {}
    for lr in DOSE_LRS:
        if lr >= collapse:
            out[lr] = (5.0, 10.0)
        elif not math.isnan(reach) and lr >= reach:
            out[lr] = (steps, 88.0)
        else:
            out[lr] = (NAN, 89.5)
    return {"start": start, "by_lr": out}


def doses(models: dict[str, dict]) -> pd.DataFrame:
    """A stacked dose table (what ``dose_response`` gives per model), one row per
    (method, lr)."""
    return pd.DataFrame([{"method": m, "lr": lr, "start_forget": p["start"],
                          "start_retain": 90.0, "final_retain": final,
                          "keeps_retain": final >= 90.0 - 5.0, "steps_to_50": steps}
                         for m, p in models.items() for lr, (steps, final) in p["by_lr"].items()])


RETRAIN_RELEARNS = profile(reach=2.5e-3, steps=35.0)  # relearns at 2.5e-3 keeping retain
RETRAIN_NEVER = profile()  # reaches 50% only where it collapses


def test_dose_holds_when_as_baselines_relearn_faster_where_retrain_relearns():
    models = {"retrain": RETRAIN_RELEARNS,
              **{m: profile(reach=1.6e-3, steps=10.0) for m in A_BASELINES},
              **{m: profile(reach=2.5e-3, steps=40.0) for m in OTHER_BASELINES}}
    v = relearning_dose(doses(models))
    assert v.status == HOLDS and v.reading == PAPER and v.text.startswith("Holds: 5 of 5")
    assert v.values["rule"] == DOSE_FASTER
    assert v.values["usable"] == [1e-3, 1.25e-3, 1.6e-3, 2e-3, 2.5e-3]
    assert v.values["retrain_reaches"] == [2.5e-3] and v.values["retrain_steps"] == {2.5e-3: 35.0}
    assert "0.0025: Retrain in 35 steps" in v.text and "grid 0.001 to 0.01" in v.text
    assert v.details.loc["scrub", "passes"] is True and v.details.loc["scrub", "passes_at"] == "0.0025"
    assert "Shown, not counted (other baselines, EC, +CMF): " in v.text
    assert all(f"{method_label(m)} (not faster)" in v.text for m in OTHER_BASELINES)
    assert not v.details.loc["finetune", "counted"]


def test_dose_fails_when_as_baselines_are_slower_or_lose_retain():
    slow = profile(reach=2.5e-3, steps=40.0)
    tie = profile(reach=2.5e-3, steps=35.0)  # as fast as Retrain: not faster
    collapse = profile(collapse=1.6e-3)  # reaches the level only by collapsing
    models = {"retrain": RETRAIN_RELEARNS, "random_label": profile(reach=2e-3, steps=10.0),
              "salun": slow, "neggrad_plus": tie, "scrub": collapse, "unsir": slow}
    v = relearning_dose(doses(models))
    assert v.status == FAILS and v.reading == PAPER and v.text.startswith("Does not hold: 1 of 5")
    assert v.details.loc["neggrad_plus", "passes"] is False
    assert v.details.loc["scrub", "passes"] is False  # fast, but its retain collapsed
    # a majority: 3 of 5 faster holds
    models.update(salun=profile(reach=2e-3, steps=20.0), unsir=profile(reach=2.5e-3, steps=30))
    assert relearning_dose(doses(models)).status == HOLDS


def test_dose_faster_must_hold_at_every_rate_where_retrain_relearns():
    retrain = profile(reach=2e-3, steps=40.0)
    retrain["by_lr"][2.5e-3] = (20.0, 88.0)  # faster at the higher rate
    late = profile(reach=2e-3, steps=30.0)  # 30 < 40 at 2e-3, but 30 > 20 at 2.5e-3
    models = {"retrain": retrain, **{m: late for m in A_BASELINES}}
    v = relearning_dose(doses(models))
    assert v.values["retrain_reaches"] == [2e-3, 2.5e-3]
    assert v.status == FAILS and v.details.loc["scrub", "passes_at"] == "0.002"


def test_dose_where_retrain_never_relearns_keeping_retain_is_the_other_reading():
    models = {"retrain": RETRAIN_NEVER,
              **{m: profile(reach=1.6e-3, steps=20.0) for m in A_BASELINES[:3]},
              **{m: profile(collapse=2e-3) for m in A_BASELINES[3:]}}
    v = relearning_dose(doses(models))
    assert v.reading == OTHER and v.values["rule"] == DOSE_WHERE_NOT
    assert v.status == HOLDS and v.text.startswith("Holds: no learning rate of the grid "
                                                   "(0.001 to 0.01) lets Retrain reach 50%")
    assert "the comparison is 'relearns where Retrain does not'" in v.text
    assert "another reading, ours, not the paper's" in v.text and "3 of 5" in v.text
    assert v.values["retrain_reaches"] == [] and v.values["compared"] == v.values["usable"]
    assert v.details.loc["scrub", "passes"] is False  # relearns only by collapsing
    models.update(neggrad_plus=profile(collapse=2e-3))
    v = relearning_dose(doses(models))
    assert v.status == FAILS and v.text.startswith("Does not hold: no learning rate")


def test_dose_exactly_at_the_retain_tolerance_keeps_it():
    """Retrain's retain falling by exactly ``retain_tol`` at its relearning rate keeps it
    usable (the paper's reading); a hair more leaves no usable rate at which it relearns."""
    faster = {m: profile(reach=1.6e-3, steps=10.0) for m in A_BASELINES}
    edge = profile(reach=2.5e-3, steps=35.0)
    edge["by_lr"][2.5e-3] = (35.0, 85.0)  # 90 -> 85: exactly 5 points
    v = relearning_dose(doses({"retrain": edge, **faster}))
    assert v.values["rule"] == DOSE_FASTER and v.status == HOLDS
    edge["by_lr"][2.5e-3] = (35.0, 84.99)
    v = relearning_dose(doses({"retrain": edge, **faster}))
    assert v.values["rule"] == DOSE_WHERE_NOT and v.reading == OTHER
    # the tolerance is the criterion's: read from start/final retain, not keeps_retain
    v = relearning_dose(doses({"retrain": edge, **faster}), RelearningDose(retain_tol=5.01))
    assert v.values["rule"] == DOSE_FASTER
    # without start/final retain, keeps_retain is read as given
    only_keeps = doses({"retrain": RETRAIN_RELEARNS, **faster}).drop(
        columns=["start_retain", "final_retain"])
    assert relearning_dose(only_keeps).status == HOLDS


def test_dose_exactly_at_the_level_end_to_end_from_curves():
    """From curves (``dose_summary``) to the verdict: Retrain reaching exactly 50% at step 30
    while its retain falls by exactly 5 points relearns there; a method reaching 50% at the
    same step is not faster, one step of evaluation earlier is."""
    def rows(method, lr, forget, retain):
        return curve_rows(method, lr, forget, retain)

    flat = ([0, 0, 0, 0, 0], [90, 90, 90, 90, 90])
    curves = pd.DataFrame(
        rows("retrain", 1e-3, *flat)
        + rows("retrain", 2e-3, [0, 10, 30, 50.0, 60], [90, 89, 88, 86, 85.0])
        + rows("scrub", 1e-3, *flat) + rows("scrub", 2e-3, [0, 10, 30, 50, 70], [90] * 5)
        + rows("salun", 1e-3, *flat) + rows("salun", 2e-3, [0, 10, 50, 60, 70], [90] * 5))
    table = dose_summary(curves)
    v = relearning_dose(table)
    assert v.values["retrain_steps"] == {2e-3: 30.0} and v.reading == PAPER
    assert v.details.loc["scrub", "passes"] is False and v.details.loc["salun", "passes"] is True
    assert v.values["n_judged"] == 2 and v.status == FAILS  # 1 of 2 is not more than half


def test_dose_not_decided_never_passes():
    faster = {m: profile(reach=1.6e-3, steps=10.0) for m in A_BASELINES}
    full = doses({"retrain": RETRAIN_RELEARNS, **faster})
    # no Retrain
    v = relearning_dose(full[full["method"] != "retrain"])
    assert v.status == UNDECIDED and "no Retrain reference" in v.text
    # three rows missing where Retrain relearns (2.5e-3): 2 faster, 3 open, could tip
    gone = full["method"].isin(A_BASELINES[2:]) & (full["lr"] == 2.5e-3)
    v = relearning_dose(full[~gone])
    assert v.status == UNDECIDED and v.details.loc["scrub", "passes"] is None
    assert "could not be judged" in v.text
    # one missing only: 4 faster, 1 open, decided
    assert relearning_dose(full[~(gone & (full["method"] == "unsir"))]).status == HOLDS
    # a counted method's retain unknown at the compared rate: open too
    unknown = full.copy()
    unknown.loc[unknown["method"].isin(A_BASELINES[2:]) & (unknown["lr"] == 2.5e-3),
                "final_retain"] = NAN
    assert relearning_dose(unknown).status == UNDECIDED
    # Retrain's retain unknown at some rate: which rates are usable is unknown
    unknown = full.copy()
    unknown.loc[(unknown["method"] == "retrain") & (unknown["lr"] == 2e-3), "final_retain"] = NAN
    v = relearning_dose(unknown)
    assert v.status == UNDECIDED and "Retrain's retain accuracy is unknown" in v.text
    # Retrain keeps its retained classes at no rate
    broken = doses({"retrain": profile(collapse=1e-3), **faster})
    v = relearning_dose(broken)
    assert v.status == UNDECIDED and "keeps Retrain's retained classes" in v.text
    # a forget start that cannot be compared
    nostart = full.copy()
    nostart.loc[nostart["method"] == "scrub", "start_forget"] = NAN
    v = relearning_dose(nostart)
    assert v.status == UNDECIDED and "could not be compared with Retrain" in v.text
    # no steps column at the criterion's level
    v = relearning_dose(full, RelearningDose(level=60.0))
    assert v.status == UNDECIDED and "no steps_to_60" in v.text
    # only rows that do not count
    v = relearning_dose(doses({"retrain": RETRAIN_RELEARNS, "ec": faster["scrub"]}))
    assert v.status == UNDECIDED and "(relearns faster)" in v.text
    with pytest.raises(ValueError, match="two rows"):
        relearning_dose(pd.concat([full, full]))


def test_dose_judges_only_methods_that_forgot():
    models = {"retrain": RETRAIN_RELEARNS,
              **{m: profile(reach=1.6e-3, steps=10.0) for m in A_BASELINES},
              "unsir": profile(reach=1e-3, steps=5.0, start=10.01)}
    v = relearning_dose(doses(models))
    assert v.details.loc["unsir", "forgot"] is False and v.details.loc["unsir", "passes"] is None
    assert "Not judged, forget accuracy already above Retrain's + 10" in v.text
    assert v.status == HOLDS and v.values["n_judged"] == 4
    models["unsir"] = profile(reach=1.6e-3, steps=10.0, start=10.0)  # exactly the margin
    assert relearning_dose(doses(models)).values["n_judged"] == 5


def test_dose_rule_chosen_on_the_means_judges_every_cell_alike():
    """A page judges each cell by the rule chosen on the means, so that the cells and the
    means share one reading (``across_cells`` refuses two): forced "faster" in a cell where
    Retrain never relearns is not decided; forced "where Retrain does not" in a cell where it
    does relearn compares at the usable rates where it does not."""
    faster = {m: profile(reach=1.6e-3, steps=10.0) for m in A_BASELINES}
    relearns, never = doses({"retrain": RETRAIN_RELEARNS, **faster}), doses(
        {"retrain": RETRAIN_NEVER, **faster})
    v = relearning_dose(never, rule=DOSE_FASTER)
    assert v.status == UNDECIDED and v.reading == PAPER
    assert "'faster than Retrain' (the reading chosen on the means) cannot be read" in v.text
    cells = {"cell 1": relearning_dose(relearns, rule=DOSE_FASTER), "cell 2": v}
    assert across_cells(cells, relearning_dose(relearns)).values["k_of_n"] == "1/2"
    w = relearning_dose(relearns, rule=DOSE_WHERE_NOT)
    assert w.reading == OTHER and w.values["compared"] == [1e-3, 1.25e-3, 1.6e-3, 2e-3]
    assert w.status == HOLDS and w.details.loc["scrub", "passes_at"] == "0.0016, 0.002"
    assert w.text.startswith("Holds: read as 'relearns where Retrain does not'")
    with pytest.raises(ValueError, match="rule must be"):
        relearning_dose(relearns, rule="slower")
