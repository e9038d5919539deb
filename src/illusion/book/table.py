"""The book's experiment table: every model and extra each claim page reads, declared once.

``ENTRIES`` is the table's rows: a label and the method (with overrides) that computes it,
in the order of the sweep's CSV. ``PAGES`` says, per page, which labels it reads and which
extras (:data:`illusion.rows.EXTRAS`) it needs of each. :func:`book_grid` is their union for
one profile: ``make book`` sweeps it (``illusion sweep book:cpu``) before the notebooks run,
so that the notebooks only read (:mod:`illusion.book.reader`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..catalog import A_BASELINES, BASELINES, CMF_BASES, ForgetSet
from ..data import known_num_classes
from ..rows import Row, Grid
from ..methods import hparams_for
from ..profiles import get_profile

__all__ = ["BOOK_EXTRAS", "ENTRIES", "PAGES", "RUN_BASES", "RUN_SEEDS", "Entry", "Page",
           "book_grid", "extras_by_label", "grid_cells", "row_of", "run_label", "runs_of"]


# extras of every row the book reads: the feature drift's columns, and the test predictions
# the readout gaps resample
BOOK_EXTRAS = ("feature_drift", "predictions")


def _lrs(hparams: Mapping[str, Any]) -> dict:
    """The learning rates (``lr`` and every ``*_lr``) of a set of hyperparameters."""
    return {k: v for k, v in hparams.items() if k == "lr" or k.endswith("_lr")}


def paper_lrs(method: str, profile: str, n_forget: int, dataset: str | None) -> dict:
    """[A]'s learning rates (every ``lr`` / ``*_lr`` of the ``paper`` profile's entry) for a
    forget set of ``n_forget`` classes: the ``@A`` rows of claims C6 and C4."""
    return _lrs(hparams_for(method, "paper", n_forget))


def cmf_lrs(method: str, profile: str, n_forget: int, dataset: str | None) -> dict:
    """The learning rates of ``method``'s +CMF variant on ``profile``: the ``@cmf-lr`` rows,
    C6's same-step-size control of the tuned +CMF ablation."""
    return _lrs(hparams_for(f"{method}+cmf", profile, n_forget, dataset))


@dataclass(frozen=True)
class Entry:
    """One row label of the table: ``method`` with ``hparams`` overriding the profile's, or a
    function of (method, profile, forget-set size, dataset) giving them; ``run_seed`` > 0 is
    another run of the same unlearning (:func:`run_label`)."""

    method: str
    hparams: Mapping[str, Any] | Callable[[str, str, int, str | None], dict] = \
        field(default_factory=dict)
    run_seed: int = 0

    def overrides(self, profile: str, n_forget: int, dataset: str | None) -> dict:
        hp = self.hparams
        return dict(hp(self.method, profile, n_forget, dataset) if callable(hp) else hp)


def _plain(*names: str) -> dict[str, Entry]:
    return {n: Entry(n) for n in names}


# Other runs of the rows whose verdicts decide a claim, in the cell shown in detail: the same
# unlearning from the same original with other unlearning streams, so that each page can show
# the run-to-run spread beside the effect it judges and that cell's intervals carry it
# (issue 34). Fewer rows with more runs: [A]'s five baselines (C1-C3) and their +CMF@A
# variants (C6); EC's rows (C7) and the relearning attacks (C5) on the runs are left out for
# their cost (book/reproducing.md).
RUN_SEEDS = (1, 2)
RUN_BASES = (*A_BASELINES, *(f"{m}+cmf@A" for m in CMF_BASES))


def run_label(label: str, run_seed: int) -> str:
    """The label of run ``run_seed`` of ``label`` (run 0 is ``label`` itself)."""
    return f"{label}~run{run_seed}" if run_seed else label


def runs_of(label: str) -> list[str]:
    """Every run's label of ``label`` in :data:`ENTRIES`, run 0 first."""
    return [label, *(run_label(label, r) for r in RUN_SEEDS if run_label(label, r) in ENTRIES)]


def _runs(labels) -> dict[str, Entry]:
    def entry(label: str, r: int) -> Entry:
        base = ENTRIES[label]
        return Entry(base.method, base.hparams, r)
    return {run_label(label, r): entry(label, r) for label in labels for r in RUN_SEEDS}


