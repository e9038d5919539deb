"""The Fidelity page's data: deviations parsed from docstrings, and the metrics list."""

import pandas as pd

from illusion import fidelity

DOC = """Thing: what it does.

Follows someone's code.

Deviations:
- first item, which goes on
  over two lines;
- second item with ``code`` and :mod:`.random_label`.

Unrelated paragraph that is not a deviation.
"""

PARAGRAPH = """Other: summary.

Deviations: one paragraph that
continues here. And a second sentence.
"""


def test_parse_bullets_continuations_and_section_end():
    items = fidelity.parse_deviations(DOC)
    assert items == [("Deviations", "first item, which goes on over two lines;"),
                     ("Deviations", "second item with ``code`` and :mod:`.random_label`.")]


def test_parse_paragraph_qualified_header_and_several_sections():
    assert fidelity.parse_deviations(PARAGRAPH) == [
        ("Deviations", "one paragraph that continues here. And a second sentence.")]
    doc = ("X: y.\n\nDeviations / choices (nothing published):\n- a;\n- b.\n\n"
           "Protocol choices: plain SGD.\n\nDisclosure: looked at test curves.\n")
    assert fidelity.parse_deviations(doc) == [("Deviations", "a;"), ("Deviations", "b."),
                                              ("Protocol choices", "plain SGD."),
                                              ("Disclosure", "looked at test curves.")]


def test_parse_nothing():
    assert fidelity.parse_deviations(None) == []
    assert fidelity.parse_deviations("A: b.\n\nNo such section.\n") == []
    # "Deviation" inside a sentence is not a header
    assert fidelity.parse_deviations("A: b.\n\nThe Deviations: listed elsewhere.\n") == []


def test_deviations_of_the_real_modules(tmp_path, monkeypatch):
    items = fidelity.deviations()
    by_module = {}
    for d in items:
        by_module.setdefault(d.module, []).append(d)
        assert d.text and "``" not in d.text and ":mod:" not in d.text  # plain text
    # modules that list deviations as bullets give one item per bullet
    assert len(by_module["illusion.methods.salun"]) >= 3
    assert by_module["illusion.methods.salun"][0].subject == "SalUn"
    assert {d.section for d in by_module["illusion.attacks"]} >= {"Protocol choices"}
    counts = fidelity.coverage()
    assert counts["illusion.methods.salun"] == len(by_module["illusion.methods.salun"])
    assert set(counts.index) == set(fidelity.source_modules())
    table = fidelity.deviation_table(items)
    assert list(table.columns) == ["module", "subject", "section", "deviation"]
    assert len(table) == len(items) and not table["module"].str.startswith("illusion.").any()


