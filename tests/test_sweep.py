"""illusion.gridfile's grid checks; illusion.sweep: the smoke grid on local Ray, the row cache,
failed cells, progress lines, results files, CLI."""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from illusion import book, rows, cli, gridfile, sweep
from illusion.cache import ArtifactCache, running_builds
from illusion import data as idata

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "grids" / "smoke.yaml"
# One layer weight passes the hyperparameter checks (a list of non-negative numbers) but not
# EC's setup, which needs one per supervision point of the model: the cell fails when it runs.
BROKEN = {"method": "ec", "label": "broken", "hparams": {"layer_weights": [1.0]}}
needs_fashion_mnist = pytest.mark.skipif(
    not idata.DEBIAN_FASHION_MNIST.is_dir(),
    reason="Ray workers load the real smoke profile: needs Debian's dataset-fashion-mnist")


def _grid(**changes) -> dict:
    return {"name": "t", "profile": "smoke", "methods": ["random_label"], **changes}


# ------------------------------------------------------------------------ parsing

@pytest.mark.parametrize("changes, match", [
    ({"methods": ["nope"]}, r"unknown method 'nope'; choose from .*random_label"),
    ({"profile": "huge"}, r"unknown profile 'huge'; choose from smoke, cpu, paper"),
    ({"profile": ["smoke", 3]}, "profile"),
    ({"forget_sets": [[]]}, "empty forget set"),
    ({"forget_sets": [[3, 10]]}, r"\[10\] out of range 0\.\.9 for fashion_mnist"),
    ({"forget_sets": [0]}, "list of class indices"),
    ({"forget_sets": [list(range(10))]}, "no class of fashion_mnist to retain"),
    ({"forget_sets": [[1], [1]]}, "duplicate cell.*forget=1"),
    ({"forget_sets": [[1, 2], [2, 1]]}, "duplicate cell"),
    ({"seeds": [0, 0]}, "duplicate cell"),
    ({"methods": ["random_label", {"method": "random_label"}]}, "duplicate cell"),
    ({"methods": ["original"]}, "'original' is a row of every grid"),
    ({"methods": []}, "`methods` must be a non-empty list"),
    ({"methods": [{"method": "scrub", "hparams": {"nope": 1}}]}, "unknown hyperparameter"),
    ({"methods": [{"method": "scrub", "hparams": {"lr": "abc"}}]}, "lr='abc' must be a number"),
    ({"methods": [{"method": "scrub", "hparams": {"epochs": -1}}]}, "epochs=-1 must be >= 0"),
    ({"methods": [{"method": "scrub", "colour": "red"}]}, r"unknown key\(s\) \['colour'\]"),
    ({"extras": ["nope"]}, "unknown extra 'nope' in extras; choose from .*feature_drift"),
    ({"methods": [{"method": "scrub", "extras": ["nope"]}]},
     "unknown extra 'nope' in method entry 'scrub'; choose from .*relearn"),
    ({"dataset": "mnist"}, "unknown dataset 'mnist'"),
    ({"seed": [0]}, r"unknown grid key\(s\) \['seed'\]"),
    ({"name": "a/b"}, "name"),
])
def test_parse_grid_rejects_with_one_line(changes, match):
    with pytest.raises(ValueError, match=match) as info:
        gridfile.parse_grid(_grid(**changes))
    assert "\n" not in str(info.value)


def test_smoke_grid_cells_in_grid_order():
    grid = gridfile.load_grid(SMOKE)
    assert grid.name == "smoke" and grid.extras == ()
    assert [(c.forget, c.label) for c in grid.rows] == [
        ((0,), "original"), ((0,), "retrain"), ((0,), "random_label"),
        ((1,), "original"), ((1,), "retrain"), ((1,), "random_label")]
    assert {c.group for c in grid.rows} == {("fashion_mnist", "smoke", 0)}


