"""illusion.data: file formats, dataset sources, index splits, batching and augmentation."""

from __future__ import annotations

import os

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from illusion import data as idata
from illusion.data import (DataUnavailable, augment_batch, batches, class_split, load_dataset,
                           normalize, per_class_subset, read_idx, train_val_split)


# ----------------------------------------------------------------------------- idx files

def write_idx(path: Path, array: np.ndarray) -> Path:
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    blob = header + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as fh:
            fh.write(blob)
    else:
        path.write_bytes(blob)
    return path


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_read_idx_images_round_trip(tmp_path, name):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 4, 3), dtype=np.uint8)
    path = write_idx(tmp_path / name, images)
    raw = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
    assert raw[:4] == b"\x00\x00\x08\x03"  # magic 0x00000803
    out = read_idx(path)
    assert out.dtype == np.uint8 and out.shape == (5, 4, 3)
    np.testing.assert_array_equal(out, images)
    assert out.flags.writeable  # a copy, not a view on the read-only buffer


@pytest.mark.parametrize("name", ["labels-idx1-ubyte", "labels-idx1-ubyte.gz"])
def test_read_idx_labels_round_trip(tmp_path, name):
    labels = np.array([3, 1, 4, 1, 5, 9, 2, 6], dtype=np.uint8)
    path = write_idx(tmp_path / name, labels)
    raw = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
    assert raw[:4] == b"\x00\x00\x08\x01"  # magic 0x00000801
    np.testing.assert_array_equal(read_idx(path), labels)


@pytest.mark.parametrize("blob", [b"this is not an idx file", b"\x00\x00\x0d\x01\x00\x00\x00\x01"
                                  b"\x00\x00\x00\x00"])  # second: float32 idx, not uint8
def test_read_idx_rejects_non_idx(tmp_path, blob):
    path = tmp_path / "bogus"
    path.write_bytes(blob)
    with pytest.raises(ValueError):
        read_idx(path)


def test_read_idx_rejects_non_idx_gz(tmp_path):
    path = tmp_path / "bogus.gz"
    path.write_bytes(gzip.compress(b"PK\x03\x04 zip, not idx"))
    with pytest.raises(ValueError):
        read_idx(path)


def test_read_idx_rejects_two_byte_file(tmp_path):
    path = tmp_path / "short"
    path.write_bytes(b"\x00\x00")
    with pytest.raises(ValueError):
        read_idx(path)


# ------------------------------------------------------------------------ Fashion-MNIST

