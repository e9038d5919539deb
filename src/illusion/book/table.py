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

from ..catalog import A_BASELINES, BASELINES, CMF_BASES, OTHER_BASELINES, ForgetSet
from ..data import known_num_classes
from ..rows import Row, Grid
from ..methods import hparams_for
from ..profiles import get_profile

__all__ = ["BOOK_EXTRAS", "EC_METHODS", "ENTRIES", "PAGES", "RUN_BASES", "RUN_SEEDS", "Entry",
           "Page", "book_grid", "extras_by_label", "grid_cells", "row_of", "run_label", "runs_of"]


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
# (issue 34). Fewer rows with more runs: [A]'s five baselines (C1-C3, and their relearning
# for C5), their +CMF@A variants (C6), and [B]'s EC and RL+EC with their per-stage CKA (C7)
# (book/reproducing.md).
RUN_SEEDS = (1, 2)
EC_METHODS = ("ec", "random_label+ec")
RUN_BASES = (*A_BASELINES, *(f"{m}+cmf@A" for m in CMF_BASES), *EC_METHODS)


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
    """A notebook's reads, label -> the extras it needs of that row (on top of
    :data:`BOOK_EXTRAS`), in two parts from which the grid is derived (:func:`book_grid`):

    * ``reads``: everything the page reads in the grid's first cell, the one it shows in
      detail (tables, figures, other readings, ablations, controls, other baselines);
    * ``headline``: what its headline verdict reads in *every* cell, a part of ``reads``.

    The later cells hold only what some page's headline reads there (issue 35): ablations,
    other baselines, extra attacks and figures stay in the first cell. A page with a headline
    also reads the ``original`` row in every cell (with the extras its headline names).
    ``runs``: labels whose other runs (:data:`RUN_SEEDS`, :func:`runs_of`) the page reads in
    the first cell, with the book's extras and ``run_extras`` (what the page's verdict reads
    of every run); they are not among :attr:`labels` (a page's tables and verdicts), the page
    reads them by name."""

    notebook: str
    reads: Mapping[str, tuple[str, ...]]
    headline: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    runs: tuple[str, ...] = ()
    run_extras: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for label, extras in self.headline.items():
            if label != "original" and label not in self.reads:
                raise ValueError(f"page {self.notebook}: its headline reads {label!r}, which "
                                 "its reads do not list")
            missing = set(extras) - set(self.reads.get(label, ()))
            if missing:
                raise ValueError(f"page {self.notebook}: its headline reads {sorted(missing)} "
                                 f"of {label!r}, which its reads do not list")

    @property
    def labels(self) -> list[str]:
        return ["original", *(label for label in self.reads if label != "original")]

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
        if label in self.run_labels:
            return self.run_extras
        return tuple((self.reads if first else self.headline).get(label, ()))

    def in_later_cells(self, label: str) -> bool:
        """Whether the page reads ``label`` beyond the grid's first cell: its headline reads
        it (and ``original``, when the page has a headline)."""
        return label in self.headline or (label == "original" and bool(self.headline))


