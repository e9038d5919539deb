"""illusion.claims.logic: the stated k-of-n headline rule (HeadlineRule, headline_status) and
across_cells under it; without a rule across_cells keeps the means' status (tests/test_claims)."""

from __future__ import annotations

import pytest

from illusion import claims
from illusion.claims import FAILS, HOLDS, PARTLY, UNDECIDED
from illusion.claims.logic import HEADLINE_RULE, HeadlineRule, headline_status


def _statuses(k: int, n: int, other: str = FAILS) -> dict[str, str]:
    """n cells, the first k of which hold."""
    return {f"cell {i}": HOLDS if i < k else other for i in range(n)}


def _v(status: str, claim: str = "C2") -> claims.Verdict:
    return claims.Verdict(claim, status, f"{status.capitalize()}.", parts={"x": status},
                          values={"q": 1})


@pytest.mark.parametrize("k, n, expected", [
    (4, 5, HOLDS), (3, 5, PARTLY), (5, 5, HOLDS), (1, 1, HOLDS), (0, 1, PARTLY),
    (1, 2, PARTLY), (2, 2, HOLDS), (2, 3, PARTLY), (3, 3, HOLDS), (3, 4, PARTLY), (4, 4, HOLDS),
    (8, 10, HOLDS), (7, 10, PARTLY), (0, 5, PARTLY)])
def test_means_that_hold_need_k_of_n_cells(k, n, expected):
    assert headline_status(HOLDS, _statuses(k, n)) == expected


def test_the_needed_counts():
    assert [HEADLINE_RULE.needed(n) for n in range(1, 11)] == [1, 2, 3, 4, 4, 5, 6, 7, 8, 8]
    assert HeadlineRule(0.7).needed(10) == 7  # not 8 from 0.7 * 10 = 7.000000000000001
    assert HeadlineRule(0.5).needed(5) == 3 and HeadlineRule(1.0).needed(5) == 5
    assert HEADLINE_RULE == HeadlineRule(0.8)


def test_cells_that_partly_hold_or_are_undecided_do_not_count_as_holding():
    statuses = {**_statuses(3, 3), "d": PARTLY, "e": UNDECIDED}
    assert headline_status(HOLDS, statuses) == PARTLY
    assert headline_status(HOLDS, {**statuses, "d": HOLDS}) == HOLDS


def test_the_cells_never_raise_a_headline():
    five = _statuses(5, 5)
    assert headline_status(FAILS, five) == FAILS
    assert headline_status(UNDECIDED, five) == UNDECIDED
    assert headline_status(PARTLY, five) == PARTLY
    assert headline_status(PARTLY, _statuses(0, 5)) == PARTLY


def test_another_share():
    lenient = HeadlineRule(0.5)
    assert headline_status(HOLDS, _statuses(3, 5), lenient) == HOLDS
    assert headline_status(HOLDS, _statuses(2, 5), lenient) == PARTLY
    strict = HeadlineRule(1.0)
    assert headline_status(HOLDS, _statuses(4, 5), strict) == PARTLY


@pytest.mark.parametrize("share", [0, 0.0, -0.1, 1.01, 2, float("nan"), True, "0.8", None])
def test_a_share_outside_0_to_1_is_rejected(share):
    with pytest.raises(ValueError, match="min_share_holds"):
        HeadlineRule(share)


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown status"):
        headline_status("holds mostly", _statuses(5, 5))
    with pytest.raises(ValueError, match="no cells"):
        headline_status(HOLDS, {})


def test_describe_is_one_sentence_stating_the_rule():
    text = HEADLINE_RULE.describe()
    assert text.endswith(".") and text.count(". ") == 0
    assert "80%" in text and "4 of 5" in text and "partly holds" in text
    assert "100%" in HeadlineRule(1.0).describe() and "5 of 5" in HeadlineRule(1.0).describe()


