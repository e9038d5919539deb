"""Unlearning methods: a registry of small classes on one shared loop (:mod:`.base`).

``available()`` lists the names; ``create_method(name, **hparams)`` builds one. Importing this
package registers every method module below.
"""

from .base import (Batch, Context, Method, available, create_method, register_method,
                   register_variant, run_unlearning)
from . import (boundary_shrink, classifier_only, finetune, grad_ascent,  # noqa: F401 (register)
               l1_sparse, neggrad_plus, random_label, retrain, salun, scrub, unsir)
from . import erase_core  # noqa: F401 (registers ec and <base>+ec)
from . import cmf  # noqa: F401 (registers <base>+cmf)
from .config import hparams_for, with_defaults

__all__ = ["Batch", "Context", "Method", "available", "create_method", "register_method",
           "register_variant", "hparams_for", "run_unlearning", "with_defaults"]
