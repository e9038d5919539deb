"""Unlearning methods: a registry of small classes on one shared loop (:mod:`.base`).

``available()`` lists the names; ``create_method(name, **hparams)`` builds one and
``resolve_method(name, profile)`` builds it with a profile's hyperparameters (:mod:`.config`).
A variant of a method is a :class:`Wrapper` registered once (``register_variant``);
``parse_method_name`` splits a name into variant and base. Importing this package imports
every module of it, which registers the methods they define: a new method is a new file here
(a :class:`Method` subclass under ``@register_method``, with its cost model ``work`` and its
dry-run caps ``dry_caps``) plus its rows in ``hparams.toml``.
"""

import importlib
import pkgutil

from .base import (Batch, Context, Method, Variant, Wrapper, available, create_method,
                   dry_caps, method_label, parse_method_name, register_method,
                   register_variant, run_unlearning, tuned_by)
from .config import dry_hparams, hparams_for, resolve_method, with_defaults
from .work import Sizes, Work

# the modules that hold the machinery, not methods
_MACHINERY = {"base", "checks", "config", "work"}
for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _module not in _MACHINERY:
        importlib.import_module(f"{__name__}.{_module}")  # registers its methods

__all__ = ["Batch", "Context", "Method", "Sizes", "Variant", "Work", "Wrapper", "available",
           "create_method", "dry_caps", "dry_hparams", "hparams_for", "method_label",
           "parse_method_name", "register_method", "register_variant",
           "resolve_method", "run_unlearning", "tuned_by", "with_defaults"]
