"""How the book shows a claim's criterion, and the registration of criteria.

:func:`criterion` is the one registration of a claim's criterion class: it adds the class to
:data:`CRITERIA` under its claim and makes a notebook display it as a table of its thresholds
(:func:`criterion_html`). The list of claims is what has registered, never a list kept by hand.
"""

from __future__ import annotations

import html
from dataclasses import fields
from typing import Callable, TypeVar

from ..catalog import method_label

__all__ = ["CRITERIA", "criterion", "criterion_html"]

T = TypeVar("T", bound=type)
CRITERIA: dict[str, list[type]] = {}  # claim ("C3") -> its criterion classes, as registered


def criterion_html(criterion) -> str:
    """A criterion as the book shows it: a two-column table of its thresholds and settings
    (method names as the book labels them)."""
    def show(value) -> str:
        if isinstance(value, (tuple, list)):
            return ", ".join(method_label(v) if isinstance(v, str) else str(v) for v in value)
        return method_label(value) if isinstance(value, str) else f"{value:g}" if isinstance(
            value, float) else str(value)

    rows = "".join(f"<tr><td><code>{f.name}</code></td>"
                   f"<td>{html.escape(show(getattr(criterion, f.name)))}</td></tr>"
                   for f in fields(criterion))
    return (f"<table><thead><tr><th>{type(criterion).__name__}</th><th>value</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def criterion(claim: str) -> Callable[[T], T]:
    """Class decorator registering a claim's criterion (a frozen dataclass) under ``claim``
    (``"C3"``): listed in :data:`CRITERIA`, shown in a notebook by :func:`criterion_html`."""
    def wrap(cls: T) -> T:
        if cls in CRITERIA.get(claim, []):
            raise ValueError(f"criterion {cls.__name__} is already registered")
        cls._repr_html_ = criterion_html
        CRITERIA.setdefault(claim, []).append(cls)
        return cls
    return wrap
