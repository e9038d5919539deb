import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from illusion import book, rows
from illusion.catalog import CMF_BASES, ForgetSet
from illusion.methods import available, hparams_for
from illusion.profiles import PAPER_FORGET_SETS, get_profile

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.py"))


def test_grid_cells_defaults_and_normalisation():
    assert book.grid_cells("cpu") == [(0, (0,)), (0, (1,)), (0, (6,)), (0, (2, 4, 8)),
                                      (1, (0,))]  # the profile's declared cells, in order
    assert book.grid_cells("smoke") == [(0, (0,)), (1, (6,))]  # a later cell, a second seed
    # one axis given: the profile's cells on it, else that axis x the other axis's values
    assert book.grid_cells("cpu", seed=1) == [(1, (0,))]
    assert book.grid_cells("cpu", forget=[6]) == [(0, (6,))]
    assert book.grid_cells("cpu", seeds=[0, 1]) == book.grid_cells("cpu")
    assert book.grid_cells("cpu", forget=[0]) == [(0, (0,)), (1, (0,))]
    assert book.grid_cells("cpu", seed=3) == [(3, (0,)), (3, (1,)), (3, (6,)), (3, (2, 4, 8))]
    assert book.grid_cells("cpu", forget=[5]) == [(0, (5,)), (1, (5,))]
    assert book.grid_cells("paper", seed=1) == [(1, f) for f in PAPER_FORGET_SETS]
    paper = book.grid_cells("paper")
    assert len(paper) == len(PAPER_FORGET_SETS) * 3 and (2, (2, 4, 8)) in paper
    assert book.grid_cells("cpu", seed=3, forget=[4, 2]) == [(3, (2, 4))]
    assert book.grid_cells("cpu", forget_sets=[[4, 2]], seeds=[1, 2]) == [(1, (2, 4)), (2, (2, 4))]
    # forget_sets / seeds win over forget / seed
    assert book.grid_cells("cpu", 5, [1], [[2]], [6]) == [(6, (2,))]
    for bad in ([[]], []):
        with pytest.raises(ValueError):
            book.grid_cells("cpu", forget_sets=bad, seeds=[0])
        with pytest.raises(ValueError):
            book.grid_cells("cpu", forget_sets=bad)
    with pytest.raises(ValueError):
        book.grid_cells("cpu", seeds=[])
    with pytest.raises(ValueError, match="repeated"):
        book.grid_cells("cpu", forget_sets=[[1, 2], [2, 1]], seeds=[0])
    with pytest.raises(KeyError):
        book.grid_cells("nope")


def test_forget_label_and_summarise():
    assert ForgetSet((0,)) == "0" and ForgetSet((8, 2, 4)) == "2+4+8"
    t = pd.DataFrame({"method": ["a", "a", "b"], "x": [1.0, 3.0, 5.0]})
    s = rows.summarise(t, ["x"])
    assert list(s.index) == ["a", "b"]
    assert s.loc["a", "x_mean"] == 2.0 and s.loc["a", "x_std"] == pytest.approx(2 ** 0.5)
    assert s.loc["a", "n"] == 2 and s.loc["b", "n"] == 1 and pd.isna(s.loc["b", "x_std"])
    m = book.means(t, ["x"])
    assert m["method"].tolist() == ["a", "b"] and m["x"].tolist() == [2.0, 5.0]


def test_declarations_are_consistent():
    """Every page reads declared entries with registered extras; every entry's method exists;
    each page names an existing notebook, and every notebook has one page."""
    for name, page in book.PAGES.items():
        assert (ROOT / "notebooks" / f"{page.notebook}.py").exists(), name
        for label, extras in page.reads.items():
            assert label in book.ENTRIES, (name, label)
            assert set(extras) <= set(rows.EXTRAS), (name, label, extras)
    for label, entry in book.ENTRIES.items():
        assert entry.method in (*rows.MODELS, *available()), label
    assert {p.notebook for p in book.PAGES.values()} == {n.stem for n in NOTEBOOKS}


