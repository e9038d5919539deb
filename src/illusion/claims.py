"""The claims' criteria as data, and their verdicts as pure functions of results tables.

Each claim page of the book states its criterion before any number is computed: a frozen
dataclass below, whose fields are the named thresholds (the page shows the object). The page then
hands its results table to the claim's function, which returns a :class:`Verdict`: a status
(``"holds"``, ``"partly holds"``, ``"does not hold"`` or ``"not decided"``), a one-sentence
text, a per-method ``details`` table and, where a claim has several halves, their statuses in
``parts``. The functions never read a file or train a model.

Tables are the notebooks' summaries: one row per method (a ``method`` column, or the methods as
index) holding means over the grid's (seed, forget set) cells. A method that is missing, or a
value that is NaN, is *not decided*: it never counts as passing or failing. Judgements use
three-valued logic (``True`` / ``False`` / ``None`` = undecidable): one failed check decides
"does not hold" even when another is undecidable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .plotting import method_label

__all__ = ["FAILS", "HOLDS", "PARTLY", "STANDARD_METHODS", "UNDECIDED", "ClassifierOnly",
           "CMFRepresentation", "DepthForgetting", "Illusion", "Misalignment", "NearCollapse",
           "OutputSuccess", "Relearning", "TerminalPhase", "Verdict", "across_cells",
           "cell_label", "classifier_only",
           "cmf_representation", "depth_forgetting", "illusion", "misalignment",
           "near_collapse", "output_success", "relearning", "relearning_control",
           "terminal_phase"]

HOLDS, PARTLY, FAILS, UNDECIDED = "holds", "partly holds", "does not hold", "not decided"
# [A]'s standard unlearning baselines (its Table 1): what C5 counts. Classifier-only edits,
# EC and the +CMF / +EC variants are other papers' or other sections' methods.
STANDARD_METHODS = ("finetune", "grad_ascent", "random_label", "neggrad_plus", "scrub", "unsir",
                    "salun", "l1_sparse", "boundary_shrink")


@dataclass(frozen=True)
class Verdict:
    """A claim's verdict: ``status``, ``text`` (one sentence, starting with the status),
    ``details`` (per method or per check), ``parts`` (statuses of a claim's halves) and
    ``values`` (the numbers the text quotes)."""

    claim: str
    status: str
    text: str
    details: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False, repr=False)
    parts: Mapping[str, str] = field(default_factory=dict, compare=False)
    values: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __str__(self) -> str:
        return self.text


# ------------------------------------------------------------------------------ helpers

def _nan(x) -> bool:
    try:
        return x is None or math.isnan(float(x))
    except (TypeError, ValueError):
        return False


def _tri(v) -> bool | None:
    """``True`` / ``False`` (Python or NumPy booleans) or ``None`` (anything else: None, NaN)."""
    return bool(v) if isinstance(v, (bool, np.bool_)) else None


def _cmp(a, op: str, b) -> bool | None:
    """``a op b``, or ``None`` when either side is missing or NaN."""
    if _nan(a) or _nan(b):
        return None
    a, b = float(a), float(b)
    return {">=": a >= b, "<=": a <= b, ">": a > b, "<": a < b}[op]


def _all(flags: Iterable) -> bool | None:
    """Three-valued AND: any False -> False; else any None -> None; else True (also when
    empty: callers decide what an empty set means before calling)."""
    flags = [_tri(f) for f in flags]
    if any(f is False for f in flags):
        return False
    return None if any(f is None for f in flags) else True


def _any(flags: Iterable) -> bool | None:
    """Three-valued OR: any True -> True; else any None -> None; else False."""
    flags = [_tri(f) for f in flags]
    if any(f is True for f in flags):
        return True
    return None if any(f is None for f in flags) else False


def _majority(n_true: int, n_false: int, n_open: int) -> bool | None:
    """"More than half are true", with ``n_open`` undecidable members: ``None`` when they
    could tip it either way."""
    if n_true > n_false + n_open:
        return True
    if n_true + n_open <= n_false:
        return False
    return None


def _status(flag) -> str:
    return {True: HOLDS, False: FAILS, None: UNDECIDED}[_tri(flag)]


def _combine(flags: Sequence) -> str:
    """Status of a claim made of several parts: all hold -> holds; any undecidable ->
    not decided; else some hold -> partly holds; none -> does not hold."""
    flags = [_tri(f) for f in flags]
    if flags and all(f is True for f in flags):
        return HOLDS
    if not flags or any(f is None for f in flags):
        return UNDECIDED
    return PARTLY if any(flags) else FAILS


def _which(flags: Mapping, value: bool | None) -> list:
    """Keys whose flag is ``value`` (True, False or None)."""
    return [k for k, f in flags.items() if _tri(f) is value]


def _frame(rows: list[dict], columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Per-method details indexed by ``method``; check columns keep Python ``True`` /
    ``False`` / ``None`` (object dtype) so that an undecidable check stays visible as such."""
    df = pd.DataFrame(rows, columns=columns)
    for col in df.columns:
        if len(df) and all(isinstance(v, (bool, np.bool_)) or v is None for v in df[col]):
            df[col] = pd.Series([_tri(v) for v in df[col]], index=df.index, dtype=object)
    return df.set_index("method") if "method" in df.columns else df


def _indexed(table: pd.DataFrame) -> pd.DataFrame:
    """The table indexed by method (it may carry a ``method`` column or be indexed already)."""
    if "method" in table.columns:
        return table.set_index("method")
    return table


def _get(t: pd.DataFrame, method: str, column: str) -> float:
    """``t.loc[method, column]`` as a float; NaN when the row or the column is missing."""
    if method not in t.index or column not in t.columns:
        return float("nan")
    value = t.loc[method, column]
    return float("nan") if _nan(value) else float(value)


def _names(methods: Iterable[str], suffix: str = "") -> str:
    return ", ".join(method_label(m) + suffix for m in methods)


def _series(items: Sequence[str], empty: str = "") -> str:
    """``a``, ``a and b``, ``a, b and c`` (``empty`` for none)."""
    items = list(items)
    if len(items) < 2:
        return items[0] if items else empty
    return ", ".join(items[:-1]) + " and " + items[-1]


def _cap(status: str) -> str:
    return status[0].upper() + status[1:]


def _pct(x: float) -> str:
    return "n/a" if _nan(x) else f"{x:.1f}%"


# ------------------------------------------------------------------------------ C0

@dataclass(frozen=True)
class TerminalPhase:
    """The premise of [A]'s theory: the original fits its training set. Training accuracy
    (evaluation mode, no augmentation) of at least ``min_train_acc`` percent."""

    min_train_acc: float = 99.0


def terminal_phase(train_acc: float, criterion: TerminalPhase = TerminalPhase(),
                   profile: str = "") -> Verdict:
    """Whether the original model reached the terminal phase of training."""
    ok = _cmp(train_acc, ">=", criterion.min_train_acc)
    lim = f"{criterion.min_train_acc:.0f}%"
    text = {True: f"Reached: training accuracy {train_acc:.2f}% >= {lim}.",
            False: f"Not reached: training accuracy {train_acc:.2f}% < {lim} (profile "
                   f"'{profile}'; the theory's premise does not hold at this scale).",
            None: "Not decided: no training accuracy was measured."}[ok]
    return Verdict("C0 terminal phase", _status(ok), text, values={"train_acc": train_acc})


@dataclass(frozen=True)
class NearCollapse:
    """C0: the original is near neural collapse at its last epoch. All must hold: training
    accuracy at least ``min_train_acc``; NC1 at most ``nc1_max_ratio`` x its first-epoch
    value and below ``nc1_max``; NC2 and NC3 below their first-epoch values; NC4 at least
    ``nc4_min``."""

    min_train_acc: float = 99.0
    nc1_max_ratio: float = 0.2
    nc1_max: float = 1.0
    nc4_min: float = 0.99


def near_collapse(history: pd.DataFrame, train_acc: float,
                  criterion: NearCollapse = NearCollapse(), profile: str = "") -> Verdict:
    """C0 from the per-epoch history (columns ``nc1``..``nc4``, first row = first epoch) and
    the final training accuracy (percent). ``details``: one row per check."""
    c = criterion
    if len(history) == 0:
        return Verdict("C0", UNDECIDED, "Not decided: no training history.")
    first, last = history.iloc[0], history.iloc[-1]
    g = lambda row, k: row[k] if k in row else float("nan")  # noqa: E731
    checks = [
        (f"terminal phase (train acc >= {c.min_train_acc:g}%)", f"{train_acc:.2f}%",
         _cmp(train_acc, ">=", c.min_train_acc)),
        (f"NC1 <= {c.nc1_max_ratio:g} x first epoch and < {c.nc1_max:g}",
         f"{g(first, 'nc1'):.3f} -> {g(last, 'nc1'):.3f}",
         _all([_cmp(g(last, "nc1"), "<=", c.nc1_max_ratio * g(first, "nc1")),
               _cmp(g(last, "nc1"), "<", c.nc1_max)])),
        ("NC2 below first epoch", f"{g(first, 'nc2'):.3f} -> {g(last, 'nc2'):.3f}",
         _cmp(g(last, "nc2"), "<", g(first, "nc2"))),
        ("NC3 below first epoch", f"{g(first, 'nc3'):.3f} -> {g(last, 'nc3'):.3f}",
         _cmp(g(last, "nc3"), "<", g(first, "nc3"))),
        (f"NC4 >= {c.nc4_min:g}", f"{g(first, 'nc4'):.3f} -> {g(last, 'nc4'):.3f}",
         _cmp(g(last, "nc4"), ">=", c.nc4_min)),
    ]
    details = _frame([dict(zip(("criterion", "first -> last epoch", "holds"), c_))
                      for c_ in checks], ["criterion", "first -> last epoch", "holds"])
    ok = _all(details["holds"])
    flags = dict(zip(details["criterion"], details["holds"]))
    failed, undecided = ", ".join(_which(flags, False)), ", ".join(_which(flags, None))
    text = {True: f"Holds: the original model is near neural collapse (NC1 {g(last, 'nc1'):.3f}, "
                  f"NC4 {g(last, 'nc4'):.3f}).",
            False: f"Does not hold at profile '{profile}': {failed} failed.",
            None: f"Not decided: {undecided} could not be evaluated."}[ok]
    return Verdict("C0", _status(ok), text, details,
                   values={"nc1_last": g(last, "nc1"), "nc4_last": g(last, "nc4")})


# ------------------------------------------------------------------------------ C1

@dataclass(frozen=True)
class OutputSuccess:
    """C1: a method succeeds *at the output* when its output test-forget accuracy is at most
    ``forget_max`` and its output test-retain accuracy at least the original's minus
    ``retain_drop_max``. The claim holds when more of the judged baselines succeed than not."""

    forget_max: float = 5.0
    retain_drop_max: float = 5.0


def output_success(table: pd.DataFrame, criterion: OutputSuccess = OutputSuccess()) -> Verdict:
    """C1 from a per-method table with ``output_test_forget`` / ``output_test_retain``; every
    row but ``original`` and ``retrain`` is a baseline."""
    c, t = criterion, _indexed(table)
    orig = _get(t, "original", "output_test_retain")
    rows = []
    for m in [m for m in t.index if m not in ("original", "retrain")]:
        forget, retain = _get(t, m, "output_test_forget"), _get(t, m, "output_test_retain")
        forgets = _cmp(forget, "<=", c.forget_max)
        keeps = _cmp(retain, ">=", orig - c.retain_drop_max)
        rows.append({"method": m, "output_test_forget": forget, "output_test_retain": retain,
                     "forgets": forgets, "keeps_retain": keeps,
                     "output_success": _all([forgets, keeps])})
    details = _frame(rows, ["method", "output_test_forget", "output_test_retain", "forgets",
                            "keeps_retain", "output_success"])
    flags = details["output_success"].to_dict()
    ok, bad, open_ = _which(flags, True), _which(flags, False), _which(flags, None)
    verdict = _majority(len(ok), len(bad), len(open_))
    if _nan(orig) or not flags or verdict is None:
        why = ("no original row" if _nan(orig) else "no baseline was run" if not flags else
               f"{_names(open_)} could not be judged")
        return Verdict("C1", UNDECIDED, f"Not decided: {why}.", details)
    status = _status(verdict)
    text = (f"{_cap(status)}: {len(ok)} of {len(flags)} baselines reach <= "
            f"{c.forget_max:.0f}% test-forget accuracy with test-retain accuracy within "
            f"{c.retain_drop_max:.0f} points of the original ({_names(ok) or 'none'})"
            + (f"; not: {_names(bad)}" if bad else "")
            + (f"; not judged (missing values): {_names(open_)}" if open_ else "") + ".")
    return Verdict("C1", status, text, details)


# ------------------------------------------------------------------------------ C2

@dataclass(frozen=True)
class Illusion:
    """C2, judged for each readout (linear probe, NCC) separately. A method shows *the
    illusion* through a readout when (i) its output test-forget accuracy is at most
    ``forget_max`` (it looks forgotten), (ii) the readout's test-forget accuracy is at least
    ``retrain_margin`` points above Retrain's (the features still separate the class better
    than a model that never saw it) and (iii) it is at most ``original_tolerance`` points below
    the original's (the claim's "close to the original"). When the table carries the gap's
    95% bootstrap interval over the test images (``<readout>_vs_retrain_low`` / ``_high``,
    :func:`illusion.book.judge`), (ii) asks its lower end to clear the margin, so a gap that
    the test images' sampling could explain does not count.

    Why 5 points for (iii): it is the same distance this book calls "near" everywhere (C1's
    retain drop, (ii)'s margin), fixed before any ``cpu`` result; with (ii) it asks the
    readout to sit nearer the original than Retrain sits below it whenever Retrain trails the
    original by more than 10 points. The tolerance is one-sided on purpose: a readout *above*
    the original's recovers the class at least as well as before unlearning, which is the
    illusion, not evidence against it; the signed difference is reported in ``details``.
    The claim holds through a readout when every method of ``key_methods`` ([A]'s cases, RL
    and SalUn) shows the illusion through it.
    """

    forget_max: float = 5.0
    retrain_margin: float = 5.0
    original_tolerance: float = 5.0
    key_methods: tuple[str, ...] = ("random_label", "salun")
    readouts: tuple[str, ...] = ("probe", "ncc")


_READOUT = {"probe": "probe", "ncc": "NCC"}


def _via(flags: Mapping[str, bool | None]) -> str:
    """Which readouts show it: "probe", "NCC", "both", "neither" or "not decided"."""
    shown = [_READOUT[r] for r in _which(flags, True)]
    if shown and len(shown) == len(flags):
        return "both" if len(shown) > 1 else shown[0]
    if shown:
        return " and ".join(shown)
    return "neither" if all(_tri(f) is False for f in flags.values()) else "not decided"


def illusion(table: pd.DataFrame, criterion: Illusion = Illusion()) -> Verdict:
    """C2 from a per-method table with ``output_test_forget`` and ``<readout>_test_forget``
    for every readout; needs the ``original`` and ``retrain`` rows. ``parts`` holds the
    status through each readout; ``details`` per method: each readout's gap to Retrain and to
    the original, its three checks and ``illusion_via`` (probe / NCC / both / neither)."""
    c, t = criterion, _indexed(table)
    rows, per = [], {}
    for m in [m for m in t.index if m not in ("original", "retrain")]:
        row = {"method": m, "output_test_forget": _get(t, m, "output_test_forget")}
        looks = _cmp(row["output_test_forget"], "<=", c.forget_max)
        flags = {}
        for r in c.readouts:
            col = f"{r}_test_forget"
            value = _get(t, m, col)
            row[f"{r}_vs_retrain"] = value - _get(t, "retrain", col)
            row[f"{r}_vs_original"] = value - _get(t, "original", col)
            gap = row[f"{r}_vs_retrain"]
            if f"{r}_vs_retrain_low" in t.columns:  # the gap's interval must clear the margin
                gap = row[f"{r}_vs_retrain_low"] = _get(t, m, f"{r}_vs_retrain_low")
                row[f"{r}_vs_retrain_high"] = _get(t, m, f"{r}_vs_retrain_high")
            row[f"{r}_above_retrain"] = _cmp(gap, ">=", c.retrain_margin)
            row[f"{r}_close_to_original"] = _cmp(row[f"{r}_vs_original"], ">=",
                                                 -c.original_tolerance)
            flags[r] = row[f"{r}_illusion"] = _all(
                [looks, row[f"{r}_above_retrain"], row[f"{r}_close_to_original"]])
        row["illusion_via"] = _via(flags)
        per[m] = flags
        rows.append(row)
    details = _frame(rows)
    missing = [m for m in c.key_methods if m not in per]
    holds_via = {r: (None if missing else _all(per[m][r] for m in c.key_methods))
                 for r in c.readouts}
    parts = {r: _status(f) for r, f in holds_via.items()}
    status = _status(_any(holds_via.values()))
    via = _via(holds_via)
    how = {"both": "through the probe and NCC", "neither": "through neither readout",
           "not decided": "undecided", "probe": "through the probe only"}.get(
        via, f"through {via} only")
    shown = {r: [m for m in per if _tri(per[m][r]) is True] for r in c.readouts}
    ref = {r: _get(t, "retrain", f"{r}_test_forget") for r in c.readouts}
    orig = {r: _get(t, "original", f"{r}_test_forget") for r in c.readouts}
    text = (f"{_cap(status)} for [A]'s cases ({_names(c.key_methods)}) {how}"
            + (f" ({_names(missing)} not run)" if missing else "") + ": illusion "
            + "; ".join(f"via {_READOUT[r]} in {_names(shown[r]) or 'no method'}"
                        for r in c.readouts)
            + ". Retrain's " + " / ".join(_READOUT[r] for r in c.readouts)
            + " test-forget accuracy: " + " / ".join(_pct(ref[r]) for r in c.readouts)
            + "; the original's: " + " / ".join(_pct(orig[r]) for r in c.readouts) + ".")
    return Verdict("C2", status, text, details, parts)


# ------------------------------------------------------------------------------ C3

@dataclass(frozen=True)
class Misalignment:
    """C3: a method is *misaligned with stable features* when the duality distance of its
    forget row(s) grew by at least ``duality_growth_min`` over the original's while the forget
    class's own features barely moved: linear CKA between the original's and the method's
    penultimate features **of the forget class's test images** (``cka_column``) at least
    ``cka_min``. The claim holds when every method of ``key_methods`` ([A]'s cases) is.

    Why this CKA: CKA on all test images is dominated by the 90% of images of retained
    classes, which most methods leave alone, so it is high almost automatically. The
    forget-class CKA compares the geometry of the forgotten class's own features before and
    after (up to rotation and scale), as [B]'s per-stage CKA does for C7. It is blind to a
    translation of the whole class; the relative shift of the class mean
    (``forget_mean_shift``) is shown beside it and not judged.
    """

    duality_growth_min: float = 0.3
    cka_min: float = 0.9
    cka_column: str = "cka_test_forget"
    key_methods: tuple[str, ...] = ("random_label", "salun")


def misalignment(table: pd.DataFrame, criterion: Misalignment = Misalignment()) -> Verdict:
    """C3 from a per-method table with ``duality_forget`` and the criterion's CKA column (plus
    ``cka_test`` / ``forget_mean_shift``, shown when present); needs the ``original`` row."""
    c, t = criterion, _indexed(table)
    d0 = _get(t, "original", "duality_forget")
    rows = []
    for m in [m for m in t.index if m not in ("original", "retrain")]:
        growth = _get(t, m, "duality_forget") - d0
        cka = _get(t, m, c.cka_column)
        rows.append({"method": m, "duality_growth": growth, c.cka_column: cka,
                     **{k: _get(t, m, k) for k in ("cka_test", "forget_mean_shift")
                        if k in t.columns and k != c.cka_column},
                     "rotated": _cmp(growth, ">=", c.duality_growth_min),
                     "stable": _cmp(cka, ">=", c.cka_min)})
    details = _frame(rows)
    if rows:
        details["misaligned"] = pd.Series([_all([r, s]) for r, s in zip(
            details["rotated"], details["stable"])], index=details.index, dtype=object)
    missing = [m for m in c.key_methods if m not in details.index]
    ok = None if missing else _all(details.loc[m, "misaligned"] for m in c.key_methods)
    shown = _which(details["misaligned"].to_dict(), True) if rows else []
    text = (f"{_cap(_status(ok))} for [A]'s cases ({_names(c.key_methods)})"
            + (f" ({_names(missing)} not run)" if missing else "")
            + f"; misaligned with stable forget-class features: {_names(shown) or 'no method'}."
            f" Original forget-row duality {d0:.2f}.")
    return Verdict("C3", _status(ok), text, details)


# ------------------------------------------------------------------------------ C4

@dataclass(frozen=True)
class ClassifierOnly:
    """C4. (a) Analytic: every flip scale c below the bound gives at most ``forget_max``
    test-forget accuracy with test-retain accuracy within ``analytic_retain_tol`` points of the
    original, and some c above the bound loses more than ``analytic_retain_tol`` points (both
    sides of the bound must have been tried). (b) Empirical: each classifier-only method
    reaches at most ``forget_max`` output test-forget accuracy with test-retain accuracy within
    ``retain_drop_max`` points of the original, while its probe and NCC test-forget accuracy
    stay within ``feature_tol`` points of the original's."""

    forget_max: float = 5.0
    analytic_retain_tol: float = 2.0
    retain_drop_max: float = 5.0
    feature_tol: float = 0.5


def classifier_only(flip: pd.DataFrame, original_retain: float, table: pd.DataFrame,
                    criterion: ClassifierOnly = ClassifierOnly(),
                    originals: str = "original") -> Verdict:
    """C4 from the analytic sweep (``flip``: columns ``c / bound``, ``test retain``,
    ``test forget``; means over cells), the original's test-retain accuracy on the same
    features, and the per-method table of the classifier-only models (``output_test_*``,
    ``probe_test_forget``, ``ncc_test_forget``; needs the ``original`` row). ``originals``
    names the model(s) the analytic part ran on, for the text."""
    c, t = criterion, _indexed(table)
    below, above = flip[flip["c / bound"] < 1], flip[flip["c / bound"] > 1]
    floor = original_retain - c.analytic_retain_tol
    if below.empty or above.empty or _nan(original_retain):
        analytic = None  # both sides of the bound must have been tried
    else:
        analytic = _all([_all(_cmp(v, "<=", c.forget_max) for v in below["test forget"]),
                         _all(_cmp(v, ">=", floor) for v in below["test retain"]),
                         _any(_cmp(v, "<", floor) for v in above["test retain"])])
    o = {k: _get(t, "original", k) for k in ("output_test_retain", "probe_test_forget",
                                              "ncc_test_forget")}
    rows = []
    for m in [m for m in t.index if m not in ("original", "retrain")]:
        out = _all([_cmp(_get(t, m, "output_test_forget"), "<=", c.forget_max),
                    _cmp(_get(t, m, "output_test_retain"), ">=",
                         o["output_test_retain"] - c.retain_drop_max)])
        kept = _all(_cmp(abs(_get(t, m, k) - o[k]), "<=", c.feature_tol)
                    for k in ("probe_test_forget", "ncc_test_forget"))
        rows.append({"method": m, "output_test_forget": _get(t, m, "output_test_forget"),
                     "output_test_retain": _get(t, m, "output_test_retain"),
                     "output_success": out, "features_kept": kept,
                     "holds": _all([out, kept])})
    details = _frame(rows)
    flags = details["holds"].to_dict() if rows else {}
    empirical = _all(flags.values()) if rows else None
    if analytic is True and empirical is True:
        status = HOLDS
    elif analytic is False or empirical is False:
        status = PARTLY if analytic is True or _which(flags, True) else FAILS
    else:
        status = UNDECIDED
    met, failed = _which(flags, True), _which(flags, False)
    word = {True: "confirmed", False: "not confirmed", None: "not decided"}[analytic]
    text = (f"{_cap(status)}: analytic bound {word} on the cached {originals}; "
            f"classifier-only methods meeting both criteria: {_names(met) or 'none'}"
            + (f"; not: {_names(failed)}" if failed else "")
            + ("" if rows else " (no classifier-only method was run)") + ".")
    return Verdict("C4", status, text, details,
                   {"analytic": _status(analytic), "empirical": _status(empirical)})


# ------------------------------------------------------------------------------ C5

@dataclass(frozen=True)
class Relearning:
    """C5: only methods that forgot at the output (forget accuracy before the attack at most
    ``margin`` points above Retrain's) are judged. A judged method *relearns faster than
    Retrain* when, in every attack that shows forget images (every attack but
    ``control_attack``), its forget accuracy averaged over the evaluated steps exceeds
    Retrain's by more than ``margin`` points. Only [A]'s standard methods (``counted``) count:
    the claim holds when more than half of the judged ones relearn faster. Other rows (EC,
    +CMF) are judged the same way and shown, not counted.

    When the table carries the leads' 95% bootstrap intervals over the test images
    (``gap_low``, :func:`illusion.experiments.relearn_leads`), a lead exceeds the margin only
    when the interval's lower end does; a missing interval leaves the method not judged."""

    margin: float = 10.0
    counted: tuple[str, ...] = STANDARD_METHODS
    reference: str = "retrain"
    control_attack: str = "retain images only"


def relearning(summary: pd.DataFrame, criterion: Relearning = Relearning()) -> Verdict:
    """C5 from :func:`illusion.attacks.relearn_summary`'s table (means over cells): one row
    per (``method``, ``attack``) with ``start``, ``mean`` and ``gap`` (``mean`` minus the
    reference's). ``details`` per method: ``start``, ``forgot``, ``counted``, ``faster``
    (``None`` when not judged), mean and smallest ``gap`` over the attacks with forget images.
    ``values``: ``retrain_mean``, ``mean_gap`` and ``max_gap`` of the judged methods,
    ``n_faster``."""
    c = criterion
    attacks = summary[summary["attack"] != c.control_attack]
    start = summary.groupby("method", sort=False)["start"].first()
    ref_start = float(start.get(c.reference, float("nan")))
    rows = []
    lead = "gap_low" if "gap_low" in attacks else "gap"  # the interval's lower end, if any
    for m in [m for m in start.index if m != c.reference]:
        gaps = attacks.loc[attacks["method"] == m, "gap"] if "gap" in attacks else pd.Series()
        leads = attacks.loc[attacks["method"] == m, lead] if lead in attacks else pd.Series()
        forgot = _cmp(start[m], "<=", ref_start + c.margin)
        faster = _all(_cmp(g, ">", c.margin) for g in leads) if len(leads) else None
        rows.append({"method": m, "start": float(start[m]), "forgot": forgot,
                     "counted": m in c.counted, "faster": faster if forgot else None,
                     "mean_gap": float(gaps.mean()) if len(gaps) else float("nan"),
                     "min_gap": float(gaps.min()) if len(gaps) else float("nan"),
                     **({"min_gap_low": float(leads.min()) if len(leads) else float("nan")}
                        if lead == "gap_low" else {})})
    details = _frame(rows, ["method", "start", "forgot", "counted", "faster", "mean_gap",
                            "min_gap", *(["min_gap_low"] if lead == "gap_low" else [])])
    is_counted = details["counted"].astype(bool)
    counted = details[is_counted]
    forgot = counted["forgot"].to_dict()
    judged = counted.loc[_which(forgot, True)]
    flags = judged["faster"].to_dict()
    faster, slower, open_ = _which(flags, True), _which(flags, False), _which(flags, None)
    ref_mean = float(attacks.loc[attacks["method"] == c.reference, "mean"].mean())
    values = {"retrain_mean": ref_mean,
              "mean_gap": float(judged["mean_gap"].mean()) if len(judged) else float("nan"),
              "max_gap": float(attacks.loc[attacks["method"].isin(judged.index), "gap"].max())
              if len(judged) else float("nan"), "n_faster": len(faster)}
    word = {True: "relearns faster", False: "not faster", None: "not judged"}
    shown = details[~is_counted]
    not_forgotten = [m for m in details.index if _tri(details.loc[m, "forgot"]) is False]
    extra = ((" Shown, not counted: " + ", ".join(
        f"{method_label(m)} ({word[_tri(v)]})" for m, v in shown["faster"].items()) + ".")
        if len(shown) else "") + (
        f" Not judged, forget accuracy already above Retrain's + {c.margin:g} before the "
        f"attack: {_names(not_forgotten)}." if not_forgotten else "")
    verdict = _majority(len(faster), len(slower), len(open_))
    unknown = _which(forgot, None)  # counted methods whose start could not be compared
    if _nan(ref_start) or judged.empty or verdict is None or unknown:
        why = ("no Retrain reference" if _nan(ref_start) else
               f"{_names(unknown)} could not be compared with Retrain" if unknown else
               "no standard method that forgot at the output was run" if judged.empty else
               f"{_names(open_)} could not be judged")
        return Verdict("C5", UNDECIDED, f"Not decided: {why}." + extra, details, values=values)
    status = _status(verdict)
    text = (f"{_cap(status)}: {len(faster)} of {len(judged)} of [A]'s standard methods that "
            f"forgot at the output relearn faster than Retrain in every attack "
            f"({_names(faster) or 'none'}). Retrain's forget accuracy averages "
            f"{ref_mean:.1f}% over the attacks; the judged methods' lead over it averages "
            f"{values['mean_gap']:.1f} points (largest {values['max_gap']:.1f})."
            + (" A lead counts when its 95% interval's lower end clears the margin."
               if lead == "gap_low" else "") + extra)
    return Verdict("C5", status, text, details, values=values)


def relearning_control(summary: pd.DataFrame, verdict: Verdict,
                       criterion: Relearning = Relearning()) -> tuple[str, float]:
    """The retain-only control of C5, read beside its verdict: ``(text, highest mean forget
    accuracy)`` of the methods that forgot at the output under ``control_attack`` (NaN and
    "No retain-only control was judged." when there are none), with Retrain's for reference."""
    c = criterion
    forgot = [m for m, f in verdict.details["forgot"].items() if f is True]
    control = summary[(summary["attack"] == c.control_attack) & summary["method"].isin(forgot)]
    if control.empty:
        return "No retain-only control was judged.", float("nan")
    ref = summary.set_index(["method", "attack"])["mean"].get((c.reference, c.control_attack),
                                                              float("nan"))
    top = control.loc[control["mean"].idxmax()]
    return (f"Fine-tuning on retain images alone brings the class back to at most "
            f"{top['mean']:.1f}% on average over the steps ({method_label(top['method'])}), "
            f"Retrain to {ref:.1f}%.", float(top["mean"]))


# ------------------------------------------------------------------------------ C6

@dataclass(frozen=True)
class CMFRepresentation:
    """C6: for each base method, *CMF moves forgetting into the representation* when its
    probe **or** NCC test-forget accuracy with CMF lies at least ``margin`` points below the
    same readout without CMF and, for ``below_retrain`` methods (SCRUB, UNSIR, where [A]
    reports it), also below Retrain's. The claim holds when every ``below_retrain`` method
    passes with output test-retain accuracy within ``retain_drop_max`` points of the
    original's. [A]'s other observation, that the ``little`` methods (RL, SalUn) forget little
    with CMF, is checked as output test-forget accuracy of at least ``little_min``.

    When the table carries the gaps' 95% bootstrap intervals over the test images (the
    variant's row: ``<readout>_vs_base_high`` against its base method and
    ``<readout>_vs_retrain_high`` against Retrain; :func:`illusion.book.judge`), a change
    counts only when the interval's upper end clears the margin, and "below Retrain" only when
    it is below 0."""

    margin: float = 1.0
    retain_drop_max: float = 5.0
    little_min: float = 50.0
    below_retrain: tuple[str, ...] = ("scrub", "unsir")
    little: tuple[str, ...] = ("random_label", "salun")


def cmf_representation(table: pd.DataFrame, methods: Sequence[str],
                       criterion: CMFRepresentation = CMFRepresentation(),
                       variant: str = "+cmf", setting: str = "") -> Verdict:
    """C6 from a per-method table holding, for each base method ``m`` of ``methods``, the rows
    ``m`` and ``m<variant>`` (e.g. ``scrub+cmf`` or ``scrub+cmf@A``), plus ``retrain`` and
    ``original`` (``probe`` / ``ncc`` / ``output`` test columns). ``setting`` names the
    variant's learning rates in the text (e.g. "tuned learning rates")."""
    c, t = criterion, _indexed(table)
    rows = []
    for m in methods:
        v = f"{m}{variant}"
        row = {"method": m}
        for r in ("probe", "ncc"):
            col = f"{r}_test_forget"
            row[f"{r}_change"] = _get(t, v, col) - _get(t, m, col)
            row[f"{r}_vs_retrain"] = _get(t, v, col) - _get(t, "retrain", col)
            change, below = row[f"{r}_change"], row[f"{r}_vs_retrain"]
            # with the gaps' intervals (illusion.book.judge), their upper ends must clear
            if f"{r}_vs_base_high" in t.columns:
                change = row[f"{r}_change_high"] = _get(t, v, f"{r}_vs_base_high")
            if f"{r}_vs_retrain_high" in t.columns:
                below = row[f"{r}_vs_retrain_high"] = _get(t, v, f"{r}_vs_retrain_high")
            row[f"{r}_below_retrain"] = _cmp(below, "<", 0.0)
            row[f"{r}_moved"] = _all([_cmp(change, "<=", -c.margin)]
                                     + ([row[f"{r}_below_retrain"]]
                                        if m in c.below_retrain else []))
        row["moved"] = _any([row["probe_moved"], row["ncc_moved"]])
        row["retain_ok"] = _cmp(_get(t, v, "output_test_retain"), ">=",
                                _get(t, "original", "output_test_retain") - c.retain_drop_max)
        row["output_forget"] = _get(t, v, "output_test_forget")
        rows.append(row)
    details = _frame(rows)
    flags = {m: (_all([details.loc[m, "moved"], details.loc[m, "retain_ok"]])
                 if m in details.index else None) for m in c.below_retrain}
    passed = _which(flags, True)
    little = [m for m in c.little if m in details.index]
    agree = [m for m in little if _cmp(details.loc[m, "output_forget"], ">=", c.little_min)]
    labels = lambda ms: [method_label(m + variant) for m in ms]  # noqa: E731
    names = lambda ms, empty="none": _series(labels(ms), empty)  # noqa: E731
    where = f" ({setting})" if setting else ""
    if _which(flags, None):
        judged = "".join(f"; {names(ms)} {word}" for ms, word in (
            (passed, "met the criterion"), (_which(flags, False), "did not")) if ms)
        return Verdict("C6", UNDECIDED, f"Not decided{where}: "
                       f"{names(_which(flags, None))} could not be judged (not run or "
                       f"missing values){judged}.", details)
    status = _combine(list(flags.values()))
    label = {HOLDS: "Holds", PARTLY: "Partly holds",
             FAILS: "Does not reproduce at this scale"}[status]
    ref = {r: _get(t, "retrain", f"{r}_test_forget") for r in ("probe", "ncc")}
    moved_all = _which(details["moved"].to_dict(), True)
    text = (f"{label}{where}. CMF moved forgetting into the representation for "
            f"{names(moved_all, 'no method')}; of [A]'s key cases "
            f"({names(c.below_retrain)}), {names(passed)} met the criterion (Retrain's probe /"
            f" NCC test-forget accuracy: {_pct(ref['probe'])} / {_pct(ref['ncc'])}). "
            + (f"As [A] reports, {names(agree)} forgot little (output test-forget "
               f"{_series([_pct(details.loc[m, 'output_forget']) for m in agree])})"
               if agree else f"Unlike [A], {_none_kept(labels(little))} much of the class"
               if little else "No RL / SalUn variant was run")
            + (f"; {names([m for m in little if m not in agree])} forgot more than [A] "
               f"reports." if agree and len(agree) < len(little) else "."))
    return Verdict("C6", status, text, details)


def _none_kept(labels: Sequence[str]) -> str:
    """``X did not keep`` / ``neither X nor Y kept`` / ``none of X, Y and Z kept``."""
    if len(labels) == 1:
        return f"{labels[0]} did not keep"
    if len(labels) == 2:
        return f"neither {labels[0]} nor {labels[1]} kept"
    return f"none of {_series(labels)} kept"


# ------------------------------------------------------------------------------ C7

@dataclass(frozen=True)
class DepthForgetting:
    """C7, on the forget class's test images. Stages where Retrain keeps CKA to the original
    at or above ``nothing_to_erase`` hold nothing class-specific to erase: reported, not
    judged. (a) A baseline forgets *superficially* when its CKA to the original is at least
    ``superficial_cka`` at every judged stage before the last; [B]'s observation holds when
    more than half of the ``baselines`` do. (b) An EC model (``ec_methods``) *lowers
    similarity at every depth* when its CKA is below that of every baseline whose test-retain
    accuracy stays within ``retain_margin`` points of the original's, at every judged stage,
    while its own test-retain accuracy also stays within that margin. The claim holds when
    (a) and (b) hold for every EC model. No judged stage (for (a): none before the last) is
    "not decided", never a pass."""

    nothing_to_erase: float = 0.99
    superficial_cka: float = 0.9
    retain_margin: float = 5.0
    baselines: tuple[str, ...] = ("random_label", "neggrad_plus", "scrub", "salun")
    ec_methods: tuple[str, ...] = ("ec", "random_label+ec")


def _tail(draws, stage: str, upper: bool) -> float:
    """The lower (or, ``upper``, the upper) end of the 95% interval of a model's CKA draws at
    ``stage``; NaN without draws."""
    from .stats import percentile_bounds

    if draws is None or stage not in draws:
        return float("nan")
    return percentile_bounds(draws[stage])[1 if upper else 0]


def depth_forgetting(cka: pd.DataFrame, retain_acc: Mapping[str, float],
                     criterion: DepthForgetting = DepthForgetting(),
                     draws: Mapping[str, Mapping[str, Any]] | None = None) -> Verdict:
    """C7 from the forget-class CKA to the original (``cka``: methods as index, stages as
    columns in network order, ``retrain`` included) and test-retain accuracy per method
    (``original`` included). ``parts``: ``"a"`` and each EC model's status;
    ``details``: per model, CKA per stage and the checks; ``values["judged_stages"]``.

    With ``draws`` (``{method: {stage: bootstrap draws of its CKA}}``, every model resampled
    on the same test images: :func:`illusion.experiments.stage_cka_draws`), the margins are
    read on 95% intervals: (a) asks the lower end of a baseline's CKA to reach
    ``superficial_cka``, (b) asks the upper end of the EC model's CKA minus the baseline's to
    lie below 0; ``details`` gains each stage's lower end (``<stage> low``)."""
    c = criterion
    stages = list(cka.columns)
    value = lambda m, s: (float(cka.loc[m, s]) if m in cka.index  # noqa: E731
                          else float("nan"))
    judged = [s for s in stages if _cmp(value("retrain", s), "<", c.nothing_to_erase)]
    skipped = [s for s in stages if s not in judged]
    acc = lambda m: float(retain_acc.get(m, float("nan")))  # noqa: E731
    within = lambda m: _cmp(acc(m), ">=", acc("original") - c.retain_margin)  # noqa: E731

    def high_cka(b: str, s: str) -> float:  # (a) reads the interval's lower end
        return value(b, s) if draws is None else _tail(draws.get(b), s, upper=False)

    def below(m: str, b: str, s: str) -> bool | None:  # (b): m's CKA under b's
        if draws is None:
            return _cmp(value(m, s), "<", value(b, s))
        if m not in draws or b not in draws or s not in draws[m] or s not in draws[b]:
            return None
        diff = {s: np.asarray(draws[m][s], dtype=float) - np.asarray(draws[b][s], dtype=float)}
        return _cmp(_tail(diff, s, upper=True), "<", 0.0)

    superficial = {b: (_all(_cmp(high_cka(b, s), ">=", c.superficial_cka) for s in judged[:-1])
                       if judged[:-1] and b in cka.index else None) for b in c.baselines}
    part_a = _majority(len(_which(superficial, True)), len(_which(superficial, False)),
                       len(_which(superficial, None)))
    kept = [b for b in c.baselines if b in cka.index and within(b) is True]
    lower, ok = {}, {}
    for m in c.ec_methods:
        lower[m] = (None if m not in cka.index or not judged or not kept else
                    _all(below(m, b, s) for s in judged for b in kept))
        ok[m] = _all([lower[m], within(m)])
    details = cka.copy()
    if draws is not None:
        for st in stages:
            details[f"{st} low"] = [_tail(draws.get(m), st, upper=False)
                                    for m in details.index]
    checks = {"superficial": superficial.get, "lowers_every_depth": lower.get,
              "retain_ok": within}
    for col, fn in checks.items():
        details[col] = pd.Series([fn(m) for m in details.index], index=details.index,
                                 dtype=object)
    parts = {"a": _status(part_a), **{m: _status(f) for m, f in ok.items()}}
    status = UNDECIDED if not judged else _combine([part_a, *ok.values()])
    if not judged:
        text = (f"Not decided: Retrain keeps CKA ≥ {c.nothing_to_erase} to the original at "
                f"every stage ({', '.join(skipped) or 'no stage measured'}), so no stage can "
                f"be judged.")
        return Verdict("C7", status, text, details, parts, values={"judged_stages": ()})
    word = {True: "lowers", False: "does not lower", None: "cannot be judged on"}
    ec_text = "; ".join(
        f"{method_label(m)} {word[lower[m]]} forget-class CKA below every retain-preserving "
        f"baseline at every judged stage, with test-retain accuracy {_pct(acc(m))} (original "
        f"{_pct(acc('original'))})" for m in c.ec_methods)
    at_least = (f"≥ {c.superficial_cka}" if draws is None else
                f"≥ {c.superficial_cka} (95% interval's lower end)")
    text = (f"{_cap(status)}: (a) {len(_which(superficial, True))} of {len(c.baselines)} "
            f"baselines keep CKA {at_least} to the original at every judged stage "
            f"before the last ({_names(_which(superficial, True)) or 'none'}"
            + ("; no judged stage before the last" if not judged[:-1] else "")
            + f"); (b) {ec_text}. Not judged (Retrain's CKA ≥ {c.nothing_to_erase}): "
            f"{', '.join(skipped) or 'none'}.")
    return Verdict("C7", status, text, details, parts, values={"judged_stages": tuple(judged)})


# ---------------------------------------------------------------------- over cells

def cell_label(seed: int, forget: str | Sequence[int]) -> str:
    """How the book names a (seed, forget set) cell: ``"{2, 4, 8}, seed 0"``; ``forget`` is
    the set or its label in a sweep table (``"2+4+8"``, :func:`illusion.sweep.forget_label`)."""
    if isinstance(forget, str):
        forget = [int(c) for c in forget.strip("{}").replace("+", ",").split(",") if c.strip()]
    return "{" + ", ".join(str(c) for c in sorted(forget)) + "}" + f", seed {seed}"


def across_cells(per_cell: Mapping[str, Verdict], on_means: Verdict | None = None,
                 unit: str = "(seed, forget set) cell") -> Verdict:
    """One claim judged in several (seed, forget set) cells, and on the cells' means.

    ``per_cell`` maps a cell's label (:func:`cell_label`) to the claim's verdict on that cell
    alone; ``on_means`` is its verdict on the means over the cells. The status, ``details``
    and ``parts`` are the means' (``not decided`` without them). The text is the means' text
    followed by *k* of *n*, the number of cells in which the claim holds, and it says so when
    the means and the cells disagree: a claim that holds on the means but not in every cell
    names the cells where it does not (with one cell, the means' text alone). ``values`` carries ``k``, ``n``, ``k_of_n`` ("3/4"),
    the per-cell ``statuses`` and their table ``cells`` (status and text per cell). ``unit``
    names a cell in the text (``"seed"`` for a claim about the original models)."""
    if not per_cell:
        raise ValueError("across_cells: no cells")
    claims = {v.claim for v in per_cell.values()} | ({on_means.claim} if on_means else set())
    if len(claims) != 1:
        raise ValueError(f"across_cells: verdicts of different claims {sorted(claims)}")
    claim = claims.pop()
    statuses = {cell: v.status for cell, v in per_cell.items()}
    n = len(statuses)
    k = sum(s == HOLDS for s in statuses.values())
    others = [(st, [c for c, s in statuses.items() if s == st])
              for st in (PARTLY, FAILS, UNDECIDED)]
    short = {PARTLY: "partly", FAILS: "fails", UNDECIDED: "not decided"}
    counts = "; ".join(f"{short[st]} in {len(cells)}" for st, cells in others if cells)
    cells_text = (f"holds in {k} of {n} {unit}{'s' * (n > 1)}"
                  + (f" ({counts})" if counts else ""))
    word = unit.split()[-1]
    status = on_means.status if on_means else UNDECIDED
    if on_means is None:
        text = f"{_cap(cells_text)}; not judged on the means."
    elif n == 1:  # the cell is the means: nothing to add
        text = on_means.text
    else:
        text = f"{on_means.text} {_cap(word)} by {word} it {cells_text}."
        if status == HOLDS and k < n:
            verb = {PARTLY: "partly holds", FAILS: "does not hold", UNDECIDED: "is not decided"}
            where = "; ".join(f"{verb[st]} for {_series(cells)}" for st, cells in others if cells)
            text += f" It holds on the means but not for every {word}: it {where}."
        elif status != HOLDS and k:
            text += (f" It holds for {_series([c for c, s in statuses.items() if s == HOLDS])}"
                     f" but not on the means.")
    table = pd.DataFrame({word: list(statuses), "status": list(statuses.values()),
                          "verdict": [per_cell[c].text for c in statuses]}).set_index(word)
    return Verdict(claim, status, text,
                   on_means.details if on_means else table,
                   parts=dict(on_means.parts) if on_means else {},
                   values={**(dict(on_means.values) if on_means else {}), "k": k, "n": n,
                           "k_of_n": f"{k}/{n}", "statuses": dict(statuses), "cells": table,
                           "on_means": on_means.status if on_means else None})


# ---------------------------------------------------------------------- for readers

def _criterion_html(criterion) -> str:
    """A criterion as the book shows it: a two-column table of its thresholds and settings
    (method names as the book labels them)."""
    import html

    def show(value) -> str:
        if isinstance(value, (tuple, list)):
            return ", ".join(method_label(v) if isinstance(v, str) else str(v) for v in value)
        return method_label(value) if isinstance(value, str) else f"{value:g}" if isinstance(
            value, float) else str(value)

    rows = "".join(f"<tr><td><code>{f.name}</code></td>"
                   f"<td>{html.escape(show(getattr(criterion, f.name)))}</td></tr>"
                   for f in fields(criterion))
    return (f"<table><thead><tr><th>{type(criterion).__name__}</th><th>value</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


for _criterion in (TerminalPhase, NearCollapse, OutputSuccess, Illusion, Misalignment,
                   ClassifierOnly, Relearning, CMFRepresentation, DepthForgetting):
    _criterion._repr_html_ = _criterion_html