ENTRIES: dict[str, Entry] = {
    **_plain("original", "retrain", *BASELINES),
    **_plain("prune_row", "nc_flip", "last_layer:random_label", "last_layer:neggrad_plus"),
    **_plain(*(f"{m}+cmf" for m in CMF_BASES)),
    **{f"{m}+cmf@A": Entry(f"{m}+cmf", paper_lrs) for m in CMF_BASES},
    # each base method at its +CMF variant's tuned learning rates: C6's ablation control
    **{f"{m}@cmf-lr": Entry(m, cmf_lrs) for m in CMF_BASES},
    # [A]'s classifier-only UNSIR: its scripts' "for classifier only" learning rates, the head
    # zeroed first (--zero_last_layer), for claim C4
    "last_layer:unsir@A": Entry("last_layer:unsir", lambda *a: {**paper_lrs(*a),
                                                                 "zero_head": True}),
    **_plain("ec", "random_label+ec"),
    "ec_ramp": Entry("ec", {"layer_weights": [0.25, 0.5, 0.75, 1.0]}),
    "ec_output_only": Entry("ec", {"layer_weights": [0.0, 0.0, 0.0, 1.0]}),
    "cmf_original": Entry("cmf_original"),
}
ENTRIES.update(_runs(RUN_BASES))


@dataclass(frozen=True)
class Page:
    """A notebook's reads: label -> the extras it needs of that row (on top of
    :data:`BOOK_EXTRAS`). Every page reads ``original``.

    ``first_only``: labels the page reads in the grid's first cell only (the cell it shows in
    detail), because no verdict of the page reads them in the others; ``True`` for every label
    (a page that is not a claim). ``first_extras``: label -> extras the page reads in the
    first cell only (a figure of the cell shown in detail). ``runs``: labels whose other runs
    (:data:`RUN_SEEDS`, :func:`runs_of`) the page reads in the first cell, with the book's
    extras only; they are not among :attr:`labels` (a page's tables and verdicts), the page
    reads them by name. The later cells compute only what some page reads there."""

    notebook: str
    reads: Mapping[str, tuple[str, ...]]
    first_only: tuple[str, ...] | bool = ()
    first_extras: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    runs: tuple[str, ...] = ()

    @property
    def labels(self) -> list[str]:
        return ["original", *(label for label in {**self.reads, **self.first_extras}
                              if label != "original")]

    @property
    def run_labels(self) -> list[str]:
        """The labels of the other runs the page reads (run 0 is the label itself)."""
        return [run for label in self.runs for run in runs_of(label)[1:]]

    @property
    def all_labels(self) -> list[str]:
        """Every label the page reads: :attr:`labels` and :attr:`run_labels`."""
        return [*self.labels, *self.run_labels]

    def extras(self, label: str, first: bool) -> tuple[str, ...]:
        """The extras the page reads of ``label`` in the grid's first cell or a later one."""
        return (*self.reads.get(label, ()), *(self.first_extras.get(label, ()) if first else ()))

    def in_later_cells(self, label: str) -> bool:
        """Whether the page reads ``label`` beyond the grid's first cell."""
        return (label in self.labels and self.first_only is not True
                and label not in (self.first_only or ()))


