"""Command-line interface: ``illusion train | evaluate | unlearn | methods | sweep | audit |
results | cache``.

Bad input (unknown dataset or profile, a class out of range, missing data with no network, a
bad grid file) exits with status 2 and one line on stderr, never a traceback. ``sweep`` exits
with status 1 when a cell failed, after writing the results; a failed write (no space left,
a read-only or failing disk) exits 1 with one line, and leaves no partial artifact.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .audit.command import add_parser as add_audit  # its own module: illusion.audit
from .bundle import add_parser as add_cache  # illusion cache export | import
from .contract import add_parser as add_results  # illusion results
from .cache import ArtifactCache
from .data import DataUnavailable, known_num_classes
from .data import available as available_datasets
from .dryrun import dry_grid, kinds_only
from .catalog import check_forget
from .evaluation import evaluate, evaluate_checkpoint
from .gridfile import resolve_grid
from .methods import available, resolve_method
from .pipeline import (cached_features, split_accuracies, train_or_load,
                       unlearn_or_load)
from .profiles import get_profile
from .sweep import results_path, run_sweep, write_results

__all__ = ["main"]


def _train(args: argparse.Namespace) -> dict:
    start = time.perf_counter()
    tm = train_or_load(args.dataset, args.profile, args.seed, args.forget or (),
                       progress=not args.no_progress)
    return {"model": tm.kind, "dataset": tm.data.name, "profile": args.profile,
            "seed": args.seed, "forget": list(tm.splits.forget_classes),
            "accuracy": split_accuracies(tm), "seconds": round(tm.seconds, 3),
            "wall_seconds": round(time.perf_counter() - start, 3), "cached": tm.cached}


def _print_train(record: dict) -> None:
    acc = record["accuracy"]
    state = "loaded from cache" if record["cached"] else f"trained in {record['seconds']:.1f} s"
    print(f"{record['model']} {record['dataset']} profile={record['profile']} "
          f"seed={record['seed']} forget={record['forget']} ({state})")
    for split, value in acc.items():
        print(f"  {split:<13} {value:6.2f} %" if value == value else f"  {split:<13}    n/a")


def _evaluate(args: argparse.Namespace) -> dict:
    start = time.perf_counter()
    forget = args.forget or []
    if args.checkpoint is not None:
        if args.dataset is None:
            raise ValueError("--checkpoint needs --dataset (e.g. imagefolder:PATH)")
        record = evaluate_checkpoint(args.checkpoint, args.dataset, args.arch, args.width,
                                     forget, args.per_class, args.seed, not args.no_probe)
        record["model"] = "checkpoint"
    else:
        tm = train_or_load(args.dataset, args.profile, args.seed,
                           forget if args.model == "retrain" else (),
                           progress=not args.no_progress)
        # the loaded data's own class count (a dataset the command line could not size)
        check_forget(forget, tm.data.num_classes, tm.data.name, empty_ok=True)
        record = {"model": args.model, "dataset": tm.data.name, "profile": args.profile,
                  "seed": args.seed, "forget": sorted(forget),
                  **evaluate(tm.model, tm.data, tm.splits.train, forget, args.seed,
                             not args.no_probe, cached_features(tm))}
    record["seconds"] = round(time.perf_counter() - start, 3)
    return record


def _unlearn(args: argparse.Namespace) -> dict:
    if not args.forget:
        raise ValueError("--forget needs at least one class")
    hparams = dict(_parse_setting(s) for s in args.set)
    tm = unlearn_or_load(args.dataset, args.profile, args.seed, args.forget, args.method,
                         hparams, progress=not args.no_progress)
    rec = evaluate(tm.model, tm.data, tm.splits.train, tm.splits.forget_classes, args.seed,
                   features=cached_features(tm))
    acc = rec["accuracy"]
    return {"method": args.method, "dataset": tm.data.name, "profile": args.profile,
            "seed": args.seed, "forget": list(tm.splits.forget_classes),
            "accuracy": {"output": acc["output"],
                         "probe": {k: acc["probe"][k] for k in ("test_retain", "test_forget")},
                         "ncc": acc["ncc"]},
            "mia_efficacy": rec["mia_efficacy"], "seconds": round(tm.seconds, 3),
            "cached": tm.cached}


def _sweep(args: argparse.Namespace) -> dict:
    grid = resolve_grid(args.grid)
    start = time.perf_counter()
    if args.dry_run:
        return _dry_sweep(grid, args, start)
    terminal = sys.stderr.isatty()
    table = run_sweep(grid, args.address, args.max_parallel,
                      progress=not args.quiet and terminal,
                      log=lambda line: tqdm.write(f"illusion: {line}", file=sys.stderr),
                      on_cell=None if args.quiet or terminal else
                      lambda line: print(f"illusion: {line}", file=sys.stderr, flush=True))
    out, summary = write_results(table, args.out or results_path(grid.name))
    counts = table.attrs["counts"]
    return {"grid": grid.name, "rows": len(table), **counts, "out": str(out),
            "summary": str(summary), "wall_seconds": round(time.perf_counter() - start, 3),
            "exit_status": 1 if counts["failed"] else 0}


def _dry_sweep(grid, args: argparse.Namespace, start: float) -> dict:
    """``sweep --dry-run``: the grid's cells (``kinds``: one seed, one single- and one
    multi-class forget set) on synthetic data with capped step counts (:mod:`illusion.dryrun`),
    in a temporary cache deleted afterwards; results are kept only when ``--out`` names a file."""
    grid = dry_grid(kinds_only(grid) if args.dry_run == "kinds" else grid)
    with tempfile.TemporaryDirectory(prefix="illusion-dry-run-") as tmp:
        table = run_sweep(grid, args.address, args.max_parallel,
                          progress=not args.quiet and sys.stderr.isatty(),
                          cache=ArtifactCache(tmp),
                          log=lambda line: tqdm.write(f"illusion: {line}", file=sys.stderr))
    out, summary = write_results(table, args.out) if args.out else ("not kept", "not kept")
    counts = table.attrs["counts"]
    return {"grid": grid.name, "rows": len(table), **counts, "out": str(out),
            "summary": str(summary), "wall_seconds": round(time.perf_counter() - start, 3),
            "exit_status": 1 if counts["failed"] else 0}


def _print_sweep(record: dict) -> None:
    print(f"{record['rows']} rows: {record['run']} run, {record['cached']} cached, "
          f"{record['failed']} failed ({record['wall_seconds']:.1f} s)")
    print(f"results: {record['out']}\nsummary: {record['summary']}")


def _parse_setting(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` with VALUE parsed as JSON when possible (numbers, true/false)."""
    if "=" not in text:
        raise ValueError(f"--set expects KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _print_unlearn(record: dict) -> None:
    state = "cached" if record["cached"] else f"{record['seconds']:.1f} s"
    print(f"{record['method']} on {record['dataset']} forget={record['forget']} ({state})")
    print(f"  {'readout':<8} {'test retain':>12} {'test forget':>12}")
    for name, acc in record["accuracy"].items():
        print(f"  {name:<8} {_pct(acc['test_retain']):>12} {_pct(acc['test_forget']):>12}")
    print(f"  MIA-efficacy {_pct(record['mia_efficacy'])}")


def _method_names() -> list[str]:
    return available()


def _print_evaluate(record: dict) -> None:
    print(f"{record['model']} {record['dataset']} forget={record['forget']}")
    print(f"  {'readout':<8} {'test retain':>12} {'test forget':>12}")
    for name, acc in record["accuracy"].items():
        print(f"  {name:<8} {_pct(acc['test_retain']):>12} {_pct(acc['test_forget']):>12}")
    print(f"  MIA-efficacy {_pct(record['mia_efficacy'])}, loss-MIA {_pct(record['mia_loss'])}")
    nc = record["neural_collapse"]["all"]
    print("  neural collapse: " + ", ".join(f"{k.upper()} {v:.3f}" for k, v in nc.items()))


def _pct(value: float) -> str:
    return "n/a" if value != value else f"{value:.2f} %"


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default=None,
                   help="fashion_mnist, cifar10, cifar100 or imagefolder:PATH "
                        "(default: the profile's)")
    p.add_argument("--profile", default="cpu", help="smoke, cpu (default) or paper")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (its default prints the usage block first); sub-command
    parsers inherit it."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="illusion", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train or load the original model (Retrain with --forget)")
    _common(train)
    train.add_argument("--forget", type=int, nargs="*", default=None, metavar="CLASS",
                       help="forget these classes: trains Retrain on the others")
    train.set_defaults(run=_train, show=_print_train)
    ev = sub.add_parser("evaluate", help="every metric of a cached model or of your checkpoint")
    _common(ev)
    ev.add_argument("--forget", type=int, nargs="*", default=None, metavar="CLASS",
                    help="classes reported as 'forget'")
    ev.add_argument("--model", choices=("original", "retrain"), default="original",
                    help="which cached model (retrain: trained without the forget classes)")
    ev.add_argument("--checkpoint", default=None,
                    help="evaluate your own state dict instead (needs --dataset)")
    ev.add_argument("--arch", default="resnet18", help="architecture of --checkpoint")
    ev.add_argument("--width", type=int, default=64, help="width of --checkpoint's model")
    ev.add_argument("--per-class", type=int, default=None,
                    help="training images per class used for probes and class means")
    ev.add_argument("--no-probe", action="store_true", help="skip the linear probe")
    ev.set_defaults(run=_evaluate, show=_print_evaluate)
    un = sub.add_parser("unlearn", help="unlearn classes from the cached original and evaluate")
    _common(un)
    un.add_argument("--forget", type=int, nargs="+", required=True, metavar="CLASS")
    un.add_argument("--method", required=True,
                    help="an unlearning method (see `illusion methods`)")
    un.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a hyperparameter of the profile's config (repeatable)")
    un.set_defaults(run=_unlearn, show=_print_unlearn)
    ls = sub.add_parser("methods", help="list the unlearning methods")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(run=lambda args: {"methods": _method_names()},
                    show=lambda rec: print("\n".join(rec["methods"])))
    sw = sub.add_parser("sweep", help="run every row of a grid YAML on Ray (cached rows skip)")
    sw.add_argument("grid", help="grid file, e.g. grids/smoke.yaml (format: illusion.gridfile), "
                                 "or book:PROFILE, the rows the book's pages read")
    sw.add_argument("--address", default=None,
                    help="Ray cluster to join (auto, ray://HOST:10001); default: local Ray")
    sw.add_argument("--max-parallel", type=int, default=None, metavar="N",
                    help="at most N tasks in flight (and N CPUs for local Ray)")
    sw.add_argument("--out", default=None,
                    help="results CSV (default: $ILLUSION_CACHE/sweeps/<name>.csv)")
    sw.add_argument("--quiet", action="store_true", help="no progress bar")
    sw.add_argument("--json", action="store_true", help="print one JSON object")
    sw.add_argument("--dry-run", nargs="?", const="all", choices=("all", "kinds"), default=None,
                    help="run the rows on a small synthetic twin of each dataset with one or "
                         "two steps per phase, in a temporary cache (illusion.dryrun); kinds: "
                         "only the first seed and one single- and one multi-class forget set")
    sw.set_defaults(run=_sweep, show=_print_sweep)
    add_audit(sub)
    add_results(sub)
    add_cache(sub)
    return parser


