"""How the report looks, on screen and on paper (writer calls only; no decisions on content).

The writer is XlsxWriter (see `report.content` and the README): a workbook in constant-memory
mode (each row goes to disk as it is written, so rows are written in order), its formats made
once, a chart.

- Every page says which sheet it is and which run: a page header with the report's and the
  sheet's title on the left, the input, its sheet, when it ran and how on the right; the
  footer gives the page number.
- Every table: a bold, filled, wrapped header row, frozen, with filters; printed landscape,
  fitted to the page width, the header row repeated on every page, grid lines printed. Rows
  prints its own columns (each row's layer and what happened to it), not the sheet's values
  as read.
- Outcomes are told apart by a mark and a word as well as by colour (`✓ unchanged`,
  `✗ invalid`, `! failed`; those that need attention in bold), so a greyscale print reads:
  the mark is the cell's number format, the cell's value stays the word (filters, formulas
  and `to_frame()` see `invalid`).
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
from typing import TYPE_CHECKING, Any

from .content import ISSUE_COLUMNS, REMOTE_COLUMNS, REPORT_ROW_COLUMNS, ReportContent

if TYPE_CHECKING:  # the writer imports XlsxWriter itself, only for runs that write a report
    from xlsxwriter import Workbook
    from xlsxwriter.chart import Chart
    from xlsxwriter.format import Format
    from xlsxwriter.worksheet import Worksheet

#: One colour per outcome, in the Rows sheet, the Summary's counts and the chart alike.
RESULT_COLOURS = {
    "created": "#C6EFCE", "updated": "#A9D08E", "would create": "#C6EFCE",
    "would update": "#A9D08E", "unchanged": "#E7E6E6", "invalid": "#FFC7CE", "valid": "#C6EFCE",
    "failed": "#FF8F8F", "skipped": "#FFEB9C",
}
SEVERITY_COLOURS = {"error": "#FFC7CE", "warning": "#FFEB9C"}
#: The mark beside each outcome's word, so a greyscale print tells them apart (the terminal's
#: `+` and `~` for what is written, `✗` for what is wrong in the sheet, `!` for what failed).
MARKS = {
    "created": "+", "would create": "+", "updated": "~", "would update": "~",
    "unchanged": "\u2713", "valid": "\u2713", "invalid": "\u2717", "failed": "!",
    "skipped": "\u2013", "error": "\u2717", "warning": "!",
}
#: Outcomes (and severities) that ask for someone's attention: bold, on screen and paper.
ATTENTION = {"invalid", "failed", "skipped", "error"}
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
LINE_HEIGHT = 20
#: Letters of a bold header per character of width (a wrapped header must show all its lines).
BOLD_LETTERS = 0.9
MAX_LINES = 8
#: What each sheet is, at the top of its printed pages (a page 4 read alone says it).
TITLES = {
    "Summary": "Summary",
    "Rows": "Rows: what happened to each row of your sheet",
    "Issues": "Issues: every problem found, with its cell",
    "Not in sheet": "Not in sheet: layers on the server that your sheet lacks (nothing is deleted)",
}
#: The Rows pages' footnote: how quiet rows are shown, and what is in the file, not on paper.
_PRINTED_NOTE = ("{quiet}: a line per sample. Values as read: in the workbook, right of "
                 "Message")
#: Excel's limit on a page header (XlsxWriter leaves out a longer one, with a warning).
_HEADER_LIMIT = 255


def fill(book: Workbook, content: ReportContent) -> None:
    """Write every sheet of the report into `book`."""
    formats = _Formats(book)
    # Summary first (the sheet the workbook opens on), written last: it sums up the others.
    summary = book.add_worksheet("Summary")
    # On paper, Rows is each row's layer and what happened to it (its own columns): with the
    # sheet's values as read beside them too, a page fitted to their width printed in
    # ~4-point type.
    _table(book.add_worksheet("Rows"), formats, content.row_header, content.rows(),
           content, colour_column="Result", printed=len(REPORT_ROW_COLUMNS))
    _table(book.add_worksheet("Issues"), formats, ISSUE_COLUMNS, content.issues(), content,
           colour_column="Severity")
    if not content.checked:  # a check asked no server: there is nothing to say of its layers
        _table(book.add_worksheet("Not in sheet"), formats, REMOTE_COLUMNS, content.remote(),
               content)
    _summary(book, summary, formats, content)


class _Formats:
    """The workbook's cell formats, made once."""

    def __init__(self, book: Workbook) -> None:
        add = book.add_format
        self.header = add({"bold": True, "bg_color": HEADER_COLOUR, "text_wrap": True,
                           "bottom": 1})
        # Table cells sit at the top, so a row whose message wraps still reads across.
        self.text = add({"valign": "top"})
        self.wrap = add({"text_wrap": True, "valign": "top"})
        self.number = add({"align": "left", "indent": 1, "valign": "top"})
        self.title = add({"bold": True, "font_size": 14})
        self.label = add({"bold": True, "valign": "top"})
        self.value = add({"text_wrap": True, "align": "left", "valign": "top"})
        self.fills = {name: add({"bg_color": colour, "valign": "top", "bold": name in ATTENTION,
                                 "num_format": _marked(name)})
                      for name, colour in {**RESULT_COLOURS, **SEVERITY_COLOURS}.items()}
        self.outcome_labels = {name: add({"bg_color": colour, "bold": True, "valign": "top",
                                          "num_format": _marked(name)})
                               for name, colour in RESULT_COLOURS.items()}


