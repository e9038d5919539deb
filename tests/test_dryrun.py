"""illusion.dryrun: a dry run changes data size and step counts and nothing else."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from illusion import data as idata
from illusion import rows, dryrun, gridfile
from illusion.methods import available, create_method, dry_caps, hparams_for
from illusion.profiles import get_profile

GRIDS = Path(__file__).resolve().parents[1] / "grids"


def test_synthetic_twin_has_the_shape_and_classes_of_the_dataset():
    for name, classes, shape in (("cifar10", 10, (3, 32, 32)), ("cifar100", 100, (3, 32, 32)),
                                 ("fashion_mnist", 10, (1, 28, 28))):
        d = idata.load_dataset(f"synthetic:{name}")
        assert d.num_classes == classes and tuple(d.x_train.shape[1:]) == shape
        assert d.x_train.dtype == torch.uint8
        counts = torch.bincount(d.y_train, minlength=classes)
        assert (counts == max(1, idata.SYNTHETIC.train_images // classes)).all()
        assert (torch.bincount(d.y_test, minlength=classes) == 1).all()
    again = idata.synthetic_dataset("cifar10", 10)
    assert torch.equal(again.x_train, idata.load_dataset("synthetic:cifar10").x_train)


def test_dry_profile_changes_only_step_counts():
    real, dry = get_profile("paper"), get_profile("paper:dry")
    changed = {f.name for f in dataclasses.fields(real.train)
               if getattr(real.train, f.name) != getattr(dry.train, f.name)}
    assert changed == {"epochs", "warmup_epochs", "patience"}
    assert dry.train.epochs == 2 and dry.train.patience == 1
    assert dry.train.width == 64 and dry.train.padding == 4 and dry.train.flip


def test_methods_declare_the_dry_caps_of_their_step_counts():
    """The caps come from the methods' own files and are the step counts (and UNSIR's noise
    size) every method had capped before they moved there: none lost, none added."""
    assert dry_caps() == {"epochs": 1, "head_epochs": 1, "msteps": 1, "noise_steps": 1,
                          "noise_inner": 1, "noise_copies": 1, "noise_batch": 4}


def test_dry_hparams_cap_step_counts_only():
    caps = dry_caps()
    for method in available():
        real = create_method(method, **hparams_for(method, "paper")).hp  # defaults included
        dry = hparams_for(method, "paper:dry")
        assert real.keys() == dry.keys()
        for key in real:
            if key in caps:
                assert dry[key] == min(real[key], caps[key])
            else:
                assert dry[key] == real[key], (method, key)
        create_method(method, **dry)


def test_dry_grid_keeps_every_cell_and_kinds_every_entry():
    grid = gridfile.load_grid(GRIDS / "paper_cifar10.yaml")
    dry = dryrun.dry_grid(grid)
    assert len(dry.rows) == len(grid.rows) and dry.extras == grid.extras
    for real, twin in zip(grid.rows, dry.rows):
        assert twin.dataset == "synthetic:" + real.dataset
        assert twin.profile == real.profile + ":dry"
        assert (twin.seed, twin.forget, twin.method, twin.label) == \
            (real.seed, real.forget, real.method, real.label)
        rows.row_spec(twin, dry.extras)  # every cell's spec builds
    kinds = dryrun.kinds_only(grid)
    assert {c.label for c in kinds.rows} == {c.label for c in grid.rows}
    assert {len(c.forget) > 1 for c in kinds.rows} == {False, True}
    assert len({c.seed for c in kinds.rows}) == 1
    assert len(kinds.rows) == 2 * len({c.label for c in grid.rows})


def test_sweep_parses_synthetic_datasets():
    raw = {"name": "g", "profile": "paper", "dataset": "synthetic:cifar100",
           "seeds": [0], "forget_sets": [[99]], "methods": ["scrub"]}
    assert len(gridfile.parse_grid(raw).rows) == 2
