"""Dry runs: a grid's cells through the real code on a small synthetic dataset.

``illusion sweep GRID --dry-run`` runs the cells of a grid the way a real sweep does — the same
Ray tasks, the same ``train_or_load`` / ``unlearn_or_load``, the profile's model and width,
augmentation, optimizer and schedule, validation split and early stopping, every method with
its profile hyperparameters, the CMF original, the EC heads, the grid's extras, the artifact
cache (a temporary one) — so that a bug of the ``paper`` profile shows on a laptop before a GPU
hour is spent. **This module is the only place where a dry run differs from a real run, and the
difference is limited to data size and step counts:**

* data size: the dataset ``synthetic:<name>`` has ``<name>``'s number of classes and image
  shape (3x32x32 for CIFAR) but only ``train_images // classes`` training images per class (at
  least one) and ``test_per_class`` test images per class (:func:`illusion.data.synthetic_dataset`,
  sizes :data:`illusion.data.SYNTHETIC`); UNSIR's
  noise images (``noise_batch``, ``noise_copies``) are capped by the caps UNSIR declares;
* step counts: the profile ``<profile>:dry`` trains ``DRY_TRAIN_EPOCHS`` (2) epochs with
  warm-up and early-stopping patience capped at one epoch
  (:meth:`illusion.profiles.Profile.dry_variant`), and every method's epoch
  counts (``epochs``, ``head_epochs``, ``msteps``, UNSIR's noise steps) are capped by the
  caps each method declares in its own file (``Method.dry_caps``, merged by
  :func:`illusion.methods.dry_caps`; :func:`illusion.methods.dry_hparams` applies them, in
  ``methods.hparams_for`` to the ``:dry`` profiles and here to a grid entry's overrides).

Batch sizes are the real ones, so on this little data each phase takes one or two steps.
"""

from __future__ import annotations

import dataclasses

from .data import SYNTHETIC_PREFIX
from .methods import dry_hparams
from .profiles import DRY_SUFFIX

__all__ = ["dry_grid", "kinds_only"]


def dry_grid(grid):
    """The dry-run twin of a :class:`illusion.rows.Grid`: every cell on ``synthetic:<dataset>``
    under ``<profile>:dry``, with its overrides' step counts capped."""
    cells = tuple(dataclasses.replace(
        c, dataset=SYNTHETIC_PREFIX + c.dataset, profile=c.profile + DRY_SUFFIX,
        hparams=dry_hparams(c.hparams)) for c in grid.rows)
    return dataclasses.replace(grid, name=grid.name + "-dry", rows=cells)


def kinds_only(grid):
    """The cells of ``grid`` for its first seed and its first single-class and first
    multi-class forget set: every method entry and extra once per forget-set size, which is
    every code path; the other cells differ only in class indices and seed."""
    first_seed = {}
    sets: dict[tuple, dict[bool, tuple]] = {}
    for c in grid.rows:
        first_seed.setdefault(c.dataset, c.seed)
        sets.setdefault(c.dataset, {}).setdefault(len(c.forget) > 1, c.forget)
    keep = tuple(c for c in grid.rows if c.seed == first_seed[c.dataset]
                 and sets[c.dataset][len(c.forget) > 1] == c.forget)
    return dataclasses.replace(grid, rows=keep)
