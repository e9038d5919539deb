"""Unlearning methods: a registry of small classes on one shared loop (:mod:`.base`).

``available()`` lists the names; ``create_method(name, **hparams)`` builds one and
``resolve_method(name, profile)`` builds it with a profile's hyperparameters (:mod:`.config`).
A variant of a method is a :class:`Wrapper` registered once (``register_variant``);
``parse_method_name`` splits a name into variant and base. Importing this package registers
every method module below.
"""

from .base import (Batch, Context, Method, Variant, Wrapper, available, create_method,
                   parse_method_name, register_method, register_variant, run_unlearning)
from . import (boundary_shrink, classifier_only, finetune, grad_ascent,  # noqa: F401 (register)
               l1_sparse, neggrad_plus, random_label, retrain, salun, scrub, unsir)
from . import erase_core  # noqa: F401 (registers ec and <base>+ec)
from . import cmf  # noqa: F401 (registers <base>+cmf)
from .config import hparams_for, resolve_method, with_defaults

__all__ = ["Batch", "Context", "Method", "Variant", "Wrapper", "available", "create_method",
           "hparams_for", "parse_method_name", "register_method", "register_variant",
           "resolve_method", "run_unlearning", "with_defaults"]
