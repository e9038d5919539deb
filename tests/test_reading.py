"""What a reader sees: table headers and numbers, the executed-with line and the re-run box."""

import importlib.util
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from illusion.records import flatten
from illusion.plotting import FIG_WIDTH, column_label, figure, readable, set_theme

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("run_notebooks", ROOT / "tools" / "run_notebooks.py")
run_notebooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_notebooks)


def _record() -> dict:
    """An evaluation record with every field ``flatten`` reads."""
    splits = {s: 1.0 for s in ("train_retain", "train_forget", "test_retain", "test_forget")}
    nc = {"nc1": 0.1, "nc2": 0.2, "nc3": 0.3, "nc4": 1.0}
    return {"accuracy": {r: dict(splits) for r in ("output", "probe", "ncc", "knn")},
            "ua": 0.0, "mia_efficacy": 1.0, "mia_loss": 0.5,
            "neural_collapse": {"all": nc, "retain": nc, "duality_forget": 1.0,
                                "duality_retain": 0.1}}


def test_every_metric_column_has_a_human_header():
    columns = [*flatten(_record()), "seconds", "wall_seconds", "cka_test", "cka_test_forget",
               "forget_mean_shift", "probe_vs_retrain", "ncc_vs_original"]
    for col in columns:
        label = column_label(col)
        assert label != col and "_" not in label, (col, label)
    assert column_label("probe_test_forget") == "probe, test forget (%)"
    assert column_label("ncc_vs_retrain") == "NCC − Retrain (points)"
    assert column_label("stage") == "stage"  # a plain word stays


def test_a_difference_of_fractions_is_no_percentage():
    # C3's table showed CKA and duality differences as "(points)", rounded to one decimal
    assert column_label("cka_vs_retrain") == "CKA − Retrain"
    assert column_label("duality_vs_retrain") == "duality distance − Retrain"
    assert column_label("probe_vs_retrain_low") == "probe − Retrain, 95% low (points)"
    assert column_label("cka_vs_retrain_high") == "CKA − Retrain, 95% high"
    r = readable(pd.DataFrame({"cka_vs_retrain": [0.21346], "probe_vs_retrain": [10.0412]}))
    assert list(r.iloc[0]) == [0.213, 10.0]


def test_a_run_spread_column_reads_as_its_quantity():
    # the run-spread tables of C1-C6 showed "output test forget sd" with three decimals
    assert column_label("output_test_forget (run 0)") == "output, test forget, run 0 (%)"
    assert column_label("probe_test_forget mean") == "probe, test forget, mean over runs (%)"
    assert column_label("ncc_test_forget sd") == "NCC, test forget, sd over runs (points)"
    assert column_label("output_test_retain range") == \
        "output, test retain, range over runs (points)"
    assert column_label("duality_forget sd") == "duality distance, forget row, sd over runs"
    assert column_label("forget CKA mean") == "forget CKA, mean over runs"
    assert column_label("mean") == "forget acc., mean over steps (%)"  # no statistic: a column
    r = readable(pd.DataFrame({"probe_test_forget sd": [1.23456], "duality_forget sd": [0.01234],
                               "forget CKA (run 0)": [0.93456]}))
    assert list(r.iloc[0]) == [1.2, 0.012, 0.935]


def test_readable_rounds_labels_and_keeps_values():
    t = pd.DataFrame({"method": ["random_label", "scrub+cmf@A"],
                      "probe_test_forget": [85.1234, 69.66], "cka_test": [0.98765, 0.5],
                      "seconds": [70.7, 449.2], "illusion_via": ["probe", "none"]})
    r = readable(t.set_index("method"))
    assert list(r.index) == ["RL", "SCRUB+CMF@A"]
    assert list(r.columns) == ["probe, test forget (%)", "CKA to original, test", "time (s)",
                               "illusion via"]
    assert r.iloc[0].tolist() == [85.1, 0.988, 71.0, "probe"]
    multi = readable(t.set_index(["method", "illusion_via"]))
    assert list(multi.index.get_level_values(0)) == ["RL", "SCRUB+CMF@A"]
    assert multi.index.names == ["method", "illusion via"]


def test_figures_share_one_width_and_opaque_background():
    import matplotlib

    set_theme()
    fig, ax = figure(3.0)
    assert tuple(fig.get_size_inches()) == (FIG_WIDTH, 3.0)
    assert matplotlib.rcParams["savefig.facecolor"] == "white"
    assert not matplotlib.rcParams["savefig.transparent"]


def _notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "cpu"\nseed = None\nforget = None\n'
                                       'forget_sets = None\nseeds = None\nmethod = "x"')
    params.metadata["tags"] = ["parameters"]
    injected = nbformat.v4.new_code_cell('profile = "smoke"')
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), params, injected,
                nbformat.v4.new_code_cell("1 + 1")]
    return nb


def test_page_for_readers_shows_parameters_once_and_how_to_rerun(monkeypatch):
    monkeypatch.delenv("ILLUSION_REPOSITORY_URL", raising=False)
    nb = run_notebooks.for_readers(_notebook(), Path("notebooks/03_probe.py"),
                                   {"profile": "smoke"})
    removed = [c for c in nb.cells if "remove-cell" in c.metadata.get("tags", [])]
    assert len(removed) == 2  # the notebook's parameters cell and papermill's
    line = nb.cells[3].source
    assert line.startswith("*Executed with profile `smoke` on `fashion_mnist`: 2 (seed, "
                           "forget set) cells: {0}, seed 0; {6}, seed 1.")
    assert "(#re-run-03_probe)" in line
    box = nb.cells[-1].source
    assert box.startswith("(re-run-03_probe)=\n:::{admonition} Re-run this page")
    assert ("python tools/run_notebooks.py notebooks/03_probe.py --out rerun -p profile smoke"
            in box)  # which sweeps the page's grid first: a page itself never builds
    assert "`seed`, `forget`, `forget_sets`, `seeds`, `method`" in box
    assert "{download}`03_probe.py <../../notebooks/03_probe.py>`" in box
    assert "Colab" not in box  # no launch buttons without a repository address