# A write that fails for want of space or a working disk is not bad input: exit 1, one line
WRITE_FAILURES = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _check_args(args)
        record = args.run(args)
    except OSError as exc:
        if exc.errno not in WRITE_FAILURES:  # a missing or unreadable input: bad input
            print(f"illusion: error: {' '.join(str(exc).split())}", file=sys.stderr)
            return 2
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"illusion: error: {os.strerror(exc.errno).lower()}{where}: a write failed; "
              "no partial artifact was kept, the finished ones are: free space (or fix the "
              "disk) and run the command again", file=sys.stderr)
        return 1
    except (KeyError, ValueError, DataUnavailable) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"illusion: error: {' '.join(str(message).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("illusion: interrupted; no partial artifact was written "
              "(training resumes from its last epoch checkpoint)", file=sys.stderr)
        return 130
    status = record.pop("exit_status", 0)
    record.pop("test_predictions", None)  # 10k predictions per readout: the cache keeps them
    if args.json:
        print(json.dumps(_nan_to_none(record), allow_nan=False))
    else:
        args.show(record)
    return status


def _check_args(args: argparse.Namespace) -> None:
    """Every argument a command reads, checked before any data is loaded or model trained
    (``ValueError`` / ``KeyError``, one line); the commands' own checks follow later."""
    for name in ("width", "per_class", "test_per_class", "image_size", "max_parallel"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    seed = getattr(args, "seed", None)
    if seed is not None and not 0 <= seed < 2**63:
        raise ValueError(f"--seed must be in 0..2**63-1, got {seed}")
    if getattr(args, "profile", None) is not None and hasattr(args, "dataset"):
        dataset = args.dataset or get_profile(args.profile).dataset
        if known_num_classes(dataset) is None:  # before any data is read
            raise ValueError(
                f"unknown dataset {dataset!r}; choose from {', '.join(available_datasets())}"
                if not dataset.startswith("imagefolder:") else
                f"--dataset {dataset}: no such folder with class sub-folders under train/")
        # the forget set is checked here, once, where it enters (illusion.catalog)
        if getattr(args, "forget", None) is not None:
            args.forget = list(check_forget(args.forget, known_num_classes(dataset), dataset,
                                            empty_ok=True))
    if getattr(args, "method", None) is not None and hasattr(args, "set"):
        resolve_method(args.method, args.profile, dict(_parse_setting(s) for s in args.set))
    if getattr(args, "checkpoint", None) is not None:
        _check_checkpoint(Path(args.checkpoint))
    if args.command == "sweep" and args.out is not None and Path(args.out).is_dir():
        raise ValueError(f"--out {args.out} is a directory; name a .csv file")  # audit: a dir


def _check_checkpoint(path: Path) -> None:
    """A readable state dict (``torch.load(weights_only=True)``: names -> tensors, maybe under
    ``"state_dict"``), or ``ValueError``."""
    if not path.is_file():
        raise ValueError(f"--checkpoint {path}: " + ("not a regular file" if path.exists()
                                                     else "no such file"))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 (a text file raises IndexError, a zip OSError...)
        raise ValueError(f"--checkpoint {path} is not a PyTorch checkpoint "
                         f"({type(exc).__name__})") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict) or not state or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise ValueError(f"--checkpoint {path} holds no state dict (parameter names -> tensors)")


def _nan_to_none(value):
    """JSON has no NaN: an accuracy over an empty split becomes ``null``."""
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, float) and value != value:
        return None
    return value


if __name__ == "__main__":
    sys.exit(main())
