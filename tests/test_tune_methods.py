"""tools/tune_methods.py: the +CMF selection rule and its grid, on made-up scores (no training)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("tune_methods", ROOT / "tools" / "tune_methods.py")
tune = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tune)


def rows(*triples):
    return pd.DataFrame([{"lr": lr, "val_retain": r, "val_forget": f} for lr, r, f in triples])


def test_cmf_rule_trades_forgetting_against_retain():
    table = rows((1e-4, 90.0, 80.0), (3e-4, 89.0, 40.0), (1e-3, 87.5, 20.0), (3e-3, 80.0, 0.0))
    best, ok = tune.choose_cmf(table, ref_retain=90.0, slack=3.0, robust=False)
    assert ok and best["lr"] == 1e-3  # 3e-3 forgets more but loses 10 points of retain
    best, ok = tune.choose_cmf(rows((1e-4, 90.0, 40.0), (3e-4, 89.0, 40.0)), 90.0, robust=False)
    assert ok and best["lr"] == 1e-4  # tie on forget: the higher retain
    best, ok = tune.choose_cmf(rows((1e-4, 80.0, 10.0), (3e-4, 82.0, 50.0)), 90.0)
    assert not ok and best["lr"] == 3e-4  # none within 3 points: the highest retain


def test_robust_rule_keeps_a_step_away_from_a_collapse():
    # SCRUB+CMF's shape: 0.5 keeps retain, 1.58 collapses; the robust choice is 0.158
    table = rows((0.05, 89.8, 36.0), (0.158, 86.4, 32.0), (0.5, 86.2, 30.0), (1.58, 58.9, 46.0))
    assert tune.choose_cmf(table, 87.56, robust=False)[0]["lr"] == 0.5
    best, ok = tune.choose_cmf(table, 87.56)
    assert ok and best["lr"] == 0.158
    # the largest lr run has no known neighbour: never robust, even if it forgets most
    best, ok = tune.choose_cmf(rows((1e-3, 90.0, 50.0), (3e-3, 90.0, 40.0), (1e-2, 90.0, 10.0)),
                               90.0)
    assert ok and best["lr"] == 3e-3
    # order of the rows does not matter
    best, _ = tune.choose_cmf(table.iloc[::-1], 87.56)
    assert best["lr"] == 0.158
    # no robust row (only the top one keeps retain): the plain rule decides
    best, ok = tune.choose_cmf(rows((1e-3, 70.0, 50.0), (3e-3, 90.0, 40.0)), 90.0)
    assert ok and best["lr"] == 3e-3


def test_a_top_choice_gets_its_cliff_check(monkeypatch):
    """The plain choice at the top after the last widening: one more step is run, and the
    robust rule then reads it."""
    base = tune.hparams_for("scrub+cmf", "paper")["lr"]
    step = lambda lr: round(2 * __import__("math").log10(lr / base))  # noqa: E731
    ran = []

    def fake_trial(method, lr, args):
        k = step(lr)
        ran.append(k)  # forget falls with k; retain collapses from k = 4 on
        return {"method": method, "lr": lr, "val_retain": 90.0 if k < 4 else 50.0,
                "val_forget": 50.0 - k}

    monkeypatch.setattr(tune, "run_trial", fake_trial)
    out = tune.tune_cmf("scrub+cmf", SimpleNamespace(from_paper=3, widen=0, retain_slack=3.0),
                        ref=90.0)
    assert ran == [0, 1, 2, 3]  # grid 0..2, plain choice 2 at the top: cliff check at 3
    best, ok = tune.choose_cmf(pd.DataFrame(out), 90.0)
    assert ok and step(best["lr"]) == 2


def test_forget_rule_unchanged():
    table = rows((1e-3, 88.0, 4.0), (3e-3, 89.0, 2.0), (1e-2, 70.0, 0.0))
    assert tune.choose(table, 5.0)["lr"] == 3e-3
    assert tune.choose(rows((1e-3, 88.0, 30.0), (3e-3, 80.0, 20.0)), 5.0)["lr"] == 3e-3


def test_grid_starts_at_a_value_in_half_decades():
    assert list(tune.paper_grid("neggrad_plus+cmf", 5).values()) == [1e-4, 3.16e-4, 1e-3,
                                                                     3.16e-3, 1e-2]
    assert tune.paper_grid("salun+cmf", 3) == {0: 2e-4, 1: 6.32e-4, 2: 2e-3}
    hp = tune.trial_hparams("unsir+cmf", "cpu", 1.58e-4)
    assert hp["lr"] == 1.58e-4 and hp["impair_lr"] == pytest.approx(3.16e-4)  # [A]'s ratio 2


@pytest.mark.parametrize("best_k,expected", [(4, [0, 1, 2, 3, 4, 5, 6, 7]), (0, [-2, -1, 0, 1, 2, 3, 4]),
                                             (2, [0, 1, 2, 3, 4])])
def test_edge_choice_widens_the_grid(monkeypatch, best_k, expected):
    """Forget accuracy falls towards step ``best_k`` (and keeps falling past an edge), retain
    never leaves the slack: the rule widens at an edge choice, at most ``widen`` times; a
    choice still at the top then gets its cliff check (step 7)."""
    base = tune.hparams_for("scrub+cmf", "paper")["lr"]
    step = lambda lr: round(2 * __import__("math").log10(lr / base))  # noqa: E731
    ran = []

    def fake_trial(method, lr, args):
        k = step(lr)
        ran.append(k)
        return {"method": method, "lr": lr, "val_retain": 90.0,
                "val_forget": float(abs(k - best_k)) if best_k == 2 else float(-k * (best_k - 2))}

    monkeypatch.setattr(tune, "run_trial", fake_trial)
    args = SimpleNamespace(from_paper=5, widen=2, retain_slack=3.0)
    out = tune.tune_cmf("scrub+cmf", args, ref=90.0)
    assert sorted(step(r["lr"]) for r in out) == expected