def test_book_grid_is_the_union_of_the_pages():
    grid = book.book_grid("cpu", cells=[(0, (0,))])
    assert grid.name == "cpu" and grid.extras == book.BOOK_EXTRAS
    labels = [c.label for c in grid.rows]
    assert labels == [label for label in book.ENTRIES if label in labels]  # the table's order
    assert set(labels) == {lab for p in book.PAGES.values() for lab in p.all_labels}
    by_label = {c.label: c for c in grid.rows}
    # the other runs of the deciding rows: [A]'s baselines (with their relearning, C5), their
    # +CMF@A (book extras only) and EC, RL+EC (with what C7's verdict reads of them)
    runs = {c.label: c for c in grid.rows if c.run_seed}
    assert set(runs) == {book.run_label(m, r) for m in book.RUN_BASES for r in book.RUN_SEEDS}
    assert runs["scrub~run2"].method == "scrub" and runs["scrub~run2"].run_seed == 2
    assert runs["scrub+cmf@A~run1"].hparams == by_label["scrub+cmf@A"].hparams
    assert runs["scrub~run1"].extras == ("relearn",)
    assert runs["scrub+cmf@A~run1"].extras == ()
    assert runs["random_label+ec~run2"].extras == ("stage_cka", "stage_cka_draws")
    assert {c.seed for c in runs.values()} == {grid.rows[0].seed}
    assert by_label["retrain"].extras == ("attack_calibration", "feature_sample", "relearn",
                                          "relearn_dose", "stage_cka", "stage_cka_draws",
                                          "stage_cka_flat", "stage_probes")
    assert "relearn_dose" in by_label["scrub"].extras  # C5's dose-response, first cell
    assert "relearn_dose" not in by_label["boundary_shrink"].extras  # [A]'s five only
    assert "relearn" in by_label["boundary_shrink"].extras  # C5 attacks all nine baselines
    assert by_label["original"].extras == ("feature_sample", "flip_curve", "stage_probes",
                                           "training")
    # the PCA's features only in the cell shown in detail
    later = {c.label: c for c in book.book_grid("cpu", cells=[(0, (0,)), (0, (1,))]).rows
             if c.forget == (1,)}
    # C0's and C4's headlines; the rest (C2's PCA, C7's probes) in the first cell only
    assert later["original"].extras == ("flip_curve", "training")
    assert by_label["ec_ramp"].hparams == {"layer_weights": [0.25, 0.5, 0.75, 1.0]}
    # [A]'s learning rates, single- and multi-class
    assert by_label["scrub+cmf@A"].hparams == {"lr": hparams_for("scrub+cmf", "paper")["lr"]}
    multi = book.book_grid("cpu", cells=[(0, (1, 2))])
    hp = {c.label: c.hparams for c in multi.rows}["unsir+cmf@A"]
    assert hp == {k: v for k, v in hparams_for("unsir+cmf", "paper", 2).items()
                  if k == "lr" or k.endswith("_lr")}
    assert book.book_grid("cpu", pages=["C1"]).rows[0].extras == ()
    paper = book.book_grid("paper")
    # every cell has the labels some headline reads; the others only the first cell
    headline = {lab for p in book.PAGES.values() for lab in p.labels if p.in_later_cells(lab)}
    n_cells = len(book.grid_cells("paper"))
    assert len(paper.rows) == len(headline) * n_cells + len(set(labels) - headline)
    assert by_label["scrub@cmf-lr"].method == "scrub"
    assert by_label["scrub@cmf-lr"].hparams == {"lr": hparams_for("scrub+cmf", "cpu")["lr"]}
    assert {c.label: c.hparams for c in multi.rows}["unsir@cmf-lr"] == {
        k: v for k, v in hparams_for("unsir+cmf", "cpu", 2).items()
        if k == "lr" or k.endswith("_lr")}


