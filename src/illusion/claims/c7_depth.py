"""C7 ([B]): most methods leave the intermediate layers nearly identical to the original's
(superficial forgetting); EC lowers similarity at every depth while keeping retain accuracy.

The headline criterion (:class:`DepthForgetting`) reads [B]'s statement on scales where a
model can fail: how far each baseline moved from the original towards Retrain (a fraction of
Retrain's distance), each EC model against the original by a stated margin, a plug-in X+EC
against its base X, plus EC's own output-level forgetting; "CKA below 1" (true of any changed
model) is shown as a check, never counted. The project's earlier
test (an absolute CKA cut of 0.9 for "superficial", and EC below *every* retain-preserving
baseline at every stage) is the labelled stronger reading (:class:`DepthForgettingStronger`).
CKA is read on globally pooled stage features of the forget classes' test images, as UUEF's
public code pools ([B]'s own computation could not be read; the Fidelity page lists it). The
C7 page also applies :func:`depth_forgetting` to CKA on the flattened stage maps, without
draws (point comparisons), as a labelled variant reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..catalog import method_label
from ..methods import parse_method_name
from ..stats import percentile_bounds
from .logic import (STRONGER, UNDECIDED, Statement, Verdict, all_true, capitalised,
                    combine_statuses, is_missing, label_list, methods_where, pct_text, status_of,
                    tri_compare, tri_majority, truth_value)
from .render import criterion

__all__ = ["STATEMENT", "DepthForgetting", "DepthForgettingStronger", "depth_forgetting",
           "depth_forgetting_stronger"]

STATEMENT = Statement(
    "C7", "[B], abstract (quoted); its body could not be read offline",
    "prior methods \"primarily alter the final classifier\", leaving the representation "
    "close to the original; EC \"substantially reduces representational similarity to the "
    "original model across intermediate layers\" and, added to another method, improves "
    "\"representation-level forgetting while maintaining performance on the retain set\". "
    "[B] states no comparison of EC with every baseline or with a retrained model.")


@criterion("C7")
@dataclass(frozen=True)
class DepthForgetting:
    """C7 as [B] states it (:data:`STATEMENT`), on the forget classes' test images, at the
    judged stages (those where Retrain's CKA to the original is below ``nothing_to_erase``;
    the others hold nothing class-specific to erase and are reported, not judged). Only
    parts that could fail are counted.

    (a) *Baselines leave intermediate layers near the original*: a baseline's *moved
    fraction* at a stage, f = (1 - its CKA) / (1 - Retrain's CKA), is how far it went from
    the original (0) towards Retrain (1); a baseline stays near the original when f is below
    ``moved_max`` at every judged stage before the network's last; [B]'s observation holds
    when more than half of the ``baselines`` do. (b) Each EC model of ``ec_methods``
    *substantially lowers similarity*: its CKA is below 1 - ``ec_margin`` at every judged
    stage and, for a plug-in ``X+ec``, below its base X's; (c) it *forgets at the output*:
    output test-forget accuracy at most ``forget_max`` with test-retain accuracy within
    ``retain_margin`` points of the original's. Holds when (a) holds and (b) and (c) hold
    for every EC model. Shown as a check, never counted: each EC model's CKA below 1 at
    every judged stage (true of any model whose weights changed).

    With bootstrap draws of the CKA (every model of a cell resampled on the same images),
    each comparison reads the 95% interval: (a) the upper end of f (computed draw by draw)
    below ``moved_max``; (b) the upper end of the EC model's CKA below 1 - ``ec_margin``, and
    of its CKA minus its base's below 0. f is not decided where Retrain's CKA (a draw of
    it, with draws) reaches ``nothing_to_erase``, and no judged stage (for (a): none before
    the last) is "not decided", never a pass.

    ``moved_max`` and ``ec_margin`` were set on 2026-12-06 for issue #34, after earlier cpu-
    and smoke-profile verdicts of this claim had been seen: they are not blind to those
    results.
    """

    nothing_to_erase: float = 0.99
    # set on 2026-12-06 for issue #34 (after earlier cpu results were seen): a baseline that
    # moved less than half of the way from the original to Retrain stays near the original
    moved_max: float = 0.5
    # set on 2026-12-06 for issue #34 (after earlier cpu results were seen): EC's CKA to the
    # original must be below 0.95 ("substantially reduces") at every judged stage
    ec_margin: float = 0.05
    forget_max: float = 5.0
    retain_margin: float = 5.0
    baselines: tuple[str, ...] = ("random_label", "neggrad_plus", "scrub", "salun")
    ec_methods: tuple[str, ...] = ("ec", "random_label+ec")


def _stages(cka: pd.DataFrame, nothing_to_erase: float):
    """``(stages, value(method, stage), judged, skipped)``: the stages in network order, a
    model's CKA at a stage (NaN when absent), and the stages where Retrain's CKA is below
    ``nothing_to_erase`` (judged) or not (skipped)."""
    stages = list(cka.columns)

    def value(m: str, s: str) -> float:
        return float(cka.loc[m, s]) if m in cka.index else float("nan")

    judged = [s for s in stages if tri_compare(value("retrain", s), "<", nothing_to_erase)]
    return stages, value, judged, [s for s in stages if s not in judged]


def _base(method: str) -> str | None:
    """The base X of a plug-in ``X+ec``; ``None`` for a method on its own."""
    variant, base = parse_method_name(method)
    return base if variant is not None else None


def _moved(cka_m, cka_retrain, nothing_to_erase: float):
    """The moved fraction (1 - CKA_m) / (1 - CKA_retrain), elementwise over draws; NaN
    where Retrain's CKA reaches ``nothing_to_erase`` (no room to move: not decided)."""
    m, r = np.asarray(cka_m, dtype=float), np.asarray(cka_retrain, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(r < nothing_to_erase, (1.0 - m) / (1.0 - r), np.nan)


def depth_forgetting(cka: pd.DataFrame, retain_acc: Mapping[str, float],
                     criterion: DepthForgetting = DepthForgetting(),
                     draws: Mapping[str, Mapping[str, Any]] | None = None,
                     forget_acc: Mapping[str, float] | None = None) -> Verdict:
    """C7 from the forget-class CKA to the original (``cka``: methods as index, stages as
    columns in network order, ``retrain`` included), test-retain and output test-forget
    accuracy per method (``original`` included in ``retain_acc``) and, optionally, the CKA
    draws (``{method: {stage: draws}}``, :func:`illusion.depth.stage_cka_draws`;
    Retrain's and each plug-in's base included). ``parts``: ``"a"`` and each EC model's
    status (counted parts only); ``details`` per model: CKA and moved fraction per judged
    stage and the checks; ``values``: ``judged_stages``, ``checks`` (never counted) and
    ``moved`` (per baseline, the largest f (upper end with draws) over the stages (a) reads)."""
    c = criterion
    stages, value, judged, skipped = _stages(cka, c.nothing_to_erase)
    inner = [s for s in judged if s != stages[-1]]  # (a): the intermediate stages
    acc = lambda m: float(retain_acc.get(m, float("nan")))  # noqa: E731
    lost = lambda m: (float("nan") if forget_acc is None  # noqa: E731
                      else float(forget_acc.get(m, float("nan"))))

    def has(m: str, s: str) -> bool:
        return draws is not None and m in draws and s in draws[m]

    def diff(m: str, ref: str | None, s: str) -> float:
        """The upper end of m's CKA minus ref's (0 when ref is None) at s: the point
        difference, or the end of its 95% interval with draws (NaN when a draw is missing)."""
        if draws is None:
            return value(m, s) - (0.0 if ref is None else value(ref, s))
        if not has(m, s) or (ref is not None and not has(ref, s)):
            return float("nan")
        other = 0.0 if ref is None else np.asarray(draws[ref][s], dtype=float)
        return percentile_bounds(np.asarray(draws[m][s], dtype=float) - other)[1]

    def moved(m: str, s: str) -> float:
        """m's moved fraction at s: the point value, or its interval's upper end."""
        if draws is None:
            return float(_moved(value(m, s), value("retrain", s), c.nothing_to_erase))
        if not has(m, s) or not has("retrain", s):
            return float("nan")
        return percentile_bounds(_moved(draws[m][s], draws["retrain"][s],
                                        c.nothing_to_erase))[1]

    most = {b: max([f for f in (moved(b, s) for s in inner) if not is_missing(f)],
                   default=float("nan")) for b in c.baselines}
    near = {b: (all_true(tri_compare(moved(b, s), "<", c.moved_max) for s in inner)
                if inner and b in cka.index else None) for b in c.baselines}
    part_a = tri_majority(len(methods_where(near, True)), len(methods_where(near, False)),
                          len(methods_where(near, None)))

    def every(m: str, ref: str | None, cut: float) -> bool | None:
        """m's CKA (minus ref's) below cut at every judged stage; None when m is absent."""
        if m not in cka.index or not judged:
            return None
        return all_true(tri_compare(diff(m, ref, s), "<", cut) for s in judged)

    below_1, margin, below_base, forgets, ok = {}, {}, {}, {}, {}
    for m in c.ec_methods:
        base = _base(m)
        below_1[m], margin[m] = every(m, None, 1.0), every(m, None, 1.0 - c.ec_margin)
        below_base[m] = None if base is None else every(m, base, 0.0)
        forgets[m] = all_true([tri_compare(lost(m), "<=", c.forget_max),
                               tri_compare(acc(m), ">=", acc("original") - c.retain_margin)])
        ok[m] = all_true([margin[m], forgets[m], *([below_base[m]] if base else [])])
    details = _details(cka, judged, lambda m, s: float(_moved(value(m, s), value("retrain", s),
                                                              c.nothing_to_erase)),
                       {"near_original": near, "cka_below_1 (check)": below_1,
                        "below_1_minus_margin": margin, "below_its_base": below_base,
                        "forgets_at_output": forgets}, lost)
    parts = {"a": status_of(part_a), **{m: status_of(f) for m, f in ok.items()}}
    checks = {f"{method_label(m)}'s CKA < 1 at every judged stage": _PASS[truth_value(f)]
              for m, f in below_1.items()}
    values = {"judged_stages": tuple(judged), "checks": checks, "moved": most}
    if not judged:
        return Verdict("C7", UNDECIDED, f"Not decided: Retrain keeps CKA ≥ "
                       f"{c.nothing_to_erase} to the original at every stage "
                       f"({', '.join(skipped) or 'no stage measured'}), so no stage can be "
                       f"judged.", details, parts, values={**values, "judged_stages": ()})
    status = combine_statuses([part_a, *ok.values()])
    word = {True: "", False: "not ", None: "not decided: "}

    def ec_text(m: str) -> str:
        base = _base(m)
        return (f"{method_label(m)} {word[margin[m]]}below {1 - c.ec_margin:g} at every judged "
                f"stage" + (f", {word[below_base[m]]}below {method_label(base)}'s"
                            if base else "")
                + f", {word[forgets[m]]}forgotten at the output (test forget "
                  f"{pct_text(lost(m))}, retain {pct_text(acc(m))} vs the original's "
                  f"{pct_text(acc('original'))})")

    far = methods_where(near, False)  # their farthest f, which (a) reads
    upper = "" if draws is None else " (95% interval's upper end)"
    text = (f"{capitalised(status)}: (a) {len(methods_where(near, True))} of "
            f"{len(c.baselines)} baselines moved less than {c.moved_max:g} of the way from the "
            f"original to Retrain{upper} at every judged stage before the last "
            f"({label_list(methods_where(near, True)) or 'none'}"
            + ("; no judged stage before the last" if not inner else "")
            + ("; farther: " + ", ".join(f"{method_label(b)} {most[b]:.2f}" for b in far)
               if far else "")
            + f"); (b, c) CKA to the original{upper}: "
            + "; ".join(ec_text(m) for m in c.ec_methods)
            + ". Shown, not counted (true of any changed model): CKA < 1 at every judged stage: "
            + ", ".join(f"{method_label(m)} {_PASS[truth_value(f)]}" for m, f in below_1.items())
            + f". Not judged (Retrain's CKA ≥ {c.nothing_to_erase}): "
              f"{', '.join(skipped) or 'none'}.")
    return Verdict("C7", status, text, details, parts, values=values)


_PASS = {True: "passes", False: "fails", None: "not decided"}


def _details(cka: pd.DataFrame, judged: list, moved, checks: Mapping[str, Mapping],
             lost) -> pd.DataFrame:
    """Per model: its CKA per stage, its moved fraction per judged stage (point value), the
    checks (Python True / False / None) and output test-forget accuracy."""
    details = cka.copy()
    for s in judged:
        details[f"moved {s}"] = [moved(m, s) for m in details.index]
    for col, flags in checks.items():
        details[col] = pd.Series([flags.get(m) for m in details.index], index=details.index,
                                 dtype=object)
    details["output_test_forget"] = [lost(m) for m in details.index]
    return details


@criterion("C7")
@dataclass(frozen=True)
class DepthForgettingStronger:
    """C7, **stronger reading** (ours, not [B]'s statement), on the forget class's test
    images. Stages where Retrain keeps CKA to the original
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
    if draws is None or stage not in draws:
        return float("nan")
    return percentile_bounds(draws[stage])[1 if upper else 0]


def depth_forgetting_stronger(cka: pd.DataFrame, retain_acc: Mapping[str, float],
                              criterion: DepthForgettingStronger = DepthForgettingStronger(),
                              draws: Mapping[str, Mapping[str, Any]] | None = None,
                              forget_acc: Mapping[str, float] | None = None) -> Verdict:
    """C7's stronger reading from the forget-class CKA to the original (``cka``: methods as
    index, stages as columns in network order, ``retrain`` included) and test-retain accuracy
    per method (``original`` included). ``parts``: ``"a"`` and each EC model's status;
    ``details``: per model, CKA per stage and the checks; ``values["judged_stages"]``.

    With ``draws`` (``{method: {stage: bootstrap draws of its CKA}}``, every model resampled
    on the same test images: :func:`illusion.depth.stage_cka_draws`), the margins are
    read on 95% intervals: (a) asks the lower end of a baseline's CKA to reach
    ``superficial_cka``, (b) asks the upper end of the EC model's CKA minus the baseline's to
    lie below 0; ``details`` gains each stage's lower end (``<stage> low``). ``forget_acc`` is
    accepted and not read (the headline reading reads it)."""
    c = criterion
    stages, value, judged, skipped = _stages(cka, c.nothing_to_erase)
    acc = lambda m: float(retain_acc.get(m, float("nan")))  # noqa: E731
    within = lambda m: tri_compare(acc(m), ">=", acc("original") - c.retain_margin)  # noqa: E731

    def high_cka(b: str, s: str) -> float:  # (a) reads the interval's lower end
        return value(b, s) if draws is None else _tail(draws.get(b), s, upper=False)

    def below(m: str, b: str, s: str) -> bool | None:  # (b): m's CKA under b's
        if draws is None:
            return tri_compare(value(m, s), "<", value(b, s))
        if m not in draws or b not in draws or s not in draws[m] or s not in draws[b]:
            return None
        diff = {s: np.asarray(draws[m][s], dtype=float) - np.asarray(draws[b][s], dtype=float)}
        return tri_compare(_tail(diff, s, upper=True), "<", 0.0)

    superficial = {b: (all_true(tri_compare(high_cka(b, s), ">=", c.superficial_cka) for s in judged[:-1])
                       if judged[:-1] and b in cka.index else None) for b in c.baselines}
    part_a = tri_majority(len(methods_where(superficial, True)), len(methods_where(superficial, False)),
                       len(methods_where(superficial, None)))
    kept = [b for b in c.baselines if b in cka.index and within(b) is True]
    lower, ok = {}, {}
    for m in c.ec_methods:
        lower[m] = (None if m not in cka.index or not judged or not kept else
                    all_true(below(m, b, s) for s in judged for b in kept))
        ok[m] = all_true([lower[m], within(m)])
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
    parts = {"a": status_of(part_a), **{m: status_of(f) for m, f in ok.items()}}
    status = UNDECIDED if not judged else combine_statuses([part_a, *ok.values()])
    if not judged:
        text = (f"Not decided: Retrain keeps CKA ≥ {c.nothing_to_erase} to the original at "
                f"every stage ({', '.join(skipped) or 'no stage measured'}), so no stage can "
                f"be judged.")
        return Verdict("C7", status, text, details, parts, values={"judged_stages": ()},
                       reading=STRONGER)
    word = {True: "lowers", False: "does not lower", None: "cannot be judged on"}
    ec_text = "; ".join(
        f"{method_label(m)} {word[lower[m]]} forget-class CKA below every retain-preserving "
        f"baseline at every judged stage, with test-retain accuracy {pct_text(acc(m))} (original "
        f"{pct_text(acc('original'))})" for m in c.ec_methods)
    at_least = (f"≥ {c.superficial_cka}" if draws is None else
                f"≥ {c.superficial_cka} (95% interval's lower end)")
    text = (f"{capitalised(status)}: (a) {len(methods_where(superficial, True))} of {len(c.baselines)} "
            f"baselines keep CKA {at_least} to the original at every judged stage "
            f"before the last ({label_list(methods_where(superficial, True)) or 'none'}"
            + ("; no judged stage before the last" if not judged[:-1] else "")
            + f"); (b) {ec_text}. Not judged (Retrain's CKA ≥ {c.nothing_to_erase}): "
            f"{', '.join(skipped) or 'none'}.")
    return Verdict("C7", status, text, details, parts, values={"judged_stages": tuple(judged)},
                   reading=STRONGER)
