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
# # A classifier that cannot be misaligned: CMF unlearning (C6)
#
# {cite:t}`gao2026illusion` place the illusion of the previous pages in the last layer: a
# method can rotate the forget row away from features that stay discriminative (that they
# also barely move is only C3's stronger reading, not [A]'s claim; in this book's `cpu` build
# the forget class's features do move: see that reading's verdict on the
# {doc}`C3 page <04_misalignment>`). [A] remove that escape. Their class-mean-feature (CMF)
# classifier has no trainable last layer: with $z = f/\lVert f\rVert$ the normalised
# features, $m_c$ the mean of $z$ over the training images of class $c$ (true labels,
# forgotten classes included) and $\mu$ the mean over all of them, the class scores are
# cosines
#
# $$\ell_c(x) = T\,\hat z^\top w_c,\qquad \hat z = \frac{z-\mu}{\lVert z-\mu\rVert},\qquad
#   w_c = \frac{m_c-\mu}{\lVert m_c-\mu\rVert},\qquad T = 1 .$$
#
# The rows follow the class means, so the forget class stops winning only if its features
# actually move. [A]'s recipe: replace the head of the trained original by CMF and fine-tune the
# whole network one epoch (the *CMF original*); then, each unlearning epoch, freeze $W$ at the
# current class means, apply a method's loss to the CMF logits (encoder parameters only) and
# recompute $W$ with true labels. They report that SCRUB+CMF and UNSIR+CMF push the probe and the
# nearest-class-mean (NCC) forget accuracy *below Retrain* with retain accuracy within a few
# points, while RL+CMF and SalUn+CMF forget little. For CMF models the probe and NCC read
# $\hat z$, the head's input. Every model is built and read for each (seed, forget set) cell
# of the grid; tables, bars and the verdicts use the means over the cells.
#
# Each +CMF method runs at [A]'s learning rates (rows marked `@A`, from [A]'s released
# scripts) in every cell: they give **the claim's verdict**. An **ablation** runs each +CMF
# method at the profile's learning rates (`methods/hparams.toml`; on `cpu` tuned on the
# validation split by a rule fixed before the runs, on a grid starting at [A]'s value, with the
# choice kept one step away from a collapse of retain accuracy) in the cell shown in detail.
# Those learning rates are well above [A]'s (the table below), so a larger step and CMF
# change together: the ablation compares each +CMF method with its **base method at the same
# learning rates** (rows marked `@CMF-LR`), which separates the two. On the `paper` profile the ablation's
# learning rates are [A]'s.

# %% tags=["parameters"]
profile = "cpu"
dataset = None
seed = None         # one seed / one forget set, or None: the profile's grid
forget = None       # (cpu: five cells, illusion.profiles.CPU_CELLS; paper: [A]'s grid x 3 seeds)
forget_sets = None  # several forget sets / seeds at once (override seed / forget)
seeds = None
methods = ["random_label", "salun", "neggrad_plus", "scrub", "unsir"]  # base methods shown

