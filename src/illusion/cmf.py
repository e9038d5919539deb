"""The class-mean-feature (CMF) classifier of [A] (claim C6).

Gao et al., "An Illusion of Unlearning?" (AISTATS 2026, arXiv:2604.08271), Section on CMF and
Algorithm 1, and the authors' released code as summarised in ``shared/spec/paper.md`` (we had no
copy of that code; nothing here is taken from it). There is no trainable last layer. With
f the pooled last-stage features:

1. z = f / ‖f‖ per sample;
2. m_c = mean of z over the training samples of class c (true labels, **all** classes, the
   forgotten ones included); μ = mean of z over all training samples;
3. W_c = (m_c − μ) / ‖m_c − μ‖, a buffer, never a parameter;
4. logits = T · ẑ Wᵀ with ẑ = (z − μ) / ‖z − μ‖ (T = 1: cosines).

A CMF model is the same :class:`~illusion.models.ResNet` with its ``neck`` (f -> ẑ,
:class:`CMFNeck`) and ``fc`` (ẑ -> logits, :class:`CMFHead`, a bias-free linear map) swapped by
:func:`to_cmf`. Hence ``forward_features`` returns ẑ and every readout built on it (feature sets,
linear probe, nearest class mean, neural collapse with ``fc.weight``) reads the CMF features,
and ``state_dict`` carries the class means with the encoder.

Two rules keep W in step with the encoder:

* **full pass** (default, as [A]'s code): :func:`fit_class_means` recomputes m_c and μ exactly
  from one batched evaluation-mode pass over the training set. The head records a fingerprint
  of the encoder state and of the index set it was fitted on, so a second call on an unchanged
  encoder reuses it instead of passing over the data again; callers holding the features z can
  pass them in.
* **momentum** (as [A]'s Algorithm 1): :func:`momentum_update` moves each class mean present in
  a batch, and μ, towards the batch's means, m ← β·m + (1 − β)·batch mean (β = 0.9). The means
  then lag the encoder by roughly 1/(1 − β) batches and depend on the batch order; with a fixed
  encoder they fluctuate around the full-pass means and a class absent from the batches (a
  forget class outside the forget batches) keeps its old mean.

Deviations: means are of evaluation-mode features (running batch-norm statistics, no
augmentation), extracted under bfloat16 autocast where the profile trains under it (as the
steps and every feature the book reads; float32 before issue 26); the head computes in float32
even under bf16 autocast; a class without training samples is an error rather than a zero row.
"""

from __future__ import annotations

import hashlib

import torch
import torch.nn.functional as F
from torch import nn

from .data import ImageData
from .features import extract_features

__all__ = ["CMFHead", "CMFNeck", "batch_normalized_features", "class_mean_stats", "cmf_weight",
           "fit_class_means", "is_cmf", "momentum_update", "normalized_features",
           "set_class_means", "to_cmf"]