def test_later_cells_hold_only_what_a_headline_reads():
    """The first cell has every label and extra; a later cell holds only what some page's
    headline reads there (issue 35): [A]'s five baselines, Retrain, C4's counted head-only
    runs, C6's pairs and C7's models, with the extras those headlines read. Ablations, other
    baselines, controls, checks, the other runs, figures and extra attacks stay in the first
    cell."""
    from illusion.catalog import A_BASELINES, OTHER_BASELINES

    grid = book.book_grid("cpu")
    cells = book.grid_cells("cpu")
    by_cell = {c: {x.label: x for x in grid.rows if (x.seed, x.forget) == c} for c in cells}
    first, later = by_cell[cells[0]], by_cell[cells[1]]
    assert set(first) == {lab for p in book.PAGES.values() for lab in p.all_labels}
    assert set(later) == {"original", "retrain", *A_BASELINES, "last_layer:random_label",
                          "last_layer:unsir@A", *(f"{m}+cmf@A" for m in CMF_BASES),
                          *book.EC_METHODS}
    assert not set(OTHER_BASELINES) & set(later)
    assert all(set(by_cell[c]) == set(later) for c in cells[1:])
    assert "audit_page" in first["random_label"].extras
    assert later["random_label"].extras == ("relearn", "stage_cka", "stage_cka_draws")
    assert later["retrain"].extras == ("relearn", "stage_cka", "stage_cka_draws")
    assert later["ec"].extras == ("stage_cka", "stage_cka_draws")
    assert later["scrub+cmf@A"].extras == ()
    # a later cell's row is keyed by its own extras: the page reader asks for the same cell
    page = book.page("C5", "cpu")
    for c in cells:
        assert page.cell("random_label", *c) == by_cell[c]["random_label"]
    audit = book.page("audit", "cpu")
    assert audit.cell("random_label") == first["random_label"]
    assert audit.cells_of("random_label") == cells[:1]
    with pytest.raises(book.UndeclaredRead, match="first cell only"):
        audit.cell("random_label", *cells[1])
    with pytest.raises(book.UndeclaredRead, match="first cell only"):
        page.cell("finetune", *cells[1])  # an other baseline: shown, not counted
    c6 = book.page("C6", "cpu")
    assert c6.cells_of("scrub+cmf@A") == cells and c6.cells_of("scrub+cmf") == cells[:1]
    assert c6.cells_of("scrub@cmf-lr") == cells[:1] and c6.cells_of("cmf_original") == cells[:1]
    # a grid of one cell is its own first cell: everything
    assert {x.label for x in book.book_grid("cpu", cells=[cells[2]]).rows} == set(first)


def test_headline_declarations():
    """A headline reads a part of the page's reads (else the declaration is refused); a page
    with a headline reads the original everywhere, one without reads everything once."""
    page = book.Page("x", {"a": ("relearn",), "b": ()}, headline={"a": ()})
    assert page.in_later_cells("a") and not page.in_later_cells("b")
    assert page.in_later_cells("original") and not page.in_later_cells("zzz")
    assert page.extras("a", first=True) == ("relearn",) and page.extras("a", first=False) == ()
    none = book.Page("x", {"a": ()})
    assert not none.in_later_cells("a") and not none.in_later_cells("original")
    with pytest.raises(ValueError, match="headline reads 'c'"):
        book.Page("x", {"a": ()}, headline={"c": ()})
    with pytest.raises(ValueError, match=r"headline reads \['relearn'\] of 'a'"):
        book.Page("x", {"a": ()}, headline={"a": ("relearn",)})


def test_page_refuses_an_undeclared_label():
    page = book.page("C4", "cpu")
    assert page.cells == book.grid_cells("cpu") and page.labels[0] == "original"
    with pytest.raises(book.UndeclaredRead, match="page C4 does not declare 'scrub'"):
        page.cell("scrub")
    with pytest.raises(KeyError, match="unknown page"):
        book.page("C9")


def test_notebooks_read_only_through_their_page():
    """A notebook cannot load a model or row around its declaration, nor compute what an extra
    stores: no pipeline loader, no sweep executor, no function that reads a model or features,
    and every ``book.page`` call names the page declared for that notebook."""
    forbidden = re.compile(r"\b(train_or_load|unlearn_or_load|cmf_original_or_load|run_row|"
                           r"row_model|relearn\(|stage_probes\(|stage_similarity\(|"
                           r"(cached_features|cached_stage_features|extract_features|"
                           r"calibrate_attack|audit_demo|flip_curve|stage_cka_flat|"
                           r"stage_cka_draws|relearn_scores|evaluation_record)\(|page\.cache|"
                           r"page\.models?\()")
    for path in NOTEBOOKS:
        text = path.read_text()
        assert not forbidden.search(text), (path.name, forbidden.search(text).group(0))
        names = re.findall(r"book\.page\(\"([^\"]+)\"", text)
        assert names, path.name
        for name in names:
            assert book.PAGES[name].notebook == path.stem, (path.name, name)


