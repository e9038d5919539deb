"""C0, the premise of [A]'s theory: the original model fits its training set and is near
neural collapse (NC1-NC4 as defined in [A]'s code).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .logic import UNDECIDED, Verdict, all_true, tri_compare, rows_frame, status_of, methods_where
from .render import criterion

__all__ = ["NearCollapse", "TerminalPhase", "near_collapse", "terminal_phase"]


@criterion("C0")
@dataclass(frozen=True)
class TerminalPhase:
    """The premise of [A]'s theory: the original fits its training set. Training accuracy
    (evaluation mode, no augmentation) of at least ``min_train_acc`` percent."""

    min_train_acc: float = 99.0


def terminal_phase(train_acc: float, criterion: TerminalPhase = TerminalPhase(),
                   profile: str = "") -> Verdict:
    """Whether the original model reached the terminal phase of training."""
    ok = tri_compare(train_acc, ">=", criterion.min_train_acc)
    lim = f"{criterion.min_train_acc:.0f}%"
    text = {True: f"Reached: training accuracy {train_acc:.2f}% >= {lim}.",
            False: f"Not reached: training accuracy {train_acc:.2f}% < {lim} (profile "
                   f"'{profile}'; the theory's premise does not hold at this scale).",
            None: "Not decided: no training accuracy was measured."}[ok]
    return Verdict("C0 terminal phase", status_of(ok), text, values={"train_acc": train_acc})


@criterion("C0")
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
         tri_compare(train_acc, ">=", c.min_train_acc)),
        (f"NC1 <= {c.nc1_max_ratio:g} x first epoch and < {c.nc1_max:g}",
         f"{g(first, 'nc1'):.3f} -> {g(last, 'nc1'):.3f}",
         all_true([tri_compare(g(last, "nc1"), "<=", c.nc1_max_ratio * g(first, "nc1")),
               tri_compare(g(last, "nc1"), "<", c.nc1_max)])),
        ("NC2 below first epoch", f"{g(first, 'nc2'):.3f} -> {g(last, 'nc2'):.3f}",
         tri_compare(g(last, "nc2"), "<", g(first, "nc2"))),
        ("NC3 below first epoch", f"{g(first, 'nc3'):.3f} -> {g(last, 'nc3'):.3f}",
         tri_compare(g(last, "nc3"), "<", g(first, "nc3"))),
        (f"NC4 >= {c.nc4_min:g}", f"{g(first, 'nc4'):.3f} -> {g(last, 'nc4'):.3f}",
         tri_compare(g(last, "nc4"), ">=", c.nc4_min)),
    ]
    details = rows_frame([dict(zip(("criterion", "first -> last epoch", "holds"), c_))
                      for c_ in checks], ["criterion", "first -> last epoch", "holds"])
    ok = all_true(details["holds"])
    flags = dict(zip(details["criterion"], details["holds"]))
    failed, undecided = ", ".join(methods_where(flags, False)), ", ".join(methods_where(flags, None))
    text = {True: f"Holds: the original model is near neural collapse (NC1 {g(last, 'nc1'):.3f}, "
                  f"NC4 {g(last, 'nc4'):.3f}).",
            False: f"Does not hold at profile '{profile}': {failed} failed.",
            None: f"Not decided: {undecided} could not be evaluated."}[ok]
    return Verdict("C0", status_of(ok), text, details,
                   values={"nc1_last": g(last, "nc1"), "nc4_last": g(last, "nc4")})
