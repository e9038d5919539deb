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
# # The illusion: probes recover the forgotten class (C2)
#
# Output accuracy only reads the last layer. {cite:t}`gao2026illusion` read the *features*
# instead: a linear probe trained on the frozen penultimate features of the whole training set
# (forgotten classes included, true labels), and the nearest-class-mean (NCC) rule with class
# means from the same features. If a method only hid the class at the output, both readouts
# still recover it. The reference is Retrain, never 0: even a model that never saw the class
# has features from which a probe trained *on that class* recovers part of it.

# %% tags=["parameters"]
profile = "cpu"
dataset = None
seed = None         # one seed / one forget set, or None: the profile's grid
forget = None       # (cpu: five cells, illusion.profiles.CPU_CELLS; paper: [A]'s grid x 3 seeds)
forget_sets = None  # several forget sets / seeds at once (override seed / forget)
seeds = None
pca_method = "random_label"

# %% [markdown]
# ## Criterion (revised on 2026-12-01, 2026-12-02 and 2026-12-05, after cpu verdicts; see below)
#
# Judged for the linear probe and for NCC **separately**. A method shows *the illusion*
# through a readout when (i) its output test-forget accuracy is at most `forget_max` (it looks
# forgotten), (ii) the readout's test-forget accuracy is at least `retrain_margin` points above
# Retrain's and (iii) at most `original_tolerance` points below the original's — the claim's
# "close to the original". The tolerance is one-sided: a readout above the original's recovers
# the class at least as well as before unlearning. [A] reports the illusion for RL and SalUn
# (`key_methods`); the claim holds through a readout when both show it through that readout,
# and the verdict says through which: probe, NCC, both or neither. A missing method or value
# leaves its part "not decided" (`illusion.claims.illusion`; its docstring gives the reasons
# for the 5-point tolerance).
#
# A readout can show the illusion only where it separates the original from Retrain: when the
# original's test-forget accuracy through it is less than `retrain_margin` points above
# Retrain's, what it recovers cannot be told apart from what Retrain recovers, so (ii) and
# (iii) decide nothing and that readout is "not decided" in that cell, unless the method does
# not look forgotten at the output (i).
#
# The gap to Retrain in (ii) is measured on a thousand or so test images, so it carries a 95%
# bootstrap interval over those images, paired with Retrain's on the same images
# (`illusion.stats`): (ii) is met only when the **whole interval** clears the margin. The
# probe is itself trained, so it is fitted three times per model, each fit with its own seed
# (`illusion.evaluation.PROBE_FITS`): its accuracy is the fits' mean, and each resample of the
# interval also redraws each side's fits, so the interval carries the probe's training noise
# as well as the images'. The claim is judged in every (seed, forget set) cell of the grid and
# on the means over them (`illusion.book.judge`); the headline holds only when it holds on the
# means and in at least 4 of 5 cells (`illusion.claims.HEADLINE_RULE`), and the means'
# interval resamples the cells, then each cell's images and fits. A result that would fail
# it: RL's and SalUn's probe and NCC test-forget accuracy within a few points of Retrain's, as
# a method that really erased the class would read.
#
# **History.** The page's first criterion (2026-11-22) asked only (i) and a probe *or* NCC
# gap of `retrain_margin` to Retrain. After the page had given cpu verdicts it was revised
# three times: on 2026-12-01 each readout was judged on its own and (iii) added, to test the
# claim's "close to the original"; on 2026-12-02 a gap had to clear with its whole interval,
# since it rests on about a thousand test images; on 2026-12-05 (issue 25) a readout that
# does not separate the original from Retrain became "not decided" and the probe got its
# three fits, so that neither such a readout nor one fit's noise decides C2. `forget_max` and
# `retrain_margin` have not changed.

# %%
from illusion import claims

criterion = claims.Illusion()
criterion

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import seaborn as sns
from illusion.book.numbers import glue  # myst_nb.glue, recorded for the build's results

from illusion import book
from illusion.gaps import gap_means
from illusion.catalog import method_label
from illusion.plotting import (feature_pca, figure, gap_intervals, method_palette, readable,
                               readout_bars, set_theme)

set_theme()
page = book.page("C2", profile, dataset, seed, forget, forget_sets, seeds)
grid = page.table()  # the rows this page declares (illusion.book.PAGES), every cell
n_cells = len(page.cells)
cols = ["output_test_forget", "probe_test_forget", "ncc_test_forget", "knn_test_forget",
        "probe_test_retain"]
