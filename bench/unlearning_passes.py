"""What running unlearning's read-only passes under bfloat16 buys (issue 26, item 3).

Two passes inside unlearning only read the network: the full pass that recomputes a +CMF
run's class means (:func:`illusion.cmf.fit_class_means`, once in setup and after every epoch;
the CMF original's fine-tune too) and EC's head pretraining (its frozen forward,
:func:`illusion.methods.erase_core.fit_heads`). Both ran in float32 before issue 26 and now
follow the profile's bfloat16 autocast (``Method.bf16_passes``). On the ``cpu`` profile's seed-0
original (and its CMF original), from the artifact cache (built when missing), this times each
pass both ways in alternating rounds on one thread (a sweep task's setting) and prints the
medians, their ratio (bf16 / float32; below 1 is faster), and for the CMF pass the cosine
between the two passes' classifier rows W.

``--spread N`` then asks whether the change stays within the run-to-run spread where it
matters most, on RL+CMF (the cpu profile's tuned learning rate, the most rounding-sensitive
+CMF row of the book): N runs with float32 passes and N with bfloat16 passes, each pair on the
same stream (the first the book's, the others with the stream's salt extended), from the same
CMF original (the cache's current one, whose own means came from bfloat16 passes), seed 0,
forget {0}; prints each run's output and probe test-forget accuracy (the book's evaluation,
bfloat16 features), each arm's mean and standard deviation, and the paired differences.

    .venv/bin/python bench/unlearning_passes.py --rounds 3 --spread 3
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--spread", type=int, default=0, help="RL+CMF runs per arm (0: none)")
    args = ap.parse_args(argv)
    if min(args.rounds, args.threads) < 1 or args.spread < 0:
        print("unlearning_passes: --rounds and --threads must be at least 1, --spread at "
              "least 0", file=sys.stderr)
        return 2
    from illusion.cmf import fit_class_means
    from illusion.methods import create_method
    from illusion.methods.base import Context
    from illusion.methods.erase_core import build_heads, fit_heads
    from illusion.pipeline import cmf_original_or_load, generators, make_splits, train_or_load
    from illusion.profiles import get_profile

    torch.set_num_threads(args.threads)
    cfg = get_profile("cpu").train
    if args.spread and not cfg.bf16:
        print("unlearning_passes: --spread needs a CPU with native bfloat16 (the cpu profile "
              "runs in float32 here, so both arms would be the same)", file=sys.stderr)
        return 2
    original = train_or_load(profile="cpu", seed=0, progress=False)
    cmf = cmf_original_or_load(original, "cpu", progress=False).model
    data, train_idx = original.data, original.splits.train
    splits = make_splits(data, cfg, 0, (0,))
    ec = create_method("ec")

    # each returns the timed work as a closure, so that copying the model is not timed
    def cmf_pass(bf16: bool):
        model = copy.deepcopy(cmf)
        model.fc.fitted.zero_()  # force the pass

        def run() -> torch.Tensor:
            fit_class_means(model, data, train_idx, bf16=bf16)
            return model.fc.weight.clone()
        return run

    def heads_fit(bf16: bool):
        model = copy.deepcopy(original.model)
        ctx = Context(model, model, data, splits.retain, splits.forget, (0,),
                      torch.device("cpu"), generators(0, ("order", "augment", "labels", "noise")),
                      ec.hp, cfg.padding, cfg.flip, bf16)
        heads = build_heads(ctx, ec.hp["layer_weights"])
        return lambda: fit_heads(ctx, heads, ec.hp["head_epochs"], ec.hp["head_lr"])

    passes = {"CMF class means (one full pass)": cmf_pass,
              f"EC head pretraining ({ec.hp['head_epochs']} epochs)": heads_fit}
    print(f"cpu profile, seed-0 original, {len(train_idx)} training images, bf16 available: "
          f"{cfg.bf16}, {args.threads} thread(s)")
    for name, run in passes.items():
        times: dict[bool, list[float]] = {False: [], True: []}
        for r in range(args.rounds):
            for bf16 in ((False, True) if r % 2 == 0 else (True, False)):
                work = run(bf16)
                start = time.perf_counter()
                work()
                times[bf16].append(time.perf_counter() - start)
        fp32, bf16 = statistics.median(times[False]), statistics.median(times[True])
        print(f"{name}: float32 {fp32:.2f} s, bf16 {bf16:.2f} s (medians of {args.rounds}); "
              f"bf16 / float32 = {bf16 / fp32:.2f}")
    cos = F.cosine_similarity(cmf_pass(False)(), cmf_pass(True)(), dim=1)
    print(f"CMF W rows, bf16 pass against float32 pass: cosine min {cos.min():.6f}")
    if args.spread:
        spread(args.spread, original, cmf, cfg)
    return 0


def spread(runs: int, original, cmf, cfg) -> None:
    """RL+CMF with float32 and with bfloat16 class-mean passes, ``runs`` streams each."""
    import illusion.methods.cmf as cmf_method
    from illusion.evaluation import evaluate
    from illusion.features import feature_set
    from illusion.methods import resolve_method, run_unlearning
    from illusion.pipeline import generators, make_splits

    name, forget = "random_label+cmf", (0,)
    data, train_idx = original.data, original.splits.train
    splits = make_splits(data, cfg, 0, forget)
    real = cmf_method.fit_class_means
    results: dict[str, list[tuple[float, float]]] = {"float32": [], "bf16": []}
    for i in range(runs):
        for arm in results:
            # float32 arm: the passes as before issue 26, the steps unchanged
            cmf_method.fit_class_means = (real if arm == "bf16" else
                                          lambda *a, **k: real(*a, **{**k, "bf16": False}))
            try:
                model, _, _ = run_unlearning(
                    resolve_method(name, "cpu", None, len(forget), None), copy.deepcopy(cmf),
                    data, splits.retain, splits.forget, forget,
                    generators(0, ("order", "augment", "labels", "noise"),
                               salt=f"unlearn:{name}:" + (f"{i}:" if i else "")),
                    "cpu", cfg.padding, cfg.flip, False, cfg.bf16)
            finally:
                cmf_method.fit_class_means = real
            acc = evaluate(model, data, train_idx, forget, seed=0,
                           features=feature_set(model, data, train_idx, bf16=cfg.bf16))["accuracy"]
            results[arm].append((acc["output"]["test_forget"], acc["probe"]["test_forget"]))
            print(f"RL+CMF stream {i}, {arm} passes: output test forget "
                  f"{results[arm][-1][0]:.1f}%, probe test forget {results[arm][-1][1]:.1f}%",
                  flush=True)
    for arm, rows in results.items():
        cols = list(zip(*rows))
        sd = [statistics.stdev(c) if len(c) > 1 else float("nan") for c in cols]
        print(f"{arm} passes: output test forget {statistics.mean(cols[0]):.1f} ± {sd[0]:.1f}, "
              f"probe test forget {statistics.mean(cols[1]):.1f} ± {sd[1]:.1f} "
              f"(mean ± sd over {len(rows)} stream(s))")
    for j, readout in enumerate(("output", "probe")):
        diffs = [b[j] - a[j] for a, b in zip(results["float32"], results["bf16"])]
        print(f"{readout} test forget, bf16 minus float32 on the same stream: "
              + ", ".join(f"{d:+.1f}" for d in diffs) + " points")


if __name__ == "__main__":
    sys.exit(main())
