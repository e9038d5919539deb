"""``illusion audit`` wall time against the issue's budget (60 s on the 2-core machine).

The issue's case: a ResNet-18-width-16-sized model (this project's ``cpu`` architecture,
``illusion:resnet18:width=16``, 128-d features) audited on an ImageFolder of 5,000 training
and 1,000 test images (Fashion-MNIST, 28x28 grey, 500 / 100 per class), without
``--train-reference``. The script writes that ImageFolder and three state dicts (the audited
model, the original and the reference; freshly initialised: the work the audit does does not
depend on the weights) to a temporary folder, then times the whole command in this process —
reading the PNGs, every metric for the three models, CKA, both relearning curves, the HTML —
``--rounds`` times, each time also the audit of the model alone (no ``--original`` /
``--reference``). It prints the wall seconds per round, the medians and their ratio to the
budget (< 1 means within it), the process CPU seconds (all threads; on a machine shared with
other jobs the wall time overstates what the audit needs, the CPU time much less so), and the
time of each step of the last full round.

    .venv/bin/python bench/audit.py              # --rounds full + model-only audits
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import tempfile
import time
from pathlib import Path

import torch

BUDGET = 60.0


def write_folder(root: Path, train_per_class: int, test_per_class: int) -> None:
    """Fashion-MNIST's first images of every class as PNG files in ``root/{train,test}/<c>/``."""
    from PIL import Image

    from illusion.data import load_dataset

    data = load_dataset("fashion_mnist")
    for split, x, y, n in (("train", data.x_train, data.y_train, train_per_class),
                           ("test", data.x_test, data.y_test, test_per_class)):
        for c, name in enumerate(data.classes):
            folder = root / split / f"{c}_{name.replace('/', '-')}"
            folder.mkdir(parents=True, exist_ok=True)
            for i, j in enumerate(torch.nonzero(y == c).flatten()[:n].tolist()):
                Image.fromarray(x[j, 0].numpy()).save(folder / f"{i}.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-per-class", type=int, default=500)
    parser.add_argument("--test-per-class", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    from illusion import cli
    from illusion.models import create_model

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_folder(root / "images", args.train_per_class, args.test_per_class)
        for i, role in enumerate(("model", "original", "reference")):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(i)
                net = create_model("resnet18", num_classes=10, width=16, in_channels=1)
            torch.save(net.state_dict(), root / f"{role}.pt")
        base = ["audit", str(root / "model.pt"), "--arch", "illusion:resnet18:width=16",
                "--data", f"imagefolder:{root / 'images'}", "--forget", "0", "--no-progress",
                "--json", "--out", str(root / "out")]
        full = base + ["--original", str(root / "original.pt"), "--reference",
                       str(root / "reference.pt")]
        times: dict[str, list[float]] = {"alone": [], "full": []}
        cpu: dict[str, list[float]] = {"alone": [], "full": []}
        for r in range(args.rounds):
            for name, argv_ in (("alone", base), ("full", full)):
                profile = cProfile.Profile() if name == "full" else None
                start, cpu_start = time.perf_counter(), time.process_time()
                with _quiet():
                    if profile:
                        profile.enable()
                    assert cli.main(argv_) == 0
                    if profile:
                        profile.disable()
                times[name].append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - cpu_start)
                print(f"  {name}: {times[name][-1]:.1f} s (CPU {cpu[name][-1]:.1f} s)", flush=True)
            print(f"round {r + 1}: model alone {times['alone'][-1]:.1f} s (CPU "
                  f"{cpu['alone'][-1]:.1f} s)   with --original and --reference "
                  f"{times['full'][-1]:.1f} s (CPU {cpu['full'][-1]:.1f} s)")
    alone, full_t = statistics.median(times["alone"]), statistics.median(times["full"])
    print(f"median: model alone {alone:.1f} s ({alone / BUDGET:.2f}x the {BUDGET:.0f} s "
          f"budget); with --original and --reference {full_t:.1f} s ({full_t / BUDGET:.2f}x); "
          f"{args.train_per_class * 10} train + {args.test_per_class * 10} test images, "
          f"{torch.get_num_threads()} threads; CPU seconds (all threads): "
          f"{statistics.median(cpu['alone']):.1f} / {statistics.median(cpu['full']):.1f}")
    _steps(profile)
    return 0


def _steps(profile: cProfile.Profile) -> None:
    """Cumulative seconds of the audit's main steps in the last full round."""
    stats = pstats.Stats(profile, stream=io.StringIO())
    wanted = {"load_imagefolder": "read the ImageFolder", "extract": "features (3 models)",
              "linear_probe": "linear probe (3 models)", "knn_accuracy": "k-NN (3 models)",
              "mia_scores": "SVC MIA (3 models)", "relearn_curve": "relearning (2 models)",
              "neural_collapse": "duality (3 models)", "render_html": "figures + HTML"}
    rows = {}
    for (_, _, func), (_, _, _, cum, _) in stats.stats.items():
        if func in wanted:
            rows[wanted[func]] = rows.get(wanted[func], 0.0) + cum
    print("  " + ", ".join(f"{k} {v:.1f} s" for k, v in rows.items()))


class _quiet:
    """Swallow the command's one JSON line (stdout) while timing it."""

    def __enter__(self):
        import contextlib

        self._cm = contextlib.redirect_stdout(io.StringIO())
        return self._cm.__enter__()

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


if __name__ == "__main__":
    raise SystemExit(main())