def test_page_table_is_the_sweeps_row(tiny_profile, cache, monkeypatch):
    """A page's rows are the sweep's cached rows: sweeping the page's grid first leaves the
    page nothing to build, over every cell, with the cell columns added."""
    monkeypatch.setattr(book.table, "PAGES", {"T": book.Page("01_original_model", {"prune_row": ()},
                                                             headline={"prune_row": ()})})
    pairs = [(0, (1,)), (0, (0, 2))]
    grid = book.book_grid("smoke", cells=pairs)
    assert [c.label for c in grid.rows] == ["original", "prune_row"] * 2
    for cell in grid.rows:
        rows.run_row(cell, grid.extras, cache)
    log = (cache.root / "builds.jsonl").read_text().splitlines()
    page = book.page("T", "smoke", forget_sets=[[1], [2, 0]], seeds=[0], cache=cache)
    table = page.table()
    assert (cache.root / "builds.jsonl").read_text().splitlines() == log  # nothing built
    assert table["method"].tolist() == ["original", "prune_row"] * 2
    assert table["forget"].tolist() == ["1", "1", "0+2", "0+2"]
    assert [f.classes for f in table["forget"]] == [(1,), (1,), (0, 2), (0, 2)]  # values
    assert set(table["n_forget"]) == {1, 2} and "cka_test" in table  # BOOK_EXTRAS
    # each cell is evaluated with its own forget set
    originals = table[table["method"] == "original"].set_index("forget")
    assert originals.loc["1", "ncc_test_forget"] != originals.loc["0+2", "ncc_test_forget"]
    preds = page.predictions("prune_row", forget=(1,))  # BOOK_EXTRAS: every row's
    assert preds["ncc"].shape == page.extra("predictions", "original")["test_y"].shape
    assert (cache.root / "builds.jsonl").read_text().splitlines() == log  # nothing built
    assert get_profile("smoke").seeds == (0,)


def test_a_page_never_builds_and_reads_only_declared_extras(tiny_profile, cache, monkeypatch):
    """Pages build nothing: a row or an extra the sweep did not store raises NotBuilt (naming
    the row and the page) and writes nothing; an extra the page does not declare, or declares
    for the first cell only, raises UndeclaredRead; what the sweep stored is read back as is."""
    from illusion.cache import NotBuilt

    monkeypatch.setattr(book.table, "PAGES", {"T": book.Page(
        "01_original_model", {"prune_row": ("stage_cka",), "original": ("training",)},
        headline={"prune_row": ("stage_cka",)})})
    pairs = [(0, (1,)), (0, (0, 2))]
    page = book.page("T", "smoke", forget_sets=[[1], [2, 0]], seeds=[0], cache=cache)
    assert not hasattr(page, "model") and not hasattr(page, "models")
    with pytest.raises(NotBuilt, match=r"row 'original' .*read by page T, is not built .*"
                                       r"illusion sweep book:smoke"):
        page.table()
    with pytest.raises(NotBuilt, match="extra 'training' of 'original'"):
        page.extra("training", "original")
    assert not (cache.root / "builds.jsonl").exists()  # reading built nothing
    grid = book.book_grid("smoke", cells=pairs)
    assert [c.extras for c in grid.rows] == [("training",), ("stage_cka",), (), ("stage_cka",)]
    assert page.grid().rows == grid.rows  # what run_notebooks sweeps for a page's parameters
    for cell in grid.rows:
        rows.run_row(cell, grid.extras, cache)
    log = (cache.root / "builds.jsonl").read_text().splitlines()
    table = page.table()
    sim = page.extra_table("stage_cka", ["prune_row"])
    assert sim.groupby("forget")["reference"].unique().map(set).tolist() == [
        {"original", "retrain"}] * 2
    forget_cka = sim[(sim["reference"] == "original") & (sim["split"] == "forget")]
    for (f, stage), cka in forget_cka.set_index(["forget", "stage"])["cka"].items():
        row = table[(table["method"] == "prune_row") & (table["forget"] == f)].iloc[0]
        assert row[f"stage_cka_forget_{stage}"] == cka  # the row's columns are the artifact's
    training = page.extra("training", "original")
    assert len(training["history"]) == get_profile("smoke").train.epochs
    assert 0 <= training["accuracy"]["test_retain"] <= 100
    with pytest.raises(book.UndeclaredRead, match="beyond its first cell"):
        page.extra("training", "original", 0, (0, 2))
    with pytest.raises(book.UndeclaredRead, match="does not declare extra 'relearn'"):
        page.extra("relearn", "prune_row")
    assert (cache.root / "builds.jsonl").read_text().splitlines() == log


def test_two_labels_of_one_configuration_keep_their_names(tiny_profile, cache, monkeypatch):
    """A labelled entry identical to another (e.g. a "+cmf@A" row whose learning rate is the
    profile's) shares its cached row, and each row still carries its own label."""
    monkeypatch.setitem(book.ENTRIES, "prune_row@same", book.Entry("prune_row"))
    monkeypatch.setattr(book.table, "PAGES", {"T": book.Page("01_original_model", {
        "prune_row": (), "prune_row@same": ()})})
    page = book.page("T", "smoke", forget_sets=[[1]], seeds=[0], cache=cache)
    grid = page.grid()
    for cell in grid.rows:
        rows.run_row(cell, grid.extras, cache)
    table = page.table()
    assert table["method"].tolist() == ["original", "prune_row", "prune_row@same"]
    assert table.iloc[1]["output_test_forget"] == table.iloc[2]["output_test_forget"]


