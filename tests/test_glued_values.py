"""tools/glued_values.py: dump the values notebooks glue (myst_nb's glue outputs, built here
with nbformat, no kernel) and diff two dumps."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

TOOL = Path(__file__).resolve().parents[1] / "tools" / "glued_values.py"
_spec = importlib.util.spec_from_file_location("glued_values", TOOL)
gv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gv)

RECORD = "application/papermill.record/"  # myst_nb's mime prefix under glue(display=False)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(40))


def glue_output(name: str, bundle: dict, display: bool = False):
    """The display_data output myst_nb's ``glue(name, value, display)`` leaves in a cell."""
    prefix = "" if display else RECORD
    return new_output("display_data", data={prefix + k: v for k, v in bundle.items()},
                      metadata={"scrapbook": {"name": name, "mime_prefix": prefix}})


def write_notebooks(folder: Path, acc: str = "0.8731") -> Path:
    """Two executed-looking notebooks: numbers, text, a figure, a table, a shown value."""
    folder.mkdir(parents=True, exist_ok=True)
    one = new_notebook(cells=[
        new_markdown_cell("# one"),
        new_code_cell("glue(...)", outputs=[
            new_output("stream", name="stdout", text="not glued\n"),
            glue_output("acc", {"text/plain": acc}),
            glue_output("verdict", {"text/plain": "'holds in 3 of 4 cells'"}),
        ]),
        new_code_cell("glue('fig', fig)", outputs=[
            glue_output("fig", {"image/png": base64.b64encode(PNG).decode(),
                                "text/plain": "<Figure size 640x480 with 1 Axes>"}),
        ]),
    ])
    two = new_notebook(cells=[
        new_code_cell("glue('table', df, display=True)", outputs=[
            glue_output("table", {"text/html": "<table><tr><td>1</td></tr></table>",
                                  "text/plain": "   a\n0  1"}, display=True),
            new_output("execute_result", data={"text/plain": "3"}, execution_count=1),
        ]),
    ])
    nbformat.write(one, folder / "01_one.ipynb")
    nbformat.write(two, folder / "02_two.ipynb")
    return folder


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)],
                          capture_output=True, text=True)


@pytest.fixture
def base_dump(tmp_path) -> Path:
    out = tmp_path / "a.json"
    done = run("dump", write_notebooks(tmp_path / "a"), "--out", out)
    assert done.returncode == 0, done.stderr
    assert "4 glued values from 2 notebooks" in done.stdout
    return out


def test_dump_reads_every_glue_mime_type(base_dump):
    data = json.loads(base_dump.read_text())
    assert data["count"] == {"notebooks": 2, "values": 4}
    assert list(data["notebooks"]) == ["01_one", "02_two"]
    one, two = data["notebooks"]["01_one"], data["notebooks"]["02_two"]
    assert list(one) == ["acc", "fig", "verdict"]  # sorted
    assert one["acc"] == {"mime": "text/plain", "value": "0.8731"}
    assert one["verdict"]["value"] == "'holds in 3 of 4 cells'"
    assert one["fig"] == {"mime": "image/png", "bytes": len(PNG),
                          "value": "sha256:" + hashlib.sha256(PNG).hexdigest(),
                          "text": "<Figure size 640x480 with 1 Axes>"}
    assert two["table"]["mime"] == "text/html"  # what the HTML book renders
    assert two["table"]["value"].startswith("<table>")
    assert two["table"]["text"] == "   a\n0  1"
    assert not list(base_dump.parent.glob(".a.json.*"))  # no temporary file left over
    umask = os.umask(0)
    os.umask(umask)
    assert base_dump.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() makes it, not 0600


def test_diff_identical_is_0(tmp_path, base_dump):
    other = tmp_path / "b.json"
    assert run("dump", write_notebooks(tmp_path / "b"), "--out", other).returncode == 0
    done = run("diff", base_dump, other)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines() == ["4 values compared, 0 differ"]


def test_diff_changed_value_is_1_and_names_it(tmp_path, base_dump):
    other = tmp_path / "b.json"
    assert run("dump", write_notebooks(tmp_path / "b", acc="0.8732"), "--out", other
               ).returncode == 0
    done = run("diff", base_dump, other)
    assert done.returncode == 1
    lines = done.stdout.strip().splitlines()
    assert lines == ["01_one:acc: 0.8731 -> 0.8732", "4 values compared, 1 differ"]
    # a relative tolerance accepts it; a tighter one does not
    assert run("diff", base_dump, other, "--tol", "1e-3").returncode == 0
    assert run("diff", base_dump, other, "--tol", "1e-6").returncode == 1


def test_diff_missing_and_new_values(tmp_path, base_dump):
    data = json.loads(base_dump.read_text())
    del data["notebooks"]["01_one"]["verdict"]
    data["notebooks"]["02_two"]["extra"] = {"mime": "text/plain", "value": "7"}
    data["notebooks"]["01_one"]["fig"]["value"] = "sha256:" + "0" * 64
    other = tmp_path / "b.json"
    other.write_text(json.dumps(data))
    done = run("diff", base_dump, other)
    assert done.returncode == 1
    out = done.stdout
    assert "01_one:verdict: 'holds in 3 of 4 cells' -> (missing)" in out
    assert "02_two:extra: (missing) -> 7" in out
    assert "01_one:fig: sha256:" in out and "-> sha256:000" in out
    assert out.strip().splitlines()[-1] == "5 values compared, 3 differ"
    # --ignore leaves values out by notebook:name (fnmatch), and says how many
    done = run("diff", base_dump, other, "--ignore", "01_one:*", "--ignore", "*:extra")
    assert done.returncode == 0, done.stdout
    assert done.stdout.strip() == "1 values compared, 0 differ (4 ignored)"
    done = run("diff", base_dump, other, "--ignore", "*:fig")
    assert done.returncode == 1 and "fig" not in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "4 values compared, 2 differ (1 ignored)"


@pytest.mark.parametrize("bad", ["missing", "not json", "wrong shape"])
def test_diff_bad_input_is_2_with_one_line(tmp_path, base_dump, bad):
    other = tmp_path / "b.json"
    if bad == "not json":
        other.write_text("{oops")
    elif bad == "wrong shape":
        other.write_text(json.dumps({"01_one": {"acc": "0.8731"}}))
    done = run("diff", base_dump, other)
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and str(other) in done.stderr


def test_dump_of_a_missing_folder_is_2(tmp_path):
    done = run("dump", tmp_path / "nowhere", "--out", tmp_path / "x.json")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.json").exists()


def test_glued_outputs_of_scrapbook_and_myst_nb(tmp_path):
    """In-process: scrapbook's JSON scraps, and a glued name kept last as myst_nb keeps it."""
    nb = new_notebook(cells=[new_code_cell("", outputs=[
        glue_output("n", {"text/plain": "1"}),
        glue_output("n", {"text/plain": "2"}),
        new_output("display_data",
                   data={gv.SCRAPBOOK_JSON: {"name": "s", "data": {"k": [1, 2]}}},
                   metadata={"scrapbook": {"name": "s", "data": True, "display": False}}),
    ])])
    found = gv.glued_outputs(nb)
    assert found["n"] == {"mime": "text/plain", "value": "2"}
    assert found["s"] == {"mime": gv.SCRAPBOOK_JSON, "value": {"k": [1, 2]}}
