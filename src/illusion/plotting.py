"""One look for every figure of the book: seaborn theme and a fixed palette per series."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns

from .book.numbers import RUN_STATS, run_stat
from .catalog import METHOD_ORDER, cell_label, method_label
from .methods import available, parse_method_name
from .metrics import METRICS, split_mask

__all__ = ["FIG_WIDTH", "cell_spread", "collapse_curves", "column_label", "feature_pca",
           "gap_intervals",
           "figure", "method_lines", "method_palette", "readable",
           "readout_bars", "set_theme", "training_curves"]


# Every figure of the book is this wide (inches) at this font scale, so figures read alike on
# every page and fit the text column; heights vary with the content.
FIG_WIDTH = 7.5
FONT_SCALE = 0.9


def set_theme() -> None:
    """Apply the book's seaborn theme (call once per notebook): one font scale, and opaque
    white figure and axes backgrounds so figures stay readable in the book's dark mode. Tables
    show their text in full (a cell's verdict is a sentence, not 50 characters)."""
    pd.set_option("display.max_colwidth", None)
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind",
                  font_scale=FONT_SCALE)
    matplotlib.rcParams.update({"figure.dpi": 110, "savefig.bbox": "tight",
                                "figure.facecolor": "white", "axes.facecolor": "white",
                                "savefig.facecolor": "white", "savefig.transparent": False,
                                "legend.fontsize": 9, "legend.framealpha": 0.9})


def figure(height: float = 3.4, ncols: int = 1, **kwargs):
    """``plt.subplots`` at the book's width: ``(fig, ax)`` (or an axes array for ``ncols``)."""
    import matplotlib.pyplot as plt

    return plt.subplots(1, ncols, figsize=(FIG_WIDTH, height), **kwargs)


# ------------------------------------------------------------------------------ tables

READOUT_NAMES = {"output": "output", "probe": "probe", "ncc": "NCC", "knn": "5-NN"}
# the left side of a difference that is no readout (cka_vs_retrain: CKA − Retrain)
DIFFERENCE_NAMES = {**READOUT_NAMES, "cka": "CKA", "duality": "duality distance"}
SPLIT_NAMES = {"test_forget": "test forget", "test_retain": "test retain",
               "train_forget": "train forget", "train_retain": "train retain"}
COLUMN_NAMES = {"mia_efficacy": "MIA-efficacy (%)", "mia_loss": "MIA loss (%)", "ua": "UA (%)",
                "seconds": "time (s)", "wall_seconds": "wall time (s)",
                "duality_forget": "duality distance, forget row",
                "duality_retain": "duality distance, retained rows",
                "cka_test": "CKA to original, test", "cka_test_forget":
                "CKA to original, forget class", "forget_mean_shift": "forget-mean shift",
                "start": "forget acc. before (%)", "mean": "forget acc., mean over steps (%)",
                "gap": "lead over Retrain (points)",
                "gap_low": "lead over Retrain, 95% low (points)",
                "gap_high": "lead over Retrain, 95% high (points)",
                "min_gap_low": "smallest lead, 95% low (points)",
                "mean_gap": "mean lead (points)", "min_gap": "smallest lead (points)",
                "final_retain": "retain acc., last step (%)",
                "steps_to_50": "steps to 50%", "n": "cells"}
# columns in percent (one decimal) beyond the readout x split ones
PERCENT = {"mia_efficacy", "mia_loss", "ua", "start", "mean", "gap", "gap_low", "gap_high",
           "min_gap_low", "mean_gap", "min_gap", "final_retain",
           "test retain", "test forget", "original test retain", "retain_acc",
           "test retain acc", "forget_gap", "retain_gap", "diff_forget", "diff_retain",
           "output_forget", "final_forget", "start_retain", *SPLIT_NAMES,
           # C6: a readout's change from the base method (points), and its interval's ends
           *(f"{r}_change{end}" for r in READOUT_NAMES for end in ("", "_low", "_high"))}