# %% [markdown]
# ## Criterion (revised on 2026-12-02, 2026-12-05 and 2026-12-06, after cpu verdicts; see below)
#
# For each base method, *CMF moves forgetting into the representation* when its probe
# test-forget accuracy with CMF (`counted_readouts`) lies at least `margin` points below the
# same readout without CMF and — for SCRUB and UNSIR (`below_retrain`), where [A] reports it —
# also below Retrain's. NCC is shown, not counted: a CMF model's head is its class means, so
# NCC on its features is (nearly) the head's own prediction, forgetting at the output rather
# than in the representation (until 2026-12-06 the probe **or** NCC counted). The headline
# compares each +CMF@A row, run at [A]'s learning rates, with its base method at the profile's
# tuned ones, so its change mixes CMF with a change of learning rate; the ablation below
# compares at equal learning rates, and the verdict's text says which it is. A result that
# would fail the headline: SCRUB+CMF@A and UNSIR+CMF@A whose NCC falls below Retrain's while
# their probe stays at their base method's. Both gaps are measured on the same test images, so each carries a 95% bootstrap
# interval over them (`illusion.stats`), and a gap counts only when its **whole interval**
# clears: the change at most `-margin`, the gap to Retrain below 0. The claim holds when
# SCRUB+CMF and UNSIR+CMF both pass with output test-retain accuracy within `retain_drop_max`
# points of the original's; a missing model or value leaves it "not decided". [A]'s other
# observation, that RL+CMF and SalUn+CMF (`little`) forget little, is checked as output
# test-forget accuracy of at least `little_min`. A change measured against a base model that
# lost more than `retain_drop_max` points of retain accuracy decides nothing (a collapsed
# network forgets everything through every readout, so it is no base to compare with): that
# method is "not decided". The same criterion is applied to both sets of learning rates
# (`illusion.claims.cmf_representation`), in every (seed, forget set) cell of the grid and on
# the means over them (`illusion.book.judge`).
#
# **History.** `margin`, `retain_drop_max` and `little_min` date from the page's first
# version (2026-11-23). After the page had given cpu verdicts the criterion was revised: on
# 2026-12-02 a gap had to clear with its whole interval, since it rests on about a thousand
# test images; on 2026-12-05 (issue 25) the headline moved from the profile's tuned learning
# rates, which change step size and CMF together, to [A]'s, and, once the ablation's new
# same-rate control showed plain SCRUB collapsing at SCRUB+CMF's tuned rate, a change measured
# against a base model that lost retain accuracy was made to decide nothing (it turns a "does
# not" into "not decided", never into a pass).

# %%
from illusion import claims

criterion = claims.CMFRepresentation()
criterion

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import pandas as pd
from illusion.book.numbers import glue  # myst_nb.glue, recorded for the build's results

from illusion import book
from illusion.methods import hparams_for
from illusion.catalog import ForgetSet, method_label
from illusion.plotting import cell_spread, feature_pca, readable, readout_bars, set_theme

set_theme()
page = book.page("C6", profile, dataset, seed, forget, forget_sets, seeds)

# %% tags=["hide-input"]
seed, forget = page.first  # the cell shown in detail below
grid = page.table()  # the rows this page declares (illusion.book.PAGES), every cell
n_cells = len(page.cells)
readouts = {"output": "output", "probe": "linear probe", "ncc": "nearest class mean"}
cols = [f"{r}_test_{s}" for r in readouts for s in ("retain", "forget")]
t = book.means(grid, cols).set_index("method")  # mean (and std over the cells) per method
glue("c6_cells", str(n_cells), display=False)

# %% [markdown]
# ## The CMF original against the linear-head original
#
# Same encoder up to one epoch of fine-tuning; output, probe and NCC accuracy on the test images
# of the retained and of the forgotten class(es), before any unlearning, in the cell shown in
# detail (the CMF original's own row runs there only: no headline reads it).

# %% tags=["hide-input"]
in_first = (grid["seed"] == page.first[0]) & (grid["forget"] == ForgetSet(page.first[1]))
readable(grid[in_first].set_index("method").loc[["original", "cmf_original"], cols])

# %% [markdown]
# ## Forgetting with and without CMF
#
# Test-forget accuracy of each base method with its linear head and with CMF at [A]'s
# learning rates (`@A`), beside Retrain ({numref}`fig-cmf-forget`). The learning rates, [A]'s
# and the profile's (the ablation's, below):

# %% tags=["hide-input"]
readable(pd.concat({(n, method_label(f"{m}+cmf")): pd.Series(
    {**{("profile", k): hparams_for(f"{m}+cmf", profile, n).get(k) for k in hp},
     **{("[A]", k): v for k, v in hp.items()}})
    for n in sorted({len(f) for _, f in page.cells}) for m in methods
    for hp in [book.ENTRIES[f"{m}+cmf@A"].overrides(profile, n, dataset)]},
    names=["forget classes", "method"]).unstack([-2, -1]))

# %% tags=["hide-input"]
order = ["retrain"] + [n for m in methods for n in (m, f"{m}+cmf@A")]  # in every cell
ordered = grid[grid["method"].isin(order)].sort_values(
    "method", key=lambda col: col.map(order.index), kind="stable")
