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
# # Editing only the classifier is enough (C4)
#
# If unlearning mostly rotates one classifier row, then changing *only* the classifier should
# give the same output-level "success". {cite:t}`gao2026illusion` prove it under neural
# collapse: with class features at their means and rows $w_j = \alpha(\mu_j - \mu_G)$, setting
# the forget row to $w_k = -c\,(\mu_k - \mu_G)$ makes the forget class lose on its own samples,
# and every retained sample keeps its label exactly when $c < (K-1)\alpha$. This page checks the
# bound on the cached original, then runs the empirical versions: zeroing the row, and training
# only the last layer (backbone and batch-norm statistics frozen) with an unlearning loss.
# Every step runs on each (seed, forget set) cell of the grid (five on the `cpu` profile)
# and is judged in every cell and on the means over the cells.

# %% tags=["parameters"]
profile = "cpu"
dataset = None
seed = None         # one seed / one forget set, or None: the profile's grid
forget = None       # (cpu: five cells, illusion.profiles.CPU_CELLS; paper: [A]'s grid x 3 seeds)
forget_sets = None  # several forget sets / seeds at once (override seed / forget)
seeds = None
c_ratios = [0.1, 0.25, 0.5, 0.75, 0.9, 1.1, 1.5, 2.0, 4.0]

# %% [markdown]
# ## Criteria, fixed before any result
#
# All accuracies are means over the grid's cells. (a) Analytic: every $c$ below the bound gives
# at most `forget_max` test-forget accuracy with test-retain accuracy within
# `analytic_retain_tol` points of the original, and some $c$ above the bound loses more than
# `analytic_retain_tol` points of retained accuracy; with no $c$ tried on one side of the bound
# this part is not decided. (b) Empirical: each classifier-only method reaches at most
# `forget_max` output test-forget accuracy with test-retain accuracy within `retain_drop_max`
# points of the original, while its probe and NCC test-forget accuracy stay within
# `feature_tol` points of the original's (`illusion.claims.classifier_only`).

# %%
from illusion import claims

criterion = claims.ClassifierOnly()
criterion

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import seaborn as sns
from myst_nb import glue

from illusion import book
from illusion.experiments import flip_curve
from illusion.catalog import ForgetSet
from illusion.plotting import cell_spread, figure, readable, readout_bars, set_theme

set_theme()
page = book.page("C4", profile, dataset, seed, forget, forget_sets, seeds)
cells = page.cells
n_cells = len(cells)
glue("c4_cells", str(n_cells), display=False)

# %% [markdown]
# ## The analytic flip and its bound
#
# For each $c$ (as a multiple of the bound $(K-1)\alpha$, with $\alpha$ fitted to the retained
# rows) the flipped head is applied to the original's cached features. With several forgotten
# classes every forget row is flipped with the same $c$. The bound is unchanged: under neural
# collapse each flipped row scores $c\lVert\mu_j-\mu_G\rVert^2/(K-1)$ on a retained sample
# of class $j$, whatever the other rows do. With two or more flipped rows, a sample of one
# forgotten class is claimed by another flipped row instead of its own, which is still a wrong
# prediction; the analytic construction thus stays well defined for multi-class forget sets,
# and they are kept in the grid.

# %% tags=["hide-input"]
sweep_cells = page.per_cell(lambda s, f: flip_curve(page.model("original", s, f), f, c_ratios))
sweep = sweep_cells.groupby("c / bound", as_index=False)[
    ["test retain", "test forget", "original test retain", "alpha"]].mean()
orig_retain = float(sweep["original test retain"].mean())  # mean over the grid's cells
readable(sweep.set_index("c / bound"))

# %% tags=["hide-input"]
fig, ax = figure(3.4)
sns.lineplot(data=sweep_cells.melt(id_vars="c / bound", value_vars=["test retain", "test forget"],
                                   var_name="split", value_name="accuracy"),
             x="c / bound", y="accuracy", hue="split", marker="o", errorbar="sd", ax=ax)
