"""The verdicts the claim pages publish and the summary page collects (illusion.book.results),
and the summary's figure."""

import ast
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from illusion import book, claims
from illusion.book import results
from illusion.catalog import cell_label
from illusion.claims import FAILS, HOLDS, PARTLY, UNDECIDED, Verdict, across_cells
from illusion.profiles import get_profile

ROOT = Path(__file__).resolve().parents[1]


def _verdict(claim="C2", statuses=(HOLDS, HOLDS, FAILS), means=HOLDS, reading=claims.PAPER,
             text=None, rule=claims.HEADLINE_RULE) -> Verdict:
    cells = {cell_label(0, (c,)): Verdict(claim, s, f"{s} here.", reading=reading)
             for c, s in enumerate(statuses)}
    text = text or f"{means.capitalize()}: the means. Second sentence."
    return across_cells(cells, Verdict(claim, means, text, reading=reading), rule=rule)


def test_publish_and_collect_round_trip(tmp_path):
    v = _verdict()
    path = book.publish("c2", v, ("RL probe − Retrain (points)", 12.5, 4.25, 20.0), tmp_path,
                        profile="cpu")
    assert path == tmp_path / "c2.json" and json.loads(path.read_text())["claim"] == "C2"
    strong = _verdict(statuses=(FAILS, FAILS, FAILS), means=FAILS, reading=claims.STRONGER,
                      rule=None)
    book.publish("c2_strong", strong, results=tmp_path, profile="cpu")
    book.publish("c0", _verdict("C0", (HOLDS,), HOLDS), results=tmp_path, profile="cpu",
                 facts={"orig_test_acc": 91.234})
    frame = book.collect(tmp_path)
    assert list(frame.columns) == results.COLUMNS
    assert frame["name"].tolist() == ["c0", "c2", "c2_strong"]  # by claim, headline first
    row = frame.set_index("name").loc["c2"]
    assert row["status"] == v.status == PARTLY  # 2 of 3 cells: the headline rule lowers it
    assert (row["k"], row["n"], row["k_of_n"], row["on_means"]) == (2, 3, "2/3", HOLDS)
    assert row["statuses"] == v.values["statuses"]
    assert list(row["statuses"]) == list(v.values["statuses"])  # the cells' order kept
    assert row["text"] == v.text and row["rule"] == claims.HEADLINE_RULE.describe()
    assert row["short"] == "Partly holds: it holds on the means but in only 2 of 3 cells, " \
                           "and the headline needs 3."
    assert (row["interval_label"], row["estimate"], row["low"], row["high"]) == (
        "RL probe − Retrain (points)", 12.5, 4.25, 20.0)
    assert bool(row["headline"]) and row["label"] == "headline" and row["profile"] == "cpu"
    other = frame.set_index("name").loc["c2_strong"]
    assert not other["headline"] and other["label"] == "stronger reading (ours)"
    assert pd.isna(other["rule"]) and math.isnan(other["estimate"])
    assert frame.set_index("name").loc["c0", "facts"] == {"orig_test_acc": 91.234}
    # publishing again replaces the verdict
    book.publish("c2", _verdict(means=FAILS), results=tmp_path, profile="cpu")
    assert book.collect(tmp_path).set_index("name").loc["c2", "status"] == FAILS


def test_collect_sorts_claims_numerically_and_by_reading(tmp_path):
    for name, claim, reading in (("c10", "C10", claims.PAPER), ("c5_strong", "C5", claims.OTHER),
                                 ("c5", "C5", claims.PAPER), ("c5_a", "C5", claims.PAPER),
                                 ("c3_strong", "C3", claims.STRONGER), ("c3", "C3", claims.PAPER)):
        book.publish(name, _verdict(claim, reading=reading, rule=None), results=tmp_path,
                     profile="smoke", label="an ablation" if name == "c5_a" else None)
    frame = book.collect(tmp_path)
    assert frame["name"].tolist() == ["c3", "c3_strong", "c5", "c5_a", "c5_strong", "c10"]
    assert frame.set_index("name").loc["c5_a", "label"] == "an ablation"


def test_missing_directory_is_an_empty_frame_with_the_columns(tmp_path):
    frame = book.collect(tmp_path / "nothing")
    assert frame.empty and list(frame.columns) == results.COLUMNS
    table = book.summary_table(frame)
    assert table["claim"].tolist() == list(results.SAID)  # every claim page, none published
    assert set(table["status"]) == {results.NOT_PUBLISHED}


@pytest.mark.parametrize("content, why", [
    ("{not json", "JSONDecodeError"),
    ("[1, 2]", "not a JSON object"),
    (None, "no 'status'"),
    ("bad status", "unknown status"),
])
def test_a_malformed_file_is_one_value_error_naming_it(tmp_path, content, why):
    book.publish("c1", _verdict("C1"), results=tmp_path, profile="cpu")
    path = tmp_path / "c2.json"
    record = json.loads((tmp_path / "c1.json").read_text()) | {"name": "c2"}
    if content is None:
        del record["status"]
        content = json.dumps(record)
    elif content == "bad status":
        content = json.dumps(record | {"status": "maybe"})
    path.write_text(content)
    with pytest.raises(ValueError, match=rf"c2\.json: not a published verdict .*{why}"):
        book.collect(tmp_path)


