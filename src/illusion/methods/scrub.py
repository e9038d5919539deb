"""SCRUB: a student that moves away from the original on D_f and stays close to it on D_r.

Follows Kurmanji et al., "Towards Unbounded Machine Unlearning" (NeurIPS 2023;
github.com/meghdadk/SCRUB), as run in [A]. The teacher is the frozen original. Each epoch:
while ``epoch < msteps``, one **max** pass over D_f minimising −KL_T; then one **min** pass over
D_r minimising γ·CE + α·KL_T. KL_T is the SCRUB code's ``DistillKL``: with p = softmax(·/T),
KL(p_teacher ‖ p_student) summed over classes and the batch, times T², divided by the batch
size (the usual Hinton scaling, so gradients keep their size as T changes).

The optimizer is plain SGD (momentum 0.9, no Nesterov), as in the SCRUB code and [A]'s
(``nesterov = true`` gives the shared loop's Nesterov SGD).

Deviations: no SWA model and no step decay of the learning rate (the SCRUB code's decay epochs
lie past [A]'s 3 epochs, so the schedule is constant there too; its SWA averaging starts at
epoch 10, so it never runs either); one batch size for both passes (64 in [A]'s scripts for
both).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Batch, Context, Method, register_method
from .work import Sizes, Work, passes


def distill_kl(student: torch.Tensor, teacher: torch.Tensor, T: float) -> torch.Tensor:
    """KL(softmax(teacher/T) ‖ softmax(student/T)) · T² per sample (SCRUB's ``DistillKL``).

    ``student``, ``teacher``: (B, K) logits; returns a scalar.
    """
    log_p_s = F.log_softmax(student / T, dim=1)  # (B, K)
    p_t = F.softmax(teacher / T, dim=1)  # (B, K)
    return F.kl_div(log_p_s, p_t, reduction="sum") * T**2 / student.shape[0]


@register_method
class Scrub(Method):
    name = "scrub"
    label = "SCRUB"
    tuning = "forget"  # tools/tune_methods.py
    defaults = {"batch_size": 64, "T": 4.0, "gamma": 0.99, "alpha": 0.001, "msteps": 2,
                "nesterov": False}

    dry_caps = {"msteps": 1}

    def work(self, s: Sizes) -> Work:
        hp = self.hp  # max passes on D_f in the first msteps epochs, min passes on D_r
        loop = passes(hp, s.forget, min(hp["msteps"], hp["epochs"])) + passes(hp, s.retain)
        return loop + Work(forward=loop.train)  # the frozen teacher sees every batch

    def batches(self, ctx: Context, epoch: int):
        if epoch < self.hp["msteps"]:
            yield from ctx.loader(ctx.forget_idx, "forget")  # max pass
        yield from ctx.loader(ctx.retain_idx, "retain")  # min pass

    def kl_to_teacher(self, ctx: Context, batch: Batch, logits: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            teacher = ctx.original(batch.x).float()  # (B, K)
        return distill_kl(logits, teacher, self.hp["T"])

    def loss(self, ctx: Context, batch: Batch):
        logits = self.logits(ctx, batch.x)  # (B, K)
        kl = self.kl_to_teacher(ctx, batch, logits)
        if batch.kind == "forget":
            return -kl
        ce = F.cross_entropy(logits, batch.y)
        return self.hp["gamma"] * ce + self.hp["alpha"] * kl
