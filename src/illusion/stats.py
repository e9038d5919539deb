"""Uncertainty of the book's key gaps: bootstrap intervals over test images.

A claim's criterion compares two readouts on the **same** test images, e.g. the probe's
forget-class accuracy of an unlearned model against Retrain's, or one model's CKA to the
original against another's. Their gap is a statistic of the test images, so its uncertainty is
that of resampling them: a paired bootstrap (both sides resampled with the same indices), run by
:func:`scipy.stats.bootstrap` (percentile intervals; percentile rather than BCa because the gaps
of 0/1 correctness are often degenerate, e.g. two models that both get every forget image wrong,
where BCa's acceleration is undefined). Every call takes its own seeded generator, so an
interval is the same on every run.

The uncertainty of training (another seed) is not in these intervals: the book shows it by
judging several (seed, forget set) cells. :func:`mean_interval` averages the cells' draws and
so keeps to the images' (and probe fits') noise; :func:`hierarchical_interval` also resamples
the cells, so that the interval of a mean over cells widens with how much the cells disagree.

:class:`Interval` carries the estimate and its bounds; :meth:`Interval.above` and
:meth:`Interval.below` say whether the whole interval clears a margin (``None`` when the
estimate is missing), which is how a criterion with a margin reads an interval.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy import stats as _scipy_stats

__all__ = ["LEVEL", "RESAMPLES", "CKAReference", "IMAGE_SEED", "Interval", "accuracy_gap",
           "cka_draws", "hierarchical_draws", "hierarchical_interval", "mean_interval",
           "percentile_bounds", "resample_weights", "run_draws", "subset_gap"]

LEVEL = 0.95
RESAMPLES = 2000
# The resampling seed of every cell: cells that score the same test images (one forget set,
# several training seeds) must resample them with the same rows for their draws to average
# into the mean's bootstrap (mean_interval), so the seed follows the images, not the model.
IMAGE_SEED = 0


@dataclass(frozen=True)
class Interval:
    """``estimate`` and its ``level`` bootstrap interval [``low``, ``high``] over ``n`` test
    images (NaN everywhere when a side had no images). ``draws`` keeps the bootstrap
    distribution, for :func:`mean_interval`."""

    estimate: float
    low: float
    high: float
    n: int
    level: float = LEVEL
    draws: np.ndarray | None = field(default=None, compare=False, repr=False)

    @classmethod
    def missing(cls, n: int = 0) -> "Interval":
        nan = float("nan")
        return cls(nan, nan, nan, n)

    @property
    def is_missing(self) -> bool:
        return any(math.isnan(v) for v in (self.estimate, self.low, self.high))

    def above(self, margin: float) -> bool | None:
        """The whole interval lies above ``margin`` (``None`` when missing)."""
        return None if self.is_missing else bool(self.low > margin)

    def below(self, margin: float) -> bool | None:
        """The whole interval lies below ``margin`` (``None`` when missing)."""
        return None if self.is_missing else bool(self.high < margin)

    def __str__(self) -> str:
        if self.is_missing:
            return "n/a"
        return f"{self.estimate:+.1f} [{self.low:+.1f}, {self.high:+.1f}]"


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, 0x5EED]))


def accuracy_gap(a, b, seed: int = 0, resamples: int = RESAMPLES,
                 level: float = LEVEL) -> Interval:
    """Accuracy of ``a`` minus accuracy of ``b``, in percentage points, with its paired
    bootstrap interval: ``a`` and ``b`` are per-image correctness (0/1) of two readouts or two
    models on the same test images, in the same order.

    A readout fitted several times (the linear probe, one fit per seed) passes a 2-D side,
    one row per fit: its accuracy is the fits' mean, and each resample also draws that side's
    fits with replacement (:func:`_fits_gap`), so the interval carries the fitting noise as
    well as the images'."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim > 1 or b.ndim > 1:
        return _fits_gap(np.atleast_2d(a), np.atleast_2d(b), seed, resamples, level)
    if a.shape != b.shape:
        raise ValueError(f"accuracy_gap: {a.size} and {b.size} images; a paired gap needs the "
                         "same test images on both sides")
    n = a.size
    if n == 0:
        return Interval.missing(0)
    estimate = 100.0 * (a.mean() - b.mean())
    d = a - b
    if np.all(d == d[0]):  # every resample gives the same gap
        return Interval(estimate, estimate, estimate, n, level, np.full(resamples, estimate))

    def gap(x, y, axis=-1):
        return 100.0 * (np.mean(x, axis=axis) - np.mean(y, axis=axis))

    res = _scipy_stats.bootstrap((a, b), gap, paired=True, vectorized=True,
                                 n_resamples=resamples, confidence_level=level,
                                 method="percentile", rng=_rng(seed))
    return Interval(estimate, float(res.confidence_interval.low),
                    float(res.confidence_interval.high), n, level, res.bootstrap_distribution)


