"""C7's headline criterion (claims.depth_forgetting, issue #34) on realistic synthetic tables:
each baseline's moved fraction f = (1 - CKA) / (1 - Retrain's CKA), EC below 1 - ec_margin,
what holds, what fails it, each threshold exactly, the paired intervals and the "not decided"
cases. "CKA < 1" is a check: shown, never counted."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from illusion import claims
from illusion.claims import FAILS, HOLDS, PARTLY, UNDECIDED

NAN = math.nan
STAGES = ["stem", "stage1", "stage2", "stage3", "stage4"]
BASELINES = ("random_label", "neggrad_plus", "scrub", "salun")
# forget-class CKA to the original, cpu-like: Retrain moves from stage1 on (the stem is not
# judged); the baselines stay close (f = 0.1, 0.2, 0.25 at stage1-3); EC and RL+EC go down
RETRAIN = (0.999, 0.90, 0.75, 0.60, 0.50)
NEAR = (1.0, 0.99, 0.95, 0.90, 0.80)
MOVED_80 = (1.0, 0.92, 0.80, 0.68, 0.60)  # 80% of the way to Retrain at stage1-3
EC = (1.0, 0.93, 0.80, 0.70, 0.55)
PLUG = (1.0, 0.92, 0.78, 0.66, 0.50)
ACC = {"original": 90.0, "retrain": 91.0, "ec": 88.0, "random_label+ec": 88.5,
       **{b: 89.0 for b in BASELINES}}
FORGOT = {"ec": 1.0, "random_label+ec": 0.5}


def cka(retrain=RETRAIN, ec=EC, plug=PLUG, **baselines) -> pd.DataFrame:
    """Methods as index, stages as columns; a baseline ``None`` is missing."""
    rows = {"retrain": retrain, "ec": ec, "random_label+ec": plug,
            **{b: baselines.get(b, NEAR) for b in BASELINES}}
    return pd.DataFrame({m: v for m, v in rows.items() if v is not None}, index=STAGES).T


def judge(table=None, acc=ACC, forgot=FORGOT, draws=None, **criterion):
    return claims.depth_forgetting(cka() if table is None else table, acc,
                                   claims.DepthForgetting(**criterion), draws=draws,
                                   forget_acc=forgot)


def paired(table: pd.DataFrame, spread: dict[str, float]) -> dict:
    """Bootstrap-like draws: each CKA +-``spread[m]`` with the same offsets for every model
    (paired, as from common resamples)."""
    offsets = np.linspace(-1.0, 1.0, 2001)
    return {m: {s: table.loc[m, s] + spread.get(m, 0.0) * offsets for s in table.columns}
            for m in table.index}


def test_criterion_states_its_new_constants():
    c = claims.DepthForgetting()
    assert (c.moved_max, c.ec_margin, c.nothing_to_erase) == (0.5, 0.05, 0.99)
    assert "2026-12-06" in claims.DepthForgetting.__doc__
    assert "#34" in claims.DepthForgetting.__doc__


def test_holds_on_a_realistic_table():
    v = judge()
    assert v.status == HOLDS and v.reading == claims.PAPER
    assert v.parts == {"a": HOLDS, "ec": HOLDS, "random_label+ec": HOLDS}
    assert v.values["judged_stages"] == ("stage1", "stage2", "stage3", "stage4")
    assert v.values["moved"]["scrub"] == pytest.approx(0.25)  # its farthest, at stage3
    assert v.details.loc["scrub", "moved stage2"] == pytest.approx(0.2)
    assert v.details.loc["ec", "moved stage3"] == pytest.approx(0.75)
    assert v.text.startswith("Holds: (a) 4 of 4 baselines moved less than 0.5 of the way")
    assert "Shown, not counted (true of any changed model)" in v.text
    assert v.values["checks"] == {"EC's CKA < 1 at every judged stage": "passes",
                                  "RL+EC's CKA < 1 at every judged stage": "passes"}


def test_fails_when_baselines_moved_80_percent_and_ec_stays_at_099():
    """The result that would have failed the headline: baselines that moved 80% of the way
    from the original to Retrain at the intermediate stages, and EC models at CKA 0.99 at
    stage2. Their "CKA < 1" checks pass and do not make it "partly"."""
    table = cka(ec=(1.0, 0.93, 0.99, 0.70, 0.55), plug=(1.0, 0.92, 0.99, 0.66, 0.50),
                **{b: MOVED_80 for b in BASELINES})
    v = judge(table, forgot={"ec": 30.0, "random_label+ec": 20.0})
    assert v.status == FAILS
    assert v.parts == {"a": FAILS, "ec": FAILS, "random_label+ec": FAILS}
    assert set(v.values["checks"].values()) == {"passes"}
    assert v.values["moved"]["scrub"] == pytest.approx(0.8)
    assert v.text.startswith("Does not hold: (a) 0 of 4 baselines")


def test_each_part_fails_alone():
    # three of four baselines moved 80% of the way: (a) fails, EC still holds
    v = judge(cka(**{b: MOVED_80 for b in BASELINES[1:]}))
    assert v.parts == {"a": FAILS, "ec": HOLDS, "random_label+ec": HOLDS}
    assert v.status == PARTLY and "farther: NegGrad+ 0.80" in v.text
    # half of the baselines near is not "more than half"
    assert judge(cka(**{b: MOVED_80 for b in BASELINES[2:]})).parts["a"] == FAILS
    # EC at CKA 0.99 at stage2: not substantially lower (its check CKA < 1 still passes)
    v = judge(cka(ec=(1.0, 0.93, 0.99, 0.70, 0.55)))
    assert v.parts["ec"] == FAILS and v.status == PARTLY
    assert v.details.loc["ec", "cka_below_1 (check)"] is True
    assert v.details.loc["ec", "below_1_minus_margin"] is False
    assert "EC not below 0.95 at every judged stage" in v.text
    # the plug-in above its base RL at stage3
    v = judge(cka(plug=(1.0, 0.92, 0.78, 0.91, 0.50)))
    assert v.parts == {"a": HOLDS, "ec": HOLDS, "random_label+ec": FAILS}
    assert "not below RL's" in v.text
    # EC still names the class at the output, or loses retain beyond the margin
    assert judge(forgot={**FORGOT, "ec": 5.1}).parts["ec"] == FAILS
    assert judge(acc={**ACC, "ec": 84.9}).parts["ec"] == FAILS


def test_thresholds_exactly():
    # f exactly 0.5 = (1 - 0.875) / (1 - 0.75) at stage2 is not below moved_max; a hair
    # closer to the original is
    at = cka(**{b: (1.0, 0.99, 0.875, 0.90, 0.80) for b in BASELINES})
    assert judge(at).values["moved"]["scrub"] == 0.5
    assert judge(at).parts["a"] == FAILS
    assert judge(cka(**{b: (1.0, 0.99, 0.875 + 1e-9, 0.90, 0.80)
                        for b in BASELINES})).parts["a"] == HOLDS
    # EC exactly at 1 - ec_margin = 0.95 at stage1 is not below it
    assert judge(cka(ec=(1.0, 0.95, 0.80, 0.70, 0.55))).parts["ec"] == FAILS
    assert judge(cka(ec=(1.0, 0.9499, 0.80, 0.70, 0.55))).parts["ec"] == HOLDS
    # output forget exactly forget_max, retain exactly retain_margin under the original's
    assert judge(acc={**ACC, "ec": 85.0}, forgot={**FORGOT, "ec": 5.0}).parts["ec"] == HOLDS
    # a stage where Retrain's CKA is exactly nothing_to_erase is not judged
    v = judge(cka(retrain=(0.999, 0.99, 0.75, 0.60, 0.50)))
    assert v.values["judged_stages"] == ("stage2", "stage3", "stage4")


def test_paired_intervals():
    table = cka()
    assert judge(table, draws=paired(table, {})).status == HOLDS
    # a baseline at f = 0.4 at stage3 whose interval's upper end passes 0.5: not near
    table = cka(**{b: (1.0, 0.99, 0.95, 0.84, 0.80) for b in BASELINES})
    assert judge(table).parts["a"] == HOLDS
    wide = paired(table, {})
    for b in BASELINES:
        wide[b]["stage3"] = 0.84 + 0.05 * np.linspace(-1.0, 1.0, 2001)
    v = judge(table, draws=wide)
    assert v.parts["a"] == FAILS and v.values["moved"]["scrub"] == pytest.approx(0.519, abs=1e-3)
    assert "(95% interval's upper end)" in v.text
    # EC at 0.93 at stage1 whose interval reaches above 0.95
    table = cka()
    assert judge(table, draws=paired(table, {"ec": 0.03})).parts["ec"] == FAILS
    # Retrain's draws reaching nothing_to_erase at stage1 (0.90 + 0.095): f is not decided
    table = cka(retrain=(0.999, 0.98, 0.75, 0.60, 0.50))
    assert judge(table, draws=paired(table, {"retrain": 0.01})).parts["a"] == UNDECIDED
    # a model's draws missing
    gone = paired(cka(), {})
    del gone["retrain"]
    assert judge(draws=gone).parts["a"] == UNDECIDED
    gone = paired(cka(), {})
    del gone["random_label"]  # the plug-in's base
    assert judge(draws=gone).parts["random_label+ec"] == UNDECIDED


def test_not_decided_never_passes():
    # no stage where Retrain moved
    v = judge(cka(retrain=(1.0, 0.999, 0.995, 0.99, 0.99)))
    assert v.status == UNDECIDED and "no stage can be judged" in v.text
    assert claims.depth_forgetting(pd.DataFrame(), ACC).status == UNDECIDED
    # only the last stage judged: (a) has no intermediate stage
    v = judge(cka(retrain=(1.0, 0.999, 0.995, 0.99, 0.5)))
    assert v.parts["a"] == UNDECIDED and v.status == UNDECIDED
    # two baselines missing, two near: could tip either way
    assert judge(cka(scrub=None, salun=None)).parts["a"] == UNDECIDED
    # one missing, three near: more than half whatever it would be
    assert judge(cka(salun=None)).parts["a"] == HOLDS
    # a NaN CKA at an intermediate stage
    v = judge(cka(**{b: (1.0, NAN, 0.95, 0.90, 0.80) for b in BASELINES}))
    assert v.parts["a"] == UNDECIDED
    # no output accuracy, or EC not run
    assert judge(forgot=None).parts["ec"] == UNDECIDED
    assert judge(cka(ec=None)).parts["ec"] == UNDECIDED
    # accuracies as Series (as the notebooks pass them) read the same as mappings
    assert judge(acc=pd.Series(ACC), forgot=pd.Series(FORGOT)).status == HOLDS
