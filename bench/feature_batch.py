"""Feature extraction: images per second at batch 1000 (``--baseline``) vs the default, 128.

``illusion.features.extract_features`` runs the frozen model in eval mode, float32, batch by
batch. Small batches keep each layer's activations in cache, so the ``cpu`` original
(ResNet-18 width 16, 28x28 inputs) should extract faster at 128 than at 1000; this checks
it. The two batch sizes run in alternating rounds on the same test images; the script prints the
seconds per round, the medians and their ratio (baseline / default, >1 means the default is
faster), and the largest absolute feature difference between the two (batching must not change
results beyond float rounding).

    .venv/bin/python bench/feature_batch.py            # profile cpu (trains or loads it)
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from illusion.features import extract_features
from illusion.pipeline import train_or_load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args(argv)
    tm = train_or_load(None, args.profile, 0, progress=False)
    x = tm.data.x_test[:args.images]
    times: dict[int, list[float]] = {args.baseline: [], args.batch: []}
    feats = {}
    for r in range(args.rounds):
        for bs in (args.baseline, args.batch):
            start = time.perf_counter()
            feats[bs] = extract_features(tm.model, tm.data, x, batch_size=bs)
            times[bs].append(time.perf_counter() - start)
        print(f"round {r + 1}: batch {args.baseline} {times[args.baseline][-1]:.2f} s   "
              f"batch {args.batch} {times[args.batch][-1]:.2f} s")
    base, dflt = statistics.median(times[args.baseline]), statistics.median(times[args.batch])
    diff = (feats[args.baseline] - feats[args.batch]).abs().max().item()
    print(f"median: batch {args.baseline} {base:.2f} s ({len(x) / base:.0f} img/s), batch "
          f"{args.batch} {dflt:.2f} s ({len(x) / dflt:.0f} img/s); ratio {base / dflt:.2f}x; "
          f"max |feature difference| {diff:.2e} ({torch.get_num_threads()} threads)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
