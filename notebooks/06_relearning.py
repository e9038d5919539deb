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
# the same in every cell (9 retain images per forget image), so for a multi-class forget set it
# is richer in forget images than the natural balance; the attack, and Retrain's reference
# curve, stay identical across cells. The attacks are the profile's
# (`illusion.attack_config.default_attacks`): the sweep runs them on every row the page reads,
# and the page reads their curves.

# %% tags=["parameters"]
profile = "cpu"
dataset = None
seed = None         # one seed / one forget set, or None: the profile's grid
forget = None       # (cpu: five cells, illusion.profiles.CPU_CELLS; paper: [A]'s grid x 3 seeds)
forget_sets = None  # several forget sets / seeds at once (override seed / forget)
seeds = None
margin = 10.0
level = 50.0

# %% [markdown]
# ## The claim as stated, and its criteria (rebuilt on 2026-12-05 after the first cpu verdicts; counted set revised on 2026-12-06)

# %%
from illusion import claims
from illusion.claims.c5_relearning import STATEMENT

STATEMENT

# %% [markdown]
# Judged in every (seed, forget set) cell and on the means over the cells (on the means, the
# curves are averaged over the cells first). Only methods that forgot at the output (forget
# accuracy before the attack at most `margin` points above Retrain's) are judged; the others had
# nothing to relearn and are listed apart. Every baseline is attacked; [A]'s five (Random
# Label, SalUn, NegGrad+, SCRUB, UNSIR) are `counted`. The book's four other baselines (ours,
# not [A]'s), EC and RL+CMF are judged the same way and shown, not counted (until 2026-12-06
# all nine baselines counted). The headline holds only when the claim holds on the means and
# in at least 4 of 5 cells (`illusion.claims.HEADLINE_RULE`).
#
# **Criterion (the paper's statement).** A judged method *relearns faster than Retrain* when,
# in every attack that shows forget images, its forget accuracy reaches `level` percent at an
# earlier evaluated step than Retrain's. Where Retrain never reaches the level, reaching it at
# all counts, and the verdict says so: Retrain must be able to relearn for "faster" to mean
# more than "at all", which is why the attack's learning rate is calibrated on the validation
# split (below). The claim holds when more than half of the judged baselines of [A] relearn
# faster (`illusion.claims.relearning`). A result that would fail it: [A]'s baselines reaching
# the level no earlier than Retrain in some attack, as they would if the attack's learning rate
# let Retrain relearn as fast as they do.
#
# **Another reading (ours, the page's earlier criterion).** In every attack with forget images
# the method's forget accuracy averaged over the evaluated steps exceeds Retrain's by more than
# `margin` points, with the lower end of the lead's 95% bootstrap interval over the test images
# (`illusion.claims.relearning_stronger`). It reads an area under the curve, not a level
# crossing: neither reading implies the other. The retain-only control (`control_attack`) is
# reported, not judged.

# %%
criterion = claims.Relearning(margin=margin, level=level)
stronger = claims.RelearningStronger(margin=margin)
display(criterion, stronger)

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import pandas as pd
from myst_nb import glue

from illusion import book
from illusion.attack_config import default_attacks
from illusion.attacks import lead_means, relearn_summary
from illusion.plotting import gap_intervals, method_lines, readable, set_theme

set_theme()
page = book.page("C5", profile, dataset, seed, forget, forget_sets, seeds)

# %% tags=["hide-input"]
names = page.labels[1:]  # the declared models, Retrain first (not the original)
# the attacks the sweep ran on every row (the "relearn" extra): the profile's defaults
configs = default_attacks(profile=profile)
# curves, summary and the leads' intervals of every cell
stack = book.relearn_tables(page, names, level=level)
curves, per_cell, leads = stack["curves"], stack["summary"], stack["leads"]
# on the means: the summary of the curves averaged over the cells (a step count needs a curve)
mean_curves = curves.groupby(["method", "attack", "step"], sort=False, as_index=False)[
    ["forget_acc", "retain_acc"]].mean()
summary = relearn_summary(mean_curves, level=level)


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
# Per method and attack, on the curves averaged over the {glue:text}`c5_cells` (seed, forget
# set) cell(s) of this build's grid: forget accuracy (%) before the attack (`start`), averaged
# over the evaluated steps (`mean`), the first evaluated step at which it reaches `level`
# percent (empty: never), retain accuracy after the last step, and `gap`, the lead of `mean`
# over Retrain's, with its
# 95% bootstrap interval over the forget-class test images the curves are read on
# (`gap_low`, `gap_high`; paired, every model of a cell on the same resampled images,
# `illusion.attacks.relearn_leads`; on the means, the cells' resamples averaged).

