"""illusion.stats.hierarchical_interval: the mean over cells with a two-stage bootstrap (cells,
then each cell's own draws), whose interval carries the cells' disagreement."""

from __future__ import annotations

import numpy as np
import pytest

from illusion import stats
from illusion.stats import Interval, hierarchical_interval, mean_interval, percentile_bounds


def _cell(estimate: float, sd: float = 1.0, draws: int = 1000, seed: int = 0,
          n: int = 100) -> Interval:
    """A cell whose bootstrap draws are N(estimate, sd)."""
    d = np.random.default_rng(seed).normal(estimate, sd, draws)
    low, high = percentile_bounds(d)
    return Interval(float(estimate), low, high, n, stats.LEVEL, d)


def _width(iv: Interval) -> float:
    return iv.high - iv.low


def _spread_cells() -> list[Interval]:
    return [_cell(e, seed=i) for i, e in enumerate((0.0, 10.0, 20.0, 30.0, 40.0))]


def test_cells_that_agree_give_no_wider_an_interval_than_the_mean_of_draws():
    a = (np.random.default_rng(1).random(1000) < 0.7).astype(float)
    b = (np.random.default_rng(2).random(1000) < 0.6).astype(float)
    one = stats.accuracy_gap(a, b)
    same = [one] * 5
    plain, hier = mean_interval(same), hierarchical_interval(same)
    assert hier.estimate == pytest.approx(plain.estimate) == pytest.approx(one.estimate)
    assert _width(hier) <= _width(plain)
    assert hier.low <= hier.estimate <= hier.high
    assert hier.n == 5000 and hier.level == stats.LEVEL and hier.draws.size == one.draws.size


def test_cells_that_disagree_widen_the_interval_to_the_cell_means_spread():
    cells = _spread_cells()
    plain, hier = mean_interval(cells), hierarchical_interval(cells)
    assert plain.estimate == hier.estimate == pytest.approx(20.0)
    assert _width(plain) < 3.0  # the draws' noise alone: sd 1 / sqrt(5)
    assert _width(hier) > 10 * _width(plain)
    # the percentile bootstrap of the five cell means, computed directly
    means = np.array([c.estimate for c in cells])
    rng = np.random.default_rng(123)
    boot = means[rng.integers(5, size=(200_000, 5))].mean(axis=1)
    q05, q95 = np.percentile(boot, [5, 95])
    assert hier.low <= q05 and hier.high >= q95
    low, high = np.percentile(boot, [2.5, 97.5])
    assert hier.low == pytest.approx(low, abs=2.0) and hier.high == pytest.approx(high, abs=2.0)


def test_seeded_and_deterministic():
    cells = _spread_cells()
    first, again = hierarchical_interval(cells, seed=3), hierarchical_interval(cells, seed=3)
    assert first == again and np.array_equal(first.draws, again.draws)
    other = hierarchical_interval(cells, seed=4)
    assert (other.low, other.high) != (first.low, first.high)
    assert not np.array_equal(other.draws, first.draws)


def test_the_global_random_state_is_neither_used_nor_changed():
    cells = _spread_cells()
    np.random.seed(0)
    state = np.random.get_state()
    first = hierarchical_interval(cells)
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:]
    np.random.seed(99)
    assert hierarchical_interval(cells) == first


def test_a_missing_cell_or_a_cell_without_draws_makes_the_mean_missing():
    cells = _spread_cells()
    assert hierarchical_interval([*cells, Interval.missing(7)]).is_missing
    assert hierarchical_interval([*cells, Interval.missing(7)]).n == 5 * 100 + 7
    bare = Interval(5.0, 4.0, 6.0, 10)  # bounds but no draws
    assert hierarchical_interval([cells[0], bare]).is_missing
    empty = Interval(5.0, 4.0, 6.0, 10, stats.LEVEL, np.array([]))
    assert hierarchical_interval([cells[0], empty]).is_missing
    assert hierarchical_interval([]).is_missing


