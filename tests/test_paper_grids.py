"""The paper grids hold [A]'s forget sets (../shared/spec/paper.md, from [A]'s run scripts) and
the cpu grid holds the +CMF methods at [A]'s learning rates beside the tuned ones."""

from __future__ import annotations

from pathlib import Path

from illusion.methods import hparams_for
from illusion.book import book_grid
from illusion.rows import row_spec
from illusion.gridfile import load_grid

ROOT = Path(__file__).resolve().parents[1]
CIFAR100_SETS = [(0,), (1,), (2,), (3,), (5,),
                 (3, 15, 19, 21, 31, 38, 42, 43, 88, 97),
                 (47, 52, 54, 56, 59, 62, 70, 82, 92, 96),
                 (5, 20, 22, 25, 39, 40, 84, 86, 87, 94),
                 (8, 13, 41, 48, 59, 69, 81, 85, 89, 90),
                 (1, 4, 30, 32, 55, 67, 72, 73, 91, 95)]
CIFAR10_SETS = [(c,) for c in range(10)] + [(0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 5, 9),
                                             (2, 4, 8)]


def _forget_sets(grid) -> list[tuple[int, ...]]:
    return list(dict.fromkeys(tuple(c.forget) for c in grid.rows))


def test_paper_grids_hold_a_forget_sets():
    assert _forget_sets(load_grid(ROOT / "grids" / "paper_cifar100.yaml")) == CIFAR100_SETS
    assert _forget_sets(load_grid(ROOT / "grids" / "paper_cifar10.yaml")) == CIFAR10_SETS
    text = (ROOT / "grids" / "paper_cifar100.yaml").read_text().lower()
    assert "placeholder" not in text


def test_cifar100_multi_cells_get_a_multi_class_values():
    grid = load_grid(ROOT / "grids" / "paper_cifar100.yaml")
    lrs = {(c.method, len(c.forget)): row_spec(c)["hparams"]["lr"] for c in grid.rows
           if c.method in ("scrub", "neggrad_plus")}
    assert lrs == {("scrub", 1): 1e-3, ("scrub", 10): 3e-4,
                   ("neggrad_plus", 1): 5e-5, ("neggrad_plus", 10): 1e-4}


def test_cpu_grid_has_each_cmf_method_at_a_learning_rate():
    """C6's +CMF rows and C4's last-layer UNSIR at [A]'s learning rates, in every cell, with
    the values [A] uses for that forget set's size."""
    grid = book_grid("cpu")
    at_a = [c for c in grid.rows if c.label.endswith("@A")]
    assert {c.label for c in at_a} == {f"{m}+cmf@A" for m in (
        "random_label", "salun", "neggrad_plus", "scrub", "unsir")} | {"last_layer:unsir@A"}
    assert len(at_a) == 6 * len({(c.seed, c.forget) for c in grid.rows})
    for cell in at_a:
        label = f"{cell.label} {cell.forget}"
        paper = hparams_for(cell.method, "paper", len(cell.forget))
        hp = row_spec(cell)["hparams"]
        assert hp["lr"] == paper["lr"], label
        assert hp.get("impair_lr") == paper.get("impair_lr"), label
        assert hp["epochs"] == paper["epochs"], label
