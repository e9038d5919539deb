import pandas as pd
import pytest

from illusion import grid
from illusion.profiles import PAPER_FORGET_SETS, get_profile


def test_grid_cells_defaults_and_validation():
    assert grid.grid_cells("cpu") == [(0, (0,))]
    paper = grid.grid_cells("paper")
    assert len(paper) == len(PAPER_FORGET_SETS) * 3 and (2, (2, 4, 8)) in paper
    assert grid.grid_cells("cpu", [[4, 2]], [1, 2]) == [(1, (2, 4)), (2, (2, 4))]
    for bad in ([[]], []):
        with pytest.raises(ValueError):
            grid.grid_cells("cpu", bad, [0])
    with pytest.raises(ValueError, match="repeated"):
        grid.grid_cells("cpu", [[1, 2], [2, 1]], [0])
    with pytest.raises(KeyError):
        grid.grid_cells("nope")


def test_forget_label():
    assert grid.forget_label((0,)) == "0" and grid.forget_label((2, 4, 8)) == "2+4+8"


def test_summarise_mean_std_count():
    t = pd.DataFrame({"method": ["a", "a", "b"], "x": [1.0, 3.0, 5.0]})
    s = grid.summarise(t, ["x"])
    assert list(s.index) == ["a", "b"]
    assert s.loc["a", "x_mean"] == 2.0 and s.loc["a", "x_std"] == pytest.approx(2 ** 0.5)
    assert s.loc["a", "n"] == 2 and s.loc["b", "n"] == 1 and pd.isna(s.loc["b", "x_std"])


def test_run_grid_stacks_cells(tiny_profile, cache):
    t = grid.run_grid(["prune_row"], None, "smoke", [[1], [0, 2]], [0], progress=False,
                      cache=cache)
    assert list(t["forget"].unique()) == ["1", "0+2"]
    assert set(t["n_forget"]) == {1, 2}
    for label in ("1", "0+2"):
        assert t.loc[t["forget"] == label, "method"].tolist() == ["original", "prune_row"]
    # each cell is evaluated with its own forget set: class 1 alone has a third of the test set
    originals = t[t["method"] == "original"].set_index("forget")
    assert originals.loc["1", "ncc_test_forget"] != originals.loc["0+2", "ncc_test_forget"]
    assert get_profile("smoke").seeds == (0,)


def test_run_grid_labelled_entry_is_the_method_with_its_overrides(tiny_profile, cache):
    """A ``(label, method, hparams)`` entry names its row and reads the model that
    ``unlearn_or_load(method, hparams)`` (and hence a sweep entry with those hparams) caches."""
    from illusion.experiments import method_row
    from illusion.pipeline import unlearn_or_load

    entry = ("finetune@slow", "finetune", {"lr": 1e-4, "epochs": 1})
    t = grid.run_grid(["finetune", entry], None, "smoke", [[1]], [0], progress=False,
                      cache=cache)
    assert t["method"].tolist() == ["original", "finetune", "finetune@slow"]
    tm = unlearn_or_load(None, "smoke", 0, (1,), "finetune", {"lr": 1e-4, "epochs": 1},
                         cache=cache, progress=False)
    assert tm.cached  # built by run_grid under the same cache key
    row = t.set_index("method").loc["finetune@slow"]
    assert row["output_test_retain"] == method_row("x", tm, (1,), 0, cache)["output_test_retain"]
    assert tm.spec["hparams"]["lr"] == 1e-4