def test_one_cell_is_returned_unchanged():
    one = _cell(3.0, seed=5)
    assert hierarchical_interval([one]) is one
    assert hierarchical_interval([one], seed=7, resamples=10, level=0.5) is one


def test_cells_with_other_numbers_of_draws_are_rejected():
    with pytest.raises(ValueError, match="differ"):
        hierarchical_interval([_cell(0.0), _cell(1.0, draws=500)])
    with pytest.raises(ValueError, match="positive"):
        hierarchical_interval(_spread_cells(), resamples=0)


def test_resamples_and_level():
    cells = _spread_cells()
    assert hierarchical_interval(cells).draws.size == 1000  # the cells' number of draws
    many = hierarchical_interval(cells, resamples=5000)
    assert many.draws.size == 5000 and many.estimate == pytest.approx(20.0)
    half = hierarchical_interval(cells, resamples=5000, level=0.5)
    assert half.level == 0.5 and _width(half) < 0.6 * _width(many)
    assert (half.low, half.high) == pytest.approx(percentile_bounds(half.draws, 0.5))


def test_without_noise_within_cells_it_is_the_percentile_bootstrap_of_the_cell_means():
    estimates = np.array([-3.0, 1.5, 2.0, 7.25, 11.0, 4.0])
    cells = [Interval(float(e), float(e), float(e), 50, stats.LEVEL, np.full(800, e))
             for e in estimates]
    hier = hierarchical_interval(cells, seed=11)
    # stage 1 with the function's own generator; stage 2 picks a draw equal to the estimate
    picked = stats._rng(11).integers(estimates.size, size=(800, estimates.size))
    direct = estimates[picked].mean(axis=1)
    np.testing.assert_allclose(hier.draws, direct)
    assert (hier.low, hier.high) == pytest.approx(tuple(np.percentile(direct, [2.5, 97.5])))


def test_coverage_of_normal_cell_means_is_near_the_nominal_level():
    """1000 grids of 30 cells whose estimates are N(5, 2) without noise within the cells:
    about 95% of the intervals contain 5 (the percentile bootstrap of a mean of 30 covers about
    93%; the bounds leave room for the simulation's own noise, sd about 0.8 points)."""
    rng = np.random.default_rng(2024)
    hits = 0
    trials = 1000
    for t in range(trials):
        cells = [Interval(float(e), float(e), float(e), 1, stats.LEVEL, np.full(1000, e))
                 for e in rng.normal(5.0, 2.0, 30)]
        iv = hierarchical_interval(cells, seed=t)
        hits += iv.low <= 5.0 <= iv.high
    assert 0.90 <= hits / trials <= 0.97


def test_run_draws_keep_the_image_pairing_and_add_the_runs():
    """One run: its draws unchanged. Runs that agree: their draws (nothing added). Two runs
    at 0 and 1: each resample is a mean of two picks (0, 0.5 or 1), about half of them 0.5,
    centred on 0.5. Draw i reads draw i of the runs it picks, so a shift of every run's draw
    i shifts resample i alone (the pairing with other models' draw i is kept)."""
    from illusion.stats import run_draws

    rng = np.random.default_rng(0)
    one = rng.normal(size=400)
    np.testing.assert_array_equal(run_draws([one]), one)
    np.testing.assert_allclose(run_draws([one, one, one], seed=4), one)
    mixed = run_draws([np.zeros(4000), np.ones(4000)], seed=1)
    assert set(np.unique(mixed)) <= {0.0, 0.5, 1.0}
    assert np.mean(mixed == 0.5) == pytest.approx(0.5, abs=0.03)
    assert mixed.mean() == pytest.approx(0.5, abs=0.03)
    shift = np.zeros(4000)
    shift[7] = 10.0
    moved = run_draws([np.zeros(4000) + shift, np.ones(4000) + shift], seed=1)
    assert moved[7] == mixed[7] + 10.0 and np.array_equal(np.delete(moved, 7),
                                                           np.delete(mixed, 7))
    np.testing.assert_array_equal(run_draws([np.zeros(50), np.ones(50)], seed=2),
                                  run_draws([np.zeros(50), np.ones(50)], seed=2))