def test_defaults_lists_and_method_entries():
    grid = gridfile.parse_grid({"name": "g", "profile": ["cpu", "paper"], "methods": [
        "scrub+cmf", {"method": "ec", "label": "ec_long", "hparams": {"epochs": 5}}]})
    cpu = [c for c in grid.rows if c.profile == "cpu"]
    paper = [c for c in grid.rows if c.profile == "paper"]
    # the profile's own (seed, forget set) cells
    assert [(c.seed, c.forget) for c in cpu if c.label == "original"] == book.grid_cells("cpu")
    assert len(cpu) == 3 * len(book.grid_cells("cpu"))
    one_axis = gridfile.parse_grid({"name": "g", "profile": "cpu", "seeds": [1],
                                 "methods": ["retrain"]})
    assert {(c.seed, c.forget) for c in one_axis.rows} == {(1, (0,))}
    assert len(paper) == 15 * 3 * 3 and {c.dataset for c in paper} == {"cifar10"}
    ec = next(c for c in grid.rows if c.label == "ec_long")
    assert ec.method == "ec" and ec.hparams == {"epochs": 5}
    # a dataset with more classes widens the range
    wide = gridfile.parse_grid(_grid(profile="paper", dataset="cifar100", forget_sets=[[99]],
                                  seeds=[1]))
    assert {(c.dataset, c.forget, c.seed) for c in wide.rows} == {("cifar100", (99,), 1)}


def test_cell_spec_decides_the_row():
    from illusion.methods import hparams_for

    lr = 3 * hparams_for("scrub+cmf", "cpu")["lr"]  # unlike the profile's, whatever it is tuned to
    grid = gridfile.parse_grid(_grid(profile="cpu", forget_sets=[[0]], seeds=[0], methods=[
        "scrub+cmf", {"method": "scrub+cmf", "label": "fast", "hparams": {"lr": lr}},
        {"method": "scrub+cmf", "label": "same"}]))
    base, fast, same = (rows.row_spec(c) for c in grid.rows[1:])
    assert base == same  # the label only names the row
    assert fast["hparams"]["lr"] == lr and base["hparams"]["lr"] != lr
    assert base["start"] == "cmf_original" and base["start_hparams"]  # the CMF fine-tune
    assert rows.row_spec(grid.rows[0])["hparams"] == {}  # the original
    assert rows.row_spec(grid.rows[1], ["feature_drift"]) != base


