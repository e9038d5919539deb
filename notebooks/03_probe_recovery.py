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
seed = 0
forget = [0]
methods = ["retrain", "finetune", "grad_ascent", "random_label", "neggrad_plus", "scrub",
           "unsir", "salun", "l1_sparse", "boundary_shrink"]
pca_method = "random_label"

# %%
import matplotlib.pyplot as plt
from myst_nb import glue

from illusion.experiments import compare_methods
from illusion.plotting import feature_pca, method_label, readout_bars, set_theme
from illusion.pipeline import train_or_load, unlearn_or_load

set_theme()
table = compare_methods(methods, dataset, profile, seed, forget, progress=False)
cols = ["output_test_forget", "probe_test_forget", "ncc_test_forget", "knn_test_forget",
        "probe_test_retain"]
table.assign(method=table["method"].map(method_label)).set_index("method")[cols].round(2)

# %%
fig = readout_bars(table, {"output_test_forget": "output", "probe_test_forget": "linear probe",
                           "ncc_test_forget": "nearest class mean"})
glue("fig_probe_recovery", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fig_probe_recovery
# :name: fig-probe-recovery
#
# Test-forget accuracy read three ways. Dashed: Retrain. Bars above the dashed line in the probe
# or NCC group mean the features still separate the forgotten class better than a model that
# never learnt it.
# ```

# %% [markdown]
# ## What the features look like
#
# The first two principal components of the penultimate test features (fitted on the original
# model's features and applied to every model), forgotten class highlighted.

# %%
models = {"Original": train_or_load(dataset, profile, seed, progress=False),
          "Retrain": unlearn_or_load(dataset, profile, seed, forget, "retrain", progress=False),
          method_label(pca_method): unlearn_or_load(dataset, profile, seed, forget, pca_method,
                                                    progress=False)}
fig = feature_pca(models, forget)
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
# Criteria, fixed before looking at the results: a method shows *the illusion* when its output
# test-forget accuracy is at most 5% while its probe **or** NCC test-forget accuracy exceeds
# Retrain's by at least 5 points. [A] reports the illusion for RL and SalUn; the claim holds here
# when both show it.

# %%
MARGIN, FORGET_MAX = 5.0, 5.0
t = table.set_index("method")
ref = t.loc["retrain"]
rows = t.drop(index=["original", "retrain"]).copy()
rows["probe_gap"] = rows["probe_test_forget"] - ref["probe_test_forget"]
rows["ncc_gap"] = rows["ncc_test_forget"] - ref["ncc_test_forget"]
rows["illusion"] = (rows["output_test_forget"] <= FORGET_MAX) & (
    (rows["probe_gap"] >= MARGIN) | (rows["ncc_gap"] >= MARGIN))
named = [m for m in ("random_label", "salun") if m in rows.index]
holds = bool(named) and bool(rows.loc[named, "illusion"].all())
shown = [method_label(m) for m in rows.index[rows["illusion"]]]
verdict_c2 = (f"{'Holds' if holds else 'Does not hold'} for [A]'s cases "
              f"({', '.join(method_label(m) for m in named)}): illusion in "
              f"{', '.join(shown) or 'no method'}. Retrain's probe / NCC test-forget accuracy: "
              f"{ref['probe_test_forget']:.1f}% / {ref['ncc_test_forget']:.1f}%; the original's: "
              f"{t.loc['original', 'probe_test_forget']:.1f}% / "
              f"{t.loc['original', 'ncc_test_forget']:.1f}%.")
glue("verdict_c2", verdict_c2, display=False)
rows.rename(index=method_label)[["output_test_forget", "probe_gap", "ncc_gap", "illusion"]].round(2)

# %% [markdown]
# **Verdict (C2):** {glue:text}`verdict_c2`
