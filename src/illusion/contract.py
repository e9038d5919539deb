"""The reproducibility contract: a build's results, a reference with measured bands, the report.

**A build's results** (:func:`assemble`, written by ``tools/run_notebooks.py`` to
``_build/results/<profile>.json`` once the claim pages have run): every verdict the pages
published (status, *k* of *n*, status on the means and per cell, the means' interval), every
number they tabulated or glued (:mod:`illusion.book.numbers`), the measured spreads a
reference's bands come from (:func:`spreads`), and provenance: commit, profile, torch version,
precision, CPU, date, and the key and checksum of every artifact the pages read.

**A reference** (:func:`make_reference`; ``illusion results --write-reference``, from a clean
cold build, committed as ``reference/<profile>.json``): the build's verdicts, and each
compared number with a **band**: :data:`BAND_K` times a spread measured in that build, the
first that exists of

1. ``run``: the standard deviation, over the runs of the cell shown in detail (run 0 and
   :data:`illusion.book.RUN_SEEDS`), of the number's own row quantity (its method and column;
   in a pivot named after its quantity, the name completed by the column and row,
   :func:`quantity_of`: C7's ``stage_cka`` table, ``forget|ec``, ``stage1``);
2. ``run, quantity``: the median of that standard deviation over every method whose runs
   were measured, for the number's column (a method without runs, same quantity);
3. ``cells``: the standard deviation of the number's method and column over the grid's cells
   (a method and column measured once per cell, not in runs);
4. ``fallback``: for a number that is no row quantity (a gap, a glued count, an interval's
   end), or whose sources above measured no spread: ``max(r * |value|, a)``, with ``r`` the
   median relative run-to-run spread (sd / |mean|, over the run-measured quantities whose
   mean is at least 1) and ``a`` the median of the spreads sources 1-3 gave the numbers of the
   same page in the same unit, else of those of every page in that unit, all of the same
   build (an interval's ends belong to their claim's page): a gap between two accuracies of a
   page moves about as much as those accuracies do. The unit is the number's column's
   (:func:`units`), not its size: accuracy points wherever the book shows the column in
   percent (a gap near 0 included; so do a table named after a percent quantity, such as C7's
   probe accuracy per stage, and an interval labelled in points) or the column holds a number
   above 2 (steps, counts), else fractions (CKA, NC metrics, duality distances); a glued
   number is its own column, unless
   its page declares its unit (``glue(..., unit="points")``, a run spread of 0.3 points).

Sources 1 and 2 also read the run-to-run spreads a page measures itself: a number named
``<page>/<table>/<row>/<quantity> sd`` (a page's run-spread table, such as C7's forget-class
CKA per method and stage over the runs) is the spread of ``<quantity>`` of that row (and,
the largest of its rows, of its first label) on that page.

A spread of 0 (three runs that agree to the last digit) says nothing of how far a rebuild may
land: the next source is used.

A column ``q (run 0)``, ``q mean``, ``q sd`` or ``q range`` reads the spread of ``q``.
Optionally (``--spread-from``), builds of the same commit made another way widen each band
to at least :data:`BAND_K` times the spread between the builds, pooled over the number's page,
table and quantity (:func:`build_spread`; source ``builds``). The committed references do not
use it: on ``smoke``, a build on other instruction sets leaves nearly half of 1,867 numbers outside
their bands and changes five statuses, so bands covering it would test nothing; the
smoke build instead computes on the AVX2 code paths every x86-64 CI machine has (the
Makefile's ``ISA_smoke``), and its bands come from its runs (``reference/README.md``). The
reference says which source each band came from. Times and sizes are never compared
(:func:`illusion.book.numbers.is_timing`); statuses are compared exactly.

**The report** (:func:`compare`, :func:`report_text`): how many numbers fall within their
band, which do not and by how many bands, which are missing, and whether every verdict matches.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .cache import ArtifactCache, NotBuilt, atomic_write

__all__ = ["BAND_K", "BUILD_RESULTS_ENV", "Comparison", "ContractError", "SCHEMA", "assemble",
           "build_results_path", "compare", "cpu_info", "load_results", "make_reference",
           "provenance", "reference_path", "report_text", "spreads", "units", "write_json"]

SCHEMA = 1
BUILD_RESULTS_ENV = "ILLUSION_BUILD_RESULTS"  # set by tools/run_notebooks.py for the collectors
BAND_K = 3.0  # a band is BAND_K standard deviations: a rerun's difference of two draws is
# sqrt(2) sd wide, so 3 sd covers about 97% of one Gaussian number's reruns
FALLBACK = "fallback"
BUILDS = "builds"
SOURCES = ("run", "run, quantity", "cells", FALLBACK, BUILDS)
ROOT = Path(__file__).resolve().parents[2]
VERDICT_FIELDS = ("status", "k", "n", "on_means", "statuses")


class ContractError(ValueError):
    """A results or reference file that cannot be compared (one line, exit 2 at the CLI)."""


def build_results_path(profile: str, root: Path | None = None) -> Path:
    """Where a build of ``profile`` writes its results: ``<root>/_build/results/<profile>.json``
    (``root``: the book's source folder, default the repository)."""
    return Path(root or ROOT) / "_build" / "results" / f"{profile}.json"


def reference_path(profile: str, root: Path | None = None) -> Path:
    """The committed reference of ``profile``: ``<root>/reference/<profile>.json``."""
    return Path(root or ROOT) / "reference" / f"{profile}.json"


# the variables that hold oneDNN, MKL and ATen to an older instruction set (as another CPU)
ISA_CAPS = ("ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR", "ATEN_CPU_CAPABILITY")


def cpu_info() -> dict:
    """The CPU: its model name, the instruction sets that change our arithmetic (AMX,
    AVX-512 BF16, AVX-512, AVX2) from ``/proc/cpuinfo`` where there is one, and ``caps``: the
    :data:`ISA_CAPS` variables set for this build."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        text = Path("/proc/cpuinfo").read_text()
        m = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
        name = m.group(1).strip() if m else name
        m = re.search(r"^flags\s*:\s*(.+)$", text, re.M)
        flags = set(m.group(1).split()) if m else set()
    except OSError:
        pass
    isa = [f for f in ("amx_bf16", "avx512_bf16", "avx512f", "avx2") if f in flags]
    caps = {v: os.environ[v] for v in ISA_CAPS if os.environ.get(v, "").strip()}
    return {"model": name, "isa": isa, "cores": os.cpu_count(), "caps": caps}


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def provenance(profile: str) -> dict:
    """Commit (``+dirty`` when tracked files differ from it), profile, torch version,
    precision of training (``bfloat16`` or ``float32``), CPU, Python and the date (UTC)."""
    import torch

    from . import __version__
    from .profiles import get_profile

    commit = _git("rev-parse", "HEAD") or "unknown"
    if commit != "unknown" and _git("status", "--porcelain", "--untracked-files=no"):
        commit += "+dirty"
    return {"commit": commit, "profile": profile, "illusion": __version__,
            "torch": torch.__version__,
            "precision": "bfloat16" if get_profile(profile).train.bf16 else "float32",
            "cpu": cpu_info(), "python": platform.python_version(),
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


def spreads(profile: str, cache: ArtifactCache | None = None,
            cells: list | None = None) -> dict:
    """The measured spreads of the book's rows in ``cache`` (over ``cells``, default the
    profile's grid): ``run`` (label -> column -> sd
    over the first cell's runs of that label), ``cells`` (label -> column -> sd over the
    cells its run 0 ran in), numeric row columns only, and ``relative``: the median of
    sd / |mean| over the run-measured quantities whose mean is at least 1."""
    import pandas as pd

    from .book.table import book_grid, runs_of
    from .rows import read_row

    grid = book_grid(profile, cells=cells)
    rows = []
    for cell in grid.rows:
        try:
            row = read_row(cell, grid.extras, cache)
        except NotBuilt:  # a run of some pages: the spreads of the rows it built
            continue
        rows.append({"label": cell.label, "seed": cell.seed, "forget": tuple(cell.forget),
                     **{k: v for k, v in row.items() if _numeric(v)}})
    if not rows:  # nothing built (a run over an empty cache): no spread measured
        return {"run": {}, "cells": {}, "relative": 0.0}
    table = pd.DataFrame(rows)
    from .book.numbers import is_timing

    columns = [c for c in table.columns
               if c not in ("label", "seed", "forget") and not is_timing(c)]
    first = (grid.rows[0].seed, tuple(grid.rows[0].forget))
    in_first = table[(table["seed"] == first[0]) & (table["forget"] == first[1])]
    out: dict = {"run": {}, "cells": {}}
    relative: list[float] = []
    for label in sorted(set(in_first["label"])):
        runs = runs_of(label)
        part = in_first[in_first["label"].isin(runs)]
        if "~run" in label or len(runs) < 2 or len(part) < 2:
            continue
        out["run"][label] = _sds(part, columns)
        for c, sd in out["run"][label].items():
            mean = abs(float(part[c].astype(float).mean()))
            if mean >= 1.0:
                relative.append(sd / mean)
    for label, part in table.groupby("label"):
        if "~run" in label or len(part) < 2:
            continue
        out["cells"][label] = _sds(part, columns)
    out["relative"] = _median(relative)
    return out


def _numeric(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


def _sds(part, columns) -> dict:
    sds = {}
    for c in columns:
        values = part[c].dropna().astype(float)
        if len(values) >= 2:
            sds[c] = float(values.std(ddof=1))
    return sds


def _read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def assemble(results: Path, profile: str, cache: ArtifactCache | None = None,
             reads: Iterable[str] | None = None, cells: list | None = None) -> dict:
    """The results of the build whose pages published to ``results`` (verdict files,
    ``numbers/*.json``, ``reads.txt``: :mod:`tools/run_notebooks.py` sets these up), over
    ``cells`` (default: the profile's grid; a run of the pages on fewer cells gives them, and
    its results compare only with a reference of the same cells)."""
    from .book.results import collect
    from .book.table import grid_cells

    results = Path(results)
    cache = cache or ArtifactCache()
    verdicts = {}
    for _, row in collect(results, profile=profile).iterrows():
        verdicts[row["name"]] = {
            "claim": row["claim"], "headline": bool(row["headline"]), "label": row["label"],
            "status": row["status"],
            "k": int(row["k"]), "n": int(row["n"]), "on_means": row["on_means"],
            "statuses": dict(row["statuses"]),
            "interval": None if not isinstance(row["interval_label"], str) else {
                "label": row["interval_label"], "estimate": _finite(row["estimate"]),
                "low": _finite(row["low"]), "high": _finite(row["high"])}}
    numbers: dict[str, float] = {}
    for path in sorted((results / "numbers").glob("*.json")):
        numbers.update(_read_json(path))
    declared: dict[str, str] = {}  # the units pages declared for glued numbers
    for path in sorted((results / "units").glob("*.json")):
        declared.update(_read_json(path))
    for name, v in verdicts.items():
        for end in ("estimate", "low", "high"):
            x = (v["interval"] or {}).get(end)
            if x is not None:
                numbers[f"verdict/{name}/{end}"] = x
    if reads is None:
        path = results / "reads.txt"
        reads = path.read_text().split() if path.exists() else []
    artifacts = {}
    for entry in sorted(set(reads)):
        kind, key = entry.split("/", 1)
        sidecar = cache.root / kind / f"{key}.sha256"
        artifacts[entry] = sidecar.read_text().strip() if sidecar.exists() else None
    return {"schema": SCHEMA, "kind": "build", "profile": profile,
            "provenance": {**provenance(profile), "cache": _cache_history(cache),
                           "artifacts": artifacts},
            "verdicts": verdicts, "numbers": dict(sorted(numbers.items())),
            **({"units": dict(sorted(declared.items()))} if declared else {}),
            "cells": [[s, list(f)] for s, f in (cells or grid_cells(profile))],
            "spreads": spreads(profile, cache, cells)}


def _cache_history(cache: ArtifactCache) -> dict:
    """How the cache was built (its build log): how many artifacts, over how long. A clean
    cold build is one span; an incremental cache shows builds spread over days."""
    from .cache import build_log

    log = build_log(cache.root)
    if not log:
        return {"builds": 0}
    times = [e.get("time", 0.0) for e in log]
    stamp = lambda t: _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime(  # noqa: E731
        "%Y-%m-%dT%H:%M:%SZ")
    return {"builds": len(log), "first_build": stamp(min(times)), "last_build": stamp(max(times)),
            "hosts": sorted({e.get("host", "") for e in log} - {""})}


def _finite(x) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def write_json(path: Path, data: dict) -> Path:
    """``data`` as indented JSON at ``path``, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=1, sort_keys=False, ensure_ascii=False, allow_nan=False)
    atomic_write(path, lambda fh: fh.write((text + "\n").encode()))
    return path


def load_results(path: Path, kind: str | None = None, profile: str | None = None) -> dict:
    """A build's results or a reference from ``path``; :class:`ContractError` (one line) when
    it is missing, not one, of another ``kind`` or of another ``profile``."""
    path = Path(path)
    try:
        data = _read_json(path)
    except FileNotFoundError:
        raise ContractError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ContractError(f"{path}: not a results file ({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or \
            data.get("kind") not in ("build", "reference"):
        raise ContractError(f"{path}: not a results file of schema {SCHEMA}")
    if kind is not None and data["kind"] != kind:
        raise ContractError(f"{path}: a {data['kind']}, not a {kind}")
    if profile is not None and data.get("profile") != profile:
        raise ContractError(f"{path}: results of profile {data.get('profile')!r}, not "
                            f"{profile!r}")
    return data


# ---- bands ------------------------------------------------------------------------------------

def _parts(name: str) -> tuple[str, str, list[str], str] | None:
    """``(page, table, row parts, column)`` of a table number's name, else ``None``."""
    bits = name.split("/")
    if len(bits) != 4 or bits[1] == "glue":
        return None
    return bits[0], bits[1], bits[2].split("|"), bits[3]


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    if not xs:
        return 0.0
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else 0.5 * (xs[mid - 1] + xs[mid])


def page_run_sds(numbers: Mapping[str, float]) -> dict[tuple, float]:
    """The run-to-run spreads a page measured itself: every number named
    ``<page>/<table>/<row>/<quantity> sd`` (a page's run-spread table, e.g. C7's forget-class
    CKA per method and stage over the runs), as ``(page, row, quantity) -> sd`` for the whole
    row (``ec|stage1``) and for its label (``ec``: the largest of its rows, and of the tables
    that give one), positive ones only."""
    from .book.numbers import run_stat

    out: dict[tuple, float] = {}
    for name, value in numbers.items():
        parts = _parts(name)
        if parts is None or run_stat(parts[3])[1] != "sd" or not value > 0:
            continue
        for row in dict.fromkeys(("|".join(parts[2]), parts[2][0])):
            key = (parts[0], row, run_stat(parts[3])[0])
            out[key] = max(out.get(key, 0.0), float(value))
    return out


POINTS_ABOVE = 2.0  # a column none of whose numbers the book shows in percent is in points
# when one exceeds this in size (steps, counts); fractions and ratios (CKA, NC metrics, duality
# distances, learning rates) stay below it


def column_of(name: str) -> str:
    """The column a number belongs to, for its unit: a table's page, table and quantity
    (:func:`group_of`), a verdict's interval (``verdict/c2``: its three ends), or a glued
    number alone."""
    bits = name.split("/")
    if bits[0] == "verdict" and len(bits) == 3:
        return "/".join(bits[:2])
    return group_of(name)


def units(numbers: Mapping[str, float], verdicts: Mapping[str, Mapping] | None = None,
          declared_units: Mapping[str, str] | None = None) -> dict[str, str]:
    """The unit of each number, which a fallback pools spreads over: ``"points"`` (accuracy
    points, and larger numbers such as steps and counts) or ``"fraction"`` (CKA, NC metrics,
    duality distances). It is the column's (:func:`column_of`), not the number's size: a
    column the book shows in percent (:func:`illusion.plotting.is_percent`; a table named
    after a percent quantity, such as a pivot of one accuracy over the stages; an interval
    labelled in points) is in points even where its values are near 0 (a gap between two
    accuracies, a forget accuracy after unlearning); any other column is in points when one
    of its numbers exceeds :data:`POINTS_ABOVE` in size, else in fractions. ``declared_units``:
    the units a page declared for glued numbers (``glue(..., unit=...)``; the build's
    ``units``), which come first."""
    from .plotting import is_percent

    verdicts = verdicts or {}
    columns: dict[str, list[str]] = {}
    for name in numbers:
        columns.setdefault(column_of(name), []).append(name)
    out: dict[str, str] = {}
    for column, names in columns.items():
        bits = column.split("/")
        if bits[0] == "verdict":
            label = ((verdicts.get(bits[1]) or {}).get("interval") or {}).get("label") or ""
            declared = "(points)" in label
        else:
            # a table of one quantity (a pivot, its columns the stages) is named after it
            declared = len(bits) == 4 and (is_percent(bits[3]) or is_percent(bits[1]))
        big = max(abs(numbers[n]) for n in names) > POINTS_ABOVE
        for name in names:
            out[name] = "points" if declared or big else "fraction"
    out.update({n: u for n, u in (declared_units or {}).items() if n in out})
    return out


def measured_spread(name: str, spread: Mapping, page_sds: Mapping[tuple, float] | None = None
                    ) -> tuple[float, str] | None:
    """``(sd, source)`` of the first of sources 1-3 that measured a positive spread for the
    number ``name``, else ``None`` (the fallback's case). A spread of 0 (three runs that agree
    to the last digit, a column constant over the cells) says nothing of how far a rebuild
    may land, so the next source is used; so do the medians, over positive spreads.
    ``page_sds``: the spreads the pages measured (:func:`page_run_sds`)."""
    from .book.numbers import run_stat

    parts = _parts(name)
    if parts is None:
        return None
    run, cells = spread.get("run", {}), spread.get("cells", {})
    page_sds = page_sds or {}
    page, table, row, column = parts
    column = run_stat(column)[0]  # "probe_test_forget sd" reads the quantity's spread
    column = quantity_of(table, row, column, spread)
    labels = [p for p in row if p in run or p in cells or (page, p, column) in page_sds]
    label = labels[0] if labels else None
    by_quantity = [sds[column] for sds in run.values() if sds.get(column, 0.0) > 0]
    on_page = [v for (pg, r, q), v in page_sds.items() if pg == page and q == column
               and "|" not in r]
    for s, source in ((run.get(label, {}).get(column), "run"),
                      (page_sds.get((page, "|".join(row), column)), "run"),
                      (page_sds.get((page, label, column)), "run"),
                      (_median(by_quantity) if by_quantity else None, "run, quantity"),
                      (_median(on_page) if on_page else None, "run, quantity"),
                      (cells.get(label, {}).get(column), "cells")):
        if s is not None and s > 0:
            return s, source
    return None


def quantity_of(table: str, row: Sequence[str], column: str, spread: Mapping) -> str:
    """The row quantity a table number is of: its ``column``, unless the table is named after
    a quantity its columns complete (a pivot over the stages): then the first of
    ``<table>_<column>`` and ``<table>_<row part>_<column>`` that ``spread`` measured (C7's
    ``stage_cka`` pivot, row ``forget|ec``, column ``stage1``: ``stage_cka_forget_stage1``).
    A column ``spread`` measured itself stays as it is."""
    measured = {q for part in ("run", "cells") for sds in spread.get(part, {}).values()
                for q in sds}
    if column in measured:
        return column
    for quantity in (f"{table}_{column}", *(f"{table}_{p}_{column}" for p in row)):
        if quantity in measured:
            return quantity
    return column


def band_of(name: str, value: float, spread: Mapping, floor: float = 0.0,
            page_sds: Mapping[tuple, float] | None = None,
            fallback_sd: float | None = None) -> tuple[float, str]:
    """``(band, source)`` of one number (the module's rule): :data:`BAND_K` times its
    :func:`measured_spread`, else the fallback ``max(r * |value|, fallback_sd)``
    (``fallback_sd`` default: the median positive run sd of the rows)."""
    found = measured_spread(name, spread, page_sds)
    if found is None:
        if fallback_sd is None:
            fallback_sd = _median(_positive_run_sds(spread))
        found = _fallback(value, spread, fallback_sd), FALLBACK
    return max(BAND_K * found[0], floor), found[1]


def _positive_run_sds(spread: Mapping) -> list[float]:
    """Every positive run-to-run sd of the build's rows (the fallback's last pool)."""
    return [x for sds in spread.get("run", {}).values() for x in sds.values() if x > 0]


def _fallback(value: float, spread: Mapping, fallback_sd: float) -> float:
    """The fallback's spread: ``max(r * |value|, fallback_sd)``, ``r`` the build's median
    relative run-to-run spread."""
    return max(float(spread.get("relative", 0.0)) * abs(value), fallback_sd)


def group_of(name: str) -> str:
    """The group a number's spread between builds is pooled over: its page, table and
    quantity (``C2/t1/*/probe_test_forget``); a glued number is its own group."""
    parts = _parts(name)
    if parts is None:
        return name
    page, table, _, column = parts
    from .book.numbers import run_stat

    return f"{page}/{table}/*/{run_stat(column)[0]}"


def build_spread(build: dict, others: Iterable[dict]) -> dict[str, float]:
    """Per group (:func:`group_of`), the spread of a number between ``build`` and builds of the
    same commit made another way (``others``: e.g. oneDNN, MKL and ATen held to another
    instruction set): ``sqrt(mean(d**2) / 2)`` over the group's numbers and the other builds,
    ``d`` the difference of a number between the two builds (two independent draws of a
    number of spread ``s`` differ by ``sqrt(2) s`` on average)."""
    sums: dict[str, list[float]] = {}
    for other in others:
        if other.get("profile") != build["profile"]:
            raise ContractError(f"a build of profile {other.get('profile')!r} cannot set the "
                                f"bands of profile {build['profile']!r}")
        for name, value in build["numbers"].items():
            if name in other["numbers"]:
                sums.setdefault(group_of(name), []).append((other["numbers"][name] - value) ** 2)
    return {g: math.sqrt(sum(d) / len(d) / 2.0) for g, d in sums.items()}


def make_reference(build: dict, floor: float = 0.0, others: Iterable[dict] = ()) -> dict:
    """The reference of a build (its verdicts, and its compared numbers with their bands);
    with ``others`` (builds of the same commit made another way), each band is at least
    :data:`BAND_K` times the spread between the builds (:func:`build_spread`; source
    ``builds``) where that is the larger."""
    if build.get("kind") != "build":
        raise ContractError("a reference is written from a build's results")
    from .book.numbers import is_timing

    others = list(others)
    between = build_spread(build, others)
    spread = build.get("spreads", {})
    page_sds = page_run_sds(build["numbers"])
    compared = {n: v for n, v in build["numbers"].items() if not is_timing(n)}
    # first the numbers with a measured spread of their own ...
    found = {n: measured_spread(n, spread, page_sds) for n in compared}

    def page_of(name: str) -> str:  # an interval's ends belong to their claim's page
        bits = name.split("/")
        if bits[0] == "verdict" and bits[1] in build["verdicts"]:
            return build["verdicts"][bits[1]]["claim"]
        return bits[0]

    unit = units(compared, build["verdicts"], build.get("units"))
    measured: dict[tuple, list[float]] = {}
    for n, hit in found.items():
        if hit is not None:
            for key in ((page_of(n), unit[n]), ("*", unit[n])):
                measured.setdefault(key, []).append(hit[0])
    everywhere = _positive_run_sds(spread)
    numbers = {}
    for name, value in compared.items():
        # ... then the others: the page's own spreads in that unit
        sd, source = found[name] or (None, FALLBACK)
        if sd is None:
            pooled = (measured.get((page_of(name), unit[name]))
                      or measured.get(("*", unit[name])) or everywhere)
            sd = _fallback(value, spread, _median(pooled))
        band = max(BAND_K * sd, floor)
        wider = BAND_K * between.get(group_of(name), 0.0)
        if wider > band:
            band, source = wider, BUILDS
        numbers[name] = {"value": value, "band": band, "source": source}
    return {"schema": SCHEMA, "kind": "reference", "profile": build["profile"],
            "cells": build.get("cells"), "provenance": build["provenance"],
            "rule": {"k": BAND_K, "floor": floor, "sources": list(SOURCES),
                     "other_builds": [_describe(o) for o in others],
                     "text": __doc__.split("**A reference**", 1)[1].split("**The report**")[0]
                     .strip()},
            "verdicts": build["verdicts"], "numbers": numbers}


def _describe(build: dict) -> dict:
    p = build.get("provenance", {})
    return {"commit": p.get("commit"), "precision": p.get("precision"),
            "cpu": p.get("cpu"), "date": p.get("date")}


# ---- comparison -------------------------------------------------------------------------------

@dataclass
class Comparison:
    """A build against a reference: numbers ``within`` their band, ``outside`` it
    (name, value, reference, band, distance in bands), ``missing`` from the build, ``new`` in
    it (not in the reference), and each verdict that does not match (name, field, reference,
    build)."""

    profile: str
    within: int = 0
    outside: list[tuple[str, float, float, float, float]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    verdicts: int = 0
    mismatches: list[tuple[str, str, Any, Any]] = field(default_factory=list)
    build: dict = field(default_factory=dict, repr=False)
    reference: dict = field(default_factory=dict, repr=False)

    @property
    def compared(self) -> int:
        return self.within + len(self.outside)

    @property
    def ok(self) -> bool:
        """Every number within its band, none missing, every verdict the same."""
        return not (self.outside or self.missing or self.mismatches)


def compare(build: dict, reference: dict) -> Comparison:
    """``build`` (a build's results) against ``reference``; :class:`ContractError` when they
    are of different profiles or kinds."""
    if build.get("kind") != "build" or reference.get("kind") != "reference":
        raise ContractError("compare: needs a build's results and a reference")
    if build["profile"] != reference["profile"]:
        raise ContractError(f"compare: a build of profile {build['profile']!r} against a "
                            f"reference of {reference['profile']!r}")
    if build.get("cells") and reference.get("cells") and build["cells"] != reference["cells"]:
        raise ContractError(f"compare: a build over the cells {build.get('cells')} against a "
                            f"reference over {reference.get('cells')}")
    out = Comparison(build["profile"], build=build, reference=reference)
    got = build["numbers"]
    for name, ref in reference["numbers"].items():
        if name not in got:
            out.missing.append(name)
            continue
        diff = abs(got[name] - ref["value"])
        if diff <= ref["band"] + 1e-9 * max(1.0, abs(ref["value"])):
            out.within += 1
        else:
            bands = diff / ref["band"] if ref["band"] > 0 else math.inf
            out.outside.append((name, got[name], ref["value"], ref["band"], bands))
    from .book.numbers import is_timing

    out.new = sorted(n for n in got if n not in reference["numbers"] and not is_timing(n))
    out.outside.sort(key=lambda t: -t[4])
    for name, ref in reference["verdicts"].items():
        mine = build["verdicts"].get(name)
        out.verdicts += 1
        if mine is None:
            out.mismatches.append((name, "published", True, False))
            continue
        for f in VERDICT_FIELDS:
            if mine.get(f) != ref.get(f):
                out.mismatches.append((name, f, ref.get(f), mine.get(f)))
    for name in build["verdicts"]:
        if name not in reference["verdicts"]:
            out.mismatches.append((name, "published", False, True))
    return out


def _bands(x: float) -> str:
    return "∞" if math.isinf(x) else f"{x:.1f}"


def report_text(c: Comparison, limit: int = 5) -> str:
    """One paragraph: numbers within their bands, the worst outside (up to ``limit``), the
    missing ones, and whether every verdict matches the reference."""
    ref = c.reference.get("provenance", {})
    head = (f"Reproduction ({c.profile}) against the reference of commit "
            f"{str(ref.get('commit', '?'))[:12]} ({ref.get('precision', '?')}, "
            f"{ref.get('cpu', {}).get('model', '?')}): ")
    text = f"{c.within} of {c.compared} numbers within their band"
    if c.outside:
        worst = "; ".join(f"{n} = {v:.4g} vs {r:.4g} ({_bands(b)} bands)"
                          for n, v, r, _, b in c.outside[:limit])
        more = f" and {len(c.outside) - limit} more" if len(c.outside) > limit else ""
        text += f"; {len(c.outside)} outside: {worst}{more}"
    if c.missing:
        text += (f"; {len(c.missing)} missing from this build (e.g. "
                 f"{', '.join(c.missing[:3])})")
    if c.new:
        text += f"; {len(c.new)} not in the reference"
    if c.mismatches:
        bad = "; ".join(f"{n} {f}: {r!r} -> {b!r}" for n, f, r, b in c.mismatches[:limit])
        text += f". Verdicts: {len(c.mismatches)} differ from the reference ({bad})"
    else:
        text += f". Verdicts: all {c.verdicts} match the reference"
    return head + text + "."


# ---- the command line -------------------------------------------------------------------------

def add_parser(sub) -> None:
    """``illusion results``: a build's reproduction report, or its reference written."""
    p = sub.add_parser("results", help="compare a build's results with the committed "
                                       "reference (or write the reference)")
    p.add_argument("--profile", default="cpu", help="smoke, cpu (default) or paper")
    p.add_argument("--build", default=None, metavar="FILE",
                   help="the build's results (default: _build/results/PROFILE.json)")
    p.add_argument("--reference", default=None, metavar="FILE",
                   help="the reference (default: reference/PROFILE.json)")
    p.add_argument("--write-reference", action="store_true",
                   help="write the reference from the build's results (a clean cold build)")
    p.add_argument("--spread-from", nargs="+", default=[], metavar="FILE",
                   help="with --write-reference: results of builds of the same commit made "
                        "another way (another instruction set); each band covers their spread")
    p.add_argument("--check", action="store_true",
                   help="exit 1 when a number leaves its band or a verdict differs")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_results, show=_print_results)