def test_load_grid_file_errors(tmp_path):
    with pytest.raises(ValueError, match="cannot read grid"):
        gridfile.load_grid(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("methods: [retrain\nprofile: smoke\n")
    with pytest.raises(ValueError, match="not valid YAML") as info:
        gridfile.load_grid(bad)
    assert "\n" not in str(info.value)
    unnamed = tmp_path / "mine.yaml"
    unnamed.write_text("profile: smoke\nmethods: [retrain]\n")
    assert gridfile.load_grid(unnamed).name == "mine"


def test_shipped_grids_parse():
    names = {p.stem: gridfile.load_grid(p) for p in (ROOT / "grids").glob("*.yaml")}
    assert {"smoke", "paper_cifar10", "paper_cifar100"} <= set(names)
    paper = names["paper_cifar10"]
    assert len(paper.rows) == 15 * 3 * 16 and paper.extras == ("feature_drift",)
    for grid in names.values():
        for cell in grid.rows:
            rows.row_spec(cell, grid.extras)  # every resolved method builds


def test_cmf_original_is_a_model_row():
    grid = gridfile.parse_grid(_grid(methods=["cmf_original", "scrub+cmf"]))
    by_label = {c.label: c for c in grid.rows}
    spec = rows.row_spec(by_label["cmf_original"])
    assert spec["start"] == "cmf_original" and spec["hparams"] == {}
    assert spec["start_hparams"] == rows.row_spec(by_label["scrub+cmf"])["start_hparams"]
    for bad in ({"method": "cmf_original", "hparams": {"lr": 1.0}},
                {"method": "cmf_original", "label": "x"}):
        with pytest.raises(ValueError, match="cmf_original"):
            gridfile.parse_grid(_grid(methods=[bad]))


# ------------------------------------------------------------- one cell, in process

def test_run_cell_caches_row_and_extra(tiny_profile, cache):
    cell = rows.Row("fashion_mnist", "smoke", 0, (1,), "prune_row", "pr")
    row, cached = rows.run_row(cell, ["feature_drift"], cache)
    assert not cached and row["method"] == "pr" and row["wall_seconds"] > 0
    assert {"cka_test", "forget_mean_shift", "probe_test_forget", "seconds"} <= set(row)
    again, cached = rows.run_row(cell, ["feature_drift"], cache)
    assert cached and again == row


def test_entry_extras_feed_what_the_notebooks_read(tiny_profile, cache):
    from illusion.cache import NotBuilt, build_log

    grid = gridfile.parse_grid(_grid(methods=[
        "prune_row", {"method": "random_label", "extras": ["stage_cka", "stage_probes",
                                                           "relearn", "stage_cka_flat"]}]))
    plain, rl = grid.rows[1], grid.rows[2]
    assert plain.extras == () and rl.extras == ("stage_cka", "stage_probes", "relearn",
                                                "stage_cka_flat")
    assert rows.row_spec(rl)["extras"] == ["relearn", "stage_cka", "stage_cka_flat",
                                             "stage_probes"]
    row, _ = rows.run_row(rl, (), cache)
    stages = [k.removeprefix("stage_cka_forget_") for k in row if k.startswith("stage_cka_forget")]
    assert len(stages) >= 2 and all(0 <= row[f"stage_cka_retain_{s}"] <= 1 + 1e-9
                                    for s in stages)
    assert all(f"stage_probe_{split}_{s}" in row for s in stages for split in ("forget", "retain"))
    assert all(0 <= row[f"stage_cka_flat_forget_{s}"] <= 1 + 1e-9 for s in stages)
    assert {"relearn_0.01", "relearn_0.05", "relearn_0.1", "relearn_retain_only"} <= set(row)
    # the pages read each extra's artifact back, and nothing is built by reading
    builds = len(build_log(cache.root))
    flat = rows.read_extra(rl, "stage_cka_flat", cache)
    assert list(flat["cka"].values()) == [row[f"stage_cka_flat_forget_{s}"] for s in stages]
    curves = rows.read_extra(rl, "relearn", cache)["curves"]
    assert len(curves) == 4 == len(list((cache.root / "relearn").glob("*.pt")))
    sim = rows.frame(rows.read_extra(rl, "stage_cka", cache)["table"])
    assert set(sim["reference"]) == {"original", "retrain"}  # C7's figure reads both
    to_original = sim[(sim["reference"] == "original") & (sim["split"] == "forget")]
    assert to_original["cka"].tolist() == [row[f"stage_cka_forget_{s}"] for s in stages]
    assert len(build_log(cache.root)) == builds
    with pytest.raises(NotBuilt, match="extra 'stage_cka' of 'prune_row'"):
        rows.read_extra(grid.rows[1], "stage_cka", cache)  # prune_row has no such extra


def test_failing_cell_is_reported_and_not_cached(tiny_profile, cache):
    cell = rows.Row("fashion_mnist", "smoke", 0, (1,), "ec", "broken", {"layer_weights": [1.0]})
    out = sweep._row_task(cell, (), str(cache.root), 1, {})
    assert out["error"].startswith("ValueError: ") and "layer_weights needs" in out["error"]
    assert cache.load(rows.KIND, rows.row_spec(cell)) is None
    out = sweep._row_task(cell, (), str(cache.root), 1, {"error": "DataUnavailable: gone"})
    assert out == {"error": "original model: DataUnavailable: gone"}


def test_write_and_load_results(tmp_path, monkeypatch):
    monkeypatch.setenv("ILLUSION_CACHE", str(tmp_path))
    table = pd.DataFrame({
        "dataset": "d", "profile": "p", "seed": [0, 1, 0, 0], "forget": ["0", "0", "1+2", "0"],
        "n_forget": [1, 1, 2, 1], "method": ["rl", "rl", "rl", "x"],
        "status": ["run", "cached", "run", "failed"], "seconds": [1.0, 3.0, 5.0, None],
        "error": [None, None, None, "ValueError: no"]})
    out, summary = sweep.write_results(table, sweep.results_path("g"))
    assert out == tmp_path / "sweeps" / "g.csv" and summary.name == "g_summary.csv"
    assert not list(out.parent.glob(".*"))  # no temporary files left
    back = sweep.load_results("g")
    assert back["forget"].tolist() == ["0", "0", "1+2", "0"]
    s = sweep.load_results(out, summary=True).set_index(["method", "scope"])
    assert s.loc[("rl", "single"), "seconds_mean"] == 2.0 and s.loc[("rl", "single"), "n"] == 2
    assert s.loc[("rl", "multi"), "n"] == 1 and ("x", "single") not in s.index
    with pytest.raises(FileNotFoundError):
        sweep.load_results("nothing")


def test_write_results_of_a_wide_table_warns_nothing(tmp_path):
    """Over 100 statistics (a metric's mean and std each) and the four keys of the summary:
    no PerformanceWarning about a fragmented frame."""
    metrics = {f"m{k}": [0.1 * k, 0.2 * k, 0.3 * k] for k in range(60)}
    table = pd.DataFrame({"dataset": "d", "profile": "p", "seed": [0, 1, 0],
                          "forget": ["0", "0", "1+2"], "n_forget": [1, 1, 2], "method": "rl",
                          "status": "run", **metrics, "error": None})
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.PerformanceWarning)
        _, summary = sweep.write_results(table, tmp_path / "wide.csv")
    back = pd.read_csv(summary)
    assert back.shape == (2, 4 + 2 * 60 + 1) and back["m3_mean"].tolist() == [
        pytest.approx(0.45), pytest.approx(0.9)]


