"""What the network still knows: metrics on feature matrices.

Every function takes tensors (features, labels, weights), never models or loaders; features are
extracted once per model (:mod:`illusion.features`). Formulas follow Papyan, Han & Donoho (2020)
for neural collapse, Kornblith et al. (2019) for linear CKA, [A]'s protocol for the linear probe
and SalUn's "MIA-efficacy" for the membership-inference score.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["class_means", "knn_accuracy", "linear_cka", "linear_probe", "mia_efficacy",
           "mia_loss_attack", "ncc_accuracy", "neural_collapse", "split_mask"]


# Bump when a metric's definition or solver changes: cached evaluation records carry it in
# their key, so numbers computed by an older version are recomputed, never mixed in.
# 3: profiles that train under bfloat16 autocast (cpu) also extract features under it.
METRICS_VERSION = 3


def _acc(pred: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy in percent; NaN for an empty set."""
    return float("nan") if len(y) == 0 else 100.0 * (pred == y).double().mean().item()


def split_mask(labels: torch.Tensor, forget: Sequence[int]) -> torch.Tensor:
    """Boolean mask of samples whose label is a forget class."""
    return torch.isin(labels, torch.as_tensor(list(forget), dtype=labels.dtype))


def _retain_forget(pred: torch.Tensor, y: torch.Tensor, forget: Sequence[int]) -> dict:
    m = split_mask(y, forget)
    return {"retain": _acc(pred[~m], y[~m]), "forget": _acc(pred[m], y[m])}


