"""Classifier-only unlearning: edit or retrain the last layer, never the features (claim C4).

[A] (Section on neural collapse) shows that under NC, changing only the classifier already gives
output-level "success": forget accuracy ≈ 0, retain predictions unchanged, while probes and the
nearest-class-mean readout, which read the untouched features, still recover everything.

* ``prune_row``: zero the forget classes' weight rows and biases.
* ``last_layer:<method>``: freeze every non-head parameter and the BN statistics, optionally
  zero the head (``zero_head``), and train only the head with ``<method>``'s loss and batches.
* ``nc_flip``: the analytic edit w_k ← −c·(μ_k − μ_G) with bias c·(μ_k − μ_G)·μ_G, i.e. the
  forget row points away from its own centred class mean. With NC features (w_j = α(μ_j − μ_G))
  a retained sample keeps its label iff c < (K−1)·α; ``c_ratio`` sets c as a fraction of that
  bound, with α estimated by least squares from the retained rows.

Deviations:

- [A] states the flip for centred NC features; real features are not centred, so the bias is
  set to make the forget logit −c·(μ_k − μ_G)·(h − μ_G). Class means come from the training
  features (retain ∪ forget) of the model before unlearning. [A]'s released code has no flip
  (its ``nc_prune.py`` zeroes the row); the construction and its bound are this project's
  reconstruction of [A]'s argument.
- [A]'s classifier-only runs (``--zero_last_layer``) zero the head before the method retrains
  it; ``last_layer:<method>`` starts from the original head unless ``zero_head`` is set. The
  book's ``last_layer:unsir@A`` row sets it, with [A]'s "for classifier only" learning rates;
  its last-layer RL and NegGrad+ rows start from the original head.
"""

from __future__ import annotations

import torch

from ..features import extract_features
from ..metrics import class_means
from .base import Context, Method, Wrapper, register_method, register_variant
from .work import Sizes, Work


@register_method
class PruneRow(Method):
    name = "prune_row"
    label = "prune row"
    head_compatible = False
    common = {}  # analytic: no optimisation

    def work(self, s: Sizes) -> Work:
        return Work()  # analytic: no image passes

    def setup(self, ctx: Context) -> None:
        with torch.no_grad():
            rows = list(ctx.forget_classes)
            ctx.model.fc.weight[rows] = 0.0
            if ctx.model.fc.bias is not None:
                ctx.model.fc.bias[rows] = 0.0


def nc_flip_terms(weight: torch.Tensor, means: torch.Tensor, global_mean: torch.Tensor,
                  forget: list[int]) -> tuple[float, torch.Tensor]:
    """(α, centred means): α = least-squares scale of retained rows onto their centred means."""
    centred = means - global_mean  # (K, D)
    retain = [c for c in range(len(means)) if c not in set(forget)]
    w, m = weight[retain].double(), centred[retain].double()
    alpha = ((w * m).sum() / (m * m).sum()).item()
    return alpha, centred


def nc_flip_head(weight: torch.Tensor, bias: torch.Tensor | None, features: torch.Tensor,
                 labels: torch.Tensor, forget: list[int],
                 c_ratio: float) -> tuple[torch.Tensor, torch.Tensor | None, dict]:
    """The flipped head (W', b') for training ``features`` (N, D) with ``labels``, and
    ``{"alpha", "c", "bound"}`` where bound = (K−1)·α and c = ``c_ratio``·bound."""
    k = weight.shape[0]
    f = features.double()
    means = class_means(f, labels, k)  # (K, D)
    mu_g = f.mean(0)
    alpha, centred = nc_flip_terms(weight, means, mu_g, forget)
    bound = (k - 1) * alpha
    c = c_ratio * bound
    w, b = weight.detach().clone(), None if bias is None else bias.detach().clone()
    for j in forget:
        w[j] = (-c * centred[j]).to(w)
        if b is not None:
            b[j] = (c * centred[j] @ mu_g).to(b)
    return w, b, {"alpha": alpha, "c": c, "bound": bound}


@register_method
class NCFlip(Method):
    name = "nc_flip"
    label = "NC flip"
    head_compatible = False
    common = {}  # analytic: no optimisation
    defaults = {"c_ratio": 0.5}

    def work(self, s: Sizes) -> Work:
        return Work(forward=s.retain + s.forget)  # training features for the class means

    def setup(self, ctx: Context) -> None:
        idx = torch.cat([ctx.retain_idx, ctx.forget_idx])
        f = extract_features(ctx.model, ctx.data, ctx.data.x_train[idx])  # (N, D)
        fc = ctx.model.fc
        w, b, terms = nc_flip_head(fc.weight.detach().cpu(), None if fc.bias is None
                                   else fc.bias.detach().cpu(), f, ctx.data.y_train[idx],
                                   list(ctx.forget_classes), self.hp["c_ratio"])
        ctx.state.update(terms)
        with torch.no_grad():
            fc.weight.copy_(w)
            if b is not None:
                fc.bias.copy_(b)


@register_variant("last_layer:{}", bases=lambda cls: cls.head_compatible)
class LastLayer(Wrapper):
    """``last_layer:<base>``: the base method's data and loss, head parameters only."""

    label_pattern = "LL-{}"

    own = {"zero_head": False}

    def work(self, s: Sizes) -> Work:
        """Only the head trains, so every trained image is a forward pass (+ a negligible
        backward through the head); input gradients on frozen networks stay."""
        base = self.base.work(s)
        return Work(grad=base.grad, forward=base.forward + base.train, steps=base.steps)

    def setup(self, ctx: Context) -> None:
        head = {id(p) for p in ctx.model.fc.parameters()}
        for p in ctx.model.parameters():
            p.requires_grad_(id(p) in head)
        if self.hp["zero_head"]:
            with torch.no_grad():
                for p in ctx.model.fc.parameters():
                    p.zero_()
        self.base.setup(ctx)

    def train_mode(self, ctx: Context) -> None:
        ctx.model.eval()  # BN statistics stay those of the original
