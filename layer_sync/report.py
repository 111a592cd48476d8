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
    """Write the report for a run; returns its path. Raises ReportError when it cannot."""
    from openpyxl import Workbook  # only when a report is written

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot create the folder {path.parent} for the report: "
                          f"{exc.strerror}") from None
    book = Workbook(write_only=True)
    styles = _Styles()
    _summary(book, styles, outcome)
    _table(book, styles, "Rows", _row_header(outcome), _rows(outcome), result_column=7)
    _table(book, styles, "Issues", ISSUE_COLUMNS, _issues(outcome), severity_column=6)
    _table(book, styles, "Not in sheet", REMOTE_COLUMNS, _remote(outcome))
    tmp_name = None
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp",
                                         delete=False) as handle:
            tmp_name = handle.name
            book.save(handle)
        os.replace(tmp_name, path)
    except OSError as exc:
        if tmp_name and os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise ReportError(f"cannot write the report {path}: {exc.strerror or exc}") from None
    return path


class _Styles:
    def __init__(self) -> None:
        from openpyxl.styles import Alignment, Font, PatternFill

        self.bold = Font(bold=True)
        self.title = Font(bold=True, size=14)
        self.header_fill = PatternFill("solid", fgColor="DDEBF7")
        self.wrap = Alignment(vertical="top", wrap_text=False)
        self.fills = {k: PatternFill("solid", fgColor=v)
                      for k, v in {**RESULT_COLOURS, **SEVERITY_COLOURS}.items()}


def _text(ws: Any, value: Any) -> Any:
    """A cell that is text whatever it holds: `=1+2` stays `=1+2`, never a formula."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    text = values.describe(value)
    cell = WriteOnlyCell(ws, value=ILLEGAL_CHARACTERS_RE.sub("\ufffd", text))
    cell.data_type = "s"
    return cell


def _number(ws: Any, value: Any) -> Any:
    from openpyxl.cell import WriteOnlyCell

    return WriteOnlyCell(ws, value=value)


def _summary(book: Any, styles: _Styles, outcome: "SyncOutcome") -> None:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.chart import BarChart, Reference

    ws = book.create_sheet("Summary")
    ws.column_dimensions["A"].width = 26
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
        value_cell = _number(ws, value) if isinstance(value, (int, float)) else _text(ws, value)
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
    data = Reference(ws, min_col=5, min_row=2, max_row=1 + len(OUTCOMES))
    cats = Reference(ws, min_col=4, min_row=3, max_row=2 + len(OUTCOMES))
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(cats)
    ws.add_chart(chart, "G2")


def _table(book: Any, styles: _Styles, title: str, header: Sequence[str],
           rows: Iterable[list[Any]], result_column: int | None = None,
           severity_column: int | None = None) -> None:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.utils import get_column_letter

    ws = book.create_sheet(title)
    ws.freeze_panes = "A2"
    materialised = list(rows)
    widths = [len(h) for h in header]
    for row in materialised[:500]:
        for i, value in enumerate(row):
            if i < len(widths):
                widths[i] = max(widths[i], len(values.describe(value)))
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = min(max(width + 2, 8), 60)
    ws.auto_filter.ref = f"A1:{get_column_letter(len(header))}{len(materialised) + 1}"
    head = []
    for name in header:
        cell = WriteOnlyCell(ws, value=name)
        cell.font = styles.bold
        cell.fill = styles.header_fill
        head.append(cell)
    ws.append(head)
    colour_at = result_column or severity_column
    for row in materialised:
        cells = [(_number(ws, v) if isinstance(v, int) and not isinstance(v, bool) else _text(ws, v))
                 for v in row]
        if colour_at is not None:
            fill = styles.fills.get(str(row[colour_at - 1]))
            if fill is not None:
                cells[colour_at - 1].fill = fill
        ws.append(cells)


def _row_header(outcome: "SyncOutcome") -> list[str]:
    return [*ROW_COLUMNS, *[f"{h} (as read)" for h in outcome.headers]]


class _Text(str):
    """A value from the sheet or server that must be written as text even if it is a number."""


def _rows(outcome: "SyncOutcome") -> Iterable[list[Any]]:
    for result in outcome.results:
        action = result.action
        row = action.row
        as_read = {**{row.columns.get(f, f): v for f, v in row.raw.items()}, **row.extra}
        yield [
            row.sheet, row.row,
            _Text(values.describe(action.sample_id if action.sample_id is not None
                                  else row.raw.get("sample_id"))),
            _Text(values.describe(row.raw.get("sample_name"))),
            _Text(values.describe(row.raw.get("layer_id"))),
            action.kind, result.result,
            "; ".join(str(c) for c in action.changes),
            result.status if result.status is not None else "",
            result.attempts if result.attempts else "",
            result.record_id if result.record_id is not None else "",
            result.message,
            *[_Text(values.describe(as_read.get(h))) for h in outcome.headers],
        ]


def _issues(outcome: "SyncOutcome") -> Iterable[list[Any]]:
    for issue in outcome.issues:
        yield [issue.sheet, issue.row if issue.row is not None else "", issue.column or "",
               issue.cell or "", _Text(issue.value), issue.severity, issue.message]


def _remote(outcome: "SyncOutcome") -> Iterable[list[Any]]:
    for record in outcome.remote_only:
        yield [_Text(values.describe(record.get(k))) for k in
               ("sample_id", "sample_name", "substrate", "layer_id", "id", "composition_string",
                "element_dict", "orientation", "space_group", "mp_id")]