def _c2_grid() -> pd.DataFrame:
    """Two cells: the illusion through NCC in {0}, seed 0, not in {1}, seed 0."""
    rows = []
    for forget, rl_ncc in ((ForgetSet([0]), 95.0), (ForgetSet([1]), 61.0)):
        for method, (out, probe, ncc) in {"original": (95.0, 90.0, 96.0),
                                          "retrain": (0.0, 80.0, 60.0),
                                          "random_label": (0.0, 88.0, rl_ncc),
                                          "salun": (0.0, 88.0, 95.0)}.items():
            rows.append({"seed": 0, "forget": forget, "method": method,
                         "output_test_forget": out, "probe_test_forget": probe,
                         "ncc_test_forget": ncc})
    return pd.DataFrame(rows)


def test_judge_gives_each_cell_and_the_means_a_verdict():
    from illusion import claims

    cols = ["output_test_forget", "probe_test_forget", "ncc_test_forget"]
    v = book.judge(_c2_grid(), cols, claims.illusion)
    assert v.values["statuses"] == {"{0}, seed 0": claims.HOLDS, "{1}, seed 0": claims.HOLDS}
    # on the means RL's NCC is 78: 18 above Retrain but 18 below the original
    assert v.parts == {"probe": claims.HOLDS, "ncc": claims.FAILS}
    assert v.values["k_of_n"] == "2/2"
    assert v.values["cells"].loc["{1}, seed 0", "verdict"].startswith(
        "Holds for [A]'s cases (RL, SalUn) through the probe only")


def test_judge_reads_each_cells_intervals_and_their_mean():
    from illusion import claims
    from illusion.stats import Interval

    def gap(low: float, high: float) -> Interval:
        draws = np.linspace(low, high, 2000)
        return Interval((low + high) / 2, low, high, 100, draws=draws)

    rows = []
    for forget, probe_low in ((ForgetSet([0]), 6.0), (ForgetSet([1]), 2.0)):
        for method in ("random_label", "salun"):
            for readout, low in (("probe", probe_low), ("ncc", 30.0)):
                iv = gap(low, low + 6.0)
                rows.append({"method": method, "readout": readout, "gap": iv.estimate,
                             "low": iv.low, "high": iv.high, "interval": iv, "seed": 0,
                             "forget": forget, "n_forget": 1})
    gaps = pd.DataFrame(rows)
    grid = _c2_grid()
    grid.loc[grid["method"] == "random_label", "ncc_test_forget"] = 95.0
    cols = ["output_test_forget", "probe_test_forget", "ncc_test_forget"]
    v = book.judge(grid, cols, claims.illusion, gaps)
    assert v.values["statuses"] == {"{0}, seed 0": claims.HOLDS, "{1}, seed 0": claims.HOLDS}
    cells = v.values["cells"]
    assert "through the probe and NCC" in cells.loc["{0}, seed 0", "verdict"]
    assert "through NCC only" in cells.loc["{1}, seed 0", "verdict"]  # probe's low end 2 < 5
    # on the means the two-stage bootstrap resamples the cells: a quarter of its draws take
    # cell {1} twice (the mean of two U[2, 8] draws, a triangle on [2, 8]), so its 2.5% point
    # is that triangle's 10% point, 2 + 6 * sqrt(0.05) = 3.34, below the 4.15 of the cells'
    # draws averaged pairwise (mean_interval, which ignored how far the cells are apart)
    assert v.parts == {"probe": claims.FAILS, "ncc": claims.HOLDS}
    assert v.details.loc["random_label", "probe_vs_retrain_low"] == pytest.approx(3.34, abs=0.1)


