"""``illusion audit MODEL --data DATA --forget C...``: the command line of the audit.

This is the audit's only module with side effects: it reads the model files and the data,
trains or loads the optional reference through the artifact cache, and writes
``OUT/report.html`` and ``OUT/audit.json`` atomically. Bad input raises ``ValueError`` with one
line, which :func:`illusion.cli.main` prints before exiting 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path

from ..cache import atomic_write
from ..data import known_num_classes, load_dataset, per_class_subset
from .loading import AuditInputError, build_arch, fit_data, input_shape, load_model, parse_forget
from .measure import AuditConfig, audit
from .reference import train_reference
from .report import render_html
from .taps import extract, find_taps

__all__ = ["add_parser", "check", "run"]

EPILOG = """MODEL, --original and --reference: a TorchScript file, a state dict (with --arch), or a
pickled nn.Module (only with --unsafe-pickle). --arch: torchvision:NAME, timm:NAME,
illusion:resnet18:width=16 or package.module:factory (optionally :key=value,...)."""


def add_parser(sub) -> None:
    """Add the ``audit`` sub-command to ``illusion``'s sub-parsers."""
    p = sub.add_parser("audit", help="audit your own unlearned classifier against a reference",
                       description="Audit an unlearned classifier on your images against a "
                                   "reference; writes OUT/report.html and OUT/audit.json.",
                       epilog=EPILOG)
    p.add_argument("model", metavar="MODEL", help="the unlearned model")
    p.add_argument("--data", required=True,
                   help="imagefolder:PATH (PATH/train/<class>/*, PATH/test/<class>/*) or a "
                        "dataset name (fashion_mnist, cifar10, cifar100)")
    p.add_argument("--forget", nargs="+", required=True, metavar="C",
                   help="forget classes: indices or class-folder names")
    p.add_argument("--arch", default=None, metavar="SPEC", help="architecture of state dicts")
    p.add_argument("--original", default=None, metavar="M0", help="the model before unlearning")
    p.add_argument("--reference", default=None, metavar="MR",
                   help="a Retrain of the same architecture (never saw the forget classes)")
    p.add_argument("--train-reference", action="store_true",
                   help="train (or load from the cache) a Retrain on the retained classes")
    p.add_argument("--unsafe-pickle", action="store_true",
                   help="allow pickled nn.Module files (unpickling runs arbitrary code)")
    p.add_argument("--feature-layer", default=None, metavar="NAME[:out]",
                   help="read features at the input of module NAME (NAME:out: its output); "
                        "default: the input of the last nn.Linear")
    p.add_argument("--image-size", type=int, default=None, metavar="S",
                   help="resize images to S x S (default: the data's, or the model's first "
                        "linear layer's)")
    p.add_argument("--channels", type=int, default=None, choices=(1, 3),
                   help="input channels (default: the model's first layer's)")
    p.add_argument("--mean", type=float, nargs="+", default=None,
                   help="per-channel normalisation mean in [0, 1] (default: the data's)")
    p.add_argument("--std", type=float, nargs="+", default=None,
                   help="per-channel normalisation std (default: the data's)")
    p.add_argument("--per-class", type=int, default=None, metavar="N",
                   help="use N training images per class (default: all)")
    p.add_argument("--test-per-class", type=int, default=None, metavar="N",
                   help="use N test images per class (default: all)")
    p.add_argument("--no-relearn", action="store_true", help="skip the relearning attack")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="audit", metavar="DIR",
                   help="where report.html and audit.json go (default: ./audit)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(run=run, show=show)


def _subset(data, per_class_train: int | None, per_class_test: int | None, seed: int):
    import torch


    g = torch.Generator().manual_seed(seed)
    tr = per_class_subset(data.y_train, per_class_train, g)
    te = per_class_subset(data.y_test, per_class_test, g)
    return dataclasses.replace(data, x_train=data.x_train[tr], y_train=data.y_train[tr],
                               x_test=data.x_test[te], y_test=data.y_test[te])


