"""illusion.stats: paired bootstrap intervals of accuracy gaps and of any image statistic."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from illusion.stats import IMAGE_SEED, Interval, accuracy_gap, mean_interval, subset_gap


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


def test_interval_text():
    assert str(Interval(12.34, 8.0, 16.06, 100)) == "+12.3 [+8.0, +16.1]"


def test_mean_of_one_cell_is_that_cell():
    a, b = _bits(700, 1000, 9), _bits(600, 1000, 10)
    one = accuracy_gap(a, b, seed=0)
    mean = mean_interval([one])
    assert mean.estimate == pytest.approx(one.estimate)
    assert mean.low == pytest.approx(one.low, abs=0.05) and mean.high == pytest.approx(
        one.high, abs=0.05)


def test_mean_of_cells_is_narrower_and_centred_on_the_mean():
    gaps = [accuracy_gap(_bits(700, 1000, 11 + i), _bits(600, 1000, 21 + i), seed=i)
            for i in range(4)]
    mean = mean_interval(gaps)
    assert mean.estimate == pytest.approx(10.0)
    assert mean.n == 4000
    width = np.mean([g.high - g.low for g in gaps])
    assert mean.high - mean.low == pytest.approx(width / 2, rel=0.15)  # 1/sqrt(4) as wide


def test_cells_on_the_same_images_share_their_resamples():
    # two seeds' models scoring the same images, with the same gaps: the mean's interval is
    # the cell's (same rows), not the narrower one independent resamples would give
    a, b = _bits(700, 1000, 31), _bits(600, 1000, 32)
    same = [accuracy_gap(a, b, seed=IMAGE_SEED), accuracy_gap(a, b, seed=IMAGE_SEED)]
    mean = mean_interval(same)
    assert (mean.low, mean.high) == pytest.approx((same[0].low, same[0].high))
    wrong = mean_interval([accuracy_gap(a, b, seed=1), accuracy_gap(a, b, seed=2)])
    assert wrong.high - wrong.low < 0.8 * (mean.high - mean.low)


def test_subset_gap_of_the_whole_set_is_the_paired_bootstrap():
    """On the whole set (every position once) it is the paired bootstrap of the score
    difference: same estimate, interval close to accuracy_gap's (other resamples)."""
    a, b = _bits(700, 1000, 41), _bits(550, 1000, 42)
    whole = subset_gap(a, b, np.arange(1000), 1000, seed=IMAGE_SEED)
    ref = accuracy_gap(a, b, seed=IMAGE_SEED)
    assert whole.estimate == pytest.approx(15.0) and whole.n == 1000
    assert (whole.low, whole.high) == pytest.approx((ref.low, ref.high), abs=1.0)
    # exact cases: equal scores, and fractional scores (shares of steps) that always differ
    same = subset_gap(a, a, np.arange(1000), 1000)
    assert (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0)
    half = subset_gap(np.full(10, 0.75), np.full(10, 0.25), np.arange(10), 30)
    assert (half.estimate, half.low, half.high) == pytest.approx((50.0, 50.0, 50.0))
    assert half.above(49.9) is True


def test_subset_gaps_share_the_rows_of_shared_images():
    """Two cells on overlapping halves of one set: a shared image is resampled with the same
    row in both, so two cells on the same half average to that half's interval, and a half's
    interval is about sqrt(2) as wide as the whole set's."""
    a, b = _bits(700, 1000, 43), _bits(550, 1000, 44)
    pos = np.random.default_rng(0).permutation(1000)[:500]
    one = subset_gap(a[pos], b[pos], pos, 1000)
    mean = mean_interval([one, subset_gap(a[pos], b[pos], pos, 1000)])
    assert (mean.estimate, mean.low, mean.high) == (one.estimate, one.low, one.high)
    whole = subset_gap(a, b, np.arange(1000), 1000)
    ratio = (one.high - one.low) / (whole.high - whole.low)
    assert ratio == pytest.approx(math.sqrt(2), rel=0.2)


def test_subset_gap_bad_inputs():
    with pytest.raises(ValueError, match="one position per image"):
        subset_gap(np.ones(3), np.ones(3), [0, 1], 5)
    for bad in ([0, 0, 1], [0, 1, 5], [-1, 0, 1]):
        with pytest.raises(ValueError, match="distinct"):
            subset_gap(np.ones(3), np.zeros(3), bad, 5)
    assert subset_gap([], [], [], 5).is_missing


