"""UNSIR: impair the model with error-maximising noise, then repair it on retained data.

Follows Tarun et al., "Fast Yet Effective Machine Unlearning" (IEEE TNNLS 2023) and the
authors' public notebook (github.com/vikram2000b/Fast-Machine-Unlearning), as run in [A].
Setup: for each forget class c, a batch of ``noise_batch`` inputs (normalised space, drawn from
N(0, 1)) is optimised with Adam (``noise_lr``) for ``noise_steps`` × ``noise_inner`` steps to
minimise −CE(f(noise), c) + ``noise_reg``·mean_i ‖noise_i‖² on the frozen original. A retain
subset keeps ``retain_per_class`` random samples of every retained class (all if fewer). Each
epoch is one **impair** pass over the noise (``noise_copies`` copies, labelled c) shuffled with
the retain subset, then one **repair** pass over the retain subset alone; ``epochs = 1`` is the
notebook's single impair + single repair, [A]'s 3 epochs repeat the pair three times.

Deviations: the noise is labelled with its own forget class, as the paper describes (the
notebook labels every noise image 0 and, by an indexing slip, keeps only 3 images per noise
batch; ``noise_copies`` = 20 is its ``num_batches``); the noise is learned once, against the
frozen original in eval mode (the notebook's model was in train mode, so its BN statistics
drifted towards the noise); the retain subset is a random draw (the notebook takes the first
1000 of each class) with the run's augmentation; impair and repair share one learning rate and
the shared loop's SGD (the notebook: Adam, 0.02 and 0.01).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..data import batches
from .base import Batch, Context, Method, register_method


def error_maximising_noise(model: nn.Module, noise: torch.Tensor, label: int, steps: int,
                           lr: float, reg: float) -> torch.Tensor:
    """Optimise ``noise`` (B, C, H, W) with Adam to minimise −CE(model(noise), label)
    + reg·mean_i ‖noise_i‖²; ``model`` is only read (its weights get no update)."""
    noise = noise.detach().clone().requires_grad_(True)
    target = torch.full((len(noise),), label, dtype=torch.int64, device=noise.device)  # (B,)
    opt = torch.optim.Adam([noise], lr=lr)
    for _ in range(steps):
        penalty = noise.square().sum(dim=(1, 2, 3)).mean()  # mean squared L2 norm per image
        loss = -F.cross_entropy(model(noise), target) + reg * penalty
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return noise.detach()


def retain_subset(ctx: Context, per_class: int) -> torch.Tensor:
    """Up to ``per_class`` random retain indices of each retained class ("order" stream)."""
    labels = ctx.data.y_train[ctx.retain_idx]  # (R,)
    parts = []
    for c in ctx.retain_classes:
        idx = ctx.retain_idx[labels == c]
        parts.append(idx[torch.randperm(len(idx), generator=ctx.generators["order"])[:per_class]])
    return torch.cat(parts)


@register_method
class Unsir(Method):
    name = "unsir"
    defaults = {"batch_size": 256, "noise_batch": 256, "noise_lr": 0.1, "noise_steps": 5,
                "noise_inner": 8, "noise_reg": 0.1, "noise_copies": 20, "retain_per_class": 1000}

    def setup(self, ctx: Context) -> None:
        hp = self.hp
        ctx.state["subset"] = retain_subset(ctx, hp["retain_per_class"])
        shape = (hp["noise_batch"], *ctx.data.x_train.shape[1:])  # (B, C, H, W)
        xs, ys = [], []
        for c in ctx.forget_classes:
            init = torch.randn(shape, generator=ctx.generators["noise"]).to(ctx.device)
            xs.append(error_maximising_noise(ctx.original, init, c,
                                             hp["noise_steps"] * hp["noise_inner"],
                                             hp["noise_lr"], hp["noise_reg"]))
            ys.append(torch.full((hp["noise_batch"],), c, dtype=torch.int64, device=ctx.device))
        ctx.state["noise_x"] = torch.cat(xs)  # (F·B, C, H, W)
        ctx.state["noise_y"] = torch.cat(ys)  # (F·B,)

    def impair_batches(self, ctx: Context):
        """Shuffled batches over ``noise_copies`` copies of the noise ∪ the retain subset;
        ``is_forget`` marks the noise rows, which come first in each batch."""
        noise_x, noise_y, subset = ctx.state["noise_x"], ctx.state["noise_y"], ctx.state["subset"]
        n_noise = len(noise_x) * self.hp["noise_copies"]
        for pos in batches(n_noise + len(subset), self.hp["batch_size"], ctx.generators["order"]):
            is_noise = pos < n_noise
            rows = pos[is_noise] % len(noise_x)
            real = ctx.batch(subset[pos[~is_noise] - n_noise], "retain")
            x = torch.cat([noise_x[rows], real.x])  # (B, C, H, W)
            y = torch.cat([noise_y[rows], real.y])  # (B,)
            yield Batch(x, y, "noise", is_forget=torch.arange(len(pos), device=ctx.device)
                        < len(rows))

    def batches(self, ctx: Context, epoch: int):
        yield from self.impair_batches(ctx)
        yield from ctx.loader(ctx.state["subset"], "retain")  # repair

    def loss(self, ctx: Context, batch: Batch):
        return self.ce(ctx, batch)
