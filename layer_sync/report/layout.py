"""How the report looks, on screen and on paper (writer calls only; no decisions on content).

The writer is rvgsrust-xlsxwriter, a binding of rust_xlsxwriter (see `report` and the README
for why): a workbook, its formats made once, worksheets in constant-memory mode (each row
goes to disk as it is written, so rows are written in order), a chart.

- Every table: a bold, filled, wrapped header row, frozen, with filters; printed landscape,
  fitted to the page width, the header row repeated on every page, grid lines printed. Rows
  prints its own columns (what happened to each row), not the sheet's values as read.
- Long text (messages, changes, values) wraps in a column of sensible width instead of being
  cut off or stretching the row; numbers are left-aligned and indented so that a row number
  never reads as one with the text beside it ("5 101", not "5101").
- Summary: its lines, the counts in the outcome colours, and beside them a chart of those
  counts in the same colours and order, on one printed page.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import chain, cycle, islice
from typing import Any

import rvgsrust_xlsxwriter as xlsx

from ..outcome.table import ROW_COLUMNS
from .content import ISSUE_COLUMNS, REMOTE_COLUMNS, ReportContent

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
#: A wrapped row's height per line (pixels, for the default 11-point font), and at most this
#: many lines: longer text is still all there, in the cell, with a scroll bar.
#: Heights are set in pixels (20 = 15 points at 96 dpi): rvgsrust-xlsxwriter's height in
#: points, used even once, made saving a 50,000-row sheet twice as slow (0.55 -> 1.2 s).
LINE_HEIGHT = 20
#: Letters of a bold header per character of width (a wrapped header must show all its lines).
BOLD_LETTERS = 0.9
MAX_LINES = 8


def fill(book: xlsx.Workbook, content: ReportContent) -> None:
    """Write every sheet of the report into `book`."""
    formats = _Formats(book)
    # Summary first (the sheet the workbook opens on), written last: it sums up the others.
    summary = book.add_worksheet("Summary")
    # On paper, Rows is what happened to each row (its own columns): with the sheet's values
    # as read beside them too, a page fitted to their width printed in ~4-point type.
    _table(book.add_worksheet("Rows", constant_memory=True), formats, content.row_header,
           content.rows(), colour_column="Result", printed=len(ROW_COLUMNS))
    _table(book.add_worksheet("Issues", constant_memory=True), formats, ISSUE_COLUMNS,
           content.issues(), colour_column="Severity")
    if not content.checked:  # a check asked no server: there is nothing to say of its layers
        _table(book.add_worksheet("Not in sheet", constant_memory=True), formats, REMOTE_COLUMNS,
               content.remote())
    _summary(summary, formats, content)


def _format(book: xlsx.Workbook, *, bold: bool = False, fill: str | None = None,
            wrap: bool = False, left: bool = False, top: bool = False, indent: int = 0,
            size: float | None = None, bottom_border: bool = False) -> xlsx.Format:
    """One cell format (the writer shares a format between the cells that name it)."""
    made = book.add_format()
    if bold:
        made.set_bold()
    if fill:
        made.set_background_color(fill)
    if wrap:
        made.set_text_wrap()
    if left:
        made.set_align("left")
    if top:
        made.set_vertical_align("top")
    if indent:
        made.set_indent(indent)
    if size:
        made.set_font_size(size)
    if bottom_border:
        made.set_bottom_border("thin")
    return made


class _Formats:
    """The workbook's cell formats, made once."""

    def __init__(self, book: xlsx.Workbook) -> None:
        self.header = _format(book, bold=True, fill=HEADER_COLOUR, wrap=True, bottom_border=True)
        # Table cells sit at the top, so a row whose message wraps still reads across.
        self.text = _format(book, top=True)
        self.wrap = _format(book, wrap=True, top=True)
        self.number = _format(book, left=True, indent=1, top=True)
        self.title = _format(book, bold=True, size=14)
        self.label = _format(book, bold=True, top=True)
        self.value = _format(book, wrap=True, left=True, top=True)
        self.fills = {name: _format(book, fill=colour, top=True)
                      for name, colour in {**RESULT_COLOURS, **SEVERITY_COLOURS}.items()}
        self.outcome_labels = {name: _format(book, fill=colour, bold=True)
                               for name, colour in RESULT_COLOURS.items()}


