"""The verdicts the claim pages computed, published for the summary page to collect.

A claim page, once it has judged a claim, calls :func:`publish`: one JSON file per verdict,
``<results>/<name>.json``, written atomically (:func:`illusion.cache.atomic_write`), with the
claim, its reading, its status, *k* of *n* cells, the status on the means and in each cell, its
first sentence (:func:`short_text`), its full text, the headline rule when it had one and,
optionally, one interval of the means (:func:`means_interval`) and a few named numbers
(``facts``, e.g. the original's test accuracy). The summary page (``notebooks/11_summary.py``)
reads them back with :func:`collect`; it never judges anything itself.

Where: ``results`` when given, else :func:`results_dir`: ``$ILLUSION_RESULTS`` when set, else
``build/results/<profile>`` under the current directory. ``tools/run_notebooks.py`` sets
``ILLUSION_RESULTS`` for every notebook of a run to one directory per profile, cleared at the
start of a run that executes a claim page, and executes the summary after every other notebook
of the run has finished. Every file also records its ``profile``, so that a summary never shows
another profile's verdicts (:func:`collect` with ``profile`` refuses them).

A verdict published under its claim's own name (``"c2"`` for C2) is that claim's headline and
must judge the paper's statement (:data:`illusion.claims.PAPER`); any other name
(``"c3_strong"``, ``"c6_tuned"``, ``"c7_flat"``) is a further verdict of the claim, which the
summary lists under the headline with its ``label`` (default: its reading).
"""

from __future__ import annotations

import json
import math
import os
import re
from html import escape
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from ..cache import atomic_write
from ..catalog import cell_label
from ..claims.logic import FAILS, HOLDS, OTHER, PAPER, PARTLY, STRONGER, UNDECIDED
from ..gaps import gap_means
from ..profiles import get_profile
from .table import PAGES

__all__ = ["COLUMNS", "RESULTS_ENV", "SAID", "clean_results", "collect", "means_interval",
           "publish", "results_dir", "scale_caveat", "short_text", "styled", "summary_table"]

RESULTS_ENV = "ILLUSION_RESULTS"
SCHEMA = 1  # the version of a published file's fields
STATUSES = (HOLDS, PARTLY, FAILS, UNDECIDED)
READINGS = (PAPER, STRONGER, OTHER)
SHORT_MAX = 160  # characters of a verdict's one-sentence summary
NOT_PUBLISHED = "no verdict published"
# how the summary names a reading that is not the headline (unless published with a label)
READING_LABELS = {PAPER: PAPER, STRONGER: "stronger reading (ours)", OTHER: OTHER}

# What [A] / [B] say, per claim page (the landing page's wording), in the summary's order
SAID = {
    "C0": "the original model is near neural collapse",
    "C1": "standard methods look successful at the output",
    "C2": "probes and nearest-class-mean readouts recover the forgotten class",
    "C3": "the mechanism is feature–classifier misalignment",
    "C4": "editing only the classifier gives the same output-level success",
    "C5": "fine-tuning on a few forget images brings the class back faster than it teaches "
          "Retrain",
    "C6": "CMF unlearning moves forgetting into the representation",
    "C7": "[B]: baselines leave intermediate layers near the original; EC lowers similarity at "
          "every depth",
}

# The columns of collect()'s frame
COLUMNS = ["claim", "name", "reading", "label", "headline", "status", "k", "n", "k_of_n",
           "on_means", "statuses", "short", "text", "rule", "interval_label", "estimate", "low",
           "high", "facts", "profile"]
_REQUIRED = {"schema": int, "name": str, "profile": str, "claim": str, "reading": str,
             "label": str, "headline": bool, "status": str, "k": int, "n": int, "on_means": str,
             "statuses": dict, "short": str, "text": str}
_NAME = re.compile(r"^[A-Za-z0-9_]+$")


