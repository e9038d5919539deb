"""What a smaller ``cpu`` recipe would save (issue 35, item 4): one later cell, two recipes.

The cold ``cpu`` book is over its 30-minute budget with every later-cell row one a headline
reads, so what is left is the recipes'. This bench measures one candidate on one cell: the
``cpu`` profile with fewer training images per class (``--per-class``, default 250 of 500),
which shrinks every kind of work that reads the training set (training, unlearning,
relearning's retain images, probes, class means) but not the test-set evaluations.

Each arm computes the book's rows of the cell (``--cell``, default 1: the grid's typical later
cell, 16 rows) into a fresh cache, in its own process on one thread, both arms at once (one
core each on a 2-core machine): ``baseline`` at the profile's recipe, ``smaller`` at
``--per-class``. The per-seed models every cell starts from (the original and the CMF
original) are built first and not timed: the baseline copies them from ``--from-cache`` when it
holds them, the smaller arm trains its own. Prints each arm's seconds for the cell's rows, the
ratio smaller / baseline, and the cell's headline quantities under both recipes (each
method's output and probe test-forget and output test-retain accuracy), so that what the
saving costs is beside it. Nothing here changes the profile: the smaller recipe lives in the
arm's process only.

    .venv/bin/python bench/recipe_cut.py --from-cache artifacts
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ("original", "cmf_original")
SHOWN = ("output_test_forget", "probe_test_forget", "output_test_retain")


def arm(profile: str, cell: int, per_class: int | None, cache_dir: Path) -> dict:
    """The cell's rows at the profile's recipe (``per_class`` None) or a smaller one, in
    this process, one thread: seconds of the rows (the per-seed start models first, untimed)
    and each row's shown columns."""
    import torch

    from illusion import profiles
    from illusion.book import book_grid, grid_cells
    from illusion.cache import ArtifactCache
    from illusion.pipeline import STARTS, train_or_load
    from illusion.rows import run_row, start_of

    torch.set_num_threads(1)
    if per_class is not None:
        base = profiles.PROFILES[profile]
        profiles.PROFILES[profile] = dataclasses.replace(
            base, train=dataclasses.replace(base.train, per_class=per_class))
    cells = grid_cells(profile)
    grid = book_grid(profile, cells=cells)
    rows = [r for r in grid.rows if (r.seed, r.forget) == cells[cell]]
    cache = ArtifactCache(cache_dir)
    original = train_or_load(rows[0].dataset, profile, rows[0].seed, (), cache, progress=False)
    for start in sorted({start_of(r) for r in rows} - {"original"}):
        STARTS[start](original, profile, cache, False)
    seconds, shown = {}, {}
    began = time.perf_counter()
    for row in rows:
        t = time.perf_counter()
        out = run_row(row, grid.extras, cache)[0]
        seconds[row.label] = round(time.perf_counter() - t, 2)
        shown[row.label] = {k: out.get(k) for k in SHOWN}
    return {"seconds": round(time.perf_counter() - began, 2), "rows": seconds, "shown": shown,
            "per_class": profiles.get_profile(profile).train.per_class}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--cell", type=int, default=1, help="index into the profile's cells")
    ap.add_argument("--per-class", type=int, default=250)
    ap.add_argument("--from-cache", type=Path, default=None,
                    help="a cache holding the baseline's per-seed start models")
    ap.add_argument("--arm", choices=("baseline", "smaller"), help=argparse.SUPPRESS)
    ap.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.per_class < 1:
        print("recipe_cut: --per-class must be at least 1", file=sys.stderr)
        return 2
    if args.arm:  # one arm, in its own process
        result = arm(args.profile, args.cell,
                     None if args.arm == "baseline" else args.per_class, args.cache)
        print(json.dumps(result))
        return 0
    with tempfile.TemporaryDirectory(prefix="recipe-cut-") as tmp:
        procs = {}
        for name in ("baseline", "smaller"):
            cache = Path(tmp) / name
            cache.mkdir()
            if name == "baseline" and args.from_cache is not None:
                for kind in SHARED:
                    if (args.from_cache / kind).is_dir():
                        shutil.copytree(args.from_cache / kind, cache / kind)
            procs[name] = subprocess.Popen(
                [sys.executable, __file__, "--profile", args.profile, "--cell", str(args.cell),
                 "--per-class", str(args.per_class), "--arm", name, "--cache", str(cache)],
                cwd=ROOT, stdout=subprocess.PIPE, text=True)
        results = {}
        for name, proc in procs.items():
            out, _ = proc.communicate()
            if proc.returncode:
                print(f"recipe_cut: the {name} arm failed", file=sys.stderr)
                return 1
            results[name] = json.loads(out.strip().splitlines()[-1])
    base, small = results["baseline"], results["smaller"]
    print(f"cell {args.cell} of {args.profile}, {len(base['rows'])} rows, one thread per arm")
    print(f"baseline ({base['per_class']} img/class): {base['seconds']:.0f} s; smaller "
          f"({small['per_class']} img/class): {small['seconds']:.0f} s; ratio "
          f"{small['seconds'] / base['seconds']:.2f}")
    print(f"{'row':28s} {'s':>7s} {'s small':>8s}  " + "  ".join(
        f"{c:>22s}" for c in SHOWN))
    for label in base["rows"]:
        b, s = base["shown"][label], small["shown"][label]
        cols = "  ".join(f"{_num(b[c]):>10s} -> {_num(s[c]):<9s}" for c in SHOWN)
        print(f"{label:28s} {base['rows'][label]:7.1f} {small['rows'][label]:8.1f}  {cols}")
    return 0


def _num(v) -> str:
    return "-" if v is None or v != v else f"{float(v):.1f}"


if __name__ == "__main__":
    sys.exit(main())
