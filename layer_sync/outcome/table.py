"""The Rows table: one line of text per data row of the input, saying what happened to it,
then every column as read. `SyncOutcome.to_frame()` is this table; the report's Rows sheet
(`report.content`) is made from it, more compactly. Every value in it is showable text within
a cell's limits, the run's key as `***`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any

from ..core.issues import Issue, Severity
from ..core.secrets import NO_KEYS, Redactor
from ..core.text import describe, printable
from ..read.rows import SheetRow
from .rows import RowResult

if TYPE_CHECKING:
    import pandas as pd


#: The Rows sheet's own columns; the row's columns as read follow them.
ROW_COLUMNS = ("Sheet", "Row", "sample_id", "sample_name", "layer_id", "Action", "Result",
               "Changes", "HTTP status", "Attempts", "Record id", "Cell", "Message")

#: What one .xlsx sheet can hold (Excel's limits, which every reader keeps to); a table's
#: rows include its header row.
MAX_COLUMNS = 16_384
MAX_ROWS = 1_048_576
MAX_TEXT = 32_767



def text(value: Any) -> str:
    """`value` as the report shows it: always a string, showable (`core.text.printable`:
    no character an .xlsx cannot hold, nor a C1 or bidi control), within a cell's limit."""
    shown = value if type(value) is str else describe(value)
    shown = printable(shown)
    if len(shown) > MAX_TEXT:
        shown = shown[:MAX_TEXT - 1] + "\u2026"
    return shown


class CellText:
    """Values as a report cell shows them (see `text`), with the run's key as `***`."""

    def __init__(self, redactor: Redactor = NO_KEYS) -> None:
        # The run's key is written as *** wherever the sheet or the server put it (a cheap
        # test first: a value that cannot hold it is left as it is).
        self._redactor = redactor if redactor else None

    def text(self, value: Any) -> str:
        """`value` as the report shows it (see `text`), with the run's key as `***`."""
        shown = text(value)
        if self._redactor is not None:
            shown = self._redactor.redact(shown)
        return shown


