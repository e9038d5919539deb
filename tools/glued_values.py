"""Dump the values the executed notebooks glue into the book, or diff two such dumps.

A change that must leave the book's numbers alone (a refactor, a faster code path) is checked
by executing the notebooks before and after it and comparing what they glued::

    python tools/glued_values.py dump book/notebooks --out before.json   # on the old commit
    python tools/glued_values.py dump book/notebooks --out after.json    # on the new one
    python tools/glued_values.py diff before.json after.json

``dump`` reads every executed ``.ipynb`` under DIR and keeps each output that myst_nb's
``glue(name, value)`` made: a display_data output whose ``metadata["scrapbook"]`` names the
value, with its mime types prefixed by ``metadata["scrapbook"]["mime_prefix"]``
(``application/papermill.record/`` under ``display=False``). The JSON it writes is::

    {"count": {"notebooks": N, "values": K},
     "notebooks": {notebook: {name: {"mime": M, "value": V, ...}}}}

``notebook`` is the file's path under DIR without ``.ipynb`` (its stem for a file directly in
DIR). ``mime`` is the representation myst_nb's HTML builder renders (its default priority:
text/html, then images, markdown, latex, text/plain); ``value`` is that representation's text,
or ``"sha256:HEX"`` for an image (with ``"bytes"``: its size); ``text`` adds the text/plain
representation when the rendered one is not text/plain (``{glue:text}`` pastes it).

``diff`` prints one line per glued value that differs, is missing from B or is new in B
(``notebook:name: A-value -> B-value``), then ``N values compared, K differ``; exit status 0
when they are identical, 1 when some differ, 2 with one line on bad input. ``--ignore GLOB``
leaves out the values whose ``notebook:name`` matches (the smoke book's ``*:fig_*_spread``
figures change from run to run: seaborn's stripplot jitter draws from the unseeded global
NumPy generator); ``--tol`` accepts numbers within a relative tolerance.
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import hashlib
import json
import math
import os
import sys
import tempfile
from pathlib import Path

import nbformat

# myst_nb's default priority for the html builder (myst_nb.core.render.base_render_priority):
# what `{glue}` / `{glue:any}` renders from a mime bundle, first match wins.
HTML_PRIORITY = (
    "application/vnd.jupyter.widget-view+json",
    "application/javascript",
    "text/html",
    "image/svg+xml",
    "image/png",
    "image/gif",
    "image/jpeg",
    "text/markdown",
    "text/latex",
    "text/plain",
)
# scrapbook's own glue (``scrapbook.glue``) stores the data under this mime type
SCRAPBOOK_JSON = "application/scrapbook.scrap.json+json"
MISSING = "(missing)"


class BadInput(Exception):
    """A file that cannot be read as what it should be (one line for the user)."""


# ------------------------------------------------------------------------------------ dump

def _text(value) -> str:
    """A mime bundle's text: nbformat may keep multi-line strings as a list of lines."""
    return "".join(value) if isinstance(value, list) else str(value)


def _normalise(mime: str, value) -> dict:
    """``{"value": ...}`` for one representation: images as a sha256 of their bytes, JSON as
    the object, everything else as text."""
    if mime.startswith("image/") or mime in ("application/pdf",):
        text = _text(value)
        if mime == "image/svg+xml":
            raw = text.encode()
        else:  # binary mime types are base64 in a notebook
            try:
                raw = base64.b64decode("".join(text.split()), validate=True)
            except ValueError:
                raw = text.encode()
        return {"value": "sha256:" + hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}
    if mime == SCRAPBOOK_JSON and isinstance(value, dict):
        return {"value": value.get("data")}
    if mime.endswith("json") or mime.endswith("+json"):
        return {"value": value}
    return {"value": _text(value)}


def _primary(mimes) -> str:
    """The representation myst_nb's HTML builder renders; an unknown type last, by name."""
    rank = {m: i for i, m in enumerate(HTML_PRIORITY)}
    return min(mimes, key=lambda m: (rank.get(m, len(rank)), m))


