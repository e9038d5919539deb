"""Feature extraction: run a model once over a split and keep its features.

Metrics (:mod:`illusion.metrics`) work on the matrices this module returns. Extraction is in
evaluation mode, batched, and does not touch any RNG; it runs in float32 unless ``bf16`` asks
for bfloat16 autocast, which the pipeline does for profiles that also *train* under it (``cpu``
on a CPU with native bfloat16): faster passes, features close to float32's
(``bench/feature_precision.py`` measures speed and the metrics' differences). Features are
returned as float32 either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .data import ImageData, batches, normalize

__all__ = ["FeatureSet", "block_grams", "extract_features", "feature_set", "flat_stage_grams",
           "with_head"]


@torch.no_grad()
def extract_features(model: nn.Module, data: ImageData, x: torch.Tensor, stages: bool = False,
                     batch_size: int = 128, device: torch.device | str | None = None,
                     bf16: bool = False) -> torch.Tensor | dict:
    """Penultimate features (N, D) of uint8 images ``x`` — or, with ``stages``, the pooled
    features of every stage as ``{name: (N, C)}`` — as float32 CPU tensors. The default batch
    (128) keeps activations in cache, so it is faster than large batches on the cpu model, with
    identical features (book page "Reproducing and auditing", "Retired one-off investigations")."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    chunks: list = []
    with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
        for pos in batches(len(x), batch_size):
            inputs = normalize(x[pos].to(device), data.mean, data.std)
            out = model.stage_features(inputs) if stages else model.forward_features(inputs)
            chunks.append({k: v.float().cpu() for k, v in out.items()} if stages
                          else out.float().cpu())
    model.train(was_training)
    if stages:
        names = model.stage_names
        return {k: torch.cat([c[k] for c in chunks]) if chunks else torch.empty(0) for k in names}
    return torch.cat(chunks) if chunks else torch.empty(0, getattr(model, "feature_dim", 0))


@dataclass(frozen=True, eq=False)
class FeatureSet:
    """Head-input features of a model on its training split (all classes) and the test set.

    ``train_logits`` / ``test_logits`` come from the model's head applied to these features,
    so output accuracy, confidences and losses need no second forward pass.
    """

    train: torch.Tensor  # (N_train, D)
    train_y: torch.Tensor  # (N_train,)
    test: torch.Tensor  # (N_test, D)
    test_y: torch.Tensor  # (N_test,)
    train_logits: torch.Tensor  # (N_train, K)
    test_logits: torch.Tensor  # (N_test, K)


@torch.no_grad()
def feature_set(model: nn.Module, data: ImageData, train_idx: torch.Tensor,
                device: torch.device | str | None = None, bf16: bool = False) -> FeatureSet:
    """Extract features of ``x_train[train_idx]`` and of the whole test set (the head is
    applied to the float32 features, outside autocast)."""
    train = extract_features(model, data, data.x_train[train_idx], device=device, bf16=bf16)
    test = extract_features(model, data, data.x_test, device=device, bf16=bf16)
    return with_head(model, data, train_idx, train, test)


@torch.no_grad()
def with_head(model: nn.Module, data: ImageData, train_idx: torch.Tensor, train: torch.Tensor,
              test: torch.Tensor) -> FeatureSet:
    """The :class:`FeatureSet` of already extracted head-input features (e.g. the last stage
    of :func:`extract_features` with ``stages=True`` when the model's neck is the identity)."""
    head_device = next(model.parameters()).device

    def head(f: torch.Tensor) -> torch.Tensor:
        return model.forward_head(f.to(head_device)).float().cpu()

    return FeatureSet(train, data.y_train[train_idx], test, data.y_test, head(train), head(test))


# ------------------------------------------------------------ Gram matrices of stage maps

def block_grams(maps: Callable[[int, int], dict[str, torch.Tensor]], n: int,
                block: int) -> dict[str, torch.Tensor]:
    """The (n, n) float64 Gram matrices X Xᵀ of row blocks of features, filled block pair by
    block pair: ``maps(start, stop)`` returns ``{name: (stop - start, D) rows}`` of every
    feature set. Block i's rows are held while each later block j is asked for again, so at
    most two blocks are in memory (all n rows only when n <= block), at the price of
    ``b (b + 1) / 2`` calls for ``b = ceil(n / block)`` blocks (one call when n <= block)."""
    if block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    starts = list(range(0, n, block))
    grams: dict[str, torch.Tensor] = {}
    for k, i in enumerate(starts):
        i_end = min(i + block, n)
        rows = maps(i, i_end)
        for j in starts[k:]:
            j_end = min(j + block, n)
            cols = rows if j == i else maps(j, j_end)
            for name, r in rows.items():
                g = grams.setdefault(name, torch.zeros(n, n, dtype=torch.float64))
                part = r.double() @ cols[name].double().T  # (i_end - i, j_end - j)
                g[i:i_end, j:j_end] = part
                g[j:j_end, i:i_end] = part.T
    return grams


@torch.no_grad()
def flat_stage_maps(model: nn.Module, data: ImageData, x: torch.Tensor,
                    batch_size: int = 128, device: torch.device | str | None = None,
                    bf16: bool = False) -> dict[str, torch.Tensor]:
    """Every stage's feature maps (``model.stage_maps``) of uint8 images ``x``, flattened:
    ``{stage: (N, C·H·W)}`` float32 CPU tensors, in batches of ``batch_size`` (bfloat16
    autocast with ``bf16``, as :func:`extract_features`)."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    chunks: list[dict[str, torch.Tensor]] = []
    with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
        for pos in batches(len(x), batch_size):
            out = model.stage_maps(normalize(x[pos].to(device), data.mean, data.std))
            chunks.append({k: v.float().reshape(len(v), -1).cpu() for k, v in out.items()})
    model.train(was_training)
    return {k: torch.cat([c[k] for c in chunks]) for k in model.stage_names}


def flat_stage_grams(model: nn.Module, data: ImageData, x: torch.Tensor, block: int = 1000,
                     batch_size: int = 128, device: torch.device | str | None = None,
                     bf16: bool = False) -> dict[str, torch.Tensor]:
    """``{stage: (N, N) float64 Gram matrix}`` of the flattened stage maps of uint8 images
    ``x`` (:func:`flat_stage_maps`), accumulated ``block`` images at a time
    (:func:`block_grams`): the maps of at most two blocks are held, not all N images' when
    N > ``block``."""
    return block_grams(lambda i, j: flat_stage_maps(model, data, x[i:j], batch_size, device,
                                                    bf16), len(x), block)
