"""GA: gradient ascent on the forget set.

Follows the GA baseline of SalUn's code (github.com/OPTML-Group/Unlearn-Saliency): maximise the
cross-entropy of D_f with their true labels, i.e. minimise −CE.

Deviations: none beyond the shared loop (SGD Nesterov, constant learning rate).
"""

from __future__ import annotations

from .base import Batch, Context, Method, register_method
from .work import Sizes, Work, passes


@register_method
class GradAscent(Method):
    name = "grad_ascent"
    label = "GA"
    tuning = "forget"  # tools/tune_methods.py

    def work(self, s: Sizes) -> Work:
        return passes(self.hp, s.forget)

    def batches(self, ctx: Context, epoch: int):
        return ctx.loader(ctx.forget_idx, "forget")

    def loss(self, ctx: Context, batch: Batch):
        return -self.ce(ctx, batch)