def test_the_package_exports_the_rule():
    assert claims.HEADLINE_RULE is HEADLINE_RULE and claims.headline_status is headline_status
    assert {"HEADLINE_RULE", "HeadlineRule", "headline_status"} <= set(claims.__all__)
    assert {"HEADLINE_RULE", "HeadlineRule", "headline_status"} <= set(claims.logic.__all__)


# ---------------------------------------------------------------------- across cells


def _cells(k: int, n: int, other: str = FAILS) -> dict[str, claims.Verdict]:
    return {cell: _v(status) for cell, status in _statuses(k, n, other).items()}


def test_across_cells_without_a_rule_is_unchanged():
    v = claims.across_cells(_cells(3, 5), _v(HOLDS))
    assert v.status == HOLDS and "rule" not in v.values and "headline needs" not in v.text
    assert v == claims.across_cells(_cells(3, 5), _v(HOLDS), rule=None)


def test_across_cells_with_the_rule_lowers_three_of_five_and_says_why():
    plain = claims.across_cells(_cells(3, 5), _v(HOLDS))
    v = claims.across_cells(_cells(3, 5), _v(HOLDS), rule=HEADLINE_RULE)
    assert v.status == PARTLY and v.values["on_means"] == HOLDS
    assert v.values["rule"] == HEADLINE_RULE.describe()
    assert (v.values["k"], v.values["n"], v.values["k_of_n"]) == (3, 5, "3/5")
    # the text starts with the headline's status, then the means' own text
    assert v.text == ("Partly holds: it holds on the means but in only 3 of 5 cells, and the "
                      "headline needs 4. On the means: " + plain.text)
    # the sentences about the means stay about the means
    assert "It holds on the means but not for every cell" in v.text
    assert "but not on the means" not in v.text
    assert v.parts == plain.parts and v.values["q"] == 1 and v.reading == plain.reading


@pytest.mark.parametrize("k, n", [(4, 5), (5, 5), (2, 2), (1, 1), (8, 10)])
def test_across_cells_with_the_rule_keeps_holds_with_enough_cells(k, n):
    plain = claims.across_cells(_cells(k, n), _v(HOLDS))
    v = claims.across_cells(_cells(k, n), _v(HOLDS), rule=HEADLINE_RULE)
    assert v.status == HOLDS and v.text == plain.text and "rule" in v.values


@pytest.mark.parametrize("k, n, needs", [(1, 2, 2), (7, 10, 8), (0, 1, 1)])
def test_across_cells_with_the_rule_at_the_edges(k, n, needs):
    v = claims.across_cells(_cells(k, n), _v(HOLDS), rule=HEADLINE_RULE)
    assert v.status == PARTLY
    cells = "cell" if n == 1 else "cells"
    assert v.text.startswith(f"Partly holds: it holds on the means but in only {k} of {n} "
                             f"{cells}, and the headline needs {needs}. On the means: ")


def test_across_cells_with_the_rule_never_raises_the_means():
    fails = claims.across_cells(_cells(5, 5), _v(FAILS), rule=HEADLINE_RULE)
    assert fails.status == FAILS and "headline needs" not in fails.text
    assert fails.text == claims.across_cells(_cells(5, 5), _v(FAILS)).text
    undecided = claims.across_cells(_cells(5, 5), _v(UNDECIDED), rule=HEADLINE_RULE)
    assert undecided.status == UNDECIDED and "headline needs" not in undecided.text
    partly = claims.across_cells(_cells(2, 5), _v(PARTLY), rule=HEADLINE_RULE)
    assert partly.status == PARTLY and "headline needs" not in partly.text
    none = claims.across_cells(_cells(5, 5), rule=HEADLINE_RULE)
    assert none.status == UNDECIDED and none.values["on_means"] is None


def test_across_cells_with_the_rule_names_seeds():
    v = claims.across_cells({"seed 0": _v(HOLDS), "seed 1": _v(FAILS)}, _v(HOLDS),
                            unit="seed", rule=HeadlineRule(0.8))
    assert v.status == PARTLY
    assert v.text.startswith("Partly holds: it holds on the means but in only 1 of 2 seeds, "
                             "and the headline needs 2.")
