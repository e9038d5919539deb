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
# # The relearning attack: fine-tuning brings the class back (C5)
#
# {cite:t}`gao2026illusion` open with a vulnerability: after "successful" unlearning, a little
# fine-tuning is enough for the erased class to come back. If the class were really gone, a
# model would have to learn it again from the few examples it is shown, as a model that never
# saw it does. So the reference is Retrain: an honest unlearning method relearns **no faster
# than Retrain**.
#
# The attack (`illusion.attacks.relearn`) fine-tunes a *copy* of each model for a few
# SGD steps on a small labelled sample of the forget class's training images (a fraction of
# them), mixed with retain images at the natural class balance (9 retain images per forget
# image for one forgotten class out of ten), with batch-norm statistics frozen. Forget
# accuracy is read on held-out test images every few steps. A control run fine-tunes on the
# retain images alone.
#
# Every attack runs on each (seed, forget set) cell of the grid; curves and summaries use the
# means over the cells, and the verdict is given on the means and in each cell. The mixing ratio is
# the same in every cell (`retain_ratio` retain images per forget image), so for a multi-class
# forget set it is richer in forget images than the natural balance; the attack, and Retrain's
# reference curve, stay identical across cells.

# %% tags=["parameters"]
profile = "cpu"
dataset = None
seed = None         # one seed / one forget set, or None: the profile's grid
forget = None       # (cpu: five cells, illusion.profiles.CPU_CELLS; paper: [A]'s grid x 3 seeds)
forget_sets = None  # several forget sets / seeds at once (override seed / forget)
seeds = None
fractions = [0.01, 0.05, 0.1]
retain_ratio = 9.0
steps = 50
eval_every = 10
lr = 1e-3
retain_only_control = True
margin = 10.0

# %% [markdown]
# ## Criterion, fixed before any result
#
# Judged in every (seed, forget set) cell and on the means over the cells
# (`illusion.book.judge_cells`). Only methods that forgot at the output (forget
# accuracy before the attack within `margin` points of Retrain's) are judged; the others had
# nothing to relearn and are listed apart. A judged method *relearns faster than Retrain*
# when, in every attack that shows forget images, its forget accuracy averaged over the
# evaluated steps exceeds Retrain's by more than `margin` points. The claim is about [A]'s
# standard unlearning methods (`counted`): it holds when more than half of the judged ones
# relearn faster than Retrain. EC and the +CMF variant are judged the same way and shown, not
# counted. The retain-only control (`control_attack`) is reported, not judged
# (`illusion.claims.relearning`).

# %%
from illusion import claims

criterion = claims.Relearning(margin=margin)
criterion

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
from myst_nb import glue

from illusion import book
from illusion.attacks import default_attacks, relearn_tables
from illusion.experiments import lead_means, relearn_leads
from illusion.plotting import gap_intervals, method_lines, readable, set_theme

set_theme()
page = book.page("C5", profile, dataset, seed, forget, forget_sets, seeds)

# %% tags=["hide-input"]
names = page.labels[1:]  # the declared models, Retrain first (not the original)
configs = default_attacks(fractions, retain_ratio, steps, eval_every, lr, retain_only_control)


def cell_tables(s, f):  # curves, summary and the leads' intervals of one cell
    models = page.models(names, s, f)
    return {**relearn_tables(models, configs, s, page.cache),
            "leads": relearn_leads(models, configs, s, page.cache)}


stack = page.per_cell(cell_tables)
curves, per_cell, leads = stack["curves"], stack["summary"], stack["leads"]
summary = per_cell.groupby(["method", "attack"], sort=False, as_index=False)[
    ["start", "mean", "steps_to_50", "final_retain", "gap"]].mean()  # means over the cells


def with_interval(table, lead):  # the lead's interval as gap_low / gap_high columns
    ends = lead.drop(columns=["gap", "interval", "cells", "n_forget"], errors="ignore")
    ends = ends.rename(columns={"low": "gap_low", "high": "gap_high"})
    return table.merge(ends, on=[k for k in ("seed", "forget", "method", "attack")
                                 if k in table.columns and k in ends.columns], how="left")


