"""C3, the mechanism: feature-classifier misalignment. Unlearning turns the forget class's
classifier row away from that class's feature mean while the features stay discriminative.

The headline criterion (:class:`Misalignment`) makes [A]'s statement operational; it was
rebuilt from that statement on 2026-12-05 (issue 25), after the first cpu verdicts. The
project's earlier, stricter test, whether the forget class's own features also barely move
(CKA to the original at least 0.9, on all test images from 2026-11-22, on the forget class's
from 2026-12-01; the headline until the rebuild), is kept as a labelled stronger reading
(:class:`MisalignmentStronger`): [A] claims discriminative features, not unmoved ones. It is
a test, not a finding: in the cpu build the forget class's features do move (the stronger
reading's verdict, glued on the C3 page).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .logic import (STRONGER, Statement, Verdict, all_true, any_true, capitalised, tri_compare, rows_frame, value_of,
                    by_method, label_list, status_of, methods_where)
from .render import criterion

__all__ = ["STATEMENT", "Misalignment", "MisalignmentStronger", "misalignment",
           "misalignment_stronger"]

STATEMENT = Statement(
    "C3", "[A], paraphrased (its text was not reachable offline to quote a section)",
    "after unlearning by RL or SalUn the forgotten class's classifier row is no longer aligned "
    "with that class's feature mean (its duality distance grows), while the retained rows stay "
    "aligned and the features of the forgotten class remain discriminative: the output "
    "forgets, the representation does not.")


@criterion("C3")
@dataclass(frozen=True)
class Misalignment:
    """C3 as [A] states it (:data:`STATEMENT`). A method shows the mechanism when all three
    hold:

    (i) *rotation*: the duality distance of its forget row(s) grew by at least
    ``duality_growth_min`` over the original's (Retrain's forget row, trained without the
    class, is shown beside it as the fully unaligned reference, not judged);
    (ii) *still discriminative*: its probe **or** NCC test-forget accuracy lies at least
    ``retrain_margin`` points above Retrain's (as C2; with the gap's 95% interval over the
    test images, ``<readout>_vs_retrain_low``, its lower end must clear the margin; a readout
    whose original is less than the margin above Retrain's decides nothing, as in C2);
    (iii) *retained rows aligned*: the mean duality distance of its retained rows is at most
    ``retain_tolerance`` above the original's, so the rotation is specific to the forget row.

    The claim holds when every method of ``key_methods`` ([A]'s cases) shows it. Feature drift
    is reported against Retrain's (``cka_vs_retrain``: the method's forget-class CKA to the
    original minus Retrain's), never judged against an absolute cut.

    Why these numbers, fixed before the criterion was rebuilt: 0.3 is the growth the stronger
    reading already used; 5 points is the margin C2 calls "above Retrain"; the retained rows
    may move by a third of what counts as rotation.
    """

    duality_growth_min: float = 0.3
    retrain_margin: float = 5.0
    retain_tolerance: float = 0.1
    key_methods: tuple[str, ...] = ("random_label", "salun")
    readouts: tuple[str, ...] = ("probe", "ncc")


def misalignment(table: pd.DataFrame, criterion: Misalignment = Misalignment()) -> Verdict:
    """C3 from a per-method table with ``duality_forget``, ``duality_retain`` and
    ``<readout>_test_forget`` for every readout (``cka_test_forget`` shown when present);
    needs the ``original`` and ``retrain`` rows. ``details`` per method: the growth, the three
    checks and ``mechanism`` (all three)."""
    c, t = criterion, by_method(table)
    d0, r0 = value_of(t, "original", "duality_forget"), value_of(t, "original", "duality_retain")
    rows = []
    for m in [m for m in t.index if m not in ("original", "retrain")]:
        growth = value_of(t, m, "duality_forget") - d0
        row = {"method": m, "duality_growth": growth,
               "duality_vs_retrain": value_of(t, m, "duality_forget")
               - value_of(t, "retrain", "duality_forget"),
               "retain_duality_change": value_of(t, m, "duality_retain") - r0}
        if "cka_test_forget" in t.columns:
            row["cka_vs_retrain"] = (value_of(t, m, "cka_test_forget")
                                     - value_of(t, "retrain", "cka_test_forget"))
        above = []
        for r in c.readouts:
            gap = value_of(t, m, f"{r}_test_forget") - value_of(t, "retrain", f"{r}_test_forget")
            row[f"{r}_vs_retrain"] = gap
            if f"{r}_vs_retrain_low" in t.columns:  # the gap's interval must clear the margin
                gap = row[f"{r}_vs_retrain_low"] = value_of(t, m, f"{r}_vs_retrain_low")
            # as in C2: a readout whose original is less than the margin above Retrain's
            # cannot tell kept information from what Retrain has, so it decides nothing
            separates = tri_compare(value_of(t, "original", f"{r}_test_forget")
                             - value_of(t, "retrain", f"{r}_test_forget"), ">=", c.retrain_margin)
            above.append(None if separates is False else tri_compare(gap, ">=", c.retrain_margin))
        row["rotated"] = tri_compare(growth, ">=", c.duality_growth_min)
        row["discriminative"] = any_true(above)
        row["retain_aligned"] = tri_compare(row["retain_duality_change"], "<=", c.retain_tolerance)
        row["mechanism"] = all_true([row["rotated"], row["discriminative"], row["retain_aligned"]])
        rows.append(row)
    details = rows_frame(rows)
    missing = [m for m in c.key_methods if m not in details.index]
    ok = None if missing else all_true(details.loc[m, "mechanism"] for m in c.key_methods)
    flags = details["mechanism"].to_dict() if rows else {}
    shown = methods_where(flags, True)

    def failed(m: str) -> str:
        checks = {"rotated": "row not rotated", "discriminative": "features not above Retrain",
                  "retain_aligned": "retained rows moved"}
        why = [w for k, w in checks.items() if details.loc[m, k] is False]
        return f"{label_list([m])} ({', '.join(why) or 'missing values'})"

    not_shown = [m for m in c.key_methods if m in details.index
                 and details.loc[m, "mechanism"] is not True]
    text = (f"{capitalised(status_of(ok))} for [A]'s cases ({label_list(c.key_methods)})"
            + (f" ({label_list(missing)} not run)" if missing else "")
            + f": the forget row rotates while the features stay discriminative and the "
              f"retained rows aligned in {label_list(shown) or 'no method'}"
            + (f"; not in {', '.join(failed(m) for m in not_shown)}" if not_shown else "")
            + f". Forget-row duality: original {d0:.2f}, Retrain "
              f"{value_of(t, 'retrain', 'duality_forget'):.2f}.")
    return Verdict("C3", status_of(ok), text, details)


@criterion("C3")
@dataclass(frozen=True)
class MisalignmentStronger:
    """C3, **stronger reading** (ours, not [A]'s statement): a method is *misaligned with
    stable features* when the duality distance of its
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


def misalignment_stronger(table: pd.DataFrame,
                          criterion: MisalignmentStronger = MisalignmentStronger()) -> Verdict:
    """C3's stronger reading from a per-method table with ``duality_forget`` and the
    criterion's CKA column (plus ``cka_test`` / ``forget_mean_shift``, shown when present);
    needs the ``original`` row."""
    c, t = criterion, by_method(table)
    d0 = value_of(t, "original", "duality_forget")
    rows = []
    for m in [m for m in t.index if m not in ("original", "retrain")]:
        growth = value_of(t, m, "duality_forget") - d0
        cka = value_of(t, m, c.cka_column)
        rows.append({"method": m, "duality_growth": growth, c.cka_column: cka,
                     **{k: value_of(t, m, k) for k in ("cka_test", "forget_mean_shift")
                        if k in t.columns and k != c.cka_column},
                     "rotated": tri_compare(growth, ">=", c.duality_growth_min),
                     "stable": tri_compare(cka, ">=", c.cka_min)})
    details = rows_frame(rows)
    if rows:
        details["misaligned"] = pd.Series([all_true([r, s]) for r, s in zip(
            details["rotated"], details["stable"])], index=details.index, dtype=object)
    missing = [m for m in c.key_methods if m not in details.index]
    ok = None if missing else all_true(details.loc[m, "misaligned"] for m in c.key_methods)
    shown = methods_where(details["misaligned"].to_dict(), True) if rows else []
    text = (f"{capitalised(status_of(ok))} for [A]'s cases ({label_list(c.key_methods)})"
            + (f" ({label_list(missing)} not run)" if missing else "")
            + f"; misaligned with stable forget-class features: {label_list(shown) or 'no method'}."
            f" Original forget-row duality {d0:.2f}.")
    return Verdict("C3", status_of(ok), text, details, reading=STRONGER)
