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
# # Summary of this build
#
# **This page only collects what the claim pages computed.** Each claim page, once it has
# judged its claim, publishes its verdicts (`illusion.book.publish`); `tools/run_notebooks.py`
# executes this page after every other page of the build, and it reads them back
# (`illusion.book.collect`). It judges nothing, reads no model and computes no number: every
# status, count and interval below is the claim page's own. The full verdicts, with each
# claim's criterion and the evidence behind it, stay on the claim pages:
# {doc}`01_original_model`, {doc}`02_output_level`, {doc}`03_probe_recovery`,
# {doc}`04_misalignment`, {doc}`05_classifier_only`, {doc}`06_relearning`,
# {doc}`07_cmf` and {doc}`08_erase_at_core`.

# %% tags=["parameters"]
profile = "cpu"

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
from illusion.book.numbers import glue  # myst_nb.glue, recorded for the build's results

from illusion import book, claims
from illusion.catalog import cell_label
from illusion.plotting import set_theme, status_grid

set_theme()
# reads no row: the grid's cells (the figure's columns, in order) and the seed shown in detail
page = book.page("summary", profile)
verdicts = book.collect(book.results_dir(profile), profile=profile)
headlines = verdicts[verdicts["headline"].astype(bool)] if len(verdicts) else verdicts
n_claims = len(book.results.SAID)
glue("summary_published",
     (f"{len(verdicts)} published verdict{'s' * (len(verdicts) != 1)}, the headlines of "
      f"{headlines['claim'].nunique()} of the {n_claims} claims among them") if len(verdicts)
     else "no published verdict: the claim pages of this build have not published any",
     display=False)
glue("summary_rule", claims.HEADLINE_RULE.describe(), display=False)
summary = book.summary_table(verdicts)
# the landing page (book/intro) shows it with each claim linked to its page
glue("summary_table", book.results.styled(summary, link_prefix="notebooks/"), display=False)
book.results.styled(summary, link_prefix="")

# %% [markdown]
# This build's claim pages left {glue:text}`summary_published`. Per claim, the headline verdict
# (the paper's own statement) comes first, then the page's other verdicts (↳), each labelled
# with its reading: a stronger reading or another reading of ours, an ablation, a variant; they
# never replace the headline. *Status* is the verdict's status: for a headline, under the rule
# {glue:text}`summary_rule` *Holds in* counts the (seed, forget set) cells in which the claim
# holds (for C0, the seeds' original models). The *means' interval*, where a page publishes
# one, is the 95% interval of one gap its criterion reads, over the cells and the test images.
# *In one sentence* is the verdict's first sentence; the claim page gives the rest.

# %% tags=["hide-input"]
fig = status_grid(verdicts, cells=[cell_label(s, f) for s, f in page.cells])
glue("fig_status_grid", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fig_status_grid
# :name: fig-status-grid
#
# Each claim's headline verdict in every (seed, forget set) cell of this build (C0's per
# seed), on the means over the cells, and as the headline: green holds, orange partly holds,
# red does not hold, grey not decided; blank where a claim was not judged.
# ```
#
# ## Scale
#
# The verdicts above are those of this build's scale, not of the papers' own.

# %% tags=["hide-input"]
glue("summary_scale", book.scale_caveat(profile, verdicts, first_seed=page.first[0]),
     display=False)

# %% [markdown]
# {glue:text}`summary_scale` {doc}`../reproducing` explains the profiles and how to re-run
# the book at another scale.
