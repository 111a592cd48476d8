"""How the report looks, on screen and on paper (XlsxWriter calls only; no decisions on content).

- Every table: a bold, filled, wrapped header row, frozen, with filters; printed landscape,
  fitted to the page width, the header row repeated on every page, grid lines printed.
- Long text (messages, changes, values) wraps in a column of sensible width instead of being
  cut off or stretching the row; numbers are left-aligned and indented so that a row number
  never reads as one with the text beside it ("5 101", not "5101").
- Summary: its lines, the counts in the outcome colours, and beside them a chart of those
  counts in the same colours and order, on one printed page.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from itertools import chain, cycle, islice
from typing import Any

from .report import ISSUE_COLUMNS, REMOTE_COLUMNS, ReportContent

#: One colour per outcome, in the Rows sheet, the Summary's counts and the chart alike.
RESULT_COLOURS = {
    "created": "#C6EFCE", "updated": "#A9D08E", "would create": "#C6EFCE",
    "would update": "#A9D08E", "unchanged": "#E7E6E6", "invalid": "#FFC7CE", "valid": "#C6EFCE",
    "failed": "#FF8F8F", "skipped": "#FFEB9C",
}
SEVERITY_COLOURS = {"error": "#FFC7CE", "warning": "#FFEB9C"}
HEADER_COLOUR = "#DDEBF7"
SUMMARY_WIDTH = 60
#: Column widths are measured on this many rows (the rest are like them, or wrap).
WIDTH_SAMPLE = 1000
#: Columns whose text wraps, and their width (characters); other text columns are capped.
WRAPPED = {"Changes": 30, "Message": 48, "Value": 24}
MAX_WIDTH = 24
NUMBERS = {"Row", "HTTP status", "Attempts", "Record id"}
#: A wrapped row's height per line (points, for the default 11-point font), and at most this
#: many lines: longer text is still all there, in the cell, with a scroll bar.
LINE_HEIGHT = 15
MAX_LINES = 8


def fill(book: Any, content: ReportContent) -> None:
    """Write every sheet of the report into the XlsxWriter `book`."""
    formats = _Formats(book)
    summary = book.add_worksheet("Summary")  # first: the sheet the workbook opens on
    _table(book.add_worksheet("Rows"), formats, content.row_header, content.rows(),
           colour_column="Result")
    _table(book.add_worksheet("Issues"), formats, ISSUE_COLUMNS, content.issues(),
           colour_column="Severity")
    _table(book.add_worksheet("Not in sheet"), formats, REMOTE_COLUMNS, content.remote())
    _summary(book, summary, formats, content)


class _Formats:
    """The workbook's cell formats, made once (XlsxWriter shares a format between cells)."""

    def __init__(self, book: Any) -> None:
        self.header = book.add_format({"bold": True, "bg_color": HEADER_COLOUR, "text_wrap": True,
                                       "bottom": 1})
        self.wrap = book.add_format({"text_wrap": True})
        self.number = book.add_format({"align": "left", "indent": 1})
        self.title = book.add_format({"bold": True, "font_size": 14})
        self.label = book.add_format({"bold": True, "valign": "top"})
        self.value = book.add_format({"text_wrap": True, "align": "left", "valign": "top"})
        self.fills = {name: book.add_format({"bg_color": colour})
                      for name, colour in {**RESULT_COLOURS, **SEVERITY_COLOURS}.items()}
        self.outcome_labels = {name: book.add_format({"bg_color": colour, "bold": True})
                               for name, colour in RESULT_COLOURS.items()}


def _table(ws: Any, formats: _Formats, header: Sequence[str], rows: Iterable[list[Any]],
           colour_column: str | None = None) -> None:
    """A sheet of one header row and `rows` (text or whole numbers; "" is left blank)."""
    rows = iter(rows)
    sample = list(islice(rows, WIDTH_SAMPLE))
    widths = _widths(header, sample)
    wrapped: list[tuple[int, float]] = []  # (column, width) of the columns whose text wraps
    for col, (name, width) in enumerate(zip(header, widths)):
        if name in NUMBERS:
            column_format = formats.number
        elif name in WRAPPED or width > MAX_WIDTH:  # long values: wrapped at the cap
            column_format = formats.wrap
            wrapped.append((col, width))
        else:
            # No format: most cells are in these columns, and a cell that names a format
            # costs the writer about a tenth more (measured); they align at the bottom.
            column_format = None
        ws.set_column(col, col, width, column_format)
    for col, name in enumerate(header):
        ws.write_string(0, col, name, formats.header)
    # Neither LibreOffice nor Excel fits a row's height to wrapped text when it opens a
    # file, so a row whose text wraps gets the height of its lines here.
    ws.set_row(0, LINE_HEIGHT * max(_lines(name, width) for name, width in zip(header, widths)))
    colour_at = header.index(colour_column) if colour_column else -1
    fills = formats.fills
    write_string, write_number, set_row = ws.write_string, ws.write_number, ws.set_row
    last = 0
    for last, values in enumerate(chain(sample, rows), start=1):
        for col, value in enumerate(values):
            if type(value) is str:
                if col == colour_at:
                    write_string(last, col, value, fills.get(value))
                elif value:  # a blank cell is left out: the file stays small
                    write_string(last, col, value)
            else:
                write_number(last, col, value)
        lines = max([_lines(values[col], width) for col, width in wrapped
                     if len(values[col]) > width - 2] or [1])
        if lines > 1:
            set_row(last, LINE_HEIGHT * lines)
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, last, len(header) - 1)
    _print_setup(ws)
    ws.fit_to_pages(1, 0)  # as wide as the page, as many pages down as it takes
    ws.repeat_rows(0)


