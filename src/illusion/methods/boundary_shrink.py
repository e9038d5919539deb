"""Boundary Shrink: relabel each forget sample with its nearest other class, found by FGSM.

Chen et al., "Boundary Unlearning: Rapid Forgetting of Deep Networks via Shifting the Decision
Space", CVPR 2023; the authors' code (``boundary_shrink`` with ``FGSM``, ``norm=True``) and
SalUn's port (github.com/OPTML-Group/Unlearn-Saliency, ``unlearn/boundary_sh.py``).
Only D_f is used. For each forget batch, the frozen copy (``ctx.original``, eval mode) gives an
FGSM neighbour x_adv = clip(x + bound · sign(∇x CE(original(x), y)), 0, 1), rounded to 1/255,
with ``bound`` = 0.1 in **[0, 1] pixel space** (as both references: they un-normalise, perturb,
clip, discretise and re-normalise); the sample's new label is the frozen copy's prediction on
x_adv, and the model minimises CE on the **clean** sample with that label.

Deviations:
- If the frozen copy still predicts the true class on x_adv (FGSM did not cross the boundary),
  the references train on the true label, a no-op for that sample; we take the highest-scoring
  other class on x_adv, so every forget sample is pushed across its nearest boundary.
- Forget batches are augmented like every method's (crop/flip per profile) before the FGSM step.
- The shared loop's SGD is Nesterov; the references use plain momentum 0.9, no weight decay
  (weight decay 0 is this method's default), lr 1e-5, 10 epochs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Batch, Context, Method, register_method
from .work import Sizes, Work, passes


def _pixel_stats(ctx: Context, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean = torch.tensor(ctx.data.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(ctx.data.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return mean, std


def fgsm_neighbour(ctx: Context, x: torch.Tensor, y: torch.Tensor, bound: float) -> torch.Tensor:
    """Normalised FGSM neighbour of normalised ``x`` (B, C, H, W) on the frozen copy.

    The input gradient is taken on a detached copy with ``autograd.grad``: nothing reaches
    any parameter's ``.grad`` (and the frozen copy's parameters do not require grad).
    """
    x0 = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(ctx.original(x0), y)
        (grad,) = torch.autograd.grad(loss, x0)  # (B, C, H, W)
    mean, std = _pixel_stats(ctx, x)
    with torch.no_grad():
        pixels = x.detach() * std + mean  # [0, 1]; sign(∇pixels) = sign(∇x) as std > 0
        adv = (pixels + bound * grad.sign()).clamp(0.0, 1.0)
        adv = torch.round(adv * 255) / 255  # discretise, as the references
        return (adv - mean) / std


def shrink_labels(ctx: Context, x: torch.Tensor, y: torch.Tensor, bound: float) -> torch.Tensor:
    """(B,) the frozen copy's best class other than ``y`` on the FGSM neighbour of ``x``."""
    x_adv = fgsm_neighbour(ctx, x, y, bound)
    with torch.no_grad():
        logits = ctx.original(x_adv).float()  # (B, K)
        logits[torch.arange(len(y), device=y.device), y] = float("-inf")
        return logits.argmax(1)


@register_method
class BoundaryShrink(Method):
    name = "boundary_shrink"
    label = "BS"
    tuning = "forget"  # tools/tune_methods.py
    common = {**Method.common, "weight_decay": 0.0}
    defaults = {"bound": 0.1}

    def work(self, s: Sizes) -> Work:
        loop = passes(self.hp, s.forget)  # + per image: FGSM on the frozen copy, its label
        return loop + Work(grad=loop.train, forward=loop.train)

    def setup(self, ctx: Context) -> None:
        ctx.original.eval().requires_grad_(False)

    def batches(self, ctx: Context, epoch: int):
        return ctx.loader(ctx.forget_idx, "forget")

    def loss(self, ctx: Context, batch: Batch):
        new = shrink_labels(ctx, batch.x, batch.y, self.hp["bound"])  # (B,)
        return F.cross_entropy(self.logits(ctx, batch.x), new)
