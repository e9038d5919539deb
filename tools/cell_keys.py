"""Print (or check) the cache key of every cell of a grid: ``{cell: key}`` as JSON.

A refactor that must leave the artifact cache valid (issue "A layout a newcomer can live in")
is checked by comparing these keys before and after::

    python tools/cell_keys.py book:cpu > before.json   # on the old commit
    python tools/cell_keys.py book:cpu | diff before.json -

``tests/test_layout.py`` compares the book grids' keys with ``tests/snapshots/cell_keys.json``;
``--write`` regenerates that file after a change that is *meant* to change what decides a cell
(a new metric version, a new row), so that the diff shows in review.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from illusion.cache import spec_key
from illusion.rows import KIND, row_spec
from illusion.gridfile import resolve_grid

SNAPSHOT = Path(__file__).resolve().parents[1] / "tests" / "snapshots" / "cell_keys.json"
SNAPSHOT_GRIDS = ("book:smoke", "book:cpu", "book:paper")


def cell_keys(grid_name: str) -> dict[str, str]:
    """``{"seed=S forget=F label": key}`` of every cell of the grid, in grid order."""
    grid = resolve_grid(grid_name)
    return {f"seed={c.seed} forget={'+'.join(map(str, c.forget))} {c.label}":
            spec_key(KIND, row_spec(c, grid.extras)) for c in grid.rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("grids", nargs="*", default=list(SNAPSHOT_GRIDS),
                        help="grid names or files (default: the book grids)")
    parser.add_argument("--write", action="store_true",
                        help="write the book grids' keys to tests/snapshots/cell_keys.json")
    args = parser.parse_args(argv)
    try:
        keys = {g: cell_keys(g) for g in args.grids}
    except ValueError as exc:  # a bad grid name or file: one line, exit 2
        print(f"cell_keys: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(keys, indent=1) + "\n"
    if args.write:
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
