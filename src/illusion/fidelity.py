"""Where the project departs from [A]'s and [B]'s released code or text: the Fidelity page's data.

Nothing here is retyped from elsewhere. Two sources:

* the **"Deviations" sections of the modules' docstrings** (every method module, the CMF head,
  and the relearning attack's "Protocol choices" / "Disclosure"), parsed by
  :func:`deviations`; a module states each deviation once, next to the code it concerns;
* :data:`METRIC_DEVIATIONS`, the evaluation's departures as structured records: what the
  reference does, what the project does, why, and how the effect is measured.

A record's measured effect comes from one of two places, both optional: ``effect_columns``
names a pair of columns of the evaluation rows (:func:`illusion.records.method_row`) whose
difference is the effect, computed by the Fidelity page from the models of its build; or
``effect_csv`` names a CSV (relative to the repository root) that a benchmark writes, shown by
the page when it exists. The page says "not measured" otherwise.

The page shows both lists as Markdown a reader can scan (:func:`method_markdown`,
:func:`metric_markdown`): one entry per deviation, its name in bold, then its fields.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from . import methods
from .methods import hparams_for, with_defaults
from .profiles import CPU_CELLS

__all__ = ["HEADERS", "METRIC_DEVIATIONS", "Deviation", "MetricDeviation", "coverage",
           "deviation_table", "hparam_differences", "method_markdown", "metric_markdown",
           "deviations", "effect_table", "metric_table", "parse_deviations", "source_modules"]

# Docstring section headers that list departures from a reference ("Deviations / choices
# (...)" counts: a header is the start of a line up to its first colon).
HEADERS = ("Deviations", "Protocol choices", "Disclosure")
_HEADER = re.compile(r"^(?P<name>%s)\b[^:\n]*:\s*(?P<rest>.*)$" % "|".join(map(re.escape,
                                                                                 HEADERS)))
_BULLET = re.compile(r"^[-*]\s+")


@dataclass(frozen=True)
class Deviation:
    """One item of a module's "Deviations" (or similar) section."""

    module: str   # e.g. "illusion.methods.unsir"
    subject: str  # the module's own name for what it implements (its first line, before ":")
    section: str  # the header it was listed under
    text: str     # the item as written, on one line


@dataclass(frozen=True)
class MetricDeviation:
    """A departure of the evaluation (metrics, features, data scale) from [A] or [B]."""

    subject: str
    reference: str        # what [A] / [B] do (their released code or text)
    ours: str             # what the project does
    why: str
    measured_by: str = ""  # how its effect is measured; "" when it is not
    effect_csv: str = ""   # a benchmark's CSV, relative to the repository root
    effect_columns: tuple[str, ...] = ()  # (ours, reference): columns of the evaluation rows


def _cells_text(cells: Sequence[tuple[int, tuple[int, ...]]]) -> str:
    """(seed, forget set) cells grouped by seed: "seed 0: {0}, {1}; seed 1: {0}"."""
    by_seed: dict[int, list[str]] = {}
    for seed, forget in cells:
        by_seed.setdefault(seed, []).append("{" + ", ".join(map(str, forget)) + "}")
    return "; ".join(f"seed {s}: {', '.join(f)}" for s, f in by_seed.items())