def test_mean_with_a_missing_cell_is_missing():
    gap = accuracy_gap(_bits(7, 10, 0), _bits(6, 10, 1))
    assert mean_interval([gap, Interval.missing(5)]).is_missing
    assert mean_interval([]).is_missing
    with pytest.raises(ValueError, match="differ"):
        mean_interval([gap, accuracy_gap(_bits(7, 10, 0), _bits(6, 10, 1), resamples=500)])


# ------------------------------------------------- readout gaps of a cell (experiments)

def _preds(correct_forget: int, correct_retain: int) -> dict:
    """Predictions of 100 test images, the first 40 of class 0 (forgotten), the rest of
    classes 1-3: ``correct_*`` images of each group right, the others predicted as class 9."""
    import torch

    y = torch.tensor([0] * 40 + [1, 2, 3] * 20)
    pred = torch.full_like(y, 9)
    pred[:correct_forget] = y[:correct_forget]
    pred[40:40 + correct_retain] = y[40:40 + correct_retain]
    return {"probe": pred.to(torch.int16), "ncc": pred.to(torch.int16)}, y


def test_readout_gaps_are_accuracy_differences_on_the_forget_images():
    from illusion.gaps import gap_means, readout_gaps

    (rl, y), (rt, _) = _preds(36, 60), _preds(20, 60)
    gaps = readout_gaps({"retrain": rt, "random_label": rl}, y, [0])
    assert list(gaps["method"]) == ["random_label"] * 2 and list(gaps["readout"]) == [
        "probe", "ncc"]
    assert gaps["gap"].tolist() == pytest.approx([40.0, 40.0])  # (36 - 20) / 40
    assert (gaps["low"] < 40.0).all() and (gaps["high"] > 40.0).all()
    retain = readout_gaps({"retrain": rt, "random_label": rl}, y, [0], split="retain")
    assert retain["gap"].tolist() == [0.0, 0.0] and retain["high"].tolist() == [0.0, 0.0]
    two = pd.concat([gaps.assign(seed=0), gaps.assign(seed=1)], ignore_index=True)
    means = gap_means(two)
    assert means["cells"].tolist() == [2, 2] and means["gap"].tolist() == pytest.approx([40, 40])
    with pytest.raises(KeyError, match="reference"):
        readout_gaps({"random_label": rl}, y, [0])
    with pytest.raises(ValueError, match="split"):
        readout_gaps({"retrain": rt, "random_label": rl}, y, [0], split="train")


# ------------------------------------------------------------------------- CKA draws

def test_cka_draws_equal_cka_of_the_resampled_rows():
    import torch

    from illusion.metrics import linear_cka
    from illusion.stats import CKAReference, cka_draws, resample_weights

    rng = np.random.default_rng(12)
    x = rng.normal(size=(60, 5))
    y = x @ rng.normal(size=(5, 3)) + 0.5 * rng.normal(size=(60, 3))
    w = resample_weights(60, resamples=7, seed=3)
    assert (w.sum(1) == 60).all()
    draws = cka_draws(x, y, w)
    for row, value in zip(w, draws):
        idx = np.repeat(np.arange(60), row.astype(int))
        assert value == pytest.approx(linear_cka(torch.tensor(x[idx]), torch.tensor(y[idx])),
                                      rel=1e-9)
    ones = np.ones((1, 60))  # every image once: the plain CKA
    assert cka_draws(x, y, ones)[0] == pytest.approx(linear_cka(torch.tensor(x),
                                                                torch.tensor(y)), rel=1e-9)
    assert cka_draws(x, x, w) == pytest.approx(np.ones(7))
    assert cka_draws(None, y, w, CKAReference(x, w)) == pytest.approx(draws, rel=1e-12)
    with pytest.raises(ValueError, match="same images"):
        cka_draws(x, y[:50], w)