def _marked(name: str) -> str:
    """The number format that shows a text cell with the outcome's mark before it."""
    return f'"{MARKS[name]} "@'


def _table(ws: Worksheet, formats: _Formats, header: Sequence[str], rows: Iterable[list[Any]],
           content: ReportContent, colour_column: str | None = None,
           printed: int | None = None) -> None:
    """A sheet of one header row and `rows` (text or whole numbers; "" is left blank).
    `printed`: print only the first this many columns (the page header says so)."""
    rows = iter(rows)
    sample = list(islice(rows, WIDTH_SAMPLE))
    widths = _widths(header, sample)
    wrapped: list[tuple[int, float]] = []  # (column, width) of the columns whose text wraps
    cell_formats: list[Format] = []
    for col, (name, width) in enumerate(zip(header, widths)):
        if name in NUMBERS:
            made = formats.number
        elif name in WRAPPED or width > MAX_WIDTH:  # long values: wrapped at the cap
            made = formats.wrap
            wrapped.append((col, width))
        else:
            made = formats.text
        ws.set_column(col, col, width, made)  # blank cells look like the written ones
        cell_formats.append(made)
    for col, name in enumerate(header):
        ws.write_string(0, col, name, formats.header)
    # Neither LibreOffice nor Excel fits a row's height to wrapped text when it opens a
    # file, so a row whose text wraps gets the height of its lines here.
    ws.set_row_pixels(0, LINE_HEIGHT * max(_lines(name, width, BOLD_LETTERS)
                                           for name, width in zip(header, widths)))
    colour_at = header.index(colour_column) if colour_column else -1
    fills = formats.fills
    # Strings are written as strings (never a formula, a number or a link, whatever they
    # hold: the workbook's options say so too); a blank cell ("") is left out.
    string, number, set_height = ws.write_string, ws.write_number, ws.set_row_pixels
    last = 0
    for last, values in enumerate(chain(sample, rows), start=1):
        for col, value in enumerate(values):
            if value == "":
                continue
            if type(value) is str:
                string(last, col, value, fills.get(value, cell_formats[col])
                       if col == colour_at else cell_formats[col])
            else:
                number(last, col, value, cell_formats[col])
        size = len(values)  # a gathered line stops before the columns as read
        lines = max([_lines(values[col], width) for col, width in wrapped
                     if col < size and len(values[col]) > width - 2] or [1])
        if lines > 1:
            set_height(last, LINE_HEIGHT * lines)
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, last, len(header) - 1)
    _print_setup(ws, content)
    if printed is not None and printed < len(header):
        ws.print_area(0, 0, last, printed - 1)
    ws.fit_to_pages(1, 0)  # as wide as the page, as many pages down as it takes
    ws.repeat_rows(0)


def _widths(header: Sequence[str], rows: list[list[Any]]) -> list[float]:
    """Characters per column: the longest value seen (wrapped columns: their set width), at
    least the header's longest word (the header wraps)."""
    # (+1: a bold word is wider than the digits a width counts.)
    widths = [max(len(word) for word in (name.split() or [""])) + 1 for name in header]
    for values in rows:
        for col, value in enumerate(values):
            size = len(value) if type(value) is str else len(str(value)) + 2  # + the indent
            widths[col] = max(widths[col], size)
    return [min(width, WRAPPED.get(name, MAX_WIDTH)) + 2 for name, width in zip(header, widths)]