METRIC_DEVIATIONS: tuple[MetricDeviation, ...] = (
    MetricDeviation(
        "linear probe",
        "[A]'s evaluation/linear_prob.py: one linear layer with bias on the raw head-input "
        "features, minibatch SGD (lr 0.01, momentum 0.9, no weight decay, batch 64, 20 "
        "epochs), 10% held out, the best held-out epoch reported; early stopping with "
        "patience 40",
        "the same protocol on in-memory tensors (illusion.metrics.linear_probes), without the "
        "patience rule, which 20 epochs never reach, fitted three times per model with its "
        "own seeds (illusion.evaluation.PROBE_FITS; [A] fits once): the fits' mean is "
        "reported and the book's intervals redraw the fits as well as the test images. Up to "
        "METRICS_VERSION 3 the project used a full-batch L-BFGS probe on standardised "
        "features with a fixed L2 of 1e-2",
        "the L-BFGS probe was faster but read the unlearned models differently from [A]'s "
        "protocol, where the verdicts of C2 are decided, so [A]'s protocol became the "
        "default; one fit's accuracy depends on its seed, and a gap to Retrain that one "
        "fit's noise could explain should not decide C2. The evaluation rows keep the fits' "
        "mean only (each fit's accuracies stay in the evaluation record's probe_fits); how "
        "far one model's fits stray, Retrain's included, was measured by the retired "
        "bench/probe_fits.py, whose question, numbers and conclusion are on the Reproducing "
        "page (Retired one-off investigations)",
        measured_by="bench/probe.py: both probes on the cpu features of Original, Retrain, RL, "
                    "SalUn, SCRUB and NegGrad+ (forget class 0)",
        effect_csv="bench/results/probe_cpu.csv"),
    MetricDeviation(
        "linear probe: how its training ends",
        "a constant learning rate and the first epoch with the best held-out accuracy "
        "(evaluation/linear_prob.py; [A] anneals by a cosine only for Tiny ImageNet)",
        "the learning rate decays from 0.01 to 0 by a cosine over the 20 epochs and the last "
        "epoch is kept (illusion.metrics.linear_probes, schedule 'cosine-last', since issue "
        "34); held-out accuracy is still measured and reported",
        "on the cpu Retrain's forget class [A]'s rule never settles: a constant rate keeps "
        "moving the T-shirt / shirt boundary and the overall held-out accuracy, blind to that "
        "trade, picks an almost arbitrary epoch, so one fit can read far from the next (the "
        "table below: the library's probe, one change of [A]'s protocol at a time, [A]'s "
        "protocol written from its code, and the cosine with the last epoch); every C2 gap "
        "is measured against that Retrain, so a low fit inflated every 'illusion' gap",
        measured_by="bench/probe_spread.py: each variant fitted 12 times on the cached cpu "
                    "features of Retrain (seed 0, forget {0}); test-forget and test-retain "
                    "accuracy over the fits",
        effect_csv="bench/results/probe_spread_cpu.csv"),
    MetricDeviation(
        "NC2 / NC3",
        "[A]'s evaluation/nc.py: NC1-NC3 on per-sample L2-normalised penultimate features; "
        "the Gram matrix of the centred class means (NC2) and the classifier-times-means "
        "matrix (NC3) divided by their Frobenius norms only",
        "the same (nc2, nc3). The row-normalised form the project reported up to "
        "METRICS_VERSION 3 is kept as a second, named quantity (nc2_rownorm, nc3_rownorm) "
        "that no verdict reads",
        "normalising each row first hides unequal class-mean norms (equinorm violations); "
        "the named variant shows how much of the distance they account for",
        measured_by="this page: row-normalised minus [A]'s NC2 on all classes, per model of "
                    "this build",
        effect_columns=("nc2_rownorm_all", "nc2_all")),
    MetricDeviation(
        "NC on retained classes",
        "[A]'s evaluation/nc.py centres the retained classes' means on the global mean of "
        "all training features, forget classes included",
        "NC1-NC3 of the retained classes centre on the retained classes' own global mean "
        "(illusion.metrics.neural_collapse with classes=...)",
        "restricting to a set of classes then equals running the metric on those classes "
        "alone; the all-class values, which C0 reads, are identical",
        measured_by=""),
    MetricDeviation(
        "bfloat16 features (profile cpu, on CPUs with native bfloat16)",
        "[A] trains and evaluates in float32 on a GPU",
        "where the CPU computes bfloat16 natively (AVX512-BF16 or AMX; illusion.profiles."
        "native_bf16), the cpu profile trains under bfloat16 autocast and extracts every "
        "feature (probe, NCC, CKA, NC) under it, metrics then computed in float32; so does "
        "unlearning's work outside its steps (the full passes for the CMF class means of +CMF "
        "and the CMF original, EC's head pretraining; float32 before issue 26); elsewhere "
        "(e.g. AVX2 CPUs, where bfloat16 is emulated and much slower) it runs in float32",
        "faster steps and feature passes on such a CPU (timings on the Reproducing page), "
        "which makes the cpu book affordable; the precision is part of every artifact's key",
        measured_by="bench/feature_precision.py: every metric under bfloat16 and float32 "
                    "features of the same models; bench/unlearning_passes.py: the passes "
                    "inside unlearning both ways, and RL+CMF's spread under either",
        effect_csv="bench/results/feature_precision_cpu.csv"),
    MetricDeviation(
        "layer-wise CKA (claim C7; C3's stronger reading)",
        "[B]'s computation could not be read (only its abstract was reachable offline: EC "
        "'substantially reduces representational similarity to the original model across "
        "intermediate layers'); UUEF, the same group's earlier paper, computes linear CKA on "
        "pooled avgpool features against a retrained model, averaged per batch over a "
        "validation loader; [A]'s released code computes no CKA",
        "linear CKA between globally average-pooled stage features (stem and the four "
        "residual stages) of the original and the unlearned model, on all test images of the "
        "forget classes at once (a multi-class forget set pools its classes), with a paired "
        "95% bootstrap interval over those images",
        "pooled features keep every stage's features small on a 2-core CPU and follow UUEF's "
        "code; one CKA over the whole set avoids the bias of averaging per-batch CKA. "
        "Flattened maps (N, C*H*W), which some layer-similarity work uses, keep where in the "
        "image a channel responds; they are measured as a labelled variant, not the reference",
        measured_by="the C7 page's variant reading: pooled and flattened-map CKA to the "
                    "original per (method, stage) on the forget classes' test images (all of "
                    "them up to 3000; illusion.depth.stage_cka_flat) in the cell shown in "
                    "detail, and the headline criterion re-applied to the flattened values on "
                    "point comparisons (no bootstrap interval), its verdict beside the "
                    "pooled one"),
    MetricDeviation(
        "forget-row duality distance (claim C3)",
        "[A]'s evaluation/nc_cmf.py: 1 - cos(w_c, mu_c - mu_G), mu_G the sample mean of the "
        "features of the loader it is given: all classes (forget classes included) with its "
        "train_all loader, the retained classes with its retain loader; no shipped evaluation "
        "script turns it on (--do-nc)",
        "mu_G the mean of the training features of all classes, forget classes included ([A]'s "
        "train_all choice), on the raw head-input features; the forget row(s) and the mean "
        "of the retained rows reported separately",
        "the forget row is measured against the class it was trained on, which a retain-only "
        "mean would leave out of mu_G; the all-class mean is also what NC1-NC3 centre on",
        measured_by=""),
    MetricDeviation(
        "the flip bound c < (K-1) alpha (claim C4)",
        "[A]'s released code has no flip construction (nc_prune.py zeroes the forget row); "
        "the bound comes from [A]'s classifier-only argument under neural collapse",
        "this project's reconstruction of that argument: the forget row set to "
        "-c (mu_k - mu_G) with a bias for uncentred features (illusion.methods.classifier_only."
        "nc_flip_head), alpha fitted by least squares to the retained rows",
        "C4's analytic part needs a concrete construction to sweep; as a reconstruction it is "
        "shown as ours, and only its existential consequence (some c works) is judged",
        measured_by="the C4 page: the largest tried c that keeps retained accuracy and the "
                    "smallest that loses it, against the bound, beside the original's NC2 / "
                    "NC3"),
    MetricDeviation(
        "data and model scale (profile cpu)",
        "CIFAR-10 (and CIFAR-100, Tiny-ImageNet), all training images, ResNet-18 width 64, up "
        "to 300 epochs with crop and flip, early stopping",
        "Fashion-MNIST, 500 images per class (10% held out), ResNet-18 width 16, 20 epochs "
        f"without augmentation; a grid of {len(CPU_CELLS)} (seed, forget set) cells "
        f"(illusion.profiles.CPU_CELLS; {_cells_text(CPU_CELLS)}). The paper profile "
        "runs [A]'s recipe and grid",
        "the book is rebuilt on a 2-core CPU; augmentation kept the model out of the terminal "
        "phase (C0's premise) within that budget. Probe numbers mean something only relative "
        "to Retrain at either scale",
        measured_by="not measured here: it needs the paper profile on a GPU "
                    "(grids/paper_cifar10.yaml)"),
)


