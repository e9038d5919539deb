"""Shared fixtures: tiny synthetic data, a temporary artifact cache and a tiny training recipe."""

from __future__ import annotations

import pytest
import torch

from illusion import data as idata
from illusion import pipeline, profiles
from illusion.cache import ArtifactCache
from illusion.train import TrainConfig

# One intra-op thread: on a small, busy machine OpenMP's spinning threads make these tiny
# models up to ~100x slower; results in this suite are compared only within one process.
torch.set_num_threads(1)
# oneDNN's convolution backward corrupts the heap for the tests' 2- and 4-channel models on an
# AVX2-only AMD EPYC (torch 2.14.1: "corrupted double-linked list", then abort), in channels-last
# and, with cropped inputs, in contiguous format too; width 8 and up (the smoke and cpu
# profiles) are fine. Native kernels are exact and fast enough for these tiny models.
torch.backends.mkldnn.enabled = False

NUM_CLASSES = 3
TRAIN_PER_CLASS = 20
TEST_PER_CLASS = 6
SIZE = 8


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """Never write into the repository: cache and data roots point into tmp_path."""
    monkeypatch.setenv("ILLUSION_CACHE", str(tmp_path / "env_cache"))
    monkeypatch.setenv("ILLUSION_DATA", str(tmp_path / "env_data"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # for subprocesses started by tests
    monkeypatch.setattr(idata, "_LOADED", {})  # a dataset loaded by one test is not another's


def make_tiny_data(seed: int = 1234) -> idata.ImageData:
    """3 classes, 1 channel, 8x8 uint8 images; class c has brightness around 40 + 80 c."""
    g = torch.Generator().manual_seed(seed)

    def split(per_class: int):
        y = torch.arange(NUM_CLASSES).repeat_interleave(per_class)
        # interleave classes so that label order is not trivially sorted
        y = y[torch.randperm(len(y), generator=g)]
        noise = torch.randint(-30, 31, (len(y), SIZE, SIZE), generator=g)
        x = (40 + 80 * y[:, None, None] + noise).clamp(0, 255).to(torch.uint8)
        return x, y

    x_train, y_train = split(TRAIN_PER_CLASS)
    x_test, y_test = split(TEST_PER_CLASS)
    return idata._make("tiny", [f"c{i}" for i in range(NUM_CLASSES)],
                       x_train, y_train, x_test, y_test)


@pytest.fixture
def tiny_data() -> idata.ImageData:
    return make_tiny_data()


@pytest.fixture
def cache(tmp_path) -> ArtifactCache:
    return ArtifactCache(tmp_path / "cache")


@pytest.fixture
def tiny_config() -> TrainConfig:
    # 60 train images -> 48 train / 12 val (stratified 0.2) -> 3 batches of 16.
    return TrainConfig(width=2, per_class=None, epochs=2, batch_size=16, lr=0.05,
                       warmup_epochs=1, val_fraction=0.2)


@pytest.fixture
def train_tiny(tiny_data, cache):
    """``train_tiny(epochs)``: a tiny original that knows every class of ``tiny_data``
    (width 4, trained or loaded through the test's cache)."""
    def make(epochs: int = 6):
        cfg = TrainConfig(width=4, per_class=None, epochs=epochs, batch_size=16, lr=0.05,
                          warmup_epochs=1, val_fraction=0.2, nc_per_class=0)
        return pipeline.train_or_load(profile="smoke", config=cfg, data=tiny_data, cache=cache,
                                      device="cpu", progress=False)
    return make


@pytest.fixture
def tiny_profile(monkeypatch, tiny_data, tiny_config):
    """The smoke profile trains tiny_config on tiny_data; returns the recorded load calls."""
    calls = []

    def fake_load(name, *args, **kwargs):
        calls.append(name)
        return tiny_data

    monkeypatch.setitem(profiles.PROFILES, "smoke",
                        profiles.Profile("smoke", "fashion_mnist", tiny_config, "tiny test profile"))
    monkeypatch.setattr(pipeline, "load_dataset", fake_load)
    return calls
