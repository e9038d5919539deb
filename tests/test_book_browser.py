"""Real-browser check of the built book: headless Chromium opens every page, in the theme's
light mode and in its dark mode.

``make test`` builds the smoke book first and points ``ILLUSION_BOOK_HTML`` at it. The book is
served on a local port, and a page fails on:

- a table-of-contents entry without its page, a local link to a missing file, an image that did
  not load, an error output cell;
- a console error (level SEVERE), in either mode, or a mode the theme did not apply;
- any request to somewhere other than the local server (``data:``, ``blob:`` and ``about:``
  URLs aside), in either mode: the book is read offline and tells no third party about its
  readers (MathJax comes from ``_static/mathjax``, see ``_config.yml``). Requests are read from
  Chromium's performance log (``Network.requestWillBeSent``), so a request that failed counts;
- math not typeset: on a page with math (Sphinx's ``span.math`` / ``div.math``), MathJax must
  finish (``MathJax.startup.promise``) within ``MATHJAX_TIMEOUT_S``, leave ``mjx-container``
  elements and no ``.math`` element still holding raw TeX (``\\(``, ``\\[`` or ``$$``);
- a table, image or figure running past the right edge of the text column (a wide table
  scrolls inside it);
- a table header (``th``) that is a raw column name: a snake_case identifier such as
  ``output_test_forget``, ``mia_efficacy`` or ``probe_vs_original`` (``RAW_COLUMN``). A pattern
  rather than a list of the library's metric names, because pages also show columns derived
  from them (``probe_vs_original``, ``steps_to_50``...) that no list would keep up with; it
  also catches a method's or a hyperparameter's registry name (``random_label``,
  ``impair_lr``) left as a header. A header that is entirely code markup (``<th><code>
  impair_lr</code></th>``) names an identifier on purpose and passes.

With ``ILLUSION_BOOK_SCREENSHOTS=DIR`` every page is also saved, full length, as
``DIR/<page>.<mode>.png`` for a person to look at (the check itself never looks at them).

Without a built book or a browser the test is skipped, except under CI (``CI`` set), where a
skip would hide a broken check.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import math
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
MODES = ("light", "dark")  # pydata-sphinx-theme's modes besides "auto"
MATHJAX_TIMEOUT_S = 30
BROKEN_IMAGES = """return Array.from(document.images)
    .filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute('src'));"""
# myst-nb renders error outputs (tracebacks) and stderr streams with these classes
ERROR_OUTPUTS = "div.output.traceback, div.output.error, div.output.stderr"
# URL schemes that never leave the page
LOCAL_SCHEMES = ("data:", "blob:", "about:")
RAW_COLUMN = re.compile(r"^[A-Za-z0-9]+(_[A-Za-z0-9]+)+$")
# [text, true when the header's whole text is inside <code>] of every table header
HEADERS = """return Array.from(document.querySelectorAll('th')).map(th => {
    const text = th.textContent.trim();
    const code = Array.from(th.querySelectorAll('code')).map(c => c.textContent).join('').trim();
    return [text, text !== '' && code === text];
});"""
# Resolves MathJax's startup promise (the first typesetting of the page) into a string:
# "ok", "error: ..." or "timeout" (MathJax never loaded or never finished).
WAIT_FOR_MATHJAX = """const done = arguments[arguments.length - 1];
const timer = setTimeout(() => done('timeout'), arguments[0] * 1000);
const finish = (result) => { clearTimeout(timer); done(result); };
(function wait() {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
        MathJax.startup.promise.then(() => finish('ok'), (e) => finish('error: ' + e));
    } else {
        setTimeout(wait, 50);
    }
})();"""
# tables, images and figures whose right edge is past the text column's, unless a scrolling
# box inside the column holds them
TOO_WIDE = """const column = document.querySelector('article.bd-article');
if (!column) return [];
const edge = column.getBoundingClientRect().right + 1;
const scrolls = (el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
return Array.from(column.querySelectorAll('table, img, figure')).filter(el => {
    if (el.getBoundingClientRect().right <= edge) return false;
    for (let box = el.parentElement; box && box !== column; box = box.parentElement) {
        if (scrolls(box)) return box.getBoundingClientRect().right > edge;
    }
    return true;
}).map(el => el.tagName.toLowerCase() + ' ' + (el.getAttribute('src') || el.className));"""
RAW_TEX = """return Array.from(document.querySelectorAll('.math'))
    .map(m => m.textContent)
    .filter(t => t.includes('\\\\(') || t.includes('\\\\[') || t.includes('$$'));"""


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"browser check cannot run under CI: {reason}")
    pytest.skip(reason)


def _toc_pages(toc: dict) -> list[str]:
    """Every ``file`` of a jb-book table of contents, root first."""
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return pages


def _requested_urls(performance_log: list[dict]) -> list[str]:
    """The URL of every request in a drained Chromium performance log."""
    urls = []
    for entry in performance_log:
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def _external(url: str, server: str) -> bool:
    return not url.startswith(server) and not url.startswith(LOCAL_SCHEMES)


# ends the theme's transitions (its sidebars slide in after the page loads) and waits for
# two frames, so that a screenshot shows the page at rest
SETTLE = """const style = document.createElement('style');
style.textContent = '*, *::before, *::after {transition: none !important; '
    + 'animation: none !important}';
document.head.appendChild(style);
const done = arguments[arguments.length - 1];
requestAnimationFrame(() => requestAnimationFrame(() => done()));"""


def _screenshot(browser, path: Path) -> None:
    """The whole page (not only the window) as a PNG, through the DevTools protocol."""
    browser.execute_async_script(SETTLE)
    size = browser.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = browser.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": math.ceil(size["width"]),
                 "height": math.ceil(size["height"]), "scale": 1}})
    path.write_bytes(base64.b64decode(shot["data"]))


@pytest.fixture(scope="module")
def book() -> Path:
    html = os.environ.get("ILLUSION_BOOK_HTML")
    if not html or not (Path(html) / "index.html").is_file():
        _unavailable("no built book (set ILLUSION_BOOK_HTML; `make test` does)")
    return Path(html)


@pytest.fixture(scope="module")
def browser():
    chrome = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chrome or not driver_path:
        _unavailable("Chromium and chromedriver are not installed "
                     "(Debian: apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chrome
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,1024"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(MATHJAX_TIMEOUT_S + 10)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def server(book):
    """Serve the book over HTTP (as readers get it) on a free local port."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(book))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def test_every_toc_page_is_built(book):
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    missing = [p for p in _toc_pages(toc) if not (book / f"{p}.html").is_file()]
    assert not missing, f"pages in _toc.yml but not in the built book: {missing}"


def test_launch_buttons(book):
    """Binder opens a page's Jupytext source, which the repository has; Colab opens the page's
    executed notebook as published, which the build copied to ``_sources``. Without a
    repository address no page has a launch button (not even the theme's default address)."""
    from illusion.sphinxext import NOTEBOOK_PAGES

    url = os.environ.get("ILLUSION_REPOSITORY_URL")
    pages = [p for p in _toc_pages(yaml.safe_load((ROOT / "_toc.yml").read_text()))
             if p.startswith(NOTEBOOK_PAGES)]
    assert pages
    for page in pages:
        html = (book / f"{page}.html").read_text()
        links = re.findall(r'href="(https://(?:mybinder\.org|colab\.research\.google\.com)'
                           r'/[^"]+)"', html)
        if not url:
            assert not links and "launch-buttons" not in html, page
            continue
        org_repo = url.removeprefix("https://github.com/").strip("/")
        stem = page.rsplit("/", 1)[-1]
        binder = [u for u in links if u.startswith("https://mybinder.org/")]
        colab = [u for u in links if u.startswith("https://colab.research.google.com/")]
        assert binder == [f"https://mybinder.org/v2/gh/{org_repo}/main"
                          f"?urlpath=lab/tree/notebooks/{stem}.py"], page
        assert (ROOT / "notebooks" / f"{stem}.py").is_file()
        prefix = f"https://colab.research.google.com/github/{org_repo}/blob/gh-pages/"
        assert len(colab) == 1 and colab[0].startswith(prefix), page
        assert (book / colab[0].removeprefix(prefix)).is_file(), colab[0]


def _check_page(browser, book: Path, server: str, page: str, mode: str,
                screenshots: Path | None) -> list[str]:
    """Problems of one page, opened in ``mode`` (already stored in localStorage)."""
    problems = []
    browser.get(urljoin(server, f"{page}.html"))
    where, in_mode = f"{page}.html", f"{page}.html ({mode} mode)"
    theme = browser.execute_script("return document.documentElement.dataset.theme;")
    if theme != mode:
        problems.append(f"{in_mode}: the theme shows {theme!r}")
    if browser.find_elements("css selector", ".math"):
        state = browser.execute_async_script(WAIT_FOR_MATHJAX, MATHJAX_TIMEOUT_S)
        if state != "ok":
            problems.append(f"{in_mode}: MathJax did not finish typesetting: {state}")
        elif not browser.find_elements("css selector", "mjx-container"):
            problems.append(f"{in_mode}: math on the page but no formula rendered")
        for text in browser.execute_script(RAW_TEX):
            problems.append(f"{in_mode}: formula left as raw TeX: {text[:100]!r}")
    for src in browser.execute_script(BROKEN_IMAGES):
        problems.append(f"{where}: image did not load: {src}")
    for what in browser.execute_script(TOO_WIDE):
        problems.append(f"{where}: wider than the text column: {what[:100]}")
    errors = browser.find_elements("css selector", ERROR_OUTPUTS)
    if errors:
        problems.append(f"{where}: {len(errors)} error output cell(s): {errors[0].text[:200]!r}")
    for text, is_code in browser.execute_script(HEADERS):
        if RAW_COLUMN.match(text) and not is_code:
            problems.append(f"{where}: table header is a raw column name: {text!r}")
    for href in browser.execute_script(
            "return Array.from(document.querySelectorAll('a[href]')).map(a => a.href);"):
        parts = urlsplit(href)
        if href.startswith(server) and parts.path.endswith(".html"):
            target = book / unquote(parts.path).lstrip("/")
            if not target.is_file():
                problems.append(f"{where}: broken link to {parts.path}")
    # the fonts the page asked for (MathJax's among them) have loaded or failed
    browser.execute_async_script(
        "document.fonts.ready.then(() => arguments[arguments.length - 1]());")
    if screenshots:
        _screenshot(browser, screenshots / f"{page.replace('/', '__')}.{mode}.png")
    # read last, so that what the checks above waited for (MathJax, its fonts) is in them
    for entry in browser.get_log("browser"):
        if entry["level"] == "SEVERE":
            problems.append(f"{in_mode}: console error: {entry['message'][:300]}")
    for url in _requested_urls(browser.get_log("performance")):
        if _external(url, server):
            problems.append(f"{in_mode}: request outside the book: {url[:300]}")
    return problems


def test_pages_in_browser(book, browser, server):
    pages = _toc_pages(yaml.safe_load((ROOT / "_toc.yml").read_text()))
    screenshots = os.environ.get("ILLUSION_BOOK_SCREENSHOTS")
    if screenshots:
        screenshots = Path(screenshots)
        screenshots.mkdir(parents=True, exist_ok=True)
    problems = []
    for mode in MODES:
        # the theme reads the mode from localStorage ("mode", and "theme" for the first paint;
        # pydata-sphinx-theme's layout.html and setTheme): set both on the book's origin
        browser.get(urljoin(server, f"{pages[0]}.html"))
        browser.execute_script("localStorage.setItem('mode', arguments[0]);"
                               "localStorage.setItem('theme', arguments[0]);", mode)
        browser.get_log("browser"), browser.get_log("performance")  # drained: not a page's
        for page in pages:
            problems += _check_page(browser, book, server, page, mode, screenshots)
    assert not problems, "\n".join(sorted(set(problems)))
