"""Per-(profile, method) hyperparameters from the versioned ``hparams.toml``."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources

__all__ = ["hparams_for"]


@lru_cache(maxsize=1)
def _table() -> dict:
    return tomllib.loads(resources.files(__package__).joinpath("hparams.toml").read_text())


def hparams_for(method: str, profile: str) -> dict:
    """Hyperparameters of ``method`` under ``profile`` ({} when the file gives none).

    ``last_layer:<m>`` looks up its own entry first, then ``<m>``'s. A variant
    ``<m>+<suffix>`` has its own entry (TOML key ``"<m>+<suffix>"``); it does not inherit.
    """
    table = _table().get(profile, {})
    if method in table:
        return dict(table[method])
    if method.startswith("last_layer:"):
        return dict(table.get(method.split(":", 1)[1], {}))
    return {}