ax.axvline(1.0, color="0.3", ls="--", lw=1, label="bound c = (K-1)α")
ax.axhline(orig_retain, color="0.6", ls=":", lw=1, label="original, test retain")
ax.set(xscale="log", ylabel="output accuracy (%)", ylim=(-2, 102))
ax.legend(fontsize=8, title=None)
fig.tight_layout()
glue("fig_flip_bound", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fig_flip_bound
# :name: fig-flip-bound
#
# The analytic flip: output accuracy against $c$ relative to the bound $(K-1)\alpha$ (dashed),
# mean over the grid's cells (band: ±1 standard deviation when there are several). Below the
# bound the forgotten class is gone and retained accuracy stays at the original's (dotted);
# above it, retained samples start to fall to the flipped class.
# ```
#
# The table gives the means over the {glue:text}`c4_cells` (seed, forget set) cell(s) plotted in
# {numref}`fig-flip-bound`.

# %% [markdown]
# ## Empirical classifier-only unlearning

# %% tags=["hide-input"]
grid = page.table()  # the rows this page declares (illusion.book.PAGES), every cell
cols = ["output_test_retain", "output_test_forget", "probe_test_forget", "ncc_test_forget",
        "cka_test"]
table = book.means(grid, cols)  # mean (and std over the grid's cells) per method
readable(table.set_index("method")[cols])

# %% tags=["hide-input"]
fig = readout_bars(grid, {"output_test_forget": "output", "probe_test_forget": "linear probe",
                          "ncc_test_forget": "nearest class mean"})
glue("fig_classifier_only", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fig_classifier_only
# :name: fig-classifier-only
#
# Test-forget accuracy of classifier-only unlearning read three ways (mean over the grid's
# cells, whiskers ±1 standard deviation when there are several), one group of bars per
# method. Dashed, in each readout's colour: Retrain. The features are untouched, so probe and
# NCC equal the original's.
# ```
#
# In {numref}`fig-classifier-only` the output bar of every classifier-only method drops while
# its probe and NCC bars stay at the original's. Cell by cell
# ({numref}`fig-classifier-only-spread`), the probe's change against the original model of the
# same cell:

# %% tags=["hide-input"]
change = book.change_from(grid, "probe_test_forget", "probe_change")  # minus the original's
fig = cell_spread(change, "probe_change", "probe test-forget change (points)", ylim=None,
                  baseline=0.0)
glue("fig_classifier_only_spread", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fig_classifier_only_spread
# :name: fig-classifier-only-spread
#
# Linear-probe test-forget accuracy of each classifier-only model minus the original's, one
# point per (seed, forget set) cell, the bar at the mean; dotted: no change. Points on the line
# in every cell: editing the head leaves the features, and what they reveal, untouched.
# ```
#
# ## Verdict
#
# Against `criterion`, stated at the top of the page ({numref}`fig-flip-bound`,
# {numref}`fig-classifier-only`), in every (seed, forget set) cell and on the means over them:
# per method on the means, then the verdict of each cell.

# %% tags=["hide-input"]
def c4_inputs(seed, forget):
    """The analytic sweep, the original's retained accuracy and the per-method table of one
    cell, or their means over the cells (seed and forget None)."""
    if seed is None:
        return {"flip": sweep, "original_retain": orig_retain, "table": table,
                "originals": "original" + ("s" if len({s for s, _ in cells}) > 1 else "")}
    flip = sweep_cells[(sweep_cells["seed"] == seed) & (sweep_cells["forget"] == forget)]
    rows = grid[(grid["seed"] == seed) & (grid["forget"] == forget)]
    return {"flip": flip, "original_retain": float(flip["original test retain"].mean()),
            "table": rows[["method", *cols]], "originals": "original"}


# %%
verdict_c4 = book.judge_cells(lambda **k: claims.classifier_only(criterion=criterion, **k),
                              [(s, ForgetSet(f)) for s, f in cells], c4_inputs)
glue("verdict_c4", verdict_c4.text, display=False)
glue("c4_k_of_n", verdict_c4.values["k_of_n"], display=False)
readable(verdict_c4.details)

# %%
verdict_c4.values["cells"]

# %% [markdown]
# **Verdict (C4):** {glue:text}`verdict_c4`
