"""One look for every figure of the book: seaborn theme and a fixed palette per series."""

from __future__ import annotations

import matplotlib
import pandas as pd
import seaborn as sns

__all__ = ["collapse_curves", "feature_pca", "method_label", "method_palette", "readout_bars", "set_theme",
           "training_curves"]


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


# Fixed order so that a method keeps its colour on every page of the book.
METHOD_ORDER = ("original", "retrain", "finetune", "grad_ascent", "random_label", "neggrad_plus",
                "scrub", "unsir", "salun", "l1_sparse", "boundary_shrink", "prune_row", "nc_flip",
                "last_layer:random_label", "last_layer:neggrad_plus", "last_layer:unsir")
LABELS = {"original": "Original", "retrain": "Retrain", "finetune": "FT", "grad_ascent": "GA",
          "random_label": "RL", "neggrad_plus": "NegGrad+", "scrub": "SCRUB", "unsir": "UNSIR",
          "salun": "SalUn", "l1_sparse": "ℓ1-sparse", "boundary_shrink": "BS",
          "prune_row": "prune row", "nc_flip": "NC flip", "last_layer:random_label": "LL-RL",
          "last_layer:neggrad_plus": "LL-NegGrad+", "last_layer:unsir": "LL-UNSIR"}


def method_label(name: str) -> str:
    return LABELS.get(name, name)


def method_palette() -> dict[str, tuple]:
    """Colour of every method label (original black, Retrain grey, the rest a fixed palette)."""
    colours = sns.color_palette("tab20", len(METHOD_ORDER))
    palette = {method_label(m): c for m, c in zip(METHOD_ORDER, colours)}
    palette["Original"], palette["Retrain"] = (0.1, 0.1, 0.1), (0.55, 0.55, 0.55)
    return palette


def readout_bars(df: pd.DataFrame, columns: dict[str, str], reference: str | None = "retrain",
                 ylabel: str = "test forget accuracy (%)"):
    """Grouped bars: one group per readout (``columns``: column -> readout label), one bar per
    method; a dashed line per readout at the ``reference`` method's value."""
    import matplotlib.pyplot as plt

    long = df.assign(label=df["method"].map(method_label)).melt(
        id_vars="label", value_vars=list(columns), var_name="readout", value_name="accuracy")
    long["readout"] = long["readout"].map(columns)
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(df) * len(columns) / 2), 3.6))
    sns.barplot(data=long, x="readout", y="accuracy", hue="label", palette=method_palette(),
                ax=ax)
    if reference is not None and reference in set(df["method"]):
        ref = df.set_index("method").loc[reference]
        for i, col in enumerate(columns):
            ax.hlines(ref[col], i - 0.45, i + 0.45, colors="0.3", linestyles="--", lw=1.2)
    ax.set(xlabel="", ylabel=ylabel, ylim=(0, 100))
    ax.legend(title=None, ncol=1, bbox_to_anchor=(1.01, 1), loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def feature_pca(models: dict, forget, max_points: int = 2000):
    """Penultimate test features of each model (dict label -> TrainedModel) on the first two
    principal components of the first model's features; forgotten classes in colour."""
    import matplotlib.pyplot as plt
    import torch

    from .features import extract_features
    from .metrics import split_mask

    first = next(iter(models.values()))
    data = first.data
    x, y = data.x_test[:max_points], data.y_test[:max_points]
    feats = {label: extract_features(tm.model, data, x).double() for label, tm in models.items()}
    ref = feats[next(iter(feats))]
    mean = ref.mean(0)
    _, _, v = torch.linalg.svd(ref - mean, full_matrices=False)
    mask = split_mask(y, forget).numpy()
    fig, axes = plt.subplots(1, len(models), figsize=(3.4 * len(models), 3.2), squeeze=False)
    for ax, (label, f) in zip(axes[0], feats.items()):
        z = ((f - mean) @ v[:2].T).numpy()
        ax.scatter(z[~mask, 0], z[~mask, 1], s=3, c="0.75", label="retained classes")
        ax.scatter(z[mask, 0], z[mask, 1], s=4, c="tab:red", label="forgotten class")
        ax.set(title=label, xticks=[], yticks=[])
    axes[0][0].legend(loc="best", fontsize=7, markerscale=3)
    fig.tight_layout()
    return fig
