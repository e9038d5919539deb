"""A small Sphinx extension for the book (listed in ``_config.yml``).

Defects of the Jupyter Book 1 theme stack that a real browser shows
(``tests/test_book_browser.py``) are mended here rather than hidden by the check:

- inline scripts registered twice (sphinx-thebe's ``const THEBE_JS_URL = ...`` is added on
  each ``env-before-read-docs``) are a ``SyntaxError`` on every page: duplicates of the same
  script are dropped;
- pydata-sphinx-theme's colour mode read from an empty ``default_mode`` logs "Got invalid theme
  mode": it falls back to ``auto``, the theme's documented default;
- sphinx-thebe, which Jupyter Book loads whatever the config says, puts its scripts, its
  stylesheet and the address of its code on a CDN (unpkg.com) into every page, although the
  book has no Thebe launch button (``launch_buttons.thebe`` unset): with that button off they
  are left out, so no page names a server but the book's own.

It also adds the book's stylesheet (``book_static/illusion.css``): in dark mode figures keep
an opaque white background.

MathJax is not this module's business: ``sphinx-mathjax-offline`` (also in ``_config.yml``)
points ``mathjax_path`` at its copy in ``_static/mathjax``, and neither Jupyter Book nor
myst-nb sets that value; myst-parser only adds ``processHtmlClass`` to ``mathjax3_config``.
"""

from __future__ import annotations

from pathlib import Path

from docutils import nodes

STATIC = Path(__file__).with_name("book_static")
THEBE_FILES = ("sphinx-thebe.js", "sphinx-thebe.css")


def _thebe_off(app) -> bool:
    options = app.config.html_theme_options or {}
    return not (options.get("launch_buttons") or {}).get("thebe")


def _is_thebe(asset) -> bool:
    name = getattr(asset, "filename", asset) or ""
    body = (getattr(asset, "attributes", None) or {}).get("body", "")
    return name.split("?")[0].rsplit("/", 1)[-1] in THEBE_FILES or "THEBE_JS_URL" in body


def _mend_page(app, pagename, templatename, context, doctree) -> None:
    drop_thebe = _thebe_off(app)
    scripts = context.get("script_files")
    if scripts:
        seen, unique = set(), []
        for script in scripts:
            if drop_thebe and _is_thebe(script):
                continue
            # an inline script is registered with filename None or "": the same script either way
            key = (getattr(script, "filename", script) or "", str(getattr(script, "attributes", "")))
            if key not in seen:
                seen.add(key)
                unique.append(script)
        scripts[:] = unique
    css = context.get("css_files")
    if css and drop_thebe:
        css[:] = [sheet for sheet in css if not _is_thebe(sheet)]
    if not context.get("default_mode"):
        context["default_mode"] = "auto"


def _drop_thebe_config(app, doctree, docname) -> None:
    """sphinx-thebe's ``<script type="text/x-thebe-config">`` (its Binder settings)."""
    if _thebe_off(app):
        for node in list(doctree.findall(nodes.raw)):
            if "text/x-thebe-config" in node.astext():
                node.parent.remove(node)


def _add_static_path(app) -> None:
    app.config.html_static_path.append(str(STATIC))


def setup(app) -> dict:
    app.connect("builder-inited", _add_static_path)
    app.add_css_file("illusion.css")
    app.connect("doctree-resolved", _drop_thebe_config, priority=900)  # after sphinx-thebe's
    app.connect("html-page-context", _mend_page, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
