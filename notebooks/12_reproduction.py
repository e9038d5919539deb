# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Reproduction: this build against the published reference
#
# "I ran it and got different numbers" can mean noise or a bug; only a stated tolerance tells
# them apart. This page compares **this build** with the **reference** committed in
# `reference/<profile>.json`: the numbers and verdicts of a clean cold build, each number with
# a band derived from a spread measured in that build (`illusion.contract`; the rule is
# printed below). A number within its band is as close as a rerun of the same row lands; a
# verdict must match exactly.
#
# What is compared: every number a claim page tabulates or glues, under a stable name
# (`page/table/row/column`, or `page/glue/name`; `illusion.book.numbers`), every verdict's
# status, *k* of *n*, status on the means and per cell, and the ends of each published
# interval. Times and sizes are recorded but never compared: they measure the machine.
# `tools/run_notebooks.py` writes the build's results to `_build/results/<profile>.json`
# once the claim pages have run, and executes this page after them; `illusion results`
# prints the same report from the command line.

# %% tags=["parameters"]
profile = "cpu"

# %% tags=["hide-input"]
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from illusion.book.numbers import glue  # myst_nb.glue, recorded for the build's results

from illusion import book, contract
from illusion.plotting import figure, set_theme

set_theme()
pd.set_option("display.max_colwidth", None)
book.page("reproduction", profile)  # reads no row
ROOT = Path.cwd()  # papermill runs the notebooks from the repository root
build_path = Path(os.environ.get(contract.BUILD_RESULTS_ENV, "")
                  or contract.build_results_path(profile, ROOT))
ref_path = contract.reference_path(profile, ROOT)
build = contract.load_results(build_path, kind="build", profile=profile) \
    if build_path.exists() else None
reference = contract.load_results(ref_path, kind="reference", profile=profile) \
    if ref_path.exists() else None
comparison = contract.compare(build, reference) if build and reference else None
if comparison is not None:
    report = contract.report_text(comparison)
elif build is None:
    report = (f"This run wrote no results file ({build_path.name}): it did not execute every "
              "claim page with the profile's own grid, so there is nothing to compare.")
else:
    report = (f"There is no committed reference for the profile '{profile}' "
              f"(reference/{profile}.json): nothing to compare.")
glue("repro_report", report, display=False)

# %% [markdown]
# ## The report
#
# {glue:text}`repro_report`

# %% tags=["hide-input"]
def _prov(data: dict | None) -> dict:
    if data is None:
        return {}
    p = data["provenance"]
    cpu = p.get("cpu", {})
    return {"commit": str(p.get("commit", ""))[:12], "date": p.get("date"),
            "torch": p.get("torch"), "precision": p.get("precision"),
            "CPU": cpu.get("model"), "instruction sets": ", ".join(cpu.get("isa", [])),
            "instruction-set caps": ", ".join(f"{k}={v}" for k, v in cpu.get("caps", {}).items())
            or "none",
            "cores": cpu.get("cores"),
            "cache built": (f"{p['cache']['builds']} artifacts, {p['cache'].get('first_build')} "
                            f"to {p['cache'].get('last_build')}" if p.get("cache", {}).get("builds")
                            else "—"),
            "artifacts read": len(p.get("artifacts", {})),
            "numbers": len(data.get("numbers", {})), "verdicts": len(data.get("verdicts", {}))}


pd.DataFrame({"this build": pd.Series(_prov(build), dtype=object),
              "reference": pd.Series(_prov(reference), dtype=object)})

# %% [markdown]
# Provenance side by side: the commit each was built from, when, with which torch, in which
# precision, on which CPU (the instruction sets that change the arithmetic: AMX and AVX-512
# BF16 for bfloat16, AVX-512 and AVX2 for float32) and with which of them held back (the
# smoke book computes on the AVX2 paths), how its artifact cache was built (a cold build is
# one span of an hour or less; an incremental cache spans days) and how many artifacts the
# pages read.

# %% [markdown]
# ## Verdicts

# %% tags=["hide-input"]
def _verdict(v: dict | None) -> str:
    return "—" if v is None else f"{v['status']} ({v['k']}/{v['n']})"


def _title(name: str) -> str:
    """A verdict as the summary names it: its claim, then its label unless the headline."""
    v = (reference or {}).get("verdicts", {}).get(name) or (build or {}).get("verdicts", {}).get(name)
    return v["claim"] if v.get("headline") else f"{v['claim']}, {v.get('label', name)}"


names = list(dict.fromkeys([*(reference or {}).get("verdicts", {}),
                            *(build or {}).get("verdicts", {})]))
verdict_table = pd.DataFrame([
    {"verdict": _title(n), "reference": _verdict((reference or {}).get("verdicts", {}).get(n)),
     "this build": _verdict((build or {}).get("verdicts", {}).get(n)),
     "same": "yes" if comparison and not any(m[0] == n for m in comparison.mismatches)
     else ("—" if comparison is None else "no")}
    for n in names])
verdict_table.set_index("verdict") if len(verdict_table) else verdict_table

# %% [markdown]
# Each verdict's status and *k* of *n* in the reference and in this build. "same" compares
# every field (the status, *k*, *n*, the status on the means and in each cell) exactly.
#
# ## Numbers

