"""The report workbook technicians read the morning after (openpyxl, write-only: fast).

Sheets: Summary (with a bar chart of the outcomes), Rows (one per data row of the input, with
every column as read, so failed rows can be fixed and run again), Issues, Not in sheet.
Every value that came from the sheet or the server is written as text, never as a formula.
The workbook is written to a temporary file and renamed into place.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__, values
from .errors import ReportError

if TYPE_CHECKING:
    from .sync import SyncOutcome

RESULT_COLOURS = {
    "created": "C6EFCE", "updated": "C6EFCE", "would create": "E2F5E6", "would update": "E2F5E6",
    "unchanged": "E7E6E6", "invalid": "FFC7CE", "failed": "FFC7CE", "skipped": "FFEB9C",
}
SEVERITY_COLOURS = {"error": "FFC7CE", "warning": "FFEB9C"}
OUTCOMES = ("created", "updated", "unchanged", "invalid", "failed", "skipped")
ROW_COLUMNS = ("Sheet", "Row", "sample_id", "sample_name", "layer_id", "Action", "Result",
               "Changes", "HTTP status", "Attempts", "Record id", "Message")
ISSUE_COLUMNS = ("Sheet", "Row", "Column", "Cell", "Value", "Severity", "Message")
REMOTE_COLUMNS = ("sample_id", "sample_name", "substrate", "layer_id", "Record id",
                  "composition_string", "element_dict", "orientation", "space_group", "mp_id")


def write_report(outcome: "SyncOutcome", path: str | Path) -> Path:
    """Write the report for a finished run; returns its path. Raises ReportError."""
    writer = ReportWriter(path, outcome.headers, [r.action for r in outcome.results])
    for index, result in enumerate(outcome.results):
        writer.add(index, result)
    return writer.finish(outcome)


class ReportWriter:
    """Streams the report while the writes run.

    Rows go into the Rows sheet in sheet order as their results arrive (openpyxl's write-only
    mode streams each sheet to a temporary file), so that when the last write returns only
    the tail, the small sheets and the zip are left to do.
    """

    def __init__(self, path: str | Path, headers: list[str], actions: list[Any]) -> None:
        self.path = Path(path)
        self.headers = headers
        self._actions = actions
        self._pending: dict[int, Any] = {}
        self._next = 0
        self._book: Any = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ReportError(f"cannot create the folder {self.path.parent} for the report: "
                              f"{exc.strerror}") from None

    def _start(self) -> None:
        from openpyxl import Workbook  # only when a report is written

        self._book = Workbook(write_only=True)
        self._styles = _Styles()
        self._summary = self._book.create_sheet("Summary")  # first sheet; filled at the end
        header = _row_header(self.headers)
        widths = _widths(header, (_row_values(a, None, self.headers) for a in self._actions[:500]))
        self._rows = _table_start(self._book, self._styles, "Rows", header, widths,
                                  len(self._actions))

    def add(self, index: int, result: Any) -> None:
        """Record the result of row `index`; rows are written in order as they complete."""
        if self._book is None:
            self._start()
        self._pending[index] = result
        while self._next in self._pending:
            result = self._pending.pop(self._next)
            _append(self._rows, self._styles, _row_values(result.action, result, self.headers), 7)
            self._next += 1

    def finish(self, outcome: "SyncOutcome") -> Path:
        """Write the rest and move the workbook into place (temporary file, then rename)."""
        if self._book is None:
            self._start()
        book, styles = self._book, self._styles
        _fill_summary(self._summary, styles, outcome)
        issues = [_issue_values(i) for i in outcome.issues]
        sheet = _table_start(book, styles, "Issues", ISSUE_COLUMNS, _widths(ISSUE_COLUMNS, issues[:500]),
                             len(issues))
        for row in issues:
            _append(sheet, styles, row, 6)
        remote = [_remote_values(r) for r in outcome.remote_only]
        sheet = _table_start(book, styles, "Not in sheet", REMOTE_COLUMNS,
                             _widths(REMOTE_COLUMNS, remote[:500]), len(remote))
        for row in remote:
            _append(sheet, styles, row, None)
        tmp_name = None
        try:
            with tempfile.NamedTemporaryFile(dir=self.path.parent, prefix=f".{self.path.stem}.",
                                             suffix=".tmp", delete=False) as handle:
                tmp_name = handle.name
                book.save(handle)
            os.replace(tmp_name, self.path)
        except OSError as exc:
            if tmp_name and os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise ReportError(f"cannot write the report {self.path}: {exc.strerror or exc}") from None
        return self.path


class _Styles:
    def __init__(self) -> None:
        from openpyxl.styles import Alignment, Font, PatternFill

        self.bold = Font(bold=True)
        self.title = Font(bold=True, size=14)
        self.header_fill = PatternFill("solid", fgColor="DDEBF7")
        self.left = Alignment(horizontal="left")
        self.fills = {k: PatternFill("solid", fgColor=v)
                      for k, v in {**RESULT_COLOURS, **SEVERITY_COLOURS}.items()}


def _text(ws: Any, value: Any) -> Any:
    """A cell that is text whatever it holds: `=1+2` stays `=1+2`, never a formula.

    openpyxl treats only a string starting with "=" as a formula; every other string is
    written as it is (the fast path), that one as a cell forced to the string type.
    """
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    text = value if type(value) is str else values.describe(value)
    if ILLEGAL_CHARACTERS_RE.search(text):
        text = ILLEGAL_CHARACTERS_RE.sub("\ufffd", text)
    if not text.startswith("="):
        return text
    cell = WriteOnlyCell(ws, value=text)
    cell.data_type = "s"
    return cell


def _styled(ws: Any, value: Any, fill: Any) -> Any:
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(ws, value=value)
    if type(value) is str and value.startswith("="):
        cell.data_type = "s"
    cell.fill = fill
    return cell


def _number(ws: Any, value: Any) -> Any:
    from openpyxl.cell import WriteOnlyCell

    return WriteOnlyCell(ws, value=value)


def _fill_summary(ws: Any, styles: _Styles, outcome: "SyncOutcome") -> None:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.chart import BarChart, Reference

    ws.column_dimensions["A"].width = 32
    ws.column_dimensions["B"].width = 70
    ws.column_dimensions["D"].width = 12
    ws.column_dimensions["E"].width = 8
    title = WriteOnlyCell(ws, value="layer-sync report")
    title.font = styles.title
    ws.append([title])
    counts = outcome.counts
    lines: list[tuple[str, Any]] = [
        ("Result", outcome.headline),
        ("Exit code", int(outcome.exit_code)),
        ("Input file", str(outcome.path)),
        ("Sheet", outcome.sheet or ""),
        ("API URL", outcome.api_url),
        ("Started", outcome.started.strftime("%Y-%m-%d %H:%M:%S")),
        ("Finished", outcome.finished.strftime("%Y-%m-%d %H:%M:%S")),
        ("Duration (s)", round(outcome.duration_s, 2)),
        ("Dry run", "yes: nothing was written" if outcome.dry_run else "no"),
        ("Rows", counts["rows"]),
        *[(name.capitalize() if name != "remote_only" else "Remote only (not in sheet)",
           counts[name]) for name in (*OUTCOMES, "remote_only")],
        ("Requests", ", ".join(f"{m} {n}" for m, n in outcome.requests.items()) or "none"),
        ("Retries", outcome.retries),
        ("Unrecognised columns (ignored)", ", ".join(outcome.ignored_columns) or "none"),
        ("layer-sync version", __version__),
    ]
    if outcome.message:
        lines.insert(1, ("Stopped because", outcome.message))
    # The chart's data sits in columns D:E, beside the summary.
    chart_rows = [("Outcome", "Rows")] + [(name, counts[name]) for name in OUTCOMES]
    for i, (label, value) in enumerate(lines):
        label_cell = WriteOnlyCell(ws, value=label)
        label_cell.font = styles.bold
        value_cell = WriteOnlyCell(ws, value=value if isinstance(value, (int, float))
                                   else values.describe(value))
        if isinstance(value_cell.value, str) and value_cell.value.startswith("="):
            value_cell.data_type = "s"
        value_cell.alignment = styles.left
        extra: list[Any] = []
        if i < len(chart_rows):
            name, number = chart_rows[i]
            name_cell = WriteOnlyCell(ws, value=name)
            if i == 0:
                name_cell.font = styles.bold
            elif name in styles.fills:
                name_cell.fill = styles.fills[name]
            extra = [None, name_cell, _number(ws, number) if i else WriteOnlyCell(ws, value=number)]
        ws.append([label_cell, value_cell, *extra])
    chart = BarChart()
    chart.type = "bar"
    chart.style = 10
    chart.title = "Rows by outcome"
    chart.legend = None
    chart.height, chart.width = 7, 12
    data = Reference(ws, min_col=5, min_row=2, max_row=2 + len(OUTCOMES))  # title + 6 outcomes
    cats = Reference(ws, min_col=4, min_row=3, max_row=2 + len(OUTCOMES))
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(cats)
    ws.add_chart(chart, "G2")


def _widths(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[int]:
    widths = [len(h) for h in header]
    for row in rows:
        for i, value in enumerate(row[:len(widths)]):
            widths[i] = max(widths[i], len(values.describe(value)))
    return [min(max(w + 2, 8), 60) for w in widths]


def _table_start(book: Any, styles: _Styles, title: str, header: Sequence[str],
                 widths: list[int], rows: int) -> Any:
    """A sheet with a bold, filled, frozen header row, filters and column widths."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.utils import get_column_letter

    ws = book.create_sheet(title)
    ws.freeze_panes = "A2"
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.auto_filter.ref = f"A1:{get_column_letter(len(header))}{rows + 1}"
    head = []
    for name in header:
        cell = WriteOnlyCell(ws, value=name)
        cell.font = styles.bold
        cell.fill = styles.header_fill
        head.append(cell)
    ws.append(head)
    return ws


