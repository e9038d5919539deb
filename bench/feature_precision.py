"""Feature extraction in float32 vs bfloat16 autocast: speed, and what it changes in the metrics.

Profiles that train under bfloat16 autocast (``cpu``) also extract features, and run the
relearning attack, under it (``illusion.features``). This bench checks that choice on one
thread, as ``illusion sweep`` runs each cell: the two precisions extract the whole test set in
alternating rounds (seconds per round, medians, ratio fp32 / bf16, >1 means bf16 is faster),
then every metric of ``illusion.evaluation.evaluate`` is computed from both feature sets of a
few cached models (the original, Retrain and an unlearned model) and the largest absolute
differences are printed (accuracies in percentage points).

    .venv/bin/python bench/feature_precision.py          # profile cpu, forget class 0
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from illusion.evaluation import evaluate
from illusion.records import flatten
from illusion.features import extract_features, feature_set
from illusion.pipeline import train_or_load, unlearn_or_load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--forget", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--methods", nargs="+", default=["retrain", "random_label"])
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    original = train_or_load(None, args.profile, 0, progress=False)
    x = original.data.x_test
    times: dict[bool, list[float]] = {False: [], True: []}
    for r in range(args.rounds):
        for bf16 in (False, True):
            start = time.perf_counter()
            extract_features(original.model, original.data, x, bf16=bf16)
            times[bf16].append(time.perf_counter() - start)
        print(f"round {r + 1}: float32 {times[False][-1]:.2f} s   bfloat16 {times[True][-1]:.2f} s")
    fp32, bf16 = statistics.median(times[False]), statistics.median(times[True])
    print(f"median: float32 {fp32:.2f} s ({len(x) / fp32:.0f} img/s), bfloat16 {bf16:.2f} s "
          f"({len(x) / bf16:.0f} img/s); ratio {fp32 / bf16:.2f}x ({args.threads} thread(s))")

    forget = [args.forget]
    models = {"original": original}
    models.update({m: unlearn_or_load(None, args.profile, 0, forget, m, progress=False)
                   for m in args.methods})
    keys = ["output_test_forget", "output_test_retain", "probe_test_forget", "probe_test_retain",
            "ncc_test_forget", "ncc_test_retain", "knn_test_forget", "mia_efficacy", "nc1_all",
            "duality_forget"]
    print(f"\n{'metric':<22}" + "".join(f"{m:>14}" for m in models) + "   (bf16 - fp32)")
    rows = {}
    for name, tm in models.items():
        recs = [flatten(evaluate(tm.model, tm.data, tm.splits.train, forget, 0,
                                 features=feature_set(tm.model, tm.data, tm.splits.train,
                                                      bf16=b))) for b in (False, True)]
        rows[name] = {k: recs[1][k] - recs[0][k] for k in keys if k in recs[0]}
    for k in keys:
        if all(k in r for r in rows.values()):
            print(f"{k:<22}" + "".join(f"{rows[m][k]:>+14.3f}" for m in models))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