class CMFNeck(nn.Module):
    """f (B, D) -> ẑ = normalise(normalise(f) − μ), float32; ``mean`` is μ (D,)."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        with torch.autocast(f.device.type, enabled=False):
            z = F.normalize(f.float(), dim=1)  # (B, D) on the unit sphere
            return F.normalize(z - self.mean, dim=1)  # (B, D) centred, unit norm


class CMFHead(nn.Module):
    """ẑ (B, D) -> T · ẑ Wᵀ (B, K). Buffers: ``class_means`` m (K, D) of z, ``weight`` W (K, D),
    ``temperature`` T, ``fitted`` (fingerprint of the last full pass, 0 when none is valid)."""

    bias = None  # a bias-free linear map, as :func:`illusion.evaluation.head_parameters` reads

    def __init__(self, num_classes: int, dim: int, temperature: float = 1.0):
        super().__init__()
        self.register_buffer("class_means", torch.zeros(num_classes, dim))
        self.register_buffer("weight", torch.zeros(num_classes, dim))
        self.register_buffer("temperature", torch.tensor(float(temperature)))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.int64))

    def forward(self, zhat: torch.Tensor) -> torch.Tensor:
        with torch.autocast(zhat.device.type, enabled=False):
            return self.temperature * zhat.float() @ self.weight.T  # (B, K)


def is_cmf(model: nn.Module) -> bool:
    return isinstance(getattr(model, "fc", None), CMFHead)


def to_cmf(model: nn.Module, temperature: float = 1.0) -> nn.Module:
    """Replace the linear head of ``model`` by an (unfitted) CMF head, in place; returns it."""
    if is_cmf(model):
        return model
    if not isinstance(getattr(model, "fc", None), nn.Linear) or not hasattr(model, "neck"):
        raise TypeError(f"cmf: {type(model).__name__} has no linear fc and neck to replace")
    k, d, device = model.fc.out_features, model.fc.in_features, model.fc.weight.device
    model.neck = CMFNeck(d).to(device)
    model.fc = CMFHead(k, d, temperature).to(device)
    return model


def normalized_features(model: nn.Module, data: ImageData, x: torch.Tensor,
                        batch_size: int = 128, bf16: bool = False) -> torch.Tensor:
    """z = f/‖f‖ (N, D) of uint8 images ``x``: pooled last stage, before the neck, batched,
    evaluation mode, returned as float32 CPU (``bf16``: the pass under bfloat16 autocast)."""
    stages = extract_features(model, data, x, stages=True, batch_size=batch_size, bf16=bf16)
    return F.normalize(stages[model.stage_names[-1]], dim=1)


@torch.no_grad()
def batch_normalized_features(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """z (B, D) of already normalised ``inputs`` in evaluation mode (the model's mode is kept)."""
    was_training = model.training
    model.eval()
    f = model.stage_features(inputs)[model.stage_names[-1]]
    model.train(was_training)
    return F.normalize(f.float(), dim=1)


def class_mean_stats(z: torch.Tensor, y: torch.Tensor,
                     num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(m (K, D), μ (D,)): per-class and global means of ``z`` (N, D), float32."""
    counts = torch.bincount(y, minlength=num_classes)  # (K,)
    missing = (counts == 0).nonzero().flatten().tolist()
    if missing:
        raise ValueError(f"cmf: class(es) {missing} have no training samples")
    z64 = z.double()
    sums = torch.zeros(num_classes, z.shape[1], dtype=torch.float64, device=z.device)
    sums.index_add_(0, y.to(z.device), z64)
    return (sums / counts.to(sums)[:, None]).float(), z64.mean(0).float()


def cmf_weight(means: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
    """W (K, D): the centred class means normalised to unit length."""
    return F.normalize(means - mu, dim=1)


@torch.no_grad()
def set_class_means(model: nn.Module, means: torch.Tensor, mu: torch.Tensor,
                    fitted: int = 0) -> None:
    """Load m and μ into a CMF model and recompute W."""
    head, neck = model.fc, model.neck
    head.class_means.copy_(means)
    neck.mean.copy_(mu)
    head.weight.copy_(cmf_weight(head.class_means, neck.mean))
    head.fitted.fill_(fitted)


def _fingerprint(model: nn.Module, idx: torch.Tensor) -> int:
    """63-bit hash of the encoder's state (head buffers excluded) and of the set ``idx``."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        if not name.startswith(("neck.", "fc.")):
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    h.update(torch.sort(idx.cpu().to(torch.int64)).values.numpy().tobytes())
    return int.from_bytes(h.digest()[:8], "little") >> 1 or 1


def fit_class_means(model: nn.Module, data: ImageData, idx: torch.Tensor,
                    z: torch.Tensor | None = None, bf16: bool = False) -> bool:
    """Full-pass rule: m and μ from ``x_train[idx]`` with true labels; returns whether a pass
    ran. Skipped when the head was already fitted on this encoder state and index set; ``z``
    (features of ``x_train[idx]`` under the current encoder) skips the extraction; ``bf16``
    runs the pass under bfloat16 autocast (the means are summed in float64 either way)."""
    key = _fingerprint(model, idx)
    if z is None and int(model.fc.fitted) == key:
        return False
    if z is None:
        z = normalized_features(model, data, data.x_train[idx], bf16=bf16)  # (N, D)
    means, mu = class_mean_stats(z, data.y_train[idx], model.fc.class_means.shape[0])
    set_class_means(model, means, mu, key)
    return True


@torch.no_grad()
def momentum_update(model: nn.Module, z: torch.Tensor, y: torch.Tensor,
                    momentum: float = 0.9) -> None:
    """Momentum rule: m_c ← β·m_c + (1 − β)·mean of the batch's z of class c (classes present
    only), μ ← β·μ + (1 − β)·mean of the batch's z; then W. ``z`` (B, D), ``y`` (B,)."""
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"cmf: momentum must be in [0, 1), got {momentum}")
    if len(y) == 0:
        return
    head, neck = model.fc, model.neck
    k = head.class_means.shape[0]
    z, y = z.to(head.class_means), y.to(head.class_means.device)
    counts = torch.bincount(y, minlength=k)  # (K,)
    sums = torch.zeros_like(head.class_means).index_add_(0, y, z)
    present = counts > 0
    batch_means = sums[present] / counts[present, None].to(sums)
    head.class_means[present] = momentum * head.class_means[present] + (1 - momentum) * batch_means
    neck.mean.mul_(momentum).add_((1 - momentum) * z.mean(0))
    head.weight.copy_(cmf_weight(head.class_means, neck.mean))
    head.fitted.zero_()  # no longer the full-pass means of any encoder
