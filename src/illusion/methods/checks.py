"""Type and range of every hyperparameter, checked when a method is created (before any work).

Methods declare defaults (``Method.defaults``); the shared rules live here, by hyperparameter
name, because the names are shared across methods (``lr`` is ``lr`` everywhere). A method
with a hyperparameter of its own may declare its rule beside it (``Method.rules``), so that a
new method needs no line here. A value that a
rule rejects raises ``ValueError`` with one line, so ``illusion unlearn --set lr=abc`` and a
grid's ``hparams: {epochs: -1}`` stop before any model is trained. A name without a rule only
has to be a finite number, a bool or a string.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["RULES", "check_hparams"]

# name -> (kind, lowest, highest, lowest excluded). kind: "int", "float" (an int is accepted),
# "bool", "str", "floats" (a list of floats).
RULES: dict[str, tuple[str, float | None, float | None, bool]] = {
    "epochs": ("int", 0, None, False),
    "batch_size": ("int", 1, None, False),
    "msteps": ("int", 0, None, False),
    "head_epochs": ("int", 0, None, False),
    "forget_batch_size": ("int", 1, None, False),
    "noise_batch": ("int", 1, None, False),
    "noise_steps": ("int", 0, None, False),
    "noise_inner": ("int", 0, None, False),
    "noise_copies": ("int", 1, None, False),
    "retain_per_class": ("int", 1, None, False),
    "lr": ("float", 0.0, None, False),  # 0: frozen (tests use it)
    "head_lr": ("float", 0.0, None, True),
    "noise_lr": ("float", 0.0, None, True),
    "momentum": ("float", 0.0, 1.0, False),
    "cmf_momentum": ("float", 0.0, 1.0, False),
    "weight_decay": ("float", 0.0, None, False),
    "threshold": ("float", 0.0, 1.0, False),
    "c_ratio": ("float", 0.0, 1.0, False),
    "T": ("float", 0.0, None, True),
    "temperature": ("float", 0.0, None, True),
    "gamma": ("float", 0.0, None, False),
    "alpha": ("float", 0.0, None, False),
    "ascent_weight": ("float", 0.0, None, False),
    "clip": ("float", 0.0, None, False),  # 0: no clipping
    "max_grad_norm": ("float", 0.0, None, False),  # 0: no clipping
    "impair_lr": ("float", 0.0, None, True),
    "step_lr_epochs": ("int", 0, None, False),  # 0: constant learning rate
    "step_lr_gamma": ("float", 0.0, None, True),
    "nesterov": ("bool", None, None, False),
    "noise_objective": ("str", None, None, False),
    "bound": ("float", 0.0, None, True),
    "noise_reg": ("float", 0.0, None, False),
    "cu_weight": ("float", 0.0, None, False),
    "ec_weight": ("float", 0.0, None, False),
    "layer_weights": ("floats", 0.0, None, False),
    "zero_head": ("bool", None, None, False),
    "cmf_rule": ("str", None, None, False),
}
# String hyperparameters with a fixed set of values (illusion.methods.cmf.RULES for cmf_rule).
CHOICES: dict[str, tuple[str, ...]] = {"cmf_rule": ("full", "momentum")}
KIND_WORDS = {"int": "an integer", "float": "a number", "bool": "true or false",
              "str": "a string", "floats": "a list of numbers"}


def check_hparams(method: str, hp: dict[str, Any],
                  rules: dict[str, tuple] | None = None) -> None:
    """Raise ``ValueError`` (one line naming ``method``, the key and the rule) for the first
    value of ``hp`` whose type or range is wrong; ``rules`` (a method's own,
    ``Method.rules``) add to and override :data:`RULES`."""
    rules = {**RULES, **(rules or {})}
    for key, value in hp.items():
        problem = _problem(rules.get(key), value)
        if not problem and key in CHOICES and value not in CHOICES[key]:
            problem = f"must be one of {', '.join(CHOICES[key])}"
        if problem:
            raise ValueError(f"{method}: hyperparameter {key}={value!r} {problem}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _problem(rule: tuple | None, value: Any) -> str | None:
    if rule is None:  # no rule: anything JSON gives, but no NaN or infinity
        if isinstance(value, (bool, str)):
            return None
        return None if _is_number(value) and math.isfinite(value) else "must be a finite number"
    kind, low, high, open_low = rule
    if kind == "bool":
        return None if isinstance(value, bool) else "must be true or false"
    if kind == "str":
        return None if isinstance(value, str) else "must be a string"
    values = value if kind == "floats" and isinstance(value, list) else [value]
    if kind == "floats" and not isinstance(value, list):
        return f"must be {KIND_WORDS[kind]}"
    for v in values:
        if not _is_number(v) or (kind == "int" and not isinstance(v, int)):
            return f"must be {KIND_WORDS[kind]}"
        if not math.isfinite(v):
            return "must be finite"
        if low is not None and (v < low or (open_low and v == low)):
            return f"must be {'>' if open_low else '>='} {low:g}"
        if high is not None and v > high:
            return f"must be <= {high:g}"
    return None
