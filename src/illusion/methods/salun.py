"""SalUn: random labels restricted to the weights most salient for the forget set.

Fan et al., "SalUn: Empowering Machine Unlearning via Gradient-based Weight Saliency", ICLR 2024;
public code github.com/OPTML-Group/Unlearn-Saliency (``generate_mask.py``, ``unlearn/RL.py``).
Once, before unlearning: g = Σ over D_f of ∇θ CE(original model, true labels); the mask keeps
the floor(threshold · N) entries of largest |g|, ranked **globally** over all N trainable
parameter entries (one threshold across tensors). Then RL exactly as :mod:`.random_label`
(D_f ∪ D_r shuffled, forget labels redrawn from the retained classes every batch), with every
masked-out weight restored to its value before unlearning after each optimizer step: a hard
constraint, so weight decay and momentum cannot move it either.

Deviations:
- Gradients are taken in eval mode (running BN statistics), without augmentation, in a fixed
  order, with ``autograd.grad``: no weight, buffer or ``.grad`` changes. The reference also
  uses eval mode but calls ``optimizer.step()`` inside its accumulation loop, so its later
  batches see already-moved weights; it sums batch-mean losses where we sum per-sample losses
  (same ranking up to the weight of a last partial batch).
- The paper keeps the largest |g|; the revision of ``generate_mask.py`` we read (ac880a2)
  ranks by an ascending argsort, which keeps the smallest. We follow the paper and the spec.
  Ties are broken by a stable sort, so exactly floor(threshold · N) entries are kept.
- The reference masks gradients and zeroes masked-out momentum. Here the gradients are masked
  too (so a clipped step's norm counts only the kept entries, as in [A]'s SalUn+CMF) and the
  masked-out weights are restored after every step, which also cancels weight decay and
  momentum on them. BN buffers are not masked.
- RL labels as in :mod:`.random_label` (retained classes, "labels" generator), not the
  reference's labels over all classes from the global RNG.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data import batches
from .base import Batch, Context, Method, register_method
from .work import Sizes, Work, passes
from .random_label import relabel_forget


def saliency_mask(grads: list[torch.Tensor], threshold: float) -> list[torch.Tensor]:
    """Bool masks keeping the floor(threshold · N) largest |g| over all tensors together."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"salun: threshold must be in [0, 1], got {threshold}")
    flat = torch.cat([g.detach().abs().flatten() for g in grads])  # (N,)
    k = int(threshold * flat.numel())  # floor, as the reference's int()
    keep = torch.zeros_like(flat, dtype=torch.bool)
    keep[torch.argsort(flat, descending=True, stable=True)[:k]] = True
    return [m.view_as(g) for m, g in zip(keep.split([g.numel() for g in grads]), grads)]


@register_method
class SalUn(Method):
    name = "salun"
    label = "SalUn"
    tuning = "forget"  # tools/tune_methods.py
    defaults = {"threshold": 0.5}

    def work(self, s: Sizes) -> Work:
        # the saliency gradients of the forget set first, then RL's passes
        return Work(train=s.forget) + passes(self.hp, s.retain + s.forget)

    def forget_gradients(self, ctx: Context, params: list[torch.Tensor]) -> list[torch.Tensor]:
        """Σ over D_f of ∇θ CE(model(x), y) in eval mode; weights and buffers untouched."""
        was_training = ctx.model.training
        ctx.model.eval()
        total = [torch.zeros_like(p) for p in params]
        for pos in batches(len(ctx.forget_idx), self.hp["batch_size"]):  # fixed order
            idx = ctx.forget_idx[pos]
            x = ctx.inputs(idx, augment=False)  # (B, C, H, W)
            y = ctx.data.y_train[idx].to(ctx.device)  # (B,)
            with torch.enable_grad():
                loss = F.cross_entropy(self.logits(ctx, x), y, reduction="sum")
                grads = torch.autograd.grad(loss, params, allow_unused=True)
            for t, g in zip(total, grads):
                if g is not None:
                    t.add_(g)
        ctx.model.train(was_training)
        return total

    def setup(self, ctx: Context) -> None:
        params = self.parameters(ctx)
        mask = saliency_mask(self.forget_gradients(ctx, params), self.hp["threshold"])
        ctx.state["mask"] = mask
        ctx.state["theta0"] = [p.detach().clone() for p in params]

    def batches(self, ctx: Context, epoch: int):
        return ctx.mixed_loader()

    def loss(self, ctx: Context, batch: Batch):
        return F.cross_entropy(self.logits(ctx, batch.x), relabel_forget(ctx, batch))

    def backward(self, ctx: Context, batch: Batch) -> torch.Tensor:
        loss = super().backward(ctx, batch)
        with torch.no_grad():
            for p, keep in zip(self.parameters(ctx), ctx.state["mask"]):
                if p.grad is not None:
                    p.grad.mul_(keep)  # masked-out entries: no gradient (and no clip norm)
        return loss

    def after_step(self, ctx: Context) -> None:
        with torch.no_grad():
            for p, keep, p0 in zip(self.parameters(ctx), ctx.state["mask"], ctx.state["theta0"]):
                p.copy_(torch.where(keep, p, p0))
