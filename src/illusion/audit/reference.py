"""``--train-reference``: a Retrain of the audited architecture on the retained classes, cached.

Recipe (:data:`REFERENCE_RECIPE`, the ``cpu`` profile's): 20 epochs, batch 128, SGD with
Nesterov momentum 0.9, lr 0.05 with 2 linear warm-up epochs then cosine decay to 1e-5, weight
decay 5e-4, no augmentation, float32, from a fresh initialisation, on every training image of
the retained classes (no validation split, no early stopping). A longer or augmented recipe
fits other data better; the point of the reference is that it never saw the forget classes.
The artifact's key holds the architecture spec, a SHA-256 of the images and labels, the
normalisation, the forget classes, the recipe and the seed.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict
from typing import Callable, Sequence

import torch
from torch import nn

from ..cache import ArtifactCache
from ..data import ImageData, class_split
from ..pipeline import generators
from ..train import TrainConfig, fit
from .measure import ContiguousInput

__all__ = ["REFERENCE_RECIPE", "data_fingerprint", "train_reference"]

REFERENCE_RECIPE = TrainConfig(per_class=None, val_fraction=0.0, epochs=20, batch_size=128,
                               lr=0.05, momentum=0.9, weight_decay=5e-4, warmup_epochs=2,
                               min_lr=1e-5, nc_per_class=0)


def data_fingerprint(data: ImageData) -> str:
    """SHA-256 of a dataset's images and labels (both splits), as the model sees them."""
    h = hashlib.sha256()
    for t in (data.x_train, data.y_train, data.x_test, data.y_test):
        h.update(t.contiguous().numpy().tobytes())
    h.update(repr((data.mean, data.std)).encode())
    return h.hexdigest()


def train_reference(make_model: Callable[[], nn.Module], arch: str, data: ImageData,
                    forget: Sequence[int], seed: int = 0, cache: ArtifactCache | None = None,
                    recipe: TrainConfig = REFERENCE_RECIPE,
                    progress: bool = True) -> tuple[nn.Module, dict]:
    """(Retrain model in eval mode, {"recipe", "seconds", "cached"}); ``make_model()`` builds
    the untrained architecture (its initialisation draws from a forked, seeded RNG)."""
    cache = cache or ArtifactCache()
    spec = {"arch": arch, "data": data_fingerprint(data), "forget": sorted(forget),
            "recipe": asdict(recipe), "seed": seed}

    def init() -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(generators(seed, ["init"], salt="audit-reference:")["init"]
                              .initial_seed())
            return make_model()

    ckpt = cache.checkpoint("audit_reference", spec)

    def build() -> dict:
        model = init()
        retain, _ = class_split(data.y_train, torch.arange(len(data.y_train)), forget)
        start = time.perf_counter()
        history = fit(ContiguousInput(model), data, retain, retain[:0], recipe,
                      generators(seed, ("order", "augment"), salt="audit-reference:"), "cpu",
                      progress, resume=ckpt.load(), checkpoint=ckpt.save)
        return {"state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
                "history": history, "spec": spec, "seconds": time.perf_counter() - start}

    payload, cached = cache.get_or_create("audit_reference", spec, build)
    ckpt.clear()
    model = init()
    model.load_state_dict(payload["state_dict"])
    model.float().eval()
    return model, {"recipe": asdict(recipe), "seconds": round(payload["seconds"], 3),
                   "cached": cached}