def class_means(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(K, D) mean feature of every class (zeros for a class without samples)."""
    f = features.double()
    sums = torch.zeros(num_classes, f.shape[1], dtype=f.dtype).index_add_(0, labels, f)
    counts = torch.bincount(labels, minlength=num_classes).clamp_min(1).to(f.dtype)
    return sums / counts[:, None]


# ------------------------------------------------------------------------ readouts

def ncc_accuracy(train_f: torch.Tensor, train_y: torch.Tensor, test_f: torch.Tensor,
                 test_y: torch.Tensor, num_classes: int, forget: Sequence[int] = ()) -> dict:
    """Nearest-class-mean (Euclidean) accuracy on the test features, retain / forget / all.

    Class means come from the training features of **all** classes with true labels.
    """
    means = class_means(train_f, train_y, num_classes)  # (K, D)
    pred = torch.cdist(test_f.double(), means).argmin(1)
    return {"all": _acc(pred, test_y), **_retain_forget(pred, test_y, forget)}


def knn_accuracy(train_f: torch.Tensor, train_y: torch.Tensor, test_f: torch.Tensor,
                 test_y: torch.Tensor, k: int = 5, forget: Sequence[int] = (),
                 chunk: int = 2048) -> dict:
    """k-nearest-neighbour (cosine) majority vote; a tie between classes goes to the tied
    class whose member is nearest (the nearest neighbour's label when that class is tied)."""
    a, b = F.normalize(train_f.float(), dim=1), F.normalize(test_f.float(), dim=1)
    preds = []
    for start in range(0, len(b), chunk):
        sim = b[start:start + chunk] @ a.T  # (chunk, N_train)
        nn_idx = sim.topk(k, dim=1).indices  # (chunk, k), nearest first
        votes = train_y[nn_idx]
        counts = F.one_hot(votes, int(train_y.max()) + 1).sum(1)  # (chunk, K)
        # neighbours whose class has the top count; the first (nearest) of them decides
        top = counts.gather(1, votes) == counts.max(1, keepdim=True).values  # (chunk, k)
        first = top.to(torch.int8).argmax(1, keepdim=True)  # index of the first True
        preds.append(votes.gather(1, first).squeeze(1))
    pred = torch.cat(preds) if preds else torch.empty(0, dtype=torch.int64)
    return {"all": _acc(pred, test_y), **_retain_forget(pred, test_y, forget)}


def linear_probe(train_f: torch.Tensor, train_y: torch.Tensor, test_f: torch.Tensor,
                 test_y: torch.Tensor, num_classes: int, forget: Sequence[int] = (),
                 generator: torch.Generator | None = None, val_fraction: float = 0.1,
                 l2_grid: Sequence[float] = (1e-2,), max_iter: int = 200,
                 tol: float = 3e-5) -> dict:
    """[A]'s linear probe, solved by full-batch L-BFGS on frozen features.

    A linear layer with bias is fitted by softmax cross-entropy plus ``l2/2 ||W||^2`` (bias
    not penalised) on the training features of all classes with true labels, standardised
    with the mean and standard deviation of all training features. As in [A], ``val_fraction``
    of them is held out and the probe is trained on the rest; the held-out accuracy selects
    the L2 strength when ``l2_grid`` has several values (ties go to the stronger L2, as [A]'s
    first best epoch), and the selected probe, trained on the other samples and not refitted,
    is reported on the test features (retain / forget / all, percent; ``"l2"`` is the
    selected strength).

    Solver: L-BFGS (``scipy.optimize``'s L-BFGS-B, no bounds, 40 correction pairs) from zero,
    with the analytic gradient in float32 NumPy on one BLAS thread. It stops when no gradient
    entry exceeds ``tol`` or after ``max_iter`` iterations; at the default ``tol`` the test
    accuracy of every class came within 0.1 points of the exact optimum on the 11 distinct
    cpu-profile feature sets tried (original and unlearned models). Every L2 of a grid is
    fitted from zero: a warm start from the previous L2 meets the gradient tolerance almost
    at once and stops far from its own optimum.

    The default L2 (1e-2) is fixed, not selected per call. On the memorised training features
    the held-out accuracy is 100% at every L2, and where it is not it favours the weakest L2
    on offer, a regime [A]'s 20-epoch SGD never reaches. Early-stopped (S)GD behaves like
    ridge with strength about ``1 / (lr / (1 - momentum) * steps)``, about 0.016 for [A]'s
    budget (20 epochs of 32 steps at lr 0.01 and momentum 0.9), so 1e-2 is the strength
    nearest to [A]'s protocol. ``bench/probe.py`` compares the two. Deterministic: the only
    randomness is the held-out split (``generator``), and the global RNGs are never used.
    """
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    perm = torch.randperm(len(train_y), generator=g).numpy()
    n_val = int(round(val_fraction * len(train_y)))
    val, fit = perm[:n_val], perm[n_val:]
    y = train_y.detach().cpu().numpy()
    best = None
    with _one_blas_thread():
        xs, shift, scale = _standardise(train_f.detach().cpu().numpy())
        x_fit, x_val = xs[fit], xs[val]
        for l2 in l2_grid:
            w = _lbfgs_softmax(x_fit, y[fit], num_classes, l2, max_iter, tol)
            acc = float((np.argmax(x_val @ w.T, 1) == y[val]).mean()) if n_val else 0.0
            if best is None or (acc, l2) > (best[0], best[1]):
                best = (acc, l2, w)
        _, l2, w = best
        w_raw = w[:, :-1] * scale  # fold the standardisation in: (x - mu) / sd @ w.T + b
        b_raw = w[:, -1] - w_raw @ shift
        z = test_f.detach().cpu().numpy().astype(np.float32, copy=False) @ w_raw.T
        z += b_raw  # in place: ``a @ b + c`` on large arrays pays for NumPy's temporary elision
    return {**_np_accuracies(np.argmax(z, 1), test_y.detach().cpu().numpy(), forget), "l2": l2}


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, D+1) float32 copy of ``x`` standardised per column, with a ones column appended;
    also the float32 ``shift`` (mean) and ``scale`` (1 / std, ``torch.std``'s n-1, clamped at
    1e-6) that were applied. The mean is a float32 BLAS sum: a shift of the features only
    moves the unpenalised bias; the spread is summed about it."""
    n, d = x.shape
    shift = (np.ones(n, x.dtype) @ x / max(n, 1)).astype(np.float32)
    xs = np.empty((n, d + 1), np.float32)
    xs[:, d] = 1.0
    # one ufunc call: ``x.astype(...) - shift`` would pay for NumPy's temporary elision
    np.subtract(x, shift, out=xs[:, :d])
    sd = np.sqrt(np.einsum("ij,ij->j", xs[:, :d], xs[:, :d]) / max(n - 1, 1))
    scale = (1.0 / np.maximum(sd, 1e-6)).astype(np.float32)
    xs[:, :d] *= scale
    return xs, shift, scale


def _np_accuracies(pred: np.ndarray, y: np.ndarray, forget: Sequence[int]) -> dict:
    """``_acc`` / ``_retain_forget`` on NumPy labels: all / retain / forget accuracy in
    percent (NaN for an empty set), without the round trip through torch."""
    ok = pred == y
    m = np.isin(y, np.asarray(list(forget), dtype=y.dtype))
    out = {}
    for key, sel in (("all", ok), ("retain", ok[~m]), ("forget", ok[m])):
        out[key] = float("nan") if len(sel) == 0 else 100.0 * float(sel.mean())
    return out


def _lbfgs_softmax(xa: np.ndarray, y: np.ndarray, num_classes: int, l2: float,
                   max_iter: int, tol: float) -> np.ndarray:
    """Minimise mean CE(xa @ W.T, y) + l2/2 ||W[:, :-1]||^2 by L-BFGS from zero.

    ``xa`` is an (n, D+1) float32 array whose last column is ones (so ``W[:, -1]`` is the
    bias, not penalised). Returns W, a (K, D+1) float32 array. The loss and its analytic
    gradient are computed in float32 (sums in float64), the logits laid out (K, n) so that
    every reduction runs over the long axis.
    """
    from scipy.optimize import minimize

    n, d1 = xa.shape
    k = num_classes
    xa_t = np.ascontiguousarray(xa.T)  # both layouts: each product then runs at BLAS speed
    target = np.zeros((k, n), np.float32)
    target[y, np.arange(n)] = 1.0
    flat = y * n + np.arange(n)  # index of (y_i, i) in the flattened (K, n) logits
    penalised = np.ones((k, d1), np.float32)
    penalised[:, -1] = 0.0

    def loss_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w = theta.reshape(k, d1).astype(np.float32)
        z = w @ xa_t  # (K, n) logits
        z -= z.max(0)
        e = np.exp(z)
        s = e.sum(0)
        ce = (np.log(s).sum(dtype=np.float64) - z.ravel().take(flat).sum(dtype=np.float64)) / n
        e /= s  # softmax
        e -= target
        grad = e @ xa
        grad *= 1.0 / n
        wp = w * penalised
        grad += l2 * wp
        return ce + 0.5 * l2 * float(np.vdot(wp, wp)), grad.ravel().astype(np.float64)

    res = minimize(loss_grad, np.zeros(k * d1), jac=True, method="L-BFGS-B",
                   options={"maxiter": max_iter, "gtol": tol, "ftol": 1e-10, "maxcor": 40})
    return res.x.reshape(k, d1).astype(np.float32)


@functools.lru_cache(maxsize=1)
def _blas_controller():
    """threadpoolctl's controller of the BLAS libraries loaded once SciPy's optimiser is: SciPy
    brings its own OpenBLAS, and one left unlimited keeps a second thread spinning."""
    import scipy.optimize  # noqa: F401  load SciPy's BLAS first, so that it is limited too

    try:
        from threadpoolctl import ThreadpoolController  # installed with scikit-learn
    except ImportError:  # pragma: no cover
        return None
    return ThreadpoolController()


def _one_blas_thread():
    """Context limiting NumPy's and SciPy's BLAS to one thread (restored on exit): the probe's
    products are too small to gain from threads, and on a busy machine a second BLAS thread
    makes them several times slower."""
    ctrl = _blas_controller()
    return contextlib.nullcontext() if ctrl is None else ctrl.limit(limits=1, user_api="blas")


# ------------------------------------------------------------------ neural collapse

def _etf_distance(gram: torch.Tensor) -> float:
    """Frobenius distance of a normalised (K, K) Gram matrix to the simplex-ETF Gram."""
    k = gram.shape[0]
    etf = (torch.eye(k, dtype=gram.dtype) - torch.ones(k, k, dtype=gram.dtype) / k) * k / (k - 1)
    g = gram / torch.linalg.matrix_norm(gram)
    return torch.linalg.matrix_norm(g - etf / torch.linalg.matrix_norm(etf)).item()


def neural_collapse(features: torch.Tensor, labels: torch.Tensor,
                    weight: torch.Tensor | None = None, bias: torch.Tensor | None = None,
                    classes: Sequence[int] | None = None) -> dict:
    """NC1–NC4 and the per-class duality distance (Papyan et al. 2020; [A]).

    ``classes`` restricts every quantity to those classes (all present labels by default);
    the global mean is always over the selected classes' samples.

    * ``nc1`` = tr(Σ_W Σ_B⁺) / K (within-class variability relative to between-class);
    * ``nc2`` = ‖G/‖G‖ − E/‖E‖‖_F with G the Gram of centred class means normalised to unit
      length and E the simplex-ETF Gram (0 when the means form a simplex ETF);
    * ``nc3`` = the same distance for the Gram W_c · (μ_c − μ_G) of classifier rows and centred
      means (needs ``weight``);
    * ``nc4`` = share of samples where argmax(W f + b) equals the nearest class mean (among the
      selected classes);
    * ``duality`` / ``duality_uncentred`` = per-class 1 − cos(w_c, μ_c − μ_G) and
      1 − cos(w_c, μ_c), as ``{class: value}``.
    """
    f, y = features.double(), labels
    cls = sorted(torch.unique(y).tolist()) if classes is None else sorted(classes)
    keep = split_mask(y, cls)
    f, y = f[keep], y[keep]
    k = len(cls)
    if k < 2:
        raise ValueError("neural_collapse needs at least two classes")
    means = torch.stack([f[y == c].mean(0) for c in cls])  # (K, D)
    mu_g = f.mean(0)
    centred = means - mu_g  # (K, D)
    sigma_b = centred.T @ centred / k
    diffs = f - means[torch.searchsorted(torch.tensor(cls), y)]
    sigma_w = diffs.T @ diffs / len(f)
    out = {"nc1": (torch.trace(sigma_w @ torch.linalg.pinv(sigma_b, hermitian=True)) / k).item()}
    m_unit = F.normalize(centred, dim=1)
    out["nc2"] = _etf_distance(m_unit @ m_unit.T)
    if weight is not None:
        w = weight.double()[cls]  # (K, D)
        out["nc3"] = _etf_distance(F.normalize(w, dim=1) @ m_unit.T)
        logits = f @ w.T + (bias.double()[cls] if bias is not None else 0.0)
        nearest = torch.cdist(f, means).argmin(1)
        out["nc4"] = (logits.argmax(1) == nearest).double().mean().item()
        out["duality"] = {c: 1 - F.cosine_similarity(w[i], centred[i], dim=0).item()
                          for i, c in enumerate(cls)}
        out["duality_uncentred"] = {c: 1 - F.cosine_similarity(w[i], means[i], dim=0).item()
                                    for i, c in enumerate(cls)}
    return out


# ---------------------------------------------------------------------------- CKA

def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA between (N, D1) and (N, D2) feature matrices (Kornblith et al. 2019).

    Computed on the full matrices in float64 via ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) after centring,
    which never forms an N x N matrix.
    """
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"CKA needs the same samples: {x.shape[0]} vs {y.shape[0]} rows")
    x = x.double() - x.double().mean(0)
    y = y.double() - y.double().mean(0)
    num = torch.linalg.matrix_norm(y.T @ x) ** 2
    den = torch.linalg.matrix_norm(x.T @ x) * torch.linalg.matrix_norm(y.T @ y)
    return float("nan") if den == 0 else (num / den).item()