def test_only_rays_token_notice_is_dropped():
    import logging

    def record(message):
        return logging.LogRecord(sweep.RAY_TOKEN_LOGGER, logging.WARNING, "x.py", 1, message,
                                 None, None)

    assert not sweep._not_token_notice(record(
        "Token authentication is enabled for this Ray cluster. Set RAY_AUTH_MODE=disabled to "
        "opt out. For more information, see https://docs.ray.io/en/latest/ray-security/"))
    assert sweep._not_token_notice(record("Token authentication is disabled for this Ray "
                                          "cluster. Anyone with network access ..."))


# ----------------------------------------------------------------- on local Ray

@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """The smoke grid plus a failing entry, run once on local Ray with 2 workers."""
    root = tmp_path_factory.mktemp("sweep_cache")
    raw = yaml.safe_load(SMOKE.read_text())
    raw["methods"] = [*raw["methods"], BROKEN]
    lines = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ILLUSION_CACHE", str(root))
        mp.setenv("ILLUSION_DATA", str(root / "data"))
        table = sweep.run_sweep(gridfile.parse_grid(raw), max_parallel=2, progress=False,
                                log=lines.append)
    return root, table, lines


@needs_fashion_mnist
def test_smoke_grid_on_ray(swept):
    import ray

    _, table, lines = swept
    assert not ray.is_initialized()  # the sweep stopped the Ray it started
    assert table.attrs["counts"] == {"run": 6, "cached": 0, "failed": 2}
    assert table["method"].tolist() == ["original", "retrain", "random_label", "broken"] * 2
    assert table["forget"].tolist() == ["0"] * 4 + ["1"] * 4
    ok = table[table["status"] == "run"]
    metrics = ok.drop(columns=list(sweep.IDENTITY) + ["error"])
    assert {"probe_test_forget", "ncc_test_forget", "mia_efficacy", "nc1_all"} <= set(metrics)
    assert not metrics.isna().any().any() and ok["error"].isna().all()
    assert (ok["wall_seconds"] > 0).all() and (ok["seconds"] > 0).all()
    originals = ok[ok["method"] == "original"]
    assert originals["seconds"].nunique() == 1  # one original, shared by both forget sets
    assert originals["ncc_test_forget"].nunique() == 2  # evaluated with each forget set


@needs_fashion_mnist
def test_failed_cells_reported_with_config(swept):
    _, table, lines = swept
    failed = table[table["status"] == "failed"]
    assert failed["method"].tolist() == ["broken", "broken"]
    assert failed["error"].str.startswith("ValueError: ").all()
    assert len(lines) == 2 and all("method=broken (ec)" in l for l in lines)
    assert sorted(l.split("forget=")[1][0] for l in lines) == ["0", "1"]
    assert all("hparams={'layer_weights': [1.0]}" in l and "layer_weights needs" in l
               for l in lines)


@needs_fashion_mnist
def test_second_run_submits_nothing(swept, monkeypatch):
    root, first, _ = swept
    monkeypatch.setenv("ILLUSION_CACHE", str(root))
    monkeypatch.setattr(sweep, "_execute", lambda *a, **k: pytest.fail("submitted tasks"))
    again = sweep.run_sweep(gridfile.load_grid(SMOKE), max_parallel=2, progress=False)
    assert again.attrs["counts"] == {"run": 0, "cached": 6, "failed": 0}
    assert sweep.sweep_report(again) == "6 rows: 0 run, 6 cached, 0 failed"
    done = first[first["status"] == "run"].reset_index(drop=True)
    metric = ["seconds", "wall_seconds", "probe_test_forget", "output_test_retain"]
    pd.testing.assert_frame_equal(again[metric], done[metric])