per_cell = with_interval(per_cell, leads)
summary = with_interval(summary, lead_means(leads))
glue("c5_cells", str(len(page.cells)), display=False)
readable(summary.set_index(["method", "attack"]))

# %% [markdown]
# Per method and attack, means over the {glue:text}`c5_cells` (seed, forget set) cell(s) of
# this build's grid: forget accuracy (%) before the attack (`start`), averaged over the
# evaluated steps (`mean`), the first step reaching 50% (mean over the cells that reach it),
# retain accuracy after the last step, and `gap`, the lead of `mean` over Retrain's, with its
# 95% bootstrap interval over the forget-class test images the curves are read on
# (`gap_low`, `gap_high`; paired, every model of a cell on the same resampled images,
# `illusion.experiments.relearn_leads`; on the means, the cells' resamples averaged).

# %% tags=["hide-input"]
fig = method_lines(curves, x="step", y="forget_acc", col="attack",
                   ylabel="test forget accuracy (%)", ylim=(-3, 103))
glue("fig_relearning", fig, display=False)
plt.close(fig)
fig = method_lines(curves, x="step", y="retain_acc", col="attack",
                   ylabel="test retain accuracy (%)", ylim=(-3, 103))
glue("fig_relearning_retain", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fig_relearning
# :name: fig-relearning
#
# Forget accuracy (test images of the forgotten class) while a copy of each model is
# fine-tuned on a small labelled sample; one panel per attack, mean over the grid's cells (band
# ±1 standard deviation when there are several). Retrain (dashed grey) is the model that never
# saw the class: a curve above it relearns faster than learning from scratch would allow.
# ```
#
# ```{glue:figure} fig_relearning_retain
# :name: fig-relearning-retain
#
# Retain accuracy during the same attacks: the attack is mild enough to keep the retained
# classes (a collapse here would make any forget accuracy meaningless).
# ```
#
# {numref}`fig-relearning` shows the attack on the forgotten class and
# {numref}`fig-relearning-retain` checks that it leaves the retained classes alone.
#
# ## Leads over Retrain, cell by cell
#
# {numref}`fig-relearning-leads` shows each method's lead over Retrain in every attack with
# forget images: one point and 95% interval per (seed, forget set) cell, and the mean over
# the cells with its interval.

# %% tags=["hide-input"]
shown = leads[leads["attack"] != criterion.control_attack]
fig = gap_intervals(shown, lead_means(shown), margin=margin, panel="attack",
                    xlabel="forget-accuracy lead over Retrain (points)")
glue("fig_relearning_leads", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fig_relearning_leads
# :name: fig-relearning-leads
#
# Forget accuracy averaged over the evaluated steps, minus Retrain's, one panel per attack:
# a coloured dot and 95% bootstrap interval (over the forget-class test images) per (seed,
# forget set) cell, a black diamond for the mean over the cells when there are several;
# dashed: no lead, dotted: the `margin` of the verdict. A method relearns faster than Retrain
# in a cell when its whole interval lies right of the dotted line in every panel.
# ```
#
# ## Verdict
#
# Against `criterion`, stated at the top of the page ({numref}`fig-relearning`): per method
# on the means, then the verdict of each cell.

# %%
means_c5 = claims.relearning(summary, criterion)  # on the means over the cells
c5_control, _ = claims.relearning_control(summary, means_c5, criterion)
verdict_c5 = book.judge_cells(
    lambda summary: claims.relearning(summary, criterion),
    list(dict.fromkeys(zip(per_cell["seed"], per_cell["forget"]))),
    lambda s, f: {"summary": summary if s is None else per_cell[
        (per_cell["seed"] == s) & (per_cell["forget"] == f)]})
glue("verdict_c5", verdict_c5.text, display=False)
glue("c5_k_of_n", verdict_c5.values["k_of_n"], display=False)
glue("c5_control", c5_control, display=False)
attacks = summary[summary["attack"] != criterion.control_attack]
display(readable(verdict_c5.details))
display(readable(attacks.set_index(["method", "attack"])[
    ["start", "mean", "gap", "gap_low", "gap_high", "final_retain"]]))
verdict_c5.values["cells"]

# %% [markdown]
# **Verdict (C5):** {glue:text}`verdict_c5`
#
# **Control:** {glue:text}`c5_control`
