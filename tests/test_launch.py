"""Launch buttons (illusion.sphinxext) and Binder's environment (.binder/)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from sphinx.errors import ConfigError

from illusion import sphinxext

ROOT = Path(__file__).resolve().parents[1]
PAGE = "book/notebooks/03_probe_recovery"


def test_links_point_at_the_jupytext_source_and_the_published_notebook():
    binder, colab = sphinxext.launch_links("https://github.com/someone/illusion", PAGE)
    assert binder["text"] == "Binder" and colab["text"] == "Colab"
    assert binder["url"] == ("https://mybinder.org/v2/gh/someone/illusion/main"
                             "?urlpath=lab/tree/notebooks/03_probe_recovery.py")
    assert colab["url"] == ("https://colab.research.google.com/github/someone/illusion/blob/"
                            "gh-pages/_sources/book/notebooks/03_probe_recovery.ipynb")


@pytest.mark.parametrize("url", ["https://github.com/someone/illusion.git",
                                 "https://github.com/someone/illusion/"])
def test_a_git_suffix_or_slash_is_the_same_repository(url):
    binder, _ = sphinxext.launch_links(url, PAGE, branch="dev", pages_branch="site")
    assert binder["url"].startswith("https://mybinder.org/v2/gh/someone/illusion/dev?")
    _, colab = sphinxext.launch_links(url, PAGE, branch="dev", pages_branch="site")
    assert "/someone/illusion/blob/site/" in colab["url"]


@pytest.mark.parametrize("url", ["", "github.com/a/b", "https://gitlab.com/a/b",
                                 "https://github.com/a", "https://github.com/a/b/c",
                                 "git@github.com:a/b.git"])
def test_other_addresses_are_refused(url):
    with pytest.raises(ValueError, match="https://github.com/ORG/REPO"):
        sphinxext.launch_links(url, PAGE)


def _app(tmp_path, url="", **config):
    (tmp_path / "notebooks").mkdir(exist_ok=True)
    (tmp_path / "notebooks" / "03_probe_recovery.py").write_text("")
    values = {"illusion_repository_url": url, "illusion_repository_branch": "main",
              "illusion_pages_branch": "gh-pages", **config}
    return SimpleNamespace(srcdir=str(tmp_path), config=SimpleNamespace(**values))


def _buttons(app, page=PAGE):
    context = {"header_buttons": [{"label": "download-buttons"}]}
    sphinxext._add_launch_buttons(app, page, "page.html", context, None)
    return context["header_buttons"]


def test_the_group_comes_first_on_notebook_pages_only(tmp_path, monkeypatch):
    monkeypatch.delenv("ILLUSION_REPOSITORY_URL", raising=False)
    app = _app(tmp_path, "https://github.com/someone/illusion")
    buttons = _buttons(app)
    assert [b["label"] for b in buttons] == ["launch-buttons", "download-buttons"]
    assert [b["text"] for b in buttons[0]["buttons"]] == ["Binder", "Colab"]
    assert len(_buttons(app, "book/intro")) == 1  # a Markdown page
    assert len(_buttons(app, "book/notebooks/99_missing")) == 1  # no Jupytext source


def test_no_address_no_buttons_and_the_environment_variable_is_one(tmp_path, monkeypatch):
    monkeypatch.delenv("ILLUSION_REPOSITORY_URL", raising=False)
    app = _app(tmp_path)
    assert len(_buttons(app)) == 1
    sphinxext._check_repository(app, app.config)  # logs, does not fail
    monkeypatch.setenv("ILLUSION_REPOSITORY_URL", "https://github.com/env/illusion")
    assert "/gh/env/illusion/" in _buttons(app)[0]["buttons"][0]["url"]


def test_a_bad_address_stops_the_build_with_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("ILLUSION_REPOSITORY_URL", raising=False)
    app = _app(tmp_path, "https://example.org/x/y")
    with pytest.raises(ConfigError, match="must be https://github.com/ORG/REPO"):
        sphinxext._check_repository(app, app.config)


def _pip(path: Path) -> list[str]:
    deps = yaml.safe_load(path.read_text())["dependencies"]
    return next(d["pip"] for d in deps if isinstance(d, dict))


def test_binder_environment_is_the_root_one_without_the_local_install():
    root, binder = ROOT / "environment.yml", ROOT / ".binder" / "environment.yml"
    assert _pip(binder) == [r for r in _pip(root) if r != "-e ."]
    conda = [d for d in yaml.safe_load(binder.read_text())["dependencies"]
             if not isinstance(d, dict)]
    assert "jupyterlab>=4" in conda  # jupytext's JupyterLab extension needs 4
    post = (ROOT / ".binder" / "postBuild").read_text()
    assert "pip install --no-deps -e ." in post and "set-default-viewer python" in post
    assert (ROOT / ".binder" / "postBuild").stat().st_mode & 0o111
