"""Training throughput (images/s) of the ``cpu`` and ``paper`` models on this machine's device.

Runs :func:`illusion.train.fit` itself — the loop every original and Retrain model trains in,
with the profile's model, width, batch size, augmentation and precision (bfloat16 autocast on
CUDA) — for a few timed epochs on random images of the profile's dataset shape held on the
device, after one untimed warm-up epoch. Prints one line per profile: device, images/s (median
over the timed epochs) and seconds per epoch. The number to put into ``bench/grid_cost.py
--throughput`` is the ``paper`` line measured on the GPU the grid will run on.

    python bench/gpu_throughput.py [--images 4096] [--epochs 3] [--profiles cpu paper]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch

from illusion.data import SHAPES, _make
from illusion.pipeline import build_model, default_device, generators
from illusion.profiles import get_profile
from illusion.train import fit

def random_data(dataset: str, n: int, classes: int = 10):
    channels, side = SHAPES[dataset]
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, channels, side, side), generator=g, dtype=torch.uint8)
    y = torch.arange(n) % classes
    return _make(f"random:{dataset}", [str(c) for c in range(classes)], x, y, x[:classes],
                 y[:classes])


def throughput(profile: str, images: int, epochs: int, device: torch.device) -> list[float]:
    """Images/s of each timed epoch of ``fit`` under ``profile``'s recipe."""
    p = get_profile(profile)
    data = random_data(p.dataset, images)
    # one epoch per fit call, no validation split and no per-epoch NC tracking: only training
    cfg = dataclasses.replace(p.train, epochs=1, per_class=None, val_fraction=0.0,
                              patience=None, nc_per_class=0, warmup_epochs=0)
    model = build_model(cfg, data, 0)
    idx = torch.arange(images)
    rates = []
    for epoch in range(epochs + 1):  # the first epoch warms up kernels and caches
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fit(model, data, idx, idx[:0], cfg, generators(epoch), device, progress=False)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if epoch:
            rates.append(images / (time.perf_counter() - start))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=None,
                        help="images per epoch (default: 8192 on a GPU, 256 on the CPU)")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs")
    parser.add_argument("--profiles", nargs="+", default=["cpu", "paper"])
    args = parser.parse_args()
    device = default_device()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    images = args.images or (8192 if device.type == "cuda" else 256)
    for profile in args.profiles:
        rates = throughput(profile, images, args.epochs, device)
        rate = statistics.median(rates)
        print(f"{profile:<6} {device.type} ({name}, {torch.get_num_threads()} threads): "
              f"{rate:,.0f} img/s training, {images / rate:.2f} s per {images}-image epoch "
              f"(median of {len(rates)})")


if __name__ == "__main__":
    main()
