"""illusion.stats: paired bootstrap intervals of accuracy gaps and of any image statistic."""

from __future__ import annotations

import math

import numpy as np
import pytest

from illusion.stats import Interval, accuracy_gap, bootstrap_interval


def _bits(n_ones: int, n: int, seed: int) -> np.ndarray:
    x = np.zeros(n)
    x[:n_ones] = 1
    return np.random.default_rng(seed).permutation(x)


def test_equal_readouts_have_a_zero_width_interval_at_zero():
    a = _bits(300, 1000, 0)
    gap = accuracy_gap(a, a)
    assert (gap.estimate, gap.low, gap.high, gap.n) == (0.0, 0.0, 0.0, 1000)
    assert gap.above(0.0) is False and gap.below(0.0) is False


def test_one_always_right_the_other_always_wrong_is_exactly_100_points():
    gap = accuracy_gap(np.ones(50), np.zeros(50))
    assert (gap.estimate, gap.low, gap.high) == (100.0, 100.0, 100.0)
    assert gap.above(99.9) is True and gap.below(100.0) is False


def test_width_matches_the_normal_approximation_of_a_paired_difference():
    a, b = _bits(800, 1000, 1), _bits(500, 1000, 2)
    gap = accuracy_gap(a, b, seed=3)
    assert gap.estimate == pytest.approx(30.0)
    d = a - b
    half = 1.96 * 100.0 * d.std(ddof=1) / math.sqrt(d.size)
    assert gap.low == pytest.approx(30.0 - half, abs=1.0)
    assert gap.high == pytest.approx(30.0 + half, abs=1.0)


def test_pairing_matters_when_both_sides_err_on_the_same_images():
    # b is a with 20 of its correct images flipped: the gap is 2 points on every resample's
    # shared images, so the paired interval is far narrower than two independent ones would be
    a = _bits(600, 1000, 4)
    b = a.copy()
    b[np.flatnonzero(a)[:20]] = 0
    gap = accuracy_gap(a, b)
    assert gap.estimate == pytest.approx(2.0)
    assert gap.high - gap.low < 2.0
    assert gap.above(0.0) is True


def test_seeded_and_deterministic():
    a, b = _bits(700, 900, 5), _bits(650, 900, 6)
    assert accuracy_gap(a, b, seed=1) == accuracy_gap(a, b, seed=1)
    assert accuracy_gap(a, b, seed=1) != accuracy_gap(a, b, seed=2)


def test_coverage_is_near_the_nominal_level():
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(200):
        a = (rng.random(400) < 0.7).astype(float)
        b = (rng.random(400) < 0.6).astype(float)
        gap = accuracy_gap(a, b, seed=int(rng.integers(1 << 30)), resamples=1000)
        hits += gap.low <= 10.0 <= gap.high
    assert 0.89 <= hits / 200 <= 0.99


def test_bad_and_empty_inputs():
    with pytest.raises(ValueError, match="same test images"):
        accuracy_gap(np.ones(3), np.ones(4))
    gap = accuracy_gap([], [])
    assert gap.is_missing and gap.n == 0 and str(gap) == "n/a"
    assert gap.above(0.0) is None and gap.below(0.0) is None


def test_any_statistic_of_the_images():
    x = np.random.default_rng(8).normal(5.0, 2.0, size=500)
    iv = bootstrap_interval(lambda idx: x[idx].mean(), x.size, seed=0)
    assert iv.estimate == pytest.approx(x.mean())
    half = 1.96 * x.std(ddof=1) / math.sqrt(x.size)
    assert iv.low == pytest.approx(x.mean() - half, abs=0.05)
    assert iv.high == pytest.approx(x.mean() + half, abs=0.05)
    assert bootstrap_interval(lambda idx: x[idx].mean(), 1).is_missing
    assert bootstrap_interval(lambda idx: float("nan"), 10).is_missing


def test_interval_text():
    assert str(Interval(12.34, 8.0, 16.06, 100)) == "+12.3 [+8.0, +16.1]"
