"""Supervised training of the original model and of Retrain.

The recipe follows [A]'s (``shared/spec/paper.md``): SGD with Nesterov momentum, weight decay,
linear warm-up then cosine decay to ``min_lr``, optional early stopping on a validation split
(the best-validation weights are restored). The loop works on in-memory uint8 tensors and index
sets (``illusion.data``); batches are augmented as whole tensors. Every source of randomness is a
``torch.Generator`` argument; the global RNG is never seeded.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .data import ImageData, augment_batch, batches, normalize
from .models import memory_format

__all__ = ["device_generator", "TrainConfig", "evaluate_accuracy", "fit", "lr_at", "predict"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a trained model (stored with every artifact)."""

    arch: str = "resnet18"
    width: int = 16
    per_class: int | None = None  # training images per class (None: all)
    val_fraction: float = 0.1
    epochs: int = 30
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: int = 1
    min_lr: float = 1e-5
    padding: int = 0  # random-crop padding in pixels (0: no crop)
    flip: bool = False
    patience: int | None = None  # early stopping on val accuracy (None: off)
    bf16: bool = False  # bfloat16 autocast of the forward pass (recent CPUs; always on a GPU)
    nc_per_class: int = 100  # training images/class on which NC1-NC4 are tracked per epoch (0: off)

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0 or self.width < 1:
            raise ValueError(f"invalid training config: {self}")


def lr_at(cfg: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """Linear warm-up over ``warmup_epochs`` then cosine decay from ``lr`` to ``min_lr``."""
    warm = cfg.warmup_epochs * steps_per_epoch
    total = cfg.epochs * steps_per_epoch
    if step < warm:
        return cfg.lr * (step + 1) / warm
    t = (step - warm) / max(1, total - warm)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * t))


def _inputs(data: ImageData, x: torch.Tensor) -> torch.Tensor:
    return normalize(x, data.mean, data.std)


