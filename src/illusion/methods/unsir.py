"""UNSIR: impair the model with error-maximising noise, then repair it on retained data.

Follows Tarun et al., "Fast Yet Effective Machine Unlearning" (IEEE TNNLS 2023) and the
authors' public notebook (github.com/vikram2000b/Fast-Machine-Unlearning), as [A]'s released
code runs it (``unlearn/tarun.py``, commit f575c2f). Setup: for each forget class c, one batch of
``noise_batch`` inputs (normalised space, drawn from N(0, 1)) is optimised with Adam
(``noise_lr``) for ``noise_steps`` × ``noise_inner`` steps against the frozen original, to
minimise −CE(f(noise), c) + ``noise_reg``·mean_i ‖noise_i‖²; a retain subset keeps
``retain_per_class`` random samples of every retained class, augmented once. Then two phases,
each with a fresh Adam over all parameters: **impair**, ``epochs`` epochs at ``impair_lr`` over
``noise_copies`` copies of the noise (labelled c) shuffled with the retain subset; then
**repair**, ``epochs`` epochs at ``lr`` over the retain subset alone. Cross-entropy throughout.

``noise_objective = "logit"`` minimises the mean target logit f(noise)_c instead of −CE: what
[A]'s UNSIR+CMF code computes (its negative log-likelihood is applied to the CMF head's raw
cosine logits, which are not log-probabilities), so ``unsir+cmf`` uses it.

Deviations:
- The noise is labelled with its own forget class, as the paper and [A] do (the authors'
  notebook labels every noise image 0).
- The retain subset is a random draw from D_r (the "order" stream); [A] takes the first
  ``retain_per_class`` training-split images of each class in index order.
- Weight decay 0 (Adam's default in [A]); the learning rates of both phases are constant.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..data import batches
from .base import Batch, Context, Method, Phase, register_method
from .work import Sizes, Work, passes

NOISE_OBJECTIVES = ("ce", "logit")


def error_maximising_noise(model: nn.Module, noise: torch.Tensor, label: int, steps: int,
                           lr: float, reg: float, objective: str = "ce") -> torch.Tensor:
    """Optimise ``noise`` (B, C, H, W) with Adam to minimise −CE(model(noise), label) (or,
    ``objective="logit"``, the mean logit of ``label``) + reg·mean_i ‖noise_i‖²; ``model`` is
    only read (its weights get no update)."""
    if objective not in NOISE_OBJECTIVES:
        raise ValueError(f"unsir: noise_objective must be one of {NOISE_OBJECTIVES}, "
                         f"got {objective!r}")
    noise = noise.detach().clone().requires_grad_(True)
    target = torch.full((len(noise),), label, dtype=torch.int64, device=noise.device)  # (B,)
    opt = torch.optim.Adam([noise], lr=lr)
    for _ in range(steps):
        logits = model(noise).float()  # (B, K)
        penalty = noise.square().sum(dim=(1, 2, 3)).mean()  # mean squared L2 norm per image
        attack = (logits[:, label].mean() if objective == "logit"
                  else -F.cross_entropy(logits, target))
        loss = attack + reg * penalty
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
    label = "UNSIR"
    tuning = "forget"  # tools/tune_methods.py
    defaults = {"lr": 5e-5, "impair_lr": 1e-4, "weight_decay": 0.0, "batch_size": 128,
                "noise_batch": 128, "noise_lr": 0.1, "noise_steps": 5, "noise_inner": 8,
                "noise_reg": 0.1, "noise_copies": 20, "retain_per_class": 1000,
                "noise_objective": "ce"}

    dry_caps = {"noise_steps": 1, "noise_inner": 1, "noise_copies": 1, "noise_batch": 4}

    def work(self, s: Sizes) -> Work:
        hp = self.hp
        noise = s.forget_classes * hp["noise_batch"]
        subset = s.retained_classes * min(hp["retain_per_class"], s.train_per_class)
        setup = Work(grad=noise * hp["noise_steps"] * hp["noise_inner"])
        impair = passes(hp, noise * hp["noise_copies"] + subset)
        return setup + impair + passes(hp, subset)  # then the repair

    def phases(self) -> list[Phase]:
        hp = self.hp
        return [Phase("impair", hp["epochs"], hp["impair_lr"], "adam"),
                Phase("repair", hp["epochs"], hp["lr"], "adam")]

    def setup(self, ctx: Context) -> None:
        hp = self.hp
        subset = retain_subset(ctx, hp["retain_per_class"])
        ctx.state["subset_x"] = ctx.inputs(subset)  # (R', C, H, W), augmented once
        ctx.state["subset_y"] = ctx.data.y_train[subset].to(ctx.device)  # (R',)
        shape = (hp["noise_batch"], *ctx.data.x_train.shape[1:])  # (B, C, H, W)
        xs, ys = [], []
        for c in ctx.forget_classes:
            init = torch.randn(shape, generator=ctx.generators["noise"]).to(ctx.device)
            xs.append(error_maximising_noise(ctx.original, init, c,
                                             hp["noise_steps"] * hp["noise_inner"],
                                             hp["noise_lr"], hp["noise_reg"],
                                             hp["noise_objective"]))
            ys.append(torch.full((hp["noise_batch"],), c, dtype=torch.int64, device=ctx.device))
        ctx.state["noise_x"] = torch.cat(xs)  # (F·B, C, H, W)
        ctx.state["noise_y"] = torch.cat(ys)  # (F·B,)

    def impair_batches(self, ctx: Context):
        """Shuffled batches over ``noise_copies`` copies of the noise ∪ the retain subset;
        ``is_forget`` marks the noise rows, which come first in each batch."""
        noise_x, noise_y = ctx.state["noise_x"], ctx.state["noise_y"]
        sub_x, sub_y = ctx.state["subset_x"], ctx.state["subset_y"]
        n_noise = len(noise_x) * self.hp["noise_copies"]
        for pos in batches(n_noise + len(sub_x), self.hp["batch_size"], ctx.generators["order"]):
            pos = pos.to(ctx.device)
            is_noise = pos < n_noise
            rows = pos[is_noise] % len(noise_x)
            real = pos[~is_noise] - n_noise
            x = torch.cat([noise_x[rows], sub_x[real]])  # (B, C, H, W)
            y = torch.cat([noise_y[rows], sub_y[real]])  # (B,)
            yield Batch(x, y, "noise", is_forget=torch.arange(len(pos), device=ctx.device)
                        < len(rows))

    def repair_batches(self, ctx: Context):
        sub_x, sub_y = ctx.state["subset_x"], ctx.state["subset_y"]
        for pos in batches(len(sub_x), self.hp["batch_size"], ctx.generators["order"]):
            pos = pos.to(ctx.device)
            yield Batch(sub_x[pos], sub_y[pos], "retain")

    def batches(self, ctx: Context, epoch: int):
        return self.impair_batches(ctx) if ctx.phase == "impair" else self.repair_batches(ctx)

    def loss(self, ctx: Context, batch: Batch):
        return self.ce(ctx, batch)