def results_dir(profile: str | None = None) -> Path:
    """Where verdicts are published and collected: ``$ILLUSION_RESULTS`` when set (one run's
    directory, :mod:`tools/run_notebooks.py` sets it), else ``build/results/<profile>`` under
    the current directory (``ValueError`` without a profile)."""
    env = os.environ.get(RESULTS_ENV, "").strip()
    if env:
        return Path(env)
    if not profile:
        raise ValueError(f"results_dir: no profile given and ${RESULTS_ENV} is not set")
    return Path("build") / "results" / profile


def clean_results(results: Path) -> int:
    """Remove the published verdicts (``*.json``) directly in ``results``; return how many.
    Anything else there is left alone."""
    gone = 0
    if results.is_dir():
        for path in results.glob("*.json"):
            path.unlink()
            gone += 1
    return gone


_ABBREVIATIONS = ("e.g", "i.e", "vs", "cf", "approx", "etc")


def short_text(text: str, limit: int = SHORT_MAX) -> str:
    """A verdict's first sentence (up to its first ``". "``; ``e.g. `` and the like do not end
    one), at most ``limit`` characters: a longer one is cut at the last word boundary and ends
    in "…"."""
    text = " ".join(str(text).split())
    end = len(text)
    for match in re.finditer(r"\.\s", text):
        word = text[:match.start()].rsplit(" ", 1)[-1].lstrip("([\"'").lower()
        if word not in _ABBREVIATIONS:
            end = match.start() + 1
            break
    first = text[:end]
    if len(first) <= limit:
        return first
    cut = first[:limit - 1]
    if " " in cut:
        cut = cut[:cut.rfind(" ")]
    return cut.rstrip(" ,;:(–-") + "…"


def _number(x: Any) -> float | None:
    """A finite float, or ``None`` (missing, NaN or infinite: JSON has no NaN)."""
    if x is None:
        return None
    value = float(x)
    return value if math.isfinite(value) else None


def _interval(interval) -> dict | None:
    if interval is None:
        return None
    if len(interval) != 4 or not isinstance(interval[0], str):
        raise ValueError("publish: interval must be (label, estimate, low, high), not "
                         f"{interval!r}")
    label, estimate, low, high = interval
    return {"label": label, "estimate": _number(estimate), "low": _number(low),
            "high": _number(high)}


def _fact(key: str, value: Any):
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, bool):
        return value
    try:
        return _number(value)
    except (TypeError, ValueError):
        raise ValueError(f"publish: fact {key!r} must be a number or a string, not "
                         f"{value!r}") from None


