"""Does ``torch.compile`` make the cpu profile's unlearning step cheaper? (issue 26, item 3)

Times the step every unlearning method runs on the ``cpu`` profile: ResNet-18 at the profile's
width on a batch of the profile's size of Fashion-MNIST-shaped inputs, channels-last, under
the profile's bfloat16 autocast (where the CPU has it), cross-entropy, SGD with Nesterov
momentum and weight decay. Two variants of the same step, in alternating rounds on one
thread (a sweep task's setting): eager (what ``illusion.methods.base.run_unlearning`` runs)
and the model wrapped in ``torch.compile`` (inductor, default mode). Prints the compile time
once, milliseconds per step per round, the medians and their ratio (compiled / eager; below 1
is faster).

    .venv/bin/python bench/step_compile.py --rounds 3 --steps 20
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from illusion.models import create_model, memory_format
from illusion.profiles import get_profile


def make(width: int, compiled: bool):
    torch.manual_seed(0)
    model = create_model("resnet18", num_classes=10, width=width, in_channels=1)
    model = model.to(memory_format=memory_format(model))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    return (torch.compile(model) if compiled else model), opt


def step(model, opt, x, y, bf16: bool) -> None:
    opt.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = F.cross_entropy(model(x).float(), y)
    loss.backward()
    opt.step()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    if min(args.rounds, args.steps, args.threads) < 1:
        print("step_compile: --rounds, --steps and --threads must be at least 1")
        return 2
    torch.set_num_threads(args.threads)
    cfg = get_profile("cpu").train
    g = torch.Generator().manual_seed(0)
    x = torch.randn(cfg.batch_size, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (cfg.batch_size,), generator=g)
    variants = {}
    for name, compiled in (("eager", False), ("compiled", True)):
        model, opt = make(cfg.width, compiled)
        xs = x.contiguous(memory_format=memory_format(model))
        start = time.perf_counter()
        for _ in range(3):  # warm-up; the compiled model compiles in the first
            step(model, opt, xs, y, cfg.bf16)
        print(f"{name}: first 3 steps (compile included) {time.perf_counter() - start:.1f} s")
        variants[name] = (model, opt, xs)
    times: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(args.rounds):
        for name in (variants if r % 2 == 0 else list(variants)[::-1]):
            model, opt, xs = variants[name]
            start = time.perf_counter()
            for _ in range(args.steps):
                step(model, opt, xs, y, cfg.bf16)
            times[name].append(1000 * (time.perf_counter() - start) / args.steps)
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f} ms/step" for k, v in times.items()))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"median ms/step: eager {med['eager']:.1f}, compiled {med['compiled']:.1f}; "
          f"compiled / eager = {med['compiled'] / med['eager']:.2f} "
          f"(bf16={cfg.bf16}, width {cfg.width}, batch {cfg.batch_size}, "
          f"{args.threads} thread(s))")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
