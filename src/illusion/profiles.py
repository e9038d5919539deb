"""Named scales of every experiment: ``smoke`` (CI, seconds), ``cpu`` (default), ``paper`` (GPU).

A profile fixes the default dataset and the training recipe; the README's "Profiles" section
explains the choice of the ``cpu`` values (measured on a 2-core machine).
"""

from __future__ import annotations

from dataclasses import dataclass

from .train import TrainConfig

__all__ = ["PROFILES", "Profile", "get_profile"]


@dataclass(frozen=True)
class Profile:
    name: str
    dataset: str
    train: TrainConfig
    description: str


PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("smoke", "fashion_mnist",
            TrainConfig(width=8, per_class=100, epochs=3, batch_size=64, lr=0.05,
                        warmup_epochs=1, val_fraction=0.2, nc_per_class=20),
            "CI plumbing check: a small ResNet-18 for a few seconds; numbers mean little."),
    Profile("cpu", "fashion_mnist",
            TrainConfig(width=16, per_class=500, epochs=20, batch_size=128, lr=0.05,
                        warmup_epochs=2, bf16=True),
            "Fashion-MNIST, 500 images/class, ResNet-18 width 16 trained into its terminal "
            "phase in a few minutes on 2 CPU cores."),
    Profile("paper", "cifar10",
            TrainConfig(width=64, per_class=None, epochs=300, batch_size=128, lr=0.05,
                        warmup_epochs=5, padding=4, flip=True, patience=30),
            "[A]'s recipe: CIFAR-10, ResNet-18 width 64, crop+flip, 300 epochs with early "
            "stopping on a 10% validation split; meant for a GPU."),
)}


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise KeyError(f"unknown profile {name!r}; choose from {', '.join(PROFILES)}")
    return PROFILES[name]
