"""A workbook measured as calamine will read it, before anything reaches calamine.

calamine holds whole parts, allocates a sheet's used area at once (an .xls's and an .ods's
every sheet when it opens them), and a malformed file can make it loop or abort; so the file
is measured here, whatever its name says: its kind from its content (`kinds`), for a zip
package the very parts calamine will follow (`package`, streamed by `parts`), for an .xls the
compound file's chains (`ole`) and its records (`biff`). Every sheet's used area is measured
from its own cell addresses (`sheetxml`) and held to the bounds of `files`, and so are the
sheets read together. The same passes find what calamine gives as blank cells: formulas
without a stored result and cells showing an error (`#NAME?`), and merged cells in an .ods.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from ..core.errors import InputFileError
from .biff import BiffError, BookExtent, walk_book
from .files import (
    MAX_BOOK_CELLS,
    MAX_MERGED_RANGES,
    MAX_PART_BYTES,
    MAX_SHARED_STRINGS,
    MAX_SHARED_STRINGS_BYTES,
    MAX_SHEET_CELLS,
    MAX_SHEET_ROWS,
    column_letter,
    short,
    unreadable,
)
from .guard import ReadGuard
from .kinds import Kind, detect_ole, detect_zip, looks_like_zip
from .ole import OLE_MAGIC, WORKBOOK_STREAMS, CompoundFile, OleError
from .package import Package, PackageError, resolve, unique_strings
from .parts import Parts
from .sheetxml import (
    AreaExceeded,
    Shape,
    count_merges,
    scan_ods,
    scan_xlsx_sheet,
    whole_tags,
)


class BookMeasure:
    """A workbook's kind and each sheet's shape, measured from its bytes and held to the bounds."""

    def __init__(self, data: bytes, path: Path, suffix: str, guard: ReadGuard) -> None:
        """Measure the workbook `data` (the file `path`, named with `suffix`) as the reader
        will read it; refused (InputFileError) when it cannot be read, or not safely."""
        self.path, self.suffix, self._guard = path, suffix, guard
        self.parts: Parts | None = None       # a zip package's parts (.xlsx, .ods)
        self._package: Package | None = None
        self._ods: dict[str, Shape] = {}
        self._shapes: dict[str, Shape] = {}   # part -> its scan, each part scanned once
        self._xls: dict[str, Shape] = {}
        self._xls_book = BookExtent([])
        self._held = 0                        # cells of the grids handed out
        self.kind = self._measure(data)

    # ------------------------------------------------------------------------------ public

    def name_sheets(self, names: list[str]) -> None:
        """The reader's sheet names, in its order (an .xls's sheets are known by position
        until then)."""
        if self.kind is Kind.XLS:
            self._map_xls_sheets(names)

    def admit(self, name: str) -> Shape | None:
        """Sheet `name`, about to be read: its shape (None when the reader's own is used),
        its area held to the bounds, alone and with the sheets read before it; for an .xlsx,
        its part counted once more as the reader inflates it again."""
        shape = self._shape(name)
        if shape is not None:
            self._check_area(name, shape.rows, shape.columns, self._merge_count(name, shape))
            self._hold(name, shape.rows * shape.columns)
        if self.kind is Kind.XLSX:
            assert self.parts is not None
            self.parts.count_inflated(self.parts.size(self._sheet_part(name)))
        return shape

    def close(self) -> None:
        if self.parts is not None:
            self.parts.close()

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
            archive = zipfile.ZipFile(io.BytesIO(data))
            self.parts = Parts(archive, self.path, self._guard)
            kind = detect_zip(archive)
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
        parts = self.parts
        assert parts is not None
        names = parts.archive.namelist()

        def read(part: str) -> bytes:
            return b"".join(parts.stream(part, MAX_PART_BYTES))

        try:
            self._package = resolve(names, read)
        except PackageError as exc:
            raise self._damaged(str(exc)) from None
        folded = {n.lower(): n for n in names}
        styles = folded.get(f"{self._package.folder}styles.xml".lower())
        if styles is not None:
            for _ in parts.stream(styles, MAX_PART_BYTES):
                pass
        strings = self._package.shared_strings
        if strings is not None:
            claimed = 0
            for data in whole_tags(parts.stream(strings, MAX_SHARED_STRINGS_BYTES)):
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

    def _shape(self, name: str) -> Shape | None:
        if self.kind is Kind.ODS:
            return self._ods.get(name)
        if self.kind is Kind.XLS:
            return self._xls.get(name)
        parts = self.parts
        assert parts is not None
        part = self._sheet_part(name)
        if part not in self._shapes:
            self._shapes[part] = self._scanned(
                lambda: scan_xlsx_sheet(lambda: parts.stream(part, MAX_PART_BYTES)), name)
        return self._shapes[part]

    def _merge_count(self, name: str, shape: Shape) -> int:
        if self.kind is not Kind.XLSX:
            return len(shape.merged) if self.kind is Kind.ODS else shape.merged_count
        if shape.merged_count < 0:  # counted streaming, before the reader builds them all
            assert self.parts is not None
            shape.merged_count = count_merges(self.parts.stream(self._sheet_part(name),
                                                                MAX_PART_BYTES))
        return shape.merged_count

    # ------------------------------------------------------------------------------ .ods

    def _measure_ods(self) -> None:
        """The reader reads every table of content.xml at opening: all are measured first."""
        parts = self.parts
        assert parts is not None
        self._ods = self._scanned(lambda: scan_ods(parts.stream("content.xml", MAX_PART_BYTES),
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

    def _scanned(self, scan: Callable[[], Any], name: str) -> Any:
        """A `sheetxml` scan, its parse errors this file's, its area bound said."""
        try:
            return scan()
        except ElementTree.ParseError as exc:
            raise unreadable(self.path, exc, "cannot be read as a workbook") from None
        except AreaExceeded as exc:
            self._check_area(exc.name or name, exc.rows, exc.columns, exc.merged)
            raise AssertionError("unreachable: an exceeded area is refused") from None