@lru_cache(maxsize=4096)  # a message repeats on many rows: 300,000 skipped rows, 9.4 -> 0.06 s
def _lines(value: str, width: float, letters: float = 1.15) -> int:
    """About how many lines `value` takes in a wrapped column of `width` characters (a width
    counts digits; ordinary text fits about `letters` times as many letters, measured on the
    page: 1.15, bold headers 0.9)."""
    per_line = max(1, int(width * letters))
    lines = sum(len(textwrap.wrap(part, per_line)) or 1 for part in value.split("\n"))
    return min(lines, MAX_LINES)


def _print_setup(ws: Worksheet, content: ReportContent, gridlines: bool = True) -> None:
    """Landscape, and a header and footer that say which sheet and run a page is of."""
    ws.set_landscape()
    ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
    if gridlines:
        ws.hide_gridlines(0)  # grid lines on paper too: columns stay apart
    name = ws.get_name()
    ws.set_header(page_header(name, content.page_title), {"margin": 0.3})
    quiet = "Valid rows" if content.checked else "Rows already in sync"
    note = (f'&8&"-,Italic"{_PRINTED_NOTE.format(quiet=quiet)}' if name == "Rows"
            else "&A")
    ws.set_footer(f"&L{note}&CPage &P of &N&R&F", {"margin": 0.3})


def page_header(sheet: str, run: str) -> str:
    """The page header of `sheet`: the report and the sheet's title on the left, the run on
    the right, within Excel's limit on a header."""
    left = f'&L&"-,Bold"layer-sync report \u00b7 {_codes(TITLES.get(sheet, sheet))}&R'
    return left + _codes(run, _HEADER_LIMIT - _units(left))


def _codes(text: str, room: int = _HEADER_LIMIT) -> str:
    """`text` as it is in a page header: `&` doubled (it starts a code there), on one line,
    cut to `room` UTF-16 units (Excel's measure)."""
    text = " ".join(text.split())
    escaped = text.replace("&", "&&")
    if _units(escaped) <= room:
        return escaped
    kept, used = [], 1  # 1: the ellipsis
    for char in text:
        piece = "&&" if char == "&" else char
        used += _units(piece)
        if used > room:
            break
        kept.append(piece)
    return "".join(kept) + "\u2026"


def _units(text: str) -> int:
    """The length of `text` in UTF-16 units, as Excel counts it."""
    return len(text.encode("utf-16-le")) // 2


def _summary(book: Workbook, ws: Worksheet, formats: _Formats,
             content: ReportContent) -> None:
    """Label/value lines, the counts in the outcome colours; beside them, their chart."""
    ws.set_column(0, 0, 30)
    ws.set_column(1, 1, SUMMARY_WIDTH, formats.value)
    ws.write_string(0, 0, "layer-sync report", formats.title)
    counts: list[int] = []  # the rows of the outcome lines, in their order
    for i, (label, value, outcome) in enumerate(content.summary(), start=1):
        ws.write_string(i, 0, label, formats.outcome_labels[outcome] if outcome
                        else formats.label)
        if isinstance(value, str):
            ws.write_string(i, 1, value, formats.value)
            if _lines(value, SUMMARY_WIDTH) > 1:
                ws.set_row_pixels(i, LINE_HEIGHT * _lines(value, SUMMARY_WIDTH))
        else:
            ws.write_number(i, 1, value, formats.value)
        if outcome:
            counts.append(i)
    ws.insert_chart(1, 3, _outcome_chart(book, content, counts[0], counts[-1]),
                    {"x_offset": 10, "y_offset": 0})
    _print_setup(ws, content, gridlines=False)
    ws.fit_to_pages(1, 1)  # the summary and its chart on one page


def _outcome_chart(book: Workbook, content: ReportContent, first: int,
                   last: int) -> Chart:
    """A column per outcome, left to right in the Summary's order, each in its colour."""
    chart = book.add_chart({"type": "column"})
    assert chart is not None  # a known type
    chart.add_series({
        "name": "Rows",
        "categories": ["Summary", first, 0, last, 0],
        "values": ["Summary", first, 1, last, 1],
        "points": [{"fill": {"color": RESULT_COLOURS[name]}, "border": {"color": "#7F7F7F"}}
                   for name, _ in content.outcome_counts],
        "data_labels": {"value": True, "num_format": "#,##0"},
        "gap": 60,
    })
    chart.set_title({"name": "Rows by outcome", "name_font": {"size": 12}})
    chart.set_legend({"none": True})
    top = max((n for _, n in content.outcome_counts), default=0)
    chart.set_y_axis({"min": 0, "max": _axis_top(top), "major_unit": _tick(top),
                      "num_format": "#,##0", "major_gridlines": {"visible": True}})
    chart.set_x_axis({"num_font": {"size": 9}})
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