# ---------------------------------------------------------------------------- MIA

def mia_efficacy(retain_conf: torch.Tensor, test_conf: torch.Tensor,
                 forget_conf: torch.Tensor, generator: torch.Generator | None = None,
                 max_per_side: int = 5000) -> float:
    """SalUn's MIA-efficacy in percent: the share of forget samples predicted *non-members*.

    An SVC is trained on the true-class confidence of members (retain training samples,
    label 1) versus non-members (test samples, label 0), balanced by subsampling; it is then
    applied to the forget samples. Retrain scores ≈ 100 in class-wise forgetting.
    """
    from sklearn.svm import SVC

    g = generator if generator is not None else torch.Generator().manual_seed(0)
    n = min(len(retain_conf), len(test_conf), max_per_side)
    r = retain_conf[torch.randperm(len(retain_conf), generator=g)[:n]]
    t = test_conf[torch.randperm(len(test_conf), generator=g)[:n]]
    x = torch.cat([r, t]).double().numpy()[:, None]
    lab = np.r_[np.ones(n), np.zeros(n)]
    clf = SVC(C=3, gamma="auto", kernel="rbf").fit(x, lab)
    pred = clf.predict(forget_conf.double().numpy()[:, None])
    return 100.0 * float((pred == 0).mean())


def mia_loss_attack(forget_train_loss: torch.Tensor, forget_test_loss: torch.Tensor,
                    folds: int = 5, seed: int = 0) -> float:
    """Loss-based MIA: cross-validated accuracy (percent) of a logistic regression telling
    forget-class *training* samples from forget-class *test* samples by their loss.

    50% means the unlearned model treats seen and unseen forget samples alike.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    n = min(len(forget_train_loss), len(forget_test_loss))
    if n < folds:
        return float("nan")
    x = torch.cat([forget_train_loss[:n], forget_test_loss[:n]]).double().numpy()[:, None]
    lab = np.r_[np.ones(n), np.zeros(n)]
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return 100.0 * float(cross_val_score(LogisticRegression(), np.log1p(x), lab, cv=cv).mean())