def _reads(labels: Iterable[str], extras: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    return {label: extras for label in labels}


_DEPTH = ("stage_cka", "stage_cka_draws", "stage_probes")


PAGES: dict[str, Page] = {
    # each seed's training record
    "C0": Page("01_original_model", {"original": ("training",)}),
    "C1": Page("02_output_level", _reads(("retrain", *BASELINES)), runs=A_BASELINES),
    # the feature PCA of the cell shown in detail: the original, Retrain and every baseline
    # (the page's parameter picks one)
    "C2": Page("03_probe_recovery", _reads(("retrain", *BASELINES)),
               first_extras=_reads(("original", "retrain", *BASELINES), ("feature_sample",)),
               runs=A_BASELINES),
    "C3": Page("04_misalignment", _reads(("retrain", *BASELINES)), runs=A_BASELINES),
    # the analytic flip of the original's head in every cell
    "C4": Page("05_classifier_only", {"original": ("flip_curve",),
                                      **_reads(("retrain", "prune_row", "nc_flip",
                                                "last_layer:random_label",
                                                "last_layer:neggrad_plus",
                                                "last_layer:unsir@A"))}),
    # every one of [A]'s baselines is attacked; Retrain also calibrates the attack; the
    # dose-response (the attack at every rate of DOSE_LRS on the validation split) of Retrain
    # and [A]'s five in the cell shown in detail, for its cost (eleven curves a row)
    "C5": Page("06_relearning", {"retrain": ("relearn", "attack_calibration"),
                                 **_reads((*BASELINES, "ec", "random_label+cmf"), ("relearn",))},
               first_extras=_reads(("retrain", *A_BASELINES), ("relearn_dose",))),
    # the claim's verdict reads [A]'s learning rates (@A) in every cell; the profile's tuned
    # ones are an ablation, with each base method at the same learning rates as its control,
    # in the first cell (the one shown in detail)
    "C6": Page("07_cmf", _reads(("retrain", *CMF_BASES, *(f"{m}+cmf" for m in CMF_BASES),
                                *(f"{m}+cmf@A" for m in CMF_BASES),
                                *(f"{m}@cmf-lr" for m in CMF_BASES), "cmf_original")),
               first_only=(*(f"{m}+cmf" for m in CMF_BASES),
                           *(f"{m}@cmf-lr" for m in CMF_BASES)),
               # the feature PCA of the cell shown in detail
               first_extras=_reads(("cmf_original", *(f"{m}+cmf@A" for m in CMF_BASES)),
                                   ("feature_sample",)),
               runs=(*A_BASELINES, *(f"{m}+cmf@A" for m in CMF_BASES))),
    # stage_cka_flat: the flattened-map CKA of the page's variant reading
    "C7": Page("08_erase_at_core", {"original": ("stage_probes",),
                                    **_reads(("retrain", "random_label", "neggrad_plus", "scrub",
                                              "salun", "ec", "random_label+ec"),
                                             (*_DEPTH, "stage_cka_flat")),
                                    **_reads(("ec_ramp", "ec_output_only"), ("stage_cka",))},
               # the layer-weight ablation: no verdict reads it, shown in the first cell
               first_only=("ec_ramp", "ec_output_only")),
    "audit": Page("09_audit", {"retrain": (), "random_label": ("audit_page",)},
                  first_only=True),
    # the models on which the metric deviations' effects are measured
    "fidelity": Page("10_fidelity", _reads(("retrain", "random_label", "salun", "scrub",
                                            "neggrad_plus"))),
    # the verdicts of the claim pages, as they published them (illusion.book.results): no row
    "summary": Page("11_summary", {}, first_only=True),
}


def grid_cells(profile: str, seed: int | None = None, forget: Sequence[int] | None = None,
               forget_sets: Iterable[Sequence[int]] | None = None,
               seeds: Iterable[int] | None = None) -> list[tuple[int, tuple[int, ...]]]:
    """The (seed, forget set) cells a page reads, from its papermill parameters: ``forget_sets``
    (else ``[forget]``) and ``seeds`` (else ``[seed]``), by
    :meth:`illusion.profiles.Profile.grid`'s rule (neither: the profile's cells). A page's
    parameters enter here: each forget set is checked once
    (:meth:`illusion.catalog.ForgetSet.parse`, against the profile's dataset) and travels on
    as its sorted classes; a bad set, no seed or a repeated cell raises ``ValueError``."""
    p = get_profile(profile)
    if forget_sets is None and forget is not None:
        forget_sets = [forget]
    if seeds is None and seed is not None:
        seeds = [seed]
    forget_sets = None if forget_sets is None else list(forget_sets)
    if forget_sets == []:
        raise ValueError("a grid needs at least one forget set")
    sets = None if forget_sets is None else [
        ForgetSet.parse(f, known_num_classes(p.dataset), p.dataset).classes for f in forget_sets]
    seeds = None if seeds is None else [int(s) for s in seeds]
    if seeds == []:
        raise ValueError("a grid needs at least one seed")
    cells = [(s, tuple(sorted(f))) for s, f in p.grid(seeds, sets)]
    if len(set(cells)) != len(cells):
        raise ValueError(f"repeated (seed, forget set) cells in the grid: {cells}")
    return cells


def extras_by_label(pages: Iterable[Page], first: bool = True) -> dict[str, tuple[str, ...]]:
    """Every label any of ``pages`` reads (in :data:`ENTRIES` order) with the union of their
    extras: in the grid's first cell (``first``), or in a later one (only the reads of pages
    that read the label there, :meth:`Page.in_later_cells`)."""
    wanted: dict[str, set[str]] = {}
    for p in pages:
        for label in p.all_labels:
            if first or p.in_later_cells(label):
                wanted.setdefault(label, set()).update(p.extras(label, first))
    return {label: tuple(sorted(wanted[label])) for label in ENTRIES if label in wanted}


def row_of(profile: str, dataset: str, seed: int, forget: tuple[int, ...], label: str,
            extras: tuple[str, ...]) -> Row:
    """The grid row of ``label`` (an :data:`ENTRIES` key) in one (seed, forget set) cell."""
    entry = ENTRIES[label]
    return Row(dataset, profile, seed, forget, entry.method, label,
               entry.overrides(profile, len(forget), dataset), extras, entry.run_seed)


def book_grid(profile: str, dataset: str | None = None, pages: Iterable[str] | None = None,
              cells: Sequence[tuple[int, tuple[int, ...]]] | None = None) -> Grid:
    """The union of the pages' reads (default: every page) as a sweep grid named after the
    profile, over ``cells`` (default: the profile's): every read in the first cell, in the
    later ones only the labels and extras some page reads there (:attr:`Page.first_only`)."""
    dataset = dataset or get_profile(profile).dataset
    chosen = [PAGES[p] for p in (PAGES if pages is None else pages)]
    first, later = extras_by_label(chosen), extras_by_label(chosen, first=False)
    out = [row_of(profile, dataset, s, f, label, extras)
           for i, (s, f) in enumerate(cells or grid_cells(profile))
           for label, extras in (later if i else first).items()]
    return Grid(profile, tuple(out), BOOK_EXTRAS)
