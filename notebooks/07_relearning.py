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

# %% tags=["parameters"]
profile = "cpu"
dataset = None
seed = 0
forget = [0]
methods = ["retrain", "random_label", "neggrad_plus", "scrub", "ec"]
cmf_methods = ["random_label+cmf"]  # used only where the CMF variants are registered
fractions = [0.01, 0.05, 0.1]
retain_ratio = 9.0
steps = 50
eval_every = 10
lr = 1e-3
retain_only_control = True
margin = 10.0

# %%
import matplotlib.pyplot as plt
from myst_nb import glue

from illusion.attacks import RelearnConfig, relearn_curves, relearn_summary
from illusion.methods import available
from illusion.plotting import method_label, method_lines, set_theme

set_theme()
names = list(methods) + [m for m in cmf_methods if m in available()]
attack = dict(retain_ratio=retain_ratio, steps=steps, eval_every=eval_every, lr=lr)
configs = {f"{f:.0%} of the forget class": RelearnConfig(fraction=f, **attack) for f in fractions}
if retain_only_control:
    configs["retain images only"] = RelearnConfig(fraction=max(fractions), include_forget=False,
                                                  **attack)
curves = relearn_curves(names, configs, dataset, profile, seed, forget, progress=False)
summary = relearn_summary(curves, reference="retrain", level=50.0)
summary.assign(method=summary["method"].map(method_label)).round(1)

# %%
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
# fine-tuned on a small labelled sample; one panel per attack. Retrain (dashed grey) is the
# model that never saw the class: a curve above it relearns faster than learning from scratch
# would allow.
# ```
#
# ```{glue:figure} fig_relearning_retain
# :name: fig-relearning-retain
#
# Retain accuracy during the same attacks: the attack is mild enough to keep the retained
# classes (a collapse here would make any forget accuracy meaningless).
# ```
#
# ## Verdict
#
# Criteria, fixed before looking at the results: only methods that forgot at the output
# (forget accuracy before the attack within `margin` points of Retrain's) are judged; the
# others had nothing to relearn and are listed apart. A judged method *relearns faster than
# Retrain* when, in every attack that shows forget images, its forget accuracy averaged over
# the evaluated steps exceeds Retrain's by more than `margin` points (10 by default). The
# claim holds when more than half of the judged methods relearn faster than Retrain. The
# retain-only control is reported, not judged.

# %%
attacks = summary[summary["attack"] != "retain images only"]
ref = attacks[attacks["method"] == "retrain"]
start = summary.groupby("method")["start"].first()
forgot = [m for m in names if m != "retrain" and start[m] <= start["retrain"] + margin]
judged = attacks[attacks["method"].isin(forgot)]
faster_all = judged.assign(faster=judged["gap"] > margin).groupby("method")["faster"].all()
faster = [m for m in forgot if faster_all[m]]
holds = len(faster) > len(forgot) / 2
c5_retrain_mean = float(ref["mean"].mean())
c5_mean_gap = float(judged["gap"].mean()) if forgot else float("nan")
c5_max_gap = float(judged["gap"].max()) if forgot else float("nan")
not_forgotten = [method_label(m) for m in names if m != "retrain" and m not in forgot]
verdict_c5 = (f"{'Holds' if holds else 'Does not hold'}: {len(faster)} of {len(forgot)} "
              f"methods that forgot at the output relearn faster than Retrain in every attack "
              f"({', '.join(method_label(m) for m in faster) or 'none'}). Retrain's forget "
              f"accuracy averages {c5_retrain_mean:.1f}% over the attacks; the judged methods' "
              f"lead over it averages {c5_mean_gap:.1f} points (largest {c5_max_gap:.1f})."
              + (f" Not judged, forget accuracy already above Retrain's + {margin:g} before the "
                 f"attack: {', '.join(not_forgotten)}." if not_forgotten else ""))
control = summary[(summary["attack"] == "retain images only") & summary["method"].isin(forgot)]
control_ref = summary.set_index(["method", "attack"])["mean"].get(
    ("retrain", "retain images only"), float("nan"))
c5_control_max = float(control["mean"].max()) if len(control) else float("nan")
c5_control = ("No retain-only control was judged." if control.empty else
              f"Fine-tuning on retain images alone brings the class back to at most "
              f"{c5_control_max:.1f}% on average over the steps "
              f"({method_label(control.loc[control['mean'].idxmax(), 'method'])}), "
              f"Retrain to {control_ref:.1f}%.")
for key, value in {"verdict_c5": verdict_c5, "c5_control": c5_control,
                   "c5_retrain_mean": c5_retrain_mean, "c5_mean_gap": c5_mean_gap,
                   "c5_max_gap": c5_max_gap, "c5_control_max": c5_control_max,
                   "c5_n_faster": len(faster)}.items():
    glue(key, value, display=False)
attacks.assign(method=attacks["method"].map(method_label)).set_index(["method", "attack"])[
    ["start", "mean", "gap", "final_retain"]].round(1)

# %% [markdown]
# **Verdict (C5):** {glue:text}`verdict_c5`
#
# **Control:** {glue:text}`c5_control`
