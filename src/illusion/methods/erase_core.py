"""EC, "Erase at the Core": forgetting enforced at every depth, as a method and as a plug-in.

Follows Lee, Kim & Kim, "Erase at the Core: Representation Unlearning for Machine Unlearning"
(arXiv:2602.05375, [B]) as described in its text and in ``shared/spec/methods.md``; no public
code of [B] was found, so every detail below that [B] leaves open is our choice.

1. ``setup``: an auxiliary head (3x3 conv + BN + ReLU, global average pool, linear) is attached
   to the output of every intermediate residual stage and fitted by CE on D_r ∪ D_f while the
   original network stays frozen (``head_epochs`` epochs, SGD at ``head_lr``). Heads live in
   ``ctx.state``, never inside the model.
2. Each step sends a retain batch and a forget batch through the network together. At every
   supervision point l (the heads on stage1..stage3 and the output, i.e. the last stage and
   ``fc``) the loss is ``w_l · (CE_l(retain) + cu_weight · CU_l(forget))``, summed over l.
3. The heads are discarded: the returned model has the original's architecture and keys.

Contrastive unlearning CU on the L2-normalised pooled stage features z (the features whose
CKA to the original we measure), temperature τ = 1: for a forget anchor i and the other
samples j of the joint batch, ``CU_i = −log Σ_{j: y_j≠y_i} e^{s_ij} / Σ_{j≠i} e^{s_ij}``
with ``s_ij = cos(z_i, z_j)/τ``: samples of any other class are positives, the anchor's own class
the negatives. With several forget classes the positives include forget samples of the *other*
forget classes ([B]'s pairs); for a **single forget class** (our default) they are the retain
samples, so forget features are drawn toward the retained classes and away from one another:
their own class cluster is scattered, as a model that never saw the class would place them.

Layer weights ``layer_weights`` for (stage1, stage2, stage3, output), default uniform
(1, 1, 1, 1), chosen over a ramp in depth (0.25, 0.5, 0.75, 1) on the ``cpu`` profile's
validation split: uniform weights cost no retain accuracy and gave the lower forget-class CKA to
the original at every stage (book/reproducing.md, "Measurements quoted by the code"). A weight of 0
drops that point and its head. The book's C7 page repeats this ablation on test.

Plug-in ``<base>+ec``: the base method runs unchanged (its batches, loss and hooks) and every
step adds ``ec_weight`` times the EC loss above on its own retain and forget batches.

Deviations / choices (nothing here is published by [B]):
- supervision points are the outputs of stage1..stage3 (none on the stem), one head each;
- CU acts on the pooled backbone features, not on the heads' conv embeddings, so the heads
  cannot absorb the forgetting on their own; CE goes through the heads;
- heads are pretrained on the training data of the original (retain and forget), then trained
  jointly with the network during unlearning; the pretraining runs under the steps' bfloat16
  autocast where the profile has it (``bf16_passes``; float32 before issue 26);
- positives / negatives as above (a SupCon-style sum inside the log);
- the shared loop's SGD (Nesterov) for the network and the heads, one learning rate.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .base import Batch, Context, Method, Wrapper, register_method, register_variant
from .work import Sizes, Work, cycled, passes

__all__ = ["AuxHead", "EraseCore", "EraseCorePlugin", "contrastive_unlearning", "ec_loss",
           "fit_heads"]

EC_DEFAULTS: dict[str, Any] = {"layer_weights": [1.0, 1.0, 1.0, 1.0], "cu_weight": 1.0,
                               "temperature": 1.0, "forget_batch_size": 32, "head_epochs": 2,
                               "head_lr": 0.05}
PLUGIN_BASES = ("random_label", "neggrad_plus", "scrub", "salun")


class AuxHead(nn.Module):
    """Small conv/pool + linear classifier on a (B, C, H, W) feature map."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(channels), nn.ReLU())
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(h).mean(dim=(2, 3)))  # (B, K)


