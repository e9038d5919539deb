"""The package's layout: no import cycle (function-level imports included), the book's page
reader away from the Ray module, one registration per claim and per method, cache keys kept.

The import graph is read from the source (``ast``), not from ``sys.modules``, so an import
inside a function counts as much as one at the top of a module: a cycle cannot hide there.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import illusion
from illusion import book, claims
from illusion.methods import available, method_label
from illusion.methods.base import _REGISTRY

ROOT = Path(illusion.__file__).parent
TOOLS = Path(__file__).resolve().parents[1] / "tools"
sys.path.insert(0, str(TOOLS))
try:
    from layout import cycles, import_graph  # the graph tools/layout.py prints
finally:
    sys.path.remove(str(TOOLS))


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for w in graph[todo.pop()] - seen:
            seen.add(w)
            todo.append(w)
    return seen


def test_no_import_cycle():
    assert cycles(import_graph(ROOT)) == []


def _package(root: Path, files: dict[str, str]) -> Path:
    """A package ``pkg`` under ``root`` with an empty ``__init__`` and ``files``."""
    pkg = root / "pkg"
    pkg.mkdir()
    for name, text in {"__init__.py": "", **files}.items():
        (pkg / name).write_text(text)
    return pkg


def test_function_level_imports_are_counted(tmp_path):
    """tools/layout.py's count of imports made inside functions sees one."""
    pkg = _package(tmp_path, {"a.py": "def f():\n    from . import b\n    return b\n",
                              "b.py": "X = 1\n"})
    found: list = []
    import_graph(pkg, found)
    assert found == [("pkg.a", "pkg.b")]


def test_cycle_finder_finds_a_hidden_cycle(tmp_path):
    """The check can fail: a cycle closed by an import inside a function is found."""
    pkg = _package(tmp_path, {
        "a.py": "from .b import g\n\ndef f():\n    return g()\n",
        "b.py": "def g():\n    from .a import f  # hidden\n    return f\n",
        "c.py": "from . import a\n"})
    assert cycles(import_graph(pkg)) == [["pkg.a", "pkg.b"]]


def test_book_reader_does_not_import_ray_module():
    graph = import_graph(ROOT)
    assert "illusion.sweep" not in reachable(graph, "illusion.book")
    assert "illusion.sweep" not in reachable(graph, "illusion.rows")


def test_every_claim_page_has_its_registered_criterion():
    pages = {name for name in book.PAGES if name.startswith("C")}
    assert set(claims.CRITERIA) == pages
    for name, criteria in claims.CRITERIA.items():
        assert criteria and all(hasattr(c, "_repr_html_") for c in criteria), name
    with pytest.raises(ValueError, match="already registered"):
        claims.criterion("C3")(claims.Misalignment)


def test_every_method_is_labelled_by_its_own_file():
    assert set(_REGISTRY) <= set(available())
    for name in available():
        label = method_label(name)
        assert label and label.strip(), name
    assert method_label("last_layer:random_label") == "LL-RL"
    assert method_label("scrub+cmf") == "SCRUB+CMF"
    assert method_label("not_a_method") is None


def test_book_cell_keys_unchanged():
    """Every cell of the book grids keeps its cache key (``tests/snapshots/cell_keys.json``): a
    change that alters what decides a cell must regenerate the file on purpose
    (``python tools/cell_keys.py --write``), so that the diff shows it."""
    sys.path.insert(0, str(TOOLS))
    try:
        import cell_keys
    finally:
        sys.path.remove(str(TOOLS))
    expected = json.loads(cell_keys.SNAPSHOT.read_text())
    for grid, keys in expected.items():
        assert cell_keys.cell_keys(grid) == keys, grid
