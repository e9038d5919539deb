"""Execute the claim notebooks (Jupytext py:percent) with papermill.

Each ``notebooks/NN_*.py`` is converted to ``.ipynb``, executed with the ``profile`` parameter
(and any ``-p NAME VALUE`` given here) and written to ``--out``. The result goes to a temporary
file first and is promoted only when execution succeeds, so a failed or interrupted run never
leaves a half-executed page behind. ``--prepare-only`` injects the parameters without executing
(for nbval, which executes the notebooks itself). ``--stage-book DIR`` copies the book's
sources (``_config.yml``, ``_toc.yml``, ``book/*.{md,bib,svg}``) to ``DIR`` and writes
the executed notebooks to ``DIR/book/notebooks``, so that a book of another profile (the smoke
book CI builds and browser-checks) never overwrites ``book/notebooks``.

Pages never build (``illusion.book``): a row or extra the sweep did not store raises
``NotBuilt``. So, before executing, this script sweeps the grid of every page it runs, for the
parameters it runs them with (``illusion.book.PageReader.grid``; cached rows cost nothing):
``-p forget "[3]"`` gets its models built first. ``--no-builds`` skips that sweep (``make book``
and ``make test`` have just swept the book's grid) and fails the run when the notebooks built
any artifact anyway (a new line in the cache's ``builds.jsonl``).

``--jobs N`` executes N notebooks at a time (each kernel then gets ``cores / N`` BLAS/OpenMP
threads). They share the artifact cache, whose locks make an artifact needed by two notebooks
be built once; ``make book`` first fills that cache with ``illusion sweep book:<profile>``,
so the notebooks mostly read. A failing notebook does not stop the others; the run exits 1
and names it.

The claim pages publish their verdicts (``illusion.book.publish``) and the summary page
(``11_summary``) collects them (``illusion.book.collect``): :func:`stages` runs the summary
only after every other notebook of the run has finished. Every notebook of a run publishes to
one directory, ``$ILLUSION_RESULTS`` (when set) or ``build/results/<profile>`` under the
repository root, which the run exports as ``ILLUSION_RESULTS`` to its kernels
(:func:`prepare_results`). A run that executes a claim page first clears the verdicts there,
so that a verdict the run did not compute never shows; a run of the summary alone reads what
the last run left; ``--prepare-only`` neither clears nor exports anything.

A run of every page with the profile's own grid (or any run given ``--results-file``) also
writes the build's results, ``_build/results/<profile>.json`` (``illusion.contract``: the
numbers the pages recorded, their verdicts, the artifacts they read), before the collectors
run; the Reproduction page compares it with ``reference/<profile>.json``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

import jupytext
import nbformat
import papermill
from traitlets.config import Config

from illusion.book import PAGES, grid_cells, page
from illusion.book.numbers import NUMBERS_DIR, UNITS_DIR
from illusion.book.results import RESULTS_ENV, clean_results
from illusion.cache import READS_ENV
from illusion.contract import BUILD_RESULTS_ENV, assemble, build_results_path, write_json
from illusion.rows import Grid
from illusion.sweep import run_sweep
from illusion.cache import build_log
from illusion.catalog import ForgetSet, cell_label
from illusion.profiles import get_profile

ROOT = Path(__file__).resolve().parents[1]
# the pages that collect what the others published: executed once all the others have finished
COLLECTORS = frozenset({PAGES["summary"].notebook, PAGES["reproduction"].notebook})
READS_NAME = "reads.txt"  # under the results directory: every artifact the pages loaded


def stages(sources: list[Path]) -> list[list[Path]]:
    """The notebooks of a run in the batches they execute in, one batch after the other (the
    notebooks of a batch in parallel, in the given order): every page that computes, then the
    pages that collect their verdicts (:data:`COLLECTORS`). Empty batches are left out."""
    computing = [s for s in sources if s.stem not in COLLECTORS]
    collecting = [s for s in sources if s.stem in COLLECTORS]
    return [batch for batch in (computing, collecting) if batch]


def prepare_results(profile: str, sources: list[Path], prepare_only: bool,
                    environ=os.environ) -> Path | None:
    """The directory every notebook of this run publishes its verdicts to and the summary
    reads them from: ``environ[ILLUSION_RESULTS]`` when set, else ``build/results/<profile>``
    under the repository root; set in ``environ`` (the kernels inherit it). When the run
    executes a page that is not a collector, the verdicts already there are removed first
    (:func:`illusion.book.results.clean_results`): a stale verdict never shows. ``None``, and
    nothing cleared or set, for ``--prepare-only`` (nbval executes those notebooks later)."""
    if prepare_only:
        return None
    given = environ.get(RESULTS_ENV, "").strip()
    results = (Path(given) if given else ROOT / "build" / "results" / profile).resolve()
    if any(s.stem not in COLLECTORS for s in sources):
        clean_results(results)
        shutil.rmtree(results / NUMBERS_DIR, ignore_errors=True)
        shutil.rmtree(results / UNITS_DIR, ignore_errors=True)  # a stale declared unit
        (results / READS_NAME).unlink(missing_ok=True)
    results.mkdir(parents=True, exist_ok=True)
    environ[RESULTS_ENV] = str(results)
    environ[READS_ENV] = str(results / READS_NAME)  # the artifacts the pages read
    return results


def write_build_results(profile: str, results: Path, target: Path, cells=None) -> Path:
    """The build's results file (:func:`illusion.contract.assemble`) at ``target``, from what
    the claim pages published to ``results`` and the artifacts they read, over ``cells``."""
    saved = os.environ.pop(READS_ENV, None)  # assembling reads rows; those are not the pages'
    try:
        return write_json(target, assemble(results, profile, cells=cells))
    finally:
        if saved is not None:
            os.environ[READS_ENV] = saved


def execute(source: Path, out_dir: Path, parameters: dict, prepare_only: bool) -> float:
    """Run one notebook; return its wall time in seconds."""
    nb = jupytext.read(source)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    target = out_dir / f"{source.stem}.ipynb"
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp, \
            tempfile.TemporaryDirectory(prefix="kernel-") as sockets:
        src, dst = Path(tmp) / "in.ipynb", Path(tmp) / target.name
        nbformat.write(nb, src)
        papermill.execute_notebook(str(src), str(dst), parameters=parameters,
                                   prepare_only=prepare_only, kernel_name="python3",
                                   cwd=str(ROOT), progress_bar=False,
                                   config=kernel_config(Path(sockets)))
        if not prepare_only:  # the page as readers get it
            nbformat.write(for_readers(nbformat.read(dst, as_version=4), source, parameters),
                           dst)
        os.replace(dst, target)
    return time.perf_counter() - start


def page_grid(sources: list[Path], parameters: dict) -> Grid:
    """Every row the pages of ``sources`` read when executed with ``parameters`` (over their
    own defaults), once each: the grid this script sweeps before executing them."""
    by_notebook = {p.notebook: name for name, p in PAGES.items()}
    cells: dict = {}
    for source in sources:
        values = {**_defaults(jupytext.read(source)), **parameters}
        args = {k: values.get(k) for k in ("dataset", "seed", "forget", "forget_sets", "seeds")}
        reader = page(by_notebook[source.stem], values.get("profile", "cpu"), **args)
        for cell in reader.grid().rows:
            cells.setdefault((cell.key, cell.extras), cell)
    return Grid(f"{parameters.get('profile', 'cpu')} pages", tuple(cells.values()),
                reader.grid().extras)


def kernel_config(sockets: Path) -> Config:
    """The kernel's channels as Unix sockets in ``sockets``, not TCP on localhost: ipykernel
    warns at every start over TCP ("Kernel is running over TCP without encryption ... Use IPC
    transport ..."), and a socket in a directory only this user can enter needs no encryption.
    ``sockets`` is a fresh directory of its own per kernel (two kernels never pick the same
    socket names) with a short path (a socket's path has at most 107 bytes)."""
    return Config({"KernelManager": {"transport": "ipc", "ip": str(sockets / "ipc")}})


def _defaults(nb) -> dict:
    """The values of the notebook's ``parameters`` cell (its defaults)."""
    names: dict = {}
    for cell in nb.cells:
        if "parameters" in cell.metadata.get("tags", []):
            exec(cell.source, {}, names)  # the notebook's own assignments, nothing else
    return names


def run_line(values: dict) -> str:
    """One line naming what a page was executed with: the profile, and the (seed, forget set)
    cells of its grid when the page has such parameters."""
    profile = values.get("profile", "cpu")
    dataset = values.get("dataset") or get_profile(profile).dataset
    line = f"Executed with profile `{profile}` on `{dataset}`"
    if "seed" not in values:
        return line + "."
    cells = grid_cells(profile, values.get("seed"), values.get("forget"),
                       values.get("forget_sets"), values.get("seeds"))
    seeds = sorted({s for s, _ in cells})
    if "forget" not in values:  # a page of the original model only
        return line + f", seed{'s' * (len(seeds) > 1)} {', '.join(map(str, seeds))}."
    sets = list(dict.fromkeys(ForgetSet(f).braces for _, f in cells))
    if len(cells) != len(seeds) * len(sets):  # not every seed with every set: name each cell
        return (line + f": {len(cells)} (seed, forget set) cells: "
                + "; ".join(cell_label(s, f) for s, f in cells) + ".")
    return (line + f": {len(cells)} (seed, forget set) cell{'s' * (len(cells) > 1)}, "
            f"seed{'s' * (len(seeds) > 1)} {', '.join(map(str, seeds))}, "
            f"forget set{'s' * (len(sets) > 1)} {', '.join(sets)}.")


def for_readers(nb, source: Path, parameters: dict):
    """The executed notebook as the book shows it: the parameters cells (the notebook's and
    papermill's) removed, one line saying what the page was executed with in their place, and
    a closing box with the command that re-runs the page and its Jupytext source to download."""
    defaults = _defaults(nb)
    values = {**defaults, **parameters}
    last = 0
    for i, cell in enumerate(nb.cells):
        tags = cell.metadata.setdefault("tags", [])
        if {"parameters", "injected-parameters"} & set(tags):
            tags.append("remove-cell")
            last = i
    nb.cells.insert(last + 1, nbformat.v4.new_markdown_cell(
        f"*{run_line(values)} [Re-run this page](#re-run-{source.stem}).*"))
    given = " ".join(f"-p {k} {shlex.quote(json.dumps(v) if not isinstance(v, str) else v)}"
                     for k, v in parameters.items())
    others = ", ".join(f"`{k}`" for k in defaults if k not in parameters)
    nb.cells.append(nbformat.v4.new_markdown_cell(f"""\
(re-run-{source.stem})=
:::{{admonition}} Re-run this page
:class: tip

From the repository root, after `make test` or `make book` has installed `.venv`:

```bash
.venv/bin/python tools/run_notebooks.py notebooks/{source.name} --out rerun {given}
```

It sweeps every model and artifact the page reads with these parameters (cached ones cost
nothing), then executes the page with papermill into `rerun/`. A page only reads: run by
papermill directly, it stops at the first artifact the sweep has not built, naming it.

The page's other parameters (`-p NAME VALUE`; defaults in its first code cell): {others}.
Download the page as a notebook with the download button at the top, or its Jupytext source:
{{download}}`{source.name} <../../notebooks/{source.name}>`.{_launch_note()}
:::
"""))
    return nb


def _launch_note() -> str:
    """What the launch buttons open, when the book has them (illusion.sphinxext)."""
    url = os.environ.get("ILLUSION_REPOSITORY_URL", "").strip().removesuffix("/")
    if not url:
        return ""
    return f"""

The rocket button at the top opens the page elsewhere. **Binder** runs its Jupytext source in
this repository's environment. **Colab** opens the executed page; its code needs the package
first: `%pip install "illusion[book] @ git+{url}"`. A page only reads the artifact cache, so
build what it reads first: `!illusion sweep book:smoke` takes minutes (then set `profile =
"smoke"` in its first code cell); `book:cpu` takes hours."""


def _worker_init(threads: int) -> None:
    """Kernels started from this worker inherit the thread count (they read it at start)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)


def stage_book(dest: Path) -> None:
    """Copy the book's sources (not its executed notebooks) to ``dest``."""
    (dest / "book").mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, dest / name)
    for path in sorted((ROOT / "book").iterdir()):
        if path.is_file() and path.suffix in {".md", ".bib", ".svg"}:
            shutil.copy2(path, dest / "book" / path.name)
    (dest / "notebooks").mkdir(exist_ok=True)  # the Jupytext sources the pages offer
    for path in sorted((ROOT / "notebooks").glob("[0-9]*.py")):
        shutil.copy2(path, dest / "notebooks" / path.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="default: every notebooks/[0-9]*.py")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--out", type=Path, default=ROOT / "book" / "notebooks")
    parser.add_argument("--prepare-only", action="store_true")
    parser.add_argument("--stage-book", type=Path, metavar="DIR",
                        help="copy the book sources to DIR and execute into DIR/book/notebooks")
    parser.add_argument("--jobs", "-j", type=int, default=1,
                        help="notebooks executed at a time (default 1)")
    parser.add_argument("--no-builds", action="store_true",
                        help="exit 1 when the notebooks built any artifact (illusion.book)")
    parser.add_argument("--results-file", type=Path, default=None, metavar="FILE",
                        help="write the build's results (illusion.contract) to FILE even for a "
                             "run of some pages or with -p seed/forget: comparable only with a "
                             "reference of the same pages and cells")
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
    if not args.no_builds and not args.prepare_only:  # the pages read; the sweep builds
        run_sweep(page_grid(sources, params), max_parallel=args.jobs)
    results = prepare_results(args.profile, sources, args.prepare_only)
    # a run of every page with the profile's own grid writes the build's results file
    # (illusion.contract), which the collectors (the Reproduction page) read
    # (a run of the Reproduction page alone reads the last such file)
    whole = results is not None and (args.results_file is not None
                                     or (not args.notebooks and not args.p))
    target = args.results_file or build_results_path(args.profile, args.stage_book or ROOT)
    os.environ[BUILD_RESULTS_ENV] = str(target.resolve())
    if whole:
        target.unlink(missing_ok=True)
    jobs = max(1, min(args.jobs, len(sources)))
    threads = max(1, (os.cpu_count() or 1) // jobs)
    times, failed = {}, []
    before = len(build_log())
    start = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(jobs, initializer=_worker_init,
                                                initargs=(threads,)) as pool:
        cells = grid_cells(args.profile, params.get("seed"), params.get("forget"),
                           params.get("forget_sets"), params.get("seeds"))
        written = False
        for batch in stages(sources):  # the summary once every other notebook has finished
            if whole and not failed and batch[0].stem in COLLECTORS:
                write_build_results(args.profile, results, target, cells)
                print(f"{'results':<32} {target}", flush=True)
                written = True
            running = {pool.submit(execute, source, args.out, params, args.prepare_only):
                       source for source in batch}
            for done in concurrent.futures.as_completed(running):
                name = running[done].name
                try:
                    times[name] = done.result()
                except Exception as exc:  # report, let the other notebooks finish
                    failed.append(name)
                    # papermill's error names the cell's exception (its text starts with a
                    # blank line); others: their first line
                    why = (f"{exc.ename}: {exc.evalue}" if hasattr(exc, "ename") else
                           next((line for line in str(exc).splitlines() if line.strip()), ""))
                    print(f"{name:<32}  FAILED: {type(exc).__name__}"
                          + (f": {why}" if why else ""), flush=True)
                    continue
                print(f"{name:<32} {times[name]:7.1f} s", flush=True)
    if whole and not failed and not written:  # a run without the collectors
        write_build_results(args.profile, results, target, cells)
        print(f"{'results':<32} {target}", flush=True)
    print(f"{'total (sum)':<32} {sum(times.values()):7.1f} s")
    print(f"{'wall':<32} {time.perf_counter() - start:7.1f} s")
    if failed:
        print(f"failed: {', '.join(sorted(failed))}", file=sys.stderr)
        return 1
    built = build_log()[before:]
    if args.no_builds and not args.prepare_only and built:
        kinds = sorted({b["kind"] for b in built})
        print(f"the notebooks built {len(built)} artifact(s) ({', '.join(kinds)}) that "
              "`illusion sweep book:PROFILE` did not: a page reads a cell its declaration in "
              "illusion.book.PAGES leaves out", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