# ------------------------------------------------------------------------------ parsing

def parse_deviations(doc: str | None) -> list[tuple[str, str]]:
    """``(header, item)`` pairs of every deviations-like section of a docstring.

    A section starts at a line beginning with one of :data:`HEADERS` (qualifiers allowed
    before the colon). Its items are the bullets (``- `` or ``* ``) that follow, each with its
    indented continuation lines; text after the header's colon, or a paragraph without
    bullets, is one item. The section ends at a blank line followed by a line that is not a
    bullet, or at the next header. Whitespace is collapsed to single spaces."""
    items: list[tuple[str, str]] = []
    header, current, blank = None, None, False

    def flush():
        nonlocal current
        if header is not None and current:
            items.append((header, " ".join(" ".join(current).split())))
        current = None

    for raw in (doc or "").splitlines():
        line = raw.strip()
        match = _HEADER.match(line)
        if match:
            flush()
            header, blank = match["name"], False
            current = [match["rest"]] if match["rest"] else None
            continue
        if header is None:
            continue
        if not line:
            blank = True
            continue
        if _BULLET.match(line):
            flush()
            current, blank = [_BULLET.sub("", line)], False
        elif blank:  # a new paragraph that is not a bullet: the section is over
            flush()
            header = None
        elif current is None:
            current = [line]
        else:
            current.append(line)
    flush()
    return items


