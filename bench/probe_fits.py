"""The linear probe fitted several times per model (issue 25): what the extra fits cost, and
how far one fit's forget accuracy strays from another's.

For the six models where claim C2 is decided (the original, Retrain, RL, SalUn, SCRUB and
NegGrad+ of one forget class; default class 0, seed 0), on their cached head-input features,
the script times one fit (:func:`illusion.metrics.linear_probe`) against the evaluation's
:data:`illusion.evaluation.PROBE_FITS` fits stepped together
(:func:`illusion.metrics.linear_probes`), in alternating rounds on one torch thread, and prints
per model the two medians, their ratio and the fits' test-forget accuracies (their range is the
noise one fit would put into C2's gap to Retrain).

    .venv/bin/python bench/probe_fits.py --profile cpu   # the meaningful run
    .venv/bin/python bench/probe_fits.py                 # smoke: plumbing
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from illusion.evaluation import PROBE_FITS, probe_generators
from illusion.metrics import linear_probe, linear_probes
from illusion.pipeline import cached_features, train_or_load, unlearn_or_load

MODELS = ("original", "retrain", "random_label", "salun", "scrub", "neggrad_plus")


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--forget", type=int, nargs="+", default=[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    torch.set_num_threads(1)
    original = train_or_load(None, args.profile, args.seed, (), progress=False)
    print(f"{'model':<14}{'1 fit s':>9}{f'{PROBE_FITS} fits s':>10}{'ratio':>7}  "
          f"test-forget accuracy of each fit (%)")
    ratios = []
    for name in MODELS:
        tm = (original if name == "original" else
              train_or_load(None, args.profile, args.seed, args.forget, progress=False)
              if name == "retrain" else
              unlearn_or_load(None, args.profile, args.seed, args.forget, name, progress=False))
        fs = cached_features(tm)
        k = tm.data.num_classes
        one, many, fits = [], [], None
        for _ in range(args.rounds):  # alternating, so that machine noise hits both
            t, _ = timed(lambda: linear_probe(fs.train, fs.train_y, fs.test, fs.test_y, k,
                                              args.forget, probe_generators(args.seed, 1)[0]))
            one.append(t)
            t, fits = timed(lambda: linear_probes(fs.train, fs.train_y, fs.test, fs.test_y, k,
                                                  args.forget, probe_generators(args.seed)))
            many.append(t)
        a, b = statistics.median(one), statistics.median(many)
        ratios.append(b / a)
        print(f"{name:<14}{a:>9.2f}{b:>10.2f}{b / a:>7.2f}  "
              + " / ".join(f"{f['forget']:.1f}" for f in fits))
    print(f"\n{PROBE_FITS} fits cost {statistics.median(ratios):.2f}x one fit (median over "
          f"the models; profile {args.profile}, one thread, {args.rounds} rounds)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