def _results(args) -> dict:
    from .profiles import get_profile

    get_profile(args.profile)
    build_path = Path(args.build) if args.build else build_results_path(args.profile)
    ref_path = Path(args.reference) if args.reference else reference_path(args.profile)
    build = load_results(build_path, kind="build", profile=args.profile)
    if args.write_reference:
        if str(build["provenance"].get("commit", "")).endswith("+dirty"):
            raise ContractError(f"{build_path}: built from a commit with uncommitted changes; a "
                                "reference comes from a clean build of a commit")
        others = [load_results(Path(f), kind="build", profile=args.profile)
                  for f in args.spread_from]
        for f, other in zip(args.spread_from, others):
            if other["provenance"].get("commit") != build["provenance"].get("commit"):
                raise ContractError(f"{f}: a build of commit "
                                    f"{str(other['provenance'].get('commit'))[:12]}, not of the "
                                    "reference's own; its spread would mix code changes in")
        ref = make_reference(build, others=others)
        write_json(ref_path, ref)
        sources: dict[str, int] = {}
        for entry in ref["numbers"].values():
            sources[entry["source"]] = sources.get(entry["source"], 0) + 1
        return {"wrote": str(ref_path), "numbers": len(ref["numbers"]),
                "verdicts": len(ref["verdicts"]), "sources": sources}
    if not ref_path.exists():
        return {"report": f"Reproduction ({args.profile}): no reference for this profile "
                          f"({ref_path}); nothing compared.", "ok": True}
    c = compare(build, load_results(ref_path, kind="reference", profile=args.profile))
    rec = {"report": report_text(c), "ok": c.ok, "within": c.within, "compared": c.compared,
           "outside": [list(t) for t in c.outside], "missing": c.missing,
           "mismatches": [list(map(str, m)) for m in c.mismatches]}
    if args.check and not c.ok:
        rec["exit_status"] = 1
    return rec


def _print_results(rec: dict) -> None:
    if "wrote" in rec:
        by = ", ".join(f"{n} {s}" for s, n in sorted(rec["sources"].items()))
        print(f"wrote {rec['wrote']}: {rec['numbers']} numbers with bands ({by}) and "
              f"{rec['verdicts']} verdicts")
    else:
        print(rec["report"])