def glued_outputs(nb) -> dict[str, dict]:
    """``{name: entry}`` of every glued value of a notebook, in cell order (a name glued twice
    keeps the last value, as myst_nb does)."""
    found: dict[str, dict] = {}
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs", []):
            meta = output.get("metadata") or {}
            scrap = meta.get("scrapbook")
            if not isinstance(scrap, dict) or "name" not in scrap:
                continue
            prefix = scrap.get("mime_prefix") or ""
            data = {(k[len(prefix):] if prefix and k.startswith(prefix) else k): v
                    for k, v in (output.get("data") or {}).items()}
            if not data:
                continue
            if SCRAPBOOK_JSON in data:  # scrapbook's glue: the JSON data is the value
                mime = SCRAPBOOK_JSON
            else:
                mime = _primary(data)
            entry = {"mime": mime, **_normalise(mime, data[mime])}
            if mime != "text/plain" and "text/plain" in data:
                entry["text"] = _text(data["text/plain"])
            found[str(scrap["name"])] = entry
    return found


def notebook_key(path: Path, root: Path) -> str:
    """The notebook's name in the dump: its path under ``root`` without ``.ipynb``."""
    return path.relative_to(root).with_suffix("").as_posix()


def dump(root: Path) -> dict:
    """The glued values of every ``.ipynb`` under ``root`` (checkpoints skipped)."""
    if not root.is_dir():
        raise BadInput(f"{root} is not a directory")
    notebooks: dict[str, dict] = {}
    for path in sorted(root.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception as exc:  # JSON or schema errors from nbformat
            raise BadInput(f"{path}: not a notebook ({type(exc).__name__}: {exc})") from exc
        notebooks[notebook_key(path, root)] = dict(sorted(glued_outputs(nb).items()))
    notebooks = dict(sorted(notebooks.items()))
    count = {"notebooks": len(notebooks), "values": sum(map(len, notebooks.values()))}
    return {"count": count, "notebooks": notebooks}


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and os.replace,
    so that a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 -> what open() would have given
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ------------------------------------------------------------------------------------ diff

def load(path: Path) -> dict[str, dict]:
    """The ``notebooks`` part of a dump; :class:`BadInput` when it is not one."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path}: bad JSON ({exc})") from None
    notebooks = data.get("notebooks") if isinstance(data, dict) else None
    if not isinstance(notebooks, dict) or not all(
            isinstance(v, dict) and all(isinstance(e, dict) for e in v.values())
            for v in notebooks.values()):
        raise BadInput(f"{path}: not a glued-values dump (no {{\"notebooks\": {{...}}}})")
    return notebooks


def _close(a, b, tol: float) -> bool:
    """Equal, or (with ``tol`` > 0) both numbers within a relative tolerance ``tol``."""
    if a == b:
        return True
    if tol <= 0:
        return False
    try:
        x, y = float(a), float(b)
    except (TypeError, ValueError):
        return False
    return math.isclose(x, y, rel_tol=tol, abs_tol=tol)


def same(a: dict, b: dict, tol: float = 0.0) -> bool:
    """Whether two entries render the same (mime, value and text)."""
    return (a.get("mime") == b.get("mime") and _close(a.get("value"), b.get("value"), tol)
            and _close(a.get("text"), b.get("text"), tol))


def _show(value, width: int, start: int = 0) -> str:
    """One line of ``value``: JSON-quoted, from near ``start``, at most ``width`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    text = json.dumps(text)[1:-1]  # escapes newlines, one line
    if len(text) <= width:
        return text
    lo = max(0, min(start - width // 4, len(text) - width))
    part = text[lo:lo + width]
    return ("..." if lo else "") + part + ("..." if lo + width < len(text) else "")


def _first_difference(a: str, b: str) -> int:
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)


def describe(a: dict | None, b: dict | None, width: int = 160) -> str:
    """``A-value -> B-value`` for one glued value (the part that differs)."""
    if a is None or b is None:
        entry = a if b is None else b
        shown = _show(entry.get("value"), width)
        shown = f"[{entry.get('mime')}] {shown}" if entry.get("mime") != "text/plain" else shown
        return f"{shown} -> {MISSING}" if b is None else f"{MISSING} -> {shown}"
    if a.get("mime") != b.get("mime"):
        return (f"[{a.get('mime')}] {_show(a.get('value'), width)} -> "
                f"[{b.get('mime')}] {_show(b.get('value'), width)}")
    key = "value" if a.get("value") != b.get("value") else "text"
    va, vb = a.get(key), b.get(key)
    sa = va if isinstance(va, str) else json.dumps(va, sort_keys=True)
    sb = vb if isinstance(vb, str) else json.dumps(vb, sort_keys=True)
    at = max(0, _first_difference(json.dumps(sa), json.dumps(sb)) - 1)  # less the quote
    label = "" if key == "value" else "text: "
    return f"{label}{_show(va, width, at)} -> {_show(vb, width, at)}"


def diff(a: dict[str, dict], b: dict[str, dict], tol: float = 0.0,
         ignore: tuple[str, ...] = ()) -> tuple[list[str], int, int]:
    """The lines for every value that differs between two dumps, how many values were compared
    and how many were left out by an ``ignore`` pattern (fnmatch on ``notebook:name``)."""
    union = sorted({(nb, name) for side in (a, b) for nb, values in side.items()
                    for name in values})
    keys = [(nb, name) for nb, name in union
            if not any(fnmatch.fnmatchcase(f"{nb}:{name}", p) for p in ignore)]
    lines = []
    for nb, name in keys:
        ea, eb = a.get(nb, {}).get(name), b.get(nb, {}).get(name)
        if ea is not None and eb is not None and same(ea, eb, tol):
            continue
        lines.append(f"{nb}:{name}: {describe(ea, eb)}")
    return lines, len(keys), len(union) - len(keys)


# ------------------------------------------------------------------------------------- CLI

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="glued_values.py", description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit status: 0 ok / identical, 1 values differ (diff), 2 bad input")
    sub = parser.add_subparsers(dest="command", required=True)
    p_dump = sub.add_parser("dump", help="write the glued values of DIR's executed notebooks")
    p_dump.add_argument("dir", type=Path, help="folder of executed .ipynb files (recursive)")
    p_dump.add_argument("--out", type=Path, required=True, help="JSON file to write")
    p_diff = sub.add_parser("diff", help="print the glued values that differ between two dumps")
    p_diff.add_argument("a", type=Path, help="the reference dump")
    p_diff.add_argument("b", type=Path, help="the dump to compare with it")
    p_diff.add_argument("--tol", type=float, default=0.0,
                        help="relative tolerance for values that are both numbers (default 0: "
                             "exact)")
    p_diff.add_argument("--ignore", action="append", default=[], metavar="GLOB",
                        help="leave out the values whose notebook:name matches GLOB "
                             "(repeatable), e.g. '*:fig_*_spread' (seaborn's unseeded jitter)")
    args = parser.parse_args(argv)
    try:
        if args.command == "dump":
            result = dump(args.dir)
            write_atomic(args.out, json.dumps(result, indent=1, sort_keys=True) + "\n")
            c = result["count"]
            print(f"{c['values']} glued values from {c['notebooks']} notebooks -> {args.out}")
            return 0
        lines, compared, ignored = diff(load(args.a), load(args.b), args.tol,
                                        tuple(args.ignore))
    except BadInput as exc:
        print(f"glued_values: {exc}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    print(f"{compared} values compared, {len(lines)} differ"
          + (f" ({ignored} ignored)" if ignored else ""))
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
