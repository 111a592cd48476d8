"""Workbooks (.xlsx, .xlsm, .ods, .xls) into grids, without trusting the file.

Cells are read by python-calamine, which gives each cell as the sheet stores it (text as text,
numbers as numbers, dates as dates). calamine holds whole parts, allocates a sheet's used area
at once (an .xls's and an .ods's every sheet when it opens them), and a malformed file can
make it loop or abort; so before anything reaches it, the file is measured here as calamine
will read it, whatever its name says: its kind from its content (`kinds`), for a zip package
the very parts calamine will follow (`package`), for an .xls the compound file's chains
(`ole`) and its records (`biff`). Every part is streamed and counted as it inflates (a zip
header can lie), every sheet's used area is measured from its own cell addresses, and the
whole read shares one deadline and the run's stop switch (`guard`). The same passes find what
calamine gives as blank cells: formulas without a stored result and cells showing an error
(`#NAME?`), and merged cells in an .ods.
"""

from __future__ import annotations

import contextlib
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from ..core.errors import InputFileError
from ..core.issues import Issue, Severity
from .biff import BiffError, BookExtent, walk_book
from .files import (
    MAX_BOOK_CELLS,
    MAX_MERGED_RANGES,
    MAX_PACKAGE_BYTES,
    MAX_PART_BYTES,
    MAX_SHARED_STRINGS,
    MAX_SHARED_STRINGS_BYTES,
    MAX_SHEET_CELLS,
    MAX_SHEET_ROWS,
    MAX_WORKBOOK_BYTES,
    Grid,
    column_letter,
    short,
)
from .guard import ReadGuard
from .kinds import Kind, detect_ole, detect_zip, looks_like_zip
from .ole import OLE_MAGIC, WORKBOOK_STREAMS, CompoundFile, OleError
from .package import Package, PackageError, resolve, unique_strings
from .sheetxml import (
    AreaExceeded,
    Shape,
    count_merges,
    scan_ods,
    scan_xlsx_sheet,
    whole_tags,
)
from .source import Source, read_source

_CHUNK = 1 << 20
#: A tag (from `<` to `>`) longer than this is refused (see `Workbook._whole_tags`).
_MAX_TAG = 1 << 20
_HUGE_TAG = re.compile(rb"<[^<>]{%d}" % _MAX_TAG)

#: The marker a layer-sync report carries in cell A1 of its Summary sheet.
REPORT_MARKER = "layer-sync report"


