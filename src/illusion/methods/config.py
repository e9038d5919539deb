"""Per-(profile, method) hyperparameters from the versioned ``hparams.toml``, and the method
they configure (:func:`resolve_method`)."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from typing import Any
from importlib import resources

from .base import Method, create_method, dry_caps, parse_method_name

__all__ = ["dry_hparams", "hparams_for", "resolve_method", "with_defaults"]


@lru_cache(maxsize=1)
def _table() -> dict:
    return tomllib.loads(resources.files(__package__).joinpath("hparams.toml").read_text())


def resolve_method(name: str, profile: str, overrides: dict | None = None, n_forget: int = 1,
                   dataset: str | None = None) -> Method:
    """The method ``name`` with ``profile``'s hyperparameters for a forget set of ``n_forget``
    classes of ``dataset`` (:func:`hparams_for`), updated by ``overrides``."""
    return create_method(name, **{**hparams_for(name, profile, n_forget, dataset),
                                  **(overrides or {})})


def hparams_for(method: str, profile: str, n_forget: int = 1, dataset: str | None = None) -> dict:
    """Hyperparameters of ``method`` under ``profile`` ({} when the file gives none), for a
    forget set of ``n_forget`` classes of ``dataset`` (None: the profile's own).

    A method's entry is its TOML key (``"<m>+cmf"``, ``"last_layer:<m>"`` quoted). Override
    tables update the entry key by key ([A]'s scripts set some learning rates per dataset and
    per single- / multi-class forgetting): ``[<profile>.<dataset>]`` when the profile has one
    for ``dataset``, then ``[<profile>.<dataset>.multi]`` when ``n_forget > 1``; for any other
    dataset, ``[<profile>.multi]`` when ``n_forget > 1``. A variant (``last_layer:<m>``,
    ``<m>+cmf``, ``<m>+ec``) takes its base's hyperparameters, so resolved, except those whose
    default the variant sets itself (:meth:`~.base.Wrapper.decides`), updated by its own entry.
    A dry run's profile ``<p>:dry`` takes ``<p>``'s values with step counts capped
    (:func:`dry_hparams`).
    """
    if profile.endswith(":dry"):  # every hyperparameter (defaults too) of the real dataset's
        if dataset is not None and dataset.startswith("synthetic:"):
            dataset = dataset.split(":", 1)[1]
        return dry_hparams(with_defaults(method, hparams_for(method, profile[:-4], n_forget,
                                                             dataset)))
    table = _table().get(profile, {})
    hp = dict(table.get(method, {}))
    for override in _overrides(table, n_forget, dataset):
        hp.update(override.get(method, {}))
    variant, base = parse_method_name(method)
    if variant is None:
        return hp
    decided = variant.wrapper.decides(base)
    inherited = hparams_for(base, profile, n_forget, dataset)
    return {**{k: v for k, v in inherited.items() if k not in decided}, **hp}


def _overrides(table: dict, n_forget: int, dataset: str | None) -> list[dict]:
    """The override tables that apply, in order (later ones win)."""
    own = table.get(dataset) if dataset else None
    if isinstance(own, dict) and not isinstance(own.get("lr"), (int, float)):  # a table of tables
        return [own] + ([own.get("multi", {})] if n_forget > 1 else [])
    return [table.get("multi", {})] if n_forget > 1 else []


def with_defaults(method: str, hp: dict) -> dict:
    """``hp`` completed with ``method``'s defaults (``create_method(method, **hp).hp``); ``hp``
    itself when it makes no method (an unknown name or a bad value: creating the method later
    says why, as for any profile)."""
    try:
        return dict(create_method(method, **hp).hp)
    except (KeyError, TypeError, ValueError):
        return hp


def dry_hparams(hp: dict[str, Any]) -> dict[str, Any]:
    """``hp`` with every step count (and UNSIR's noise size) capped for a dry run, by the caps
    the methods declare (:func:`.base.dry_caps`)."""
    caps = dry_caps()
    return {k: min(v, caps[k]) if k in caps and isinstance(v, int)
            and not isinstance(v, bool) else v for k, v in hp.items()}
