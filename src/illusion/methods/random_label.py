"""RL: random labels for the forget set (Golatkar et al. 2020; as in [A] and SalUn).

Batches are drawn from D_f ∪ D_r shuffled together; every forget sample gets a label drawn
uniformly from the **retained** classes, redrawn at every batch; cross-entropy on all samples.
Follows [A]'s released code and SalUn's `RL` (github.com/OPTML-Group/Unlearn-Saliency).

Deviations: labels come from the run's "labels" generator (SalUn draws from the global RNG).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Batch, Context, Method, register_method
from .work import Sizes, Work, passes


def random_retain_labels(ctx: Context, n: int) -> torch.Tensor:
    """(n,) labels drawn uniformly from the retained classes with the "labels" generator."""
    classes = torch.tensor(ctx.retain_classes)
    pick = torch.randint(len(classes), (n,), generator=ctx.generators["labels"])
    return classes[pick].to(ctx.device)


def relabel_forget(ctx: Context, batch: Batch) -> torch.Tensor:
    """The batch's labels with every forget sample relabelled at random."""
    y = batch.y.clone()
    mask = batch.is_forget
    y[mask] = random_retain_labels(ctx, int(mask.sum()))
    return y


@register_method
class RandomLabel(Method):
    name = "random_label"
    label = "RL"
    tuning = "forget"  # tools/tune_methods.py

    def work(self, s: Sizes) -> Work:
        return passes(self.hp, s.retain + s.forget)

    def batches(self, ctx: Context, epoch: int):
        return ctx.mixed_loader()

    def loss(self, ctx: Context, batch: Batch):
        return F.cross_entropy(self.logits(ctx, batch.x), relabel_forget(ctx, batch))
