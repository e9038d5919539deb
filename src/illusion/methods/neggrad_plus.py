"""NegGrad+: descend on the retain set while ascending on the forget set.

Follows Kurmanji et al. (SCRUB paper, NeurIPS 2023; github.com/meghdadk/SCRUB) as run in [A]:
each step takes one retain batch and the next batch of a cycling forget stream; the gradient is
∇CE(retain) + clip(∇(−CE(forget)), ``clip``), one optimizer step: [A]'s code
(``unlearn/naive.py``) clips the forget part to global norm 1.0 on its own, before the retain
gradient is added. ``clip = 0`` turns that off; ``neggrad_plus+cmf`` does so and clips the
summed gradient instead (the loop's ``max_grad_norm``), as [A]'s CMF code does.
``ascent_weight`` scales the forget term (0.5 for NegGrad+ with CMF in [A]).

Deviations: none in the step; batch order (both streams reshuffled at every pass, as [A]'s
loaders) comes from the run's "order" generator.
"""

from __future__ import annotations

import torch

from .base import Batch, Context, Method, register_method
from .work import Sizes, Work, cycled, passes


@register_method
class NegGradPlus(Method):
    name = "neggrad_plus"
    label = "NegGrad+"
    tuning = "forget"  # tools/tune_methods.py
    defaults = {"ascent_weight": 1.0, "clip": 1.0}

    def work(self, s: Sizes) -> Work:
        loop = passes(self.hp, s.retain)  # each retain batch paired with a cycling forget batch
        return loop + Work(train=cycled(s.forget, self.hp["batch_size"], loop.steps))

    def setup(self, ctx: Context) -> None:
        ctx.state["forget_stream"] = ctx.cycle(ctx.forget_idx, "forget")

    def loss(self, ctx: Context, batch: Batch):
        return self.ce(ctx, batch)

    def backward(self, ctx: Context, batch: Batch) -> torch.Tensor:
        params = self.parameters(ctx)
        forget = next(ctx.state["forget_stream"])
        ascent = -self.hp["ascent_weight"] * self.ce(ctx, forget)
        ascent.backward()
        if self.hp["clip"] > 0:
            torch.nn.utils.clip_grad_norm_(params, self.hp["clip"])
        retain = self.ce(ctx, batch)
        retain.backward()  # accumulates onto the clipped forget gradient
        return (retain + ascent).detach()