def _points(model: nn.Module, weights) -> list[tuple[str, float]]:
    """(stage name, weight) of every supervision point; the last stage is the output."""
    names = model.stage_names[1:]
    if len(weights) != len(names) or any(w < 0 for w in weights):
        raise ValueError(f"ec: layer_weights needs {len(names)} non-negative values "
                         f"({', '.join(names[:-1])}, output), got {list(weights)}")
    return list(zip(names, weights))


def build_heads(ctx: Context, weights) -> nn.ModuleDict:
    """Fresh heads on the intermediate stages with a non-zero weight; initialised from a
    generator derived from the run's "order" stream (the global RNG is left as it was)."""
    points = _points(ctx.model, weights)[:-1]
    was_training = ctx.model.training
    with torch.no_grad():  # channel counts from one image; eval mode keeps BN statistics
        maps = ctx.model.eval().stage_maps(ctx.inputs(ctx.retain_idx[:1], augment=False))
    ctx.model.train(was_training)
    seed = ctx.generators["order"].initial_seed() ^ 0xEC
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        heads = nn.ModuleDict({n: AuxHead(maps[n].shape[1], ctx.num_classes)
                               for n, w in points if w > 0})
    return heads.to(ctx.device)


def fit_heads(ctx: Context, heads: nn.ModuleDict, epochs: int, lr: float) -> None:
    """Pretrain ``heads`` by CE on D_r ∪ D_f with the network frozen (eval mode, no grad),
    under ``ctx.bf16``'s autocast like the steps."""
    if not len(heads) or epochs <= 0:
        return
    idx = torch.cat([ctx.retain_idx, ctx.forget_idx])
    opt = torch.optim.SGD(heads.parameters(), lr=lr, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    was_training = ctx.model.training
    ctx.model.eval()
    heads.train()
    for _ in range(epochs):
        for batch in ctx.loader(idx, "mixed"):
            # under the steps' autocast (bf16_passes): the frozen forward is most of the fit
            with torch.autocast(ctx.device.type, dtype=torch.bfloat16, enabled=ctx.bf16):
                with torch.no_grad():
                    maps = ctx.model.stage_maps(batch.x)
                loss = sum(F.cross_entropy(head(maps[n]).float(), batch.y)
                           for n, head in heads.items())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    ctx.model.train(was_training)


def contrastive_unlearning(z: torch.Tensor, y: torch.Tensor, forget: torch.Tensor,
                           temperature: float = 1.0) -> torch.Tensor:
    """Mean over forget anchors of −log(Σ_{y_j≠y_i} e^{s_ij} / Σ_{j≠i} e^{s_ij}).

    ``z`` (B, D) features (normalised here), ``y`` (B,) labels, ``forget`` (B,) bool anchors;
    s_ij = cos(z_i, z_j) / temperature. Zero when there is no anchor or no positive.
    """
    if temperature <= 0:
        raise ValueError(f"ec: temperature must be > 0, got {temperature}")
    if not forget.any():
        return z.new_zeros(())
    z = F.normalize(z.float(), dim=1)  # (B, D)
    sim = z[forget] @ z.T / temperature  # (A, B)
    others = ~F.one_hot(forget.nonzero().squeeze(1), len(z)).bool()  # (A, B): j != i
    positive = y[forget][:, None] != y[None, :]  # (A, B)
    if not positive.any():
        return z.new_zeros(())
    log_all = torch.logsumexp(sim.masked_fill(~others, -torch.inf), dim=1)  # (A,)
    log_pos = torch.logsumexp(sim.masked_fill(~positive, -torch.inf), dim=1)  # (A,)
    return (log_all - log_pos).mean()


def ec_loss(ctx: Context, retain: Batch, forget: Batch, hp: dict) -> torch.Tensor:
    """Σ_l w_l (CE_l(retain) + cu_weight · CU_l(forget)) over the supervision points."""
    heads = ctx.state["ec_heads"]
    x = torch.cat([retain.x, forget.x])  # (R + F, C, H, W)
    y = torch.cat([retain.y, forget.y])  # (R + F,)
    is_forget = torch.arange(len(y), device=y.device) >= len(retain.y)  # (R + F,)
    maps = ctx.model.stage_maps(x)
    total = x.new_zeros(())
    points = _points(ctx.model, hp["layer_weights"])
    for i, (name, w) in enumerate(points):
        if w == 0:
            continue
        pooled = maps[name].mean(dim=(2, 3))  # (R + F, C)
        last = i == len(points) - 1
        logits = ctx.model.forward_head(pooled) if last else heads[name](maps[name])
        ce = F.cross_entropy(logits[: len(retain.y)].float(), retain.y)
        cu = contrastive_unlearning(pooled, y, is_forget, hp["temperature"])
        total = total + w * (ce + hp["cu_weight"] * cu)
    return total


def _setup_ec(ctx: Context, hp: dict) -> None:
    heads = build_heads(ctx, hp["layer_weights"])
    fit_heads(ctx, heads, hp["head_epochs"], hp["head_lr"])
    ctx.state["ec_heads"] = heads
    ctx.state["ec_forget"] = ctx.cycle(ctx.forget_idx, "forget", hp["forget_batch_size"])


def _heads(ctx: Context) -> list[nn.Parameter]:
    return list(ctx.state["ec_heads"].parameters())


def head_work(hp: dict, s: Sizes) -> Work:
    """The auxiliary heads' pretraining: the frozen network's stage maps of D_r ∪ D_f."""
    return Work(forward=hp["head_epochs"] * (s.retain + s.forget))


@register_method
class EraseCore(Method):
    """EC on its own: each epoch is one pass over D_r, each step paired with a forget batch."""

    name = "ec"
    label = "EC"
    head_compatible = False
    bf16_passes = True  # the heads' pretraining (fit_heads)
    defaults = dict(EC_DEFAULTS)

    dry_caps = {"head_epochs": 1}

    def work(self, s: Sizes) -> Work:
        loop = passes(self.hp, s.retain)  # each retain batch paired with a cycling forget batch
        return (head_work(self.hp, s) + loop
                + Work(train=cycled(s.forget, self.hp["forget_batch_size"], loop.steps)))

    def setup(self, ctx: Context) -> None:
        _setup_ec(ctx, self.hp)

    def loss(self, ctx: Context, batch: Batch) -> torch.Tensor:
        return ec_loss(ctx, batch, next(ctx.state["ec_forget"]), self.hp)

    def parameters(self, ctx: Context) -> list[nn.Parameter]:
        return super().parameters(ctx) + _heads(ctx)

    def train_mode(self, ctx: Context) -> None:
        ctx.model.train()
        ctx.state["ec_heads"].train()


@register_variant("{}+ec", bases=PLUGIN_BASES)
class EraseCorePlugin(Wrapper):
    """``<base>+ec``: the base method's step plus ``ec_weight`` × the EC loss."""

    own = {**EC_DEFAULTS, "ec_weight": 1.0}
    bf16_passes = True  # the heads' pretraining (fit_heads)

    dry_caps = {"head_epochs": 1}

    def work(self, s: Sizes) -> Work:
        """The base's work, head pretraining and, per step, one retain batch and one forget
        batch (both cycling) through the EC loss."""
        base = self.base.work(s)
        extra = (cycled(s.retain, self.hp["batch_size"], base.steps)
                 + cycled(s.forget, self.hp["forget_batch_size"], base.steps))
        return base + head_work(self.hp, s) + Work(train=extra)

    def setup(self, ctx: Context) -> None:
        self.base.setup(ctx)
        _setup_ec(ctx, self.hp)
        ctx.state["ec_retain"] = ctx.cycle(ctx.retain_idx, "retain")

    def backward(self, ctx: Context, batch: Batch) -> torch.Tensor:
        base = self.base.backward(ctx, batch)
        extra = self.hp["ec_weight"] * ec_loss(ctx, next(ctx.state["ec_retain"]),
                                               next(ctx.state["ec_forget"]), self.hp)
        extra.backward()
        return base + extra.detach()

    def parameters(self, ctx: Context) -> list[nn.Parameter]:
        return self.base.parameters(ctx) + _heads(ctx)

    def train_mode(self, ctx: Context) -> None:
        self.base.train_mode(ctx)
        ctx.state["ec_heads"].train()