# %% [markdown]
# ## The attack's learning rate, calibrated on the validation split
#
# The rule was fixed before it ran (`illusion.attacks.calibrate_attack`): Retrain is attacked
# with the largest sample at half-decade learning rates, its accuracy read on the
# *validation* images; the chosen rate is the smallest at which Retrain's validation forget
# accuracy reaches `level` percent while its validation retain accuracy stays within 5 points
# of its value before the attack; when no rate does both, the rate with the highest final
# forget accuracy among those that keep retain. The profile's rate (`ATTACK_LR`) is the one
# chosen in the grid's first cell; the table shows the calibration in every cell. It
# calibrates the default attack (`illusion.attacks.default_attacks`), not the page's
# parameters when they are overridden.

# %% tags=["hide-input"]
calibration = book.calibration_table(page)
chosen = calibration[calibration["chosen"]]
glue("c5_attack_lr", f"{next(iter(configs.values())).lr:g}", display=False)
glue("c5_calibration", "; ".join(f"{{{', '.join(map(str, r.forget.classes))}}}, seed {r.seed}: "
                                 f"{r.lr:g} ({r.note})" for r in chosen.itertuples()),
     display=False)
readable(calibration.set_index(["seed", "forget", "lr"])[
    ["start_retain", "final_retain", "keeps_retain", "final_forget", f"steps_to_{level:g}",
     "chosen"]])

# %% [markdown]
# The attacks below run at learning rate {glue:text}`c5_attack_lr`. The rule's choice per cell:
# {glue:text}`c5_calibration`.

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
# dashed: no lead, dotted: the `margin` of the other reading (ours), under which a method
# relearns faster than Retrain in a cell when its whole interval lies right of the dotted line
# in every panel. The headline verdict reads the steps to `level` percent instead.
# ```
#
# ## Verdict
#
# Against `criterion` (the paper's statement) and `stronger` (another reading of ours), stated
# at the top of the
# page ({numref}`fig-relearning`): per method on the means, then each reading's verdict in each
# cell.

# %%
per_cell_of = lambda s, f: per_cell[(per_cell["seed"] == s) & (per_cell["forget"] == f)]  # noqa
cells_c5 = list(dict.fromkeys(zip(per_cell["seed"], per_cell["forget"])))
verdicts = {name: book.judge_cells(lambda summary, fn=fn, c=c: fn(summary, c), cells_c5,
                                   lambda s, f: {"summary": summary if s is None
                                                 else per_cell_of(s, f)})
            for name, fn, c in (("c5", claims.relearning, criterion),
                                ("c5_strong", claims.relearning_stronger, stronger))}
verdict_c5, strong_c5 = verdicts["c5"], verdicts["c5_strong"]
c5_control, _ = claims.relearning_control(summary, verdict_c5, criterion)
for name, v in verdicts.items():
    glue(f"verdict_{name}", v.text, display=False)
    glue(f"{name}_k_of_n", v.values["k_of_n"], display=False)
glue("c5_control", c5_control, display=False)
attacks = summary[summary["attack"] != criterion.control_attack]
display(readable(verdict_c5.details))
display(readable(attacks.set_index(["method", "attack"])[
    ["start", f"steps_to_{level:g}", "mean", "gap", "gap_low", "gap_high", "final_retain"]]))
pd.concat({v.reading: v.values["cells"] for v in verdicts.values()}, names=["reading"])

# %% [markdown]
# **Verdict (C5, the paper's statement):** {glue:text}`verdict_c5`
#
# **Another reading (ours), a lead of more than `margin` points over Retrain on its
# interval:** {glue:text}`verdict_c5_strong`
#
# **Control:** {glue:text}`c5_control`


# %% [markdown]
# ## How robust the verdict is
#
# The headline re-judged on this page's cached tables with each constant of its criterion
# moved over a range, the others kept at their stated values (`illusion.book.sensitivity`;
# nothing is trained or read again). The dotted line marks the stated value. Where the
# status changes: {glue:text}`c5_flips`

# %% tags=["hide-input"]
from illusion.plotting import sensitivity_figure

robust = book.sensitivity(lambda c: book.judge_cells(lambda summary: claims.relearning(summary, c), cells_c5,
                                                         lambda s, f: {"summary": summary if s is None
                                                                       else per_cell_of(s, f)}), criterion, {"level": [20, 30, 40, 60, 70, 80], "margin": [2, 5, 15, 20]})
glue("c5_flips", book.flips(robust), display=False)
fig = sensitivity_figure(robust)
glue("fig_c5_sensitivity", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fig_c5_sensitivity
# :name: fig-c5-sensitivity
#
# C5's headline status as the relearning level (50% stated) and the forgetting margin move (the stated value dotted).
# ```