def _widths(header: Sequence[str], rows: list[list[Any]]) -> list[float]:
    """Characters per column: the longest value seen (wrapped columns: their set width), at
    least the header's longest word (the header wraps)."""
    widths = [max(len(word) for word in (name.split() or [""])) for name in header]
    for values in rows:
        for col, value in enumerate(values):
            size = len(value) if type(value) is str else len(str(value)) + 2  # + the indent
            if size > widths[col]:
                widths[col] = size
    return [min(width, WRAPPED.get(name, MAX_WIDTH)) + 2 for name, width in zip(header, widths)]


def _lines(value: str, width: float) -> int:
    """About how many lines `value` takes in a wrapped column of `width` characters (a width
    counts digits; ordinary text fits about 1.15 times as many letters, measured on the page)."""
    per_line = max(1, int(width * 1.15))
    lines = sum(len(textwrap.wrap(part, per_line)) or 1 for part in value.split("\n"))
    return min(lines, MAX_LINES)


def _print_setup(ws: Any) -> None:
    ws.set_landscape()
    ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
    ws.hide_gridlines(0)  # grid lines on paper too: columns stay apart
    ws.set_footer("&L&A&CPage &P of &N&R&F")


def _summary(book: Any, ws: Any, formats: _Formats, content: ReportContent) -> None:
    """Label/value lines, the counts in the outcome colours; beside them, their chart."""
    ws.set_column(0, 0, 30)
    ws.set_column(1, 1, SUMMARY_WIDTH, formats.value)
    ws.write_string(0, 0, "layer-sync report", formats.title)
    counts: list[int] = []  # the rows of the outcome lines, in their order
    for i, (label, value, outcome) in enumerate(content.summary(), start=1):
        ws.write_string(i, 0, label, formats.outcome_labels[outcome] if outcome else formats.label)
        if isinstance(value, (int, float)):
            ws.write_number(i, 1, value, formats.value)
        else:
            ws.write_string(i, 1, value, formats.value)
            if _lines(value, SUMMARY_WIDTH) > 1:
                ws.set_row(i, LINE_HEIGHT * _lines(value, SUMMARY_WIDTH))
        if outcome:
            counts.append(i)
    chart = book.add_chart({"type": "column"})  # left to right in the lines' order
    chart.add_series({
        "name": "Rows",
        "categories": ["Summary", counts[0], 0, counts[-1], 0],
        "values": ["Summary", counts[0], 1, counts[-1], 1],
        "points": [{"fill": {"color": RESULT_COLOURS[name]}, "border": {"color": "#7F7F7F"}}
                   for name, _ in content.outcome_counts],
        "data_labels": {"value": True, "num_format": "#,##0"},
        "gap": 60,
    })
    chart.set_title({"name": "Rows by outcome", "name_font": {"size": 12}})
    chart.set_legend({"none": True})
    top = max((n for _, n in content.outcome_counts), default=0)
    chart.set_y_axis({"min": 0, "max": _axis_top(top), "major_unit": _tick(top),
                      "num_format": "#,##0", "major_gridlines": {"visible": True,
                                                                 "line": {"color": "#D9D9D9"}}})
    chart.set_x_axis({"num_font": {"size": 9}})
    ws.insert_chart(1, 3, chart, {"x_offset": 10, "y_offset": 0})
    ws.set_landscape()
    ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
    ws.fit_to_pages(1, 1)  # the summary and its chart on one page
    ws.set_footer("&L&A&R&F")


def _tick(top: int) -> int:
    """A whole-number step for the count axis, about five ticks up to `top` (1, 2, 5, 10…)."""
    step, factors = 1, cycle((2, 2.5, 2))  # 1, 2, 5, 10, 20, 50, 100 …
    while step * 5 < top:
        step = int(step * next(factors))
    return step


def _axis_top(top: int) -> int:
    """The axis' end: the first tick at or above the largest count (at least one tick)."""
    step = _tick(top)
    return max(step, -(-top // step) * step)
