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

# %% [markdown]
# ## The claim as stated, and its criteria, fixed before any result

# %%
from illusion import claims
from illusion.claims.c4_classifier_only import STATEMENT

STATEMENT

# %% [markdown]
# **Criterion (the paper's statement).** All accuracies are means over the grid's cells (and
# judged in each cell); only parts that could fail are counted
# (`illusion.claims.classifier_only`). (b) *[A]'s experiments* (`key_methods`): last-layer
# RL, and last-layer UNSIR at [A]'s classifier-only learning rates with the head zeroed first
# as [A]'s scripts do, each keep output test-retain accuracy within `retain_drop_max` points
# of the original's and reach at most `forget_max` test-forget accuracy; for UNSIR@A
# (`zeroed_head`) only retain is counted, since a zeroed head re-learnt on retain data
# without the class forgets by construction. (c) *Output metrics cannot tell head-only from
# full-network unlearning*: each of them is within `output_margin` points of the
# `full_network` rows' mean on both output test-forget and test-retain accuracy. This page
# reads no full-network baseline, so the reference is Retrain. Holds when (b) and (c) hold,
# partly when one does. A last-layer UNSIR@A whose output retain accuracy sat 15 points below
# Retrain's would have failed it.
#
# *Checks, shown and not counted* (true by construction): (a) some tried $c$ gives at most
# `forget_max` test-forget accuracy with retain within `analytic_retain_tol` points (the
# smallest $c$, 0.1 x the bound, nearly zeroes the row); the zeroed head's forgetting; probe
# and NCC test-forget accuracy within `feature_tol` points of the original's (the backbone is
# frozen). How tight our reconstruction of the bound is (the largest tried $c$ that keeps
# retain, the smallest that loses it, beside the original's NC2 / NC3) is a finding, not
# judged. Our last-layer RL starts from the original head, not a zeroed one (a deviation
# listed on the Fidelity page). The other head-only edits (zeroing the row, the NC flip,
# last-layer NegGrad+ with untuned settings) are shown, not counted.
#
# **Stronger reading (ours, not [A]'s claim).** (a) *every* $c$ below the reconstructed bound
# keeps retain within `analytic_retain_tol` points and some $c$ above loses more; (b) *every*
# head-only method reaches at most `forget_max` test-forget accuracy with retain within
# `retain_drop_max` points and its probe and NCC within `feature_tol` points
# (`illusion.claims.classifier_only_stronger`).

# %%
criterion = claims.ClassifierOnly()
stronger = claims.ClassifierOnlyStronger()
display(criterion, stronger)

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from illusion.book.numbers import glue  # myst_nb.glue, recorded for the build's results

from illusion import book
from illusion.rows import frame
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
sweep_cells = page.per_cell(lambda s, f: frame(page.extra("flip_curve", "original", s, f)["table"]))
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
# The analytic flip: output accuracy against $c$ relative to the reconstructed bound
# $(K-1)\alpha$ (dashed), mean over the grid's cells (band: ±1 standard deviation when there
# are several); dotted: the original's retained accuracy. Under exact neural collapse the
# retained curve would stay on the dotted line up to the bound and fall after it; where it
# falls on these features is measured, not assumed: {glue:text}`c4_tightness`
# ```
#
# The table gives the means over the {glue:text}`c4_cells` (seed, forget set) cell(s) plotted in
# {numref}`fig-flip-bound`.

# %% [markdown]
# ## Empirical classifier-only unlearning

# %% tags=["hide-input"]
grid = page.table()  # the rows this page declares (illusion.book.PAGES), every cell
cols = ["output_test_retain", "output_test_forget", "probe_test_forget", "ncc_test_forget",
        "nc2_all", "nc3_all",
        "cka_test"]
table = book.means(grid, cols)  # mean (and std over the grid's cells) per method
readable(table.set_index("method")[[*cols, "n"]])  # n: the cells a method ran in

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
# method. Dashed, in each readout's colour: Retrain. The backbone is frozen, so probe and NCC
# read the original's features; how far each method's output bar drops is its own.
# ```
#
# {numref}`fig-classifier-only` shows, per method, whether the output bar drops (the output
# success (b) asks of last-layer RL) and reads as Retrain's dashed line ((c)), while the probe
# and NCC bars stay at the original's. Cell by cell ({numref}`fig-classifier-only-spread`),
# the probe's change against the original model of the same cell:

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
# Against `criterion` (the paper's statement) and `stronger` (ours), stated at the top of the
# page ({numref}`fig-flip-bound`, {numref}`fig-classifier-only`), in every (seed, forget set)
# cell and on the means over them: per method on the means, then each reading's verdict in
# each cell.

