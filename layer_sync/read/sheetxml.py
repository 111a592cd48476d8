"""Bounded streaming scans of a workbook's XML (.xlsx sheets, .ods content): each sheet's used
area, and what calamine does not report, as it gives both as blank cells: formulas without a
stored result, cells showing a formula error (`#NAME?`), and (.ods) merged cells.

Every scan takes the part's bytes in chunks (`parts.Parts` streams and bounds them), so
nothing here reads a whole part into memory, and nothing here opens a file. A malformed part
raises ElementTree.ParseError, which the caller turns into its own error.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any
from xml.etree import ElementTree

from .files import column_index

_M = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_T = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_REF = re.compile(r"([A-Za-z]+)(\d+)")
# Every pattern below is linear in its input: attributes are matched by `[^<>]*+`, which can
# neither cross into the next tag nor backtrack (a 1 MB "tag" of `<c r="A1" t="e"` repeats
# made the scan quadratic), and the first pass refuses the fast path to any tag longer than
# `_LONG_TAG` (spreadsheet programs write tags of tens of bytes).
# The fast shape check (see scan_xlsx_sheet): each search starts with a literal,
# which the regex engine finds at memory-search speed.
_FAR = re.compile(rb"r=[\"'](?:[A-Za-z]{2}|[A-Za-z]?\d{6})")  # a column past Z, a row past 99,999
_LONG_TAG = re.compile(rb"<[^<>]{4096}")
# The cells holding something (a value, an inline string, a formula), and the formulas with
# their stored result, if any, as spreadsheet programs write them.
_FILLED_CELL = re.compile(rb'<c r="([A-Za-z]+)(\d+)"[^<>]*+(?<!/)>\s*+<(?:v|is|f)\b')
_FORMULA_CELL = re.compile(
    rb'<c r="([A-Za-z]+)(\d+)"([^<>]*+)>\s*+<f\b[^<>]*+(?:(?<=/)>|>([^<]*+)</f>)\s*+'
    rb'(<v>[^<]++</v>)?')
# A cell showing an error (t="e"), its formula if any, and the error it shows.
_ERROR_CELL = re.compile(
    rb'<c r="([A-Za-z]+)(\d+)"(?=[^<>]*?\bt="e")[^<>]*+>\s*+'
    rb'(?:<f\b[^<>]*+(?:(?<=/)>|>[^<]*+</f>)\s*+)?<v>([^<]*+)</v>')
_PREFIXED = re.compile(rb":[cf]")  # <x:c>, <x:f>: a namespace prefix on a cell or formula
_NO_ADDRESS = re.compile(rb"<c(?:>|/|\s++(?!r=\"))")  # a cell whose address is not first
_MERGE = re.compile(rb"<(?:[\w.-]+:)?mergeCell\b")
#: Cells showing an error or a formula without a result that one sheet may have: each is held
#: until the rows are checked.
MAX_UNUSABLE_CELLS = 500_000
#: Formulas without a result whose text is kept, for the report's Issues (`=B2+1`), and how
#: much of each: enough to tell the cell, bounded whatever the sheet holds.
MAX_FORMULA_TEXTS, MAX_FORMULA_CHARS = 10_000, 100
#: A tag longer than this is cut from the chunk it starts in at the latest: a chunk never waits
#: for the end of a tag that never ends (that wait copied the tail again for every chunk).
_MAX_TAIL = 1 << 16


class AreaExceeded(Exception):
    """A scan found a sheet beyond the bounds it was given: the caller says so."""

    def __init__(self, name: str, rows: int, columns: int, merged: int = 0) -> None:
        super().__init__(name)
        self.name, self.rows, self.columns, self.merged = name, rows, columns, merged


@dataclass
class Shape:
    """A sheet's used area and what calamine does not say about it."""

    rows: int = 0
    columns: int = 0
    unusable: dict[tuple[int, int], str | None] = field(default_factory=dict)
    merged: list[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=list)
    merged_count: int = -1  # merged ranges listed, once counted (-1: not yet)
    #: The text of formulas without a result (`=B2+1`), for the first MAX_FORMULA_TEXTS.
    formulas: dict[tuple[int, int], str] = field(default_factory=dict)

    def note(self, cell: tuple[int, int], shown: str | None, formula: str | None = None) -> None:
        """A cell that shows no usable value (with the formula's text, for one without a
        result); too many of them is a sheet made to fill memory."""
        self.unusable[cell] = shown
        if len(self.unusable) > MAX_UNUSABLE_CELLS:
            raise InputUnusable(MAX_UNUSABLE_CELLS)
        if formula and len(self.formulas) < MAX_FORMULA_TEXTS:
            text = html.unescape(formula.strip())
            if len(text) > MAX_FORMULA_CHARS:
                text = f"{text[:MAX_FORMULA_CHARS]}…"
            self.formulas[cell] = f"={text}"


