"""The claims' criteria as data, and their verdicts as pure functions of results tables: one
module per claim (``c0_original`` ... ``c7_depth``).

Each claim page of the book states its criterion before any number is computed: a frozen
dataclass registered with :func:`~illusion.claims.render.criterion` (its fields are the named
thresholds; the page shows the object). The page then hands its results table to the claim's
function, which returns a :class:`Verdict`: a status (``"holds"``, ``"partly holds"``, ``"does
not hold"`` or ``"not decided"``), a one-sentence text, a per-method ``details`` table and,
where a claim has several halves, their statuses in ``parts``. The functions never read a
file or train a model.

Tables are the notebooks' summaries: one row per method (a ``method`` column, or the methods as
index) holding means over the grid's (seed, forget set) cells, or one cell's rows
(:func:`illusion.book.judge`). The statuses, :class:`Verdict`, the three-valued logic and
:func:`across_cells` are :mod:`.logic`; the criteria's display and registration :mod:`.render`.

Importing the package imports every module in it, so a new claim is a module here with its
criterion under ``@criterion("C8")``, its notebook, and its page in :data:`illusion.book.PAGES`;
:data:`CRITERIA` lists what registered.
"""

import importlib
import pkgutil

from .c0_original import NearCollapse, TerminalPhase, near_collapse, terminal_phase
from .c1_output import OutputSuccess, output_success
from .c2_illusion import Illusion, illusion
from .c3_misalignment import (Misalignment, MisalignmentStronger, misalignment,
                              misalignment_stronger)
from .c4_classifier_only import (ClassifierOnly, ClassifierOnlyStronger, classifier_only,
                                 classifier_only_stronger)
from .c5_relearning import (DOSE_FASTER, DOSE_WHERE_NOT, Relearning, RelearningDose,
                            RelearningStronger, relearning, relearning_control, relearning_dose,
                            relearning_stronger)
from .c6_cmf import CMFRepresentation, cmf_representation
from .c7_depth import (DepthForgetting, DepthForgettingStronger, depth_forgetting,
                       depth_forgetting_stronger)
from .logic import (FAILS, HEADLINE_RULE, HOLDS, OTHER, PAPER, PARTLY, STRONGER, UNDECIDED,
                    HeadlineRule, Statement, Verdict, across_cells, headline_status)
from .render import CRITERIA, criterion

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")  # a claim module registers its criteria

__all__ = ["CRITERIA", "FAILS", "HEADLINE_RULE", "HOLDS", "OTHER", "PAPER", "PARTLY", "STRONGER",
           "UNDECIDED", "CMFRepresentation", "ClassifierOnly", "ClassifierOnlyStronger",
           "DepthForgetting", "DepthForgettingStronger", "HeadlineRule", "Illusion", "Misalignment",
           "MisalignmentStronger", "NearCollapse", "OutputSuccess", "Relearning",
           "RelearningStronger", "Statement", "TerminalPhase", "Verdict", "across_cells",
           "classifier_only", "classifier_only_stronger", "cmf_representation", "criterion",
           "depth_forgetting", "depth_forgetting_stronger", "headline_status", "illusion",
           "misalignment", "misalignment_stronger", "near_collapse", "output_success", "relearning",
           "relearning_control", "relearning_stronger", "terminal_phase", "DOSE_FASTER",
           "DOSE_WHERE_NOT", "RelearningDose", "relearning_dose"]