def column_label(name: str) -> str:
    """A metric column's header for a reader: ``probe_test_forget`` -> ``probe, test forget
    (%)``, ``duality_forget`` -> ``duality distance, forget row``; any other snake_case name
    with its underscores turned into spaces. A run-spread column (``probe_test_forget sd``,
    :func:`illusion.book.numbers.run_stat`) is its quantity's header with the statistic:
    ``probe, test forget, sd over runs (points)``."""
    quantity, stat = run_stat(name)
    if stat is not None:
        label = column_label(quantity)
        for unit in (" (%)", " (points)"):
            if label.endswith(unit):
                unit = " (points)" if stat in ("sd", "range") else unit
                return f"{label[:label.rindex(' (')]}, {RUN_STATS[stat]}{unit}"
        return f"{label}, {RUN_STATS[stat]}"
    if name in COLUMN_NAMES:
        return COLUMN_NAMES[name]
    if name in METRICS:  # a registered metric names its own column
        return METRICS[name].label
    readout, _, split = name.partition("_")
    if readout in READOUT_NAMES and split in SPLIT_NAMES:
        return f"{READOUT_NAMES[readout]}, {SPLIT_NAMES[split]} (%)"
    if name in SPLIT_NAMES:
        return f"{SPLIT_NAMES[name]} (%)"
    for end, word in (("_low", "low"), ("_high", "high")):
        if "_vs_" in name and name.endswith(end):  # a difference's 95% interval
            label = column_label(name.removesuffix(end))
            unit = " (points)" if label.endswith(" (points)") else ""
            return f"{label.removesuffix(unit)}, 95% {word}{unit}"
    if "_vs_" in name:  # a difference, e.g. probe_vs_retrain: the probe's lead over Retrain
        left, right = name.split("_vs_", 1)
        unit = " (points)" if is_percent(name) else ""
        return f"{DIFFERENCE_NAMES.get(left, left)} − {method_label(right)}{unit}"
    return name.replace("_", " ")


def is_percent(name: str) -> bool:
    """Whether the book shows the column ``name`` in percent (accuracy points, one decimal): a
    readout x split accuracy, a registered percent metric, a name of :data:`PERCENT`, or a
    difference (``left_vs_method``, with its ``_low`` / ``_high`` ends) of a readout's
    accuracy. A difference of CKA or duality distances (``cka_vs_retrain``) is a fraction. A
    run-spread column (``probe_test_forget sd``) is its quantity's."""
    name = run_stat(name)[0]
    readout, _, split = name.partition("_")
    if "_vs_" in name:
        left = name.split("_vs_", 1)[0]
        return left in READOUT_NAMES or is_percent(left)
    return (name in PERCENT or (name in METRICS and METRICS[name].percent)
            or (readout in READOUT_NAMES and split in SPLIT_NAMES))


def _decimals(name: str, percent: int, other: int) -> int:
    if is_percent(name):
        return percent
    return 0 if name in ("seconds", "wall_seconds") else other


def readable(table: pd.DataFrame, percent: int = 1, other: int = 3,
             name: str | None = None) -> pd.DataFrame:
    """``table`` as the book shows it: method names as labels (:func:`method_label`) in the
    index, human column headers (:func:`column_label`), percentages rounded to ``percent``
    decimals, times to whole seconds and other numbers to ``other``. During a book run its
    numbers, unrounded and under the sweep's names, are recorded for the build's results
    (:func:`illusion.book.numbers.record_table`; ``name`` names the table there)."""
    from .book.numbers import record_table

    record_table(table, name)
    out = table.copy()
    for col in out.columns:
        if isinstance(col, str) and pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].round(_decimals(col, percent, other))
    if isinstance(out.index, pd.MultiIndex):
        out.index = out.index.set_levels(
            [lvl.map(lambda v: method_label(v) if isinstance(v, str) else v)
             for lvl in out.index.levels])
    else:
        out.index = out.index.map(lambda v: method_label(v) if isinstance(v, str) else v)
    out.index.names = [column_label(n) if isinstance(n, str) else n for n in out.index.names]
    if isinstance(out.columns, pd.MultiIndex):
        out.columns = out.columns.set_levels(
            [lvl.map(lambda v: column_label(v) if isinstance(v, str) else v)
             for lvl in out.columns.levels])
        return out
    return out.rename(columns=lambda c: column_label(c) if isinstance(c, str) else c)


