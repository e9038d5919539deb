"""The book: what each page reads (:mod:`~illusion.book.table`), the reader a notebook reads
through (:mod:`~illusion.book.reader`) and the judging of a claim over the cells
(:mod:`~illusion.book.judging`), and the verdicts the claim pages publish for the summary page
(:mod:`~illusion.book.results`). Notebooks use the names re-exported here (``book.page``,
``book.judge``...); a test that swaps the declarations patches ``illusion.book.table.PAGES``.
"""

from . import judging, reader, results, table
from .judging import (change_from, depth_inputs, flips, forget_cka, in_every_cell, judge,
                      judge_cells, means, sensitivity)
from .reader import (ACCURACY_COLUMNS, PageReader, UndeclaredRead, ablation_table,
                     calibration_table, depth_tables, dose_table, page, relearn_runs,
                     relearn_tables, run_means)
from .results import (collect, means_interval, publish, results_dir, scale_caveat,
                      summary_table)
from .table import (BOOK_EXTRAS, EC_METHODS, ENTRIES, PAGES, RUN_BASES, RUN_SEEDS, Entry, Page,
                    book_grid, extras_by_label, grid_cells, row_of, run_label, runs_of)

__all__ = ["ACCURACY_COLUMNS", "BOOK_EXTRAS", "EC_METHODS", "ENTRIES", "PAGES", "Entry", "Page",
           "PageReader", "UndeclaredRead", "ablation_table", "book_grid", "calibration_table",
           "row_of", "change_from", "depth_inputs", "depth_tables", "dose_table", "extras_by_label",
           "flips", "forget_cka", "grid_cells", "in_every_cell", "judge", "judge_cells", "judging",
           "means", "page", "reader", "relearn_runs", "relearn_tables", "run_means", "RUN_BASES",
           "RUN_SEEDS", "run_label", "runs_of", "sensitivity", "table",
           # the verdicts the claim pages publish and the summary page collects
           "collect", "means_interval", "publish", "results", "results_dir", "scale_caveat",
           "summary_table"]
