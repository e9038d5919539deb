"""Every number a page shows, recorded under a stable name for the build's results file.

While :mod:`tools/run_notebooks.py` executes the pages (``$ILLUSION_RESULTS`` set), each page
records what it tabulates and glues:

- :func:`record_table` (called by :func:`illusion.plotting.readable`, which every page table
  goes through): each finite number of the table as ``<page>/<table>/<row>/<column>``, with the
  row's index values (method labels as the sweep names them, cells...) joined by ``|``;
- :func:`glue` (the pages' ``glue``: :func:`myst_nb.glue` plus the record): a glued number,
  or a glued string that is one number, as ``<page>/glue/<name>``; ``unit=`` (``"points"``
  or ``"fraction"``) declares its unit where its size would mislead (a run spread of 0.3
  accuracy points), written to ``$ILLUSION_RESULTS/units/<page>.json``
  (:func:`illusion.contract.units` reads a table number's unit from its column).

``<page>`` is the page's key in :data:`illusion.book.PAGES` (``C2``), set by
:func:`illusion.book.page`; ``<table>`` is the name given to ``readable`` or, without one,
``t1``, ``t2``... in the order the page shows its tables. The numbers go to
``$ILLUSION_RESULTS/numbers/<page>.json`` (written atomically after every record), which
:mod:`illusion.contract` collects into the build's results file. Outside a run (no
``$ILLUSION_RESULTS``, e.g. nbval or a test) nothing is recorded.

A number whose name says it is a time or a size (:func:`is_timing`) is recorded but never
compared with a reference: it measures the machine, not the science.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from pathlib import Path
from typing import Any

import pandas as pd

from ..cache import atomic_write

__all__ = ["NUMBERS_DIR", "RUN_STATS", "UNITS", "UNITS_DIR", "glue", "is_timing", "number_of",
           "record_table", "record_value", "recorded", "run_stat", "set_page"]

NUMBERS_DIR = "numbers"  # under $ILLUSION_RESULTS
UNITS_DIR = "units"  # under $ILLUSION_RESULTS: a glued number's declared unit
UNITS = ("points", "fraction")
_RESULTS_ENV = "ILLUSION_RESULTS"
_TIMING = re.compile(r"(seconds|wall|_time\b|time_s|minutes|bytes|_kb\b|html_kb)", re.I)
# A run-spread table's columns (:meth:`illusion.book.PageReader.run_spread`): ``<quantity> <stat>``
# for each statistic over the runs of one row, with the words a reader sees
RUN_STATS = {"(run 0)": "run 0", "mean": "mean over runs", "sd": "sd over runs",
             "range": "range over runs"}
_RUN_STAT = re.compile(r"^(.+) (" + "|".join(map(re.escape, RUN_STATS)) + r")$")
_ONE_NUMBER = re.compile(r"^\s*([+\-−]?\d[\d,]*(?:\.\d+)?(?:e[+\-]?\d+)?)\s*%?\s*$", re.I)

_state = threading.local()


def is_timing(name: str) -> bool:
    """Whether a recorded number's name says it is a time or a size (never compared)."""
    return bool(_TIMING.search(name))


def run_stat(column: str) -> tuple[str, str | None]:
    """``(quantity, statistic)`` of a run-spread table's column (``"probe_test_forget sd"`` ->
    ``("probe_test_forget", "sd")``); ``(column, None)`` for any other column."""
    match = _RUN_STAT.match(column)
    return (match[1], match[2]) if match else (column, None)


def set_page(name: str | None) -> None:
    """Record what follows under page ``name`` (``None``: stop recording); resets the table
    counter. :func:`illusion.book.page` calls it."""
    _state.page = name
    _state.tables = 0
    _state.numbers = {}
    _state.units = {}


def _folder() -> Path | None:
    env = os.environ.get(_RESULTS_ENV, "").strip()
    page = getattr(_state, "page", None)
    if not env or not page:
        return None
    return Path(env) / NUMBERS_DIR


def number_of(value: Any) -> float | None:
    """A finite number from ``value``: an int or float (not a bool), or a string that is one
    number (``"10.0"``, ``"+2.4"``, ``"1,234"``, ``"87.5%"``); ``None`` otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)) or (hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0):
        try:
            x = float(value)
        except (TypeError, ValueError):
            return None
        return x if math.isfinite(x) else None
    if isinstance(value, str):
        m = _ONE_NUMBER.match(value)
        if m:
            x = float(m.group(1).replace(",", "").replace("−", "-"))
            return x if math.isfinite(x) else None
    return None


def _flush(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_state.numbers, indent=0, sort_keys=True, allow_nan=False)
    atomic_write(folder / f"{_state.page}.json", lambda fh: fh.write(text.encode()))
    units = getattr(_state, "units", None)
    if units:
        where = folder.parent / UNITS_DIR
        where.mkdir(parents=True, exist_ok=True)
        text = json.dumps(units, indent=0, sort_keys=True)
        atomic_write(where / f"{_state.page}.json", lambda fh: fh.write(text.encode()))


def _clean(part: Any) -> str:
    return str(part).replace("/", "∕").strip()


def _check_unit(unit: str | None) -> None:
    if unit is not None and unit not in UNITS:
        raise ValueError(f"unit {unit!r}: one of {', '.join(UNITS)}")


def record_value(name: str, value: Any, unit: str | None = None) -> None:
    """Record ``value`` as ``<page>/glue/<name>`` when it is one number (:func:`number_of`),
    with its declared ``unit`` (one of :data:`UNITS`) when given."""
    _check_unit(unit)
    folder = _folder()
    x = number_of(value)
    if folder is None or x is None:
        return
    key = f"{_state.page}/glue/{_clean(name)}"
    _state.numbers[key] = x
    if unit is not None:
        _state.units[key] = unit
    _flush(folder)


def record_table(table: pd.DataFrame, name: str | None = None) -> None:
    """Record every finite number of ``table`` as ``<page>/<name>/<row>/<column>`` (``name``
    default: ``t<n>``, the page's n-th table)."""
    folder = _folder()
    if folder is None:
        return
    _state.tables += 1
    name = _clean(name or f"t{_state.tables}")
    for index, row in table.iterrows():
        parts = index if isinstance(index, tuple) else (index,)
        row_name = "|".join(_clean(p) for p in parts)
        for column, value in row.items():
            x = number_of(value)
            if x is None:
                continue
            col = "|".join(_clean(c) for c in column) if isinstance(column, tuple) else _clean(column)
            _state.numbers[f"{_state.page}/{name}/{row_name}/{col}"] = x
    _flush(folder)


def recorded() -> dict[str, float]:
    """What this page recorded so far (a copy)."""
    return dict(getattr(_state, "numbers", {}) or {})


def glue(name: str, value: Any, display: bool = True, unit: str | None = None) -> None:
    """:func:`myst_nb.glue`, and the value recorded when it is one number
    (:func:`record_value`, with its declared ``unit``)."""
    from myst_nb import glue as _glue

    _check_unit(unit)  # before the glue: a bad unit shows nothing
    _glue(name, value, display=display)
    record_value(name, value, unit)