def test_judge_cells_passes_each_cells_inputs_and_then_the_means():
    from illusion import claims

    seen = []

    def verdict(x):
        seen.append(x)
        return claims.Verdict("C9", claims.HOLDS if x > 1 else claims.FAILS, f"x = {x}.")

    values = {(0, ForgetSet([0])): 2, (1, ForgetSet([0])): 0}
    v = book.judge_cells(verdict, list(values),
                         lambda s, f: {"x": 1.5 if s is None else values[(s, f)]})
    assert seen == [2, 0, 1.5]
    means_text = ("x = 1.5. Cell by cell it holds in 1 of 2 (seed, forget set) cells "
                  "(fails in 1). It holds on the means but not for every cell: it does not "
                  "hold for {0}, seed 1.")
    # the headline rule: holding on the means with 1 of 2 cells is "partly holds"
    assert v.status == claims.PARTLY and v.values["on_means"] == claims.HOLDS
    assert v.text == ("Partly holds: it holds on the means but in only 1 of 2 cells, and the "
                      "headline needs 2. On the means: " + means_text)
    plain = book.judge_cells(verdict, list(values),
                             lambda s, f: {"x": 1.5 if s is None else values[(s, f)]}, rule=None)
    assert plain.status == claims.HOLDS and plain.text == means_text


def test_judge_a_cell_without_its_intervals_is_not_decided():
    from illusion import claims
    from illusion.stats import Interval

    iv = Interval(30.0, 25.0, 35.0, 100, draws=np.full(2000, 30.0))
    gaps = pd.DataFrame([{"method": m, "readout": r, "gap": 30.0, "low": 25.0, "high": 35.0,
                          "interval": iv, "seed": 0, "forget": ForgetSet([0]), "n_forget": 1}
                         for m in ("random_label", "salun") for r in ("probe", "ncc")])
    grid = _c2_grid()
    grid.loc[grid["method"] == "random_label", "ncc_test_forget"] = 95.0
    cols = ["output_test_forget", "probe_test_forget", "ncc_test_forget"]
    v = book.judge(grid, cols, claims.illusion, gaps)  # no gaps for {1}, seed 0
    assert v.values["statuses"] == {"{0}, seed 0": claims.HOLDS,
                                    "{1}, seed 0": claims.UNDECIDED}
    assert v.status == claims.UNDECIDED  # nor on the means: a cell's intervals are missing
    assert v.details.loc["random_label", "probe_vs_retrain_low"] != v.details.loc[
        "random_label", "probe_vs_retrain_low"]  # NaN: the mean lacks a cell's interval


def test_depth_inputs_of_flattened_cka_carry_no_draws():
    """C7's variant reading: with ``flat``, the inputs are its CKA (a cell's own, or the
    means over the cells) and ``draws`` is None, so the criterion compares point values; no
    model is read, so no page is needed."""
    from illusion import claims

    cells_ = [(0, ForgetSet([0])), (1, ForgetSet([0]))]
    stages = ["stem", "stage1", "stage2"]
    ckas = {"retrain": [0.995, 0.6, 0.5], "random_label": [1.0, 0.9, 0.8],
            "ec": [0.99, 0.55, 0.45]}  # the stem, the same in both cells, is not judged
    flat = pd.DataFrame([{"method": m, "stage": st, "cka": v[i] - 0.02 * k * (i > 0),
                          "images": 1000, "seed": s, "forget": f, "n_forget": 1}
                         for k, (s, f) in enumerate(cells_) for m, v in ckas.items()
                         for i, st in enumerate(stages)])
    accuracy = pd.DataFrame([{"method": m, "test_retain": 90.0, "test_forget": 0.0, "seed": s,
                              "forget": f} for s, f in cells_
                             for m in ("original", *ckas)])
    cells, inputs = book.depth_inputs(None, {"sim": pd.DataFrame(), "accuracy": accuracy},
                                      list(ckas), flat=flat)
    assert cells == cells_
    means, first = inputs(None, None), inputs(*cells_[0])
    assert means["draws"] is None and first["draws"] is None
    assert list(means["cka"].columns) == stages
    assert means["cka"].loc["ec", "stage1"] == pytest.approx(0.54)
    assert first["cka"].loc["ec", "stage1"] == pytest.approx(0.55)
    criterion = claims.DepthForgetting(baselines=("random_label",), ec_methods=("ec",))
    v = book.judge_cells(lambda **k: claims.depth_forgetting(criterion=criterion, **k),
                         cells, inputs)
    assert v.status == claims.HOLDS and v.values["k_of_n"] == "2/2"