# %% tags=["hide-input"]
def c4_inputs(seed, forget):
    """The analytic sweep, the original's retained accuracy and the per-method table of one
    cell, or their means over the cells (seed and forget None)."""
    if seed is None:  # the methods of every cell (the others: the first cell's verdict)
        return {"flip": sweep, "original_retain": orig_retain,
                "table": book.means(book.in_every_cell(grid), cols),
                "originals": "original" + ("s" if len({s for s, _ in cells}) > 1 else "")}
    flip = sweep_cells[(sweep_cells["seed"] == seed) & (sweep_cells["forget"] == forget)]
    rows = grid[(grid["seed"] == seed) & (grid["forget"] == forget)]
    return {"flip": flip, "original_retain": float(flip["original test retain"].mean()),
            "table": rows[["method", *cols]], "originals": "original"}


def tightness(v) -> str:
    """The finding (a) reports: where retained accuracy is lost against the bound."""
    kept, lost = v.values["largest_kept"], v.values["smallest_lost"]
    nc = f" (the original's NC2 / NC3: {v.values['nc2_all']:.3f} / {v.values['nc3_all']:.3f})"
    if kept != kept:
        return "no tried c keeps retained accuracy within the tolerance" + nc + "."
    return (f"retained accuracy stays within {criterion.analytic_retain_tol:g} points up to "
            f"c = {kept:g} x the bound" + (f" and is lost from {lost:g} x" if lost == lost
                                              else " and at every tried c") + nc + ".")


# %%
verdicts = {name: book.judge_cells(lambda fn=fn, c=c, **k: fn(criterion=c, **k),
                                   [(s, ForgetSet(f)) for s, f in cells], c4_inputs)
            for name, fn, c in (("c4", claims.classifier_only, criterion),
                                ("c4_strong", claims.classifier_only_stronger, stronger))}
verdict_c4, strong_c4 = verdicts["c4"], verdicts["c4_strong"]
for name, v in verdicts.items():
    glue(f"verdict_{name}", v.text, display=False)
    glue(f"{name}_k_of_n", v.values["k_of_n"], display=False)
    book.publish(name, v, profile=profile)
glue("c4_tightness", tightness(verdict_c4), display=False)
readable(verdict_c4.details)

# %%
pd.concat({v.reading: v.values["cells"] for v in verdicts.values()}, names=["reading"])

# %% [markdown]
# **Verdict (C4, the paper's statement):** {glue:text}`verdict_c4`
#
# **Stronger reading (ours), every $c$ below the bound and every head-only edit:**
# {glue:text}`verdict_c4_strong`


# %% [markdown]
# ## How robust the verdict is
#
# The headline re-judged on this page's cached tables with each constant of its criterion
# moved over a range, the others kept at their stated values (`illusion.book.sensitivity`;
# nothing is trained or read again). The dotted line marks the stated value. Where the
# status changes: {glue:text}`c4_flips`

# %% tags=["hide-input"]
from illusion.plotting import sensitivity_figure

def rejudge(c):  # the page's headline verdict under criterion c
    return book.judge_cells(lambda **k: claims.classifier_only(criterion=c, **k),
                            [(s, ForgetSet(f)) for s, f in cells], c4_inputs)


ranges = {"forget_max": [1, 2, 3, 7.5, 10, 15], "retain_drop_max": [1, 2, 3, 7.5, 10, 15],
          "output_margin": [1, 2, 3, 7.5, 10, 15]}
robust = book.sensitivity(rejudge, criterion, ranges)
glue("c4_flips", book.flips(robust), display=False)
fig = sensitivity_figure(robust)
glue("fig_c4_sensitivity", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fig_c4_sensitivity
# :name: fig-c4-sensitivity
#
# C4's headline status as each constant moves (the stated value dotted).
# ```