def test_cka_draws_of_features_wider_than_the_images():
    """Both ways of forming p @ K (through the features when they are narrower than the
    images, else through the Gram matrix) give the CKA of the resampled rows."""
    import torch

    from illusion.metrics import linear_cka
    from illusion.stats import _times_gram, cka_draws, resample_weights

    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(12, 30)), rng.normal(size=(12, 4))  # wide x, narrow y
    w = resample_weights(12, resamples=5, seed=1)
    for row, value in zip(w, cka_draws(x, y, w)):
        idx = np.repeat(np.arange(12), row.astype(int))
        assert value == pytest.approx(linear_cka(torch.tensor(x[idx]), torch.tensor(y[idx])),
                                      rel=1e-9)
    p = w / w.sum(1, keepdims=True)
    for z in (x, y):
        assert _times_gram(p, z, z @ z.T) == pytest.approx(p @ (z @ z.T), rel=1e-12)


def test_last_only_memo_keeps_one_entry():
    from illusion.depth import _LastOnly

    made = []
    memo = _LastOnly()

    def make(v):
        return lambda: made.append(v) or v

    assert memo.get(("a",), make(1)) == 1 and memo.get(("a",), make(2)) == 1
    assert memo.get(("b",), make(3)) == 3 and memo.get(("a",), make(4)) == 4
    assert made == [1, 3, 4]


def test_percentile_bounds():
    from illusion.stats import percentile_bounds

    low, high = percentile_bounds(np.linspace(0.0, 1.0, 2001))
    assert (low, high) == (pytest.approx(0.025), pytest.approx(0.975))
    assert all(math.isnan(v) for v in percentile_bounds(np.array([])))
    assert all(math.isnan(v) for v in percentile_bounds(np.array([0.1, np.nan])))


# ----------------------------------------------------------- a readout fitted several times

def test_fits_gap_carries_the_fits_noise():
    """Two probe fits, one right on every image and one wrong on every image, against a side
    that is always wrong: the images add no noise (every image alike), so the interval is the
    fits' resampling alone, a share of the first fit of 0, 1/2 or 1: [0, 100] around 50."""
    n = 40
    a = np.stack([np.ones(n), np.zeros(n)])
    iv = accuracy_gap(a, np.zeros((1, n)), seed=1)
    assert iv.estimate == pytest.approx(50.0)
    assert (iv.low, iv.high) == (0.0, 100.0)
    assert set(np.unique(iv.draws)) == {0.0, 50.0, 100.0}
    # one fit repeated: no fit noise, and images all alike: a point
    same = accuracy_gap(np.ones((3, n)), np.zeros((3, n)))
    assert (same.estimate, same.low, same.high) == (100.0, 100.0, 100.0)


def test_fits_gap_estimate_spread_and_determinism():
    rng = np.random.default_rng(0)
    n = 300
    base = rng.random(n) < 0.6
    # three fits that disagree on a fifth of the images each
    fits = np.stack([np.where(rng.random(n) < 0.2, ~base, base) for _ in range(3)]).astype(float)
    other = (rng.random(n) < 0.4).astype(float)
    with_fits = accuracy_gap(fits, other[None], seed=0)
    one_fit = accuracy_gap(fits.mean(0, keepdims=True).round(), other[None], seed=0)
    assert with_fits.estimate == pytest.approx(100 * (fits.mean() - other.mean()))
    assert with_fits.high - with_fits.low > 0
    assert accuracy_gap(fits, other[None], seed=0) == with_fits  # deterministic
    assert np.array_equal(accuracy_gap(fits, other[None], seed=0).draws, with_fits.draws)
    assert one_fit.n == with_fits.n == n


def test_fits_gap_rejects_other_images_and_handles_none():
    with pytest.raises(ValueError, match="same test images"):
        accuracy_gap(np.ones((3, 5)), np.ones((3, 6)))
    assert accuracy_gap(np.ones((3, 0)), np.ones((3, 0))).is_missing


def test_fits_gap_averages_over_cells_like_image_gaps():
    """Cells on the same images draw the same image rows, so their draws average into the
    mean's bootstrap (mean_interval) as plain image gaps do."""
    rng = np.random.default_rng(2)
    n = 100
    cells = [accuracy_gap((rng.random((3, n)) < 0.7).astype(float),
                          (rng.random((3, n)) < 0.5).astype(float)) for _ in range(2)]
    mean = mean_interval(cells)
    assert mean.estimate == pytest.approx(np.mean([c.estimate for c in cells]))
    assert mean.low <= mean.estimate <= mean.high
