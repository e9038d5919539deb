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
# # Audit your own model
#
# The claim pages measure this project's own models. `illusion audit` measures *yours*: any
# PyTorch classifier (a TorchScript file, or a state dict plus its architecture, e.g.
# `--arch torchvision:resnet18`), on your own images in an ImageFolder
# (`train/<class>/*`, `test/<class>/*`), with the same readouts as the claim pages, against a
# reference you trained without the forget class(es), and it writes its verdict in words.
#
# ```bash
# illusion audit unlearned.pt --arch torchvision:resnet18 --data imagefolder:PATH \
#     --forget 0 --original original.pt --reference retrain.pt --out audit/
# ```
#
# `audit/report.html` is one self-contained page (figures embedded, no external request);
# `audit/audit.json` holds every number; `--json` prints the same object. Without
# `--reference` the audit judges the output only and says what it cannot conclude;
# `--train-reference` trains a Retrain of your architecture on the retained classes (stated
# recipe, cached). The verdict's criteria are constants of `illusion.audit.verdict`.
#
# This page does what a user would: it takes the RL (random-label) model of this build's first
# (seed, forget set) cell, its Retrain and its original, saves them as **plain state dicts**, writes the images they were
# trained on (and a slice of the test set) as an ImageFolder, and runs the command on them.

# %% tags=["parameters"]
profile = "cpu"
dataset = None
seed = 0
forget = [0]
method = "random_label"  # the audited model (the cpu grid caches it, and Retrain)

# %% tags=["hide-input"]
import json

import matplotlib.pyplot as plt
import pandas as pd
from illusion.book.numbers import glue  # myst_nb.glue, recorded for the build's results

from illusion import book
from illusion.audit.report import figures
from illusion.plotting import readable, set_theme

set_theme()
page = book.page("audit", profile, dataset, seed, forget)

# %% [markdown]
# The export and the command (`illusion.audit.demo`), run by the sweep as the `audit_page`
# extra of the audited row. The ImageFolder holds the training images of the original (every
# class, as the probe protocol needs) and the first 100 test images of every class
# (`illusion.rows.AUDIT_TEST_PER_CLASS`); `--mean` / `--std` pass the normalisation the models
# were trained with, as a user would. The result is cached with the models it read; this page
# reads it back.

# %% tags=["hide-input"]
result = page.extra("audit_page", method)  # the command's record, as the sweep ran it
record = json.loads(result["record"])
glue("audit_seconds", f"{record['seconds']:.0f}", display=False)
glue("audit_html_kb", f"{result['html_bytes'] / 1024:.0f}", display=False)
glue("audit_images", f"{record['images']['train']:,} training and {record['images']['test']:,} "
     "test", display=False)

# %% [markdown]
# The command ran on {glue:text}`audit_images` images in {glue:text}`audit_seconds` s; its
# report page weighs {glue:text}`audit_html_kb` kB with every figure inside.
#
# ## The report's verdict

# %%
verdict = record["verdict"]
glue("audit_verdict", verdict["headline"], display=False)
pd.DataFrame({"comparison": verdict["details"]})

# %% [markdown]
# **Verdict of the audit:** {glue:text}`audit_verdict`
#
# The comparisons above are the ones the verdict read; its margins (points of accuracy) are
# `illusion.audit.verdict`'s constants, listed in `audit.json` under `verdict.criteria`.
#
# ## The report's figures

# %% tags=["hide-input"]
figs = figures(record)
for name, fig in figs.items():
    glue(f"fig_audit_{name}", fig, display=False)
    plt.close(fig)
rows = []
for role in ("model", "reference", "original"):
    acc = record["models"][role]["accuracy"]
    rows.append({"model": {"model": method, "reference": "retrain"}.get(role, role),
                 **{f"{r} {s}": acc[r][s] for r in ("output", "probe", "ncc", "knn")
                    for s in ("forget", "retain")},
                 "MIA-efficacy": record["models"][role]["mia_efficacy"]})
readable(pd.DataFrame(rows).set_index("model"), other=1)

# %% [markdown]
# ```{glue:figure} fig_audit_readouts
# :name: fig-audit-readouts
#
# Test accuracy of each readout on the forgotten class (left) and on the retained classes
# (right), for the audited model, the reference (Retrain) and the original, as in the report.
# ```
#
# ```{glue:figure} fig_audit_cka
# :name: fig-audit-cka
#
# Linear CKA between the audited model and the original at every stage the audit found (the
# project's ResNet: stem and the four residual stages, then the penultimate features), on the
# test images.
# ```
#
# ```{glue:figure} fig_audit_relearn
# :name: fig-audit-relearn
#
# The relearning attack of the report: forget accuracy while a copy of each model is
# fine-tuned on 5% of the forget class's training images mixed with 9 retain images each
# (notebook 06's attack); the reference's curve is dashed.
# ```
#
# {numref}`fig-audit-readouts` is the heart of the report: the output has forgotten, the
# question is whether the feature readouts stay above the reference's.
# {numref}`fig-audit-cka` shows how far each depth moved from the original and
# {numref}`fig-audit-relearn` how fast the class comes back.