def training_curves(history: list[dict], title: str = ""):
    """Loss (log scale when it spans decades) and train / validation accuracy per epoch, side by
    side; returns the figure."""
    import matplotlib.pyplot as plt

    df = pd.DataFrame(history)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(FIG_WIDTH, 3.0))
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
    fig, axes = plt.subplots(2, 2, figsize=(FIG_WIDTH, 5.2))
    axes = axes.flatten()
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
    """Grouped bars: one group per method (in order of first appearance), one bar per readout
    (``columns``: column -> readout label, a colour each); a dashed line per readout, in its
    colour, at the ``reference`` method's value. Several rows per method (a grid of forget sets
    / seeds) give the mean with a ±1 standard-deviation bar."""
    data = df.assign(label=df["method"].map(method_label))
    long = data.melt(id_vars="label", value_vars=list(columns), var_name="readout",
                     value_name="accuracy")
    long["readout"] = long["readout"].map(columns)
    n_methods = df["method"].nunique()
    colours = dict(zip(columns.values(), sns.color_palette("colorblind", len(columns))))
    fig, ax = figure(3.6)
    sns.barplot(data=long, x="label", y="accuracy", hue="readout", palette=colours,
                order=list(dict.fromkeys(data["label"])),
                errorbar="sd" if len(df) > n_methods else None, ax=ax)
    if reference is not None and reference in set(df["method"]):
        ref = df[df["method"] == reference][list(columns)].mean()
        for col, name in columns.items():
            ax.axhline(ref[col], color=colours[name], ls="--", lw=1.1)
    ax.set(xlabel="", ylabel=ylabel, ylim=(0, 100))
    ax.tick_params(axis="x", rotation=35)
    for tick in ax.get_xticklabels():
        tick.set_horizontalalignment("right")
    ax.legend(title=None, ncol=len(columns), loc="lower center", bbox_to_anchor=(0.5, 1.0),
              frameon=False)
    fig.tight_layout()
    return fig