@torch.no_grad()
def predict(model: nn.Module, data: ImageData, x: torch.Tensor, batch_size: int = 128,
            device: torch.device | str = "cpu", bf16: bool = False) -> torch.Tensor:
    """Arg-max predictions for uint8 images ``x`` (N, C, H, W) -> (N,) int64 on the CPU, under
    bfloat16 autocast when ``bf16`` (as the profiles that train in bfloat16 evaluate)."""
    was_training = model.training
    model.eval()
    preds = []
    device = torch.device(device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        for pos in batches(len(x), batch_size):
            preds.append(model(_inputs(data, x[pos].to(device))).argmax(1).cpu())
    model.train(was_training)
    return torch.cat(preds) if preds else torch.empty(0, dtype=torch.int64)


def evaluate_accuracy(model: nn.Module, data: ImageData, x: torch.Tensor, y: torch.Tensor,
                      device: torch.device | str = "cpu", bf16: bool = False) -> float:
    """Top-1 accuracy in percent (NaN for an empty set)."""
    if len(y) == 0:
        return float("nan")
    return 100.0 * (predict(model, data, x, device=device, bf16=bf16) == y).float().mean().item()


def fit(model: nn.Module, data: ImageData, train_idx: torch.Tensor, val_idx: torch.Tensor,
        cfg: TrainConfig, generators: dict[str, torch.Generator],
        device: torch.device | str = "cpu", progress: bool = True,
        on_epoch: Callable[[int, nn.Module], dict] | None = None,
        resume: dict | None = None,
        checkpoint: Callable[[dict], None] | None = None) -> list[dict]:
    """Train ``model`` in place on ``data.x_train[train_idx]``; return the per-epoch history.

    ``generators`` needs ``"order"`` (batch order) and ``"augment"``. ``on_epoch(epoch, model)``
    may return extra values to store in that epoch's history record. After every epoch
    ``checkpoint(state)`` receives the full training state; passing that state back as
    ``resume`` continues the run exactly where it stopped (same result as an uninterrupted run).
    """
    device = torch.device(device)
    model.to(device=device, memory_format=memory_format(model)).train()
    # The whole split lives on the device; per batch only device tensors are indexed. On CUDA
    # the augmentation draws from a device generator seeded from the "augment" stream and the
    # forward pass runs under bfloat16 autocast whatever ``cfg.bf16`` says.
    x_all, y_all = data.x_train.to(device), data.y_train.to(device)
    idx_all = train_idx.to(device)
    augment_gen = device_generator(generators["augment"], device)
    bf16 = cfg.bf16 or device.type == "cuda"
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=True,
                          weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(train_idx) / cfg.batch_size)
    history: list[dict] = []
    best: tuple[float, dict | None] = (-1.0, None)
    start = 0
    if resume is not None:
        model.load_state_dict(resume["model"])
        opt.load_state_dict(resume["optimizer"])
        for name, state in resume["generators"].items():
            generators[name].set_state(state)
        history, start = list(resume["history"]), len(resume["history"])
        best = (resume["best_val"], resume["best_model"])
    bar = tqdm(range(start, cfg.epochs), desc="train", unit="epoch", disable=not progress,
               leave=False, initial=start, total=cfg.epochs)
    for epoch in bar:
        loss_sum, correct, seen = torch.zeros((), device=device), torch.zeros((), device=device), 0
        # one permutation per epoch, as illusion.data.batches draws it, copied to the device once
        order = torch.randperm(len(train_idx), generator=generators["order"]).to(device)
        for i, start in enumerate(range(0, len(order), cfg.batch_size)):
            for group in opt.param_groups:
                group["lr"] = lr_at(cfg, epoch * steps_per_epoch + i, steps_per_epoch)
            idx = idx_all[order[start:start + cfg.batch_size]]  # (B,) on the device
            x = augment_batch(x_all[idx], cfg.padding, cfg.flip, augment_gen)
            y = y_all[idx]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = model(_inputs(data, x))
            loss = F.cross_entropy(logits.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * len(y)
            correct += (logits.argmax(1) == y).sum()
            seen += len(y)
        record = {"epoch": epoch + 1, "loss": (loss_sum / seen).item(),
                  "train_acc": 100.0 * (correct / seen).item(),
                  "val_acc": evaluate_accuracy(model, data, data.x_train[val_idx],
                                               data.y_train[val_idx], device)}
        if on_epoch is not None:
            record.update(on_epoch(epoch + 1, model))
        model.train()
        history.append(record)
        bar.set_postfix(loss=f"{record['loss']:.3f}", train=f"{record['train_acc']:.1f}",
                        val=f"{record['val_acc']:.1f}")
        if cfg.patience is not None and len(val_idx) and record["val_acc"] > best[0]:
            best = (record["val_acc"], {k: v.detach().clone() for k, v in model.state_dict().items()})
        stop = (cfg.patience is not None and len(val_idx) > 0
                and epoch + 1 - _best_epoch(history) >= cfg.patience)
        if checkpoint is not None and not stop and epoch + 1 < cfg.epochs:
            checkpoint(copy.deepcopy({  # a snapshot: training goes on mutating the originals
                "model": model.state_dict(), "optimizer": opt.state_dict(),
                "generators": {k: g.get_state() for k, g in generators.items()},
                "history": history, "best_val": best[0], "best_model": best[1]}))
        if stop:
            break
    if best[1] is not None:
        model.load_state_dict(best[1])
    return history


def device_generator(cpu: torch.Generator, device: torch.device) -> torch.Generator:
    """``cpu`` itself on the CPU; elsewhere a generator on ``device`` seeded by one draw from
    ``cpu``, so augmentation never copies random numbers from the host per batch."""
    if device.type == "cpu":
        return cpu
    seed = int(torch.randint(0, 2**62, (1,), generator=cpu))
    return torch.Generator(device=device).manual_seed(seed)


def _best_epoch(history: list[dict]) -> int:
    return max(history, key=lambda r: r["val_acc"])["epoch"]
