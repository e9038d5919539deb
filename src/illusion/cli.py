"""Command-line interface: ``illusion train ...``.

Bad input (unknown dataset or profile, a class out of range, missing data with no network)
exits with status 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from .data import DataUnavailable

__all__ = ["main"]


def _train(args: argparse.Namespace) -> dict:
    from .pipeline import split_accuracies, train_or_load

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="illusion", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train or load the original model (Retrain with --forget)")
    train.add_argument("--dataset", default=None,
                       help="fashion_mnist, cifar10, cifar100 or imagefolder:PATH "
                            "(default: the profile's)")
    train.add_argument("--profile", default="cpu", help="smoke, cpu (default) or paper")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--forget", type=int, nargs="*", default=None, metavar="CLASS",
                       help="forget these classes: trains Retrain on the others")
    train.add_argument("--json", action="store_true", help="print one JSON object")
    train.add_argument("--no-progress", action="store_true", help="hide progress bars")
    train.set_defaults(run=_train, show=_print_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        record = args.run(args)
    except (KeyError, ValueError, DataUnavailable) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"illusion: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("illusion: interrupted; no partial artifact was written "
              "(training resumes from its last epoch checkpoint)", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(_nan_to_none(record), allow_nan=False))
    else:
        args.show(record)
    return 0


def _nan_to_none(value):
    """JSON has no NaN: an accuracy over an empty split becomes ``null``."""
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, float) and value != value:
        return None
    return value


if __name__ == "__main__":
    sys.exit(main())
