"""How the cold sweep scales with ``JOBS`` (``make book``'s ``--max-parallel``): one cell, cold.

Sweeps every row the book computes in one later (seed, forget set) cell of the ``cpu`` grid
(default: the second cell, the grid's typical later cell: Retrain, the unlearning methods, their
evaluations, relearning attacks and per-stage extras) into a fresh, empty artifact cache,
once per ``--jobs`` value, in alternating order when ``--rounds`` is above 1, and prints each
run's wall seconds and the ratio to the first value's. Only the original models (and the CMF
original) are copied from ``--from-cache`` when it holds them, so that each run pays for the
cell's own work and not for the per-seed training every cell shares; without them each run
trains its original too.

    .venv/bin/python bench/jobs_scaling.py --from-cache artifacts        # JOBS 2 vs 1
    .venv/bin/python bench/jobs_scaling.py --jobs 1 --from-cache artifacts  # one run

The number of intra-op threads a cell's task uses follows the sweep: one per task when
several run at once, all of a node's CPUs for the original's training.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from illusion.book import book_grid, grid_cells
from illusion.rows import Grid

ROOT = Path(__file__).resolve().parents[1]
SHARED = ("original", "cmf_original")  # per-seed models every cell of the seed starts from


def cell_grid(profile: str, index: int) -> Grid:
    """The rows the book computes in cell ``index`` of the profile's grid (0: the first cell,
    which also has the first-cell-only rows)."""
    cells = grid_cells(profile)
    if not 0 <= index < len(cells):
        raise ValueError(f"--cell must be in 0..{len(cells) - 1}, got {index}")
    grid = book_grid(profile, cells=cells)
    target = cells[index]
    return Grid(f"{grid.name}-cell{index}",
                tuple(c for c in grid.rows if (c.seed, c.forget) == target), grid.extras)


def one_run(profile: str, index: int, jobs: int, source: Path | None) -> float:
    """Wall seconds of one cold sweep of the cell at ``jobs`` (in a subprocess)."""
    with tempfile.TemporaryDirectory(prefix="jobs-scaling-") as tmp:
        cache = Path(tmp) / "cache"
        cache.mkdir()
        for kind in SHARED if source is not None else ():
            if (source / kind).is_dir():
                shutil.copytree(source / kind, cache / kind)
        env = {**os.environ, "ILLUSION_CACHE": str(cache)}
        start = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--profile", profile, "--cell", str(index),
                        "--sweep-here", str(jobs)], env=env, cwd=ROOT, check=True)
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--cell", type=int, default=1, help="index into the profile's cells")
    ap.add_argument("--jobs", type=int, nargs="+", default=[2, 1],
                    help="values compared; the first is the baseline of the ratios")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--from-cache", type=Path, default=None,
                    help="a cache whose original models the runs start from")
    ap.add_argument("--sweep-here", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if min(args.jobs) < 1 or args.rounds < 1 or (args.sweep_here is not None
                                                 and args.sweep_here < 1):
        print("jobs_scaling: --jobs and --rounds must be at least 1", file=sys.stderr)
        return 2
    try:
        grid = cell_grid(args.profile, args.cell)
    except (KeyError, ValueError) as exc:  # an unknown profile, a cell out of range
        print(f"jobs_scaling: {exc.args[0]}", file=sys.stderr)
        return 2
    if args.sweep_here is not None:  # the child: one sweep into $ILLUSION_CACHE
        from illusion.sweep import run_sweep, sweep_report
        table = run_sweep(grid, max_parallel=args.sweep_here, progress=False)
        print(sweep_report(table), flush=True)
        return 1 if table.attrs["counts"]["failed"] else 0
    first = grid.rows[0]
    print(f"{args.profile} cell {args.cell} (seed {first.seed}, forget {list(first.forget)}): "
          f"{len(grid.rows)} rows, cold, originals "
          f"{'copied from ' + str(args.from_cache) if args.from_cache else 'trained'}")
    times: dict[int, list[float]] = {j: [] for j in args.jobs}
    for r in range(args.rounds):
        order = args.jobs if r % 2 == 0 else args.jobs[::-1]
        for jobs in order:
            seconds = one_run(args.profile, args.cell, jobs, args.from_cache)
            times[jobs].append(seconds)
            print(f"round {r + 1}: JOBS={jobs}: {seconds:.0f} s", flush=True)
    base = sorted(times[args.jobs[0]])[len(times[args.jobs[0]]) // 2]
    for jobs, values in times.items():
        median = sorted(values)[len(values) // 2]
        print(f"JOBS={jobs}: median {median:.0f} s over {len(values)} run(s); "
              f"{median / base:.2f}x JOBS={args.jobs[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
