"""Image datasets as in-memory uint8 tensors, index-set splits and batched augmentation.

Whole splits live in memory (``ImageData``); every subset used by the project (the per-class
subset, the validation split, retain / forget) is an index tensor into them, so splits are cheap,
deterministic and can be stored with an artifact. Augmentation (random crop with zero padding,
horizontal flip) runs on whole batches as tensor ops; no DataLoader and no per-sample PIL in the
training loop.

Sources (``load_dataset``):

* ``fashion_mnist``: the idx files of Debian's ``dataset-fashion-mnist`` when present, else
  torchvision's download into the data root;
* ``cifar10`` / ``cifar100``: torchvision's on-disk pickle format in the data root, downloaded
  by torchvision when missing;
* ``imagefolder:PATH``: ``PATH/train/<class>/*`` and ``PATH/test/<class>/*``.
"""

from __future__ import annotations

import gzip
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

__all__ = [
    "DataUnavailable", "ImageData", "augment_batch", "available", "batches", "class_split",
    "data_root", "known_num_classes", "load_dataset", "normalize", "per_class_subset",
    "synthetic_dataset", "train_val_split", "SHAPES", "SYNTHETIC", "SYNTHETIC_PREFIX",
    "SyntheticSizes",
]

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot")


class DataUnavailable(RuntimeError):
    """A dataset cannot be found locally and cannot be downloaded; the message says what to do."""


@dataclass(frozen=True, eq=False)
class ImageData:
    """A labelled image dataset held in memory.

    ``x_*`` are uint8 tensors of shape (N, C, H, W); ``y_*`` are int64 of shape (N,).
    ``mean`` / ``std`` are per-channel statistics of the training images in [0, 1].
    """

    name: str
    classes: tuple[str, ...]
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.x_train.shape[-1])


def data_root() -> Path:
    """Where downloads go: ``$ILLUSION_DATA``, default ``./data``."""
    return Path(os.environ.get("ILLUSION_DATA", "data"))


def _make(name: str, classes: Sequence[str], x_train, y_train, x_test, y_test) -> ImageData:
    x_train, x_test = torch.as_tensor(x_train), torch.as_tensor(x_test)
    if x_train.ndim == 3:  # (N, H, W) grey-scale -> (N, 1, H, W)
        x_train, x_test = x_train[:, None], x_test[:, None]
    xf = x_train.double() / 255.0
    mean = tuple(xf.mean(dim=(0, 2, 3)).tolist())
    std = tuple(xf.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist())
    return ImageData(name, tuple(classes), x_train.contiguous(),
                     torch.as_tensor(y_train, dtype=torch.int64), x_test.contiguous(),
                     torch.as_tensor(y_test, dtype=torch.int64), mean, std)


# ---------------------------------------------------------------- registry of sources

_SOURCES: dict[str, Callable[[Path, bool], ImageData]] = {}


def _register(name: str):
    def wrap(fn):
        _SOURCES[name] = fn
        return fn
    return wrap


def available() -> list[str]:
    """Dataset names accepted by :func:`load_dataset` (plus ``imagefolder:PATH``)."""
    return sorted(_SOURCES) + ["imagefolder:PATH"]


def load_dataset(name: str, root: str | Path | None = None, download: bool = True) -> ImageData:
    """Load a registered dataset whole into memory (once per process: the same read-only
    :class:`ImageData` is returned to every later call with the same name and root).

    Raises ``KeyError`` for an unknown name and :class:`DataUnavailable` when the files are
    missing and cannot be downloaded.
    """
    root = Path(root) if root is not None else data_root()
    if name.startswith("imagefolder:"):
        return load_imagefolder(name.split(":", 1)[1])
    if name.startswith(SYNTHETIC_PREFIX) and known_num_classes(name):  # dry runs
        return synthetic_dataset(name.split(":", 1)[1], known_num_classes(name))
    if name not in _SOURCES:
        raise KeyError(f"unknown dataset {name!r}; choose from {', '.join(available())}")
    key = (name, str(root.resolve()))
    if key not in _LOADED:  # once per process: decoding Fashion-MNIST's gzip files is slow
        _LOADED[key] = _SOURCES[name](root, download)
    return _LOADED[key]