def _fits_gap(a: np.ndarray, b: np.ndarray, seed: int, resamples: int,
              level: float) -> Interval:
    """:func:`accuracy_gap` of ``a`` (fits_a, n) and ``b`` (fits_b, n): a two-level bootstrap.
    Each resample draws multiplicities of the n images (:func:`resample_weights` with
    ``seed``, the same rows for every model and readout of the cell) and, independently for
    each side, multiplicities of its fits (a side with one fit keeps it); the draw is the
    fit-weighted mean of the image-weighted accuracies of ``a`` minus that of ``b``."""
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"accuracy_gap: {a.shape[1]} and {b.shape[1]} images; a paired gap "
                         "needs the same test images on both sides")
    n = a.shape[1]
    if n == 0:
        return Interval.missing(0)
    estimate = 100.0 * (a.mean() - b.mean())
    w = resample_weights(n, resamples, seed)
    fits = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED, 1]))

    def side(x: np.ndarray) -> np.ndarray:  # (resamples,) accuracies of one side
        k = x.shape[0]
        share = fits.multinomial(k, np.full(k, 1.0 / k), size=resamples) / k  # (R, fits)
        return np.einsum("rf,rf->r", share, w @ x.T) / n

    draws = 100.0 * (side(a) - side(b))
    low, high = percentile_bounds(draws, level)
    return Interval(float(estimate), low, high, n, level, draws)


def mean_interval(intervals: Sequence[Interval]) -> Interval:
    """The mean of several cells' gaps, with its interval: the i-th draws of the cells'
    bootstraps averaged are a draw of the mean's bootstrap, **provided** cells that score the
    same test images (one forget set, several training seeds) resampled them with the same
    rows, i.e. the same seed (:data:`IMAGE_SEED`) and image order; cells on other images are
    resampled independently of them. Missing when any cell is missing (a mean over fewer cells
    would be another quantity); ``n`` adds up the cells' images."""
    intervals = list(intervals)
    if not intervals or any(iv.is_missing or iv.draws is None for iv in intervals):
        return Interval.missing(sum(iv.n for iv in intervals))
    sizes = {iv.draws.size for iv in intervals}
    levels = {iv.level for iv in intervals}
    if len(sizes) != 1 or len(levels) != 1:
        raise ValueError("mean_interval: the cells' bootstraps differ in resamples or level")
    level = levels.pop()
    draws = np.mean([iv.draws for iv in intervals], axis=0)
    low, high = percentile_bounds(draws, level)
    return Interval(float(np.mean([iv.estimate for iv in intervals])), low, high,
                    sum(iv.n for iv in intervals), level, draws)


def hierarchical_interval(intervals: Sequence[Interval], seed: int = 0,
                          resamples: int | None = None, level: float = LEVEL) -> Interval:
    """The mean of several cells' gaps (e.g. the five (seed, forget set) cells of a grid) with a
    two-stage (hierarchical) bootstrap interval, so that the interval carries how much the
    cells disagree, not only the noise within each cell.

    Each of ``resamples`` draws (default: as many as each cell's bootstrap has) does two things:

    1. resamples the cells: n of the n cells, with replacement (a cell may come twice, another
       not at all), which is what puts the spread *between* the cells' estimates, i.e. the
       training seed's and the forget set's effect, into the interval;
    2. for each cell picked, takes one of that cell's own bootstrap draws
       (:attr:`Interval.draws`) at random, independently for every pick, which puts the noise
       *within* a cell into it: those draws already resample the cell's test images and, for
       the probe, its fits (:func:`accuracy_gap`, :func:`subset_gap`);

    and averages the n values. The bounds are the ``level`` percentile interval of those draws
    (:func:`percentile_bounds`); the estimate is the plain mean of the cells' estimates, as in
    :func:`mean_interval`. Resampling with replacement at both stages is on the cautious side:
    the spread of the cells' estimates already holds some of their within-cell noise, which the
    second stage adds again, so the interval is, if anything, too wide, never too narrow for
    that reason (with few cells the percentile interval of stage 1 alone is itself somewhat
    narrow: about 84% coverage for 5 normal cells, 93% for 30).

    Unlike :func:`mean_interval`, the draws of different cells are not paired: cells that share
    their test images need no common resampling seed here. The draws are a function of
    ``seed`` alone, through a generator of their own (the global NumPy state is never used).

    Missing when there are no cells or any cell is missing or has no draws (a mean over fewer
    cells would be another quantity). A single cell is returned unchanged: with one cell there
    is nothing to resample between cells, and stage 2 alone would only reshuffle its own
    draws. ``n`` adds up the cells' images. Raises :class:`ValueError` when the cells' draws
    differ in number, as :func:`mean_interval` does."""
    intervals = list(intervals)
    n_images = sum(iv.n for iv in intervals)
    if not intervals or any(iv.is_missing or iv.draws is None or iv.draws.size == 0
                            for iv in intervals):
        return Interval.missing(n_images)
    if len({iv.draws.size for iv in intervals}) != 1:
        raise ValueError("hierarchical_interval: the cells' bootstraps differ in resamples")
    if len(intervals) == 1:
        return intervals[0]
    draws = hierarchical_draws([iv.draws for iv in intervals], seed, resamples)
    low, high = percentile_bounds(draws, level)
    estimate = float(np.mean([iv.estimate for iv in intervals]))
    return Interval(estimate, low, high, n_images, level, draws)


