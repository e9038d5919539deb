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
# # Fidelity: where this companion departs from [A] and [B]
#
# A reproduction is only as trustworthy as the list of places where it does something other
# than the papers' released code or text. This page gathers them. [A]'s released code is its
# official repository, [`ycgao1/CMF_Unlearning`](https://github.com/ycgao1/CMF_Unlearning) at
# commit `f575c2f` (its first): where [A]'s text is silent, that code is the reference this
# project compares with, and the files named below ("[A]'s evaluation/nc.py") are its files.
#
# Nothing on this page is retyped: the method deviations are read from the "Deviations"
# section of each module's docstring (`illusion.fidelity.deviations`), where every module
# states them next to the code they concern; the evaluation's departures are the structured
# list `illusion.fidelity.METRIC_DEVIATIONS`; the hyperparameter differences are read from the
# versioned `methods/hparams.toml`. Where an effect is measured, the measurement is computed
# on this page from the models of this build, or read from the CSV a benchmark wrote; where
# it is not, the page says so.

# %% tags=["parameters"]
profile = "cpu"
dataset = None
seed = None         # one seed / one forget set, or None: the profile's grid
forget = None
forget_sets = None  # several forget sets / seeds at once (override seed / forget)
seeds = None

# %% tags=["hide-input"]
from pathlib import Path

import pandas as pd
from IPython.display import Markdown
from illusion.book.numbers import glue  # myst_nb.glue, recorded for the build's results

from illusion import fidelity
from illusion import book
from illusion.catalog import method_label
from illusion.plotting import readable

pd.set_option("display.max_colwidth", None)  # tables below print their text cells whole
ROOT = Path.cwd()  # papermill runs the notebooks from the repository root

# %% [markdown]
# ## Methods
#
# Every item of the "Deviations" section (and, for the relearning attack, "Protocol
# choices" and "Disclosure") of the method modules, the CMF head and the attack, as written
# there: per module, what it implements in bold, the module and the section, then its items.
# Each item says what differs from the reference named in the same docstring and, mostly,
# why. Effects of the methods' deviations are not measured one by one; the learning-rate
# choices below are, on the C6 page.

# %% tags=["hide-input"]
items = fidelity.deviations()
glue("fidelity_n_items", str(len(items)), display=False)
Markdown(fidelity.method_markdown(items))

# %% [markdown]
# {glue:text}`fidelity_n_items` items. Modules read, with their number of items (0: the
# module states no deviation, e.g. the shared loop or the Retrain oracle):

# %% tags=["hide-input"]
fidelity.coverage().to_frame()

# %% [markdown]
# ## Hyperparameters
#
# The `paper` profile holds [A]'s values (appendix and released scripts,
# `methods/hparams.toml`). At another scale they are re-tuned on a validation split; every
# value of this build's profile that differs from [A]'s is listed (empty on `paper`). The
# effect of the +CMF methods' learning rates is measured on the C6 page, which runs them at
# both and gives a verdict for each.

# %% tags=["hide-input"]
hp = fidelity.hparam_differences(profile, "paper")
hp.assign(method=hp["method"].map(method_label)).style.hide(axis="index").format(
    lambda v: f"{v:g}" if isinstance(v, float) else v)  # hyperparameter names as in hparams.toml

# %% [markdown]
# ## Evaluation
#
# Departures of the metrics, the features and the data from [A]'s code and text: for each,
# what [A] (or [B]) do, what this project does, why, and how its effect is measured.

# %% tags=["hide-input"]
Markdown(fidelity.metric_markdown())

# %% [markdown]
# ## Measured effects
#
# For each evaluation departure whose effect is measured: the measurement of this build. A
# difference of two metrics is computed here on the models of the claim pages (means over
# the profile's grid of forget sets and seeds); a benchmark's measurement is its CSV, shown
# when it exists in this checkout.

# %% tags=["hide-input"]
rows = book.page("fidelity", profile, dataset, seed, forget, forget_sets, seeds).table()
for record in fidelity.METRIC_DEVIATIONS:
    if not (record.effect_csv or record.effect_columns):
        continue
    effect = fidelity.effect_table(record, rows, ROOT)
    print(f"{record.subject}: {record.measured_by}")
    if effect is None:
        where = record.effect_csv or " - ".join(record.effect_columns)
        print(f"  not measured in this build ({where} not found)\n")
    else:
        display(readable(effect, name=record.subject))
