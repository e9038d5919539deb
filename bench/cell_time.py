"""What one cell of the book costs on this machine's device, one row after another, no Ray.

Computes every row the book declares in one (seed, forget set) cell of a profile's grid (the
same rows ``bench/jobs_scaling.py`` sweeps), in the grid's order, with
:func:`illusion.rows.run_row` in this process, on :func:`illusion.pipeline.default_device`
(the GPU where there is one), into an artifact cache that starts empty unless ``--cache`` names
one. The seed's original model is built first and timed apart (every cell of the seed shares
it; the CMF original is built by the first row that needs it, in that row's time). Prints the
device, one line per row (its label, seconds, cached or built, or the error, after which the
next row runs), the total, and the self seconds of each artifact kind this run built, from
the cache's build log. This is the number a user of one GPU multiplies by the grid's cells;
``bench/book_time.py`` times the whole book through ``make``'s sweep instead.

    .venv/bin/python bench/cell_time.py --profile cpu --cell 1
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--cell", type=int, default=1, help="index into the profile's cells")
    ap.add_argument("--cache", type=Path, default=None,
                    help="artifact cache to use (default: a fresh temporary one)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N rows")
    args = ap.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        print("cell_time: --limit must be at least 1", file=sys.stderr)
        return 2
    if args.cache is not None and args.cache.exists() and not args.cache.is_dir():
        print(f"cell_time: --cache {args.cache} is not a folder", file=sys.stderr)
        return 2
    from illusion.book import book_grid, grid_cells
    from illusion.cache import ArtifactCache, build_log
    from illusion.rows import run_row
    from illusion.pipeline import default_device, train_or_load
    try:
        cells = grid_cells(args.profile)
    except KeyError as exc:
        print(f"cell_time: {exc.args[0]}", file=sys.stderr)
        return 2
    if not 0 <= args.cell < len(cells):
        print(f"cell_time: --cell must be in 0..{len(cells) - 1}, got {args.cell}",
              file=sys.stderr)
        return 2
    seed, forget = cells[args.cell]
    grid = book_grid(args.profile, cells=cells)
    rows = [c for c in grid.rows if (c.seed, c.forget) == (seed, forget)][:args.limit]
    device = default_device()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    with tempfile.TemporaryDirectory(prefix="cell-time-") as tmp:
        root = args.cache or Path(tmp)
        cache = ArtifactCache(root)
        print(f"{args.profile} cell {args.cell} (seed {seed}, forget {list(forget)}): "
              f"{len(rows)} rows on {device} ({name}), torch {torch.__version__}, "
              f"{torch.get_num_threads()} CPU threads, cache {root}", flush=True)
        began = time.time()  # the build log's clock: only this run's builds are summed
        start = time.perf_counter()
        train_or_load(profile=args.profile, seed=seed, cache=cache, progress=False)
        originals = time.perf_counter() - start
        print(f"original model(s) of seed {seed}: {originals:.1f} s", flush=True)
        failed = 0
        cell_start = time.perf_counter()
        for i, cell in enumerate(rows, 1):
            t = time.perf_counter()
            try:
                _, cached = run_row(cell, grid.extras, cache)
                status = "cached" if cached else "built"
            except Exception as exc:  # report it and go on: one broken row is one finding
                failed += 1
                status = f"FAILED {type(exc).__name__}: {exc}"
                traceback.print_exc()
            print(f"[{i}/{len(rows)}] {cell.label}: {time.perf_counter() - t:.1f} s, {status}",
                  flush=True)
        seconds = time.perf_counter() - cell_start
        print(f"cell: {seconds:.1f} s for {len(rows)} rows ({failed} failed); with the "
              f"originals {seconds + originals:.1f} s")
        by_kind: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
        for entry in (e for e in build_log(root) if e.get("time", began) >= began):
            by_kind[entry["kind"]][0] += 1
            by_kind[entry["kind"]][1] += entry.get("self_seconds", entry["seconds"])
        for kind, (n, self_seconds) in sorted(by_kind.items(), key=lambda kv: -kv[1][1]):
            print(f"  {kind}: {self_seconds:.1f} s self over {n} build(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