def hierarchical_draws(cell_draws: Sequence[np.ndarray], seed: int = 0,
                       resamples: int | None = None) -> np.ndarray:
    """The two-stage bootstrap draws of the mean over cells (:func:`hierarchical_interval`),
    from each cell's own draws (same number in every cell). The cells and draws picked depend
    only on ``seed``, the number of cells and of draws, so two quantities of the same cells
    (two models' CKA in claim C7) are resampled with the same picks: their differences are
    draws of the difference."""
    cells = np.stack([np.asarray(d, dtype=np.float64).ravel() for d in cell_draws])
    n, per_cell = cells.shape
    resamples = per_cell if resamples is None else int(resamples)
    if resamples < 1:
        raise ValueError(f"hierarchical_interval: resamples must be positive, not {resamples}")
    rng = _rng(seed)
    picked = rng.integers(n, size=(resamples, n))  # stage 1: n of the n cells
    within = rng.integers(per_cell, size=(resamples, n))  # stage 2: one draw of each pick
    return cells[picked, within].mean(axis=1)


def run_draws(per_run: Sequence[np.ndarray], seed: int = 0) -> np.ndarray:
    """The bootstrap draws of a model's mean over its runs in one cell, from each run's own
    draws (same number in every run, draw ``i`` of every run on the same resample of the
    same images): resample ``i`` picks as many runs as there are, with replacement, and
    averages their draw ``i``. The image resamples thus stay paired with those of every other
    model of the cell (their differences are still draws of the difference), and the runs'
    spread is added. One run gives its draws unchanged."""
    runs = np.stack([np.asarray(d, dtype=np.float64).ravel() for d in per_run])
    n_runs, per_run_draws = runs.shape
    if n_runs == 1:
        return runs[0]
    picked = _rng(seed).integers(n_runs, size=(per_run_draws, n_runs))
    return runs[picked, np.arange(per_run_draws)[:, None]].mean(axis=1)


