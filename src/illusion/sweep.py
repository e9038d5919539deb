"""The experiment grid on Ray: every (dataset, profile, seed, forget set, method) cell of a YAML.

A grid file (``grids/*.yaml``, run with ``illusion sweep GRID.yaml``)::

    name: smoke                  # results: <ILLUSION_CACHE>/sweeps/<name>.csv (default: file stem)
    profile: smoke               # a profile name or a list of them (smoke, cpu, paper)
    dataset: cifar100            # optional, a name or a list; default: each profile's dataset
    seeds: [0, 1, 2]             # optional; default: the profile's (Profile.grid: with
    forget_sets: [[0], [2, 4, 8]]  # neither key, its own cells), lists of class indices
    methods:                     # registered names (`illusion methods`) or mappings
      - retrain
      - scrub+cmf
      - last_layer:random_label
      - {method: ec, label: ec_ramp, hparams: {epochs: 5}}   # overrides of hparams.toml
      - {method: scrub, extras: [relearn]}   # extras of this entry's cells only
    extras: [feature_drift]      # optional: names in EXTRAS, extra columns of every row

Cells: one per (dataset, profile, seed, forget set, method entry), plus an ``original`` cell per
(dataset, profile, seed, forget set) — the original model evaluated with that forget set. A
row holds ``dataset``, ``profile``, ``seed``, ``forget`` (:class:`illusion.catalog.ForgetSet`),
``n_forget``, ``method`` (the entry's label), ``base_method``, ``status`` (run / cached /
failed), ``seconds`` (training or unlearning time of the model), ``wall_seconds`` (the cell's
own wall time when it was computed), every flattened metric of
:func:`illusion.experiments.method_row`, the extras' columns and ``error``.

Everything is checked before anything runs (:func:`parse_grid` raises ``ValueError`` with one
line). Each cell is computed by :func:`illusion.cells.run_cell`, once: its row is an artifact
keyed by everything that decides it, so a second run submits nothing for it. Execution: one
Ray task per (dataset, profile, seed) trains or loads the original (and the CMF original when
a ``+cmf`` entry needs it) with every CPU of a node; the cells depend on it and run one per
CPU (or GPU), slowest kinds first. A cell that raises is reported with its config and not
cached; the others go on. Extras are :data:`illusion.cells.EXTRAS`.

This module is the grid file, the Ray scheduling and the results files; a cell on its own
(what it is, what decides it, how it runs) is :mod:`illusion.cells`.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import pandas as pd
import torch
import yaml
from tqdm.auto import tqdm

from . import data as idata
from .book import book_grid
from .cache import ArtifactCache, _atomic_write, cache_root, running_builds
from .catalog import ForgetSet
from .cells import EXTRAS, KIND, Cell, Grid, cell_spec, run_cell, start_of, summarise
from .methods import available, create_method
from .pipeline import STARTS, train_or_load
from .profiles import PROFILES, get_profile

__all__ = ["check_data", "load_grid", "load_results", "parse_grid", "progress_line",
           "resolve_grid", "results_path", "run_sweep", "running_kinds", "summary_table",
           "sweep_report", "time_left", "write_results"]

GRID_KEYS = ("name", "profile", "dataset", "seeds", "forget_sets", "methods", "extras")
ENTRY_KEYS = ("method", "label", "hparams", "extras")
# Submission order, slowest kinds first so that no worker idles at the tail (others: 1).
PRIORITY = {"retrain": 0, "original": 2}
TICK = 5.0  # seconds between refreshes of the progress bar's "now" while no cell finishes
IDENTITY = ("dataset", "profile", "seed", "forget", "n_forget", "method", "base_method",
            "status", "seconds", "wall_seconds")


def resolve_grid(name: str) -> Grid:
    """A grid file, or ``book:PROFILE``: every cell the book's pages declare
    (:func:`illusion.book.book_grid`)."""
    if name.startswith("book:"):
        profile = name.split(":", 1)[1]
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r} in {name!r}; choose from "
                             f"{', '.join(PROFILES)}")
        return book_grid(profile)
    return load_grid(name)


# ------------------------------------------------------------------------ grid parsing

def load_grid(path: str | Path) -> Grid:
    """Read and check a grid YAML (its ``name`` defaults to the file's stem)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ValueError(f"cannot read grid {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {' '.join(str(exc).split())}") from None
    return parse_grid(raw, default_name=path.stem)


def parse_grid(raw: Any, default_name: str | None = None) -> Grid:
    """The cells of a grid mapping (the YAML format above); ``ValueError`` on any mistake."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"a grid is a mapping with the keys {', '.join(GRID_KEYS)}")
    unknown = sorted(set(raw) - set(GRID_KEYS))
    if unknown:
        raise ValueError(f"unknown grid key(s) {unknown}; valid: {', '.join(GRID_KEYS)}")
    name = raw.get("name", default_name)
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"the grid needs a `name` usable as a file name, got {name!r}")
    profiles = _names(raw.get("profile"), "profile")
    for profile in profiles:
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    entries = [_entry(item) for item in _list(raw.get("methods"), "methods")]
    extras = _extras(raw.get("extras", []), "extras")
    cells = [cell for profile in profiles for cell in _profile_cells(raw, profile, entries)]
    return Grid(name, tuple(cells), extras)


def _profile_cells(raw: Mapping, profile: str, entries: list[tuple]) -> list[Cell]:
    p = get_profile(profile)
    datasets = _names(raw["dataset"], "dataset") if "dataset" in raw else [p.dataset]
    seeds = _list(raw["seeds"], "seeds") if "seeds" in raw else None
    if seeds is not None and not all(isinstance(s, int) and not isinstance(s, bool)
                                     and 0 <= s < 2**63 for s in seeds):
        raise ValueError(f"seeds must be integers in 0..2**63-1, got {seeds}")
    cells = []
    for dataset in datasets:
        k = _num_classes(dataset)
        sets = ([_forget_set(f, k, dataset) for f in _list(raw["forget_sets"], "forget_sets")]
                if "forget_sets" in raw else None)
        for axis, values in (("seed", seeds), ("forget", sets)):
            twice = [v for i, v in enumerate(values or ()) if v in values[:i]]
            if twice:
                shown = ForgetSet(twice[0]) if axis == "forget" else twice[0]
                raise ValueError(f"duplicate cell in the grid: {axis}={shown} is listed twice")
        # the profile's cells where the file leaves an axis out (Profile.grid)
        pairs = [(seed, _forget_set(list(f), k, dataset)) for seed, f in p.grid(seeds, sets)]
        for seed, forget in pairs:
            cells.append(Cell(dataset, profile, seed, forget, "original", "original"))
            cells += [Cell(dataset, profile, seed, forget, *e) for e in entries]
    seen = set()
    for cell in cells:
        if cell.key in seen:
            raise ValueError(f"duplicate cell in the grid: {cell.describe()}")
        seen.add(cell.key)
    return cells


def _entry(item: Any) -> tuple[str, str, dict, tuple[str, ...]]:
    """A ``methods`` item -> (method, label, hparams overrides, extras), checked."""
    if isinstance(item, Mapping):
        unknown = sorted(set(item) - set(ENTRY_KEYS))
        if unknown:
            raise ValueError(f"unknown key(s) {unknown} in method entry {dict(item)}; "
                             f"valid: {', '.join(ENTRY_KEYS)}")
        method, label, hp = item.get("method"), item.get("label"), item.get("hparams") or {}
        extras = item.get("extras", [])
    else:
        method, label, hp, extras = item, None, {}, []
    if not isinstance(method, str):
        raise ValueError(f"a method entry is a name or {{method, label, hparams, extras}}, "
                         f"got {item!r}")
    if method == "original":
        raise ValueError("'original' is a row of every grid already; do not list it")
    if method == "cmf_original" and (hp or label not in (None, method)):
        raise ValueError("'cmf_original' takes no label or hparams (hparams.toml's "
                         "cmf_finetune entry decides it)")
    if method == "cmf_original":
        return method, method, {}, _extras(extras, "method entry 'cmf_original'")
    if method not in available():
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(available())}")
    label = method if label is None else label
    if not isinstance(label, str) or not label or label == "original":
        raise ValueError(f"method entry {item!r}: `label` must be a non-empty name")
    if not isinstance(hp, Mapping) or not all(isinstance(k, str) for k in hp):
        raise ValueError(f"method entry {label!r}: `hparams` must be a mapping, got {hp!r}")
    try:
        create_method(method, **hp)  # unknown hyperparameters raise here, before any work
    except (TypeError, ValueError) as exc:
        raise ValueError(f"method entry {label!r}: {exc}") from None
    return method, label, dict(hp), _extras(extras, f"method entry {label!r}")


def _extras(value: Any, where: str) -> tuple[str, ...]:
    extras = tuple(_names(value, where, empty=True))
    for extra in extras:
        if extra not in EXTRAS:
            raise ValueError(f"unknown extra {extra!r} in {where}; choose from "
                             f"{', '.join(EXTRAS)}")
    return extras


def _forget_set(value: Any, num_classes: int | None, dataset: str) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(c, int) and not isinstance(c, bool) for c in value):
        raise ValueError(f"a forget set is a list of class indices, got {value!r}")
    if not value:
        raise ValueError("empty forget set in `forget_sets`")
    if len(set(value)) != len(value):
        raise ValueError(f"repeated class in forget set {value}")
    if num_classes is not None:
        bad = [c for c in value if not 0 <= c < num_classes]
        if bad:
            raise ValueError(f"forget class(es) {bad} out of range 0..{num_classes - 1} "
                             f"for {dataset}")
        if len(value) >= num_classes:
            raise ValueError(f"forget set {value} leaves no class of {dataset} to retain")
    return tuple(sorted(value))


def _num_classes(dataset: str) -> int | None:
    if dataset.startswith("imagefolder:"):
        train = Path(dataset.split(":", 1)[1]) / "train"
        if not train.is_dir():
            raise ValueError(f"imagefolder: {train} is missing (expected PATH/train/<class>/)")
        return sum(p.is_dir() for p in train.iterdir())
    if dataset.startswith("synthetic:") and idata.known_num_classes(dataset):
        return idata.known_num_classes(dataset)  # a dry run's (illusion.dryrun)
    if dataset not in idata.available():
        raise ValueError(f"unknown dataset {dataset!r}; choose from "
                         f"{', '.join(idata.available())}")
    return idata.known_num_classes(dataset)


def _list(value: Any, key: str, empty: bool = False) -> list:
    if not isinstance(value, list) or (not value and not empty):
        raise ValueError(f"`{key}` must be a non-empty list, got {value!r}")
    return value


def _names(value: Any, key: str, empty: bool = False) -> list[str]:
    """A name or a list of names."""
    names = [value] if isinstance(value, str) else _list(value, key, empty)
    if not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"`{key}` must be a name or a list of names, got {value!r}")
    return names


# ---------------------------------------------------------------------- Ray tasks

def _describe(exc: BaseException) -> str:
    """``Type: message`` on one line (the cause of a Ray task error)."""
    exc = getattr(exc, "cause", None) or exc
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _prepare_task(dataset: str, profile: str, seed: int, starts: list[str], root: str,
                  threads: int | None) -> dict:
    """Ray task: train or load the original model and the start models the cells need;
    returns ``{}`` (or ``{"error": ...}``), never a model."""
    if threads:
        torch.set_num_threads(threads)
    try:
        cache = ArtifactCache(root)
        original = train_or_load(dataset, profile, seed, (), cache, progress=False)
        for start in starts:
            STARTS[start](original, profile, cache, False)
        return {}
    except Exception as exc:  # reported on every cell of the group
        return {"error": _describe(exc)}


def _cell_task(cell: Cell, extras: Sequence[str], root: str, threads: int | None,
               prepared: dict) -> dict:
    """Ray task: :func:`run_cell`, or ``{"error": ...}`` when it (or the original) failed."""
    if prepared.get("error"):
        return {"error": f"original model: {prepared['error']}"}
    if threads:
        torch.set_num_threads(threads)
    try:
        return run_cell(cell, extras, ArtifactCache(root))[0]
    except Exception as exc:  # one failed cell must not stop the sweep
        return {"error": _describe(exc)}


def _start_ray(address: str | None, max_parallel: int | None, root: Path) -> None:
    import ray

    env = {"ILLUSION_CACHE": str(root), "ILLUSION_DATA": str(idata.data_root().resolve())}
    quiet = {"runtime_env": {"env_vars": env}, "log_to_driver": False,
             "logging_level": logging.WARNING}
    if address:
        ray.init(address=address, **quiet)
    else:
        ray.init(num_cpus=max_parallel or os.cpu_count(), include_dashboard=False, **quiet)


def _execute(grid: Grid, todo: list[int], root: Path, address: str | None,
             max_parallel: int | None) -> Iterator[tuple[int, dict] | None]:
    """Run the cells ``todo`` (indices into ``grid.cells``) on Ray; yield ``(index, row or
    {"error": ...})`` as they finish, and ``None`` every :data:`TICK` seconds in which none
    did. Starts Ray unless it runs already, and stops it then."""
    import ray

    started = not ray.is_initialized()
    if started:
        _start_ray(address, max_parallel, root)
    try:
        yield from _schedule(grid, todo, str(root), max_parallel)
    finally:
        if started:
            ray.shutdown()


def _schedule(grid: Grid, todo: list[int], root: str,
              max_parallel: int | None) -> Iterator[tuple[int, dict] | None]:
    import ray

    cells = grid.cells
    gpu = ray.cluster_resources().get("GPU", 0) >= 1
    node_cpus = int(max(n["Resources"].get("CPU", 1) for n in ray.nodes() if n["Alive"]))
    whole = max(1, min(node_cpus, max_parallel or node_cpus))  # one node's CPUs
    prepare = ray.remote(max_retries=2, **({"num_gpus": 1} if gpu else {"num_cpus": whole}))(
        _prepare_task)
    run = ray.remote(max_retries=2, **({"num_gpus": 1} if gpu else {"num_cpus": 1}))(
        _cell_task)
    starts: dict[tuple, set[str]] = {}
    for i in todo:
        starts.setdefault(cells[i].group, set()).add(start_of(cells[i]))
    order = sorted(todo, key=lambda i: PRIORITY.get(cells[i].method, 1))
    queue = deque([("prepare", g) for g in starts] + [("cell", i) for i in order])
    prepared, pending = {}, {}
    cap = max_parallel or len(queue)
    while queue or pending:
        while queue and len(pending) < cap:
            what, key = queue.popleft()
            if what == "prepare":
                ref = prepare.options(name=f"original {key}").remote(
                    *key, sorted(starts[key] - {"original"}), root, None if gpu else whole)
                prepared[key] = ref
            else:
                cell = cells[key]
                ref = run.options(name=f"cell {cell.describe()}").remote(
                    cell, grid.extras, root, None if gpu else 1, prepared[cell.group])
            pending[ref] = (what, key)
        done, _ = ray.wait(list(pending), num_returns=1, timeout=TICK)
        if not done:
            yield None  # nothing finished: the caller refreshes what is running
        for ref in done:
            what, key = pending.pop(ref)
            if what == "cell":
                try:
                    yield key, ray.get(ref)
                except Exception as exc:  # a crash Ray's retries did not cure
                    yield key, {"error": _describe(exc)}


# ------------------------------------------------------------------------------ a sweep

def run_sweep(grid: Grid, address: str | None = None, max_parallel: int | None = None,
              progress: bool = True, cache: ArtifactCache | None = None,
              log: Callable[[str], None] | None = None,
              on_cell: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Every cell of ``grid``: loaded from the cache, or computed on Ray.

    Ray runs locally with ``max_parallel`` CPUs (default: all) unless ``address`` names a
    cluster (``"auto"``, ``"ray://host:10001"``); ``max_parallel`` also caps the tasks in
    flight. ``log`` receives one line per failed cell as it fails; ``on_cell`` one line per
    computed cell as it finishes (:func:`progress_line`: cells done of all, the cell, its
    time, the time left estimated from the recorded seconds of each label's cells
    (:func:`time_left`) and the kinds of artifact being built now (:func:`running_kinds`)),
    for a log that is not a terminal (the progress bar, ``progress``, shows the same on one,
    its "now" refreshed every :data:`TICK` seconds). Returns one row per cell in grid
    order (module docstring); ``table.attrs["counts"]`` holds the run / cached / failed
    counts. Failed cells are not cached: the next run retries them.
    """
    if max_parallel is not None and max_parallel < 1:
        raise ValueError(f"--max-parallel must be at least 1, got {max_parallel}")
    cache = cache or ArtifactCache()
    results: dict[int, dict] = {}
    todo = []
    for i, cell in enumerate(grid.cells):
        found = cache.load(KIND, cell_spec(cell, grid.extras))
        if found is None:
            todo.append(i)
        else:
            results[i] = {**found, "status": "cached"}
    check_data({grid.cells[i].dataset for i in todo})  # once, before any cell is submitted
    workers = max_parallel or os.cpu_count() or 1
    took: dict[str, list[float]] = {}  # label -> wall seconds of its cells computed so far
    left, status = list(todo), ""
    with tqdm(total=len(grid.cells), initial=len(results), desc=grid.name, unit="cell",
              disable=not progress) as bar:
        if todo:
            for item in _execute(grid, todo, cache.root.resolve(), address, max_parallel):
                now = running_kinds(cache.root)
                if item is None:  # a tick: only what is running changed
                    bar.set_postfix_str(f"{status}now: {now or '-'}", refresh=True)
                    continue
                i, out = item
                left.remove(i)
                results[i] = {**out, "status": "failed" if "error" in out else "run"}
                if isinstance(out.get("wall_seconds"), (int, float)):
                    took.setdefault(grid.cells[i].label, []).append(float(out["wall_seconds"]))
                if "error" in out and log is not None:
                    log(f"failed: {grid.cells[i].describe()}: {out['error']}")
                eta = time_left([grid.cells[j].label for j in left], took, workers)
                status = f"{grid.cells[i].label}; {_left(eta)}; "
                bar.set_postfix_str(f"{status}now: {now or '-'}", refresh=False)
                bar.update()
                if on_cell is not None:
                    on_cell(progress_line(len(results), len(grid.cells), grid.cells[i],
                                          results[i], eta, now))
    return _table(grid, results)


def time_left(labels: Sequence[str], took: Mapping[str, Sequence[float]],
              workers: int) -> float:
    """Seconds the cells still to compute (their ``labels``) should take on ``workers``
    parallel workers, from the recorded wall seconds of the cells computed so far (``took``,
    label -> seconds): each cell is estimated at the mean of its own label's cells (a label's
    cells share their recipe across seeds and forget sets), else at the mean of all of them;
    NaN before any cell was timed, 0 when none is left."""
    if not labels:
        return 0.0
    every = [t for times in took.values() for t in times]
    if not every:
        return float("nan")
    overall = sum(every) / len(every)
    total = sum(sum(took[lb]) / len(took[lb]) if took.get(lb) else overall for lb in labels)
    return total / max(1, min(workers, len(labels)))


def _left(eta: float) -> str:
    return ("time left unknown" if eta != eta else
            f"about {eta / 60:.0f} min left" if eta >= 90 else f"about {eta:.0f} s left")


def running_kinds(root: str | Path | None = None) -> str:
    """The kinds of artifact being built now in a cache, with counts: ``"unlearned x2,
    relearn"`` (:func:`illusion.cache.running_builds`; the sweep's own row artifacts, which
    wrap every cell's builds, left out); ``""`` when none."""
    counts: dict[str, int] = {}
    for record in running_builds(root):
        if record["kind"] != KIND:
            counts[record["kind"]] = counts.get(record["kind"], 0) + 1
    return ", ".join(k if n == 1 else f"{k} x{n}" for k, n in counts.items())


def progress_line(done: int, total: int, cell: Cell, row: Mapping, eta: float,
                  now: str = "") -> str:
    """One finished cell for a log: ``[37/130] run seed=0 forget=0 scrub (42 s); about 31
    min left; now: unlearned x2`` (``eta``: :func:`time_left`'s seconds; ``now``:
    :func:`running_kinds`)."""
    took = row.get("wall_seconds")
    took = f" ({float(took):.0f} s)" if isinstance(took, (int, float)) else ""
    when = "done" if done == total else _left(eta)
    return (f"[{done}/{total}] {row.get('status', 'run')} seed={cell.seed} "
            f"forget={ForgetSet(cell.forget)} {cell.label}{took}; {when}"
            + (f"; now: {now}" if now and done < total else ""))


def check_data(datasets: Sequence[str] | set[str]) -> None:
    """Load (or download) every dataset once in this process, so that missing data stops a
    sweep with one :class:`illusion.data.DataUnavailable` line before any cell is submitted
    instead of failing every cell. Synthetic datasets (dry runs) need nothing."""
    for name in sorted(datasets):
        if not name.startswith("synthetic:"):
            idata.load_dataset(name)


def _table(grid: Grid, results: dict[int, dict]) -> pd.DataFrame:
    rows = []
    for i, cell in enumerate(grid.cells):
        identity = {"dataset": cell.dataset, "profile": cell.profile, "seed": cell.seed,
                    "forget": ForgetSet(cell.forget), "n_forget": len(cell.forget),
                    "method": cell.label, "base_method": cell.method}
        rows.append({**identity, **{k: v for k, v in results[i].items() if k != "method"}})
    table = pd.DataFrame(rows)
    if "error" not in table:
        table["error"] = None
    first = [c for c in IDENTITY if c in table]
    table = table[first + [c for c in table if c not in first and c != "error"] + ["error"]]
    table.attrs["counts"] = _counts(table)
    return table


def _counts(table: pd.DataFrame) -> dict[str, int]:
    return {s: int((table["status"] == s).sum()) for s in ("run", "cached", "failed")}


def sweep_report(table: pd.DataFrame) -> str:
    """``"N cells: X run, Y cached, Z failed"``."""
    n = _counts(table)
    return f"{len(table)} cells: {n['run']} run, {n['cached']} cached, {n['failed']} failed"


# ------------------------------------------------------------------------------ results

def results_path(name: str, root: str | Path | None = None) -> Path:
    """Default CSV of a sweep: ``<root or $ILLUSION_CACHE>/sweeps/<name>.csv``."""
    return Path(root if root is not None else cache_root()) / "sweeps" / f"{name}.csv"


def summary_table(table: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std and count of every numeric column over seeds and forget sets, per
    (``dataset``, ``profile``, ``method``, ``scope``: ``"single"`` or ``"multi"``-class
    forget sets); failed cells left out."""
    ok = table[table["status"] != "failed"]
    if ok.empty:
        return pd.DataFrame()
    columns = [c for c in ok.select_dtypes("number") if c not in ("seed", "n_forget")]
    ok = ok.assign(scope=ok["n_forget"].map(lambda n: "single" if n == 1 else "multi"))
    return summarise(ok, columns, by=["dataset", "profile", "method", "scope"]).reset_index()


def write_results(table: pd.DataFrame, out: str | Path) -> tuple[Path, Path]:
    """Write the tidy table to ``out`` and :func:`summary_table` next to it
    (``<stem>_summary.csv``), each atomically; returns both paths."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = out.with_name(f"{out.stem}_summary.csv")
    for path, frame in ((out, table), (summary, summary_table(table))):
        text = frame.to_csv(index=False).encode()
        _atomic_write(path, lambda fh, text=text: fh.write(text))
    return out, summary


def load_results(name_or_path: str | Path, summary: bool = False) -> pd.DataFrame:
    """A sweep's table (or its summary) by grid name (from ``$ILLUSION_CACHE/sweeps``) or
    CSV path."""
    path = Path(name_or_path)
    if path.suffix != ".csv":
        path = results_path(str(name_or_path))
    if summary:
        path = path.with_name(f"{path.stem}_summary.csv")
    if not path.exists():
        raise FileNotFoundError(f"no sweep results at {path}")
    return pd.read_csv(path, dtype={"forget": str})