forget_cols = {f"{r}_test_forget": label for r, label in readouts.items()}
fig = readout_bars(ordered, forget_cols)
glue("fig_cmf_forget", fig, display=False)
plt.close(fig)
readable(t.loc[order, list(forget_cols)])

# %% [markdown]
# ```{glue:figure} fig_cmf_forget
# :name: fig-cmf-forget
#
# Test-forget accuracy read three ways (mean over the grid's cells, whiskers ±1 standard
# deviation when there are several), one group of bars per model: each base method, then its
# CMF variant at [A]'s learning rates (`@A`). Dashed, in each readout's
# colour: Retrain. With CMF the output and NCC readouts nearly coincide by construction: the
# head *is* a nearest-centred-mean rule.
# ```
#
# Retained classes: test accuracy of the same models (the original and the CMF original for
# reference).

# %% tags=["hide-input"]
retain_cols = {f"{r}_test_retain": label for r, label in readouts.items()}
readable(t.loc[["original", "cmf_original", *order], list(retain_cols)])

# %% [markdown]
# ## Spread over forget sets and seeds
#
# The nearest-class-mean readout of the forgotten class(es), one point per (seed, forget set)
# cell ({numref}`fig-cmf-spread`): whether the effect of CMF depends on the class forgotten and
# the seed, over the grid's cells (five on the `cpu` profile; `forget_sets` and `seeds` choose
# others).

