"""The names the whole project shares, each listed once: [A]'s baselines, the book's order of
methods and their labels, and forget sets as values.

* :data:`BASELINES`: every standard unlearning baseline the book runs, in the order tables
  list them: [A]'s five (:data:`A_BASELINES`: Random Label, SalUn, NegGrad+, SCRUB and UNSIR;
  Retrain is [A]'s oracle) and four of ours (:data:`OTHER_BASELINES`: Finetune, gradient
  ascent, l1-sparse and Boundary Shrink, common in the unlearning literature but not in
  [A]'s tables). C1-C3 read them all; the headlines of C1 and C5 count [A]'s five and show
  ours as "other baselines".
* :data:`CMF_BASES`: the methods [A] runs under a CMF head (C6), as registered by
  :mod:`illusion.methods.cmf`.
* :data:`METHOD_ORDER`: the order in which the book lists models, which also fixes each
  one's colour (:func:`illusion.plotting.method_palette`); a method not listed comes after.
* :func:`method_label`: a model's name for a reader. A method's label is declared in its own
  file (``Method.label``, ``Wrapper.label_pattern``); the models that are not methods (the
  original, the book's ablation rows) are labelled here (:data:`MODEL_LABELS`).
* :class:`ForgetSet`: a forget set as a value: it *is* its short label (``"2+4+8"``, the
  ``forget`` column of every table) and carries its classes, so that no one parses a label
  back; :func:`cell_label` names a (seed, forget set) cell for a reader.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from .methods import method_label as registered_label
from .methods import parse_method_name
from .methods.cmf import CMF_BASES

__all__ = ["A_BASELINES", "BASELINES", "CMF_BASES", "OTHER_BASELINES", "METHOD_ORDER", "MODEL_LABELS", "ForgetSet", "cell_label",
           "check_forget", "method_label"]

BASELINES = ("finetune", "grad_ascent", "random_label", "neggrad_plus", "scrub", "unsir",
             "salun", "l1_sparse", "boundary_shrink")
A_BASELINES = ("random_label", "salun", "neggrad_plus", "scrub", "unsir")  # [A]'s, Retrain aside
OTHER_BASELINES = tuple(m for m in BASELINES if m not in A_BASELINES)
METHOD_ORDER = ("original", "retrain", *BASELINES, "prune_row", "nc_flip",
                "last_layer:random_label", "last_layer:neggrad_plus", "last_layer:unsir", "ec")
# models that are not registered methods: the original, [A]'s CMF original, the book's rows
# that are a method with other settings (illusion.book.ENTRIES)
MODEL_LABELS = {"original": "Original", "cmf_original": "CMF original",
                "ec_ramp": "EC, ramp weights", "ec_output_only": "EC, output only"}


def method_label(name: str) -> str:
    """Display name of a model: :data:`MODEL_LABELS`, else the method's own label
    (:func:`illusion.methods.method_label`), else the name itself. A labelled setting
    ``<name>@<setting>`` reads ``<label>@<SETTING>`` (``scrub+cmf@A``: SCRUB+CMF@A)."""
    if name in MODEL_LABELS:
        return MODEL_LABELS[name]
    method, at, setting = name.partition("@")
    variant, _ = parse_method_name(method)
    if at and (variant is not None or registered_label(method) is not None
               or method in MODEL_LABELS):
        return f"{method_label(method)}@{setting.upper()}"
    return registered_label(name) or name


class ForgetSet(str):
    """A forget set: the sorted classes (``.classes``), equal to and shown as its label
    ``"2+4+8"`` (a ``str``, so that tables, CSV files and comparisons with a label read as
    before); ``.braces`` is ``"{2, 4, 8}"``. Built from classes, never from a label: a plain
    string raises ``TypeError``."""

    classes: tuple[int, ...]

    def __new__(cls, classes: Iterable[int]) -> "ForgetSet":
        if isinstance(classes, ForgetSet):
            return classes
        if isinstance(classes, str):
            raise TypeError(f"ForgetSet is built from class indices, not from the label "
                            f"{classes!r}")
        ordered = tuple(sorted(int(c) for c in classes))
        self = super().__new__(cls, "+".join(str(c) for c in ordered))
        self.classes = ordered
        return self

    def __getnewargs__(self) -> tuple:  # pickling (Ray, multiprocessing) rebuilds from classes
        return (self.classes,)

    @property
    def braces(self) -> str:
        return "{" + ", ".join(str(c) for c in self.classes) + "}"

    @classmethod
    def parse(cls, value: Any, num_classes: int | None = None,
              dataset: str | None = None) -> "ForgetSet":
        """The forget set ``value`` names, validated where it enters (a command line, a grid
        file, a page's parameter): a non-empty list of distinct class indices, each in range
        for ``num_classes`` classes (when known) and leaving one class to retain. Anything
        else raises ``ValueError`` with one line; past this point a forget set is trusted."""
        return cls(check_forget(value, num_classes, dataset))


def check_forget(value: Any, num_classes: int | None = None, dataset: str | None = None,
                 empty_ok: bool = False) -> tuple[int, ...]:
    """The one check of a forget set (:meth:`ForgetSet.parse`), as sorted classes; ``empty_ok``
    lets the original's empty set through (the pipeline's entry for library callers)."""
    of = f" for {dataset}" if dataset else ""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValueError(f"a forget set is a list of class indices, got {value!r}")
    value = list(value)
    if not all(isinstance(c, (int, np.integer)) and not isinstance(c, (bool, np.bool_))
               for c in value):
        raise ValueError(f"a forget set is a list of class indices, got {value!r}")
    value = [int(c) for c in value]
    if not value and not empty_ok:
        raise ValueError("empty forget set")
    if len(set(value)) != len(value):
        raise ValueError(f"repeated class in forget set {value}")
    bad = [c for c in value if c < 0 or (num_classes is not None and c >= num_classes)]
    if bad:
        upper = f"{num_classes - 1}" if num_classes is not None else "K-1"
        raise ValueError(f"forget class(es) {bad} out of range 0..{upper}{of}")
    if num_classes is not None and len(value) >= num_classes:
        raise ValueError(f"forget set {value} leaves no class"
                         f"{f' of {dataset}' if dataset else ''} to retain")
    return tuple(sorted(value))


def cell_label(seed: int, forget: Iterable[int]) -> str:
    """How the book names a (seed, forget set) cell: ``"{2, 4, 8}, seed 0"``; ``forget`` is a
    :class:`ForgetSet` (the ``forget`` column of a page's tables) or the classes."""
    return f"{ForgetSet(forget).braces}, seed {seed}"
