"""One look for every figure of the book: seaborn theme and a fixed palette per series."""

from __future__ import annotations

import matplotlib
import pandas as pd
import seaborn as sns

__all__ = ["set_theme", "training_curves"]


def set_theme() -> None:
    """Apply the book's seaborn theme (call once per notebook)."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    matplotlib.rcParams.update({"figure.dpi": 110, "savefig.bbox": "tight"})


def training_curves(history: list[dict], title: str = ""):
    """Loss (log scale when it spans decades) and train / validation accuracy per epoch, side by side; returns the figure."""
    import matplotlib.pyplot as plt

    df = pd.DataFrame(history)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.2))
    sns.lineplot(data=df, x="epoch", y="loss", marker="o", ax=ax_loss)
    ax_loss.set(ylabel="training loss (cross-entropy)")
    if df["loss"].max() > 20 * df["loss"].min():  # log scale only when it spans decades
        ax_loss.set_yscale("log")
    acc = df.melt(id_vars="epoch", value_vars=["train_acc", "val_acc"],
                  var_name="split", value_name="accuracy")
    acc["split"] = acc["split"].map({"train_acc": "train (augmented batches)",
                                     "val_acc": "validation"})
    sns.lineplot(data=acc, x="epoch", y="accuracy", hue="split", marker="o", ax=ax_acc)
    ax_acc.set(ylabel="accuracy (%)")
    ax_acc.legend(title=None, loc="lower right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def collapse_curves(history: list[dict], title: str = ""):
    """NC1 (log scale), NC2, NC3 and NC4 per epoch in four panels; returns the figure."""
    import matplotlib.pyplot as plt

    df = pd.DataFrame(history)
    fig, axes = plt.subplots(1, 4, figsize=(12, 3))
    labels = {"nc1": "NC1: tr(Σ_W Σ_B⁺)/K", "nc2": "NC2: means vs simplex ETF",
              "nc3": "NC3: classifier vs means", "nc4": "NC4: agreement with NCC"}
    for ax, (key, label) in zip(axes, labels.items()):
        sns.lineplot(data=df, x="epoch", y=key, marker="o", ax=ax)
        ax.set(title=label, ylabel="")
    axes[0].set_yscale("log")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