def _reads(labels: Iterable[str], extras: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    return {label: extras for label in labels}


_DEPTH = ("stage_cka", "stage_cka_draws", "stage_probes")


_A = ("retrain", *A_BASELINES)  # what C1-C3 judge: Retrain and [A]'s five baselines
_PAIRS = ("retrain", *CMF_BASES, *(f"{m}+cmf@A" for m in CMF_BASES))  # C6's headline
_C7 = ("retrain", "random_label", "neggrad_plus", "scrub", "salun", *EC_METHODS)
_FIDELITY = ("retrain", "random_label", "salun", "scrub", "neggrad_plus")

PAGES: dict[str, Page] = {
    # each seed's training record
    "C0": Page("01_original_model", {"original": ("training",)},
               headline={"original": ("training",)}),
    # [A]'s five are counted in every cell; the other baselines are shown in the first
    "C1": Page("02_output_level", _reads(("retrain", *BASELINES)), headline=_reads(_A),
               runs=A_BASELINES),
    # the feature PCA of the cell shown in detail: the original, Retrain and every baseline
    # (the page's parameter picks one)
    "C2": Page("03_probe_recovery", _reads(("original", "retrain", *BASELINES),
                                           ("feature_sample",)),
               headline=_reads(_A), runs=A_BASELINES),
    "C3": Page("04_misalignment", _reads(("retrain", *BASELINES)), headline=_reads(_A),
               runs=A_BASELINES),
    # counted: [A]'s head-only runs and Retrain (output metrics); the analytic flip of the
    # original's head is a check whose finding the headline states; the other head-only edits
    # are shown in the first cell
    "C4": Page("05_classifier_only", {"original": ("flip_curve",),
                                      **_reads(("retrain", "prune_row", "nc_flip",
                                                "last_layer:random_label",
                                                "last_layer:neggrad_plus",
                                                "last_layer:unsir@A"))},
               # the flip's check and the bound's tightness are in the headline's text
               headline={"original": ("flip_curve",),
                         **_reads(("retrain", "last_layer:random_label",
                                   "last_layer:unsir@A"))}),
    # [A]'s five and Retrain are attacked in every cell; the other baselines, EC and RL+CMF,
    # Retrain's calibration of the attack and the dose-response (the attack at every rate of
    # DOSE_LRS on the validation split, eleven curves a row) in the cell shown in detail
    "C5": Page("06_relearning", {"retrain": ("relearn", "attack_calibration", "relearn_dose"),
                                 **_reads(A_BASELINES, ("relearn", "relearn_dose")),
                                 **_reads((*OTHER_BASELINES, "ec", "random_label+cmf"),
                                          ("relearn",))},
               headline=_reads(_A, ("relearn",)),
               # the other runs of [A]'s five, attacked as run 0 is
               runs=A_BASELINES, run_extras=("relearn",)),
    # the claim's verdict reads [A]'s learning rates (@A) in every cell; the profile's tuned
    # ones are an ablation, with each base method at the same learning rates as its control,
    # and the CMF original's own row, in the first cell, with the feature PCA
    "C6": Page("07_cmf", {**_reads((*_PAIRS, *(f"{m}+cmf" for m in CMF_BASES),
                                    *(f"{m}@cmf-lr" for m in CMF_BASES))),
                          **_reads(("cmf_original", *(f"{m}+cmf@A" for m in CMF_BASES)),
                                   ("feature_sample",))},
               headline=_reads(_PAIRS),
               runs=(*A_BASELINES, *(f"{m}+cmf@A" for m in CMF_BASES))),
    # the verdict reads the pooled per-stage CKA (and its draws) in every cell; the probes at
    # every depth, the flattened-map CKA (a variant reading) and the layer-weight ablation
    # in the first cell
    "C7": Page("08_erase_at_core", {"original": ("stage_probes",),
                                    **_reads(_C7, (*_DEPTH, "stage_cka_flat")),
                                    **_reads(("ec_ramp", "ec_output_only"), ("stage_cka",))},
               headline=_reads(_C7, ("stage_cka", "stage_cka_draws")),
               # EC's other runs, with what the verdict reads of them
               runs=EC_METHODS, run_extras=("stage_cka", "stage_cka_draws")),
    # no headline: the first cell only
    "audit": Page("09_audit", {"retrain": (), "random_label": ("audit_page",)}),
    # the models on which the metric deviations' effects are measured, means over every
    # cell: rows C1-C3's headlines already hold in every cell (so nothing is added there)
    "fidelity": Page("10_fidelity", _reads(_FIDELITY), headline=_reads(_FIDELITY)),
    # the verdicts of the claim pages, as they published them (illusion.book.results): no row
    "summary": Page("11_summary", {}),
    # the build's numbers and verdicts against the committed reference (illusion.contract)
    "reproduction": Page("12_reproduction", {}),
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
    later ones only the labels and extras some page's headline reads (:attr:`Page.headline`)."""
    dataset = dataset or get_profile(profile).dataset
    chosen = [PAGES[p] for p in (PAGES if pages is None else pages)]
    first, later = extras_by_label(chosen), extras_by_label(chosen, first=False)
    out = [row_of(profile, dataset, s, f, label, extras)
           for i, (s, f) in enumerate(cells or grid_cells(profile))
           for label, extras in (later if i else first).items()]
    return Grid(profile, tuple(out), BOOK_EXTRAS)
