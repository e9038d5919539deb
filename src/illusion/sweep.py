"""The experiment grid on Ray: every (dataset, profile, seed, forget set, method) cell of a grid.

A grid (:class:`illusion.rows.Grid`) comes from a grid file or ``book:<profile>``
(:mod:`illusion.gridfile`, which documents the format and checks it before anything runs). A
row holds ``dataset``, ``profile``, ``seed``, ``forget`` (:class:`illusion.catalog.ForgetSet`),
``n_forget``, ``method`` (the entry's label), ``base_method``, ``status`` (run / cached /
failed), ``seconds`` (training or unlearning time of the model), ``wall_seconds`` (the cell's
own wall time when it was computed), every flattened metric of
:func:`illusion.records.method_row`, the extras' columns and ``error``.

Each cell is computed by :func:`illusion.rows.run_row`, once: its row is an artifact
keyed by everything that decides it, so a second run submits nothing for it. Execution: one
Ray task per (dataset, profile, seed) trains or loads the original (and the CMF original when
a ``+cmf`` entry needs it) with every CPU of a node; the cells depend on it and run one per
CPU (or GPU), slowest kinds first. A cell that raises is reported with its config and not
cached; the others go on. Extras are :data:`illusion.rows.EXTRAS`.

This module is the Ray scheduling, the progress lines and the results files; a cell on its
own (what it is, what decides it, how it runs) is :mod:`illusion.rows`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import deque
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import pandas as pd
import torch
from tqdm.auto import tqdm

from . import data as idata
from .cache import (HOST, ArtifactCache, atomic_write, cache_root, process_alive,
                    running_builds, spec_key)
from .catalog import ForgetSet
from .rows import KIND, Row, Grid, row_spec, is_built, run_row, start_of, summarise
from .pipeline import STARTS, train_or_load

__all__ = ["check_data", "load_results", "plan_line", "progress_line", "results_path",
           "run_sweep", "running_kinds", "summary_table", "sweep_report", "time_left",
           "write_results"]

# Submission order, slowest kinds first so that no worker idles at the tail (others: 1).
PRIORITY = {"retrain": 0, "original": 2}
TICK = 5.0  # seconds between refreshes of the progress bar's "now" while no cell finishes
IDENTITY = ("dataset", "profile", "seed", "forget", "n_forget", "method", "base_method",
            "status", "seconds", "wall_seconds")
# Ray (2.60 here) turns token authentication on for every new local cluster and says so at
# each ray.init as a WARNING of this logger; the sweep keeps that default, so the notice is
# dropped (that one message: Ray's other warnings still show).
RAY_TOKEN_LOGGER = "ray._private.authentication.authentication_token_setup"
RAY_TOKEN_NOTICE = "Token authentication is enabled for this Ray cluster."


# ---------------------------------------------------------------------- Ray tasks

def _describe(exc: BaseException) -> str:
    """``Type: message`` on one line (the cause of a Ray task error)."""
    exc = getattr(exc, "cause", None) or exc
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


ATTEMPTS = "attempts"  # folder of the markers of the rows being computed (one per row)
RETRIED = "_retried"  # a row task's note that an earlier attempt at its row did not finish


def _on_node() -> None:
    """Name the Ray node this task runs on (``ILLUSION_NODE``): the cache's build log and
    markers then say where each artifact was built."""
    import ray

    if ray.is_initialized():  # a Ray task (called outside Ray, e.g. by a test: no node)
        os.environ["ILLUSION_NODE"] = ray.get_runtime_context().get_node_id()[:12]


def _begin_attempt(cell: Row, extras: Sequence[str], root: str) -> tuple[Path, dict, str]:
    """Write the marker of this attempt at ``cell``'s row (node, host, pid, start time) in
    ``<root>/attempts/``; returns its path, its record and a description of an earlier
    attempt whose marker was still there (its process was killed, or its node died: a retry
    by Ray or a rerun), or ``""``. An attempt still running in a live process of this host
    (a concurrent sweep on the same cache) is not an earlier one."""
    folder = Path(root) / ATTEMPTS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{spec_key(KIND, row_spec(cell, extras))}.json"
    earlier = ""
    try:
        before = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        before = None
    if before and not (before.get("host") == HOST
                       and process_alive(int(before.get("pid", 0)))):
        when = time.strftime("%H:%M:%S", time.localtime(float(before.get("since", 0))))
        earlier = (f"an earlier attempt (node {before.get('node') or '?'}, host "
                   f"{before.get('host')}, pid {before.get('pid')}, started {when}) did not "
                   "finish")
    record = {"node": os.environ.get("ILLUSION_NODE", ""), "host": HOST, "pid": os.getpid(),
              "since": time.time()}
    atomic_write(path, lambda fh: fh.write(json.dumps(record).encode()))
    return path, record, earlier


def _end_attempt(path: Path, record: dict) -> None:
    """Remove this attempt's marker (not a later attempt's)."""
    try:
        if json.loads(path.read_text(encoding="utf-8")) == record:
            path.unlink(missing_ok=True)
    except (OSError, ValueError):
        pass


def _prepare_task(dataset: str, profile: str, seed: int, starts: list[str], root: str,
                  threads: int | None) -> dict:
    """Ray task: train or load the original model and the start models the cells need;
    returns ``{}`` (or ``{"error": ...}``), never a model."""
    _on_node()
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


def _row_task(cell: Row, extras: Sequence[str], root: str, threads: int | None,
               prepared: dict) -> dict:
    """Ray task: :func:`run_row`, or ``{"error": ...}`` when it (or the original) failed.
    When an earlier attempt at the row did not finish (:func:`_begin_attempt`), the result
    says so under :data:`RETRIED`, for the sweep's log."""
    if prepared.get("error"):
        return {"error": f"original model: {prepared['error']}"}
    _on_node()
    if threads:
        torch.set_num_threads(threads)
    marker, record, earlier = _begin_attempt(cell, extras, root)
    try:
        out = run_row(cell, extras, ArtifactCache(root))[0]
    except Exception as exc:  # one failed cell must not stop the sweep
        out = {"error": _describe(exc)}
    finally:
        _end_attempt(marker, record)
    return {**out, RETRIED: earlier} if earlier else out


