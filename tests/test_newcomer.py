"""What README and ARCHITECTURE.md promise a newcomer, tried as one: a method, a metric, an
extra and a claim added from one new module each, with no other file of the repository
edited.

The method and the metric are registered from a module written to a temporary folder; the
test then checks that every part of the project that lists methods or metrics picks them up:
the cost model of a grid (``illusion.cost``), dry runs (``illusion.methods.dry_caps``), the
tuning defaults (``tools/tune_methods.py``), the sweep's row and the book's tables. The extra
is stored by the sweep's executor and read back by a page that declares it. The claim is a
module (its criterion and verdict), a notebook and a ``book.PAGES`` entry.
"""

from __future__ import annotations

import importlib
import sys
import textwrap

import pandas as pd
import pytest

from illusion import book, claims, cost, keys, metrics, rows
from illusion.book import Page
from illusion.catalog import ForgetSet
from illusion.rows import Row, Grid, row_spec, run_row
from illusion.claims.render import CRITERIA
from illusion.methods import (Method, available, create_method, dry_caps, hparams_for,
                              tuned_by)
from illusion.methods.base import _REGISTRY
from illusion.methods.work import Sizes
from illusion.plotting import column_label, readable

EXTENSION = '''
from illusion.methods import Method, register_method
from illusion.methods.work import Work, passes
from illusion.metrics import register_metric
from illusion.rows import register_extra


@register_method
class Toy(Method):
    """A toy: cross-entropy on the retain set, then nothing else."""

    name = "toy_method"
    label = "Toy"
    defaults = {"toy_steps": 7}
    rules = {"toy_steps": ("int", 0, None, False)}
    dry_caps = {"toy_steps": 1}
    tuning = "forget"

    def loss(self, ctx, batch):
        return self.ce(ctx, batch)

    def work(self, s):
        return passes(self.hp, s.retain) + Work(forward=self.hp["toy_steps"] * s.forget)


@register_metric("toy_metric", label="toy score (%)", percent=True)
def toy_metric(features, forget, num_classes):
    return 100.0 * float(len(forget)) / num_classes


@register_extra("toy_extra", columns=lambda payload: {"toy_norm": payload["norm"]})
def toy_extra(tm, original, row, cache):
    """The size of the row's head, and the classes it was asked to forget."""
    return {"norm": float(tm.model.fc.weight.detach().norm()), "forget": list(row.forget)}
'''

CLAIM = '''
from dataclasses import dataclass

from illusion.claims import FAILS, HOLDS, Verdict, criterion


@criterion("C99")
@dataclass(frozen=True)
class ToyClaim:
    """Retrain forgets: its output test-forget accuracy is at most ``max_forget``."""

    max_forget: float = 5.0


def toy_claim(table, c: ToyClaim = ToyClaim()):
    value = float(table.set_index("method").loc["retrain", "output_test_forget"])
    status = HOLDS if value <= c.max_forget else FAILS
    return Verdict("C99", status, f"{status}: Retrain reads {value:.1f}%.")
'''


@pytest.fixture
def extension(tmp_path, monkeypatch):
    """The two modules, imported from a temporary folder; every registration undone after."""
    (tmp_path / "toy_extension.py").write_text(textwrap.dedent(EXTENSION))
    (tmp_path / "toy_claim.py").write_text(textwrap.dedent(CLAIM))
    monkeypatch.syspath_prepend(str(tmp_path))
    before = dict(CRITERIA)
    try:
        yield importlib.import_module("toy_extension"), importlib.import_module("toy_claim")
    finally:
        _REGISTRY.pop("toy_method", None)
        metrics.METRICS.pop("toy_metric", None)
        rows.EXTRAS.pop("toy_extra", None)
        CRITERIA.clear()
        CRITERIA.update(before)
        for name in ("toy_extension", "toy_claim"):
            sys.modules.pop(name, None)


SIZES = Sizes(classes=10, forget_classes=1, train_per_class=450, val_per_class=50,
              test_per_class=1000, nc_per_class=100)


def test_a_new_method_reaches_cost_dry_runs_and_tuning(extension):
    assert "toy_method" in available()
    hp = create_method("toy_method").hp
    work = cost.method_work("toy_method", hp, SIZES)
    assert work.train == 3 * SIZES.retain and work.forward == 7 * SIZES.forget
    grid = Grid("toy", (Row("fashion_mnist", "cpu", 0, (0,), "toy_method", "toy"),))
    assert cost.cost_table(grid).loc["toy", "train"] == pytest.approx(work.units)
    assert dry_caps()["toy_steps"] == 1
    dry = hparams_for("toy_method", "cpu:dry")
    assert dry["toy_steps"] == 1 and dry["epochs"] == 1
    assert "toy_method" in tuned_by("forget")