table = book.means(grid, cols)  # mean (and std over the grid's cells) per method
methods = [m for m in page.labels if m not in ("original", "retrain")]
gaps = page.gaps(methods)  # each readout vs Retrain, per cell, with its interval
glue("c2_cells", str(n_cells), display=False)
readable(table.set_index("method")[[*cols, "n"]])

# %% [markdown]
# Mean test accuracy (%) per method over the {glue:text}`c2_cells` (seed, forget set) cell(s)
# of this build's grid: output, linear probe, nearest class mean, 5-NN (cosine) on the
# forgotten class(es), and the probe on the retained classes; `n`: the cells a method ran in
# (one for the other baselines, which only the cell shown in detail runs).

# %% tags=["hide-input"]
fig = readout_bars(grid, {"output_test_forget": "output", "probe_test_forget": "linear probe",
                          "ncc_test_forget": "nearest class mean"})
glue("fig_probe_recovery", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fig_probe_recovery
# :name: fig-probe-recovery
#
# Test-forget accuracy read three ways (mean over the grid's cells; whiskers: ±1 standard
# deviation when there are several), one group of bars per method. Dashed, in each readout's
# colour: Retrain. Probe or NCC bars above their dashed line mean the features still separate
# the forgotten class better than a model that never learnt it.
# ```
#
# ## The gaps to Retrain, with their uncertainty
#
# {numref}`fig-probe-gaps` shows what criterion (ii) reads: each method's probe and NCC
# accuracy on the forgotten class minus Retrain's, with the 95% interval of resampling the
# test images, per cell (and, with several cells, for their mean). Retrain's probe accuracy,
# which anchors every gap, is the mean of its three fits, and the intervals redraw the fits.
# Beside the gaps, the spread of Retrain's probe over its fits on the forgotten class: a
# standard deviation of {glue:text}`c2_retrain_probe_sd` points over the cells' fits (largest
# in one cell: {glue:text}`c2_retrain_probe_sd_max`). The probe's training ends on a cosine
# schedule, its last epoch kept; under [A]'s rule (the first best held-out epoch) that spread
# was about 7 points on the cpu Retrain ({doc}`Fidelity page <10_fidelity>`, the linear
# probe, under Evaluation).

# %% tags=["hide-input"]
retrain_sd = grid.loc[grid["method"] == "retrain", "probe_test_forget_sd"]
glue("c2_retrain_probe_sd", f"{retrain_sd.mean():.1f}", display=False, unit="points")
glue("c2_retrain_probe_sd_max", f"{retrain_sd.max():.1f}", display=False, unit="points")
fig = gap_intervals(gaps, gap_means(gaps), margin=criterion.retrain_margin)
glue("fig_probe_gaps", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fig_probe_gaps
# :name: fig-probe-gaps
#
# Test-forget accuracy minus Retrain's (points), through the linear probe and NCC: a dot and
# its 95% bootstrap interval per (seed, forget set) cell (black diamond: the mean over the
# cells). Dashed: no gap; dotted: the criterion's margin. A method meets (ii) through a
# readout when its whole interval lies right of the dotted line.
# ```
#
# ## Spread over forget sets and seeds
#
# Each point of {numref}`fig-probe-spread` is one (seed, forget set) cell: how much the probe's
# recovery of the forgotten class varies with the class forgotten and the seed. The `cpu`
# profile's grid has five cells (`illusion.profiles.CPU_CELLS`); `forget_sets` and `seeds`
# choose others (the `paper` profile runs [A]'s grid).

# %% tags=["hide-input"]
spread = grid.assign(label=grid["method"].map(method_label))
fig, ax = figure(3.4)
sns.stripplot(data=spread, x="label", y="probe_test_forget", hue="label",
              palette=method_palette(), size=6, jitter=0.15, legend=False, ax=ax)
sns.pointplot(data=spread, x="label", y="probe_test_forget", color="0.2", markers="_",
              errorbar=None, linestyles="none", ax=ax)
ax.set(xlabel="", ylabel="probe test-forget accuracy (%)", ylim=(0, 100))
ax.tick_params(axis="x", rotation=30)
fig.tight_layout()
glue("fig_probe_spread", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fig_probe_spread
# :name: fig-probe-spread
#
# Linear-probe accuracy on the forgotten class(es), one point per (seed, forget set) cell, the
# bar at the mean. Methods whose points sit above Retrain's hide the class rather than remove it.
# ```

# %% [markdown]
# ## What the features look like
#
# The first two principal components of the penultimate test features (fitted on the original
# model's features and applied to every model), forgotten class highlighted
# ({numref}`fig-feature-pca`; the first cell of the grid).

# %% tags=["hide-input"]
samples = {k: page.extra("feature_sample", k) for k in ["original", "retrain", pca_method]}
fig = feature_pca({method_label(k): v for k, v in samples.items()}, page.first[1])
glue("fig_feature_pca", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fig_feature_pca
# :name: fig-feature-pca
#
# Penultimate test features projected on the original model's first two principal components;
# the forgotten class in colour, the others grey. A forget cluster that stays compact after
# unlearning is what the probe and NCC read out.
# ```
#
# ## Verdict
#
# Against `criterion`, stated at the top of the page ({numref}`fig-probe-recovery`,
# {numref}`fig-probe-gaps`), in every cell and on the means. For each method and readout, on
# the means: the gap to Retrain and the lower end of its interval (at least
# `retrain_margin`), the gap to the original (at least minus `original_tolerance`) and the
# readouts through which it shows the illusion. Below it, the verdict of each cell.

# %%
verdict_c2 = book.judge(grid, cols, lambda t: claims.illusion(t, criterion), gaps)
glue("verdict_c2", verdict_c2.text, display=False)
glue("c2_k_of_n", verdict_c2.values["k_of_n"], display=False)
book.publish("c2", verdict_c2, book.means_interval(gaps, "random_label", "probe",
                                                  "RL probe − Retrain (points)"),
             profile=profile)  # for the summary page (illusion.book.results)
readable(verdict_c2.details[
    ["output_test_forget", "probe_vs_retrain", "probe_vs_retrain_low", "probe_vs_original",
     "ncc_vs_retrain", "ncc_vs_retrain_low", "ncc_vs_original", "illusion_via"]])

# %%
verdict_c2.values["cells"]

# %% [markdown]
# **Verdict (C2):** {glue:text}`verdict_c2`


# %% [markdown]
# ## Run to run
#
# In the cell shown in detail, [A]'s five baselines were each unlearned three times from the same original:
# run 0, the row every table above shows, and two more with their own batch order,
# augmentation and random labels (`illusion.book.RUN_SEEDS`). The spread below is how far a
# rerun of the same method moves; that cell's gap intervals above include it (its gap is the
# runs' mean, its interval a bootstrap over the runs, then over each run's images and probe
# fits: `illusion.book.PageReader.gaps`).

# %% tags=["hide-input"]
from illusion.catalog import A_BASELINES

run_spread = page.run_spread(list(A_BASELINES),
                              ["output_test_forget", "probe_test_forget", "ncc_test_forget"])
glue("c2_run_sd", f"{run_spread.filter(like=' sd').max().max():.1f}", display=False,
     unit="points")
readable(run_spread.set_index("method"))

# %% [markdown]
# The largest standard deviation over the runs above is {glue:text}`c2_run_sd` points.

# %% [markdown]
# ## How robust the verdict is
#
# The headline re-judged on this page's cached tables with each constant of its criterion
# moved over a range, the others kept at their stated values (`illusion.book.sensitivity`;
# nothing is trained or read again). The dotted line marks the stated value. Where the
# status changes: {glue:text}`c2_flips`

# %% tags=["hide-input"]
from illusion.plotting import sensitivity_figure

def rejudge(c):  # the page's headline verdict under criterion c
    return book.judge(grid, cols, lambda t: claims.illusion(t, c), gaps)


ranges = {"forget_max": [1, 2, 3, 7.5, 10, 15], "retrain_margin": [1, 2, 3, 7.5, 10, 15],
          "original_tolerance": [1, 2, 3, 7.5, 10, 15]}
robust = book.sensitivity(rejudge, criterion, ranges)
glue("c2_flips", book.flips(robust), display=False)
fig = sensitivity_figure(robust)
glue("fig_c2_sensitivity", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fig_c2_sensitivity
# :name: fig-c2-sensitivity
#
# C2's headline status as each constant moves (the stated value dotted).
# ```