# %% tags=["hide-input"]
fig = cell_spread(ordered, "ncc_test_forget", "NCC test-forget accuracy (%)")
glue("fig_cmf_spread", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fig_cmf_spread
# :name: fig-cmf-spread
#
# Nearest-class-mean test-forget accuracy of Retrain and of each base method with and without
# CMF, one point per (seed, forget set) cell, the bar at the mean. A CMF variant whose points
# sit below its base method's and below Retrain's in every cell removed the class from the
# features, not just from the output.
# ```
#
# ## What the CMF features look like
#
# The CMF features $\hat z$ of the test images for the first cell of the grid, projected on
# the first two principal components of the CMF original's, forgotten class in colour
# ({numref}`fig-cmf-pca`). A forget cluster that stays compact keeps winning under CMF; one
# that dissolves into the others is forgotten in the representation.

# %% tags=["hide-input"]
shown = {k: page.extra("feature_sample", k)
         for k in ["cmf_original", "random_label+cmf@A", "scrub+cmf@A", "unsir+cmf@A"]}
fig = feature_pca({method_label(k): v for k, v in shown.items()}, forget)
glue("fig_cmf_pca", fig, display=False)
plt.close(fig)
glue("c6_detail_cell", f"seed {seed}, forget set {ForgetSet(forget).braces}",
     display=False)

# %% [markdown]
# ```{glue:figure} fig_cmf_pca
# :name: fig-cmf-pca
#
# CMF test features $\hat z$ on the CMF original's first two principal components (one cell:
# {glue:text}`c6_detail_cell`); forgotten class red, retained classes grey. Clusters that
# dissolve under a CMF variant are the representation-level forgetting that
# {numref}`fig-cmf-forget` measures.
# ```
#
# ## Verdicts
#
# Against `criterion`, stated at the top of the page ({numref}`fig-cmf-forget`): at [A]'s
# learning rates (the claim's verdict), per base method on the means (with the upper ends of
# the gaps' intervals), then the verdict of each cell; then the ablation at the profile's
# learning rates, in the cell shown in detail, each +CMF method against its base method at
# the same learning rates.

# %%
def c6_verdict(table, gaps, variant, base, setting):
    return book.judge(table, cols, lambda t: claims.cmf_representation(
        t, methods, criterion, variant, setting, base), gaps)


headline_gaps = {"vs_base": pd.concat([page.gaps([f"{m}+cmf@A"], reference=m)
                                       for m in methods], ignore_index=True),
                 "vs_retrain": page.gaps([f"{m}+cmf@A" for m in methods])}
verdict_c6 = c6_verdict(grid, headline_gaps, "+cmf@A", "",
                        f"profile '{profile}', [A]'s learning rates")
# the ablation: the first cell, where its rows and their controls run
detail = grid[(grid["seed"] == seed) & (grid["forget"] == ForgetSet(forget))]
ablation_gaps = {
    "vs_base": pd.concat([page.gaps([f"{m}+cmf"], reference=f"{m}@cmf-lr") for m in methods],
                         ignore_index=True),
    "vs_retrain": page.gaps([f"{m}+cmf" for m in methods])}
verdict_c6_tuned = c6_verdict(detail, ablation_gaps, "+cmf", "@cmf-lr",
                              f"ablation: profile '{profile}', its learning rates, "
                              f"one cell")
for name, v in (("c6", verdict_c6), ("c6_tuned", verdict_c6_tuned)):
    glue(f"verdict_{name}", v.text, display=False)
    glue(f"{name}_k_of_n", v.values["k_of_n"], display=False)
    book.publish(name, v, book.means_interval(headline_gaps["vs_base"], "scrub+cmf@A", "probe",
                                              "SCRUB+CMF@A probe − SCRUB (points)")
                 if name == "c6" else None, profile=profile,
                 label="ablation: the profile's tuned learning rates, one cell")
readable(verdict_c6.details)

# %%
verdict_c6.values["cells"]

# %% [markdown]
# **Verdict (C6), [A]'s learning rates:** {glue:text}`verdict_c6`
#
# The ablation's models beside their controls, in the cell shown in detail
# ({glue:text}`c6_detail_cell`): each base method at its own learning rates, at the +CMF
# variant's (`@CMF-LR`), and the +CMF variant.

# %% tags=["hide-input"]
ablation_rows = [n for m in methods for n in (m, f"{m}@cmf-lr", f"{m}+cmf")]
readable(detail.set_index("method").loc[["retrain", *ablation_rows], cols])

# %%
readable(verdict_c6_tuned.details)

# %% [markdown]
# **Ablation (C6), the profile's learning rates, against the base methods at the same
# learning rates:** {glue:text}`verdict_c6_tuned`


# %% [markdown]
# ## Run to run
#
# In the cell shown in detail, [A]'s five baselines and their +CMF@A variants were each unlearned three times from the same original:
# run 0, the row every table above shows, and two more with their own batch order,
# augmentation and random labels (`illusion.book.RUN_SEEDS`). The spread below is how far a
# rerun of the same method moves; that cell's gap intervals above include it (its gap is the
# runs' mean, its interval a bootstrap over the runs, then over each run's images and probe
# fits: `illusion.book.PageReader.gaps`).

# %% tags=["hide-input"]
run_spread = page.run_spread([*methods, *(f"{m}+cmf@A" for m in methods)],
                              ["output_test_forget", "probe_test_forget", "ncc_test_forget"])
glue("c6_run_sd", f"{run_spread.filter(like=' sd').max().max():.1f}", display=False,
     unit="points")
readable(run_spread.set_index("method"))

# %% [markdown]
# The largest standard deviation over the runs above is {glue:text}`c6_run_sd` points.

# %% [markdown]
# ## How robust the verdict is
#
# The headline re-judged on this page's cached tables with each constant of its criterion
# moved over a range, the others kept at their stated values (`illusion.book.sensitivity`;
# nothing is trained or read again). The dotted line marks the stated value. Where the
# status changes: {glue:text}`c6_flips`

# %% tags=["hide-input"]
from illusion.plotting import sensitivity_figure

def rejudge(c):  # the page's headline verdict under criterion c
    return book.judge(grid, cols, lambda t: claims.cmf_representation(
        t, methods, c, "+cmf@A", f"profile '{profile}', [A]'s learning rates", ""),
        headline_gaps)


ranges = {"margin": [0.25, 0.5, 2, 5, 10], "retain_drop_max": [1, 2, 3, 7.5, 10, 15],
          "little_min": [25, 35, 65, 75]}
robust = book.sensitivity(rejudge, criterion, ranges)
glue("c6_flips", book.flips(robust), display=False)
fig = sensitivity_figure(robust)
glue("fig_c6_sensitivity", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fig_c6_sensitivity
# :name: fig-c6-sensitivity
#
# C6's headline status as each constant moves (the stated value dotted).
# ```
