"""Hostile input (property-based): every command line, ``--set`` value and grid file either
reaches the work with valid values or stops with exit status 2 and one line, before any data is
read or model trained, leaving no artifact. The work itself is replaced by a sentinel, so no
example trains anything."""

from __future__ import annotations

import json
import math

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from illusion import cli, gridfile, pipeline, sweep
from illusion.methods import create_method, hparams_for

FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


class Reached(Exception):
    """Raised where the real work would start."""


@pytest.fixture
def no_work(monkeypatch, tmp_path):
    """Replace every entry point of real work by ``Reached``; returns the cache root, which
    must stay empty."""
    def stop(*args, **kwargs):
        raise Reached

    for name in ("train_or_load", "unlearn_or_load", "load_dataset"):
        monkeypatch.setattr(pipeline, name, stop)
    import illusion.evaluation

    monkeypatch.setattr(illusion.evaluation, "evaluate_checkpoint", stop)
    monkeypatch.setattr(sweep, "run_sweep", stop)
    return tmp_path / "env_cache"


def _outcome(capsys, argv) -> tuple[str, int | None, str]:
    """("reached", None, err) or ("exit", status, err) of ``illusion ARGV``."""
    try:
        status = cli.main(argv)
    except Reached:
        return "reached", None, capsys.readouterr().err
    except SystemExit as exc:  # argparse
        return "exit", exc.code, capsys.readouterr().err
    return "exit", status, capsys.readouterr().err


def _assert_rejected_cleanly(status, err, cache_root):
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and "Traceback" not in err, err
    assert not cache_root.exists() or not any(p.is_file() for p in cache_root.rglob("*"))


# ------------------------------------------------------------------------- --set values

VALUES = st.one_of(st.integers(-10**6, 10**6), st.floats(), st.booleans(),
                   st.text(alphabet="abcxyz.-+=1e ", max_size=6), st.just("abc"),
                   st.lists(st.floats(-1, 2), max_size=4))
KEYS = st.sampled_from(["lr", "epochs", "batch_size", "momentum", "weight_decay", "threshold",
                        "msteps", "T", "noise_batch", "head_epochs", "layer_weights",
                        "temperature", "zero_head", "cmf_rule", "nope", ""])
METHODS = st.sampled_from(["scrub", "salun", "unsir", "random_label+cmf", "salun+ec", "ec",
                           "last_layer:finetune", "prune_row", "retrain", "neggrad_plus"])