def feature_pca(samples: dict, forget):
    """Penultimate test features of each model (label -> the ``feature_sample`` extra of its
    row: ``features`` and ``labels`` of the same test images) on the first two principal
    components of the first model's features; forgotten classes in colour."""
    import matplotlib.pyplot as plt
    import torch

    feats = {label: s["features"].double() for label, s in samples.items()}
    y = next(iter(samples.values()))["labels"]
    ref = feats[next(iter(feats))]
    mean = ref.mean(0)
    _, _, v = torch.linalg.svd(ref - mean, full_matrices=False)
    mask = split_mask(y, forget).numpy()
    side = min(3.2, FIG_WIDTH / len(samples))
    fig, axes = plt.subplots(1, len(samples), figsize=(FIG_WIDTH, side + 0.3), squeeze=False)
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
    ncols = min(2, data[col].nunique()) if col is not None and row is None else 1
    aspect = 1.25
    height = min(height, 0.8 * FIG_WIDTH / (ncols * aspect))  # panels and legend in the width
    grid = sns.relplot(data=data, x=x, y=y, hue="label", hue_order=order, col=col, row=row,
                       col_wrap=ncols if col is not None and row is None else None,
                       kind="line", marker="o", palette=palette, height=height,
                       aspect=aspect, style="label", style_order=order,
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
    :meth:`illusion.book.PageReader.table`) and method, a dark bar at each method's mean;
    methods in order of first appearance, coloured by :func:`method_palette`; ``baseline`` draws
    a dotted horizontal line. The points' horizontal jitter comes from a generator of its own
    (seaborn's stripplot draws it from NumPy's global RNG, so the figure changed from build
    to build). Returns the figure."""
    data = df.assign(label=df["method"].map(method_label))
    order = list(dict.fromkeys(data["label"]))
    palette = _with_labels(method_palette(), order)
    fig, ax = figure(3.4)
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(data))
    position = data["label"].map({label: i for i, label in enumerate(order)}).to_numpy()
    ax.scatter(position + jitter, data[y], c=data["label"].map(palette).tolist(), s=36,
               linewidths=0, zorder=2)
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


def gap_intervals(gaps: pd.DataFrame, means: pd.DataFrame | None = None,
                  margin: float | None = None, reference: str = "Retrain",
                  panel: str = "readout", xlabel: str | None = None):
    """Each method's gap to ``reference`` with its 95% interval, one panel per value of
    ``panel`` (a readout; an attack for relearning leads): a coloured dot and whisker per
    (seed, forget set) cell (``gaps``, from :meth:`illusion.book.PageReader.gaps` or
    :func:`illusion.attacks.relearn_leads`) and, with ``means``
    (:func:`illusion.gaps.gap_means`, ``lead_means``), a black diamond and whisker for
    the mean over the cells; a dashed line at 0 and a dotted one at ``margin``. Methods run
    down the y axis in order of first appearance."""
    xlabel = xlabel or f"test-forget accuracy − {reference}'s (points)"
    if panel != "readout":
        gaps = gaps.rename(columns={panel: "readout"})
        means = None if means is None else means.rename(columns={panel: "readout"})
    readouts = list(dict.fromkeys(gaps["readout"]))
    order = list(dict.fromkeys(gaps["method"]))
    cells = list(dict.fromkeys(zip(gaps["seed"], gaps["forget"])))
    colours = dict(zip(cells, sns.color_palette("colorblind", len(cells))))
    fig, axes = figure(0.9 + 0.42 * len(order) * (1 + (means is not None) * 0.4),
                       ncols=len(readouts), sharey=True, squeeze=False)
    step = 0.7 / max(len(cells), 1)
    for ax, readout in zip(axes[0], readouts):
        for j, cell in enumerate(cells):
            part = gaps[(gaps["readout"] == readout) & (gaps["seed"] == cell[0])
                        & (gaps["forget"] == cell[1])]
            y = [order.index(m) - 0.35 + step * (j + 0.5) for m in part["method"]]
            ax.errorbar(part["gap"], y, xerr=[part["gap"] - part["low"], part["high"] - part["gap"]],
                        fmt="o", ms=4, lw=1.2, color=colours[cell],
                        label=cell_label(*cell))
        if means is not None and len(cells) > 1:
            part = means[means["readout"] == readout]
            y = [order.index(m) + 0.42 for m in part["method"]]
            ax.errorbar(part["gap"], y, xerr=[part["gap"] - part["low"],
                                               part["high"] - part["gap"]],
                        fmt="D", ms=5, lw=1.6, color="0.1", label="mean over cells")
        ax.axvline(0, color="0.4", ls="--", lw=1)
        if margin is not None:
            ax.axvline(margin, color="0.4", ls=":", lw=1)
        ax.set(title=READOUT_NAMES.get(readout, readout),
               xlabel=xlabel if len(readouts) == 1 else "")
        ax.set_yticks(range(len(order)), [method_label(m) for m in order])
    axes[0][0].invert_yaxis()
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), frameon=False,
               bbox_to_anchor=(0.5, 1.0))
    if len(readouts) > 1:  # one label under the panels, not one per panel
        fig.supxlabel(xlabel, fontsize="medium")
    fig.tight_layout()
    return fig


_STATUS_LEVELS = ("not decided", "does not hold", "partly holds", "holds")
_STATUS_COLOURS = {"not decided": "0.6", "does not hold": "tab:red", "partly holds": "tab:orange",
                   "holds": "tab:green"}


def sensitivity_figure(table: pd.DataFrame, title: str = ""):
    """The headline status re-judged over each constant's range
    (:func:`illusion.book.sensitivity`), one panel per constant: the status against the value,
    the stated value marked by a dotted line, so a reader sees how far the verdict is from
    flipping. Returns the figure."""
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(table["constant"]))
    fig, axes = plt.subplots(1, len(names), figsize=(FIG_WIDTH, 2.0), squeeze=False,
                             sharey=True)
    for ax, name in zip(axes[0], names):
        rows = table[table["constant"] == name]
        y = rows["status"].map(_STATUS_LEVELS.index)
        ax.plot(rows["value"], y, color="0.7", lw=1, zorder=1, drawstyle="steps-mid")
        ax.scatter(rows["value"], y, c=rows["status"].map(_STATUS_COLOURS).tolist(), s=28,
                   zorder=2)
        ax.axvline(float(rows.loc[rows["stated"], "value"].iloc[0]), color="0.3", ls=":",
                   lw=1)
        ax.set(xlabel=name, yticks=range(len(_STATUS_LEVELS)), ylim=(-0.5, 3.5))
    axes[0][0].set_yticklabels(_STATUS_LEVELS, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


_STATUS_MARKS = {"holds": "✓", "partly holds": "~", "does not hold": "✗", "not decided": "?"}


def status_grid(frame: pd.DataFrame, cells: list[str] | None = None, title: str = ""):
    """The claims' headline verdicts as a grid (:func:`illusion.book.collect`'s frame): one
    row per claim (its headline reading only), one column per (seed, forget set) cell (C0's
    per seed), then the status on the means and the headline status, each square coloured by
    status (holds green, partly orange, does not hold red, not decided grey) and marked
    (✓ ~ ✗ ?) for readers who do not tell the colours apart; blank where a claim was not
    judged. ``cells``: the cell labels in the order to show them first (default: as the
    verdicts list them). Without any verdict the figure says so. Returns the figure."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    rows = frame[frame["headline"].astype(bool)] if len(frame) else frame
    if not len(rows):
        fig, ax = plt.subplots(figsize=(FIG_WIDTH, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, "no verdict published: execute the claim pages first",
                ha="center", va="center", fontsize=10, color="0.3")
        return fig
    seen = list(dict.fromkeys(c for statuses in rows["statuses"] for c in statuses))
    order = [c for c in (cells or []) if c in seen]
    columns = [*order, *(c for c in seen if c not in order)]
    n_cells = len(columns)
    labels = [c.replace(", seed", "\nseed") for c in columns] + ["means", "headline"]
    xs = list(range(n_cells)) + [n_cells + 0.5, n_cells + 1.5]  # a gap before the means
    fig, ax = plt.subplots(figsize=(FIG_WIDTH, 0.45 * len(rows) + 1.7))
    for y, (_, row) in enumerate(rows.iterrows()):
        values = [row["statuses"].get(c) for c in columns] + [row["on_means"], row["status"]]
        for x, status in zip(xs, values):
            if status is None:
                continue
            ax.add_patch(Rectangle((x - 0.45, y - 0.45), 0.9, 0.9, lw=0,
                                   facecolor=_STATUS_COLOURS.get(status, "white")))
            ax.text(x, y, _STATUS_MARKS.get(status, ""), ha="center", va="center",
                    fontsize=10, color="white", fontweight="bold")
    ax.axvline(n_cells - 0.25, color="0.4", lw=0.8)
    ax.set_xlim(-0.6, xs[-1] + 0.6)
    ax.set_ylim(len(rows) - 0.4, -0.6)
    ax.set_aspect("equal")  # squares, however many cells
    ax.set_xticks(xs, labels, fontsize=8.5)
    ax.set_yticks(range(len(rows)), list(rows["claim"]), fontsize=10)
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    ax.grid(False)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.legend(handles=[Patch(facecolor=_STATUS_COLOURS[s], label=f"{_STATUS_MARKS[s]} {s}")
                       for s in reversed(_STATUS_LEVELS)],
              loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=4, frameon=False,
              fontsize=9)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