def _table(ws: xlsx.Worksheet, formats: _Formats, header: Sequence[str],
           rows: Iterable[list[Any]], colour_column: str | None = None,
           printed: int | None = None) -> None:
    """A sheet of one header row and `rows` (text or whole numbers; "" is left blank).
    `printed`: print only the first this many columns (the page header says so)."""
    rows = iter(rows)
    sample = list(islice(rows, WIDTH_SAMPLE))
    widths = _widths(header, sample)
    wrapped: list[tuple[int, float]] = []  # (column, width) of the columns whose text wraps
    for col, (name, width) in enumerate(zip(header, widths)):
        ws.set_column_width(col, width)
        if name in NUMBERS:
            ws.set_column_format(col, formats.number)
        elif name in WRAPPED or width > MAX_WIDTH:  # long values: wrapped at the cap
            ws.set_column_format(col, formats.wrap)
            wrapped.append((col, width))
        else:
            ws.set_column_format(col, formats.text)
    # A cell written without a format of its own takes its column's.
    for col, name in enumerate(header):
        ws.write(0, col, name, formats.header)
    # Neither LibreOffice nor Excel fits a row's height to wrapped text when it opens a
    # file, so a row whose text wraps gets the height of its lines here.
    ws.set_row_height_pixels(0, LINE_HEIGHT * max(_lines(name, width, BOLD_LETTERS)
                                           for name, width in zip(header, widths)))
    colour_at = header.index(colour_column) if colour_column else -1
    fills = formats.fills
    write, write_row, set_height = ws.write, ws.write_row, ws.set_row_height_pixels
    last = 0
    for last, values in enumerate(chain(sample, rows), start=1):
        # Strings are always written as text by this writer (never a formula, a number or a
        # link). A blank cell (None) is left out, so the file stays small. One call a row,
        # then the coloured cell with its format: 0.65 -> 0.44 s at 50,000 rows (measured).
        cells = [None if value == "" else value for value in values]
        if colour_at >= 0:
            cells[colour_at] = None
        write_row(last, 0, cells)
        if colour_at >= 0:
            write(last, colour_at, values[colour_at],
                  fills.get(values[colour_at], formats.text))
        lines = max([_lines(values[col], width) for col, width in wrapped
                     if len(values[col]) > width - 2] or [1])
        if lines > 1:
            set_height(last, LINE_HEIGHT * lines)
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, last, len(header) - 1)
    _print_setup(ws)
    if printed is not None and printed < len(header):
        ws.set_print_area(0, 0, last, printed - 1)
        ws.set_header(f"&L&\"-,Italic\"{_PRINTED_NOTE}")
    ws.set_print_fit_to_pages(1, 0)  # as wide as the page, as many pages down as it takes
    ws.set_repeat_rows(0, 0)


#: The page header of a sheet printed without its last columns.
_PRINTED_NOTE = ("Printed: what happened to each row. The row's values as read from your sheet "
                 "are in the workbook, in the columns to the right of Message")


def _widths(header: Sequence[str], rows: list[list[Any]]) -> list[float]:
    """Characters per column: the longest value seen (wrapped columns: their set width), at
    least the header's longest word (the header wraps)."""
    # (+1: a bold word is wider than the digits a width counts.)
    widths = [max(len(word) for word in (name.split() or [""])) + 1 for name in header]
    for values in rows:
        for col, value in enumerate(values):
            size = len(value) if type(value) is str else len(str(value)) + 2  # + the indent
            if size > widths[col]:
                widths[col] = size
    return [min(width, WRAPPED.get(name, MAX_WIDTH)) + 2 for name, width in zip(header, widths)]


