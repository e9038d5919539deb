"""One look for every figure of the book: seaborn theme and a fixed palette per series."""

from __future__ import annotations

import matplotlib
import pandas as pd
import seaborn as sns

__all__ = ["cell_spread", "collapse_curves", "feature_pca", "method_label", "method_lines",
           "method_palette", "readout_bars", "set_theme", "training_curves"]


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
                "last_layer:random_label", "last_layer:neggrad_plus", "last_layer:unsir", "ec")
LABELS = {"original": "Original", "retrain": "Retrain", "finetune": "FT", "grad_ascent": "GA",
          "random_label": "RL", "neggrad_plus": "NegGrad+", "scrub": "SCRUB", "unsir": "UNSIR",
          "salun": "SalUn", "l1_sparse": "ℓ1-sparse", "boundary_shrink": "BS",
          "prune_row": "prune row", "nc_flip": "NC flip", "last_layer:random_label": "LL-RL",
          "last_layer:neggrad_plus": "LL-NegGrad+", "last_layer:unsir": "LL-UNSIR",
          "cmf_original": "CMF original", "ec": "EC", "ec_ramp": "EC, ramp weights",
          "ec_output_only": "EC, output only"}


def method_label(name: str) -> str:
    """Display name; a suffix variant ``<base>+<suffix>``, with or without a setting
    ``@<setting>``, reads ``<base's label>+<SUFFIX>@<SETTING>`` (``scrub+cmf@A``: SCRUB+CMF@A)."""
    from .methods import parse_method_name

    method, at, setting = name.partition("@")
    variant, base = parse_method_name(method)
    if variant is not None and variant.suffix:
        return f"{method_label(base)}{variant.suffix.upper()}{at}{setting.upper()}"
    return LABELS.get(name, name)


def _shade(colour: tuple, i: int) -> tuple:
    """The i-th variant shade of a colour: darker for even i, lighter for odd i."""
    if i % 2 == 0:
        return tuple(0.6 ** (1 + i // 2) * c for c in colour)
    return tuple(c + (1 - c) * 0.5 ** (1 + i // 2) for c in colour)


def method_palette() -> dict[str, tuple]:
    """Colour of every method label (original black, Retrain grey, the rest a fixed palette)."""
    colours = sns.color_palette("tab20", len(METHOD_ORDER))
    palette = {method_label(m): c for m, c in zip(METHOD_ORDER, colours)}
    palette["Original"], palette["Retrain"] = (0.1, 0.1, 0.1), (0.55, 0.55, 0.55)
    palette["CMF original"] = (0.35, 0.25, 0.45)
    from .methods import available, parse_method_name

    # suffix variants: a shade of the base's colour, one per suffix
    variants = [(n, *parse_method_name(n)) for n in available()]
    variants = [(n, v.suffix, base) for n, v, base in variants if v is not None and v.suffix]
    suffixes = sorted({suffix for _, suffix, _ in variants})
    for name, suffix, base in variants:
        if method_label(base) in palette:
            palette[method_label(name)] = _shade(palette[method_label(base)],
                                                 suffixes.index(suffix))
    return palette


def _with_labels(palette: dict, labels) -> dict:
    """``palette`` plus a colour for every label it lacks: a labelled setting of a method
    (``"<label>@<setting>"``, e.g. ``"RL+CMF@A"``) a light shade of that method's colour,
    anything else grey."""
    for lab in labels:
        base = lab.partition("@")[0]
        if lab not in palette:
            palette[lab] = _shade(palette[base], 1) if base in palette else (0.4, 0.4, 0.4)
    return palette


def readout_bars(df: pd.DataFrame, columns: dict[str, str], reference: str | None = "retrain",
                 ylabel: str = "test forget accuracy (%)"):
    """Grouped bars: one group per readout (``columns``: column -> readout label), one bar per
    method; a dashed line per readout at the ``reference`` method's value. Several rows per
    method (a grid of forget sets / seeds) give the mean with a ±1 standard-deviation bar."""
    import matplotlib.pyplot as plt

    long = df.assign(label=df["method"].map(method_label)).melt(
        id_vars="label", value_vars=list(columns), var_name="readout", value_name="accuracy")
    long["readout"] = long["readout"].map(columns)
    n_methods = df["method"].nunique()
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * n_methods * len(columns) / 2), 3.6))
    palette = _with_labels(method_palette(), long["label"].unique())
    sns.barplot(data=long, x="readout", y="accuracy", hue="label", palette=palette,
                errorbar="sd" if len(df) > n_methods else None, ax=ax)
    if reference is not None and reference in set(df["method"]):
        ref = df[df["method"] == reference][list(columns)].mean()
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


def method_lines(df: pd.DataFrame, x: str, y: str, col: str | None = None,
                 row: str | None = None, ylabel: str = "", ylim: tuple | None = None,
                 height: float = 2.8):
    """One line per method (``df["method"]``, coloured by :func:`method_palette`) of ``y``
    against ``x``, in a grid of panels by ``col`` / ``row``; Retrain dashed and variants
    (``<base>+<suffix>``, shaded like their base) dotted. Several rows per point (a grid of
    forget sets / seeds) give the mean with a ±1 standard-deviation band. Returns the figure."""
    data = df.assign(label=df["method"].map(method_label))
    palette = method_palette()
    order = [lab for lab in palette if lab in set(data["label"])]
    extra = sorted(set(data["label"]) - set(order))  # e.g. ablation variants
    palette.update(zip(extra, sns.color_palette("Set2", len(extra))))
    order += extra
    dashes = {lab: (4, 2) if lab == "Retrain" else (1, 1.5) if "+" in lab.rstrip("+") else ""
              for lab in order}
    grid = sns.relplot(data=data, x=x, y=y, hue="label", hue_order=order, col=col, row=row,
                       kind="line", marker="o", palette=palette, height=height,
                       aspect=1.25, style="label", style_order=order,
                       dashes=dashes, errorbar="sd",
                       facet_kws={"sharey": True})
    grid.set_axis_labels(x, ylabel or y)
    if ylim is not None:
        grid.set(ylim=ylim)
    grid.legend.set_title(None)
    return grid.figure


def cell_spread(df: pd.DataFrame, y: str, ylabel: str, ylim: tuple | None = (0, 100),
                baseline: float | None = None):
    """One point per row of ``df`` (a (seed, forget set) cell of a grid, as stacked by
    :func:`illusion.grid.run_grid`) and method, a dark bar at each method's mean; methods in
    order of first appearance, coloured by :func:`method_palette`; ``baseline`` draws a dotted
    horizontal line. Returns the figure."""
    import matplotlib.pyplot as plt

    data = df.assign(label=df["method"].map(method_label))
    order = list(dict.fromkeys(data["label"]))
    palette = _with_labels(method_palette(), order)
    fig, ax = plt.subplots(figsize=(max(5, 0.75 * len(order) + 1.5), 3.4))
    sns.stripplot(data=data, x="label", y=y, hue="label", order=order, hue_order=order,
                  palette=palette, size=6, jitter=0.15, legend=False, ax=ax)
    sns.pointplot(data=data, x="label", y=y, order=order, color="0.2", markers="_",
                  errorbar=None, linestyles="none", ax=ax)
    if baseline is not None:
        ax.axhline(baseline, color="0.5", ls=":", lw=1)
    ax.set(xlabel="", ylabel=ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    return fig
