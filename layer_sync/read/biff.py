"""An .xls's workbook stream (BIFF records), walked as the reader walks it, before it is read.

The reader (calamine) parses every sheet of an .xls when it opens the file: for each sheet it
reserves room for the area the sheet's DIMENSIONS record claims, then allocates the area from
its first to its last cell. A sheet can claim billions of cells in a few bytes (the process
aborts) and sheets can overlap (the same records read again for each). This walk follows the
same records (the BoundSheet8 positions, each sheet's records up to its EOF, nested substreams
skipped) in one linear pass per sheet, and measures what the reader will allocate; on the way
it notes what the reader gives as blank: cells showing an error (`#NAME?`, a BoolErr record,
or a formula whose cached result is an error).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from .guard import ReadGuard

_BOF, _EOF, _CONTINUE = 0x0809, 0x000A, 0x003C
_FILEPASS, _BOUNDSHEET, _DIMENSIONS, _MERGECELLS = 0x002F, 0x0085, 0x0200, 0x00E5
_FORMULA, _STRING, _BOOLERR, _MULRK = 0x0006, 0x0207, 0x0205, 0x00BD
#: Records that place one cell at (row, column) in their first four bytes, as the reader reads.
_CELL_RECORDS = frozenset({0x0203, 0x0204, 0x00D6, _BOOLERR, 0x027E, 0x00FD, _FORMULA})
_ERRORS = {0x00: "#NULL!", 0x07: "#DIV/0!", 0x0F: "#VALUE!", 0x17: "#REF!", 0x1D: "#NAME?",
           0x24: "#NUM!", 0x2A: "#N/A"}


class BiffError(ValueError):
    """The stream is malformed in a way the reader would not survive, or is encrypted."""


@dataclass
class SheetExtent:
    """What the reader allocates for one sheet, and its cells that show an error."""

    position: int
    rows: int = 0                 # last row with a cell, + 1 (0: no cell)
    columns: int = 0              # likewise for columns
    reserved: int = 0             # cells reserved from the DIMENSIONS record
    merged: int = 0               # merged ranges listed
    walked: int = 0               # bytes of records read for it
    errors: dict[tuple[int, int], str | None] = field(default_factory=dict)

    @property
    def area(self) -> int:
        return self.rows * self.columns


@dataclass
class BookExtent:
    """Every sheet, in the order of the workbook's BoundSheet8 records."""

    sheets: list[SheetExtent]
    encrypted: bool = False


def _records(stream: bytes, pos: int,
             guard: ReadGuard | None) -> Iterator[tuple[int, bytes, int]]:
    """(type, data, next position) from `pos`, CONTINUE records joined to the one before, as
    the reader iterates; stops at the end of the stream or on a record cut short."""
    end = len(stream)
    count = 0
    while pos + 4 <= end:
        typ, size = struct.unpack_from("<HH", stream, pos)
        if pos + 4 + size > end:
            raise BiffError("a record runs past the end of the workbook stream")
        data = stream[pos + 4:pos + 4 + size]
        pos += 4 + size
        while pos + 4 < end and struct.unpack_from("<H", stream, pos)[0] == _CONTINUE:
            pos += 4 + struct.unpack_from("<H", stream, pos + 2)[0]
        count += 1
        if count % 65536 == 0 and guard is not None:
            guard.check()
        yield typ, data, pos


def walk_book(stream: bytes, guard: ReadGuard | None = None) -> BookExtent:
    """Each sheet's extent (see the module's docstring)."""
    positions: list[int] = []
    for typ, data, _ in _records(stream, 0, guard):
        if typ == _FILEPASS and len(data) >= 2 and struct.unpack_from("<H", data)[0] != 0:
            return BookExtent([], encrypted=True)
        if typ == _BOUNDSHEET and len(data) >= 4:
            positions.append(struct.unpack_from("<I", data)[0])
        elif typ == _EOF:
            break
    walked: dict[int, SheetExtent] = {}  # the reader walks each again; measured once
    sheets = []
    for position in positions:
        if position not in walked:
            walked[position] = _walk_sheet(stream, position, guard)
        sheets.append(walked[position])
    return BookExtent(sheets)


def _walk_sheet(stream: bytes, position: int, guard: ReadGuard | None) -> SheetExtent:
    extent = SheetExtent(position)
    if position >= len(stream):
        raise BiffError("a sheet starts past the end of the workbook stream")
    seen_bof, depth = False, 0
    formula_at: tuple[int, int] | None = None
    last_row = last_col = -1
    pos = position
    for typ, data, pos in _records(stream, position, guard):
        if depth:  # a nested substream (an embedded chart): the reader skips its records
            depth += typ == _BOF
            depth -= typ == _EOF
            continue
        if typ == _BOF:
            depth, seen_bof = (depth + 1, seen_bof) if seen_bof else (0, True)
            continue
        if typ == _EOF:
            break
        if typ in _CELL_RECORDS and len(data) >= 4:
            row, col = struct.unpack_from("<HH", data)
            last_row, last_col = max(last_row, row), max(last_col, col)
            if typ == _FORMULA:
                formula_at = (row, col)
                # A cached result that is an error: type 2, marked by 0xFFFF in its last bytes.
                if len(data) >= 14 and data[6] == 2 and data[12:14] == b"\xff\xff":
                    extent.errors[row, col] = _ERRORS.get(data[8], "an error")
            elif typ == _BOOLERR and len(data) >= 8 and data[7] == 1:
                extent.errors[row, col] = _ERRORS.get(data[6], "an error")
        elif typ == _STRING and formula_at is not None:
            pass  # the formula's text result, at the formula's cell (already counted)
        elif typ == _MULRK and len(data) >= 6:
            row, first = struct.unpack_from("<HH", data)
            count = (len(data) - 6) // 6
            if count:
                last_row, last_col = max(last_row, row), max(last_col, first + count - 1)
        elif typ == _DIMENSIONS:
            extent.reserved = _reserved(data)
        elif typ == _MERGECELLS and len(data) >= 2:
            extent.merged += struct.unpack_from("<H", data)[0]
    extent.walked = pos - position
    extent.rows, extent.columns = last_row + 1, last_col + 1
    return extent


def _reserved(data: bytes) -> int:
    """The cells the reader reserves for a DIMENSIONS record, computed as it does (its
    unsigned arithmetic wraps: a first row past the last one claims four billion)."""
    if len(data) == 10:
        rf, rl, cf, cl = struct.unpack_from("<HHHH", data)
    elif len(data) == 14:
        rf, rl, cf, cl = struct.unpack_from("<IIHH", data)
    else:
        return 0
    if cf > 0xFF or cl < cf:
        cf = 0
    if rl >= 1 and cl >= 1:
        end_row, end_col = rl - 1, cl - 1
    else:
        end_row, end_col = rf, cf
    rows = (end_row - rf + 1) % (1 << 32)
    cols = (end_col - cf + 1) % (1 << 32)
    return int(rows * cols)
