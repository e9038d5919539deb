"""Book build time: ``make book`` from an empty artifact cache, then the warm rebuild.

Runs the steps ``make book`` runs (``illusion sweep grids/<profile>.yaml``, then
``tools/run_notebooks.py --jobs``, then ``jupyter-book build`` with warnings as errors), but into
a staging directory (``--stage-book``) and with a fresh ``ILLUSION_CACHE``, so neither the
repository's ``book/notebooks`` nor its ``artifacts/`` is touched. The same build is then
repeated on the now warm cache. Prints the seconds of every step and notebook cold and warm,
the totals, each total as a ratio to its budget (issue 26: cold <= 30 min, aim 20, with every
cell of the cpu grid, warm <= 60 s, on a 2-core machine; ratio <= 1 meets it), and where the
cold run's compute went: the cache's build log summed per artifact kind (self seconds, which
add up to more than the wall time when the sweep runs cells in parallel) and the sweep's own
seconds per (seed, forget set) cell of the grid (the rows' ``wall_seconds``: the first cell also pays for
the labels only it computes, a new seed for its original). The cold sweep's results table is
kept in ``build/book_time_sweeps/`` (per-cell seconds, for ``python -m illusion.cost
--calibrate``), its build log in ``build/book_time_log/``. ``--warm-only`` times one build on
the cache ``$ILLUSION_CACHE`` already holds (a warm rebuild), without the cold one.

    .venv/bin/python bench/book_time.py                 # profile cpu, as make book
    .venv/bin/python bench/book_time.py --profile smoke # plumbing check
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from illusion.cache import LOG_NAME, build_log

ROOT = Path(__file__).resolve().parents[1]
BUDGET = {"cold": 30 * 60.0, "warm": 60.0}
GRIDS = {"cpu": "book:cpu", "paper": "grids/paper_cifar10.yaml"}  # as the Makefile
KEPT_LOG = ROOT / "build" / "book_time_log"  # the cold run's build log, kept
LINE = re.compile(r"^(\S+\.py)\s+([\d.]+) s$")


def build(stage: Path, profile: str, jobs: int, env: dict) -> dict[str, float]:
    """One ``make book`` into ``stage``: seconds per step and notebook, and the total."""
    bindir = Path(sys.executable).parent
    times = {}
    start = time.perf_counter()
    grid = GRIDS.get(profile)
    if grid is not None:
        t = time.perf_counter()
        subprocess.run([str(bindir / "illusion"), "sweep",
                        grid if grid.startswith("book:") else str(ROOT / grid), "--max-parallel",
                        str(jobs), "--quiet"], env=env, cwd=ROOT, check=True,
                       capture_output=True)
        times["illusion sweep"] = time.perf_counter() - t
    t = time.perf_counter()
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "run_notebooks.py"),
                          "--profile", profile, "--jobs", str(jobs), "--stage-book", str(stage)],
                         env=env, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    times.update({m[1]: float(m[2]) for m in map(LINE.match, out.splitlines()) if m})
    times["notebooks (wall)"] = time.perf_counter() - t
    t = time.perf_counter()
    subprocess.run([str(bindir / "jupyter-book"), "build", str(stage),
                    "--warningiserror", "--nitpick", "--keep-going", "--quiet"],
                   env=env, cwd=ROOT, check=True, capture_output=True)
    times["jupyter-book build"] = time.perf_counter() - t
    times["total"] = time.perf_counter() - start
    return times


def per_cell(table: pd.DataFrame) -> list[str]:
    """One line per (seed, forget set) cell of a sweep's results: its rows and the sum of their
    own wall seconds, in grid order."""
    groups = table.groupby(["seed", "forget"], sort=False)["wall_seconds"]
    return [f"seed {seed}, forget {forget:<22}{len(secs):>10d}{secs.sum():>10.1f}"
            for (seed, forget), secs in groups]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="sweep workers and notebooks at a time (make book: JOBS)")
    parser.add_argument("--warm-only", action="store_true",
                        help="time one build on the cache $ILLUSION_CACHE already holds (the "
                             "warm rebuild after a make book), skipping the cold one")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="book_time_") as tmp:
        if args.warm_only:
            runs = {"warm": build(Path(tmp) / "warm", args.profile, args.jobs, dict(os.environ))}
        else:
            runs = cold_and_warm(Path(tmp), args.profile, args.jobs)
    print(f"{'step':<34}" + "".join(f"{run + ' s':>10}" for run in runs))
    for step in next(iter(runs.values())):
        print(f"{step:<34}" + "".join(f"{r.get(step, float('nan')):>10.1f}"
                                      for r in runs.values()))
    if "cold" in runs:
        cold_breakdown(args.profile)
    print()
    for run, times in runs.items():
        ratio = times["total"] / BUDGET[run]
        print(f"{run}: {times['total']:.0f} s / budget {BUDGET[run]:.0f} s = {ratio:.2f}"
              f" ({'within' if ratio <= 1 else 'OVER'} budget)")
    return 0


def cold_and_warm(tmp: Path, profile: str, jobs: int) -> dict[str, dict[str, float]]:
    """A build from an empty cache in ``tmp``, then the same build on the now warm cache;
    the cold run's build log and sweep tables are kept in ``build/book_time_*``."""
    env = {**os.environ, "ILLUSION_CACHE": str(tmp / "artifacts")}
    runs = {}
    for run in ("cold", "warm"):
        print(f"{run} build (profile {profile}) ...", file=sys.stderr, flush=True)
        runs[run] = build(tmp / run, profile, jobs, env)
        if run == "cold":
            KEPT_LOG.mkdir(parents=True, exist_ok=True)
            log = Path(env["ILLUSION_CACHE"]) / LOG_NAME
            if log.exists():
                shutil.copy(log, KEPT_LOG / LOG_NAME)
            sweeps = Path(env["ILLUSION_CACHE"]) / "sweeps"
            if sweeps.is_dir():  # keep the per-cell times (python -m illusion.cost --calibrate)
                shutil.copytree(sweeps, ROOT / "build" / "book_time_sweeps", dirs_exist_ok=True)
    return runs


def cold_breakdown(profile: str) -> None:
    """Where the cold run's compute went: self seconds per artifact kind, seconds per cell."""
    kinds: dict[str, list[float]] = {}
    for entry in build_log(KEPT_LOG):
        kinds.setdefault(entry["kind"], []).append(entry["self_seconds"])
    print(f"\n{'cold compute by artifact kind':<34}{'builds':>10}{'self s':>10}")
    for kind, secs in sorted(kinds.items(), key=lambda kv: -sum(kv[1])):
        print(f"{kind:<34}{len(secs):>10d}{sum(secs):>10.1f}")
    table = ROOT / "build" / "book_time_sweeps" / f"{profile}.csv"
    if table.exists():
        print(f"\n{'cold sweep by (seed, forget set) cell':<34}{'rows':>10}{'row s':>10}")
        for line in per_cell(pd.read_csv(table)):
            print(line)


if __name__ == "__main__":
    sys.exit(main())
