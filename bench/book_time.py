"""Book build time: ``make book`` from an empty artifact cache, then the warm rebuild.

Runs exactly what ``make book`` runs (``tools/run_notebooks.py`` then ``jupyter-book build``
with warnings as errors), but into a staging directory (``--stage-book``) and with a fresh
``ILLUSION_CACHE``, so neither the repository's ``book/notebooks`` nor its ``artifacts/`` is
touched. The same build is then repeated on the now warm cache. Prints the seconds of every
notebook cold and warm, the book build, the totals, and each total as a ratio to its budget
(issue 7: cold <= 15 min, warm <= 90 s on the 2-core CI machine; ratio <= 1 meets it).

    .venv/bin/python bench/book_time.py                 # profile cpu, as make book
    .venv/bin/python bench/book_time.py --profile smoke # plumbing check, ~3 min
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET = {"cold": 15 * 60.0, "warm": 90.0}
LINE = re.compile(r"^(\S+\.py)\s+([\d.]+) s$")


def build(stage: Path, profile: str, env: dict) -> dict[str, float]:
    """One ``make book`` into ``stage``: seconds per notebook, for the book build and total."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "run_notebooks.py"),
                          "--profile", profile, "--stage-book", str(stage)],
                         env=env, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    times = {m[1]: float(m[2]) for m in map(LINE.match, out.splitlines()) if m}
    book = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", str(stage),
                    "--warningiserror", "--nitpick", "--keep-going", "--quiet"],
                   env=env, cwd=ROOT, check=True, capture_output=True)
    times["jupyter-book build"] = time.perf_counter() - book
    times["total"] = time.perf_counter() - start
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="book_time_") as tmp:
        env = {**os.environ, "ILLUSION_CACHE": str(Path(tmp) / "artifacts")}
        runs = {}
        for run in ("cold", "warm"):
            print(f"{run} build (profile {args.profile}) ...", file=sys.stderr, flush=True)
            runs[run] = build(Path(tmp) / run, args.profile, env)
    print(f"{'step':<34}{'cold s':>10}{'warm s':>10}")
    for step in runs["cold"]:
        print(f"{step:<34}{runs['cold'][step]:>10.1f}{runs['warm'].get(step, float('nan')):>10.1f}")
    for run in ("cold", "warm"):
        ratio = runs[run]["total"] / BUDGET[run]
        print(f"{run}: {runs[run]['total']:.0f} s / budget {BUDGET[run]:.0f} s = {ratio:.2f}"
              f" ({'within' if ratio <= 1 else 'OVER'} budget)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
