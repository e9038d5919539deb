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

Launch buttons (Binder, Colab) are built here, not by the theme, because the theme would point
both at ``book/notebooks/<page>.ipynb`` on the source branch, and those executed notebooks are
build outputs the repository does not commit. A page gets them when the book knows its public
repository: ``illusion_repository_url`` in ``_config.yml``'s ``sphinx.config`` or the
``ILLUSION_REPOSITORY_URL`` environment variable (a ``https://github.com/ORG/REPO`` address).

- **Binder** builds the environment from ``.binder/`` on ``illusion_repository_branch``
  (default ``main``) and opens the page's Jupytext source ``notebooks/<page>.py`` in JupyterLab,
  which ``postBuild`` makes open as a notebook.
- **Colab** opens GitHub ``.ipynb`` files only, so it opens the executed page as published:
  Sphinx copies each page's notebook to ``_sources/``, and ``ghp-import`` (Jupyter Book's way of
  publishing) puts the built HTML on ``illusion_pages_branch`` (default ``gh-pages``).

Without a repository address no page has launch buttons, and the build log says why.

MathJax is not this module's business: ``sphinx-mathjax-offline`` (also in ``_config.yml``)
points ``mathjax_path`` at its copy in ``_static/mathjax``, and neither Jupyter Book nor
myst-nb sets that value; myst-parser only adds ``processHtmlClass`` to ``mathjax3_config``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from docutils import nodes
from sphinx.errors import ConfigError
from sphinx.util import logging

STATIC = Path(__file__).with_name("book_static")
THEBE_FILES = ("sphinx-thebe.js", "sphinx-thebe.css")
BINDER = "https://mybinder.org"
COLAB = "https://colab.research.google.com"
GITHUB = re.compile(r"^https://github\.com/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?$")
NOTEBOOK_PAGES = "book/notebooks/"  # docnames of the executed pages (_toc.yml)

logger = logging.getLogger(__name__)


def launch_links(repository_url: str, pagename: str, branch: str = "main",
                 pages_branch: str = "gh-pages") -> list[dict]:
    """The Binder and Colab buttons of the page ``pagename`` (a docname under
    ``book/notebooks/``), as sphinx-book-theme's header-button entries.

    Raises ValueError when ``repository_url`` is not a ``https://github.com/ORG/REPO`` address
    (both services resolve GitHub repositories by ORG/REPO)."""
    match = GITHUB.match(repository_url.strip())
    if not match:
        raise ValueError(f"illusion_repository_url must be https://github.com/ORG/REPO, "
                         f"got {repository_url!r}")
    org, repo = match.groups()
    stem = pagename.rsplit("/", 1)[-1]
    binder = (f"{BINDER}/v2/gh/{org}/{repo}/{branch}"
              f"?urlpath=lab/tree/notebooks/{stem}.py")
    colab = f"{COLAB}/github/{org}/{repo}/blob/{pages_branch}/_sources/{pagename}.ipynb"
    return [
        {"type": "link", "text": "Binder", "url": binder, "icon": "_static/images/logo_binder.svg",
         "tooltip": "Run the page's Jupytext source on Binder"},
        {"type": "link", "text": "Colab", "url": colab, "icon": "_static/images/logo_colab.png",
         "tooltip": "Open the executed page on Colab"},
    ]


def _repository(app) -> str:
    return (app.config.illusion_repository_url
            or os.environ.get("ILLUSION_REPOSITORY_URL", "")).strip()


def _check_repository(app, config) -> None:
    url = _repository(app)
    if url:
        try:
            launch_links(url, NOTEBOOK_PAGES + "x")
        except ValueError as exc:  # a bad address stops the build here, with one line
            raise ConfigError(str(exc)) from None
    else:
        logger.info("illusion: no launch buttons (no public repository address: set "
                    "ILLUSION_REPOSITORY_URL or illusion_repository_url)")


def _add_launch_buttons(app, pagename, templatename, context, doctree) -> None:
    url = _repository(app)
    stem = pagename.rsplit("/", 1)[-1]
    if (not url or not pagename.startswith(NOTEBOOK_PAGES) or "header_buttons" not in context
            or not (Path(app.srcdir) / "notebooks" / f"{stem}.py").exists()):
        return
    context["header_buttons"].insert(0, {
        "type": "group", "tooltip": "Launch interactive content", "icon": "fas fa-rocket",
        "label": "launch-buttons",
        "buttons": launch_links(url, pagename, app.config.illusion_repository_branch,
                                app.config.illusion_pages_branch)})


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
    app.add_config_value("illusion_repository_url", "", "html")
    app.add_config_value("illusion_repository_branch", "main", "html")
    app.add_config_value("illusion_pages_branch", "gh-pages", "html")
    app.connect("config-inited", _check_repository)
    app.connect("builder-inited", _add_static_path)
    app.add_css_file("illusion.css")
    app.connect("doctree-resolved", _drop_thebe_config, priority=900)  # after sphinx-thebe's
    app.connect("html-page-context", _mend_page, priority=900)
    app.connect("html-page-context", _add_launch_buttons, priority=900)  # after the theme's
    return {"parallel_read_safe": True, "parallel_write_safe": True}