def _independent_verdict(key, value) -> bool | None:
    """Whether a value is acceptable, for the keys whose rule is plain (None: not judged)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    finite = number and math.isfinite(value)
    return {"lr": finite and value >= 0, "momentum": finite and 0 <= value <= 1,
            "threshold": finite and 0 <= value <= 1,
            "epochs": isinstance(value, int) and not isinstance(value, bool) and value >= 0,
            "batch_size": isinstance(value, int) and not isinstance(value, bool) and value >= 1,
            }.get(key)


@FAST
@given(method=METHODS, key=KEYS, value=VALUES)
def test_set_values_are_checked_before_training(capsys, no_work, method, key, value):
    text = value if isinstance(value, str) else json.dumps(value)
    what, status, err = _outcome(capsys, ["unlearn", "--profile", "smoke", "--forget", "0",
                                          "--method", method, "--set", f"{key}={text}",
                                          "--no-progress"])
    if what == "exit":
        _assert_rejected_cleanly(status, err, no_work)
        return
    parsed = cli._parse_setting(f"{key}={text}")[1]
    create_method(method, **{**hparams_for(method, "smoke"), key: parsed})  # really valid
    verdict = _independent_verdict(key, parsed)
    assert verdict is not False, f"{key}={text!r} accepted"


@pytest.mark.parametrize("argv, words", [
    (["--set", "lr=abc"], "lr='abc' must be a number"),
    (["--set", "lr=-1"], "lr=-1 must be >= 0"),
    (["--set", "epochs=1.5"], "epochs=1.5 must be an integer"),
    (["--set", "lr=1e999"], "must be finite"),
    (["--forget", "11"], "out of range 0..9"),
])
def test_issue_examples(capsys, no_work, argv, words):
    base = ["unlearn", "--profile", "cpu", "--method", "scrub", "--no-progress"]
    if "--forget" not in argv:
        base += ["--forget", "0"]
    what, status, err = _outcome(capsys, base + argv)
    assert what == "exit" and words in err
    _assert_rejected_cleanly(status, err, no_work)


def test_checkpoint_that_is_not_one(capsys, no_work, tmp_path):
    text = tmp_path / "passwd"
    text.write_text("root:x:0:0:root:/root:/bin/bash\n")
    for path, words in ((text, "is not a PyTorch checkpoint"), (tmp_path, "not a regular file"),
                        (tmp_path / "none.pt", "no such file")):
        what, status, err = _outcome(capsys, ["evaluate", "--checkpoint", str(path),
                                              "--dataset", "fashion_mnist"])
        assert what == "exit" and words in err
        _assert_rejected_cleanly(status, err, no_work)


# ------------------------------------------------------------------------ command lines

TOKENS = st.one_of(
    st.sampled_from(["train", "evaluate", "unlearn", "methods", "sweep", "--profile", "smoke",
                     "paper", "nope", "--dataset", "cifar10", "mnist", "imagefolder:/none",
                     "--seed", "-1", "0", "3", "1e3", "99999999999999999999", "--forget", "11",
                     "1", "-3", "--method", "scrub", "bogus", "salun+cmf", "--set", "lr=abc",
                     "epochs=2", "lr=0.1", "--checkpoint", "/etc/passwd", "--width", "--per-class",
                     "--max-parallel", "--model", "retrain", "--out", "/tmp", "--json",
                     "--dry-run", "kinds", "grids/smoke.yaml", "/none.yaml", "--no-progress"]),
    st.text(alphabet="abz019.:/=_", max_size=6))


@FAST
@given(argv=st.lists(TOKENS, max_size=8))
def test_any_command_line_is_work_or_one_line(capsys, no_work, argv):
    what, status, err = _outcome(capsys, argv)
    if what == "exit" and status != 0:
        _assert_rejected_cleanly(status, err, no_work)
    else:  # reached the work, or a command that did its job (`methods`)
        assert "Traceback" not in err


# ----------------------------------------------------------------------------- grids

HPARAMS = st.dictionaries(st.sampled_from(["lr", "epochs", "threshold", "msteps", "nope"]),
                          VALUES, max_size=2)
ENTRY = st.one_of(
    st.sampled_from(["retrain", "scrub", "salun+cmf", "last_layer:scrub", "nope", "original"]),
    st.fixed_dictionaries({"method": st.sampled_from(["scrub", "salun", "ec", "nope"])},
                          optional={"hparams": HPARAMS, "label": st.text(max_size=3),
                                    "extras": st.lists(st.sampled_from(["relearn", "nope"]),
                                                       max_size=2)}),
    st.integers())
GRID = st.fixed_dictionaries({}, optional={
    "name": st.one_of(st.text(alphabet="ab/", max_size=3), st.integers()),
    "profile": st.one_of(st.sampled_from(["smoke", "cpu", "paper", "nope"]),
                         st.lists(st.sampled_from(["smoke", "paper"]), max_size=2)),
    "dataset": st.sampled_from(["fashion_mnist", "cifar100", "mnist", "imagefolder:/none"]),
    "seeds": st.one_of(st.lists(st.one_of(st.integers(-2, 2), st.booleans(),
                                          st.just(2**70)), max_size=3), st.integers()),
    "forget_sets": st.lists(st.one_of(st.lists(st.integers(-1, 12), max_size=3),
                                      st.integers()), max_size=3),
    "methods": st.lists(ENTRY, max_size=3),
    "extras": st.lists(st.sampled_from(["feature_drift", "nope"]), max_size=2),
    "colour": st.integers()})


@FAST
@given(raw=GRID)
def test_any_grid_parses_or_fails_with_one_line(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("grid") / "g.yaml"
    path.write_text(yaml.safe_dump(raw))
    try:
        grid = gridfile.load_grid(path)
    except ValueError as exc:
        assert "\n" not in str(exc)
        return
    classes = {"fashion_mnist": 10, "cifar10": 10, "cifar100": 100}
    for cell in grid.rows:  # everything a cell will use is valid
        assert 0 <= cell.seed < 2**63
        assert all(0 <= c < classes[cell.dataset] for c in cell.forget)
        assert len(cell.forget) < classes[cell.dataset]
        if cell.method != "original":
            create_method(cell.method, **{**hparams_for(cell.method, cell.profile),
                                          **cell.hparams})


@FAST
@given(text=st.text(max_size=40))
def test_any_text_as_grid_is_a_grid_or_one_line(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("grid") / "g.yaml"
    path.write_text(text)
    try:
        gridfile.load_grid(path)
    except ValueError as exc:
        assert "\n" not in str(exc)
