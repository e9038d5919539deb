"""How far two models' readouts are apart, with intervals: the readout gaps of a cell and
their means over cells (pure functions of stored predictions).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch

from .metrics import split_mask
from .stats import IMAGE_SEED, accuracy_gap, hierarchical_interval

__all__ = ["GAP_COLUMNS", "gap_columns", "gap_means", "readout_gaps"]


# The columns of readout_gaps' table.
GAP_COLUMNS = ["method", "readout", "gap", "low", "high", "interval"]


def readout_gaps(predictions: dict[str, dict], test_y: torch.Tensor, forget: Sequence[int],
                 reference: str = "retrain", readouts: Sequence[str] = ("probe", "ncc"),
                 split: str = "forget", seed: int | None = None) -> pd.DataFrame:
    """Each model's test accuracy through each readout minus ``reference``'s, on the test
    images of the forget classes (``split="forget"``) or of the retained ones, with its paired
    95% bootstrap interval over those images (:func:`illusion.stats.accuracy_gap`), resampled
    with :data:`illusion.stats.IMAGE_SEED` unless ``seed`` says otherwise; a readout fitted
    several times (the probe: one row of predictions per fit) also resamples its fits.

    ``predictions`` maps a label to its evaluation record's ``test_predictions``. Every gap
    of a cell resamples with the same ``seed``: the same images in every resample, for every
    model. One row per (``method``, ``readout``): ``gap``, ``low``, ``high`` (points) and the
    :class:`~illusion.stats.Interval` in ``interval`` (for :func:`gap_means`)."""
    seed = IMAGE_SEED if seed is None else seed
    if reference not in predictions:
        raise KeyError(f"readout_gaps: no predictions of the reference {reference!r}")
    mask = split_mask(test_y, forget)
    if split == "retain":
        mask = ~mask
    elif split != "forget":
        raise ValueError(f"readout_gaps: split must be 'forget' or 'retain', not {split!r}")
    y = test_y[mask]

    def correct(label: str, readout: str) -> np.ndarray:  # (images,), or (fits, images)
        return (predictions[label][readout][..., mask].long() == y).numpy()

    rows = []
    for label in predictions:
        if label == reference:
            continue
        for r in readouts:
            iv = accuracy_gap(correct(label, r), correct(reference, r), seed=seed)
            rows.append({"method": label, "readout": r, "gap": iv.estimate, "low": iv.low,
                         "high": iv.high, "interval": iv})
    return pd.DataFrame(rows, columns=GAP_COLUMNS)


def gap_means(gaps: pd.DataFrame, by: str = "readout") -> pd.DataFrame:
    """:func:`readout_gaps` of several cells (stacked, each row tagged with its cell) as the
    mean gap per (``method``, ``by``) over the cells with its interval and ``cells``, in order
    of first appearance. The interval is the two-stage bootstrap of
    :func:`illusion.stats.hierarchical_interval` (seed :data:`illusion.stats.IMAGE_SEED`): it
    resamples the cells, then each cell's own draws (its test images and probe fits), so the
    cells' disagreement is in it (issue 34; until then the cells' draws were averaged draw by
    draw, :func:`illusion.stats.mean_interval`, which left that disagreement out)."""
    rows = []
    for (method, key), group in gaps.groupby(["method", by], sort=False):
        iv = hierarchical_interval(list(group["interval"]), seed=IMAGE_SEED)
        rows.append({"method": method, by: key, "gap": iv.estimate, "low": iv.low,
                     "high": iv.high, "cells": len(group), "interval": iv})
    return pd.DataFrame(rows, columns=["method", by, "gap", "low", "high", "cells",
                                       "interval"])


def gap_columns(gaps: pd.DataFrame, name: str = "vs_retrain") -> pd.DataFrame:
    """Gaps (:func:`readout_gaps` or :func:`gap_means`) as columns a claim's table can carry:
    one row per ``method`` (and per ``seed`` / ``forget`` when the gaps have them) with
    ``<readout>_<name>_low`` and ``<readout>_<name>_high``."""
    keys = [k for k in ("seed", "forget") if k in gaps.columns] + ["method"]
    rows: dict[tuple, dict] = {}
    for rec in gaps.to_dict("records"):
        row = rows.setdefault(tuple(rec[k] for k in keys), {k: rec[k] for k in keys})
        row[f"{rec['readout']}_{name}_low"] = rec["low"]
        row[f"{rec['readout']}_{name}_high"] = rec["high"]
    return pd.DataFrame(list(rows.values()), columns=None if rows else keys)