class InputUnusable(Exception):
    """More cells show an error or a formula without a result than a sheet is read with."""


def scan_xlsx_sheet(chunks: Callable[[], Iterator[bytes]]) -> Shape:
    """The sheet's used area and its formulas without a result.

    A first pass of byte searches proves the area small when every cell address has one
    letter and at most five digits (26 x 99,999 cells) and every cell carries its address
    first, as every spreadsheet program writes them; when it has no formula either,
    nothing more is needed. Otherwise a second pass measures it: by regular expressions
    over the cells as programs write them, or, for a sheet written some other way (cells
    without addresses, namespace prefixes), by a streaming XML parse.
    """
    usual = True
    for data in whole_tags(chunks()):
        if _NO_ADDRESS.search(data) or _PREFIXED.search(data) or _LONG_TAG.search(data):
            usual = False
            break
        if b"<f" in data or b't="e"' in data or _FAR.search(data):
            break  # a formula, an error, a cell past Z99999: measure
    else:
        return Shape()
    return _measure_usual(chunks) if usual else _measure_parsed(chunks)


def _measure_usual(chunks: Callable[[], Iterator[bytes]]) -> Shape:
    """The used area from the addresses of the cells holding something, and the formulas
    without a stored result, for a sheet whose cells all start `<c r="A1"`."""
    shape = Shape()
    rows = columns = 0
    for data in _whole_cells(chunks()):
        if _NO_ADDRESS.search(data) or _PREFIXED.search(data) or _LONG_TAG.search(data):
            return _measure_parsed(chunks)
        refs = _FILLED_CELL.findall(data)
        if refs:
            rows = max(rows, max(int(number) for _, number in refs))
            widest = max({letters for letters, _ in refs}, key=lambda l: (len(l), l.upper()))
            columns = max(columns, column_index(widest.decode().upper()) + 1)
        if b"<f" in data:
            for letters, number, attributes, formula, value in _FORMULA_CELL.findall(data):
                if not value and b't="str"' not in attributes:
                    shape.note((int(number) - 1, column_index(letters.decode().upper())), None,
                               formula[:4 * MAX_FORMULA_CHARS].decode("utf-8", "replace"))
        if b't="e"' in data:
            for letters, number, error in _ERROR_CELL.findall(data):
                shape.note((int(number) - 1, column_index(letters.decode().upper())),
                           _error_text(error))
    shape.rows, shape.columns = rows, columns
    return shape


def _measure_parsed(chunks: Callable[[], Iterator[bytes]]) -> Shape:
    """The same, by a streaming XML parse: for sheets written some other way. Every element
    leaves the tree once it ends (what a cell holds is noted on the way), so the memory stays
    small whatever the part holds."""
    shape = Shape()
    row = col = -1
    cell_tag, row_tag, value_tag, inline_tag, formula_tag = (
        f"{_M}c", f"{_M}row", f"{_M}v", f"{_M}is", f"{_M}f")
    stack: list[ElementTree.Element] = []
    error = has_value = has_formula = False
    value_text = formula_text = ""
    for event, element in ElementTree.iterparse(
            _ChunkReader(chunks()), events=("start", "end")):
        tag = element.tag
        if event == "start":
            stack.append(element)
            if tag == row_tag:
                r = element.get("r")
                row = int(r) - 1 if r and r.isdigit() else row + 1
                col = -1
            elif tag == cell_tag:
                error = element.get("t") == "e"
                has_value = has_formula = False
                value_text = formula_text = ""
            continue
        stack.pop()
        parent = stack[-1] if stack else None
        if parent is not None and parent.tag == cell_tag:
            if tag == value_tag and element.text:
                has_value, value_text = True, element.text[:40]
            elif tag == inline_tag:
                has_value = True
            elif tag == formula_tag:
                has_formula, formula_text = True, (element.text or "")[:4 * MAX_FORMULA_CHARS]
        elif tag == cell_tag:
            match = _REF.fullmatch(element.get("r") or "")
            if match:
                row, col = int(match.group(2)) - 1, column_index(match.group(1).upper())
            else:
                col += 1
            if has_value:
                shape.rows = max(shape.rows, row + 1)
                shape.columns = max(shape.columns, col + 1)
                if error and row >= 0 and col >= 0:
                    shape.note((row, col), _error_text(value_text.encode()))
            elif has_formula and element.get("t") != "str" and row >= 0 and col >= 0:
                shape.note((row, col), None, formula_text)
        if parent is not None:
            parent.remove(element)  # what is read is done with: keep nothing
    return shape


def count_merges(chunks: Iterator[bytes]) -> int:
    """How many merged ranges a sheet lists (counted streaming, before the reader builds
    them all)."""
    return sum(len(_MERGE.findall(data)) for data in whole_tags(chunks))


