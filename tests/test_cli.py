"""illusion.cli: JSON output, caching, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from illusion import cli, gridfile, pipeline
from illusion.data import DataUnavailable

KEYS = {"model", "dataset", "profile", "seed", "forget", "accuracy", "seconds", "wall_seconds",
        "cached"}
ACC_KEYS = ["train_retain", "train_forget", "test_retain", "test_forget"]


def _json_run(capsys, argv):
    rc = cli.main(argv)
    out, err = capsys.readouterr()
    assert rc == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0]), err


def _error_run(capsys, argv):
    rc = cli.main(argv)
    out, err = capsys.readouterr()
    assert rc == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("illusion: error: ")
    assert "Traceback" not in err
    return lines[0]


def test_train_json_then_cached(capsys, tiny_profile, tmp_path):
    argv = ["train", "--profile", "smoke", "--json", "--no-progress"]
    record, err = _json_run(capsys, argv)
    assert set(record) == KEYS
    assert record["model"] == "original" and record["dataset"] == "tiny"
    assert record["profile"] == "smoke" and record["seed"] == 0 and record["forget"] == []
    assert list(record["accuracy"]) == ACC_KEYS
    assert record["accuracy"]["train_forget"] is None and record["accuracy"]["test_forget"] is None
    assert 0 <= record["accuracy"]["train_retain"] <= 100
    assert 0 <= record["accuracy"]["test_retain"] <= 100
    assert record["cached"] is False and record["seconds"] >= 0
    assert tiny_profile == ["fashion_mnist"]  # the profile's dataset
    assert "train" not in err  # --no-progress: no tqdm bar
    # the artifact went to $ILLUSION_CACHE
    assert list((tmp_path / "env_cache" / "original").glob("*.pt"))

    again, _ = _json_run(capsys, argv)
    assert again["cached"] is True
    assert again["accuracy"] == record["accuracy"]
    assert again["seconds"] == record["seconds"]


def test_train_forget_gives_retrain(capsys, tiny_profile):
    record, _ = _json_run(capsys, ["train", "--profile", "smoke", "--json", "--no-progress",
                                   "--forget", "1", "--seed", "3"])
    assert record["model"] == "retrain" and record["forget"] == [1] and record["seed"] == 3
    assert all(isinstance(v, float) for v in record["accuracy"].values())


def test_train_dataset_option_is_passed(capsys, tiny_profile):
    _json_run(capsys, ["train", "--profile", "smoke", "--dataset", "cifar10", "--json",
                       "--no-progress"])
    assert tiny_profile == ["cifar10"]


def test_train_text_output(capsys, tiny_profile):
    rc = cli.main(["train", "--profile", "smoke", "--no-progress"])
    out, _ = capsys.readouterr()
    assert rc == 0
    lines = out.strip().splitlines()
    assert lines[0].startswith("original tiny profile=smoke seed=0 forget=[]")
    assert len(lines) == 5
    assert lines[2].split() == ["train_forget", "n/a"]
    assert lines[1].split()[0] == "train_retain" and lines[1].endswith("%")


def test_error_unknown_profile(capsys):
    line = _error_run(capsys, ["train", "--profile", "nope", "--no-progress"])
    assert "nope" in line and "smoke" in line


def test_error_forget_out_of_range(capsys, tiny_profile):
    line = _error_run(capsys, ["train", "--profile", "smoke", "--forget", "7", "--no-progress"])
    assert "7" in line


def test_error_forget_everything(capsys, tiny_profile):
    _error_run(capsys, ["train", "--profile", "smoke", "--forget", "0", "1", "2", "--no-progress"])


def test_error_unknown_dataset(capsys):
    line = _error_run(capsys, ["train", "--profile", "smoke", "--dataset", "nope",
                               "--no-progress"])
    assert "'nope'" in line and "cifar10" in line


def test_error_missing_imagefolder(capsys, tmp_path):
    _error_run(capsys, ["train", "--profile", "smoke", "--dataset",
                        f"imagefolder:{tmp_path / 'missing'}", "--no-progress"])


def test_error_data_unavailable_no_network(capsys, monkeypatch, tmp_path):
    import torchvision.datasets

    def no_network(self, *args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(torchvision.datasets.CIFAR10, "__init__", no_network)
    line = _error_run(capsys, ["train", "--profile", "smoke", "--dataset", "cifar10",
                               "--no-progress"])
    assert str(tmp_path / "env_data") in line  # the data root from ILLUSION_DATA


def test_error_data_unavailable_raised(capsys, monkeypatch):
    def unavailable(*args, **kwargs):
        raise DataUnavailable("place the files in X")

    monkeypatch.setattr(pipeline, "load_dataset", unavailable)
    line = _error_run(capsys, ["train", "--profile", "smoke", "--no-progress"])
    assert line == "illusion: error: place the files in X"


@pytest.mark.parametrize("argv", [["train", "--seed", "abc"], [], ["nope"],
                                  ["train", "--forget", "x"]])
def test_argparse_errors_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_interrupt_exits_130(capsys, monkeypatch, tiny_profile):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "train_or_load", interrupted)
    assert cli.main(["train", "--profile", "smoke", "--no-progress"]) == 130
    err = capsys.readouterr().err
    assert err.startswith("illusion: interrupted") and len(err.strip().splitlines()) == 1


def test_subprocess_unknown_profile(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "illusion.cli", "train", "--profile", "nope"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("illusion: error: ")
    assert proc.stdout == ""
    assert list(tmp_path.iterdir()) == []  # nothing written into the working directory


def test_sweep_book_grid_unknown_profile(capsys):
    line = _error_run(capsys, ["sweep", "book:nope"])
    assert line.startswith("illusion: error: unknown profile 'nope' in 'book:nope'")


def test_sweep_book_grid_is_the_books_declared_cells():
    from illusion.book import book_grid

    assert gridfile.resolve_grid("book:cpu") == book_grid("cpu")
