"""Execute the claim notebooks (Jupytext py:percent) with papermill.

Each ``notebooks/NN_*.py`` is converted to ``.ipynb``, executed with the ``profile`` parameter
(and any ``-p NAME VALUE`` given here) and written to ``--out``. The result goes to a temporary
file first and is promoted only when execution succeeds, so a failed or interrupted run never
leaves a half-executed page behind. ``--prepare-only`` injects the parameters without executing
(for nbval, which executes the notebooks itself). ``--stage-book DIR`` copies the book's
sources (``_config.yml``, ``_toc.yml``, ``book/*.{md,bib,svg}``) to ``DIR`` and writes
the executed notebooks to ``DIR/book/notebooks``, so that a book of another profile (the smoke
book CI builds and browser-checks) never overwrites ``book/notebooks``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import jupytext
import nbformat
import papermill

ROOT = Path(__file__).resolve().parents[1]


def execute(source: Path, out_dir: Path, parameters: dict, prepare_only: bool) -> float:
    """Run one notebook; return its wall time in seconds."""
    nb = jupytext.read(source)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    target = out_dir / f"{source.stem}.ipynb"
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        src, dst = Path(tmp) / "in.ipynb", Path(tmp) / target.name
        nbformat.write(nb, src)
        papermill.execute_notebook(str(src), str(dst), parameters=parameters,
                                   prepare_only=prepare_only, kernel_name="python3",
                                   cwd=str(ROOT), progress_bar=False)
        os.replace(dst, target)
    return time.perf_counter() - start


def stage_book(dest: Path) -> None:
    """Copy the book's sources (not its executed notebooks) to ``dest``."""
    (dest / "book").mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, dest / name)
    for path in sorted((ROOT / "book").iterdir()):
        if path.is_file() and path.suffix in {".md", ".bib", ".svg"}:
            shutil.copy2(path, dest / "book" / path.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="default: every notebooks/[0-9]*.py")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--out", type=Path, default=ROOT / "book" / "notebooks")
    parser.add_argument("--prepare-only", action="store_true")
    parser.add_argument("--stage-book", type=Path, metavar="DIR",
                        help="copy the book sources to DIR and execute into DIR/book/notebooks")
    parser.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="extra papermill parameter (VALUE parsed as JSON when possible)")
    args = parser.parse_args(argv)
    params = {"profile": args.profile}
    for name, value in args.p:
        try:
            params[name] = json.loads(value)
        except json.JSONDecodeError:
            params[name] = value
    sources = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9]*.py"))
    if args.stage_book:
        stage_book(args.stage_book)
        args.out = args.stage_book / "book" / "notebooks"
    args.out.mkdir(parents=True, exist_ok=True)
    times = {}
    for source in sources:
        times[source.name] = execute(source, args.out, params, args.prepare_only)
        print(f"{source.name:<32} {times[source.name]:7.1f} s", flush=True)
    print(f"{'total':<32} {sum(times.values()):7.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