def test_sensitivity_rejudges_each_constant_and_names_where_it_flips():
    """Re-judging only: a C1 table whose baselines sit at 0-6% forget accuracy holds at the
    stated 5% and flips below 2% (only two of five at most 1%); the stated value is always a
    row, and ``flips`` says where."""
    from illusion import claims
    from illusion.catalog import A_BASELINES

    rows = [{"method": "original", "output_test_forget": 90.0, "output_test_retain": 90.0},
            {"method": "retrain", "output_test_forget": 0.0, "output_test_retain": 89.0}]
    rows += [{"method": m, "output_test_forget": f, "output_test_retain": 88.0}
             for m, f in zip(A_BASELINES, (1.0, 3.0, 6.0, 0.0, 2.0))]
    table = pd.DataFrame(rows)
    calls = []

    def judge_with(c):
        calls.append(c)
        return claims.output_success(table, c)

    robust = book.sensitivity(judge_with, claims.OutputSuccess(), {"forget_max": [1, 2, 3, 10]})
    assert robust["value"].tolist() == [1.0, 2.0, 3.0, 5.0, 10.0]  # the stated 5 added
    assert robust["stated"].tolist() == [False, False, False, True, False]
    assert robust["status"].tolist() == [claims.FAILS] + [claims.HOLDS] * 4
    assert [c.forget_max for c in calls] == [1.0, 2.0, 3.0, 5.0, 10.0]
    assert all(c.retain_drop_max == 5.0 for c in calls)  # the others at their stated values
    assert book.flips(robust) == ("forget_max: does not hold at 1; holds from 2 to 10 "
                                  "(stated 5).")


def test_the_first_cells_gaps_carry_the_runs_and_their_spread(tiny_profile, cache,
                                                               monkeypatch):
    """A label whose other runs the page reads: in the first cell its gap is the runs' mean
    with the two-stage bootstrap over them, in a later cell its own; run_spread shows each
    column's runs beside run 0's value."""
    from illusion.gaps import readout_gaps
    from illusion.stats import IMAGE_SEED, hierarchical_interval

    monkeypatch.setattr(book.table, "PAGES", {"T": book.Page(
        "01_original_model", {"retrain": (), "random_label": ()},
        headline={"retrain": (), "random_label": ()}, runs=("random_label",))})
    page = book.page("T", "smoke", forget_sets=[[1], [2]], seeds=[0], cache=cache)
    grid = page.grid()
    assert sorted(r.label for r in grid.rows if r.run_seed) == ["random_label~run1",
                                                               "random_label~run2"]
    for row in grid.rows:
        rows.run_row(row, grid.extras, cache)
    gaps = page.gaps(["random_label"], readouts=("ncc",))
    first, later = gaps[gaps["forget"] == "1"], gaps[gaps["forget"] == "2"]
    assert first["runs"].tolist() == [3] and later["runs"].tolist() == [1]
    ref = page.extra("predictions", "retrain")
    preds = {"retrain": ref["test_predictions"],
             **{r: page.predictions(r) for r in page.runs_of("random_label")}}
    each = readout_gaps(preds, ref["test_y"].long(), (1,), "retrain", ("ncc",))
    expected = hierarchical_interval(list(each["interval"]), seed=IMAGE_SEED)
    assert first["gap"].iloc[0] == pytest.approx(each["gap"].mean())
    assert (first["low"].iloc[0], first["high"].iloc[0]) == (expected.low, expected.high)
    spread = page.run_spread(["random_label", "retrain"], ["ncc_test_forget"])
    assert spread["method"].tolist() == ["random_label"] and spread["runs"].tolist() == [3]
    table = page.table(page.runs_of("random_label"))
    assert len(table) == 4  # run 0 in both cells, the other runs in the first
    values = table[table["forget"] == "1"]["ncc_test_forget"]  # the runs of the first cell
    assert spread["ncc_test_forget sd"].iloc[0] == pytest.approx(values.std(ddof=1))
    assert spread["ncc_test_forget (run 0)"].iloc[0] == values.iloc[0]