def _load_all(args, data):
    """(model, reference, original, fitted data) with the data fitted to the model's input."""
    k, c = data.num_classes, data.in_channels
    load = lambda path, what: load_model(path, args.arch, k, c, args.unsafe_pickle, what)  # noqa
    model = load(args.model, "MODEL")
    channels, size = input_shape(model)
    data = fit_data(data, args.channels or channels, args.image_size or size, args.mean,
                    args.std)
    others = {}
    for what, path in (("reference", args.reference), ("original", args.original)):
        others[what] = load(path, f"--{what}") if path else None
    for what, m in (("MODEL", model), ("--reference", others["reference"]),
                    ("--original", others["original"])):
        if m is not None:  # a dry run on two images: shapes and class count, before the work
            out = extract(m, data, data.x_train[:2], find_taps(m, k, args.feature_layer),
                          progress=False)
            if out["logits"].shape[-1] != k:
                raise ValueError(f"{what} has {out['logits'].shape[-1]} outputs but the data "
                                 f"has {k} class folders")
    return model, others["reference"], others["original"], data


def check(args: argparse.Namespace) -> None:
    """What can be checked before anything is read, beyond the counts, sizes and seed that
    :func:`illusion.cli._check_args` checks for every command: the files named exist, the data
    is a dataset this package knows or an ImageFolder that exists, the normalisation is per
    channel with positive spreads (``ValueError``, one line)."""
    for what, path in (("MODEL", args.model), ("--original", args.original),
                       ("--reference", args.reference)):
        if path is not None and not Path(path).is_file():
            raise ValueError(f"{what} {path}: " + ("not a regular file" if Path(path).exists()
                                                   else "no such file"))
    if args.data.startswith("imagefolder:"):
        folder = Path(args.data.split(":", 1)[1])
        if not (folder / "train").is_dir() or not (folder / "test").is_dir():
            lack = [str(folder / d) for d in ("train", "test") if not (folder / d).is_dir()]
            raise ValueError(f"--data {args.data}: missing {' and '.join(lack)} (an ImageFolder "
                             "needs train/ and test/, one sub-folder of images per class)")
    elif known_num_classes(args.data) is None:
        raise ValueError(f"--data {args.data}: not imagefolder:PATH nor a dataset this "
                         "package knows (fashion_mnist, cifar10, cifar100)")
    if args.std is not None and not all(s > 0 for s in args.std):
        raise ValueError(f"--std must be positive, got {args.std}")
    if args.mean is not None and args.std is not None and len(args.mean) != len(args.std):
        raise ValueError(f"--mean has {len(args.mean)} values but --std {len(args.std)}: one "
                         "per channel each")


def run(args: argparse.Namespace) -> dict:
    """Load, measure, judge, write the report; return the record (NaN -> None)."""
    check(args)
    start = time.perf_counter()
    data = load_dataset(args.data)
    data = _subset(data, args.per_class, args.test_per_class, args.seed)
    forget = parse_forget(args.forget, data.classes)
    model, reference, original, data = _load_all(args, data)
    ref_info = None
    if args.train_reference and reference is None:
        if args.arch is None:
            raise AuditInputError("--train-reference needs --arch to build a fresh model")

        k, c = data.num_classes, data.in_channels
        reference, ref_info = train_reference(lambda: build_arch(args.arch, k, c), args.arch,
                                              data, forget, args.seed,
                                              progress=not args.no_progress)
    cfg = AuditConfig(seed=args.seed, feature_layer=args.feature_layer,
                      **({"relearn": None} if args.no_relearn else {}))
    record = audit(model, data, forget, reference, original, cfg, progress=not args.no_progress)
    out = Path(args.out)
    record["inputs"] = {"model": args.model, "data": args.data, "arch": args.arch,
                        "reference": args.reference or ("trained" if ref_info else None),
                        "original": args.original, "mean": list(data.mean),
                        "std": list(data.std)}
    record["reference_training"] = ref_info
    record["seconds"] = round(time.perf_counter() - start, 3)
    record["report"], record["json"] = str(out / "report.html"), str(out / "audit.json")
    record = _finite(record)
    out.mkdir(parents=True, exist_ok=True)
    _write_text(out / "audit.json", json.dumps(record, indent=1, allow_nan=False) + "\n")
    _write_text(out / "report.html", render_html(record))
    return record


def _finite(value):
    """JSON has no NaN: every NaN (an empty split, an undefined metric) becomes ``None``."""
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _write_text(path: Path, text: str) -> None:
    """UTF-8 ``text`` to ``path`` atomically (the cache's temp-file-and-rename write)."""
    atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def show(record: dict) -> None:
    """Human-readable summary: the verdict and where the report is."""
    v = record["verdict"]
    print(v["headline"])
    for line in v["details"]:
        print(f"  - {line}")
    print(f"report: {record['report']}\njson:   {record['json']}  ({record['seconds']:.1f} s)")