def _write_fashion(folder: Path, n_train=12, n_test=5, h=6, w=5, gz=True):
    rng = np.random.default_rng(1)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, h, w), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, (n_train,), dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, h, w), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, (n_test,), dtype=np.uint8),
    }
    for stem, arr in arrays.items():
        write_idx(folder / (stem + (".gz" if gz else "")), arr)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_from_data_root(tmp_path, monkeypatch, gz):
    monkeypatch.setattr(idata, "DEBIAN_FASHION_MNIST", tmp_path / "no-such-folder")
    root = tmp_path / "data"
    arrays = _write_fashion(root / "FashionMNIST" / "raw", gz=gz)
    d = load_dataset("fashion_mnist", root=root, download=False)
    assert d.name == "fashion_mnist"
    assert d.x_train.shape == (12, 1, 6, 5) and d.x_test.shape == (5, 1, 6, 5)
    assert d.x_train.dtype == torch.uint8 and d.x_test.dtype == torch.uint8
    assert d.y_train.dtype == torch.int64 and d.y_test.dtype == torch.int64
    assert d.y_train.shape == (12,) and d.y_test.shape == (5,)
    assert d.classes == idata.FASHION_MNIST_CLASSES and d.num_classes == 10
    assert d.in_channels == 1
    np.testing.assert_array_equal(d.x_train[:, 0].numpy(), arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(d.y_test.numpy(), arrays["t10k-labels-idx1-ubyte"])
    mean = arrays["train-images-idx3-ubyte"].astype(np.float64).mean() / 255
    assert d.mean == pytest.approx((mean,), abs=1e-12)


def test_fashion_mnist_via_env_data_root(tmp_path, monkeypatch):
    monkeypatch.setattr(idata, "DEBIAN_FASHION_MNIST", tmp_path / "no-such-folder")
    root = tmp_path / "env_data"  # ILLUSION_DATA set by the autouse fixture
    _write_fashion(root / "FashionMNIST" / "raw")
    assert idata.data_root() == root
    assert load_dataset("fashion_mnist").x_train.shape == (12, 1, 6, 5)


def test_fashion_mnist_missing_without_download(tmp_path, monkeypatch):
    monkeypatch.setattr(idata, "DEBIAN_FASHION_MNIST", tmp_path / "no-such-folder")
    with pytest.raises(DataUnavailable):
        load_dataset("fashion_mnist", root=tmp_path / "empty", download=False)


def test_fashion_mnist_missing_download_fails(tmp_path, monkeypatch):
    import torchvision.datasets

    def no_network(self, *args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(idata, "DEBIAN_FASHION_MNIST", tmp_path / "no-such-folder")
    monkeypatch.setattr(torchvision.datasets.FashionMNIST, "__init__", no_network)
    root = tmp_path / "empty"
    with pytest.raises(DataUnavailable) as info:
        load_dataset("fashion_mnist", root=root, download=True)
    assert str(root) in str(info.value)


@pytest.mark.skipif(not idata.DEBIAN_FASHION_MNIST.is_dir(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_real_debian_fashion_mnist(tmp_path):
    d = load_dataset("fashion_mnist", root=tmp_path / "unused", download=False)
    assert d.x_train.shape == (60000, 1, 28, 28) and d.x_test.shape == (10000, 1, 28, 28)
    assert d.y_train.shape == (60000,) and d.y_test.shape == (10000,)
    assert 0.2 < d.mean[0] < 0.4
    assert sorted(torch.unique(d.y_train).tolist()) == list(range(10))
    assert torch.bincount(d.y_train).tolist() == [6000] * 10


# ------------------------------------------------------------------------------ CIFAR

def _cifar_images(n: int, rng) -> np.ndarray:
    """(n, 3072) rows in CIFAR's layout: 1024 R, then 1024 G, then 1024 B values."""
    return rng.integers(0, 256, (n, 3072), dtype=np.uint8)


def _pickle(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(obj, fh)


def _constant_rgb_row() -> np.ndarray:
    return np.concatenate([np.full(1024, 10), np.full(1024, 20), np.full(1024, 30)]).astype(np.uint8)


def write_fake_cifar10(root: Path, per_batch: int = 2, n_test: int = 3):
    rng = np.random.default_rng(2)
    base = root / "cifar-10-batches-py"
    train_x, train_y = [], []
    for i in range(1, 6):
        x = _cifar_images(per_batch, rng)
        if i == 1:
            x[0] = _constant_rgb_row()
        y = [int(v) for v in rng.integers(0, 10, per_batch)]
        _pickle(base / f"data_batch_{i}", {"data": x, "labels": y, "batch_label": f"b{i}"})
        train_x.append(x)
        train_y += y
    test_x = _cifar_images(n_test, rng)
    test_y = [int(v) for v in rng.integers(0, 10, n_test)]
    _pickle(base / "test_batch", {"data": test_x, "labels": test_y})
    names = [f"name{i}" for i in range(10)]
    _pickle(base / "batches.meta", {"label_names": names, "num_cases_per_batch": per_batch})
    return np.concatenate(train_x), train_y, test_x, test_y, names


def write_fake_cifar100(root: Path, n_train: int = 4, n_test: int = 2):
    rng = np.random.default_rng(3)
    base = root / "cifar-100-python"
    train_x = _cifar_images(n_train, rng)
    train_x[1] = _constant_rgb_row()
    train_y = [int(v) for v in rng.integers(0, 100, n_train)]
    test_x = _cifar_images(n_test, rng)
    test_y = [int(v) for v in rng.integers(0, 100, n_test)]
    coarse = [0] * n_train
    _pickle(base / "train", {"data": train_x, "fine_labels": train_y, "coarse_labels": coarse})
    _pickle(base / "test", {"data": test_x, "fine_labels": test_y, "coarse_labels": [0] * n_test})
    names = [f"fine{i}" for i in range(100)]
    _pickle(base / "meta", {"fine_label_names": names, "coarse_label_names": ["x"] * 20})
    return train_x, train_y, test_x, test_y, names


def test_cifar10_fake_archive(tmp_path):
    train_x, train_y, test_x, test_y, names = write_fake_cifar10(tmp_path)
    d = load_dataset("cifar10", root=tmp_path, download=False)
    assert d.name == "cifar10"
    assert d.x_train.shape == (10, 3, 32, 32) and d.x_test.shape == (3, 3, 32, 32)
    assert d.x_train.dtype == torch.uint8 and d.y_train.dtype == torch.int64
    assert d.y_train.tolist() == train_y and d.y_test.tolist() == test_y
    assert d.classes == tuple(names)
    # pixel layout: channel-major rows, row-major within a channel
    first = d.x_train[0]
    assert (first[0] == 10).all() and (first[1] == 20).all() and (first[2] == 30).all()
    np.testing.assert_array_equal(d.x_train[3].numpy().reshape(-1), train_x[3])
    assert int(d.x_test[1, 2, 5, 7]) == int(test_x[1, 2 * 1024 + 5 * 32 + 7])


def test_cifar100_fake_archive(tmp_path):
    train_x, train_y, test_x, test_y, names = write_fake_cifar100(tmp_path)
    d = load_dataset("cifar100", root=tmp_path, download=False)
    assert d.name == "cifar100"
    assert d.x_train.shape == (4, 3, 32, 32) and d.x_test.shape == (2, 3, 32, 32)
    assert d.y_train.tolist() == train_y and d.y_test.tolist() == test_y
    assert d.classes == tuple(names) and d.num_classes == 100
    img = d.x_train[1]
    assert (img[0] == 10).all() and (img[1] == 20).all() and (img[2] == 30).all()
    assert int(d.x_train[2, 1, 31, 0]) == int(train_x[2, 1024 + 31 * 32])


@pytest.mark.parametrize("which, cls_name", [("cifar10", "CIFAR10"), ("cifar100", "CIFAR100")])
def test_cifar_missing_and_no_network(tmp_path, monkeypatch, which, cls_name):
    import torchvision.datasets

    calls = []

    def no_network(self, *args, **kwargs):
        calls.append(args)
        raise OSError("no network")

    monkeypatch.setattr(getattr(torchvision.datasets, cls_name), "__init__", no_network)
    root = tmp_path / "nothing-here"
    with pytest.raises(DataUnavailable) as info:
        load_dataset(which, root=root, download=True)
    assert str(root) in str(info.value)
    assert "OSError" in str(info.value)
    assert len(calls) == 1


def test_cifar_incomplete_folder_is_unavailable(tmp_path):
    (tmp_path / "cifar-10-batches-py").mkdir()
    with pytest.raises(DataUnavailable):
        load_dataset("cifar10", root=tmp_path, download=False)


def test_cifar_missing_without_download(tmp_path):
    with pytest.raises(DataUnavailable):
        load_dataset("cifar10", root=tmp_path, download=False)


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(KeyError) as info:
        load_dataset("mnist-but-wrong")
    message = info.value.args[0]
    for name in ("fashion_mnist", "cifar10", "cifar100", "imagefolder:PATH"):
        assert name in message
    assert idata.available() == ["cifar10", "cifar100", "fashion_mnist", "imagefolder:PATH"]


# ------------------------------------------------------------------------ ImageFolder

def _save_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_imagefolder_rgb_with_resize(tmp_path):
    root = tmp_path / "folder"
    # class folders deliberately created out of alphabetical order
    for split, n in (("train", 2), ("test", 1)):
        for cls, colour in (("zebra", (200, 10, 10)), ("apple", (10, 200, 10))):
            for i in range(n):
                arr = np.empty((6, 6, 3), dtype=np.uint8)
                arr[:] = colour
                _save_png(root / split / cls / f"{i}.png", arr)
    big = np.zeros((12, 10, 3), dtype=np.uint8)  # different size: H=12, W=10
    big[:] = (1, 2, 3)
    _save_png(root / "train" / "zebra" / "9.png", big)

    d = load_dataset(f"imagefolder:{root}")
    assert d.classes == ("apple", "zebra")
    assert d.name == f"imagefolder:{root}"
    assert d.x_train.shape == (5, 3, 6, 6) and d.x_test.shape == (2, 3, 6, 6)
    assert d.x_train.dtype == torch.uint8
    assert d.y_train.tolist() == [0, 0, 1, 1, 1] and d.y_test.tolist() == [0, 1]
    # channel layout: apple is green, zebra is red
    assert d.x_train[0, :, 2, 3].tolist() == [10, 200, 10]
    assert d.x_test[1, :, 0, 0].tolist() == [200, 10, 10]
    # the resized constant image keeps its colour
    assert d.x_train[4].flatten(1).unique(dim=1).T.tolist() == [[1, 2, 3]]


def test_imagefolder_greyscale(tmp_path):
    root = tmp_path / "grey"
    for split in ("train", "test"):
        for c, value in (("a", 7), ("b", 250)):
            _save_png(root / split / c / "x.png", np.full((5, 5), value, dtype=np.uint8))
    d = load_dataset(f"imagefolder:{root}")
    assert d.in_channels == 1
    assert d.x_train.shape == (2, 1, 5, 5) and d.x_test.shape == (2, 1, 5, 5)
    assert d.x_train[:, 0, 0, 0].tolist() == [7, 250]
    assert len(d.mean) == 1 and len(d.std) == 1


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
def test_imagefolder_closes_every_image_file(tmp_path):
    """Each image's file is closed once read: an ImageFolder larger than the open-file limit
    (1024 on most systems) must load."""
    root = tmp_path / "many"
    for split in ("train", "test"):
        for c in ("a", "b"):
            for i in range(20):
                _save_png(root / split / c / f"{i}.png", np.full((3, 3), i, dtype=np.uint8))
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # fewer free descriptors than images: holding one open file per image fails
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 30, hard))
    try:
        d = load_dataset(f"imagefolder:{root}")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert d.x_train.shape == (40, 1, 3, 3) and d.x_test.shape == (40, 1, 3, 3)


def test_imagefolder_mixed_modes_become_rgb(tmp_path):
    root = tmp_path / "mixed"
    _save_png(root / "train" / "a" / "x.png", np.full((4, 4), 100, dtype=np.uint8))
    _save_png(root / "train" / "b" / "x.png", np.full((4, 4, 3), 50, dtype=np.uint8))
    _save_png(root / "test" / "a" / "x.png", np.full((4, 4), 100, dtype=np.uint8))
    _save_png(root / "test" / "b" / "x.png", np.full((4, 4, 3), 50, dtype=np.uint8))
    d = load_dataset(f"imagefolder:{root}")
    assert d.x_train.shape == (2, 3, 4, 4)
    assert d.x_train[0, :, 0, 0].tolist() == [100, 100, 100]


def test_imagefolder_missing_test_split(tmp_path):
    root = tmp_path / "half"
    _save_png(root / "train" / "a" / "x.png", np.zeros((4, 4), dtype=np.uint8))
    with pytest.raises(DataUnavailable) as info:
        load_dataset(f"imagefolder:{root}")
    assert "test" in str(info.value)


def test_imagefolder_missing_folder(tmp_path):
    with pytest.raises(DataUnavailable):
        load_dataset(f"imagefolder:{tmp_path / 'nope'}")


def test_imagefolder_mismatched_classes(tmp_path):
    root = tmp_path / "mismatch"
    for split, classes in (("train", ("a", "b")), ("test", ("a", "c"))):
        for c in classes:
            _save_png(root / split / c / "x.png", np.zeros((4, 4), dtype=np.uint8))
    with pytest.raises(DataUnavailable):
        load_dataset(f"imagefolder:{root}")


def test_imagefolder_empty_split(tmp_path):
    root = tmp_path / "empty"
    _save_png(root / "train" / "a" / "x.png", np.zeros((4, 4), dtype=np.uint8))
    (root / "test").mkdir(parents=True)
    with pytest.raises(DataUnavailable):
        load_dataset(f"imagefolder:{root}")


# ------------------------------------------------------------------------ index splits

LABELS = torch.tensor([0] * 10 + [1] * 7 + [2] * 12)[torch.randperm(29, generator=torch.Generator().manual_seed(5))]


def test_per_class_subset_exact_sorted():
    idx = per_class_subset(LABELS, 5, torch.Generator().manual_seed(0))
    assert torch.bincount(LABELS[idx]).tolist() == [5, 5, 5]
    assert torch.equal(idx, idx.sort().values)
    assert len(idx.unique()) == len(idx) == 15
    assert ((idx >= 0) & (idx < len(LABELS))).all()


def test_per_class_subset_determinism():
    a = per_class_subset(LABELS, 4, torch.Generator().manual_seed(7))
    b = per_class_subset(LABELS, 4, torch.Generator().manual_seed(7))
    c = per_class_subset(LABELS, 4, torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_per_class_subset_none_and_invalid():
    g = torch.Generator().manual_seed(0)
    assert torch.equal(per_class_subset(LABELS, None, g), torch.arange(29))
    with pytest.raises(ValueError):
        per_class_subset(LABELS, 0, g)
    # more than a class holds: the whole class
    idx = per_class_subset(LABELS, 11, g)
    assert torch.bincount(LABELS[idx]).tolist() == [10, 7, 11]


@pytest.mark.parametrize("frac", [0.0, 0.2, 0.3])
def test_train_val_split_stratified(frac):
    indices = torch.arange(0, 29, dtype=torch.int64)
    train, val = train_val_split(LABELS, indices, frac, torch.Generator().manual_seed(0))
    assert set(train.tolist()).isdisjoint(val.tolist())
    assert sorted(train.tolist() + val.tolist()) == indices.tolist()
    assert torch.equal(train, train.sort().values) and torch.equal(val, val.sort().values)
    counts = torch.bincount(LABELS, minlength=3).tolist()
    assert torch.bincount(LABELS[val], minlength=3).tolist() == [int(round(frac * n)) for n in counts]


def test_train_val_split_on_subset_and_determinism():
    indices = torch.tensor([1, 3, 4, 8, 11, 15, 16, 20, 22, 25, 27, 28])
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a = train_val_split(LABELS, indices, 0.5, g1)
    b = train_val_split(LABELS, indices, 0.5, g2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert sorted(a[0].tolist() + a[1].tolist()) == indices.tolist()
    with pytest.raises(ValueError):
        train_val_split(LABELS, indices, 1.0, g1)
    with pytest.raises(ValueError):
        train_val_split(LABELS, indices, -0.1, g1)


def test_class_split():
    indices = torch.arange(3, 27)
    retain, forget = class_split(LABELS, indices, [0, 2])
    assert not torch.isin(LABELS[retain], torch.tensor([0, 2])).any()
    assert torch.isin(LABELS[forget], torch.tensor([0, 2])).all()
    assert sorted(retain.tolist() + forget.tolist()) == indices.tolist()
    assert len(forget) == int(torch.isin(LABELS[indices], torch.tensor([0, 2])).sum())
    retain, forget = class_split(LABELS, indices, [])
    assert torch.equal(retain, indices) and len(forget) == 0


# -------------------------------------------------------------------- batches and views

@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("n, bs", [(10, 3), (9, 3), (1, 4), (0, 2)])
def test_batches_cover_every_position_once(shuffle, n, bs):
    g = torch.Generator().manual_seed(0) if shuffle else None
    out = list(batches(n, bs, g))
    flat = torch.cat(out).tolist() if out else []
    assert sorted(flat) == list(range(n))
    assert [len(b) for b in out] == [bs] * (n // bs) + ([n % bs] if n % bs else [])
    if not shuffle:
        assert flat == list(range(n))


def test_batches_shuffled_is_a_permutation_depending_on_seed():
    a = torch.cat(list(batches(50, 7, torch.Generator().manual_seed(1))))
    b = torch.cat(list(batches(50, 7, torch.Generator().manual_seed(1))))
    c = torch.cat(list(batches(50, 7, torch.Generator().manual_seed(2))))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a, torch.arange(50))


def test_batches_drop_last():
    out = list(batches(10, 3, None, drop_last=True))
    assert [b.tolist() for b in out] == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    out = list(batches(9, 3, torch.Generator().manual_seed(0), drop_last=True))
    assert [len(b) for b in out] == [3, 3, 3]
    # fewer samples than one batch: the single short batch is kept (never zero steps)
    assert [b.tolist() for b in batches(2, 5, None, drop_last=True)] == [[0, 1]]


def _images(b=6, c=2, h=5, w=7, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1, 256, (b, c, h, w), generator=g).to(torch.uint8)


def test_augment_identity_without_crop_or_flip():
    x = _images()
    out = augment_batch(x, 0, False, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.equal(out, x)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_augment_flip_only(dtype):
    x = _images(b=32).to(dtype)
    before = x.clone()
    out = augment_batch(x, 0, True, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == dtype
    flipped = 0
    for i in range(len(x)):
        same, mirror = torch.equal(out[i], x[i]), torch.equal(out[i], x[i].flip(-1))
        assert same or mirror
        flipped += mirror and not same
    assert 0 < flipped < len(x)  # both outcomes happen in 32 draws
    assert torch.equal(x, before)


def test_augment_crop_is_a_crop_of_the_padded_input():
    p = 2
    x = _images(b=12)
    before = x.clone()
    out = augment_batch(x, p, False, torch.Generator().manual_seed(3))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.equal(x, before)
    h, w = x.shape[-2:]
    xp = torch.nn.functional.pad(x, (p, p, p, p))
    offsets = set()
    for i in range(len(x)):
        matches = [(oy, ox) for oy in range(2 * p + 1) for ox in range(2 * p + 1)
                   if torch.equal(out[i], xp[i, :, oy:oy + h, ox:ox + w])]
        assert matches, f"sample {i} is not a crop of its padded input"
        offsets.add(matches[0])
    assert len(offsets) > 1  # offsets are drawn per sample


def test_augment_crop_and_flip():
    p = 1
    x = _images(b=10, seed=4)
    out = augment_batch(x, p, True, torch.Generator().manual_seed(5))
    h, w = x.shape[-2:]
    xp = torch.nn.functional.pad(x, (p, p, p, p))
    for i in range(len(x)):
        crops = [xp[i, :, oy:oy + h, ox:ox + w] for oy in range(3) for ox in range(3)]
        assert any(torch.equal(out[i], c) or torch.equal(out[i], c.flip(-1)) for c in crops)


def test_augment_same_seed_same_output():
    x = _images(b=16)
    a = augment_batch(x, 2, True, torch.Generator().manual_seed(9))
    b = augment_batch(x, 2, True, torch.Generator().manual_seed(9))
    c = augment_batch(x, 2, True, torch.Generator().manual_seed(10))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_normalize():
    x = torch.tensor([[[[0, 255], [51, 102]], [[255, 255], [0, 0]]]], dtype=torch.uint8)
    mean, std = (0.2, 0.5), (0.5, 0.25)
    out = normalize(x, mean, std)
    assert out.dtype == torch.float32 and out.shape == x.shape
    assert out.is_contiguous(memory_format=torch.channels_last)
    expected = torch.tensor([[[[-0.4, 1.6], [0.0, 0.4]], [[2.0, 2.0], [-2.0, -2.0]]]])
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)


def test_make_statistics_and_shapes(tiny_data):
    d = tiny_data
    assert d.x_train.shape == (60, 1, 8, 8) and d.x_test.shape == (18, 1, 8, 8)
    assert d.num_classes == 3 and d.in_channels == 1 and d.image_size == 8
    xf = d.x_train.double() / 255
    assert d.mean == pytest.approx((xf.mean().item(),), abs=1e-12)
    assert d.std == pytest.approx((xf.std().item(),), abs=1e-12)
    assert torch.bincount(d.y_train).tolist() == [20, 20, 20]
    # normalising with the data's own statistics gives zero mean / unit std
    z = normalize(d.x_train, d.mean, d.std).double()
    assert abs(z.mean().item()) < 1e-5 and abs(z.std().item() - 1) < 1e-5


def test_imagefolder_corrupt_image_is_unavailable(tmp_path):
    root = tmp_path / "corrupt"
    for split in ("train", "test"):
        for c in ("a", "b"):
            _save_png(root / split / c / "x.png", np.zeros((4, 4), dtype=np.uint8))
    (root / "train" / "a" / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(DataUnavailable, match="cannot read"):
        load_dataset(f"imagefolder:{root}")


def test_load_dataset_is_decoded_once_per_process(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setitem(idata._SOURCES, "counted", lambda root, download: calls.append(root)
                        or object())
    a = load_dataset("counted", root=tmp_path)
    assert load_dataset("counted", root=tmp_path) is a and len(calls) == 1
    assert load_dataset("counted", root=tmp_path / "other") is not a and len(calls) == 2