@lru_cache(maxsize=4096)  # a message repeats on many rows: 300,000 skipped rows, 9.4 -> 0.06 s
def _lines(value: str, width: float, letters: float = 1.15) -> int:
    """About how many lines `value` takes in a wrapped column of `width` characters (a width
    counts digits; ordinary text fits about `letters` times as many letters, measured on the
    page: 1.15, bold headers 0.9)."""
    per_line = max(1, int(width * letters))
    lines = sum(len(textwrap.wrap(part, per_line)) or 1 for part in value.split("\n"))
    return min(lines, MAX_LINES)


def _print_setup(ws: xlsx.Worksheet) -> None:
    ws.set_landscape()
    ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6, header=0.3, footer=0.3)
    ws.set_print_gridlines(True)  # grid lines on paper too: columns stay apart
    ws.set_footer("&L&A&CPage &P of &N&R&F")


def _summary(ws: xlsx.Worksheet, formats: _Formats, content: ReportContent) -> None:
    """Label/value lines, the counts in the outcome colours; beside them, their chart."""
    ws.set_column_width(0, 30)
    ws.set_column_width(1, SUMMARY_WIDTH)
    ws.set_column_format(1, formats.value)
    ws.write(0, 0, "layer-sync report", formats.title)
    counts: list[int] = []  # the rows of the outcome lines, in their order
    for i, (label, value, outcome) in enumerate(content.summary(), start=1):
        ws.write(i, 0, label, formats.outcome_labels[outcome] if outcome else formats.label)
        ws.write(i, 1, value, formats.value)
        if isinstance(value, str) and _lines(value, SUMMARY_WIDTH) > 1:
            ws.set_row_height_pixels(i, LINE_HEIGHT * _lines(value, SUMMARY_WIDTH))
        if outcome:
            counts.append(i)
    ws.insert_chart(1, 3, _outcome_chart(content, counts[0], counts[-1]), 10, 0)
    ws.set_landscape()
    ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6, header=0.3, footer=0.3)
    ws.set_print_fit_to_pages(1, 1)  # the summary and its chart on one page
    ws.set_footer("&L&A&CPage &P of &N&R&F")


def _outcome_chart(content: ReportContent, first: int, last: int) -> xlsx.Chart:
    """A column per outcome, left to right in the Summary's order, each in its colour."""
    series = xlsx.ChartSeries()
    series.set_name("Rows")
    series.set_categories(f"Summary!$A${first + 1}:$A${last + 1}")
    series.set_values(f"Summary!$B${first + 1}:$B${last + 1}")
    points = []
    for name, _ in content.outcome_counts:
        look = xlsx.ChartFormat()
        look.set_fill_color(RESULT_COLOURS[name])
        look.set_border_color("#7F7F7F")
        point = xlsx.ChartPoint()
        point.set_format(look)
        points.append(point)
    series.set_points(points)
    label = xlsx.ChartDataLabel()
    label.show_value()
    label.set_num_format("#,##0")
    series.set_data_label(label)
    series.set_gap(60)
    chart = xlsx.Chart("column")
    chart.push_series(series)
    chart.set_title_name("Rows by outcome")
    title_font = xlsx.ChartFont()
    title_font.set_size(12)
    chart.set_title_font(title_font)
    chart.set_legend_hidden()
    top = max((n for _, n in content.outcome_counts), default=0)
    chart.set_y_axis_min(0)
    chart.set_y_axis_max(_axis_top(top))
    chart.set_y_axis_major_unit(_tick(top))
    chart.set_y_axis_num_format("#,##0")
    chart.set_y_axis_major_gridlines(True)
    axis_font = xlsx.ChartFont()
    axis_font.set_size(9)
    chart.set_x_axis_font(axis_font)
    return chart


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