@needs_fashion_mnist
def test_cli_sweep_writes_results(swept, monkeypatch, capsys):
    root, _, _ = swept
    monkeypatch.setenv("ILLUSION_CACHE", str(root))
    assert cli.main(["sweep", str(SMOKE), "--max-parallel", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("6 rows: 0 run, 6 cached, 0 failed")
    table = sweep.load_results("smoke")
    assert len(table) == 6 and table["error"].isna().all()
    summary = sweep.load_results("smoke", summary=True)
    assert summary["method"].tolist() == ["original", "retrain", "random_label"]
    assert (summary["n"] == 2).all() and not math.isnan(summary["probe_test_forget_std"][0])


# ------------------------------------------------------------------------ the CLI

def test_cli_exit_1_when_a_cell_failed(monkeypatch, tmp_path, capsys):
    def fake(grid, *args, **kwargs):
        table = pd.DataFrame({"dataset": "d", "profile": "p", "seed": 0, "forget": ["0"],
                              "n_forget": 1, "method": ["x"], "status": ["failed"],
                              "error": ["ValueError: no"]})
        table.attrs["counts"] = {"run": 0, "cached": 0, "failed": 1}
        return table

    monkeypatch.setattr(cli, "run_sweep", fake)
    out = tmp_path / "r.csv"
    assert cli.main(["sweep", str(SMOKE), "--out", str(out), "--json"]) == 1
    assert '"failed": 1' in capsys.readouterr().out
    assert out.exists() and (tmp_path / "r_summary.csv").exists()


@pytest.mark.parametrize("text", ["profile: smoke\nmethods: [nope]\n", "methods: [retrain\n"])
def test_cli_bad_grid_exit_2_one_line(tmp_path, capsys, text):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert cli.main(["sweep", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith("illusion: error: ")


def test_a_log_that_is_not_a_terminal_gets_one_line_per_finished_cell(monkeypatch, tmp_path):
    """Cells done of all, the cell, its time and the time left at the throughput so far."""
    grid = gridfile.parse_grid(_grid(methods=["retrain", "scrub"]))
    monkeypatch.setattr(sweep, "check_data", lambda datasets: None)

    def fake(g, todo, root, address, max_parallel):
        for i in todo:
            yield i, ({"error": "ValueError: no"} if g.rows[i].label == "scrub"
                      else {"wall_seconds": 42.0})

    monkeypatch.setattr(sweep, "_execute", fake)
    lines = []
    table = sweep.run_sweep(grid, progress=False, cache=ArtifactCache(tmp_path),
                            on_cell=lines.append)
    plan, lines = lines[0], lines[1:]
    assert plan.startswith(f"sweep t: {len(grid.rows)} rows, 0 cached, {len(grid.rows)} to run")
    assert len(lines) == len(grid.rows) == len(table)
    assert lines[0].startswith(f"[1/{len(grid.rows)}] run seed=") and "(42 s)" in lines[0]
    assert "left" in lines[0] and lines[-1].endswith("; done")
    assert any("] failed " in line and " scrub" in line for line in lines)


def test_the_plan_is_logged_before_any_cell_finishes(monkeypatch, tmp_path, capsys):
    """``illusion sweep`` on a log that is not a terminal (here captured) says at once how many
    cells there are, how many are cached and how many run on how many workers."""
    monkeypatch.setenv("ILLUSION_CACHE", str(tmp_path))
    monkeypatch.setattr(sweep, "check_data", lambda datasets: None)
    before_first = []

    def fake(g, todo, root, address, max_parallel):
        before_first.append(capsys.readouterr().err)  # the log when the first cell is due
        for i in todo:
            yield i, {"wall_seconds": 1.0}

    monkeypatch.setattr(sweep, "_execute", fake)
    assert cli.main(["sweep", str(SMOKE), "--max-parallel", "2"]) == 0
    assert before_first == ["illusion: sweep smoke: 6 rows, 0 cached, 6 to run on 2 workers\n"]
    assert capsys.readouterr().err.startswith("illusion: [1/6] run seed=0")


def test_plan_line():
    assert sweep.plan_line("cpu", 136, 6, 1) == ("sweep cpu: 136 rows, 130 cached, 6 to run "
                                                 "on 1 worker")
    assert sweep.plan_line("g", 4, 4, "auto").endswith("4 to run on the Ray cluster at auto")
    assert sweep.plan_line("g", 4, 0, 2) == "sweep g: 4 rows, 4 cached, 0 to run"


def test_progress_line_time_left():
    cell = rows.Row("fashion_mnist", "cpu", 1, (2, 4, 8), "scrub", "scrub")
    line = sweep.progress_line(37, 130, cell, {"status": "run", "wall_seconds": 41.6},
                               eta=46 * 60.0, now="unlearned x2, relearn")
    assert line == ("[37/130] run seed=1 forget=2+4+8 scrub (42 s); about 46 min left; "
                    "now: unlearned x2, relearn")
    assert sweep.progress_line(1, 2, cell, {"status": "failed"}, 10.0).endswith(
        "failed seed=1 forget=2+4+8 scrub; about 10 s left")
    assert sweep.progress_line(1, 2, cell, {}, float("nan")).endswith("; time left unknown")
    assert sweep.progress_line(2, 2, cell, {}, 0.0, now="relearn").endswith("scrub; done")


def test_time_left_reads_each_labels_recorded_seconds():
    took = {"scrub": [30.0, 50.0], "retrain": [100.0]}
    # scrub at its own mean (40), an untimed label at the mean of all (60), on two workers
    assert sweep.time_left(["scrub", "scrub", "ec"], took, workers=2) == pytest.approx(70.0)
    assert sweep.time_left(["retrain"], took, workers=4) == pytest.approx(100.0)  # one left
    assert sweep.time_left([], took, workers=2) == 0.0
    assert math.isnan(sweep.time_left(["scrub"], {}, workers=2))


def test_running_kinds_while_a_build_runs(tmp_path):
    cache = ArtifactCache(tmp_path)
    seen = []

    def build():
        seen.append(sweep.running_kinds(tmp_path))
        cache.get_or_create("features", {"inner": 1}, lambda: seen.append(
            sweep.running_kinds(tmp_path)) or {"x": 1})
        return {"y": 2}

    cache.get_or_create(rows.KIND, {"row": 1}, lambda: cache.get_or_create(
        "unlearned", {"outer": 1}, build)[0])
    assert seen == ["unlearned", "unlearned, features"]  # the row's own marker not shown
    assert sweep.running_kinds(tmp_path) == ""  # markers removed once built
    with pytest.raises(RuntimeError):
        cache.get_or_create("relearn", {}, lambda: (_ for _ in ()).throw(RuntimeError("x")))
    assert sweep.running_kinds(tmp_path) == ""  # and when the build fails


def test_running_builds_skip_a_dead_process_marker(tmp_path):
    import json
    import socket
    folder = tmp_path / "running"
    folder.mkdir()
    dead = {"kind": "relearn", "key": "k", "pid": 2 ** 22 + 12345, "host": socket.gethostname(),
            "since": 1.0}
    alive = {**dead, "kind": "evaluation", "pid": os.getpid(), "since": 2.0}
    elsewhere = {**dead, "kind": "unlearned", "host": "another-node", "since": 3.0}
    for n, record in enumerate((dead, alive, elsewhere)):
        (folder / f"{n}.json").write_text(json.dumps(record))
    (folder / "torn.json").write_text("{")  # being written
    assert [r["kind"] for r in running_builds(tmp_path)] == ["evaluation", "unlearned"]
    assert sweep.running_kinds(tmp_path) == "evaluation, unlearned"


def test_stage_cka_draws_extra_feeds_the_depth_page(tiny_profile, cache):
    """The sweep's ``stage_cka_draws`` extra leaves each model's bootstrap draws in the cache,
    where C7's call (:func:`illusion.book.depth_inputs`) finds them: the same numbers as the
    uncached computation, and no new artifact."""
    from illusion.depth import stage_cka_draws
    from illusion.stats import IMAGE_SEED, CKAReference, cka_draws, resample_weights

    cell = rows.Row("fashion_mnist", "smoke", 0, (1,), "random_label", "random_label")
    row, _ = rows.run_row(cell, ["stage_cka_draws"], cache)
    assert not any(k.startswith("stage_cka_draws") for k in row)  # no columns
    stored = list((cache.root / "stage_cka_draws").glob("*.pt"))
    assert len(stored) == 1
    tm, original = rows.row_model(cell, cache)
    draws = stage_cka_draws(original, {"rl": tm}, (1,), seed=IMAGE_SEED, cache=cache)["rl"]
    assert list((cache.root / "stage_cka_draws").glob("*.pt")) == stored  # read, not rebuilt
    mask = (tm.data.y_test == 1).numpy()
    weights = resample_weights(int(mask.sum()), seed=IMAGE_SEED)
    for stage, values in draws.items():
        x = rows.cached_stage_features(original, cache)["test"][stage]
        y = rows.cached_stage_features(tm, cache)["test"][stage]
        expected = cka_draws(None, y[mask].double().numpy(), weights,
                             CKAReference(x[mask].double().numpy(), weights))
        np.testing.assert_allclose(values, expected, rtol=1e-12)
    assert list(draws) == tm.model.stage_names
