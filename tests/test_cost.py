"""illusion.cost: the image-pass counts of a grid (pure counting; no training, no Ray)."""

from __future__ import annotations

import pandas as pd
import pytest

from pathlib import Path

from illusion import cost as gc
from illusion.methods.work import cycled
from illusion.methods import available, create_method, hparams_for
from illusion.profiles import get_profile
from illusion.book import book_grid
from illusion.gridfile import load_grid

ROOT = Path(__file__).resolve().parents[1]
CPU = get_profile("cpu").train


def test_split_sizes_follow_the_profile():
    s = gc.split_sizes("fashion_mnist", CPU, 1)  # 500/class, 10% held out
    assert (s.train_per_class, s.val_per_class) == (450, 50)
    assert (s.train, s.forget, s.retain) == (4500, 450, 4050)
    assert (s.test_forget, s.test_retain) == (1000, 9000)
    paper = gc.split_sizes("cifar100", get_profile("paper").train, 3)
    assert (paper.train, paper.forget, paper.val_retain) == (45000, 1350, 97 * 50)


def test_retrain_is_epochs_times_retain_set():
    s = gc.split_sizes("fashion_mnist", CPU, 1)
    work = gc.training_work(CPU, s)
    assert work.train == CPU.epochs * s.retain
    # forward only (1/3 unit): validation of the retained classes and the NC tracker
    expected = CPU.epochs * (s.retain + (s.val_retain + 9 * CPU.nc_per_class) / 3)
    assert work.units == pytest.approx(expected)


def test_methods_count_the_sets_they_iterate():
    s = gc.split_sizes("fashion_mnist", CPU, 1)
    hp = {"epochs": 3, "batch_size": 128}
    assert gc.method_work("random_label", hp, s).units == 3 * (s.retain + s.forget)
    assert gc.method_work("grad_ascent", hp, s).units == 3 * s.forget
    assert gc.method_work("finetune", hp, s).units == 3 * s.retain
    scrub = {**hp, "msteps": 2}  # max passes on D_f in epochs 0-1, min passes on D_r; teacher
    assert gc.method_work("scrub", scrub, s).units == pytest.approx(
        (2 * s.forget + 3 * s.retain) * 4 / 3)
    # classifier-only: the same images, forward only
    assert gc.method_work("last_layer:random_label", hp, s).units == pytest.approx(
        3 * (s.retain + s.forget) / 3)
    # +cmf: the base's work and a class-mean pass over the training split per epoch
    cmf = {**hp, "cmf_rule": "full"}
    assert gc.method_work("random_label+cmf", cmf, s).units == pytest.approx(
        3 * (s.retain + s.forget) + 3 * s.train / 3)


def test_cycled_forget_stream():
    assert cycled(10, 4, 3) == 10  # 4 + 4 + 2: one pass
    assert cycled(10, 4, 4) == 14  # and the first batch of the next
    assert cycled(0, 4, 5) == 0


@pytest.mark.parametrize("name", [n for n in available() if n != "retrain"])
def test_every_registered_method_has_a_cost_model(name):
    hp = create_method(name, **hparams_for(name, "cpu")).hp
    work = gc.method_work(name, hp, gc.split_sizes("fashion_mnist", CPU, 1))
    assert work.units >= 0 and (work.units > 0) == (name != "prune_row")


def test_grid_totals():
    cpu = gc.cost_table(book_grid("cpu"))
    assert cpu["total"].sum() > 0
    grid = load_grid(ROOT / "grids" / "paper_cifar10.yaml")
    for cell in grid.rows:
        assert sum(item.work.units for item in gc.row_items(cell, grid.extras)) > 0
    table = gc.cost_table(grid)
    paper = get_profile("paper").train
    # the original is trained once per seed, not once per forget set
    once = gc.training_work(paper, gc.split_sizes("cifar10", paper, 0)).units
    assert table.loc["original", "train"] == pytest.approx(3 * once)
    assert table["share"].sum() == pytest.approx(1.0)


def test_calibration_recovers_a_known_rate():
    grid = load_grid(ROOT / "grids" / "smoke.yaml")
    rows = []
    for cell in grid.rows:
        own = next(i for i in gc.row_items(cell) if i.phase == "train" and i.label == cell.label)
        rows.append({"dataset": cell.dataset, "profile": cell.profile, "seed": cell.seed,
                     "forget": "+".join(map(str, cell.forget)), "n_forget": len(cell.forget),
                     "method": cell.label, "base_method": cell.method, "status": "run",
                     "seconds": 2e-3 * own.work.units, "wall_seconds": 1.0})
    table, fit = gc.calibrate(pd.DataFrame(rows), grid)
    assert fit == pytest.approx(2e-3)
    assert table["vs_fit"].tolist() == pytest.approx([1.0] * len(table))
    assert table.loc["original", "models"] == 1  # one original, two forget sets