def scan_ods(chunks: Iterator[bytes], max_cells: int, max_merged: int) -> dict[str, Shape]:
    """Each table's used area and merged cells, counting repeated rows and cells; a table
    past `max_cells` or `max_merged` raises AreaExceeded as soon as it is seen to be.

    Every element leaves the tree once it ends (a cell's content is noted on the way), so
    the memory stays small whatever content.xml holds.
    """
    shapes: dict[str, Shape] = {}
    table_tag, row_tag = f"{_T}table", f"{_T}table-row"
    cell_tags = {f"{_T}table-cell", f"{_T}covered-table-cell"}
    stack: list[ElementTree.Element] = []
    shape, name = Shape(), ""
    row = col = rows_repeated = 0
    cell: ElementTree.Element | None = None
    content = False
    shown: list[str] = []
    for event, element in ElementTree.iterparse(
            _ChunkReader(chunks), events=("start", "end")):
        tag = element.tag
        if event == "start":
            stack.append(element)
            if tag == table_tag:
                shape, row, name = Shape(), 0, element.get(f"{_T}name") or ""
                shapes[name] = shape
            elif tag == row_tag:
                col, rows_repeated = 0, _repeat(element, "number-rows-repeated")
            elif tag in cell_tags and cell is None:
                cell, content, shown = element, bool(element.get(f"{_OFFICE}value-type")), []
            continue
        stack.pop()
        parent = stack[-1] if stack else None
        if cell is not None and element is not cell:
            content = True  # the cell holds an element (text:p): it is not empty
            if element.text and sum(map(len, shown)) < 40:
                shown.append(element.text)
        elif cell is not None:  # the cell itself ends
            cell = None
            cols_repeated = _repeat(element, "number-columns-repeated")
            if content:
                shape.rows = max(shape.rows, row + rows_repeated)
                shape.columns = max(shape.columns, col + cols_repeated)
                if shape.rows * shape.columns > max_cells:
                    raise AreaExceeded(name, shape.rows, shape.columns)
                if element.get(_ODS_VALUE_TYPE) == "error":
                    text = _error_text("".join(shown).encode())
                    cells = ((r, c) for r in range(row, row + rows_repeated)
                             for c in range(col, col + cols_repeated))
                    for at in islice(cells, _MAX_REPEATED_ERRORS):
                        shape.note(at, text)
            spans = (_repeat(element, "number-rows-spanned"),
                     _repeat(element, "number-columns-spanned"))
            if spans != (1, 1):
                shape.merged.append(((row, col), (row + spans[0] - 1, col + spans[1] - 1)))
                if len(shape.merged) > max_merged:
                    raise AreaExceeded(name, shape.rows, shape.columns, len(shape.merged))
            col += cols_repeated
        elif tag == row_tag:
            row += rows_repeated
        if parent is not None:
            parent.remove(element)  # what is read is done with: keep nothing
    return shapes


#: LibreOffice's mark of a cell showing an error (its office:value-type says "string").
_ODS_VALUE_TYPE = "{urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0}value-type"
#: A repeated error cell is noted for at most this many of the cells it stands for (a sheet's
#: data never repeats one error further; the bound keeps a hostile file from filling the memory).
_MAX_REPEATED_ERRORS = 1000


def _error_text(shown: bytes) -> str:
    """The error a cell shows, as the sheet program shows it (`#NAME?`), bounded."""
    text = shown.decode("utf-8", "replace").strip()[:40]
    return text or "an error"


def whole_tags(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The chunks cut before their last "<", so that no tag is split between two of them."""
    return _cut_after(chunks, lambda data: data.rfind(b"<"))


def _whole_cells(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The chunks cut after their last closed cell (else before their last tag), so that no
    cell is split between two of them."""
    def cut(data: bytes) -> int:
        end = data.rfind(b"</c>")
        return end + 4 if end >= 0 else data.rfind(b"<")
    return _cut_after(chunks, cut)


def _cut_after(chunks: Iterator[bytes], find_cut: Callable[[bytes], int]) -> Iterator[bytes]:
    """The chunks re-cut where `find_cut` says; what is after a cut starts the next chunk,
    unless it is longer than `_MAX_TAIL` (a tag that never ends is not waited for)."""
    tail = b""
    for chunk in chunks:
        data = tail + chunk
        cut = find_cut(data)
        if cut > 0 and len(data) - cut <= _MAX_TAIL:
            data, tail = data[:cut], data[cut:]
        else:
            tail = b""
        yield data
    if tail:
        yield tail


def _repeat(element: ElementTree.Element, name: str) -> int:
    try:
        return max(1, int(element.get(f"{_T}{name}", 1)))
    except ValueError:
        return 1


class _ChunkReader(io.RawIOBase):
    """A file-like view of an iterator of byte chunks, for iterparse."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buffer = memoryview(chunk)
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size
