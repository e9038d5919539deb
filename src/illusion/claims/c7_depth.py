"""C7 ([B]): most methods leave the intermediate layers nearly identical to the original's
(superficial forgetting); EC lowers similarity at every depth while keeping retain accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..catalog import method_label
from ..stats import percentile_bounds
from .logic import (UNDECIDED, Verdict, _all, _cap, _cmp, _combine, _majority, _names, _pct,
                    _status, _which)
from .render import criterion

__all__ = ["DepthForgetting", "depth_forgetting"]


@criterion("C7")
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
