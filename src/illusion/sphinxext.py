"""A small Sphinx extension for the book (listed in ``_config.yml``).

Two defects of the Jupyter Book 1 theme stack show up as console errors in a real browser
(``tests/test_book_browser.py``) and are mended here rather than hidden by the check:

- inline scripts registered twice (sphinx-thebe's ``const THEBE_JS_URL = ...`` is added on
  each ``env-before-read-docs``), which is a ``SyntaxError`` on every page: duplicates of the
  same script are dropped;
- pydata-sphinx-theme's colour mode read from an empty ``default_mode``, which logs "Got
  invalid theme mode": it falls back to ``auto``, the theme's documented default.
"""

from __future__ import annotations


def _mend_page(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if scripts:
        seen, unique = set(), []
        for script in scripts:
            # an inline script is registered with filename None or "": the same script either way
            key = (getattr(script, "filename", script) or "", str(getattr(script, "attributes", "")))
            if key not in seen:
                seen.add(key)
                unique.append(script)
        scripts[:] = unique
    if not context.get("default_mode"):
        context["default_mode"] = "auto"


def setup(app) -> dict:
    app.connect("html-page-context", _mend_page, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
