"""The book: what each page reads (:mod:`~illusion.book.table`), the reader a notebook reads
through (:mod:`~illusion.book.reader`) and the judging of a claim over the cells
(:mod:`~illusion.book.judging`). Notebooks use the names re-exported here (``book.page``,
``book.judge``...); a test that swaps the declarations patches ``illusion.book.table.PAGES``.
"""

from . import judging, reader, table
from .judging import (change_from, depth_inputs, flips, forget_cka, judge, judge_cells, means,
                      sensitivity)
from .reader import (ACCURACY_COLUMNS, PageReader, UndeclaredRead, ablation_table,
                     calibration_table, depth_tables, page, relearn_tables)
from .table import (BOOK_EXTRAS, ENTRIES, PAGES, Entry, Page, book_grid, row_of,
                    extras_by_label, grid_cells)

__all__ = ["ACCURACY_COLUMNS", "BOOK_EXTRAS", "ENTRIES", "PAGES", "Entry", "Page",
           "PageReader", "UndeclaredRead", "ablation_table", "book_grid", "calibration_table",
           "row_of", "change_from", "depth_inputs", "depth_tables", "extras_by_label",
           "flips", "forget_cka", "grid_cells", "judge", "judge_cells", "judging", "means", "page",
           "reader", "relearn_tables", "sensitivity", "table"]