# Classes of the registered datasets, known without reading them (to check forget classes early)
NUM_CLASSES = {"fashion_mnist": 10, "cifar10": 10, "cifar100": 100}


def known_num_classes(name: str) -> int | None:
    """The number of classes of dataset ``name`` without loading it: registered datasets and
    their ``synthetic:`` twins from :data:`NUM_CLASSES`, an ImageFolder from its class folders
    (``None`` when unknown: the folder is missing or the name is not a dataset)."""
    if name.startswith("synthetic:"):
        return NUM_CLASSES.get(name.split(":", 1)[1])
    if name.startswith("imagefolder:"):
        train = Path(name.split(":", 1)[1]) / "train"
        return sum(p.is_dir() for p in train.iterdir()) if train.is_dir() else None
    return NUM_CLASSES.get(name)


# Registered datasets already loaded in this process, shared by every caller (read-only).
_LOADED: dict[tuple[str, str], ImageData] = {}


def _download(fn: Callable[[], object], what: str, root: Path) -> None:
    try:
        fn()
    except Exception as exc:  # torchvision raises URLError, RuntimeError, OSError, ...
        raise DataUnavailable(
            f"{what} is not in {root} and could not be downloaded ({type(exc).__name__}); "
            f"place the files there (or set ILLUSION_DATA) or run where a network exists") from exc


# ------------------------------------------------------------------------ Fashion-MNIST

