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
# # The original model
#
# Every claim of {cite:t}`gao2026illusion` is about a model that was first trained on all
# classes (the *original*) and then made to forget some of them. Their theory assumes that
# the original reached the *terminal phase of training*: it fits the training set (train
# accuracy near 100%), the regime in which neural collapse appears {cite:p}`papyan2020prevalence`.
# This page trains (or loads from the artifact cache) the original model of the chosen
# profile and checks that premise.

# %% tags=["parameters"]
profile = "cpu"
dataset = None
seed = 0

# %%
import textwrap

import matplotlib.pyplot as plt
from myst_nb import glue

from illusion.pipeline import split_accuracies, train_or_load
from illusion.plotting import set_theme, training_curves
from illusion.profiles import get_profile
from illusion.train import evaluate_accuracy

set_theme()
prof = get_profile(profile)
cfg = prof.train
print(textwrap.fill(f"profile '{profile}': {prof.description}", 88))

# %% [markdown]
# ## Training
#
# The recipe has the shape of {cite:t}`gao2026illusion`'s at a smaller scale: SGD with Nesterov momentum, weight decay,
# linear warm-up then cosine decay. The model is cached on disk, keyed by its configuration,
# dataset and seed, so the later pages reuse exactly this network.

# %%
original = train_or_load(dataset, profile, seed, progress=False)
data, splits = original.data, original.splits
acc = split_accuracies(original)
train_eval = evaluate_accuracy(original.model, data, data.x_train[splits.train],
                               data.y_train[splits.train])
print(f"data: {data.name}, {len(splits.train)} training / {len(splits.val)} validation / "
      f"{len(data.y_test)} test images")
print(f"model: ResNet-18 width {cfg.width}, {len(original.history)} epochs, "
      f"{original.seconds:.0f} s of training ({'from the cache' if original.cached else 'now'})")

# %%
fig = training_curves(original.history)
glue("fig_training_curves", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} fig_training_curves
# :name: fig-training-curves
#
# Training loss and accuracy per epoch of the original model. The training
# accuracy is measured on the augmented batches as they are seen; the validation split is
# held out of training.
# ```
#
# {numref}`fig-training-curves` shows the optimisation reaching its final plateau.

# %%
glue("orig_test_acc", acc["test_retain"], display=False)
glue("orig_train_acc", train_eval, display=False)
glue("orig_val_acc", original.history[-1]["val_acc"], display=False)
glue("orig_epochs", len(original.history), display=False)
glue("orig_seconds", original.seconds, display=False)

# %% [markdown]
# After {glue:text}`orig_epochs` epochs ({glue:text}`orig_seconds:.0f` s of training), the
# original model classifies {glue:text}`orig_train_acc:.2f`% of its training images and
# {glue:text}`orig_test_acc:.2f`% of the test set correctly (validation:
# {glue:text}`orig_val_acc:.2f`%).
#
# ## Verdict: is the original in its terminal phase?
#
# Criterion, fixed before looking at the result: training accuracy (evaluation mode, no
# augmentation) of at least 99%.

# %%
TERMINAL_PHASE_MIN_TRAIN_ACC = 99.0
terminal = train_eval >= TERMINAL_PHASE_MIN_TRAIN_ACC
verdict = (f"Reached: training accuracy {train_eval:.2f}% >= {TERMINAL_PHASE_MIN_TRAIN_ACC:.0f}%."
           if terminal else
           f"Not reached: training accuracy {train_eval:.2f}% < {TERMINAL_PHASE_MIN_TRAIN_ACC:.0f}%"
           f" (profile '{profile}'; the theory's premise does not hold at this scale).")
glue("verdict_terminal_phase", verdict, display=False)
print(verdict)

# %% [markdown]
# **Verdict:** {glue:text}`verdict_terminal_phase`
