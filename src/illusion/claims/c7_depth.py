"""C7 ([B]): most methods leave the intermediate layers nearly identical to the original's
(superficial forgetting); EC lowers similarity at every depth while keeping retain accuracy.

The headline criterion (:class:`DepthForgetting`) reads [B]'s statement with relative
comparisons only: each baseline against Retrain, each EC model against the original, a
plug-in X+EC against its base X, plus EC's own output-level forgetting. The project's earlier
test (an absolute CKA cut of 0.9 for "superficial", and EC below *every* retain-preserving
baseline at every stage) is the labelled stronger reading (:class:`DepthForgettingStronger`).
CKA is read on globally pooled stage features of the forget classes' test images, as UUEF's
public code pools ([B]'s own computation could not be read; the Fidelity page lists it). The
C7 page also applies :func:`depth_forgetting` to CKA on the flattened stage maps, without
draws (point comparisons), as a labelled variant reading.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..catalog import method_label
from ..methods import parse_method_name
from ..stats import percentile_bounds
from .logic import (STRONGER, UNDECIDED, Statement, Verdict, all_true, capitalised, tri_compare, combine_statuses,
                    tri_majority, label_list, pct_text, status_of, methods_where)
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
    the others hold nothing class-specific to erase and are reported, not judged).

    (a) A baseline forgets *superficially* when its CKA to the original is above Retrain's at
    every judged stage before the last; [B]'s observation holds when more than half of the
    ``baselines`` do. (b) Each EC model of ``ec_methods`` *lowers similarity to the original*:
    its CKA is below 1 at every judged stage and, for a plug-in ``X+ec``, below its base X's;
    (c) it *forgets at the output*: output test-forget accuracy at most ``forget_max`` with
    test-retain accuracy within ``retain_margin`` points of the original's. The claim holds
    when (a) holds and (b) and (c) hold for every EC model.

    With bootstrap draws of the CKA (every model of a cell resampled on the same images), each
    comparison reads the 95% interval: (a) the lower end of the baseline's CKA minus
    Retrain's above 0; (b) the upper end of the EC model's CKA below 1, and of its CKA minus
    its base's below 0. No judged stage (for (a): none before the last) is "not decided",
    never a pass.
    """

    nothing_to_erase: float = 0.99
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


def depth_forgetting(cka: pd.DataFrame, retain_acc: Mapping[str, float],
                     criterion: DepthForgetting = DepthForgetting(),
                     draws: Mapping[str, Mapping[str, Any]] | None = None,
                     forget_acc: Mapping[str, float] | None = None) -> Verdict:
    """C7 from the forget-class CKA to the original (``cka``: methods as index, stages as
    columns in network order, ``retrain`` included), test-retain and output test-forget
    accuracy per method (``original`` included in ``retain_acc``) and, optionally, the CKA
    draws (``{method: {stage: draws}}``, :func:`illusion.depth.stage_cka_draws`;
    Retrain's and each plug-in's base included). ``parts``: ``"a"`` and each EC model's
    status; ``details`` per model: CKA per stage and the checks."""
    c = criterion
    stages, value, judged, skipped = _stages(cka, c.nothing_to_erase)
    acc = lambda m: float(retain_acc.get(m, float("nan")))  # noqa: E731
    lost = lambda m: (float("nan") if forget_acc is None  # noqa: E731
                      else float(forget_acc.get(m, float("nan"))))

    def diff(m: str, ref: str | None, s: str, upper: bool) -> float:
        """m's CKA minus ref's (1 when ref is None) at s: the point difference, or the end of
        its 95% interval with draws (NaN when a draw is missing)."""
        if draws is None:
            return value(m, s) - (1.0 if ref is None else value(ref, s))
        if m not in draws or s not in draws[m] or (
                ref is not None and (ref not in draws or s not in draws[ref])):
            return float("nan")
        other = 1.0 if ref is None else np.asarray(draws[ref][s], dtype=float)
        bounds = percentile_bounds(np.asarray(draws[m][s], dtype=float) - other)
        return bounds[1 if upper else 0]

    superficial = {b: (all_true(tri_compare(diff(b, "retrain", s, upper=False), ">", 0.0)
                            for s in judged[:-1])
                       if judged[:-1] and b in cka.index else None) for b in c.baselines}
    part_a = tri_majority(len(methods_where(superficial, True)), len(methods_where(superficial, False)),
                       len(methods_where(superficial, None)))
    lower, below_base, forgets, ok = {}, {}, {}, {}
    for m in c.ec_methods:
        base = _base(m)
        there = m in cka.index and bool(judged)
        lower[m] = (all_true(tri_compare(diff(m, None, s, upper=True), "<", 0.0) for s in judged)
                    if there else None)
        below_base[m] = (True if base is None else
                         all_true(tri_compare(diff(m, base, s, upper=True), "<", 0.0) for s in judged)
                         if there else None)
        forgets[m] = all_true([tri_compare(lost(m), "<=", c.forget_max),
                           tri_compare(acc(m), ">=", acc("original") - c.retain_margin)])
        ok[m] = all_true([lower[m], below_base[m], forgets[m]])
    details = cka.copy()
    checks = {"superficial": superficial.get, "lower_than_original": lower.get,
              "below_its_base": below_base.get, "forgets_at_output": forgets.get}
    for col, fn in checks.items():
        details[col] = pd.Series([fn(m) for m in details.index], index=details.index,
                                 dtype=object)
    details["output_test_forget"] = [lost(m) for m in details.index]
    parts = {"a": status_of(part_a), **{m: status_of(f) for m, f in ok.items()}}
    if not judged:
        return Verdict("C7", UNDECIDED, f"Not decided: Retrain keeps CKA ≥ "
                       f"{c.nothing_to_erase} to the original at every stage "
                       f"({', '.join(skipped) or 'no stage measured'}), so no stage can be "
                       f"judged.", details, parts, values={"judged_stages": ()})
    status = combine_statuses([part_a, *ok.values()])
    word = {True: "", False: "not ", None: "not decided: "}

    def ec_text(m: str) -> str:
        base = _base(m)
        return (f"{method_label(m)} {word[lower[m]]}lower than the original at every judged "
                f"stage" + (f", {word[below_base[m]]}below {method_label(base)}"
                            if base else "")
                + f", {word[forgets[m]]}forgotten at the output (test forget "
                  f"{pct_text(lost(m))}, retain {pct_text(acc(m))} vs the original's "
                  f"{pct_text(acc('original'))})")

    text = (f"{capitalised(status)}: (a) {len(methods_where(superficial, True))} of {len(c.baselines)} "
            f"baselines stay more similar to the original than Retrain at every judged stage "
            f"before the last ({label_list(methods_where(superficial, True)) or 'none'}"
            + ("; no judged stage before the last" if not judged[:-1] else "")
            + "); (b, c) " + "; ".join(ec_text(m) for m in c.ec_methods)
            + f". Not judged (Retrain's CKA ≥ {c.nothing_to_erase}): "
              f"{', '.join(skipped) or 'none'}.")
    return Verdict("C7", status, text, details, parts, values={"judged_stages": tuple(judged)})


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
