"""``<method>+cmf``: any loss-based method run on [A]'s class-mean-feature classifier (C6).

Gao et al., "An Illusion of Unlearning?" (AISTATS 2026), CMF unlearning; the head itself is
:mod:`illusion.cmf`. One wrapper serves every base method: the pipeline starts it from the "CMF
original" (``start_from``; the original with its head replaced by CMF and fine-tuned one epoch,
:func:`illusion.pipeline.cmf_original_or_load`), so SCRUB's teacher and UNSIR's noise use the
frozen CMF original. Each epoch runs with W frozen at the class means of the current encoder;
the base method's batches and loss act through the CMF logits on encoder parameters only (the
head has no parameters); after the epoch's last step W is recomputed from the whole training
set with true labels (forget classes included), which is also the next epoch's W.

As in [A]'s scripts and code, RL+CMF, SalUn+CMF and NegGrad++CMF clip the **summed** gradient
of each step (every loss term, after SalUn's mask) to norm ``max_grad_norm`` = 1.0 (NegGrad+'s
own clip of its forget part is off there: ``clip = 0``); SCRUB+CMF and UNSIR+CMF are not
clipped. SalUn+CMF multiplies the learning rate by ``step_lr_gamma`` = 0.2 every
``step_lr_epochs`` = 3 epochs ([A]'s step schedule; with 4 epochs, the last runs at 0.2×).
UNSIR+CMF learns its noise with the ``"logit"`` objective (see :mod:`.unsir`).

``cmf_rule = "momentum"`` instead moves the means after every batch (Algorithm 1 of [A],
:func:`illusion.cmf.momentum_update`) and recomputes them with a full pass only at the end.

Deviations: under the momentum rule the means follow only the batches this wrapper sees, from
an extra no-grad evaluation-mode forward pass of their real (non-noise) samples before each
step: NegGrad+'s forget stream and UNSIR's noise do not move them. NegGrad+ takes [A]'s ascent
weight 0.5 unless given. A model without a CMF head (direct library use, the contract tests) is
converted in ``setup`` without the fine-tune, the frozen copy with it.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from ..cmf import batch_normalized_features, fit_class_means, is_cmf, momentum_update, to_cmf
from .base import Batch, Context, Wrapper, register_variant
from .work import Sizes, Work

CMF_DEFAULTS: dict[str, Any] = {"cmf_rule": "full", "cmf_momentum": 0.9, "temperature": 1.0}
# [A]'s per-base settings: base hyperparameters, and the wrapper's own (summed-gradient clip,
# step schedule) for the bases whose [A] runs have them
BASE_DEFAULTS: dict[str, dict[str, Any]] = {"neggrad_plus": {"ascent_weight": 0.5, "clip": 0.0},
                                            "unsir": {"noise_objective": "logit"}}
VARIANT_DEFAULTS: dict[str, dict[str, Any]] = {
    "random_label": {"max_grad_norm": 1.0},
    "salun": {"max_grad_norm": 1.0, "step_lr_epochs": 3, "step_lr_gamma": 0.2},
    "neggrad_plus": {"max_grad_norm": 1.0},
}
RULES = ("full", "momentum")


# the bases [A] puts under a CMF head (claim C6)
CMF_BASES = ("random_label", "salun", "neggrad_plus", "scrub", "unsir")


@register_variant("{}+cmf", bases=CMF_BASES)
class CMFVariant(Wrapper):
    """The base method ``base`` on a CMF head; ``hp`` = the base's plus ``CMF_DEFAULTS``. Its
    parameters are the base's: the CMF head holds buffers only, so they are the encoder's."""

    start_from = "cmf_original"  # read by illusion.pipeline.unlearn_or_load
    bf16_passes = True  # the full passes of the class means run under the profile's autocast
    tuning = "cmf"  # tools/tune_methods.py --rule cmf

    def work(self, s: Sizes) -> Work:
        """The base's work and the class means refitted by a full pass per epoch (momentum
        rule: a forward of every trained batch, one final full pass)."""
        base = self.base.work(s)
        if self.hp["cmf_rule"] == "momentum":
            return base + Work(forward=base.train + s.train)
        return base + Work(forward=self.hp["epochs"] * s.train)

    @classmethod
    def own_defaults(cls, base: str) -> dict[str, Any]:
        return {**CMF_DEFAULTS, **VARIANT_DEFAULTS.get(base, {})}

    @classmethod
    def base_defaults(cls, base: str) -> dict[str, Any]:
        return dict(BASE_DEFAULTS.get(base, {}))

    def train_idx(self, ctx: Context) -> torch.Tensor:
        return torch.cat([ctx.retain_idx, ctx.forget_idx])  # the whole training set

    def setup(self, ctx: Context) -> None:
        if self.hp["cmf_rule"] not in RULES:
            raise ValueError(f"{self.name}: cmf_rule must be one of {RULES}, "
                             f"got {self.hp['cmf_rule']!r}")
        if not is_cmf(ctx.model):
            to_cmf(ctx.model)
            fit_class_means(ctx.model, ctx.data, self.train_idx(ctx), bf16=ctx.bf16)
            ctx.original.neck = copy.deepcopy(ctx.model.neck)
            ctx.original.fc = copy.deepcopy(ctx.model.fc)
        ctx.model.fc.temperature.fill_(self.hp["temperature"])
        # no pass if still valid
        fit_class_means(ctx.model, ctx.data, self.train_idx(ctx), bf16=ctx.bf16)
        self.base.setup(ctx)

    def batches(self, ctx: Context, epoch: int):
        yield from self.base.batches(ctx, epoch)
        # The loop has taken the epoch's last step when it asks for the next batch: refit W
        # with true labels (the evaluated head, and the next epoch's frozen W).
        if self.hp["cmf_rule"] == "full" or epoch == sum(p.epochs for p in self.phases()) - 1:
            fit_class_means(ctx.model, ctx.data, self.train_idx(ctx), bf16=ctx.bf16)

    def track(self, ctx: Context, batch: Batch) -> None:
        """Momentum rule: move the class means towards this batch's real samples."""
        real = ~batch.is_forget if batch.kind == "noise" else slice(None)
        z = batch_normalized_features(ctx.model, batch.x[real])  # (B', D)
        momentum_update(ctx.model, z, batch.y[real], self.hp["cmf_momentum"])

    def backward(self, ctx: Context, batch: Batch) -> torch.Tensor:
        if self.hp["cmf_rule"] == "momentum":
            self.track(ctx, batch)
        return self.base.backward(ctx, batch)

    def scale_lr(self, epoch: int, step: int) -> float:
        every = self.hp.get("step_lr_epochs", 0)
        decay = self.hp["step_lr_gamma"] ** (epoch // every) if every else 1.0
        return self.base.scale_lr(epoch, step) * decay


def cmf_finetune(**hparams) -> CMFVariant:
    """[A]'s CMF fine-tune as a method: cross-entropy with true labels on the CMF logits over
    the retain set it is given (the pipeline gives it the whole training set)."""
    return CMFVariant("finetune", **hparams)
