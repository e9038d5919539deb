"""What a method's run costs, counted in image passes from its hyperparameters (no training).

Each method declares its own cost model, :meth:`illusion.methods.Method.work`, in its file,
from the pieces here: :class:`Sizes` (the image counts of one dataset, recipe and forget-set
size) and :class:`Work` (images through a network). :mod:`illusion.cost` adds up a grid's
cells with them.

Conventions: 1 **unit** = one training image forward and backward through the model being
trained (a backward pass to the input on a frozen network, as UNSIR's noise and Boundary
Shrink's FGSM take, counts the same); a forward-only image (teacher, class means, validation,
features) = 1/3 unit, the usual FLOPs ratio of a forward pass to forward + backward.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["FORWARD", "Sizes", "Work", "cycled", "passes"]

FORWARD = 1.0 / 3.0  # units per forward-only image


@dataclass(frozen=True)
class Work:
    """Images through a network: ``train`` forward+backward through the weights being
    trained, ``grad`` forward+backward to the input of a frozen network, ``forward`` forward
    only; ``steps`` optimizer steps of an unlearning loop."""

    train: float = 0.0
    grad: float = 0.0
    forward: float = 0.0
    steps: int = 0

    @property
    def units(self) -> float:
        return self.train + self.grad + FORWARD * self.forward

    def __add__(self, other: "Work") -> "Work":
        return Work(self.train + other.train, self.grad + other.grad,
                    self.forward + other.forward, self.steps + other.steps)


@dataclass(frozen=True)
class Sizes:
    """Image counts of one (dataset, training recipe, number of forget classes)."""

    classes: int
    forget_classes: int
    train_per_class: int  # training split, after the validation hold-out
    val_per_class: int
    test_per_class: int
    nc_per_class: int  # NC tracker images per retained class (0: off)

    @property
    def train(self) -> int:
        return self.classes * self.train_per_class

    @property
    def forget(self) -> int:
        return self.forget_classes * self.train_per_class

    @property
    def retain(self) -> int:
        return self.train - self.forget

    @property
    def retained_classes(self) -> int:
        return self.classes - self.forget_classes

    @property
    def val_retain(self) -> int:
        return self.retained_classes * self.val_per_class

    @property
    def test(self) -> int:
        return self.classes * self.test_per_class

    @property
    def test_forget(self) -> int:
        return self.forget_classes * self.test_per_class

    @property
    def test_retain(self) -> int:
        return self.test - self.test_forget


def cycled(n: int, batch_size: int, steps: int) -> int:
    """Images in the first ``steps`` batches of endless shuffled passes over ``n`` images
    (:meth:`Context.cycle`: full batches, then the remainder, per pass)."""
    if n <= 0 or steps <= 0:
        return 0
    per_pass = math.ceil(n / batch_size)
    full, rest = divmod(steps, per_pass)
    return full * n + min(rest * batch_size, n)


def passes(hp: dict, n: int, epochs: int | None = None) -> Work:
    """``epochs`` (default: ``hp["epochs"]``) shuffled passes over ``n`` images at the
    method's batch size."""
    e = hp["epochs"] if epochs is None else epochs
    return Work(train=e * n, steps=e * math.ceil(n / hp["batch_size"]))