class RowsTable(CellText):
    """The Rows table of an outcome: `header`, then `rows()`, one list per data row."""

    #: The table's own columns, before the columns as read (a subclass may have others).
    own_columns: tuple[str, ...] = ROW_COLUMNS

    def __init__(self, results: Sequence[RowResult], headers: Sequence[str],
                 issues: Sequence[Issue], redactor: Redactor = NO_KEYS) -> None:
        super().__init__(redactor)
        self.results = results
        room = MAX_COLUMNS - len(self.own_columns)
        self.all_headers = list(headers)
        self.headers = self.all_headers[:room]
        #: Columns of the sheet that do not fit in an .xlsx sheet beside the report's own.
        self.left_out = len(self.all_headers) - len(self.headers)
        self.row_header = [*self.own_columns,
                           *(self.text(f"{h} (as read)") for h in self.headers)]
        self._first_problem = _first_problem_cells(issues)
        #: Data rows of the input past what the Rows sheet holds (an input of more than a
        #: million rows, from a CSV or several sheets): left out, and said.
        self.rows_left_out = max(0, len(results) - (MAX_ROWS - 1))

    def rows(self) -> Iterator[list[Any]]:
        """The Rows sheet, one list per data row of the input, in sheet order."""
        show, layout_of = self.shower(), self.layouts()
        for result in islice(self.results, MAX_ROWS - 1):
            yield self._row(result, layout_of(result.action.row), show)

    def shower(self) -> Callable[[Any], str]:
        """`text`, remembering what it made: most values repeat from row to row (the sheet's
        name, compositions, orientations, outcomes), so each distinct one is made showable
        once. Text is keyed by itself; other values by type too (1, 1.0 and True are equal
        keys but read "1", "1", "TRUE")."""
        shown: dict[Any, str] = {}

        def show(value: Any) -> str:
            key = value if type(value) is str else (type(value), value)
            try:
                return shown[key]
            except KeyError:
                made = shown[key] = self.text(value)
                return made
            except TypeError:  # unhashable (a list or dict from a sheet cell): not kept
                return self.text(value)

        return show

    def layouts(self) -> Callable[[SheetRow], list[tuple[bool, str]]]:
        """Where each header's value is in a row, looked up once per sheet (its rows share one
        header map and the same fields): in the row's extra columns, or under the field the
        header was mapped to."""
        layouts: dict[tuple[int, tuple[str, ...]], list[tuple[bool, str]]] = {}

        def layout_of(row: SheetRow) -> list[tuple[bool, str]]:
            key = (id(row.columns), tuple(row.raw))
            layout = layouts.get(key)
            if layout is None:
                layout = layouts[key] = self._layout(row)
            return layout

        return layout_of

    def as_read(self, row: SheetRow, layout: list[tuple[bool, str]],
                show: Callable[[Any], str]) -> list[str]:
        """The row's value under each header, as read."""
        raw, extra = row.raw, row.extra
        return [show(extra.get(key) if in_extra else raw.get(key)) for in_extra, key in layout]

    def _layout(self, row: SheetRow) -> list[tuple[bool, str]]:
        """For each header: (from the extra columns?, the key to look up there or in raw)."""
        fields = {row.columns.get(f, f): f for f in row.raw}
        return [(True, h) if h in row.extra or h not in fields else (False, fields[h])
                for h in self.headers]

    def _row(self, result: RowResult, layout: list[tuple[bool, str]],
             show: Callable[[Any], str]) -> list[Any]:
        action = result.action
        row = action.row
        raw = row.raw
        # The ids as numbers where the row has them (a DataFrame of the table keeps them
        # integers), else as the sheet wrote them.
        sample_id = (action.sample_id if action.sample_id is not None
                     else show(raw.get("sample_id")))
        layer_id = (action.layer_id if type(action.layer_id) is int
                    else show(raw.get("layer_id")))
        return [
            show(row.sheet), row.row,
            exact_number(sample_id) if type(sample_id) is int else sample_id,
            show(raw.get("sample_name")),
            exact_number(layer_id) if type(layer_id) is int else layer_id, show(action.kind),
            show(result.result),
            self.text("; ".join(str(c) for c in action.changes)) if action.changes else "",
            result.status if result.status is not None else "",
            result.attempts or "",
            exact_number(result.record_id),
            self._first_problem.get((row.sheet, row.row), ""), self.text(result.message),
            *self.as_read(row, layout, show),
        ]


#: A workbook's numbers are doubles: past this a whole number would be shown rounded.
_EXACT = 2 ** 53


def exact_number(value: int | None) -> int | str:
    """A record id as the report shows it: a number, or text when a number would round it."""
    if value is None:
        return ""
    return value if abs(value) <= _EXACT else str(value)


def _first_problem_cells(issues: Sequence[Issue]) -> dict[tuple[str, int], str]:
    """(sheet, row) -> the cell of the row's first error, else of its first warning: the
    cell to look at for the row's message."""
    cells: dict[tuple[str, int], str] = {}
    for severity in (Severity.ERROR, Severity.WARNING):
        for issue in issues:
            if issue.severity == severity and issue.row is not None and issue.cell:
                cells.setdefault((issue.sheet, issue.row), text(issue.cell))
    return cells


def rows_frame(table: RowsTable) -> pd.DataFrame:
    """The Rows table as a pandas DataFrame: the same columns, one row per data row.

    Text is as the report shows it; a blank is None; a column of whole numbers (Row, HTTP
    status, Attempts, Record id) is Int64, its blanks <NA>.
    """
    import pandas as pd  # only for notebook users: the command line never imports pandas

    rows = list(table.rows())
    columns: dict[int, Any] = {}  # by position: two input columns may share a name
    for col in range(len(table.row_header)):
        cells = [None if row[col] == "" else row[col] for row in rows]
        whole = any(c is not None for c in cells) and all(
            c is None or type(c) is int for c in cells)
        columns[col] = pd.Series(cells, dtype="Int64" if whole else object)
    frame = pd.DataFrame(columns, index=pd.RangeIndex(len(rows)))
    frame.columns = list(table.row_header)
    return frame