class Workbook:
    """An open workbook: its worksheet names, and each sheet as a grid on demand."""

    def __init__(self, source: Source | Path, suffix: str, guard: ReadGuard | None = None,
                 issues: list[Issue] | None = None) -> None:
        """`source`: the file as read (`source.read_source`), or a path to read now (as is,
        without waiting for it to be still: a report layer-sync wrote, say)."""
        if guard is None:
            guard = ReadGuard(source.path if isinstance(source, Source) else source)
        if not isinstance(source, Source):
            source = read_source(source, MAX_WORKBOOK_BYTES, guard=guard, still_s=0.0)
        self.path, self.suffix, self._guard = source.path, suffix, guard
        data = source.data
        self._archive: zipfile.ZipFile | None = None
        self._package: Package | None = None
        self._ods: dict[str, Shape] = {}
        self._shapes: dict[str, Shape] = {}   # part -> its scan, each part scanned once
        self._xls: dict[str, Shape] = {}
        self._xls_book = BookExtent([])
        self._inflated = 0                    # bytes inflated so far, scans and reads
        self._held = 0                        # cells of the grids handed out
        self._book: Any = None
        self.kind = self._measure(data)
        if issues is not None and self.kind.suffix != suffix and not (
                self.kind is Kind.XLSX and suffix == ".xlsm"):
            issues.append(Issue(self.path.name, None, None, None, "", Severity.WARNING,
                                f"{self.path.name} is {self.kind.value} by its content, whatever "
                                f"its name says; it was read as one (rename it to "
                                f"{self.path.stem}{self.kind.suffix})"))
        self._book = self._guard_call(lambda: _calamine_open(data), "cannot be read as a workbook")
        try:
            metadata = self._book.sheets_metadata
            names = [m.name for m in metadata if str(m.typ).endswith("WorkSheet")]
            # A name given twice is one sheet to the reader (the first, or for an .xls the last).
            self.names: list[str] = list(dict.fromkeys(names or self._book.sheet_names))
            self.all_names: list[str] = list(dict.fromkeys(self._book.sheet_names))
            # Hidden and very hidden sheets (Excel's Unhide does not even list the latter):
            # the technician does not see them, so they are read only when named.
            self.hidden: frozenset[str] = frozenset(
                m.name for m in metadata if not str(m.visible).endswith(".Visible"))
        except BaseException as exc:  # noqa: BLE001 (a Rust panic is a BaseException)
            self.close()
            _reraise_interrupt(exc)
            raise self._unreadable(exc, "cannot be read as a workbook") from None
        if self.kind is Kind.XLS:
            self._map_xls_sheets(list(self._book.sheet_names))

    # ------------------------------------------------------------------------------ public

    def load(self, name: str) -> Grid:
        """One sheet as a grid; refused when its used area is beyond the bounds."""
        self._guard.check()
        shape = self._shape(name)
        if shape is not None:
            self._check_area(name, shape.rows, shape.columns, self._merge_count(name, shape))
            self._hold(name, shape.rows * shape.columns)
        if self.kind is Kind.XLSX:
            self._count_inflated(self._part_size(name))  # the reader inflates the part again

        def read() -> tuple[list[list[Any]], list[Any]]:
            sheet = self._book.get_sheet_by_name(name)
            return (sheet.to_python(skip_empty_area=False),
                    list(getattr(sheet, "merged_cell_ranges", None) or []))

        cells, merged = self._guard_call(read, f"sheet {name!r} cannot be read")
        self._guard.check()
        grid = Grid(name, cells, merged)
        if shape is not None:
            grid.unusable, grid.formulas = shape.unusable, shape.formulas
            if not merged:
                grid.merged = shape.merged
        return grid

    def report_input(self) -> str | None:
        """When this workbook is a layer-sync report: the input file its Summary names."""
        lowered = {n.casefold(): n for n in self.all_names}
        if not {"summary", "rows"} <= lowered.keys():
            return None
        try:
            cells = self.load(lowered["summary"]).cells
        except InputFileError:
            return None
        if not cells or not cells[0] or REPORT_MARKER not in str(cells[0][0]).casefold():
            return None
        for row in cells:
            if len(row) > 1 and str(row[0]).strip().casefold() == "input file":
                return str(row[1])
        return "?"

    def close(self) -> None:
        if self._book is not None:
            with contextlib.suppress(Exception):  # closing what could not be read is no news
                self._book.close()
        if self._archive is not None:
            self._archive.close()

    # ------------------------------------------------------------------------------ kinds

    def _measure(self, data: bytes) -> Kind:
        """The file's kind, measured as the reader will read it; refused when it cannot be."""
        name = self.path.name
        if data.startswith(OLE_MAGIC):
            try:
                ole = CompoundFile(data, self._guard)
            except OleError as exc:
                raise self._damaged(str(exc)) from None
            kind = detect_ole(ole)
            if kind is Kind.XLS:
                self._measure_xls(ole)
            return self._usable(kind)
        if not looks_like_zip(data):
            raise InputFileError(f"{name} is not a {self.suffix} workbook (it looks like a text "
                                 "file, or another kind of file renamed); open it in a "
                                 "spreadsheet program and save it again")
        try:
            self._archive = zipfile.ZipFile(io.BytesIO(data))
            kind = detect_zip(self._archive)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
            raise self._damaged(short(exc)) from None
        if kind is Kind.XLSX:
            self._measure_xlsx()
        elif kind is Kind.ODS:
            self._measure_ods()
        return self._usable(kind)

    def _usable(self, kind: Kind) -> Kind:
        name = self.path.name
        if kind is Kind.ENCRYPTED:
            raise InputFileError(f"{name} is password-protected (encrypted); open it, remove the "
                                 "password (File > Info > Protect Workbook) and save it again")
        if kind is Kind.XLSB:
            raise InputFileError(f"{name} is an Excel binary workbook (.xlsb), which layer-sync "
                                 "does not read; save it as .xlsx (File > Save As) and run again")
        if not kind.workbook:
            raise InputFileError(f"{name} is {kind.value}; check it is the "
                                 "right file")
        return kind

    def _damaged(self, why: str) -> InputFileError:
        return InputFileError(f"{self.path.name} cannot be read as a workbook ({why}); open it "
                              "in a spreadsheet program and save it again")

    # ------------------------------------------------------------------------------ .xlsx

    def _measure_xlsx(self) -> None:
        """The parts the reader reads at opening, bounded; the sheets' parts, resolved."""
        assert self._archive is not None
        names = self._archive.namelist()

        def read(part: str) -> bytes:
            return b"".join(self._stream(part, MAX_PART_BYTES))

        try:
            self._package = resolve(names, read)
        except PackageError as exc:
            raise self._damaged(str(exc)) from None
        folded = {n.lower(): n for n in names}
        styles = folded.get(f"{self._package.folder}styles.xml".lower())
        if styles is not None:
            for _ in self._stream(styles, MAX_PART_BYTES):
                pass
        strings = self._package.shared_strings
        if strings is not None:
            claimed = 0
            for data in whole_tags(self._stream(strings, MAX_SHARED_STRINGS_BYTES)):
                claimed = claimed or unique_strings(data) or (-1 if b"sst" in data else 0)
            if claimed > MAX_SHARED_STRINGS:
                raise InputFileError(
                    f"{self.path.name} is not a sheet layer-sync can read safely: it claims "
                    f"{claimed:,} distinct strings, over the {MAX_SHARED_STRINGS:,} a layer "
                    "sheet never comes near; open it in a spreadsheet program and save it again")

    def _sheet_part(self, name: str) -> str:
        """The part the reader reads for sheet `name`; a sheet whose part is not there is
        refused (the reader would find none either)."""
        part = self._package.part_of(name) if self._package is not None else None
        if not part:
            raise InputFileError(f"{self.path.name}: the part that holds sheet {name!r} cannot "
                                 "be found; open it in a spreadsheet program and save it again")
        return part

    def _part_size(self, name: str) -> int:
        assert self._archive is not None
        return self._archive.getinfo(self._sheet_part(name)).file_size

    def _shape(self, name: str) -> Shape | None:
        if self.kind is Kind.ODS:
            return self._ods.get(name)
        if self.kind is Kind.XLS:
            return self._xls.get(name)
        part = self._sheet_part(name)
        if part not in self._shapes:
            self._shapes[part] = self._scanned(
                lambda: scan_xlsx_sheet(lambda: self._stream(part, MAX_PART_BYTES)), name)
        return self._shapes[part]

    def _merge_count(self, name: str, shape: Shape) -> int:
        if self.kind is not Kind.XLSX:
            return len(shape.merged) if self.kind is Kind.ODS else shape.merged_count
        if shape.merged_count < 0:  # counted streaming, before the reader builds them all
            shape.merged_count = count_merges(self._stream(self._sheet_part(name),
                                                           MAX_PART_BYTES))
        return shape.merged_count

    # ------------------------------------------------------------------------------ .ods

    def _measure_ods(self) -> None:
        """The reader reads every table of content.xml at opening: all are measured first."""
        self._ods = self._scanned(lambda: scan_ods(self._stream("content.xml", MAX_PART_BYTES),
                                                   MAX_SHEET_CELLS, MAX_MERGED_RANGES), "")
        total = 0
        for name, shape in self._ods.items():
            self._check_area(name, shape.rows, shape.columns, len(shape.merged))
            total += shape.rows * shape.columns
        self._check_book(total, "its sheets")

    # ------------------------------------------------------------------------------ .xls

    def _measure_xls(self, ole: CompoundFile) -> None:
        """The reader parses every sheet of an .xls at opening: each is measured first."""
        try:
            stream = next(s for n in WORKBOOK_STREAMS if (s := ole.stream(n)) is not None)
            book = walk_book(stream, self._guard)
        except (OleError, BiffError) as exc:
            raise self._damaged(str(exc)) from None
        if book.encrypted:
            raise InputFileError(f"{self.path.name} is password-protected; open it, remove the "
                                 "password and save it again")
        if sum(sheet.walked for sheet in book.sheets) > len(stream):
            raise self._damaged("its sheets overlap one another")
        for index, sheet in enumerate(book.sheets):
            label = f"number {index + 1}"
            self._check_area(label, sheet.rows, sheet.columns, sheet.merged)
            self._check_area(label, 0, 0, 0, reserved=sheet.reserved)
        self._check_book(sum(s.area + s.reserved for s in book.sheets), "its sheets")
        self._xls_book = book

    def _map_xls_sheets(self, names: list[str]) -> None:
        """Each sheet name's extent: the reader keeps the last sheet of a name."""
        sheets = self._xls_book.sheets
        if len(names) != len(sheets):
            raise self._damaged("its sheet list does not match its sheets")
        for name, sheet in zip(names, sheets):
            shape = Shape(sheet.rows, sheet.columns, dict(sheet.errors))
            shape.merged_count = sheet.merged
            self._xls[name] = shape

    # ------------------------------------------------------------------------------ bounds

    def _check_area(self, name: str, rows: int, columns: int, merged: int, *,
                    reserved: int = 0) -> None:
        where = f"sheet {name!r} of {self.path.name}"
        if merged > MAX_MERGED_RANGES:
            raise InputFileError(
                f"{where} has {merged:,} merged ranges, far more than a layer sheet (at most "
                f"{MAX_MERGED_RANGES:,} are read); unmerge the cells and save it again")
        if rows > MAX_SHEET_ROWS or rows * columns > MAX_SHEET_CELLS or reserved > MAX_SHEET_CELLS:
            shown = (f"reaches cell {column_letter(max(columns, 1) - 1)}{rows} ({rows:,} rows x "
                     f"{columns:,} columns)" if not reserved else f"claims {reserved:,} cells")
            raise InputFileError(
                f"{where} {shown}, beyond what layer-sync reads in one sheet "
                f"({MAX_SHEET_ROWS:,} rows, {MAX_SHEET_CELLS:,} cells); delete the rows and "
                "columns past your data (or the stray cell out there), or split the sheet, and "
                "save it again")

    def _check_book(self, cells: int, what: str) -> None:
        if cells > MAX_BOOK_CELLS:
            raise InputFileError(
                f"{self.path.name}: {what} hold over {MAX_BOOK_CELLS:,} cells together, more "
                "than layer-sync reads at once; read fewer sheets (--sheet NAME), or move "
                "the others to another file")

    def _hold(self, name: str, cells: int) -> None:
        self._held += cells
        self._check_book(self._held, "the sheets read")

    def _count_inflated(self, size: int) -> None:
        self._inflated += size
        if self._inflated > MAX_PACKAGE_BYTES:
            raise InputFileError(
                f"{self.path.name} is not a sheet layer-sync can read safely: reading it "
                f"inflates over {MAX_PACKAGE_BYTES >> 20} MB of parts, far more than a layer "
                "workbook; open it in a spreadsheet program and save it again, or check it "
                "is the right file")

    # ------------------------------------------------------------------------------ helpers

    def _unreadable(self, exc: BaseException, what: str) -> InputFileError:
        if type(exc).__name__ == "PasswordError":
            return InputFileError(f"{self.path.name} is password-protected; remove the "
                                  "password and save it again")
        return InputFileError(f"{self.path.name} {what} ({short(exc)}); open it in a spreadsheet "
                              "program and save it again")

    def _guard_call(self, call: Callable[[], Any], what: str) -> Any:
        # calamine raises its own errors, and a Rust panic as PanicException, which derives
        # from BaseException: every one of them means "this file cannot be read".
        try:
            return call()
        except InputFileError:
            raise
        except BaseException as exc:  # noqa: BLE001
            _reraise_interrupt(exc)
            raise self._unreadable(exc, what) from None

    def _scanned(self, scan: Callable[[], Any], name: str) -> Any:
        """A `sheetxml` scan, its parse errors this file's, its area bound said."""
        try:
            return scan()
        except ElementTree.ParseError as exc:
            raise self._unreadable(exc, "cannot be read as a workbook") from None
        except AreaExceeded as exc:
            self._check_area(exc.name or name, exc.rows, exc.columns, exc.merged)
            raise AssertionError("unreachable: an exceeded area is refused") from None

    def _stream(self, part: str, limit: int) -> Iterator[bytes]:
        """The part's bytes in chunks, refused past `limit` whatever its header says; every
        byte counts towards the package's bound, and the guard is asked between chunks."""
        assert self._archive is not None
        try:
            info = self._archive.getinfo(part)
            if info.file_size > limit:
                raise self._too_big(part, info.file_size, limit)
            read = 0
            carry = b""  # an unfinished tag at the end of the chunk before
            with self._archive.open(info) as handle:
                while chunk := handle.read(_CHUNK):
                    read += len(chunk)
                    if read > limit:
                        raise self._too_big(part, read, limit)
                    self._count_inflated(len(chunk))
                    self._guard.check()
                    carry = self._whole_tags(part, carry + chunk[:_MAX_TAG] if carry else chunk,
                                             carry, chunk)
                    yield chunk
        except InputFileError:
            raise
        except (zipfile.BadZipFile, KeyError, OSError, EOFError, ValueError,
                NotImplementedError, RuntimeError) as exc:
            raise self._unreadable(exc, f"cannot be read as a workbook (part {part})") from None

    def _whole_tags(self, part: str, head: bytes, carry: bytes, chunk: bytes) -> bytes:
        """Refuse a tag longer than `_MAX_TAG` (no program writes one, and an XML parser
        reads a long token again for every piece of it that arrives); returns what of the
        chunk is an unfinished tag, to look at with the next one."""
        if _HUGE_TAG.search(chunk) or (carry and _HUGE_TAG.search(head)):
            raise InputFileError(f"{self.path.name} is not a sheet layer-sync can read safely: "
                                 f"its part {part} holds a tag of over {_MAX_TAG >> 20} MB, "
                                 "which no spreadsheet program writes; open it in a "
                                 "spreadsheet program and save it again")
        opened = chunk.rfind(b"<")
        if opened < 0:
            return carry + chunk if carry and b">" not in chunk else b""
        return chunk[opened:] if chunk.rfind(b">") < opened else b""

    def _too_big(self, part: str, size: int, limit: int) -> InputFileError:
        return InputFileError(f"{self.path.name} is not a sheet layer-sync can read safely: its "
                              f"part {part} inflates to {size >> 20} MB or more, over the "
                              f"{limit >> 20} MB no layer sheet comes near; open it in a "
                              "spreadsheet program and save it again, or check it is the right file")


def _calamine_open(data: bytes) -> Any:
    from python_calamine import CalamineWorkbook

    return CalamineWorkbook.from_filelike(io.BytesIO(data))


def _reraise_interrupt(exc: BaseException) -> None:
    if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
        raise exc