def publish(name: str, verdict, interval: tuple[str, float, float, float] | None = None,
            results: Path | None = None, *, profile: str, label: str | None = None,
            facts: Mapping[str, Any] | None = None) -> Path:
    """Write ``verdict`` (an :class:`illusion.claims.Verdict` judged across cells:
    :func:`illusion.book.judge`, :func:`~illusion.book.judge_cells` or
    :func:`illusion.claims.across_cells`) to ``<results>/<name>.json``; return the path.

    ``name``: letters, digits and ``_``; the claim's own name (``"c2"``) marks its headline.
    ``interval``: ``(label, estimate, low, high)`` of one interval of the means the summary
    shows beside the status (:func:`means_interval`). ``results``: the directory (default
    :func:`results_dir` of ``profile``). ``profile``: the profile the page was executed with,
    recorded in the file. ``label``: how the summary names a verdict that is not the headline
    (default: its reading, :data:`READING_LABELS`; give one to a further verdict of the
    paper's statement, e.g. an ablation). ``facts``: named numbers or strings the summary may quote
    (``{"orig_test_acc": ...}`` from the C0 page)."""
    if not _NAME.match(name):
        raise ValueError(f"publish: name {name!r} must be letters, digits and '_'")
    values = verdict.values
    missing = [k for k in ("k", "n", "statuses", "on_means") if k not in values]
    if missing:
        raise ValueError(f"publish: the verdict of {verdict.claim} has no {', '.join(missing)}; "
                         "publish a verdict judged across cells (illusion.book.judge)")
    headline = name.lower() == verdict.claim.lower()
    if headline and verdict.reading != PAPER:
        raise ValueError(f"publish: {name!r} names {verdict.claim}'s headline, but the verdict "
                         f"judges {verdict.reading!r}, not {PAPER!r}")
    record = {
        "schema": SCHEMA, "name": name, "profile": profile, "claim": verdict.claim,
        "reading": verdict.reading,
        "label": "headline" if headline else (label or READING_LABELS.get(verdict.reading,
                                                                           verdict.reading)),
        "headline": headline, "status": verdict.status, "k": int(values["k"]),
        "n": int(values["n"]), "on_means": values["on_means"] or UNDECIDED,
        "statuses": {str(c): s for c, s in values["statuses"].items()},
        "short": short_text(verdict.text), "text": verdict.text,
        "rule": values.get("rule"), "interval": _interval(interval),
        "facts": {str(k): _fact(k, v) for k, v in (facts or {}).items()},
    }
    folder = Path(results) if results is not None else results_dir(profile)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    text = json.dumps(record, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    atomic_write(path, lambda fh: fh.write(text.encode()))
    return path


def means_interval(gaps: pd.DataFrame, method: str, key: str, label: str
                   ) -> tuple[str, float, float, float]:
    """``(label, estimate, low, high)`` of ``method``'s mean gap over the cells for ``key``
    (a readout, or a relearning attack): from a page's per-cell gaps
    (:meth:`illusion.book.PageReader.gaps`, :func:`illusion.attacks.relearn_leads` stacked),
    averaged with :func:`illusion.gaps.gap_means`, or from such means already (a ``cells``
    column). ``KeyError`` when the frame has no such row."""
    by = "attack" if "attack" in gaps.columns else "readout"
    means = gaps if "cells" in gaps.columns else gap_means(gaps, by)
    row = means[(means["method"] == method) & (means[by] == key)]
    if len(row) != 1:
        raise KeyError(f"means_interval: no mean gap of {method!r} for {by} {key!r} "
                       f"(have: {sorted(set(zip(means['method'], means[by])))})")
    row = row.iloc[0]
    return label, float(row["gap"]), float(row["low"]), float(row["high"])


def _load(path: Path) -> dict:
    """One published verdict as a row of :func:`collect`'s frame; ``ValueError`` naming the
    file when it is not one."""
    def bad(why: str) -> ValueError:
        return ValueError(f"{path}: not a published verdict ({why})")

    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad(f"{type(exc).__name__}: {exc}") from None
    if not isinstance(record, dict):
        raise bad("not a JSON object")
    for key, kind in _REQUIRED.items():
        if key not in record:
            raise bad(f"no {key!r}")
        if not isinstance(record[key], kind) or (kind is int and isinstance(record[key], bool)):
            raise bad(f"{key!r} is not a {kind.__name__}")
    if record["schema"] != SCHEMA:
        raise bad(f"schema {record['schema']}, expected {SCHEMA}")
    if record["name"] != path.stem:
        raise bad(f"it names itself {record['name']!r}")
    statuses = [record["status"], record["on_means"], *record["statuses"].values()]
    if any(s not in STATUSES for s in statuses):
        raise bad(f"unknown status among {statuses}")
    interval = record.get("interval")
    if interval is not None and not (isinstance(interval, dict) and
                                     {"label", "estimate", "low", "high"} <= set(interval)):
        raise bad("'interval' is not {label, estimate, low, high}")
    interval = interval or {}
    row = {k: record[k] for k in _REQUIRED if k != "schema"}
    row.update(k_of_n=f"{record['k']}/{record['n']}", rule=record.get("rule"),
               interval_label=interval.get("label"),
               estimate=_nan(interval.get("estimate")), low=_nan(interval.get("low")),
               high=_nan(interval.get("high")), facts=dict(record.get("facts") or {}))
    return row


def _nan(x) -> float:
    return float("nan") if x is None else float(x)


def _claim_order(claim: str) -> tuple:
    m = re.fullmatch(r"C(\d+)", claim)
    return (0, int(m.group(1)), "") if m else (1, 0, claim)


def collect(results: Path | None = None, *, profile: str | None = None) -> pd.DataFrame:
    """Every verdict published in ``results`` (default :func:`results_dir` of ``profile``),
    one row per file with :data:`COLUMNS`, sorted by claim (C0, C1, ... C10), then reading
    (the paper's statement, the stronger reading, another one; the headline first), then name.
    A missing directory gives an empty frame with the columns. A file that is not a published
    verdict raises ``ValueError`` naming it; so does one of another profile than ``profile``
    (when given)."""
    folder = Path(results) if results is not None else results_dir(profile)
    paths = sorted(p for p in folder.glob("*.json") if not p.name.startswith(".")) \
        if folder.is_dir() else []
    rows = [_load(p) for p in paths]
    for p, row in zip(paths, rows):
        if profile is not None and row["profile"] != profile:
            raise ValueError(f"{p}: a verdict of profile {row['profile']!r}, not {profile!r} "
                             f"(a results directory holds one profile's verdicts)")
    rows.sort(key=lambda r: (_claim_order(r["claim"]),
                             READINGS.index(r["reading"]) if r["reading"] in READINGS else 9,
                             not r["headline"], r["name"]))
    return pd.DataFrame(rows, columns=COLUMNS)


def _interval_text(row) -> str:
    if not isinstance(row["interval_label"], str):
        return ""
    ends = [row[k] for k in ("estimate", "low", "high")]
    if any(math.isnan(x) for x in ends):
        return f"{row['interval_label']}: n/a"
    est, low, high = ends
    return f"{row['interval_label']}: {est:+.1f} [{low:+.1f}, {high:+.1f}]"


SUMMARY_COLUMNS = ["claim", "what [A] / [B] say", "status", "holds in (cells)",
                   "means' 95% interval", "in one sentence"]
OTHER_MARK = "↳ "  # a further verdict of the claim above: its label follows


def summary_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The landing page's table (:data:`SUMMARY_COLUMNS`): for every claim page
    (:data:`SAID`), its headline verdict with what the paper says (or a row saying that no
    verdict was published), then the claim's other published verdicts, each named by its
    label after :data:`OTHER_MARK`; then any published claim :data:`SAID` does not list."""
    claims = list(SAID) + sorted({c for c in frame["claim"] if c not in SAID}, key=_claim_order)
    rows = []
    for claim in claims:
        mine = frame[frame["claim"] == claim]
        if not mine["headline"].any():
            rows.append([claim, SAID.get(claim, ""), NOT_PUBLISHED, "", "", ""])
        for _, row in mine.iterrows():
            said = (SAID.get(claim, "the paper's statement") if row["headline"]
                    else OTHER_MARK + row["label"])
            rows.append([claim, said, row["status"], row["k_of_n"], _interval_text(row),
                         row["short"]])
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


# light backgrounds (with black text, in either colour mode) of the statuses in the table
STATUS_TINTS = {HOLDS: "#cdebd3", PARTLY: "#fde2c4", FAILS: "#f6c9c9", UNDECIDED: "#e3e3e3",
                NOT_PUBLISHED: "#e3e3e3"}


def styled(table: pd.DataFrame, link_prefix: str | None = None):
    """:func:`summary_table` as the book shows it: no row numbers, text left and top aligned,
    each status on its colour's tint (holds green, partly orange, does not hold red, not
    decided or not published grey). With ``link_prefix``, each claim links to its page's HTML,
    ``<link_prefix><notebook>.html``: ``"notebooks/"`` from the landing page (``book/intro``),
    ``""`` from a page beside the claim pages. A fixed id keeps the HTML the same from run to
    run."""
    def tint(status):
        colour = STATUS_TINTS.get(status)
        return f"background-color: {colour}; color: #000" if colour else ""

    def link(claim):
        page = PAGES.get(claim)
        if link_prefix is None or page is None:
            return escape(claim)
        return f'<a href="{escape(link_prefix)}{page.notebook}.html">{escape(claim)}</a>'

    text = [c for c in table.columns if c != "claim"]
    return (table.style.set_uuid("summary").hide(axis="index")
            .format(link, subset=["claim"]).format(escape, subset=text)
            .map(tint, subset=["status"])
            .set_properties(**{"text-align": "left", "vertical-align": "top"})
            .set_table_styles([{"selector": "th", "props": [("text-align", "left"),
                                                            ("vertical-align", "bottom")]}]))


DATASET_NAMES = {"fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10", "cifar100": "CIFAR-100",
                 "mnist": "MNIST"}
ARCH_NAMES = {"resnet18": "ResNet-18"}
# Where each profile's unlearning learning rates come from (methods/hparams.toml); "{first}" is
# the profile's first cell. The cpu rates: tools/tune_methods.py, whose default cell (--seed 0
# --forget 0) is the cpu profile's first cell (tests/test_results.py checks it), results in
# tuning/cpu.csv.
TUNING = {
    "cpu": ("the unlearning methods' learning rates were tuned on the validation split of the "
            "cpu profile's first cell ({first}; tools/tune_methods.py, tuning/cpu.csv), never on "
            "test images, and are used unchanged in every cell; C6's headline and C4's "
            "LL-UNSIR@A run at [A]'s published learning rates"),
    "smoke": ("the unlearning methods' learning rates are fixed starting values, one short "
              "epoch each, not tuned: this profile checks the plumbing and its numbers mean "
              "little"),
    "paper": ("the unlearning methods' learning rates are [A]'s published values (its appendix "
              "and run scripts), not tuned here"),
}


def scale_caveat(profile: str, frame: pd.DataFrame | None = None,
                 first_seed: int | None = None) -> str:
    """The scale of a build in a few sentences, for beside the landing table: the dataset,
    training images per class, the ResNet-18's width and epochs, each against [A]'s (the
    ``paper`` profile's); where the learning rates were tuned (:data:`TUNING`); and the
    original's test accuracy when the C0 page published it (the fact ``orig_test_acc`` of its
    headline in ``frame``), else where it is shown."""
    p, a = get_profile(profile), get_profile("paper")
    t, ta = p.train, a.train
    name = lambda ds: DATASET_NAMES.get(ds, ds)  # noqa: E731
    data = name(p.dataset) + ("" if p.dataset == a.dataset else f" ([A]: {name(a.dataset)})")
    images = ("all training images" if t.per_class is None
              else f"{t.per_class} training images per class")
    images += f", {t.val_fraction:.0%} of them held out for validation"
    model = f"a {ARCH_NAMES.get(t.arch, t.arch)} of width {t.width}"
    if t.width != ta.width:
        model += f" ([A]: {ta.width})"
    epochs = f"trained for {'up to ' if t.patience else ''}{t.epochs} epochs"
    base = p.name.removesuffix(":dry")
    first = cell_label(*p.grid()[0])
    tuning = TUNING.get(base, "the unlearning methods' learning rates are this profile's "
                              "entries of methods/hparams.toml").format(first=first)
    text = (f"This build (profile '{profile}') runs on {data}, {images}, with {model}, "
            f"{epochs}. {tuning[0].upper()}{tuning[1:]}.")
    acc = None
    if frame is not None and len(frame):
        c0 = frame[(frame["claim"] == "C0") & frame["headline"]]
        if len(c0):
            acc = c0.iloc[0]["facts"].get("orig_test_acc")
    if acc is not None:
        seed = "" if first_seed is None else f" of seed {first_seed}"
        text += f" The original model{seed} reaches {acc:.2f}% test accuracy."
    else:
        text += " The original model's test accuracy is shown on the C0 page (Training)."
    return text
