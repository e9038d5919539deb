"""FT: fine-tune on the retain set only ("catastrophic forgetting").

Follows the FT baseline of SalUn (Fan et al., ICLR 2024; github.com/OPTML-Group/Unlearn-Saliency)
as used by [A]: plain cross-entropy on D_r with SGD.

Deviations: none beyond the shared loop (SGD Nesterov, constant learning rate).
"""

from __future__ import annotations

from .base import Batch, Context, Method, register_method
from .work import Sizes, Work, passes


@register_method
class FineTune(Method):
    name = "finetune"
    label = "FT"
    tuning = "forget"  # tools/tune_methods.py

    def work(self, s: Sizes) -> Work:
        return passes(self.hp, s.retain)

    def loss(self, ctx: Context, batch: Batch):
        return self.ce(ctx, batch)