def test_collect_refuses_another_profiles_verdicts(tmp_path):
    book.publish("c1", _verdict("C1"), results=tmp_path, profile="cpu")
    assert len(book.collect(tmp_path, profile="cpu")) == 1
    with pytest.raises(ValueError, match=r"c1\.json: a verdict of profile 'cpu', not 'smoke'"):
        book.collect(tmp_path, profile="smoke")


def test_publish_checks_its_inputs(tmp_path):
    with pytest.raises(ValueError, match="letters, digits"):
        book.publish("../c1", _verdict("C1"), results=tmp_path, profile="cpu")
    with pytest.raises(ValueError, match="headline"):  # C3's own name for a stronger reading
        book.publish("c3", _verdict("C3", reading=claims.STRONGER, rule=None), results=tmp_path,
                     profile="cpu")
    with pytest.raises(ValueError, match="judged across cells"):
        book.publish("c1", Verdict("C1", HOLDS, "Holds."), results=tmp_path, profile="cpu")
    with pytest.raises(ValueError, match="interval"):
        book.publish("c1", _verdict("C1"), ("a", 1.0, 2.0), tmp_path, profile="cpu")
    assert list(tmp_path.iterdir()) == []  # nothing written
    # a missing interval end is stored as null (JSON has no NaN), read back as NaN
    book.publish("c1", _verdict("C1"), ("gap", float("nan"), 1.0, 2.0), tmp_path, profile="cpu")
    assert json.loads((tmp_path / "c1.json").read_text())["interval"]["estimate"] is None
    assert math.isnan(book.collect(tmp_path).loc[0, "estimate"])


