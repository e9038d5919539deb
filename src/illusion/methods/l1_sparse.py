"""ℓ1-sparse: fine-tune on the retain set with a decaying ℓ1 penalty.

Follows Jia et al., "Model Sparsity Can Simplify Machine Unlearning" (NeurIPS 2023;
github.com/OPTML-Group/Unlearn-Sparse): CE(D_r) + α_t ‖θ‖₁ with α_t decreasing linearly from
``alpha`` to 0 over the run.

Deviations: α_t decays per step rather than per epoch; the penalty covers every parameter.
"""

from __future__ import annotations

import torch

from .base import Batch, Context, Method, register_method
from .work import Sizes, Work, passes


@register_method
class L1Sparse(Method):
    name = "l1_sparse"
    label = "ℓ1-sparse"
    tuning = "forget"  # tools/tune_methods.py
    defaults = {"alpha": 5e-4}

    def work(self, s: Sizes) -> Work:
        return passes(self.hp, s.retain)

    def setup(self, ctx: Context) -> None:
        steps_per_epoch = -(-len(ctx.retain_idx) // self.hp["batch_size"])
        ctx.state["total_steps"] = max(1, self.hp["epochs"] * steps_per_epoch)
        ctx.state["step"] = 0

    def loss(self, ctx: Context, batch: Batch):
        alpha = self.hp["alpha"] * (1 - ctx.state["step"] / ctx.state["total_steps"])
        ctx.state["step"] += 1
        l1 = torch.stack([p.abs().sum() for p in self.parameters(ctx)]).sum()
        return self.ce(ctx, batch) + alpha * l1
