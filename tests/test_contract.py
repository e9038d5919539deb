"""The reproducibility contract (illusion.contract, illusion.book.numbers): the numbers a page
records, the bands of a reference, the comparison and its report, and `illusion results`."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from illusion import cli, contract
from illusion.book import numbers
from illusion.contract import BAND_K, ContractError, band_of, compare, make_reference


# ---- what a page records ----------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    (3, 3.0), (2.5, 2.5), (np.float64(1.25), 1.25), ("10.0", 10.0), ("+2.4", 2.4),
    ("−1.5", -1.5), ("1,234", 1234.0), ("87.5%", 87.5), ("1e-3", 1e-3),
    ("3/5", None), ("holds", None), ("seed 0, forget set {0}", None), (True, None),
    (None, None), (float("nan"), None), (math.inf, None), ("", None)])
def test_number_of(value, expected):
    assert numbers.number_of(value) == expected


def test_pages_record_tables_and_glue_only_during_a_run(tmp_path, monkeypatch):
    from illusion.plotting import readable

    table = pd.DataFrame({"probe_test_forget": [80.0, 12.5], "label": ["a", "b"]},
                         index=pd.Index(["random_label", "retrain"], name="method"))
    monkeypatch.delenv("ILLUSION_RESULTS", raising=False)
    numbers.set_page("C2")
    readable(table)
    numbers.record_value("c2_run_sd", "1.5")
    assert numbers.recorded() == {}  # no run: nothing recorded
    monkeypatch.setenv("ILLUSION_RESULTS", str(tmp_path))
    numbers.set_page("C2")
    readable(table)
    readable(table.head(1), name="means")
    numbers.record_value("c2_run_sd", "1.5")
    numbers.record_value("c2_k_of_n", "3/5")  # not one number: not recorded
    got = json.loads((tmp_path / "numbers" / "C2.json").read_text())
    assert got == numbers.recorded()
    assert got["C2/t1/random_label/probe_test_forget"] == 80.0
    assert got["C2/t1/retrain/probe_test_forget"] == 12.5
    assert got["C2/means/random_label/probe_test_forget"] == 80.0
    assert got["C2/glue/c2_run_sd"] == 1.5
    assert not any("label" in k.rsplit("/", 1)[1] for k in got)  # text cells are not numbers
    assert len(got) == 4
    numbers.set_page(None)


def test_a_page_declares_a_glued_number_s_unit(tmp_path, monkeypatch):
    monkeypatch.setenv("ILLUSION_RESULTS", str(tmp_path))
    numbers.set_page("C1")
    numbers.record_value("c1_run_sd", "0.3", unit="points")
    numbers.record_value("c1_cells", 5)
    assert json.loads((tmp_path / "units" / "C1.json").read_text()) == {
        "C1/glue/c1_run_sd": "points"}
    with pytest.raises(ValueError, match="unit 'percent'"):
        numbers.record_value("c1_run_sd", "0.3", unit="percent")
    numbers.set_page(None)
    # by its size alone a run spread of 0.3 points would be a fraction; declared, it is not
    found = {"C1/glue/c1_run_sd": 0.3, "C1/glue/c1_cells": 5.0}
    assert contract.units(found)["C1/glue/c1_run_sd"] == "fraction"
    assert contract.units(found, declared_units={"C1/glue/c1_run_sd": "points"}) == {
        "C1/glue/c1_run_sd": "points", "C1/glue/c1_cells": "points"}
    build = _build(numbers_={"C1/t1/rl/output_test_retain": 90.0, "C1/t1/rl/cka": 0.9,
                             "C1/glue/c1_run_sd": 0.3})
    build["spreads"] = {"run": {"rl": {"output_test_retain": 0.5, "cka": 0.01}}, "cells": {},
                        "relative": 0.0}
    assert make_reference(build)["numbers"]["C1/glue/c1_run_sd"]["band"] == \
        pytest.approx(BAND_K * 0.01)
    build["units"] = {"C1/glue/c1_run_sd": "points"}
    assert make_reference(build)["numbers"]["C1/glue/c1_run_sd"]["band"] == \
        pytest.approx(BAND_K * 0.5)


def test_a_build_s_results_carry_the_declared_units(tmp_path):
    from illusion.cache import ArtifactCache

    results = tmp_path / "results"
    (results / "numbers").mkdir(parents=True)
    (results / "units").mkdir()
    (results / "numbers" / "C1.json").write_text(json.dumps({"C1/glue/c1_run_sd": 0.3}))
    (results / "units" / "C1.json").write_text(json.dumps({"C1/glue/c1_run_sd": "points"}))
    # over an empty cache (nothing built): no spread measured, and no error
    build = contract.assemble(results, "smoke", ArtifactCache(tmp_path / "cache"), reads=[],
                              cells=[(0, (0,))])
    assert build["units"] == {"C1/glue/c1_run_sd": "points"}
    assert build["numbers"] == {"C1/glue/c1_run_sd": 0.3}
    assert build["spreads"] == {"run": {}, "cells": {}, "relative": 0.0}


def test_multiindex_rows_join_with_a_bar(tmp_path, monkeypatch):
    monkeypatch.setenv("ILLUSION_RESULTS", str(tmp_path))
    numbers.set_page("C5")
    numbers.record_table(pd.DataFrame({"steps": [50]}, index=pd.MultiIndex.from_tuples(
        [("scrub", "1% of the forget class")])))
    assert numbers.recorded() == {"C5/t1/scrub|1% of the forget class/steps": 50.0}
    numbers.set_page(None)


@pytest.mark.parametrize("name, timing", [
    ("C0/glue/orig_seconds", True), ("C1/t1/rl/wall_seconds", True),
    ("audit/glue/audit_html_kb", True), ("C2/t1/rl/probe_test_forget", False),
    ("C7/t1/ec/stage3", False)])
def test_times_and_sizes_are_never_compared(name, timing):
    assert numbers.is_timing(name) is timing


# ---- bands --------------------------------------------------------------------------------------

SPREAD = {"run": {"random_label": {"probe_test_forget": 0.5, "output_test_retain": 0.2},
                  "salun": {"probe_test_forget": 1.5}},
          "cells": {"retrain": {"probe_test_forget": 4.0, "cka_test": 0.01}},
          "relative": 0.02}


@pytest.mark.parametrize("name, value, band, source", [
    # the row's own runs
    ("C2/t1/random_label/probe_test_forget", 80.0, BAND_K * 0.5, "run"),
    ("C2/t3/random_label/probe_test_forget sd", 0.4, BAND_K * 0.5, "run"),  # a spread column
    ("C5/t1/random_label|1% attack/output_test_retain", 90.0, BAND_K * 0.2, "run"),
    # no runs of its own: the median over the methods whose runs were measured
    ("C2/t1/retrain/probe_test_forget", 20.0, BAND_K * 1.0, "run, quantity"),
    # measured over cells only
    ("C7/t1/retrain/cka_test", 0.9, BAND_K * 0.01, "cells"),
    # no row quantity: max(relative * |value|, median run sd)
    ("C2/glue/c2_retrain_probe_sd", 2.0, BAND_K * 0.5, "fallback"),
    ("C2/t2/random_label/probe_vs_retrain", 60.0, BAND_K * 1.2, "fallback"),
])
def test_band_sources_in_order(name, value, band, source):
    got, src = band_of(name, value, SPREAD)
    assert src == source and got == pytest.approx(band)


def test_a_spread_of_zero_falls_through_to_the_next_source():
    spread = {"run": {"random_label": {"probe_test_forget": 0.0, "ncc_test_forget": 0.0},
                      "salun": {"probe_test_forget": 2.0, "ncc_test_forget": 0.0}},
              "cells": {"random_label": {"ncc_test_forget": 0.7}}, "relative": 0.0}
    # the row's runs agree exactly: the median over the methods whose runs moved
    assert band_of("C2/t1/random_label/probe_test_forget", 80.0, spread) == \
        (BAND_K * 2.0, "run, quantity")
    # no method's runs moved: the cells' spread
    assert band_of("C2/t1/random_label/ncc_test_forget", 80.0, spread) == \
        (pytest.approx(BAND_K * 0.7), "cells")
    # nothing moved at all: the fallback's median over the positive run spreads
    assert band_of("C2/t1/salun/ncc_test_forget", 80.0, spread) == (BAND_K * 2.0, "fallback")
    nothing = {"run": {"salun": {"x": 0.0}}, "cells": {}, "relative": 0.0}
    assert band_of("C2/t1/salun/x", 5.0, nothing) == (0.0, "fallback")  # compared exactly


def test_the_floor_lifts_a_small_band():
    assert band_of("C2/t1/random_label/probe_test_forget", 80.0, SPREAD, floor=5.0)[0] == 5.0


def _build(profile="smoke", numbers_=None, verdicts=None):
    return {"schema": contract.SCHEMA, "kind": "build", "profile": profile,
            "provenance": {"commit": "abc", "precision": "float32", "cpu": {"model": "x"},
                           "artifacts": {}},
            "numbers": dict(numbers_ if numbers_ is not None else {
                "C2/t1/random_label/probe_test_forget": 80.0,
                "C2/glue/c2_run_sd": 0.4, "C0/glue/orig_seconds": 12.0}),
            "verdicts": verdicts if verdicts is not None else {
                "c2": {"status": "holds", "k": 4, "n": 5, "on_means": "holds",
                       "statuses": {"a": "holds"}}},
            "spreads": SPREAD}


def test_a_reference_leaves_out_times_and_says_each_band_s_source():
    ref = make_reference(_build())
    assert set(ref["numbers"]) == {"C2/t1/random_label/probe_test_forget", "C2/glue/c2_run_sd"}
    assert ref["numbers"]["C2/t1/random_label/probe_test_forget"] == {
        "value": 80.0, "band": BAND_K * 0.5, "source": "run"}
    assert ref["kind"] == "reference" and ref["rule"]["k"] == BAND_K
    with pytest.raises(ContractError):
        make_reference(ref)


def test_band_edges():
    ref = make_reference(_build())
    band = ref["numbers"]["C2/t1/random_label/probe_test_forget"]["band"]
    at_edge = _build(numbers_={"C2/t1/random_label/probe_test_forget": 80.0 + band,
                               "C2/glue/c2_run_sd": 0.4})
    c = compare(at_edge, ref)
    assert c.ok and c.within == 2
    beyond = _build(numbers_={"C2/t1/random_label/probe_test_forget": 80.0 - 2.5 * band,
                              "C2/glue/c2_run_sd": 0.4})
    c = compare(beyond, ref)
    assert not c.ok and c.within == 1
    (name, value, reference, b, bands), = c.outside
    assert name == "C2/t1/random_label/probe_test_forget" and bands == pytest.approx(2.5)
    assert "C2/t1/random_label/probe_test_forget" in contract.report_text(c)
    assert "2.5 bands" in contract.report_text(c)


def test_a_band_of_zero_is_met_only_exactly():
    ref = make_reference(_build())
    ref["numbers"]["C2/glue/c2_run_sd"]["band"] = 0.0
    assert compare(_build(), ref).ok
    moved = _build(numbers_={"C2/t1/random_label/probe_test_forget": 80.0,
                             "C2/glue/c2_run_sd": 0.41})
    c = compare(moved, ref)
    assert c.outside[0][4] == math.inf and "∞ bands" in contract.report_text(c)


def test_a_changed_verdict_fails_naming_it():
    ref = make_reference(_build())
    changed = _build(verdicts={"c2": {"status": "partly holds", "k": 3, "n": 5,
                                      "on_means": "holds", "statuses": {"a": "holds"}}})
    c = compare(changed, ref)
    assert not c.ok
    assert ("c2", "status", "holds", "partly holds") in c.mismatches
    assert ("c2", "k", 4, 3) in c.mismatches
    assert "c2 status: 'holds' -> 'partly holds'" in contract.report_text(c)
    per_cell = _build(verdicts={"c2": {"status": "holds", "k": 4, "n": 5, "on_means": "holds",
                                       "statuses": {"a": "does not hold"}}})
    assert [m[1] for m in compare(per_cell, ref).mismatches] == ["statuses"]


def test_a_missing_number_or_verdict_fails():
    ref = make_reference(_build())
    c = compare(_build(numbers_={"C2/glue/c2_run_sd": 0.4}), ref)
    assert c.missing == ["C2/t1/random_label/probe_test_forget"] and not c.ok
    assert "missing" in contract.report_text(c)
    c = compare(_build(verdicts={}), ref)
    assert ("c2", "published", True, False) in c.mismatches
    extra = _build(numbers_={**_build()["numbers"], "C9/glue/new": 1.0})
    c = compare(extra, ref)
    assert c.ok and c.new == ["C9/glue/new"]  # new numbers are reported, not failed


def test_a_reference_of_another_profile_is_refused(tmp_path):
    ref = make_reference(_build(profile="cpu"))
    with pytest.raises(ContractError, match="profile 'smoke' against a reference of 'cpu'"):
        compare(_build(profile="smoke"), ref)
    path = contract.write_json(tmp_path / "cpu.json", ref)
    with pytest.raises(ContractError, match="profile 'cpu', not 'smoke'"):
        contract.load_results(path, kind="reference", profile="smoke")
    with pytest.raises(ContractError, match="a reference, not a build"):
        contract.load_results(path, kind="build")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ContractError, match="not a results file"):
        contract.load_results(tmp_path / "bad.json")


def test_an_identical_build_reports_all_within_and_every_verdict_matching():
    c = compare(_build(), make_reference(_build()))
    text = contract.report_text(c)
    assert c.ok and "2 of 2 numbers within their band" in text
    assert "all 1 match the reference" in text


# ---- the command line -----------------------------------------------------------------------

def _files(tmp_path, build=None, reference=None):
    b = contract.write_json(tmp_path / "build.json", build or _build())
    r = contract.write_json(tmp_path / "ref.json", reference or make_reference(_build()))
    return ["--profile", "smoke", "--build", str(b), "--reference", str(r)]


def test_cli_report_and_check(tmp_path, capsys):
    assert cli.main(["results", *_files(tmp_path)]) == 0
    assert "2 of 2 numbers within their band" in capsys.readouterr().out
    changed = _build(numbers_={"C2/t1/random_label/probe_test_forget": 70.0,
                               "C2/glue/c2_run_sd": 0.4})
    args = _files(tmp_path, build=changed)
    assert cli.main(["results", *args]) == 0  # a report, not a failure
    assert cli.main(["results", *args, "--check"]) == 1
    assert "probe_test_forget" in capsys.readouterr().out


def test_cli_bad_input_is_one_line_exit_2(tmp_path, capsys):
    assert cli.main(["results", "--profile", "smoke", "--build", str(tmp_path / "no.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file" in err
    args = _files(tmp_path, reference=make_reference(_build(profile="cpu")))
    assert cli.main(["results", *args]) == 2
    assert "profile 'cpu', not 'smoke'" in capsys.readouterr().err
    assert cli.main(["results", "--profile", "nope"]) == 2


def test_cli_writes_a_reference_only_from_a_clean_commit(tmp_path, capsys):
    args = _files(tmp_path)
    target = tmp_path / "written.json"
    args[args.index("--reference") + 1] = str(target)
    assert cli.main(["results", *args, "--write-reference"]) == 0
    assert "2 numbers with bands (1 fallback, 1 run)" in capsys.readouterr().out
    assert contract.load_results(target, kind="reference")["numbers"]
    dirty = _build()
    dirty["provenance"]["commit"] = "abc+dirty"
    args = _files(tmp_path, build=dirty)
    assert cli.main(["results", *args, "--write-reference"]) == 2
    assert "uncommitted changes" in capsys.readouterr().err


def test_other_builds_widen_bands_by_their_pooled_spread():
    build = _build(numbers_={"C2/t1/random_label/probe_test_forget": 80.0,
                             "C2/t1/retrain/probe_test_forget": 20.0,
                             "C2/glue/c2_run_sd": 0.4})
    other = _build(numbers_={"C2/t1/random_label/probe_test_forget": 86.0,   # d = 6
                             "C2/t1/retrain/probe_test_forget": 12.0,       # d = 8
                             "C2/glue/c2_run_sd": 0.4})
    pooled = math.sqrt((6 ** 2 + 8 ** 2) / 2 / 2)  # one group: C2/t1/*/probe_test_forget
    assert contract.build_spread(build, [other]) == {
        "C2/t1/*/probe_test_forget": pytest.approx(pooled), "C2/glue/c2_run_sd": 0.0}
    ref = make_reference(build, others=[other])
    entry = ref["numbers"]["C2/t1/random_label/probe_test_forget"]
    assert entry == {"value": 80.0, "band": pytest.approx(BAND_K * pooled), "source": "builds"}
    assert ref["numbers"]["C2/glue/c2_run_sd"]["source"] == "fallback"  # the wider one wins
    assert ref["rule"]["other_builds"][0]["commit"] == "abc"
    with pytest.raises(ContractError, match="cannot set the bands"):
        make_reference(build, others=[_build(profile="cpu")])


def test_cli_spread_from_needs_the_same_commit(tmp_path, capsys):
    args = _files(tmp_path)
    target = tmp_path / "written.json"
    args[args.index("--reference") + 1] = str(target)
    other = _build()
    other["provenance"]["commit"] = "def"
    path = contract.write_json(tmp_path / "other.json", other)
    assert cli.main(["results", *args, "--write-reference", "--spread-from", str(path)]) == 2
    assert "not of the reference's own" in capsys.readouterr().err
    same = contract.write_json(tmp_path / "same.json", _build())
    assert cli.main(["results", *args, "--write-reference", "--spread-from", str(same)]) == 0


def test_a_run_spread_column_names_its_quantity_and_statistic():
    from illusion.book.numbers import run_stat

    assert run_stat("probe_test_forget sd") == ("probe_test_forget", "sd")
    assert run_stat("forget CKA (run 0)") == ("forget CKA", "(run 0)")
    assert run_stat("stage_cka_forget_stage2 range") == ("stage_cka_forget_stage2", "range")
    for plain in ("mean", "sd", "probe_test_forget", "forget CKA (run 1)", "gap_mean"):
        assert run_stat(plain) == (plain, None)
    assert contract.group_of("C7/t4/ec|stage2/forget CKA (run 0)") == "C7/t4/*/forget CKA"


def test_a_pivot_named_after_its_quantity_reads_the_rows_run_spread():
    # C7's per-stage CKA pivot took the fallback (0.047) though its rows' runs measured
    # stage_cka_forget_stage1 (0.004)
    spread = {"run": {"ec": {"stage_cka_forget_stage1": 0.004, "stage_cka_retain_stage1": 0.01,
                             "output_test_forget": 0.75},
                      "random_label": {"stage_cka_forget_stage1": 0.002}},
              "cells": {}, "relative": 0.01}
    assert contract.quantity_of("stage_cka", ["forget", "ec"], "stage1", spread) == \
        "stage_cka_forget_stage1"
    assert contract.quantity_of("stage_cka", ["retain", "ec"], "stage1", spread) == \
        "stage_cka_retain_stage1"
    # a column measured itself, and a pivot whose completed name nobody measured, stay
    assert contract.quantity_of("t1", ["ec"], "output_test_forget", spread) == \
        "output_test_forget"
    assert contract.quantity_of("probe_test_forget", ["ec"], "stage1", spread) == "stage1"
    assert band_of("C7/stage_cka/forget|ec/stage1", 0.9, spread) == \
        (pytest.approx(BAND_K * 0.004), "run")
    # Retrain has no runs: the median over the methods that have, of the same quantity
    assert band_of("C7/stage_cka/forget|retrain/stage1", 0.5, spread) == \
        (pytest.approx(BAND_K * 0.003), "run, quantity")
    # the stage probes (no runs) keep the fallback
    assert band_of("C7/probe_test_forget/ec/stage1", 20.6, spread)[1] == contract.FALLBACK


def test_a_page_s_own_run_spread_table_is_a_run_source():
    numbers_ = {"C7/t4/ec/stage2 sd": 0.02, "C7/t4/random_label+ec/stage2 sd": 0.04,
                "C7/t4/ec/stage2 mean": 0.9, "C7/t1/ec/stage2": 0.91,
                "C7/t1/random_label/stage2": 0.97, "C7/t9/ec/stage2 sd": 0.0}
    page_sds = contract.page_run_sds(numbers_)
    assert page_sds == {("C7", "ec", "stage2"): 0.02, ("C7", "random_label+ec", "stage2"): 0.04}
    empty = {"run": {}, "cells": {}, "relative": 0.0}
    assert band_of("C7/t1/ec/stage2", 0.91, empty, page_sds=page_sds) == \
        (pytest.approx(BAND_K * 0.02), "run")
    # a label without runs on the page: the page's median for that quantity
    assert band_of("C7/t1/random_label/stage2", 0.97, empty, page_sds=page_sds) == \
        (pytest.approx(BAND_K * 0.03), "run, quantity")


def test_the_fallback_pools_the_page_s_measured_spreads_at_the_number_s_scale():
    build = _build(numbers_={
        "C2/t1/random_label/probe_test_forget": 80.0,       # run: sd 0.5
        "C2/t1/random_label/output_test_retain": 90.0,      # run: sd 0.2
        "C2/t2/random_label/probe_vs_retrain": 12.0,        # a gap: no spread of its own
        "C2/t2/random_label/duality": 0.5,                  # a fraction: no spread on the page
        "C7/glue/fraction_moved": 0.6})
    build["spreads"] = {"run": {"random_label": {"probe_test_forget": 0.5,
                                                 "output_test_retain": 0.2, "cka": 0.01}},
                        "cells": {}, "relative": 0.001}
    ref = make_reference(build)["numbers"]
    # the points-scale spreads measured on page C2: median(0.5, 0.2) = 0.35
    assert ref["C2/t2/random_label/probe_vs_retrain"] == {
        "value": 12.0, "band": pytest.approx(BAND_K * 0.35), "source": "fallback"}
    # no fraction-scale spread measured on any page: every row's runs, median(0.5, 0.2, 0.01)
    assert ref["C2/t2/random_label/duality"]["band"] == pytest.approx(BAND_K * 0.2)
    assert ref["C7/glue/fraction_moved"]["band"] == pytest.approx(BAND_K * 0.2)


def test_a_number_s_unit_is_its_column_s_not_its_size():
    numbers_ = {
        "C2/t2/rl/probe_vs_retrain": 10.0, "C2/t2/l1/probe_vs_retrain": -0.07,   # a gap near 0
        "C2/t2/sc/probe_vs_retrain_low": 0.2,       # alone in its column, shown in percent
        "C1/t1/rl/output_test_forget": 0.0,         # an accuracy after unlearning
        "C3/t2/rl/cka_vs_retrain": 0.2,             # a CKA difference: a fraction
        "C7/t2/ec/stage1": 0.94, "C7/t2/rl/stage1": 0.99,      # CKA
        "C3/t3/rl/duality_forget (run 0)": 1.02,    # a distance a little above 1
        "C5/t2/rl/steps_to_50": 0.0, "C5/t2/sc/steps_to_50": 50.0,   # steps: a big column
        "C6/t7/unsir/ncc_change": 2.0, "C6/t7/rl/ncc_change": -0.4,  # points (C6's change)
        "C6/t2/rl/[A]|lr": 0.005, "C6/t2/sc/[A]|lr": 0.001,  # a two-level column: lr ...
        "C6/t2/rl/[A]|steps": 3.0,                        # ... and a count above 2
        "C4/t9/rl/ratio": 2.0,                            # exactly 2: not above, a fraction
        "verdict/c5/estimate": 1.5,                       # an interval with no label
        "C7/probe_test_forget/rl/stem": 1.8,        # a pivot named after its accuracy
        "verdict/c2/estimate": 0.3, "verdict/c2/low": -0.1, "verdict/c2/high": 0.7,
        "verdict/c7/estimate": 0.05, "C7/glue/margin": 0.1, "C0/glue/orig_test_acc": 89.0}
    verdicts = {"c2": {"interval": {"label": "RL probe − Retrain (points)"}},
                "c7": {"interval": {"label": "EC − baselines, CKA"}}}
    unit = contract.units(numbers_, verdicts)
    points = {n for n, u in unit.items() if u == "points"}
    assert points == {"C2/t2/rl/probe_vs_retrain", "C2/t2/l1/probe_vs_retrain",
                      "C2/t2/sc/probe_vs_retrain_low", "C1/t1/rl/output_test_forget",
                      "C5/t2/rl/steps_to_50", "C5/t2/sc/steps_to_50", "verdict/c2/estimate",
                      "C7/probe_test_forget/rl/stem", "C6/t7/unsir/ncc_change",
                      "C6/t7/rl/ncc_change", "C6/t2/rl/[A]|steps",
                      "verdict/c2/low", "verdict/c2/high", "C0/glue/orig_test_acc"}


def test_a_page_s_near_zero_accuracies_do_not_set_its_cka_bands():
    # the first rule classed a number by its size: a forget accuracy of 0.0 with a spread of
    # half a point pooled with CKA (0.94), which got a band of 1.5, wider than CKA's range
    build = _build(numbers_={
        "C7/t1/ec/output_test_forget": 0.0,                 # run sd 0.5 (points)
        "C7/t1/ec/output_test_retain": 90.0,                # run sd 0.3 (points)
        "C7/t5/ec/stage1": 0.94,                            # CKA, no spread of its own
        "C7/t6/ec|stage1/forget CKA mean": 0.94, "C7/t6/ec|stage1/forget CKA sd": 0.004,
        "C7/t6/ec|stage4/forget CKA mean": 0.41, "C7/t6/ec|stage4/forget CKA sd": 0.04})
    build["spreads"] = {"run": {"ec": {"output_test_forget": 0.5, "output_test_retain": 0.3}},
                        "cells": {}, "relative": 0.001}
    ref = make_reference(build)["numbers"]
    # the run-spread table's own row: stage 1's spread, not stage 4's
    assert ref["C7/t6/ec|stage1/forget CKA mean"] == {
        "value": 0.94, "band": pytest.approx(BAND_K * 0.004), "source": "run"}
    assert ref["C7/t6/ec|stage4/forget CKA mean"]["band"] == pytest.approx(BAND_K * 0.04)
    # the fallback pools C7's fraction spreads (0.004, 0.04, 0.004, 0.04: sds measure their own
    # rows' spread too), not its accuracies' half point
    cka = ref["C7/t5/ec/stage1"]
    assert cka["source"] == "fallback" and cka["band"] == pytest.approx(BAND_K * 0.022)
    assert cka["band"] < 0.1


def test_an_interval_s_ends_pool_with_their_claim_s_page():
    build = _build(numbers_={"C2/t1/random_label/probe_test_forget": 80.0,
                             "C2/t1/random_label/output_test_retain": 90.0,
                             "verdict/c2/estimate": 10.0, "verdict/c2/low": 6.0})
    build["verdicts"]["c2"]["claim"] = "C2"
    build["spreads"] = {"run": {"random_label": {"probe_test_forget": 0.5,
                                                 "output_test_retain": 0.2}},
                        "cells": {}, "relative": 0.0}
    ref = make_reference(build)["numbers"]
    assert ref["verdict/c2/estimate"]["band"] == pytest.approx(BAND_K * 0.35)
    assert ref["verdict/c2/low"]["band"] == pytest.approx(BAND_K * 0.35)


def test_a_build_over_other_cells_is_refused():
    ref = make_reference({**_build(), "cells": [[0, [0]]]})
    assert ref["cells"] == [[0, [0]]]
    with pytest.raises(ContractError, match="over the cells"):
        compare({**_build(), "cells": [[0, [0]], [1, [6]]]}, ref)
    assert compare({**_build(), "cells": [[0, [0]]]}, ref).ok


def test_the_committed_references_can_fail_and_pass():
    """The smoke contract can fail on a realistic build: the committed smoke book made on the
    machine's own instruction sets instead of AVX2 leaves numbers outside their bands and
    changes verdicts; the cpu book of the developers' incremental cache reproduces the cold
    reference."""
    root = contract.ROOT / "reference"
    smoke = contract.load_results(root / "smoke.json", kind="reference", profile="smoke")
    native = contract.load_results(root / "builds" / "smoke-native.json", kind="build")
    c = compare(native, smoke)
    assert not c.ok and c.outside and c.mismatches
    cpu = contract.load_results(root / "cpu.json", kind="reference", profile="cpu")
    incremental = contract.load_results(root / "builds" / "cpu-incremental.json", kind="build")
    assert compare(incremental, cpu).ok
    for ref in (smoke, cpu):  # every band has a stated source, and no band is negative
        assert {e["source"] for e in ref["numbers"].values()} <= set(contract.SOURCES)
        assert all(e["band"] >= 0 for e in ref["numbers"].values())
