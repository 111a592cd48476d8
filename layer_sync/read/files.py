"""What the input file is, before anything parses it: its kind, and the bounds it must keep.

Only regular files are read (a named pipe would block forever, /dev/zero never ends), and
every file is read through one opened descriptor checked to be a regular file, so that what
was checked is what is read. The bounds below are far above any lab sheet and far below what
would exhaust the machine: a run's memory stays under 1 GB whatever the input.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ..core.errors import InputFileError

TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".ods", ".xls")
SUFFIXES = TEXT_SUFFIXES + WORKBOOK_SUFFIXES

# The bounds are chosen so that a run on any file they accept (a dry run included: the
# sheet's rows, the server's records, the plan and the report) stays under a minute and 1 GB on
# a two-core machine: the largest accepted sheet, 100,000 rows x 26 columns, is measured by
# tests/test_read_limits.py. Everything past them is refused before the reader allocates it.

#: Rows in one sheet (the header and any title rows included).
MAX_SHEET_ROWS = 100_000
#: Rows x columns of a sheet's used area (up to its last filled row and column): 100,000 rows
#: of columns A to Z. The reader allocates every cell of that area, filled or not; one stray
#: value at XFD1048576 would be 17 billion cells.
MAX_SHEET_CELLS = 2_600_000
#: Cells held at once across sheets: every sheet an .xls or .ods holds (the reader parses them
#: all when it opens the file), or every sheet read with --all-sheets.
MAX_BOOK_CELLS = 4_000_000
#: A text file: 100,000 rows x 26 columns of ten characters is ~27 MB. The text is held
#: decoded (up to 4 bytes a character), so this keeps it under 128 MB.
MAX_TEXT_BYTES = 32 << 20
#: A workbook file: a 100,000-row .xlsx is ~5-10 MB on disk, an .xls (not compressed, 65,536
#: rows at most) ~25 MB. The file is held in memory once, so that the checks below and the
#: reader see the same bytes.
MAX_WORKBOOK_BYTES = 64 << 20
#: The inflated size of one part of a workbook (a sheet's XML, content.xml). A 100,000 x 26
#: sheet is ~150 MB of XML; a zip bomb is gigabytes.
MAX_PART_BYTES = 256 << 20
#: The parts read whole to find the sheets (the package's relationships, workbook.xml).
MAX_STRUCTURE_BYTES = 8 << 20
#: The shared strings are held whole by the reader: 100,000 distinct 100-character names are
#: ~15 MB of XML.
MAX_SHARED_STRINGS_BYTES = 128 << 20
#: Distinct strings a workbook may claim: the reader reserves room for the count the file
#: states before it reads one (24 bytes each).
MAX_SHARED_STRINGS = MAX_BOOK_CELLS
#: Bytes inflated in all, over every part scanned and read: a package whose sheets share
#: parts, or that has a thousand large sheets, is refused before it costs minutes.
MAX_PACKAGE_BYTES = 768 << 20
#: Merged ranges in one sheet. A lab sheet has a few per stack; the reader keeps ~300 bytes for
#: each, so a 31 MB file listing seven million of them would take over 2 GB.
MAX_MERGED_RANGES = 100_000


@dataclass
class Grid:
    """One sheet as rows of cells, with what the cells alone do not say."""

    name: str
    cells: list[list[Any]]
    merged: list[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=list)
    #: Cells that show no usable value, (row, column) -> the error they show ("#NAME?"), or
    #: None for a formula with no stored result. Readers that cannot tell leave it empty.
    unusable: dict[tuple[int, int], str | None] = field(default_factory=dict)
    #: The text of those formulas (`=B2+1`), where the reader has it.
    formulas: dict[tuple[int, int], str] = field(default_factory=dict)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _not_regular(path: Path, mode: int) -> InputFileError:
    kind = _kind(mode)
    if kind == "a folder":
        return InputFileError(f"{path} is a folder, not a spreadsheet")
    return InputFileError(f"{path} is {kind}, not a spreadsheet file; give the sheet itself")


@contextmanager
def open_regular(path: Path) -> Iterator[tuple[BinaryIO, os.stat_result]]:
    """The file opened for reading, with its status; only a regular file is opened.

    Opened without blocking (a named pipe would wait for a writer forever) and checked on the
    opened descriptor, so a file swapped after an earlier check is caught too.
    """
    try:
        # O_BINARY: on Windows a descriptor is otherwise in text mode (line ends translated,
        # Ctrl-Z taken as the end of the file); Windows has no O_NONBLOCK (nor FIFOs).
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                     | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise InputFileError(f"cannot read {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _not_regular(path, info.st_mode)
        yield handle, info


def too_big(path: Path, size: int, limit: int, what: str) -> InputFileError:
    return InputFileError(f"{path.name} is too large for layer-sync: {what} of {_mb(size)}, over "
                          f"the {_mb(limit)} a layer sheet never reaches; check it is the right "
                          "file, or split it")


def _mb(size: int) -> str:
    return f"{size / (1 << 20):,.0f} MB" if size >= 1 << 20 else f"{size:,} bytes"


def stat_regular(path: Path) -> os.stat_result:
    """The status of the file `path` names (symlinks followed: a .csv link to /dev/zero is a
    device); only a regular file passes."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputFileError(f"{path} does not exist", kind="input_missing") from None
    except OSError as exc:
        raise InputFileError(f"cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise _not_regular(path, info.st_mode)
    return info


def check_input_file(path: Path) -> str:
    """Fail early for a file that is missing, not a regular file, empty, too large, or whose
    first bytes contradict its name (a workbook named .csv, text named .xlsx). Returns its
    suffix, lower case. What the file really is, is decided from its whole content when it
    is read (`kinds.detect`)."""
    suffix = path.suffix.lower()
    info = stat_regular(path)
    if suffix not in SUFFIXES:
        raise InputFileError(f"{path.name} is not a spreadsheet layer-sync reads; use "
                             f"{', '.join(SUFFIXES)}")
    limit = MAX_TEXT_BYTES if suffix in TEXT_SUFFIXES else MAX_WORKBOOK_BYTES
    if info.st_size > limit:
        raise too_big(path, info.st_size, limit, "a file")
    head = read_head(path)
    if not head:
        raise InputFileError(f"{path.name} is empty")
    return suffix


def read_head(path: Path) -> bytes:
    """The first 8 bytes (a regular file only)."""
    with open_regular(path) as (handle, _):
        try:
            return handle.read(8)
        except OSError as exc:
            raise InputFileError(f"cannot read {path}: {exc.strerror}") from None


def short(exc: BaseException) -> str:
    """An exception's first line, for a message."""
    text = str(exc)
    return text.splitlines()[0][:160] if text.strip() else type(exc).__name__


def unreadable(path: Path, exc: BaseException, what: str) -> InputFileError:
    """The file could not be read as it should (`what`: "cannot be read as a workbook"),
    for `exc`: a password said as such, anything else by its first line."""
    if type(exc).__name__ == "PasswordError":
        return InputFileError(f"{path.name} is password-protected; remove the "
                              "password and save it again")
    return InputFileError(f"{path.name} {what} ({short(exc)}); open it in a spreadsheet "
                          "program and save it again")


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def column_index(letters: str) -> int:
    """A -> 0, AA -> 26."""
    index = 0
    for char in letters:
        index = index * 26 + ord(char) - 64
    return index - 1