def test_the_first_cells_depth_reads_carry_the_runs(tiny_profile, cache, monkeypatch):
    """C7's runs: a run row carries the extras the page declares for its runs (and no
    other); in the first cell a model's CKA and accuracy are its runs' means and its draws
    the runs resampled with the images kept paired (illusion.stats.run_draws); a later cell
    reads run 0 alone."""
    from illusion.stats import IMAGE_SEED, run_draws

    monkeypatch.setattr(book.table, "PAGES", {"T": book.Page(
        "08_erase_at_core", {"retrain": ("stage_cka", "stage_cka_draws", "stage_probes"),
                             "random_label": ("stage_cka", "stage_cka_draws", "stage_probes"),
                             "original": ("stage_probes",)},
        headline={m: ("stage_cka", "stage_cka_draws") for m in ("retrain", "random_label")},
        runs=("random_label",), run_extras=("stage_cka", "stage_cka_draws"))})
    page = book.page("T", "smoke", forget_sets=[[1], [2]], seeds=[0], cache=cache)
    grid = page.grid()
    run_rows = [r for r in grid.rows if r.run_seed]
    assert [r.extras for r in run_rows] == [("stage_cka", "stage_cka_draws")] * 2
    for row in grid.rows:
        rows.run_row(row, grid.extras, cache)
    with pytest.raises(book.UndeclaredRead, match="stage_probes"):
        page.extra("stage_probes", "random_label~run1")
    runs = page.runs_of("random_label")
    stack = book.depth_tables(page, ["retrain", "random_label"])
    sim = stack["sim"]
    rl = sim[(sim["method"] == "random_label") & (sim["split"] == "forget")
             & (sim["reference"] == "original")]
    each = [pd.DataFrame(page.extra("stage_cka", r)["table"]) for r in runs]
    each = [t[(t["split"] == "forget") & (t["reference"] == "original")] for t in each]
    np.testing.assert_allclose(rl[rl["forget"] == "1"]["cka"].to_numpy(),
                               np.mean([t["cka"].to_numpy() for t in each], axis=0))
    later = pd.DataFrame(page.extra("stage_cka", "random_label", 0, (2,))["table"])
    later = later[(later["split"] == "forget") & (later["reference"] == "original")]
    np.testing.assert_allclose(rl[rl["forget"] == "2"]["cka"].to_numpy(), later["cka"])
    acc = stack["accuracy"]
    table = page.table(runs)
    first_runs = table[table["forget"] == "1"]
    assert acc[(acc["method"] == "random_label") & (acc["forget"] == "1")][
        "test_forget"].iloc[0] == pytest.approx(first_runs["output_test_forget"].mean())
    cells, inputs = book.depth_inputs(page, stack, ["retrain", "random_label"])
    first = inputs(*cells[0])["draws"]
    per_run = [page.extra("stage_cka_draws", r) for r in runs]
    for stage, values in first["random_label"].items():
        np.testing.assert_array_equal(
            values, run_draws([p[stage].numpy() for p in per_run], IMAGE_SEED + 1))
    np.testing.assert_array_equal(  # one run: Retrain's own draws
        first["retrain"][stage], page.extra("stage_cka_draws", "retrain")[stage].numpy())


def test_relearning_of_the_runs_is_averaged_and_shown_run_by_run(monkeypatch):
    """C5's runs: the first cell's summary reads the runs' mean curve (relearn_tables), and
    relearn_runs gives each run's steps to the level; a method without runs is read alone."""
    from types import SimpleNamespace

    import torch

    def payload(forget_acc):
        steps = [0, 5, 10]
        curve = [{"step": s, "forget_acc": a, "retain_acc": 90.0}
                 for s, a in zip(steps, forget_acc)]
        return {"configs": {"a": {"fraction": 0.1}}, "curves": {"a": curve},
                "scores": {"a": {"images": torch.tensor([0, 1]),
                                 "scores": torch.tensor([forget_acc[-1] / 100] * 2)}}}

    payloads = {"retrain": payload([0.0, 10.0, 20.0]), "rl": payload([0.0, 60.0, 90.0]),
                "rl~run1": payload([0.0, 40.0, 60.0]), "rl~run2": payload([0.0, 20.0, 30.0])}
    fake = SimpleNamespace(
        first=(0, (1,)), cells=[(0, (1,))], cells_of=lambda label: [(0, (1,))],
        runs_of=lambda label, *a: ["rl", "rl~run1", "rl~run2"] if label == "rl" else [label],
        extra=lambda name, label, *a: (payloads[label] if name == "relearn" else
                                       {"test_y": torch.tensor([1, 1, 0])}))
    fake.per_cell = lambda fn: book.PageReader.per_cell(fake, fn)
    by_run = book.relearn_runs(fake, ["rl", "retrain"], level=50.0)
    assert by_run["run"].tolist() == [0, 1, 2]
    assert by_run["steps_to_50"].tolist()[:2] == [5.0, 10.0] and np.isnan(
        by_run["steps_to_50"].iloc[2])
    summary = book.relearn_tables(fake, ["retrain", "rl"], level=50.0)["summary"]
    rl = summary[summary["method"] == "rl"].iloc[0]
    assert rl["mean"] == pytest.approx(np.mean([(60 + 90) / 2, (40 + 60) / 2, (20 + 30) / 2]))
    assert rl["steps_to_50"] == 10.0  # the mean curve: 40 at step 5, 60 at step 10