def subset_gap(a, b, positions, n_total: int, seed: int = 0, resamples: int = RESAMPLES,
               level: float = LEVEL) -> Interval:
    """Mean of ``a`` minus mean of ``b``, in percentage points (scores in [0, 1] of the same
    images, e.g. a share of correct steps), with a paired bootstrap interval, for images that
    are a subset (``positions``, distinct) of a fixed set of ``n_total``: each resample draws
    multiplicities of the **whole** set (:func:`resample_weights` with ``seed``) and weighs
    the subset's images by theirs. Cells that read other subsets of the same set (another
    training seed drew other images) thus resample every shared image with the same rows, so
    that their draws average into the mean's bootstrap (:func:`mean_interval`)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    positions = np.asarray(positions, dtype=np.int64).ravel()
    if not (a.shape == b.shape == positions.shape):
        raise ValueError(f"subset_gap: {a.size}, {b.size} scores and {positions.size} positions; "
                         "a paired gap needs one position per image on both sides")
    if positions.size and (positions.min() < 0 or positions.max() >= n_total
                           or np.unique(positions).size != positions.size):
        raise ValueError(f"subset_gap: positions must be distinct, in 0..{n_total - 1}")
    if a.size == 0:
        return Interval.missing(0)
    estimate = 100.0 * (a.mean() - b.mean())
    w = resample_weights(n_total, resamples, seed)[:, positions]
    total = w.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        draws = 100.0 * (w @ (a - b)) / total  # NaN for a resample without a subset image,
    low, high = percentile_bounds(draws, level)  # which leaves the interval missing
    return Interval(float(estimate), low, high, int(a.size), level, draws)


@functools.lru_cache(maxsize=4)
def resample_weights(n: int, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """(``resamples``, ``n``) bootstrap multiplicities of ``n`` images (each row sums to
    ``n``): the same rows for every model of a cell make their draws paired. Read-only and
    memoised: every gap of a cell reads the same rows."""
    rng = _rng(seed)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)
    weights.flags.writeable = False
    return weights


def cka_draws(x: np.ndarray, y: np.ndarray, weights: np.ndarray,
              reference: "CKAReference | None" = None) -> np.ndarray:
    """Linear CKA between features ``x`` (n, d1) and ``y`` (n, d2) of the same n images under
    each bootstrap resample (a row of ``weights``, :func:`resample_weights`): one value per
    row, equal to :func:`illusion.metrics.linear_cka` of the resampled rows.

    With p = w / n, the weighted HSIC is sum_ij p_i p_j Kx~_ij Ky~_ij over the weighted-centred
    Gram matrices, which expands to p'(Kx o Ky)p - 2 sum_i p_i (Kx p)_i (Ky p)_i
    + (p'Kx p)(p'Ky p): matrix products with the n x n Gram matrices, no loop over resamples;
    ``Ky p`` is computed as ``Y (Y'p)`` when d2 < n (:func:`_times_gram`).
    ``reference`` (:class:`CKAReference` of ``x`` and the same ``weights``) reuses ``x``'s part
    across several ``y``."""
    y = np.asarray(y, dtype=np.float64)
    ref = reference if reference is not None else CKAReference(x, weights)
    if y.shape[0] != ref.k.shape[0] or weights.shape != ref.p.shape:
        raise ValueError("cka_draws: x, y and the weights must cover the same images")
    y = y - y.mean(0)  # CKA ignores a translation; centring first keeps the Grams small
    ky = y @ y.T
    p, kx = ref.p, ref.k
    v = _times_gram(p, y, ky)
    xy = (np.einsum("bi,bi->b", p @ (kx * ky), p) - 2.0 * np.einsum("bi,bi,bi->b", p, ref.u, v)
          + ref.pu * np.einsum("bi,bi->b", v, p))
    yy = _hsic_self(p, ky, v)
    with np.errstate(invalid="ignore", divide="ignore"):
        return xy / np.sqrt(ref.xx * yy)


class CKAReference:
    """The parts of :func:`cka_draws` that depend only on ``x`` and the resamples."""

    def __init__(self, x: np.ndarray, weights: np.ndarray):
        x = np.asarray(x, dtype=np.float64)
        if weights.shape[1] != x.shape[0]:
            raise ValueError("cka_draws: x, y and the weights must cover the same images")
        x = x - x.mean(0)
        self.p = weights / weights.sum(1, keepdims=True)
        self.k = x @ x.T
        self.u = _times_gram(self.p, x, self.k)
        self.pu = np.einsum("bi,bi->b", self.u, self.p)
        self.xx = _hsic_self(self.p, self.k, self.u)


def _times_gram(p: np.ndarray, x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``p @ k`` for the Gram matrix ``k = x @ x.T`` of x (n, d): as ``(p @ x) @ x.T`` when
    d < n, 2·B·n·d multiply-adds instead of B·n² (the same value up to rounding)."""
    return (p @ x) @ x.T if x.shape[1] < x.shape[0] else p @ k


def _hsic_self(p: np.ndarray, k: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The weighted HSIC of a feature matrix with itself, ``u = p @ k``."""
    pu = np.einsum("bi,bi->b", u, p)
    return (np.einsum("bi,bi->b", p @ (k * k), p) - 2.0 * np.einsum("bi,bi,bi->b", p, u, u)
            + pu * pu)


def percentile_bounds(draws, level: float = LEVEL) -> tuple[float, float]:
    """The ``level`` percentile interval (low, high) of bootstrap ``draws``; NaN for none or
    for draws with a NaN."""
    draws = np.asarray(draws, dtype=np.float64)
    if draws.size == 0 or np.isnan(draws).any():
        return float("nan"), float("nan")
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(draws, [tail, 100.0 - tail])
    return float(low), float(high)