_ROLE = re.compile(r":[a-z]+:`~?\.?([^`]+)`")  # :mod:`.random_label` -> random_label


def _plain(text: str) -> str:
    """Docstring markup (``code``, :role:`target`) as plain text."""
    return _ROLE.sub(r"\1", text).replace("``", "")


def _subject(doc: str | None, module: str) -> str:
    """The module's first docstring line up to ": " (else the whole line, without its
    full stop); the module's name when it has no docstring."""
    lines = (doc or "").strip().splitlines()
    if not lines:
        return module
    return _plain(lines[0].split(": ", 1)[0] if ": " in lines[0] else lines[0].rstrip("."))


def source_modules() -> list[str]:
    """The modules whose docstrings the page reads: every module of ``illusion.methods``, the
    CMF head and the relearning attack, in that order."""
    names = sorted(m.name for m in pkgutil.iter_modules(methods.__path__))
    return [f"illusion.methods.{n}" for n in names] + ["illusion.cmf", "illusion.attacks"]


def _docstring(module: str) -> str | None:
    """A module's docstring, read from its source without importing it when possible."""
    spec = importlib.util.find_spec(module)
    if spec is not None and spec.origin and spec.origin.endswith(".py"):
        return ast.get_docstring(ast.parse(Path(spec.origin).read_text()))
    return importlib.import_module(module).__doc__


def deviations(modules: Iterable[str] | None = None) -> list[Deviation]:
    """Every item of the deviations-like sections of ``modules`` (default
    :func:`source_modules`), in module order."""
    out = []
    for module in modules if modules is not None else source_modules():
        doc = _docstring(module)
        subject = _subject(doc, module)
        out += [Deviation(module, subject, header, _plain(text))
                for header, text in parse_deviations(doc)]
    return out


def coverage(modules: Iterable[str] | None = None) -> pd.Series:
    """Number of deviation items per module read (0: the module lists none)."""
    modules = list(modules if modules is not None else source_modules())
    counts = pd.Series(0, index=modules, name="items")
    for d in deviations(modules):
        counts[d.module] += 1
    return counts


# ------------------------------------------------------------------------------ tables

def deviation_table(items: Sequence[Deviation]) -> pd.DataFrame:
    """One row per deviation: ``module`` (without the ``illusion.`` prefix), ``subject``,
    ``section``, ``deviation``."""
    return pd.DataFrame([{"module": d.module.removeprefix("illusion."), "subject": d.subject,
                          "section": d.section, "deviation": d.text} for d in items],
                        columns=["module", "subject", "section", "deviation"])


def metric_table(records: Sequence[MetricDeviation] = METRIC_DEVIATIONS) -> pd.DataFrame:
    """One row per metric deviation (subject as index): reference, ours, why, measured by."""
    return pd.DataFrame([{"subject": r.subject, "[A] / [B]": r.reference, "this project": r.ours,
                          "why": r.why, "effect measured by": r.measured_by or "not measured"}
                         for r in records]).set_index("subject")


