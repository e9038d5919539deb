"""Metrics on feature matrices against analytic answers.

Every test builds features whose answer is known in closed form (a simplex ETF, hand-computable
1-D classes, hand-placed neighbours), so a wrong formula fails. All data is tiny and seeded.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from illusion.features import block_grams
from illusion.metrics import (class_means, gram_cka, knn_accuracy, linear_cka, linear_probe,
                              mia_efficacy, mia_loss_attack, ncc_accuracy, neural_collapse,
                              split_mask)

K, D, PER_CLASS = 4, 6, 5
ATOL = 1e-6


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def etf_means(k: int = K, d: int = D, seed: int = 0) -> torch.Tensor:
    """(k, d) rows of a simplex ETF: unit norm, pairwise inner product -1/(k-1), zero sum."""
    e = math.sqrt(k / (k - 1)) * (torch.eye(k, dtype=torch.float64)
                                  - torch.ones(k, k, dtype=torch.float64) / k)
    if d >= k:  # embed by a D x K matrix with orthonormal columns: the Gram is preserved
        u, _ = torch.linalg.qr(torch.randn(d, k, generator=_gen(seed), dtype=torch.float64))
        return e @ u.T
    if d != k - 1:
        raise ValueError("a K-class simplex ETF needs D >= K-1")
    v, _ = torch.linalg.qr(e)  # first K-1 columns: orthonormal basis of 1-perp, E's range
    return e @ v[:, :k - 1]


def collapsed(k: int = K, d: int = D, per_class: int = PER_CLASS, offset: torch.Tensor | None = None):
    """Every sample equals its class mean (ETF), optionally plus a global offset."""
    m = etf_means(k, d)
    y = torch.arange(k).repeat_interleave(per_class)
    f = m[y] + (offset if offset is not None else 0.0)
    return m, f, y


def _angles(degrees) -> torch.Tensor:
    r = torch.tensor(degrees, dtype=torch.float64) * math.pi / 180
    return torch.stack([torch.cos(r), torch.sin(r)], 1)


# ------------------------------------------------------------------ basics

def test_etf_construction_is_a_simplex_etf():
    m = etf_means()
    gram = m @ m.T
    expected = torch.full((K, K), -1 / (K - 1), dtype=torch.float64).fill_diagonal_(1.0)
    torch.testing.assert_close(gram, expected, atol=1e-12, rtol=0)
    torch.testing.assert_close(m.sum(0), torch.zeros(D, dtype=torch.float64), atol=1e-12, rtol=0)


def test_split_mask():
    y = torch.tensor([0, 1, 2, 1, 3, 0])
    assert split_mask(y, [1, 3]).tolist() == [False, True, False, True, True, False]
    assert not split_mask(y, []).any()


def test_class_means_and_empty_class_is_zero():
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0], [10.0, -10.0]])
    y = torch.tensor([0, 0, 2])
    means = class_means(f, y, num_classes=4)
    assert means.shape == (4, 2)
    torch.testing.assert_close(means, torch.tensor([[2.0, 3.0], [0.0, 0.0], [10.0, -10.0],
                                                    [0.0, 0.0]], dtype=torch.float64))


# ---------------------------------------------------------- neural collapse

def test_collapsed_etf_with_aligned_classifier():
    m, f, y = collapsed()
    nc = neural_collapse(f, y, weight=m, bias=torch.zeros(K))
    assert nc["nc1"] == pytest.approx(0, abs=ATOL)
    assert nc["nc2"] == pytest.approx(0, abs=ATOL)
    assert nc["nc3"] == pytest.approx(0, abs=ATOL)
    assert nc["nc4"] == 1.0
    assert set(nc["duality"]) == set(range(K))
    for c in range(K):
        assert nc["duality"][c] == pytest.approx(0, abs=ATOL)
        assert nc["duality_uncentred"][c] == pytest.approx(0, abs=ATOL)


def test_without_weight_only_nc1_nc2():
    _, f, y = collapsed()
    assert set(neural_collapse(f, y)) == {"nc1", "nc2", "nc2_rownorm"}


def test_global_offset_only_breaks_uncentred_duality():
    offset = 3 * torch.randn(D, generator=_gen(1), dtype=torch.float64)
    m, f, y = collapsed(offset=offset)
    nc = neural_collapse(f, y, weight=m, bias=torch.zeros(K), sample_norm=False)
    assert nc["nc1"] == pytest.approx(0, abs=ATOL)
    assert nc["nc2"] == pytest.approx(0, abs=ATOL)
    assert nc["nc3"] == pytest.approx(0, abs=ATOL)
    for c in range(K):
        assert nc["duality"][c] == pytest.approx(0, abs=ATOL)
    # 1 - cos(m_c, m_c + o) with a big random offset: clearly non-zero for every class
    expected = {c: 1 - torch.nn.functional.cosine_similarity(m[c], m[c] + offset, dim=0).item()
                for c in range(K)}
    for c in range(K):
        assert nc["duality_uncentred"][c] == pytest.approx(expected[c], abs=1e-9)
        assert nc["duality_uncentred"][c] > 1e-2


def test_nc4_uses_bias():
    """With the offset, W = M needs b = -M o to classify like the nearest mean."""
    offset = 3 * torch.randn(D, generator=_gen(1), dtype=torch.float64)
    m, f, y = collapsed(offset=offset)
    assert neural_collapse(f, y, weight=m, bias=-(m @ offset))["nc4"] == 1.0
    # a huge bias for class 0 sends every sample there: agreement only on class 0's samples
    bias = torch.tensor([100.0, 0.0, 0.0, 0.0])
    assert neural_collapse(f, y, weight=m, bias=bias)["nc4"] == pytest.approx(1 / K)


def test_nc1_grows_with_noise():
    m, f, y = collapsed(per_class=20)
    z = torch.randn(f.shape, generator=_gen(2), dtype=torch.float64)
    values = [neural_collapse(f + s * z, y)["nc1"] for s in (0.01, 0.1, 0.3)]
    assert 0 < values[0] < values[1] < values[2]


@pytest.mark.parametrize("d", [K - 1, D])
def test_nc1_closed_form_with_class_centred_noise(d):
    """Noise with zero mean inside each class leaves the means exactly the ETF M, so
    Σ_B = MᵀM/K = Π/(K-1) with Π = (K-1)/K MᵀM the projector onto the means' span, and
    nc1 = tr(Σ_W (K-1) Π)/K: quadratic in the noise scale, blind to noise outside the span."""
    m, f, y = collapsed(d=d, per_class=20)
    z = torch.randn(f.shape, generator=_gen(3), dtype=torch.float64)
    for c in range(K):
        z[y == c] -= z[y == c].mean(0)
    proj = (K - 1) / K * m.T @ m
    torch.testing.assert_close(proj @ proj, proj, atol=1e-12, rtol=0)
    for s in (0.1, 0.5):
        sigma_w = (s * z).T @ (s * z) / len(z)
        expected = (K - 1) * torch.trace(sigma_w @ proj).item() / K
        assert neural_collapse(f + s * z, y, sample_norm=False)["nc1"] == pytest.approx(expected, rel=1e-9)
    # noise only outside the span of the means (possible when D > K-1) does not count
    if d > K - 1:
        outside = z - z @ proj
        assert neural_collapse(f + outside, y, sample_norm=False)["nc1"] == pytest.approx(0, abs=1e-9)


def test_nc1_hand_computed_1d_balanced():
    # class 0: {0, 2} (mean 1); class 1: {5, 7} (mean 6); global mean 3.5
    # Σ_B = ((1-3.5)² + (6-3.5)²)/2 = 6.25;  Σ_W = (1+1+1+1)/4 = 1
    # nc1 = Σ_W / Σ_B / K = 1 / 6.25 / 2 = 0.08
    f = torch.tensor([[0.0], [2.0], [5.0], [7.0]])
    y = torch.tensor([0, 0, 1, 1])
    assert neural_collapse(f, y, sample_norm=False)["nc1"] == pytest.approx(0.08, abs=1e-12)


def test_nc1_hand_computed_1d_unbalanced():
    # class 0: {0, 2} (mean 1); class 1: {6, 8, 10} (mean 8)
    # global mean over samples = 26/5 = 5.2; centred means -4.2, 2.8
    # Σ_B = (4.2² + 2.8²)/2 = (17.64 + 7.84)/2 = 12.74
    # Σ_W = (1 + 1 + 4 + 0 + 4)/5 = 2
    # nc1 = 2 / 12.74 / 2 = 1/12.74
    f = torch.tensor([[0.0], [2.0], [6.0], [8.0], [10.0]])
    y = torch.tensor([0, 0, 1, 1, 1])
    assert neural_collapse(f, y, sample_norm=False)["nc1"] == pytest.approx(1 / 12.74, abs=1e-12)


def test_nc1_ignores_variability_orthogonal_to_the_means():
    """Σ_B⁺ (pseudo-inverse): spread along y when the means differ only along x counts zero."""
    f = torch.tensor([[0.0, 1.0], [0.0, -1.0], [2.0, 1.0], [2.0, -1.0]])
    y = torch.tensor([0, 0, 1, 1])
    assert neural_collapse(f, y, sample_norm=False)["nc1"] == pytest.approx(0, abs=1e-12)
    # the same spread along x: Σ_W = 1, Σ_B = 1 on x -> nc1 = 1/2
    f2 = torch.tensor([[-1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    assert neural_collapse(f2, y, sample_norm=False)["nc1"] == pytest.approx(0.5, abs=1e-12)


def test_flipped_classifier_row():
    m, f, y = collapsed()
    w = m.clone()
    w[2] = -w[2]
    nc = neural_collapse(f, y, weight=w, bias=torch.zeros(K))
    assert nc["duality"][2] == pytest.approx(2, abs=ATOL)
    for c in (0, 1, 3):
        assert nc["duality"][c] == pytest.approx(0, abs=ATOL)
    # class 2's samples score -1 on their own row and +1/(K-1) on the others -> misclassified;
    # every other class keeps its argmax
    assert nc["nc4"] == pytest.approx((K - 1) / K)
    assert nc["nc3"] > 0.1


def test_positive_scaling_of_w_changes_nothing():
    m, f, y = collapsed()
    f = f + 0.05 * torch.randn(f.shape, generator=_gen(4), dtype=torch.float64)
    w = m + 0.3 * torch.randn(m.shape, generator=_gen(5), dtype=torch.float64)
    a = neural_collapse(f, y, weight=w)
    b = neural_collapse(f, y, weight=7.3 * w)
    assert a["nc3"] > 1e-3  # non-trivial value, so invariance means something
    assert b["nc3"] == pytest.approx(a["nc3"], abs=1e-12)
    assert b["nc4"] == a["nc4"]
    for c in range(K):
        assert a["duality"][c] > 1e-3
        assert b["duality"][c] == pytest.approx(a["duality"][c], abs=1e-12)
        assert b["duality_uncentred"][c] == pytest.approx(a["duality_uncentred"][c], abs=1e-12)


def test_nc3_sees_unequal_row_norms_of_w_rownorm_and_duality_do_not():
    """[A]'s nc3 Frobenius-normalises WH only, so rows of W with different norms (an equinorm
    violation of the classifier) count; nc3_rownorm and the duality are angles only."""
    m, f, y = collapsed()
    w = torch.tensor([1.0, 2.0, 5.0, 0.1], dtype=torch.float64)[:, None] * m
    nc = neural_collapse(f, y, weight=w)
    assert nc["nc3"] > 0.1
    assert nc["nc3_rownorm"] == pytest.approx(0, abs=ATOL)
    assert neural_collapse(f, y, weight=m)["nc3"] == pytest.approx(0, abs=ATOL)
    for c in range(K):
        assert nc["duality"][c] == pytest.approx(0, abs=ATOL)


def test_nc2_counts_unequal_mean_norms_nc2_rownorm_does_not():
    """Unbalanced classes with n_c a_c constant: centred means a_c v_c point along an ETF but
    have different norms. [A]'s nc2 (raw features here) sees the equinorm violation; nc2_rownorm
    (unit-normalised means) is 0, and nc1 is 0 (no spread)."""
    v = etf_means(k=3, d=2)
    counts, scales = [1, 2, 4], [4.0, 2.0, 1.0]  # n_c a_c = 4 for every class -> μ_G = 0
    y = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
    f = torch.stack([scales[c] * v[c] for c in y.tolist()])
    assert f.mean(0).abs().max() < 1e-12
    nc = neural_collapse(f, y, sample_norm=False)
    assert nc["nc2"] > 0.1
    assert nc["nc2_rownorm"] == pytest.approx(0, abs=ATOL)
    assert nc["nc1"] == pytest.approx(0, abs=ATOL)


def test_nc2_hand_computed_against_the_formula():
    """Two classes on a line at +2 and -1 (unbalanced 1:2 so that μ_G = 0): H = [2, -1]ᵀ,
    HᵀH = [[4, -2], [-2, 1]] / 5 after Frobenius normalisation; the K=2 ETF is
    [[1, -1], [-1, 1]] / 2 (the distance to it by hand: ‖[[.3, .1], [.1, -.3]]‖_F = √0.2)."""
    f = torch.tensor([[2.0], [-1.0], [-1.0]], dtype=torch.float64)
    y = torch.tensor([0, 1, 1])
    assert neural_collapse(f, y, sample_norm=False)["nc2"] == pytest.approx(math.sqrt(0.2), abs=1e-12)


def test_sample_norm_divides_each_feature_by_its_norm_for_nc1_to_nc3_only():
    """[A]'s nc.py computes NC1–NC3 on L2-normalised features; nc4 and the duality
    (nc_cmf.py) read the raw features."""
    m, f, y = collapsed(per_class=6)
    g = _gen(11)
    f = f * (0.5 + torch.rand(len(f), 1, generator=g, dtype=torch.float64))  # per-sample norms
    f = f + 0.05 * torch.randn(f.shape, generator=g, dtype=torch.float64)
    w = m + 0.2 * torch.randn(m.shape, generator=g, dtype=torch.float64)
    normed = torch.nn.functional.normalize(f, dim=1)
    a = neural_collapse(f, y, weight=w)
    b = neural_collapse(normed, y, weight=w, sample_norm=False)
    raw = neural_collapse(f, y, weight=w, sample_norm=False)
    for key in ("nc1", "nc2", "nc3"):
        assert a[key] == pytest.approx(b[key], abs=1e-12), key
    assert a["nc1"] != pytest.approx(raw["nc1"], abs=1e-6)  # the normalisation matters
    assert a["nc4"] == raw["nc4"]
    for key in ("nc2_rownorm", "nc3_rownorm"):
        assert a[key] == pytest.approx(raw[key], abs=1e-12), key
    for c in range(K):
        assert a["duality"][c] == pytest.approx(raw["duality"][c], abs=1e-12)


def test_classes_restricts_like_filtering():
    k = 5
    m, f, y = collapsed(k=k, d=7, per_class=8)
    f = f + 0.2 * torch.randn(f.shape, generator=_gen(6), dtype=torch.float64)
    w = m + 0.2 * torch.randn(m.shape, generator=_gen(7), dtype=torch.float64)
    bias = torch.randn(k, generator=_gen(8), dtype=torch.float64)
    perm = torch.randperm(len(y), generator=_gen(9))  # labels not sorted
    f, y = f[perm], y[perm]
    keep = [4, 1, 2]
    mask = split_mask(y, keep)
    restricted = neural_collapse(f, y, weight=w, bias=bias, classes=keep)
    filtered = neural_collapse(f[mask], y[mask], weight=w, bias=bias)
    full = neural_collapse(f, y, weight=w, bias=bias)
    assert set(restricted["duality"]) == {1, 2, 4}
    for key in ("nc1", "nc2", "nc3", "nc4"):
        assert restricted[key] == pytest.approx(filtered[key], abs=1e-12), key
    for c in keep:
        assert restricted["duality"][c] == pytest.approx(filtered["duality"][c], abs=1e-12)
        assert restricted["duality_uncentred"][c] == pytest.approx(
            filtered["duality_uncentred"][c], abs=1e-12)
    assert restricted["nc1"] != pytest.approx(full["nc1"], abs=1e-6)  # the restriction matters
    with pytest.raises(ValueError):
        neural_collapse(f, y, weight=w, classes=[2])


def test_non_etf_means_give_positive_nc2():
    # K=3 in 2-D: two class means almost equal, the third far away
    means = torch.tensor([[1.0, 0.0], [1.0, 0.01], [-1.0, 0.0]], dtype=torch.float64)
    y = torch.arange(3).repeat_interleave(4)
    nc2 = neural_collapse(means[y], y)["nc2"]
    assert nc2 > 0.3
    # versus an ETF in the same space
    _, f, y4 = collapsed(k=3, d=2, per_class=4)
    assert neural_collapse(f, y4)["nc2"] == pytest.approx(0, abs=ATOL)


# ---------------------------------------------------------------------- CKA

def _cka_direct(x: torch.Tensor, y: torch.Tensor) -> float:
    """HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)), K = XXᵀ, L = YYᵀ, HSIC = tr(KHLH)."""
    n = x.shape[0]
    h = torch.eye(n, dtype=torch.float64) - torch.ones(n, n, dtype=torch.float64) / n
    kx, ly = x.double() @ x.double().T, y.double() @ y.double().T

    def hsic(a, b):
        return torch.trace(a @ h @ b @ h)

    return (hsic(kx, ly) / torch.sqrt(hsic(kx, kx) * hsic(ly, ly))).item()


def test_cka_identity_symmetry_and_direct_formula():
    g = _gen(10)
    x = torch.randn(30, 5, generator=g, dtype=torch.float64) + 2.0  # uncentred on purpose
    y = x[:, :3] @ torch.randn(3, 4, generator=g, dtype=torch.float64) \
        + 0.5 * torch.randn(30, 4, generator=g, dtype=torch.float64)
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    value = linear_cka(x, y)  # D1 = 5 != D2 = 4
    assert 0.05 < value < 0.999
    assert linear_cka(y, x) == pytest.approx(value, abs=1e-12)
    assert value == pytest.approx(_cka_direct(x, y), abs=1e-10)
    z = torch.randn(30, 8, generator=g, dtype=torch.float64)
    assert linear_cka(x, z) == pytest.approx(_cka_direct(x, z), abs=1e-10)


def test_cka_invariances():
    g = _gen(11)
    x = torch.randn(40, 6, generator=g, dtype=torch.float64)
    y = x @ torch.randn(6, 6, generator=g, dtype=torch.float64) \
        + torch.randn(40, 6, generator=g, dtype=torch.float64)
    base = linear_cka(x, y)
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=torch.float64))
    assert linear_cka(x @ q, y) == pytest.approx(base, abs=1e-10)
    assert linear_cka(3.7 * x, y) == pytest.approx(base, abs=1e-10)
    assert linear_cka(x, 0.01 * y) == pytest.approx(base, abs=1e-10)
    assert linear_cka(x + 5.0, y) == pytest.approx(base, abs=1e-10)  # centring
    s = torch.tensor([10.0, 1.0, 0.1, 1.0, 3.0, 0.5], dtype=torch.float64)
    assert abs(linear_cka(x * s, y) - base) > 1e-2  # anisotropic scaling is not invariant
    assert abs(linear_cka(x * s, x) - 1.0) > 1e-2


def test_cka_independent_gaussians_small():
    g = _gen(12)
    x = torch.randn(2000, 10, generator=g)
    y = torch.randn(2000, 10, generator=g)
    assert 0 <= linear_cka(x, y) < 0.1  # expected ≈ D/N = 0.005


def test_cka_row_mismatch_raises():
    with pytest.raises(ValueError):
        linear_cka(torch.randn(10, 3), torch.randn(11, 3))


def _gram(x: torch.Tensor) -> torch.Tensor:
    return x.double() @ x.double().T


def test_gram_cka_is_linear_cka_of_flattened_maps():
    """CKA from Gram matrices equals linear_cka of the explicitly flattened maps, wider than
    the sample count included, is 1 for a map with itself, and keeps linear CKA's
    invariances: an orthogonal transform and an isotropic scaling of the flattened features."""
    g = _gen(13)
    maps = torch.randn(12, 3, 4, 4, generator=g, dtype=torch.float64) + 1.0  # (N, C, H, W)
    other = maps.flip(1) * maps + 0.3 * torch.randn(12, 3, 4, 4, generator=g,
                                                    dtype=torch.float64)
    x, y = maps.flatten(1), other.flatten(1)  # (12, 48): D > N
    assert gram_cka(_gram(x), _gram(x)) == pytest.approx(1.0, abs=1e-12)
    value = gram_cka(_gram(x), _gram(y))
    assert 0.05 < value < 0.999
    assert value == pytest.approx(linear_cka(x, y), abs=1e-10)
    assert value == pytest.approx(_cka_direct(x, y), abs=1e-10)
    q, _ = torch.linalg.qr(torch.randn(48, 48, generator=g, dtype=torch.float64))
    assert gram_cka(_gram(x @ q), _gram(y)) == pytest.approx(value, abs=1e-10)
    assert gram_cka(_gram(2.5 * x), _gram(y)) == pytest.approx(value, abs=1e-10)
    assert gram_cka(_gram(x + 7.0), _gram(y)) == pytest.approx(value, abs=1e-10)  # centring
    assert math.isnan(gram_cka(_gram(torch.ones(5, 4)), _gram(torch.randn(5, 4))))
    with pytest.raises(ValueError):
        gram_cka(_gram(torch.randn(5, 2)), _gram(torch.randn(6, 2)))


@pytest.mark.parametrize("block", [1, 4, 5, 11, 100])
def test_block_grams_equal_the_one_shot_gram(block):
    """Filling the Gram matrix block pair by block pair (a last block shorter than the
    others included) gives X Xᵀ of all rows at once, for every feature set; each later
    block is asked for once per earlier block."""
    g = _gen(14)
    feats = {"a": torch.randn(11, 7, generator=g), "b": torch.randn(11, 30, generator=g)}
    calls = []

    def maps(start: int, stop: int) -> dict:
        calls.append((start, stop))
        return {k: v[start:stop] for k, v in feats.items()}

    grams = block_grams(maps, 11, block)
    for k, v in feats.items():
        assert torch.allclose(grams[k], _gram(v), atol=1e-12), k
        assert grams[k].dtype == torch.float64
    b = math.ceil(11 / block)
    assert len(calls) == b * (b + 1) // 2
    with pytest.raises(ValueError):
        block_grams(maps, 11, 0)


# ------------------------------------------------------------------ readouts

def _clusters(per_class: int, seed: int, spread: float = 0.3, d: int = 5, k: int = 3):
    g = _gen(seed)
    centres = 5.0 * torch.eye(k, d)
    y = torch.arange(k).repeat_interleave(per_class)
    y = y[torch.randperm(len(y), generator=g)]
    return centres[y] + spread * torch.randn(len(y), d, generator=g), y


def test_linear_probe_separable_keys_and_determinism():
    xtr, ytr = _clusters(60, seed=20)
    xte, yte = _clusters(20, seed=21)
    torch_state, np_state = torch.random.get_rng_state(), np.random.get_state()
    out = linear_probe(xtr, ytr, xte, yte, num_classes=3, forget=[2], generator=_gen(0))
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    after = np.random.get_state()
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1]) \
        and after[2:] == np_state[2:]
    assert set(out) == {"all", "retain", "forget", "epoch", "val", "pred"}
    assert out["all"] == out["retain"] == out["forget"] == out["val"] == 100.0
    assert torch.equal(out["pred"], yte)  # every test sample's predicted class
    assert 1 <= out["epoch"] <= 20
    again = linear_probe(xtr, ytr, xte, yte, num_classes=3, forget=[2], generator=_gen(0))
    assert torch.equal(again.pop("pred"), out.pop("pred")) and again == out


def test_linear_probe_retain_forget_split():
    """Test class 2 relabelled as class 0: forget accuracy 0, retain 100, all 2/3."""
    xtr, ytr = _clusters(60, seed=22)
    xte, yte = _clusters(20, seed=23)
    out = linear_probe(xtr, ytr, xte, yte, num_classes=3, forget=[2])
    wrong = yte.clone()
    wrong[yte == 2] = 0
    bad = linear_probe(xtr, ytr, xte, wrong, num_classes=3, forget=[1])
    assert out["retain"] == 100.0 and out["forget"] == 100.0
    # with labels `wrong`, "forget" = class 1 (all right), "retain" = classes 0 and (relabelled) 2
    assert bad["forget"] == 100.0
    n0, n2 = int((yte == 0).sum()), int((yte == 2).sum())
    assert bad["retain"] == pytest.approx(100.0 * n0 / (n0 + n2))
    empty = linear_probe(xtr, ytr, xte, yte, num_classes=3)
    assert math.isnan(empty["forget"]) and empty["retain"] == 100.0


def _reference_probe(x, y, xt, num_classes, g, epochs, lr=0.01, momentum=0.9, batch=64,
                     cosine=False):
    """[A]'s protocol written out with nn.Linear and an explicit momentum buffer (the same
    random draws in the same order as linear_probe), returning test predictions; with
    ``cosine``, the rate of epoch e is lr * (1 + cos(pi (e - 1) / epochs)) / 2 and the last
    epoch is kept."""
    n, d = x.shape
    perm = torch.randperm(n, generator=g)
    n_val = int(0.1 * n)
    fit, val = perm[n_val:], perm[:n_val]
    bound = 1 / math.sqrt(d)
    w = (torch.rand(num_classes, d, generator=g) * 2 - 1) * bound
    b = (torch.rand(num_classes, generator=g) * 2 - 1) * bound
    lin = torch.nn.Linear(d, num_classes)
    with torch.no_grad():
        lin.weight.copy_(w)
        lin.bias.copy_(b)
    bufs = [None, None]
    best = (-1.0, None)
    for e in range(epochs):
        rate = lr * 0.5 * (1 + math.cos(math.pi * e / epochs)) if cosine else lr
        order = torch.randperm(len(fit), generator=g)
        for s in range(0, len(order), batch):
            idx = fit[order[s:s + batch]]
            lin.zero_grad()
            torch.nn.functional.cross_entropy(lin(x[idx]), y[idx]).backward()
            with torch.no_grad():
                for i, p in enumerate((lin.weight, lin.bias)):
                    bufs[i] = p.grad.clone() if bufs[i] is None else momentum * bufs[i] + p.grad
                    p -= rate * bufs[i]
        with torch.no_grad():
            acc = (lin(x[val]).argmax(1) == y[val]).double().mean().item()
        if cosine or acc > best[0]:
            best = (acc, lin(xt).argmax(1).detach())
    return best[1]


def test_linear_probe_matches_a_written_out_sgd_on_overlapping_classes():
    """Overlapping classes (the probe is not perfect), raw unstandardised features with a large
    offset and scale: predictions equal a step-by-step SGD with momentum, no weight decay,
    batch 64, best held-out epoch."""
    x, y = _clusters(80, seed=29, spread=2.5)
    xt, yt = _clusters(40, seed=30, spread=2.5)
    x, xt = 3.0 * x + 4.0, 3.0 * xt + 4.0
    for schedule, cosine in (("first-best", False), ("cosine-last", True)):
        out = linear_probe(x, y, xt, yt, num_classes=3, generator=_gen(5), epochs=6,
                           schedule=schedule)
        ref = _reference_probe(x.float(), y, xt.float(), 3, _gen(5), epochs=6, cosine=cosine)
        assert 40.0 < out["all"] < 100.0
        assert out["all"] == pytest.approx(100.0 * (ref == yt).double().mean().item(),
                                           abs=1e-9), schedule
    cosine = linear_probe(x, y, xt, yt, num_classes=3, generator=_gen(5), epochs=6)
    assert cosine["epoch"] == 6  # the default keeps the last epoch
    with pytest.raises(ValueError, match="schedule must be one of"):
        linear_probe(x, y, xt, yt, num_classes=3, generator=_gen(5), schedule="best")


def test_linear_probe_keeps_the_best_held_out_epoch_not_the_last():
    """A learning rate so large that SGD oscillates: the reported epoch is the first one with
    the best held-out accuracy, and ``val`` is that accuracy."""
    x, y = _clusters(80, seed=31, spread=2.0)
    out = linear_probe(x, y, x, y, num_classes=3, generator=_gen(1), lr=50.0, epochs=8,
                       schedule="first-best")
    traj = [linear_probe(x, y, x, y, num_classes=3, generator=_gen(1), lr=50.0, epochs=e,
                         schedule="first-best") for e in range(1, 9)]
    vals = [t["val"] for t in traj]
    assert out["val"] == max(vals)
    assert out["epoch"] == 1 + vals.index(max(vals))


def test_ncc_separable():
    xtr, ytr = _clusters(30, seed=24)
    xte, yte = _clusters(10, seed=25)
    out = ncc_accuracy(xtr, ytr, xte, yte, num_classes=3, forget=[1])
    assert torch.equal(out.pop("pred"), yte)
    assert out == {"all": 100.0, "retain": 100.0, "forget": 100.0}


def test_ncc_differs_from_knn():
    # class 0: two points symmetric about the x axis -> mean (1, 0)
    # class 1: two points on the y axis and one at angle ~0.57° -> mean (1/3, 0.67)
    train = torch.tensor([[1.0, 0.1], [1.0, -0.1], [0.0, 1.0], [0.0, 1.0], [1.0, 0.01]])
    train_y = torch.tensor([0, 0, 1, 1, 1])
    test, test_y = torch.tensor([[1.0, 0.005]]), torch.tensor([0])
    # Euclidean to class means: 0.005 vs ~0.93 -> class 0 (right)
    assert ncc_accuracy(train, train_y, test, test_y, num_classes=2)["all"] == 100.0
    # cosine 1-NN: the class-1 point at angle 0.57° is nearer than class 0's at ±5.7° -> wrong
    assert knn_accuracy(train, train_y, test, test_y, k=1)["all"] == 0.0


def test_ncc_uses_the_forget_class_mean():
    # 1-D: class 0 at 0, class 1 at 10, forget class 2 at 5
    train = torch.tensor([[0.0], [0.0], [10.0], [10.0], [5.0], [5.0]])
    train_y = torch.tensor([0, 0, 1, 1, 2, 2])
    # the class-1 test point at 6 is nearest to class 2's mean (5), not class 1's (10); without
    # class 2's mean it would be right. The forget point at 5.5 is only right with that mean.
    test, test_y = torch.tensor([[0.5], [6.0], [5.5]]), torch.tensor([0, 1, 2])
    out = ncc_accuracy(train, train_y, test, test_y, num_classes=3, forget=[2])
    assert out["pred"].tolist() == [0, 2, 2]
    assert out["retain"] == 50.0
    assert out["forget"] == 100.0
    assert out["all"] == pytest.approx(200 / 3)


def test_knn_k1_is_brute_force_cosine_nearest_neighbour():
    g = _gen(30)
    train = torch.randn(50, 4, generator=g, dtype=torch.float64)
    train_y = torch.randint(0, 4, (50,), generator=g)
    test = torch.randn(40, 4, generator=g, dtype=torch.float64)
    cos = (test / test.norm(dim=1, keepdim=True)) @ (train / train.norm(dim=1, keepdim=True)).T
    nn_label = train_y[cos.argmax(1)]
    # test labels = the brute-force answer, except every 4th flipped to another class
    test_y = nn_label.clone()
    test_y[::4] = (test_y[::4] + 1) % 4
    out = knn_accuracy(train, train_y, test, test_y, k=1, forget=[3], chunk=7)
    assert torch.equal(out["pred"], nn_label)
    assert out["all"] == pytest.approx(100.0 * 30 / 40)
    m = test_y == 3
    assert out["forget"] == pytest.approx(100.0 * float((nn_label[m] == test_y[m]).double().mean()))


def test_knn_k5_majority_vote():
    # neighbours of angle 0 in order: 1° (c0), 2° (c1), 3° (c1), 4° (c2), 5° (c1); far: c0, c0
    train = _angles([1, 2, 3, 4, 5, 60, 70])
    train_y = torch.tensor([0, 1, 1, 2, 1, 0, 0])
    test = _angles([0])
    assert knn_accuracy(train, train_y, test, torch.tensor([1]), k=5)["all"] == 100.0
    assert knn_accuracy(train, train_y, test, torch.tensor([0]), k=1)["all"] == 100.0
    # k=7: class 0 has 3 votes, class 1 has 3 -> tie, the nearest (1°, class 0) wins
    assert knn_accuracy(train, train_y, test, torch.tensor([0]), k=7)["all"] == 100.0


@pytest.mark.parametrize("labels,expected", [
    ([0, 1, 1, 0], 0),  # 2-2 tie, nearest is class 0
    ([1, 0, 0, 1], 1),  # 2-2 tie, nearest is class 1 (not the lower label)
    ([2, 0, 0, 1, 1], 0),  # 2-2 tie between 0 and 1 (nearest, class 2, not tied): 0 is nearer
    ([2, 1, 1, 0, 0], 1),  # same with labels swapped: 1 is nearer, not the lower label 0
])
def test_knn_ties_go_to_the_nearest(labels, expected):
    train = _angles([1, 2, 3, 4, 5][:len(labels)])
    out = knn_accuracy(train, torch.tensor(labels), _angles([0]), torch.tensor([expected]),
                       k=len(labels))
    assert out["all"] == 100.0


# ---------------------------------------------------------------------- MIA

def _conf(n: int, mean: float, sd: float, g: torch.Generator) -> torch.Tensor:
    return (mean + sd * torch.randn(n, generator=g, dtype=torch.float64)).clamp(0, 1)


def test_mia_efficacy_sign_convention_and_determinism():
    g = _gen(40)
    retain, test = _conf(400, 0.99, 0.01, g), _conf(400, 0.6, 0.2, g)
    forget_like_test, forget_like_retain = _conf(200, 0.6, 0.2, g), _conf(200, 0.99, 0.01, g)
    high = mia_efficacy(retain, test, forget_like_test, generator=_gen(1))
    low = mia_efficacy(retain, test, forget_like_retain, generator=_gen(1))
    assert high > 80
    assert low < 20
    assert mia_efficacy(retain, test, forget_like_test, generator=_gen(1)) == high
    assert mia_efficacy(retain, test, forget_like_test, max_per_side=300,
                        generator=_gen(2)) > 80  # balanced subsampling path


def test_mia_loss_attack():
    g = _gen(41)
    train_loss = 0.01 * torch.rand(300, generator=g)
    test_loss = 1.0 + torch.rand(300, generator=g)
    assert mia_loss_attack(train_loss, test_loss) > 90
    same_a, same_b = torch.rand(300, generator=g), torch.rand(300, generator=g)
    assert abs(mia_loss_attack(same_a, same_b) - 50) < 15
    assert mia_loss_attack(same_a, same_b) == mia_loss_attack(same_a, same_b)
    assert math.isnan(mia_loss_attack(train_loss[:3], test_loss))