def test_a_method_without_a_cost_model_is_named():
    class Bare(Method):  # not registered: what a newcomer writes before its ``work``
        name = "bare"

    with pytest.raises(NotImplementedError, match="no cost model for method 'bare'"):
        Bare().work(SIZES)


def test_a_new_metric_reaches_keys_rows_and_tables(extension, tiny_profile, cache):
    assert keys.metrics_spec()["registered_metrics"] == {"toy_metric": 1}
    cell = Row("fashion_mnist", "smoke", 0, (0,), "toy_method", "toy")
    assert "registered_metrics" in row_spec(cell)  # rows of an older record are recomputed
    row, _ = run_row(cell, cache=cache)
    assert row["toy_metric"] == pytest.approx(100.0 * 1 / 3)  # tiny data: 3 classes
    assert column_label("toy_metric") == "toy score (%)"
    shown = readable(pd.DataFrame({"toy_metric": [33.3333]}, index=["toy_method"]))
    assert shown.columns.tolist() == ["toy score (%)"] and shown.iloc[0, 0] == 33.3
    assert shown.index.tolist() == ["Toy"]


def test_a_new_extra_is_stored_by_the_sweep_and_read_by_its_page(extension, tiny_profile,
                                                                  cache, monkeypatch):
    """An extra with columns: the row's key names it and the row carries its column; its
    payload is an artifact of its own that a page declaring it reads back, building nothing."""
    from illusion.cache import NotBuilt

    monkeypatch.setitem(book.PAGES, "T99", Page("99_toy", {"retrain": ("toy_extra",)}))
    page = book.page("T99", "smoke", forget_sets=[[0]], seeds=[0], cache=cache)
    with pytest.raises(NotBuilt, match="extra 'toy_extra' of 'retrain'"):
        page.extra("toy_extra", "retrain")
    grid = page.grid()
    retrain = next(r for r in grid.rows if r.label == "retrain")
    assert "toy_extra" in row_spec(retrain, grid.extras)["extras"]
    for row in grid.rows:
        run_row(row, grid.extras, cache)
    log = (cache.root / "builds.jsonl").read_text()
    payload = page.extra("toy_extra", "retrain")
    assert payload["forget"] == [0] and payload["norm"] > 0
    assert page.table(["retrain"]).loc[0, "toy_norm"] == payload["norm"]
    assert (cache.root / "builds.jsonl").read_text() == log  # read, not built


def test_without_registered_metrics_the_keys_are_the_old_ones():
    assert keys.metrics_spec() == {"metrics": keys.METRICS_VERSION,
                                   "probe": keys.PROBE_VERSION}


def test_a_new_claim_is_its_module_notebook_and_page(extension, tmp_path, monkeypatch):
    _, claim = extension
    assert [c.__name__ for c in CRITERIA["C99"]] == ["ToyClaim"]
    notebook = tmp_path / "notebooks" / "99_toy.py"
    notebook.parent.mkdir()
    notebook.write_text('from illusion import book\npage = book.page("C99", profile)\n')
    monkeypatch.setitem(book.PAGES, "C99", Page("99_toy", {"retrain": ()}))
    # the layout's rules: every claim page has a registered criterion and names its notebook
    assert {n for n in book.PAGES if n.startswith("C")} == set(CRITERIA)
    assert (tmp_path / "notebooks" / f"{book.PAGES['C99'].notebook}.py").exists()
    # the sweep builds what the page reads, and its reader refuses anything else
    grid = book.book_grid("cpu", pages=["C99"], cells=[(0, (0,))])
    assert [c.label for c in grid.rows] == ["original", "retrain"]
    reader = book.page("C99", "cpu")
    assert reader.labels == ["original", "retrain"]
    with pytest.raises(book.UndeclaredRead):
        reader.cell("scrub")
    # its verdict is judged per cell and on the means like any claim's
    def judged(retrain: list[float]):
        table = pd.DataFrame({"method": ["original", "retrain"] * 2, "seed": [0, 0, 1, 1],
                              "forget": [ForgetSet((0,))] * 4,
                              "output_test_forget": [90.0, retrain[0], 91.0, retrain[1]]})
        return book.judge(table, ["output_test_forget"], claim.toy_claim)

    assert judged([0.0, 4.0]).status == claims.HOLDS  # means 2.0
    assert judged([0.0, 12.0]).status == claims.FAILS  # means 6.0 > 5