# ------------------------------------------------------------------------------ markdown

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|$])")


def _md(text: str) -> str:
    """``text`` as literal Markdown: the characters that would start emphasis, code, a link,
    an HTML tag (``<method>``), a table cell or math are escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def method_markdown(items: Sequence[Deviation]) -> str:
    """The method deviations as a Markdown list: one entry per (module, section), the
    module's subject in bold, its module (without ``illusion.``) and section, then its items
    (inline when there is one, else one sub-item each), in the order of ``items``."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for d in items:
        groups.setdefault((d.module, d.subject, d.section), []).append(d.text)
    lines = []
    for (module, subject, section), texts in groups.items():
        head = f"- **{_md(subject)}** (`{module.removeprefix('illusion.')}`), {_md(section)}:"
        if len(texts) == 1:
            lines.append(f"{head} {_md(texts[0])}")
        else:
            lines += [head, *(f"  - {_md(t)}" for t in texts)]
    return "\n".join(lines) + "\n"


def metric_markdown(records: Sequence[MetricDeviation] = METRIC_DEVIATIONS) -> str:
    """The evaluation's deviations as a Markdown list: one entry per record, its subject in
    bold, then what [A] / [B] do, what this project does, why, and how the effect is measured
    ("not measured" when it is not), the fields of :func:`metric_table`."""
    lines = []
    for r in records:
        lines += [f"- **{_md(r.subject)}**",
                  f"  - *[A] / [B]:* {_md(r.reference)}",
                  f"  - *This project:* {_md(r.ours)}",
                  f"  - *Why:* {_md(r.why)}",
                  f"  - *Effect measured by:* {_md(r.measured_by or 'not measured')}"]
    return "\n".join(lines) + "\n"


def effect_table(record: MetricDeviation, rows: pd.DataFrame | None = None,
                 root: str | Path = ".") -> pd.DataFrame | None:
    """The measured effect of ``record``, or ``None`` when this build has none: the mean
    difference ``effect_columns[0] - effect_columns[1]`` per method of ``rows`` (evaluation
    rows with a ``method`` column) when both columns are there, else the CSV at
    ``root / effect_csv`` when it exists."""
    if record.effect_columns and rows is not None and set(record.effect_columns) <= set(rows):
        ours, ref = record.effect_columns
        diff = rows.assign(difference=rows[ours] - rows[ref])
        return diff.groupby("method", sort=False)[[ours, ref, "difference"]].mean()
    if record.effect_csv and (Path(root) / record.effect_csv).is_file():
        return pd.read_csv(Path(root) / record.effect_csv)
    return None


def hparam_differences(profile: str = "cpu", reference: str = "paper") -> pd.DataFrame:
    """Every hyperparameter whose value under ``profile`` differs from ``reference`` (the
    ``paper`` profile holds [A]'s values), read from ``methods/hparams.toml`` through
    :func:`illusion.methods.hparams_for`: one row per (method, hyperparameter) with both
    values. A value a profile leaves out is the method's default (:func:`~illusion.methods.with_defaults`), so
    a default that equals the other profile's explicit value is not a difference."""
    effective = lambda name, prof: with_defaults(name, hparams_for(name, prof))  # noqa: E731

    table = tomllib.loads(resources.files("illusion.methods").joinpath("hparams.toml")
                          .read_text())
    names = dict.fromkeys(k for p in (profile, reference)
                          for k, v in table.get(p, {}).items() if isinstance(v, dict))
    rows = []
    for name in names:
        ours, ref = effective(name, profile), effective(name, reference)
        if any(isinstance(v, dict) for v in (*ours.values(), *ref.values())):
            continue  # a sub-table of settings, not a method's entry
        for key in dict.fromkeys([*ref, *ours]):
            if ours.get(key) != ref.get(key):
                rows.append({"method": name, "hyperparameter": key,
                             profile: ours.get(key), reference: ref.get(key)})
    return pd.DataFrame(rows, columns=["method", "hyperparameter", profile, reference],
                        dtype=object)