def test_rerun_box_says_what_the_launch_buttons_open(monkeypatch):
    monkeypatch.setenv("ILLUSION_REPOSITORY_URL", "https://github.com/someone/illusion/")
    box = run_notebooks.for_readers(_notebook(), Path("notebooks/03_probe.py"),
                                    {"profile": "smoke"}).cells[-1].source
    assert '%pip install "illusion[book] @ git+https://github.com/someone/illusion"' in box
    assert box.rstrip().endswith(":::")


@pytest.mark.parametrize("values, expected", [
    ({"profile": "cpu"}, "Executed with profile `cpu` on `fashion_mnist`."),
    ({"profile": "cpu", "seed": 0}, "Executed with profile `cpu` on `fashion_mnist`, seed 0."),
    ({"profile": "paper", "seed": None, "forget": None, "seeds": [1]},
     r"Executed with profile `paper` on `cifar10`: 15 \(seed, forget set\) cells, seed 1, "
     r"forget sets \{0\}, .*\{2, 4, 8\}\."),
    ({"profile": "cpu", "seed": None, "forget": None},  # the profile's cells, not a product
     r"Executed with profile `cpu` on `fashion_mnist`: 5 \(seed, forget set\) cells: \{0\}, "
     r"seed 0; \{1\}, seed 0; \{6\}, seed 0; \{2, 4, 8\}, seed 0; \{0\}, seed 1\."),
    ({"profile": "cpu", "seed": None},  # C0: the seeds of the grid
     r"Executed with profile `cpu` on `fashion_mnist`, seeds 0, 1\."),
])
def test_run_line(values, expected):
    assert re.fullmatch(expected, run_notebooks.run_line(values))


def test_the_collectors_run_after_every_other_notebook():
    """The summary and the Reproduction page collect what the claim pages published: they run
    in a batch of their own, after all the others (which keep their order and run in
    parallel)."""
    notebooks = [Path(f"notebooks/{n}.py") for n in
                 ("11_summary", "03_probe_recovery", "01_original_model", "10_fidelity")]
    assert run_notebooks.stages(notebooks) == [notebooks[1:], notebooks[:1]]
    assert run_notebooks.stages(notebooks[1:]) == [notebooks[1:]]
    assert run_notebooks.stages(notebooks[:1]) == [notebooks[:1]]
    assert run_notebooks.COLLECTORS == {"11_summary", "12_reproduction"}
    every = sorted((ROOT / "notebooks").glob("[0-9]*.py"))
    batches = run_notebooks.stages(every)
    assert [s.stem for s in batches[-1]] == ["11_summary", "12_reproduction"]
    assert sum(batches, []) == [s for s in every if s.stem not in run_notebooks.COLLECTORS] \
        + batches[-1]


def test_one_fresh_results_directory_per_run(tmp_path, monkeypatch):
    """Every notebook of a run publishes to one directory, exported as ILLUSION_RESULTS: the
    profile's under build/results unless the variable names one. A run that executes a claim
    page clears the verdicts there first; the summary alone reads them; --prepare-only
    touches nothing."""
    monkeypatch.setattr(run_notebooks, "ROOT", tmp_path)
    claim, summary = Path("notebooks/02_output_level.py"), Path("notebooks/11_summary.py")
    environ: dict = {}
    results = run_notebooks.prepare_results("smoke", [claim, summary], False, environ)
    assert results == tmp_path / "build" / "results" / "smoke" and results.is_dir()
    assert environ == {"ILLUSION_RESULTS": str(results),
                       "ILLUSION_READS": str(results / "reads.txt")}
    (results / "c1.json").write_text("{}")
    (results / "notes.txt").write_text("kept")
    (results / "reads.txt").write_text("sweep_cell/abc\n")  # the last run's reads ...
    (results / "numbers").mkdir()
    (results / "numbers" / "C1.json").write_text("{}")  # ... and numbers: cleared with it
    (results / "units").mkdir()  # ... and the units pages declared: a stale one never applies
    (results / "units" / "C1.json").write_text('{"C1/glue/c1_run_sd": "points"}')
    assert run_notebooks.prepare_results("smoke", [summary], False, environ) == results
    assert (results / "c1.json").exists()  # the summary alone reads the last run's
    assert run_notebooks.prepare_results("smoke", [claim], True, {}) is None
    assert (results / "c1.json").exists()  # --prepare-only: nbval executes them later
    # a second run of the same profile: the same directory, cleared of verdicts
    assert run_notebooks.prepare_results("smoke", [claim, summary], False, environ) == results
    assert sorted(p.name for p in results.iterdir()) == ["notes.txt"]
    # the variable, when set, names the run's directory
    given = tmp_path / "elsewhere"
    environ = {"ILLUSION_RESULTS": str(given)}
    assert run_notebooks.prepare_results("cpu", [claim], False, environ) == given.resolve()
    assert environ["ILLUSION_RESULTS"] == str(given.resolve()) and given.is_dir()
    cpu = run_notebooks.prepare_results("cpu", [claim], False, {})
    assert cpu == tmp_path / "build" / "results" / "cpu"  # one directory per profile
