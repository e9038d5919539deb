"""Per-(profile, method) hyperparameters from the versioned ``hparams.toml``."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources

__all__ = ["hparams_for", "with_defaults"]


@lru_cache(maxsize=1)
def _table() -> dict:
    return tomllib.loads(resources.files(__package__).joinpath("hparams.toml").read_text())


def hparams_for(method: str, profile: str, n_forget: int = 1, dataset: str | None = None) -> dict:
    """Hyperparameters of ``method`` under ``profile`` ({} when the file gives none), for a
    forget set of ``n_forget`` classes of ``dataset`` (None: the profile's own).

    ``last_layer:<m>`` looks up its own entry first, then ``<m>``'s. A variant
    ``<m>+<suffix>`` has its own entry (TOML key ``"<m>+<suffix>"``); it does not inherit.
    Override tables update the entry key by key ([A]'s scripts set some learning rates per
    dataset and per single- / multi-class forgetting): ``[<profile>.<dataset>]`` when the
    profile has one for ``dataset``, then ``[<profile>.<dataset>.multi]`` when ``n_forget > 1``;
    for any other dataset, ``[<profile>.multi]`` when ``n_forget > 1``.
    A dry run's profile ``<p>:dry`` takes ``<p>``'s values with step counts capped
    (:func:`illusion.dryrun.dry_hparams`).
    """
    if profile.endswith(":dry"):  # every hyperparameter (defaults too) of the real dataset's
        from ..dryrun import dry_hparams

        if dataset is not None and dataset.startswith("synthetic:"):
            dataset = dataset.split(":", 1)[1]
        return dry_hparams(with_defaults(method, hparams_for(method, profile[:-4], n_forget,
                                                             dataset)))
    table = _table().get(profile, {})
    if method not in table and method.startswith("last_layer:"):
        method = method.split(":", 1)[1]
    if method not in table:
        return {}
    hp = dict(table[method])
    for override in _overrides(table, n_forget, dataset):
        hp.update(override.get(method, {}))
    return hp


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
    from .base import create_method

    try:
        return dict(create_method(method, **hp).hp)
    except (KeyError, TypeError, ValueError):
        return hp