def _append(ws: Any, styles: _Styles, row: list[Any], colour_at: int | None) -> None:
    cells = [(v if type(v) is int else _text(ws, v)) for v in row]
    if colour_at is not None:
        fill = styles.fills.get(str(row[colour_at - 1]))
        if fill is not None:
            cells[colour_at - 1] = _styled(ws, str(row[colour_at - 1]), fill)
    ws.append(cells)


def _row_header(headers: list[str]) -> list[str]:
    return [*ROW_COLUMNS, *[f"{h} (as read)" for h in headers]]


class _Text(str):
    """A value from the sheet or server that must be written as text even if it is a number."""


def _row_values(action: Any, result: Any, headers: list[str]) -> list[Any]:
    """One line of the Rows sheet (`result` None: what is known before the writes)."""
    row = action.row
    as_read = {**{row.columns.get(f, f): v for f, v in row.raw.items()}, **row.extra}
    return [
        row.sheet, row.row,
        _Text(values.describe(action.sample_id if action.sample_id is not None
                              else row.raw.get("sample_id"))),
        _Text(values.describe(row.raw.get("sample_name"))),
        _Text(values.describe(row.raw.get("layer_id"))),
        action.kind, result.result if result else "would update",
        "; ".join(str(c) for c in action.changes),
        result.status if result and result.status is not None else "",
        result.attempts if result and result.attempts else "",
        result.record_id if result and result.record_id is not None else "",
        result.message if result else "",
        *[_Text(values.describe(as_read.get(h))) for h in headers],
    ]


def _issue_values(issue: Any) -> list[Any]:
    return [issue.sheet, issue.row if issue.row is not None else "", issue.column or "",
            issue.cell or "", _Text(issue.value), issue.severity, issue.message]


def _remote_values(record: dict[str, Any]) -> list[Any]:
    return [_Text(values.describe(record.get(k))) for k in
            ("sample_id", "sample_name", "substrate", "layer_id", "id", "composition_string",
             "element_dict", "orientation", "space_group", "mp_id")]