def _not_token_notice(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith(RAY_TOKEN_NOTICE)


def _start_ray(address: str | None, max_parallel: int | None, root: Path) -> None:
    import ray

    env = {"ILLUSION_CACHE": str(root), "ILLUSION_DATA": str(idata.data_root().resolve())}
    quiet = {"runtime_env": {"env_vars": env}, "log_to_driver": False,
             "logging_level": logging.WARNING}
    notices = logging.getLogger(RAY_TOKEN_LOGGER)
    notices.addFilter(_not_token_notice)
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            # "local": a new Ray of this process's own, even where a cluster runs on this
            # machine (joining one is --address's job)
            ray.init(address="local", num_cpus=max_parallel or os.cpu_count(),
                     include_dashboard=False, **quiet)
    finally:
        notices.removeFilter(_not_token_notice)


def _execute(grid: Grid, todo: list[int], root: Path, address: str | None,
             max_parallel: int | None) -> Iterator[tuple[int, dict] | None]:
    """Run the cells ``todo`` (indices into ``grid.rows``) on Ray; yield ``(index, row or
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

    cells = grid.rows
    gpu = ray.cluster_resources().get("GPU", 0) >= 1
    node_cpus = int(max(n["Resources"].get("CPU", 1) for n in ray.nodes() if n["Alive"]))
    whole = max(1, min(node_cpus, max_parallel or node_cpus))  # one node's CPUs
    prepare = ray.remote(max_retries=2, **({"num_gpus": 1} if gpu else {"num_cpus": whole}))(
        _prepare_task)
    run = ray.remote(max_retries=2, **({"num_gpus": 1} if gpu else {"num_cpus": 1}))(
        _row_task)
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
    flight. ``log`` receives one line per failed cell as it fails; ``on_cell`` one line
    with the plan as soon as the cache was read (:func:`plan_line`), before any cell runs,
    then one line per computed cell as it finishes (:func:`progress_line`: cells done of
    all, the cell, its time, the time left estimated from the recorded seconds of each
    label's cells (:func:`time_left`) and the kinds of artifact being built now
    (:func:`running_kinds`)), for a log that is not a terminal (the progress bar,
    ``progress``, shows the same on one, its "now" refreshed every :data:`TICK` seconds).
    Returns one row per cell in grid order (module docstring); ``table.attrs["counts"]``
    holds the run / cached / failed counts. Failed cells are not cached: the next run
    retries them.
    """
    if max_parallel is not None and max_parallel < 1:
        raise ValueError(f"--max-parallel must be at least 1, got {max_parallel}")
    cache = cache or ArtifactCache()
    results: dict[int, dict] = {}
    todo = []
    for i, cell in enumerate(grid.rows):
        # a row stored before one of its extras' artifacts existed runs again (run_row then
        # builds only the missing artifacts)
        found = (cache.load(KIND, row_spec(cell, grid.extras))
                 if is_built(cell, grid.extras, cache) else None)
        if found is None:
            todo.append(i)
        else:
            results[i] = {**found, "status": "cached"}
    workers = max_parallel or os.cpu_count() or 1
    if on_cell is not None:  # a log without a progress bar learns the plan at once
        on_cell(plan_line(grid.name, len(grid.rows), len(todo),
                          workers if address is None or max_parallel else address))
    check_data({grid.rows[i].dataset for i in todo})  # once, before any cell is submitted
    took: dict[str, list[float]] = {}  # label -> wall seconds of its cells computed so far
    left, status = list(todo), ""
    with tqdm(total=len(grid.rows), initial=len(results), desc=grid.name, unit="row",
              disable=not progress) as bar:
        if todo:
            for item in _execute(grid, todo, cache.root.resolve(), address, max_parallel):
                now = running_kinds(cache.root)
                if item is None:  # a tick: only what is running changed
                    bar.set_postfix_str(f"{status}now: {now or '-'}", refresh=True)
                    continue
                i, out = item
                retried = out.pop(RETRIED, "")
                if retried and log is not None:
                    log(f"retried: {grid.rows[i].describe()}: {retried}")
                left.remove(i)
                results[i] = {**out, "status": "failed" if "error" in out else "run"}
                if isinstance(out.get("wall_seconds"), (int, float)):
                    took.setdefault(grid.rows[i].label, []).append(float(out["wall_seconds"]))
                if "error" in out and log is not None:
                    log(f"failed: {grid.rows[i].describe()}: {out['error']}")
                eta = time_left([grid.rows[j].label for j in left], took, workers)
                status = f"{grid.rows[i].label}; {_left(eta)}; "
                bar.set_postfix_str(f"{status}now: {now or '-'}", refresh=False)
                bar.update()
                if on_cell is not None:
                    on_cell(progress_line(len(results), len(grid.rows), grid.rows[i],
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


def plan_line(name: str, total: int, to_run: int, workers: int | str) -> str:
    """A sweep's plan for a log, before anything runs: ``sweep cpu: 136 rows, 130 cached, 6
    to run on 2 workers`` (``workers``: a count, or the address of the Ray cluster)."""
    where = (f"{workers} worker{'s' * (workers != 1)}" if isinstance(workers, int)
             else f"the Ray cluster at {workers}")
    return (f"sweep {name}: {total} rows, {total - to_run} cached, {to_run} to run"
            + (f" on {where}" if to_run else ""))


def progress_line(done: int, total: int, cell: Row, row: Mapping, eta: float,
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
    for i, cell in enumerate(grid.rows):
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
    """``"N rows: X run, Y cached, Z failed"``."""
    n = _counts(table)
    return f"{len(table)} rows: {n['run']} run, {n['cached']} cached, {n['failed']} failed"


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
    stats = summarise(ok, columns, by=["dataset", "profile", "method", "scope"])
    # summarise concatenates one Series (one block) per statistic: consolidated first, as
    # reset_index inserts the four keys one by one (an insert into a frame of over 100 blocks
    # is pandas' PerformanceWarning "DataFrame is highly fragmented")
    return stats.copy().reset_index()


def write_results(table: pd.DataFrame, out: str | Path) -> tuple[Path, Path]:
    """Write the tidy table to ``out`` and :func:`summary_table` next to it
    (``<stem>_summary.csv``), each atomically; returns both paths."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = out.with_name(f"{out.stem}_summary.csv")
    for path, frame in ((out, table), (summary, summary_table(table))):
        text = frame.to_csv(index=False).encode()
        atomic_write(path, lambda fh, text=text: fh.write(text))
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