def test_deviations_of_a_given_module(tmp_path, monkeypatch):
    (tmp_path / "fake_dev_module.py").write_text(f'"""{DOC}"""\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    items = fidelity.deviations(["fake_dev_module"])
    assert [d.subject for d in items] == ["Thing", "Thing"]
    assert items[1].text == "second item with code and random_label."


def test_metric_records_and_effects(tmp_path):
    assert len({r.subject for r in fidelity.METRIC_DEVIATIONS}) == len(fidelity.METRIC_DEVIATIONS)
    for r in fidelity.METRIC_DEVIATIONS:
        assert r.reference and r.ours and r.why
        assert not (r.effect_csv or r.effect_columns) or r.measured_by
    table = fidelity.metric_table()
    assert list(table.index) == [r.subject for r in fidelity.METRIC_DEVIATIONS]
    rec = fidelity.MetricDeviation("x", "ref", "ours", "why", "bench", "out/x.csv", ("a", "b"))
    rows = pd.DataFrame({"method": ["m", "m", "n"], "a": [1.0, 3.0, 5.0], "b": [0.0, 0.0, 4.0]})
    eff = fidelity.effect_table(rec, rows, tmp_path)
    assert eff.loc["m", "difference"] == 2.0 and eff.loc["n", "difference"] == 1.0
    # without the columns: the CSV when present, else nothing
    assert fidelity.effect_table(rec, rows[["method", "a"]], tmp_path) is None
    (tmp_path / "out").mkdir()
    pd.DataFrame({"model": ["Original"], "diff": [0.4]}).to_csv(tmp_path / "out/x.csv",
                                                                 index=False)
    assert fidelity.effect_table(rec, None, tmp_path)["diff"].tolist() == [0.4]


def test_hparam_differences_read_the_versioned_file():
    from illusion.methods import create_method, hparams_for

    diff = fidelity.hparam_differences("cpu", "paper")
    assert list(diff.columns) == ["method", "hyperparameter", "cpu", "paper"]
    assert not diff.duplicated(["method", "hyperparameter"]).any()
    effective = lambda m, p: create_method(m, **hparams_for(m, p)).hp  # noqa: E731
    for row in diff.itertuples(index=False):
        assert effective(row.method, "cpu").get(row.hyperparameter) == row.cpu
        assert effective(row.method, "paper").get(row.hyperparameter) == row.paper
        assert row.cpu != row.paper
    # SCRUB's cpu entry leaves batch_size to the method's default (64), [A]'s states 64: the
    # same value, so not a difference
    assert "batch_size" not in hparams_for("scrub", "cpu")
    assert effective("scrub", "cpu")["batch_size"] == hparams_for("scrub", "paper")["batch_size"]
    assert diff[(diff.method == "scrub") & (diff.hyperparameter == "batch_size")].empty
    same = fidelity.hparam_differences("paper", "paper")
    assert same.empty


def test_method_markdown_lists_every_deviation_with_its_name_in_bold():
    items = fidelity.deviations()
    md = fidelity.method_markdown(items)
    for d in items:
        assert f"**{fidelity._md(d.subject)}**" in md  # each deviation's name, in bold
        assert fidelity._md(d.text) in md and d.module.removeprefix("illusion.") in md
    assert not any(line.startswith("|") for line in md.splitlines())  # a list, not a table
    # one entry per (module, section); a module with several items lists them beneath it
    heads = [line for line in md.splitlines() if line.startswith("- **")]
    assert len(heads) == len({(d.module, d.section) for d in items})
    # markup in the text stays literal: <method> is no HTML tag, C*H*W no emphasis
    one = fidelity.Deviation("m.x", "<method>+cmf", "Deviations", "maps (N, C*H*W), a_b")
    assert fidelity.method_markdown([one]) == (
        "- **\\<method\\>+cmf** (`m.x`), Deviations: maps (N, C\\*H\\*W), a\\_b\n")
    two = fidelity.method_markdown([one, fidelity.Deviation("m.x", "<method>+cmf",
                                                            "Deviations", "second")])
    assert two.splitlines()[1:] == ["  - maps (N, C\\*H\\*W), a\\_b", "  - second"]


def test_metric_markdown_gives_every_record_and_its_fields():
    md = fidelity.metric_markdown()
    for r in fidelity.METRIC_DEVIATIONS:
        assert f"- **{fidelity._md(r.subject)}**" in md
        for text in (r.reference, r.ours, r.why, r.measured_by or "not measured"):
            assert fidelity._md(text) in md
    rec = fidelity.MetricDeviation("x", "ref", "ours", "why")
    assert fidelity.metric_markdown([rec]).splitlines() == [
        "- **x**", "  - *[A] / [B]:* ref", "  - *This project:* ours", "  - *Why:* why",
        "  - *Effect measured by:* not measured"]


def test_the_scale_record_names_the_cpu_grid():
    from illusion.profiles import CPU_CELLS

    scale = next(r for r in fidelity.METRIC_DEVIATIONS if r.subject.startswith("data and model"))
    assert f"a grid of {len(CPU_CELLS)} (seed, forget set) cells" in scale.ours
    assert "one forget class and one seed" not in scale.ours
    assert fidelity._cells_text(((0, (0,)), (0, (2, 4, 8)), (1, (0,)))) == (
        "seed 0: {0}, {2, 4, 8}; seed 1: {0}")