# %% tags=["hide-input"]
if comparison is not None:
    ref_numbers = reference["numbers"]
    rows = []
    for name, ref in ref_numbers.items():
        got = build["numbers"].get(name)
        if got is None:
            continue
        d = abs(got - ref["value"])
        rows.append({"name": name, "page": name.split("/")[0], "source": ref["source"],
                     "bands": d / ref["band"] if ref["band"] > 0 else (0.0 if d == 0 else np.inf)})
    distances = pd.DataFrame(rows)
    fig, ax = figure(height=3.2)
    shown = distances["bands"].replace(np.inf, np.nan).dropna()
    sns.histplot(x=np.log10(shown.clip(lower=1e-4)), bins=40, ax=ax)
    ax.axvline(0.0, color="black", ls="--", lw=1)
    ax.set(xlabel="distance to the reference, in bands (log10; 0 = the band's edge; "
                  "1e-4 and below at the left)", ylabel="numbers")
    glue("fig_repro_bands", fig, display=False)
    plt.close(fig)
    by_source = distances.groupby("source")["bands"].agg(
        numbers="size", within=lambda b: int((b <= 1).sum()), largest="max")
    glue("repro_sources", "; ".join(f"{s}: {int(r.within)} of {int(r.numbers)} within"
                                    for s, r in by_source.iterrows()), display=False)
else:
    fig, ax = figure(height=1.5)
    ax.text(0.5, 0.5, "nothing to compare", ha="center", va="center")
    ax.set_axis_off()
    glue("fig_repro_bands", fig, display=False)
    plt.close(fig)
    glue("repro_sources", "nothing compared", display=False)

# %% [markdown]
# ```{glue:figure} fig_repro_bands
# :name: fig-repro-bands
#
# How far each compared number of this build lands from the reference, in units of its band
# (log scale): left of the dashed line is within the band. A build identical to the
# reference piles up at the left edge.
# ```
#
# Per source of the band: {glue:text}`repro_sources`.

# %% tags=["hide-input"]
if comparison is not None and comparison.outside:
    outside = pd.DataFrame(comparison.outside, columns=["number", "this build", "reference",
                                                        "band", "bands away"])
    outside["source"] = [reference["numbers"][n]["source"] for n in outside["number"]]
    display_outside = outside.head(25)
else:
    display_outside = pd.DataFrame({"number": ["(none)"]})
display_outside.style.hide(axis="index")  # names in cells, not headers

# %% [markdown]
# The numbers outside their band, farthest first (at most 25).
#
# ## How the bands were set
#
# The rule, as `illusion.contract` applies it when `illusion results --write-reference`
# writes a reference:

# %% tags=["hide-input"]
from IPython.display import Markdown

Markdown(reference["rule"]["text"] if reference else "No reference for this profile.")

# %% [markdown]
# ## Other builds, measured
#
# Builds made another way, whose results files are committed under `reference/builds/`,
# compared here with the reference exactly as this build is (a build over fewer cells, such
# as the cell shown in detail alone, with a reference made from the build of the same cells
# in the reference's precision): in
# float32 instead of bfloat16 (`ILLUSION_CPU_BF16=0`), from an incrementally built cache
# instead of a cold one, or with oneDNN held to another instruction set
# (`ONEDNN_MAX_CPU_ISA` and its kin, as another CPU would run) or, for the smoke book, on the
# machine's own instruction sets instead of the AVX2 paths it is held to.

# %% tags=["hide-input"]
def _against(other: dict, builds: dict) -> tuple[dict | None, str]:
    """What ``other`` is compared with: the reference when it covers the same cells, else a
    reference made (`illusion.contract.make_reference`) from the committed build of the same
    cells in the reference's precision with no instruction-set caps (e.g. the cell shown in
    detail in bfloat16, for its float32 twin)."""
    if reference is not None and other.get("cells") in (None, reference.get("cells")):
        return reference, "the reference"
    for stem, base in builds.items():
        bp = base["provenance"]
        if (base is not other and base.get("cells") == other.get("cells")
                and bp.get("precision") == reference["provenance"].get("precision")
                and not bp.get("cpu", {}).get("caps")):
            return contract.make_reference(base), f"a reference made from {stem}"
    return None, "none: no other build over the same cells in the reference's precision"


builds = {path.stem.removeprefix(f"{profile}-"): contract.load_results(path, kind="build",
                                                                       profile=profile)
          for path in sorted((ROOT / "reference" / "builds").glob(f"{profile}-*.json"))}
others = []
for stem, other in builds.items():
    if reference is None:
        break
    against, named = _against(other, builds)
    p = other["provenance"]
    row = {"build": stem, "cells": len(other.get("cells") or book.grid_cells(profile)),
           "commit": str(p.get("commit"))[:12], "precision": p.get("precision"),
           "CPU": p.get("cpu", {}).get("model"),
           "instruction-set caps": ", ".join(
               f"{k}={v}" for k, v in p.get("cpu", {}).get("caps", {}).items()) or "—",
           "compared with": named}
    if against is not None and against["provenance"] is not other["provenance"]:
        c = contract.compare(other, against)
        worst = c.outside[0] if c.outside else None
        row.update({"within band": f"{c.within} of {c.compared}",
                    "verdict fields differing": str(len(c.mismatches)),
                    "farthest (bands)": round(worst[4], 1) if worst else 0.0,
                    "farthest number": worst[0] if worst else "—"})
    others.append(row)
others_table = (pd.DataFrame(others).set_index("build").astype(object).fillna("—") if others
                else pd.DataFrame({"build": ["(none committed for this profile)"]}).set_index("build"))
others_table