def test_results_dir_is_the_env_var_else_build_results_profile(monkeypatch, tmp_path):
    monkeypatch.delenv(results.RESULTS_ENV, raising=False)
    assert book.results_dir("smoke") == Path("build/results/smoke")
    with pytest.raises(ValueError, match="no profile"):
        book.results_dir()
    monkeypatch.setenv(results.RESULTS_ENV, str(tmp_path))
    assert book.results_dir("smoke") == book.results_dir() == tmp_path
    path = book.publish("c1", _verdict("C1"), profile="smoke")
    assert path == tmp_path / "c1.json"
    assert book.collect(profile="smoke")["name"].tolist() == ["c1"]
    (tmp_path / "notes.txt").write_text("kept")
    assert results.clean_results(tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("text, short", [
    ("Holds: all five. Cell by cell it holds in 5 of 5.", "Holds: all five."),
    ("Holds at 91.5% accuracy (e.g. RL). Then more.", "Holds at 91.5% accuracy (e.g. RL)."),
    ("Does not hold: no method", "Does not hold: no method"),
    ("Partly holds: " + "word " * 60 + "end. Next.",
     "Partly holds: " + ("word " * 29).strip() + "…"),
])
def test_short_text_is_the_first_sentence_capped_on_a_word(text, short):
    assert results.short_text(text) == short
    assert len(results.short_text(text)) <= results.SHORT_MAX


def test_means_interval_from_a_pages_gaps():
    import numpy as np

    from illusion.stats import Interval

    def iv(x):
        return Interval(x, x - 1.0, x + 1.0, 100, draws=np.linspace(x - 1.0, x + 1.0, 200))

    gaps = pd.DataFrame({"seed": [0, 0, 1, 1], "forget": ["0", "0", "6", "6"],
                         "method": ["random_label"] * 4,
                         "readout": ["probe", "ncc", "probe", "ncc"],
                         "gap": [10.0, 5.0, 20.0, 7.0], "low": [9.0, 4.0, 19.0, 6.0],
                         "high": [11.0, 6.0, 21.0, 8.0],
                         "interval": [iv(10.0), iv(5.0), iv(20.0), iv(7.0)]})
    label, est, low, high = book.means_interval(gaps, "random_label", "probe", "RL probe")
    assert label == "RL probe" and low <= est <= high and est == pytest.approx(15.0)
    means = results.gap_means(gaps)
    assert book.means_interval(means, "random_label", "probe", "x")[1:] == (est, low, high)
    with pytest.raises(KeyError, match="no mean gap of 'scrub'"):
        book.means_interval(gaps, "scrub", "probe", "x")


def test_summary_table_lists_every_claim_and_the_other_readings(tmp_path):
    book.publish("c2", _verdict(), ("RL probe − Retrain (points)", 12.5, 4.25, 20.0), tmp_path,
                 profile="cpu")
    book.publish("c2_strong", _verdict(reading=claims.STRONGER, rule=None), results=tmp_path,
                 profile="cpu")
    table = book.summary_table(book.collect(tmp_path))
    assert table["claim"].tolist() == ["C0", "C1", "C2", "C2", "C3", "C4", "C5", "C6", "C7"]
    c2 = table[table["claim"] == "C2"]
    assert c2["what [A] / [B] say"].tolist() == [results.SAID["C2"],
                                                 "↳ stronger reading (ours)"]
    assert c2["status"].tolist() == [PARTLY, HOLDS]
    assert c2["holds in (cells)"].tolist() == ["2/3", "2/3"]
    assert c2["means' 95% interval"].tolist() == [
        "RL probe − Retrain (points): +12.5 [+4.2, +20.0]", ""]
    assert c2["in one sentence"].tolist()[1] == "Holds: the means."
    assert table.set_index("claim").loc["C1", "status"] == results.NOT_PUBLISHED
    # every header reads as words (the browser check refuses snake_case headers)
    assert all("_" not in c for c in table.columns)
    html = results.styled(table).to_html()
    assert html == results.styled(table).to_html()  # the same from run to run
    assert "#cdebd3" in html and ">0<" not in html  # tinted statuses, no row numbers
    assert "href" not in html
    odd = table.assign(**{"in one sentence": "Holds: 3 < 5 & <b>."})
    assert "Holds: 3 &lt; 5 &amp; &lt;b&gt;." in results.styled(odd).to_html()  # text, not HTML
    # from the landing page, each claim links to its page
    linked = results.styled(table, link_prefix="notebooks/").to_html()
    assert '<a href="notebooks/03_probe_recovery.html">C2</a>' in linked
    assert '<a href="01_original_model.html">C0</a>' in results.styled(table, "").to_html()


def test_every_claim_page_has_its_wording():
    assert set(results.SAID) == {n for n in book.PAGES if n.startswith("C")}


def test_scale_caveat_names_data_width_tuning_and_accuracy(tmp_path):
    cpu = book.scale_caveat("cpu")
    p = get_profile("cpu")
    assert "Fashion-MNIST ([A]: CIFAR-10)" in cpu and f"{p.train.per_class} training images" in cpu
    assert f"width {p.train.width} ([A]: 64)" in cpu
    assert "validation split of the cpu profile's first cell ({0}, seed 0" in cpu
    assert "shown on the C0 page" in cpu  # nothing published: where the accuracy is
    book.publish("c0", _verdict("C0", (HOLDS,)), results=tmp_path, profile="cpu",
                 facts={"orig_test_acc": 91.234})
    with_acc = book.scale_caveat("cpu", book.collect(tmp_path), first_seed=0)
    assert with_acc.endswith("The original model of seed 0 reaches 91.23% test accuracy.")
    assert "not tuned" in book.scale_caveat("smoke")
    assert "[A]'s published values" in book.scale_caveat("paper")


def test_cpu_learning_rates_were_tuned_in_the_first_cell():
    """The caveat says the cpu rates were tuned in the profile's first cell: that is
    tools/tune_methods.py's default cell (--seed, --forget)."""
    tree = ast.parse((ROOT / "tools" / "tune_methods.py").read_text())
    defaults = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument"
                and node.args and isinstance(node.args[0], ast.Constant)):
            for kw in node.keywords:
                if kw.arg == "default":
                    defaults[node.args[0].value] = ast.literal_eval(kw.value)
    seed, forget = get_profile("cpu").grid()[0]
    assert (defaults["--seed"], tuple(defaults["--forget"])) == (seed, forget)


def test_status_grid_draws_every_claim_and_a_placeholder():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from illusion.plotting import status_grid

    empty = status_grid(book.collect(Path("/nonexistent")))
    assert "no verdict published" in empty.axes[0].texts[0].get_text()
    plt.close(empty)
    rows = [{"claim": "C0", "headline": True, "statuses": {"seed 0": HOLDS, "seed 1": FAILS},
             "on_means": HOLDS, "status": PARTLY},
            {"claim": "C1", "headline": True, "statuses": {"{6}, seed 1": UNDECIDED,
                                                           "{0}, seed 0": HOLDS},
             "on_means": FAILS, "status": FAILS},
            {"claim": "C1", "headline": False, "statuses": {"x": HOLDS}, "on_means": HOLDS,
             "status": HOLDS}]
    fig = status_grid(pd.DataFrame(rows), cells=["{0}, seed 0", "{6}, seed 1"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["C0", "C1"]  # headlines only
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "{0}\nseed 0", "{6}\nseed 1", "seed 0", "seed 1", "means", "headline"]
    assert len(ax.patches) == 2 * 2 + 2 * 2  # two cells and means and headline per claim
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "✓ holds", "~ partly holds", "✗ does not hold", "? not decided"]
    plt.close(fig)
