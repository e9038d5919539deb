"""Retrain: the oracle — train from scratch on the retain set with the original recipe.

Not a loop over the original model: :func:`illusion.pipeline.unlearn_or_load` recognises
``from_scratch`` and returns the cached Retrain model of :func:`illusion.pipeline.train_or_load`
(same data split, initialisation stream and recipe as the original, forget classes removed).
"""

from __future__ import annotations

from .base import Method, register_method
from .work import Sizes, Work


@register_method
class Retrain(Method):
    name = "retrain"
    label = "Retrain"
    head_compatible = False
    from_scratch = True
    common = {}  # the recipe is the profile's training config

    def work(self, s: Sizes) -> Work:
        raise NotImplementedError("Retrain is trained, not unlearned: its cost is "
                                  "illusion.cost.training_work of the profile's recipe")