def read_idx(path: Path) -> np.ndarray:
    """Read an idx file (optionally gzipped): big-endian header of dims, then uint8 data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte idx file")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(int)
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims).copy()


def _find_idx(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.exists():
            return candidate
    return None


@_register("fashion_mnist")
def _fashion_mnist(root: Path, download: bool) -> ImageData:
    stems = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")
    for folder in (DEBIAN_FASHION_MNIST, root / "FashionMNIST" / "raw"):
        paths = [_find_idx(folder, s) for s in stems]
        if all(paths):
            arrays = [read_idx(p) for p in paths]
            return _make("fashion_mnist", FASHION_MNIST_CLASSES, *arrays)
    if not download:
        raise DataUnavailable(f"Fashion-MNIST not found in {DEBIAN_FASHION_MNIST} or {root}; "
                              "install Debian's dataset-fashion-mnist")
    from torchvision.datasets import FashionMNIST
    _download(lambda: FashionMNIST(str(root), train=True, download=True), "Fashion-MNIST", root)
    return _fashion_mnist(root, download=False)


# ------------------------------------------------------------------------------ CIFAR

def _cifar(root: Path, download: bool, which: str) -> ImageData:
    folder, train_files, label_key, meta_file, meta_key = {
        "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "labels",
                    "batches.meta", "label_names"),
        "cifar100": ("cifar-100-python", ["train"], "fine_labels", "meta", "fine_label_names"),
    }[which]
    base = root / folder
    test_file = "test_batch" if which == "cifar10" else "test"
    needed = [*train_files, test_file, meta_file]
    if not all((base / name).exists() for name in needed):
        if not download:
            raise DataUnavailable(f"{which} not found (or incomplete) in {base}")
        from torchvision import datasets
        cls = datasets.CIFAR10 if which == "cifar10" else datasets.CIFAR100
        _download(lambda: cls(str(root), train=True, download=True), which, root)
        return _cifar(root, False, which)

    def read(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for name in names:
            with open(base / name, "rb") as fh:
                entry = pickle.load(fh, encoding="latin1")
            xs.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(entry[label_key], dtype=np.int64))
        return np.concatenate(xs), np.concatenate(ys)

    with open(base / meta_file, "rb") as fh:
        classes = pickle.load(fh, encoding="latin1")[meta_key]
    return _make(which, classes, *read(train_files), *read([test_file]))


@_register("cifar10")
def _cifar10(root: Path, download: bool) -> ImageData:
    return _cifar(root, download, "cifar10")


@_register("cifar100")
def _cifar100(root: Path, download: bool) -> ImageData:
    return _cifar(root, download, "cifar100")


# ------------------------------------------------------------------------ ImageFolder

def _read_image(path: str):
    """The decoded PIL image at ``path``, its file closed (``Image.open`` alone keeps one open
    descriptor per image until first use: thousands of images exceed the usual limit)."""
    from PIL import Image

    with Image.open(path) as im:
        im.load()  # pixels in memory; leaving the block closes the file
    return im


def load_imagefolder(path: str | Path) -> ImageData:
    """Read ``PATH/train/<class>/*`` and ``PATH/test/<class>/*`` into memory.

    Images are converted to RGB (or kept grey-scale when every image is) and resized to the
    size of the first training image when sizes differ. Both splits must name the same classes.
    """
    from torchvision.datasets import ImageFolder

    path = Path(path)
    splits = {}
    for split in ("train", "test"):
        if not (path / split).is_dir():
            raise DataUnavailable(f"imagefolder: {path / split} is missing; expected "
                                  f"{path}/train/<class>/... and {path}/test/<class>/...")
        try:
            splits[split] = ImageFolder(str(path / split), loader=lambda p: p)
        except (FileNotFoundError, RuntimeError) as exc:
            raise DataUnavailable(f"imagefolder: {exc}") from exc
    if splits["train"].classes != splits["test"].classes:
        raise DataUnavailable(f"imagefolder: train and test class folders differ in {path}")
    try:
        images = {s: [_read_image(p) for p, _ in d.samples] for s, d in splits.items()}
    except OSError as exc:  # PIL's UnidentifiedImageError is an OSError
        raise DataUnavailable(f"imagefolder: cannot read an image: {exc}") from exc
    mode = "L" if all(im.mode in ("L", "1") for ims in images.values() for im in ims) else "RGB"
    size = images["train"][0].size

    def stack(ims) -> np.ndarray:
        arrays = [np.asarray(im.convert(mode).resize(size) if im.size != size
                             else im.convert(mode), dtype=np.uint8) for im in ims]
        x = np.stack(arrays)
        return x if mode == "L" else x.transpose(0, 3, 1, 2)

    return _make(f"imagefolder:{path}", splits["train"].classes,
                 stack(images["train"]), [t for _, t in splits["train"].samples],
                 stack(images["test"]), [t for _, t in splits["test"].samples])


# ------------------------------------------------------------------------ index splits

def per_class_subset(labels: torch.Tensor, per_class: int | None,
                     generator: torch.Generator) -> torch.Tensor:
    """Sorted indices of ``per_class`` random samples of every class (all when ``None``)."""
    if per_class is None:
        return torch.arange(len(labels))
    if per_class < 1:
        raise ValueError("per_class must be >= 1")
    chosen = []
    for c in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == c).flatten()
        chosen.append(idx[torch.randperm(len(idx), generator=generator)[:per_class]])
    return torch.cat(chosen).sort().values


def train_val_split(labels: torch.Tensor, indices: torch.Tensor, val_fraction: float,
                    generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Stratified split of ``indices`` into (train, val) index tensors, both sorted."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError("val_fraction must be in [0, 1)")
    train, val = [], []
    sub = labels[indices]
    for c in torch.unique(sub).tolist():
        idx = indices[sub == c]
        idx = idx[torch.randperm(len(idx), generator=generator)]
        n_val = int(round(val_fraction * len(idx)))
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return torch.cat(train).sort().values, torch.cat(val).sort().values


def class_split(labels: torch.Tensor, indices: torch.Tensor,
                forget: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``indices`` into (retain, forget) by class membership of ``labels``."""
    mask = torch.isin(labels[indices], torch.as_tensor(list(forget), dtype=labels.dtype))
    return indices[~mask], indices[mask]


# -------------------------------------------------------------------- batches and views

def batches(n: int, batch_size: int, generator: torch.Generator | None = None,
            drop_last: bool = False) -> Iterator[torch.Tensor]:
    """Yield position tensors covering ``range(n)`` in batches, shuffled when a generator is given."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    for start in range(0, stop, batch_size):
        yield order[start:start + batch_size]


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float32 standardised per channel, channels-last memory."""
    m = torch.tensor(mean, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    out = (x.float() / 255.0 - m) / s
    return out.contiguous(memory_format=torch.channels_last)


def augment_batch(x: torch.Tensor, padding: int, flip: bool,
                  generator: torch.Generator) -> torch.Tensor:
    """Random crop after zero padding and random horizontal flip of a whole batch.

    ``x`` is (B, C, H, W) of any dtype; every sample gets its own offsets / flip drawn from
    ``generator`` (on the CPU, or on ``x``'s device to avoid a host copy per batch); the result
    stays on ``x``'s device.
    """
    b, _, h, w = x.shape
    if padding > 0:
        xp = torch.nn.functional.pad(x, (padding, padding, padding, padding))
        dev = generator.device  # draws where the generator lives (the CPU, or x's GPU)
        oy = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=dev).to(x.device)
        ox = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=dev).to(x.device)
        rows = oy[:, None] + torch.arange(h, device=x.device)  # (B, H)
        cols = ox[:, None] + torch.arange(w, device=x.device)  # (B, W)
        bidx = torch.arange(b, device=x.device)[:, None, None]
        x = xp.permute(0, 2, 3, 1)[bidx, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
        x = x.permute(0, 3, 1, 2)
    if flip:
        mask = (torch.rand(b, generator=generator, device=generator.device) < 0.5)
        mask = mask.to(x.device).view(b, 1, 1, 1)
        x = torch.where(mask, x.flip(3), x)
    return x


# ------------------------------------------------------------------------- synthetic

SYNTHETIC_PREFIX = "synthetic:"  # a dry run's dataset: "synthetic:cifar10" (illusion.dryrun)
# (channels, side) of the registered datasets; anything else is CIFAR-shaped
SHAPES = {"fashion_mnist": (1, 28), "cifar10": (3, 32), "cifar100": (3, 32)}


@dataclass(frozen=True)
class SyntheticSizes:
    """The sizes of a ``synthetic:<name>`` dataset (a dry run's data, :mod:`illusion.dryrun`)."""

    # 60 training images in all: 6 per class for 10 classes, so that the 10% validation split
    # keeps one image per class and early stopping has something to watch; 1 per class for 100.
    train_images: int = 60
    test_per_class: int = 1
    seed: int = 20260418  # the synthetic images' own stream (not the run's seed)


SYNTHETIC = SyntheticSizes()


def synthetic_dataset(name: str, num_classes: int, sizes: SyntheticSizes = SYNTHETIC) -> ImageData:
    """``synthetic:<name>``: uint8 images of ``<name>``'s shape, class ``c`` brighter in its own
    channel-and-quadrant pattern plus noise, so a model can learn something in one step."""
    channels, side = SHAPES.get(name, (3, 32))
    g = torch.Generator().manual_seed(sizes.seed)
    per_class = max(1, sizes.train_images // num_classes)

    def split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(num_classes).repeat_interleave(n)  # (N,)
        x = torch.randint(0, 96, (len(y), channels, side, side), generator=g)  # (N, C, H, W)
        half = side // 2
        for c in range(num_classes):
            rows = y == c
            ch, quad = c % channels, (c // channels) % 4
            r, s = (quad // 2) * half, (quad % 2) * half
            x[rows, ch, r:r + half, s:s + half] += 40 + (c * 97) % 120
        return x.clamp(0, 255).to(torch.uint8), y

    classes = [f"class{c}" for c in range(num_classes)]
    return _make(f"{SYNTHETIC_PREFIX}{name}", classes, *split(per_class),
                 *split(sizes.test_per_class))
