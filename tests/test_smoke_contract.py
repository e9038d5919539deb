"""The smoke contract: ``make test`` builds the smoke book, whose results must reproduce the
committed ``reference/smoke.json`` (illusion.contract): every number within its band, every
verdict the same. The Makefile points ``ILLUSION_SMOKE_RESULTS`` at the smoke book's results
file; run alone, without it, the test is skipped."""

from __future__ import annotations

import os

import pytest

from illusion.contract import compare, load_results, reference_path, report_text


def test_the_smoke_build_reproduces_the_committed_reference():
    path = os.environ.get("ILLUSION_SMOKE_RESULTS", "").strip()
    if not path:
        pytest.skip("ILLUSION_SMOKE_RESULTS is not set (make test sets it to the smoke "
                    "book's results)")
    build = load_results(path, kind="build", profile="smoke")
    reference = load_results(reference_path("smoke"), kind="reference", profile="smoke")
    c = compare(build, reference)
    assert c.ok, report_text(c, limit=20)
