"""C3, the mechanism: feature-classifier misalignment. The forget class's classifier row turns
away from that class's feature mean while the features barely move.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .logic import Verdict, _all, _cap, _cmp, _frame, _get, _indexed, _names, _status, _which
from .render import criterion

__all__ = ["Misalignment", "misalignment"]


@criterion("C3")
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
