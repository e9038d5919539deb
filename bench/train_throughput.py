"""Training throughput: the project's training step vs a plain torchvision DataLoader loop.

Both loops train the same ResNet-18 (the ``cpu`` profile's width) on the same Fashion-MNIST
images with the same batch size, random crop (padding 2) and horizontal flip:

* baseline: ``torchvision.transforms`` per sample (PIL crop, flip, ToTensor, Normalize) through
  a ``DataLoader`` with worker processes, float32, default memory layout;
* project: ``illusion``'s loop — whole batches sliced from an in-memory uint8 tensor, augmented
  as tensor ops, channels-last memory, and the profile's bfloat16 autocast.

The two run in alternating rounds (baseline, project, baseline, ...) so that machine noise hits
both; the script prints images/s per round, the medians and their ratio (target >= 2x).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from illusion.data import augment_batch, batches, load_dataset, normalize
from illusion.models import create_model
from illusion.profiles import get_profile


class _PilDataset(Dataset):
    def __init__(self, x: torch.Tensor, y: torch.Tensor, tf):
        self.x, self.y, self.tf = x, y, tf

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        img = transforms.functional.to_pil_image(self.x[i])
        return self.tf(img), self.y[i]


def _step(model, opt, x, y, bf16: bool) -> None:
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = model(x)
    loss = F.cross_entropy(logits.float(), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def _model(width: int, channels_last: bool):
    torch.manual_seed(0)
    model = create_model("resnet18", num_classes=10, width=width, in_channels=1).train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)


def baseline_round(data, idx, width, batch_size, steps, workers) -> float:
    model, opt = _model(width, channels_last=False)
    tf = transforms.Compose([transforms.RandomCrop(28, padding=2),
                             transforms.RandomHorizontalFlip(), transforms.ToTensor(),
                             transforms.Normalize(data.mean, data.std)])
    loader = DataLoader(_PilDataset(data.x_train[idx], data.y_train[idx], tf),
                        batch_size=batch_size, shuffle=True, num_workers=workers,
                        drop_last=True, persistent_workers=False)
    it = iter(loader)
    x, y = next(it)
    _step(model, opt, x, y, bf16=False)  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        x, y = next(it)
        _step(model, opt, x, y, bf16=False)
    return steps * batch_size / (time.perf_counter() - start)


def project_round(data, idx, width, batch_size, steps, bf16) -> float:
    model, opt = _model(width, channels_last=True)
    g = torch.Generator().manual_seed(0)
    order = batches(len(idx), batch_size, g, drop_last=True)

    def step() -> None:
        b = idx[next(order)]
        x = normalize(augment_batch(data.x_train[b], 2, True, g), data.mean, data.std)
        _step(model, opt, x, data.y_train[b], bf16)

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    cfg = get_profile("cpu").train
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--width", type=int, default=cfg.width)
    parser.add_argument("--batch-size", type=int, default=cfg.batch_size)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    data = load_dataset("fashion_mnist")
    idx = torch.arange(args.batch_size * (args.steps + 2))
    base, proj = [], []
    for r in range(args.rounds):
        base.append(baseline_round(data, idx, args.width, args.batch_size, args.steps,
                                   args.workers))
        proj.append(project_round(data, idx, args.width, args.batch_size, args.steps, cfg.bf16))
        print(f"round {r + 1}: baseline {base[-1]:7.0f} img/s   project {proj[-1]:7.0f} img/s")
    b, p = statistics.median(base), statistics.median(proj)
    print(f"median: baseline {b:.0f} img/s, project {p:.0f} img/s, ratio {p / b:.2f}x "
          f"(ResNet-18 width {args.width}, batch {args.batch_size}, "
          f"{torch.get_num_threads()} threads, bf16={cfg.bf16})")


if __name__ == "__main__":
    main()
