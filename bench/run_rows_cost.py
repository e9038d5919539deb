"""What the other runs and C5's dose-response add to the cold book (issue 34: at most 12 min).

The book's run rows (``illusion.book.RUN_BASES`` x ``RUN_SEEDS``, in the cell shown in detail)
and the ``relearn_dose`` extra (Retrain and [A]'s five, same cell) are already cached on a
built cache, so timing them again would time reads. This bench builds their exact twins
instead: the same rows with run seeds no page reads (``--run-seeds``, default 3 and 4:
unlearning streams that are in no cache), and the dose-response extra of the same six labels
in another cell of the grid whose rows are built (``--dose-forget``, default the profile's
second cell), so that only the extra is computed. Everything else a row needs (the original,
Retrain, the CMF original, cached features) is read, as in a cold build where the rest of
the grid has built them. Prints the sweep's wall time on ``--jobs`` workers, the rows' own
seconds per kind, and the wall time as a ratio to the 12-minute budget.

    ILLUSION_CACHE=/path/to/built/cpu/cache .venv/bin/python bench/run_rows_cost.py

It writes new artifacts (the twins) into that cache; they are keyed apart and nothing reads
them.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from illusion import book
from illusion.catalog import A_BASELINES
from illusion.rows import Grid
from illusion.sweep import run_sweep

BUDGET = 12 * 60.0


def twins(profile: str, run_seeds: tuple[int, ...], dose_cell: int) -> Grid:
    grid = book.book_grid(profile)
    first = (grid.rows[0].seed, grid.rows[0].forget)
    runs = [r for r in grid.rows if r.run_seed]
    assert all((r.seed, r.forget) == first for r in runs), "run rows outside the first cell"
    out = [dataclasses.replace(r, run_seed=new, label=f"{r.label.split('~')[0]}~run{new}")
           for r in runs if r.run_seed == 1 for new in run_seeds]
    cells = list(dict.fromkeys((r.seed, r.forget) for r in grid.rows))
    seed, forget = cells[dose_cell]
    dose = [dataclasses.replace(r, extras=tuple(sorted({*r.extras, "relearn_dose"})),
                                label=f"{r.label} dose")
            for r in grid.rows if (r.seed, r.forget) == (seed, forget)
            and r.label in ("retrain", *A_BASELINES)]
    return Grid(f"{profile} run twins", tuple(out + dose), grid.extras)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--run-seeds", type=int, nargs="+", default=[3, 4])
    parser.add_argument("--dose-cell", type=int, default=1,
                        help="index of the grid cell whose rows get the dose extra")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    grid = twins(args.profile, tuple(args.run_seeds), args.dose_cell)
    start = time.perf_counter()
    table = run_sweep(grid, max_parallel=args.jobs, progress=False, on_cell=print)
    wall = time.perf_counter() - start
    done = table[table["status"] == "run"]
    kind = done["method"].map(lambda m: "dose-response extra" if m.endswith(" dose") else
                              "EC runs" if "ec~" in m else "+CMF@A runs" if "cmf" in m
                              else "[A]'s five runs (with relearning)")
    print(done.groupby(kind)["wall_seconds"].agg(["count", "sum"]).round(1).to_string())
    print(f"rows run: {len(done)} of {len(table)}; failed: {(table['status'] == 'failed').sum()}")
    print(f"wall on {args.jobs} workers: {wall:.0f} s; ratio to the 12-min budget: "
          f"{wall / BUDGET:.2f}")


if __name__ == "__main__":
    main()
