"""Workbooks (.xlsx, .xlsm, .ods, .xls) into grids, without trusting the file.

Cells are read by python-calamine, which gives each cell as the sheet stores it (text as text,
numbers as numbers, dates as dates). calamine holds whole parts and allocates a sheet's used
area at once, and a malformed file can make it panic; so before a part reaches it, the part
is streamed here and bounded (`inputfile.MAX_*`): its inflated size is counted as it is read
(a zip header can lie), and the sheet's used area is measured from its cell addresses. The
same pass (`sheetxml`) finds what calamine does not report (it gives both as blank cells):
formulas without a stored result (.xlsx) and cells showing a formula error such as `#NAME?`
(.xlsx, .ods; in an .xls they are found by xlrd, which reads the format's records); and merged
cells (.ods).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from ..core.errors import InputFileError
from .files import (
    MAX_MERGED_RANGES,
    MAX_PART_BYTES,
    MAX_SHARED_STRINGS_BYTES,
    MAX_SHEET_CELLS,
    MAX_WORKBOOK_BYTES,
    OLE_MAGIC,
    Grid,
    column_letter,
    read_bytes,
    short,
)
from .sheetxml import Shape, scan_ods, scan_xlsx_sheet, whole_tags

_M = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_CHUNK = 1 << 20

#: The marker a layer-sync report carries in cell A1 of its Summary sheet.
REPORT_MARKER = "layer-sync report"


class Workbook:
    """An open workbook: its worksheet names, and each sheet as a grid on demand."""

    def __init__(self, path: Path, suffix: str) -> None:
        self.path, self.suffix = path, suffix
        data = read_bytes(path, MAX_WORKBOOK_BYTES, "a workbook")
        self._archive: zipfile.ZipFile | None = None
        self._parts: dict[str, str] = {}  # sheet name -> part (.xlsx)
        self._ods: dict[str, Shape] = {}
        # An .xls (BIFF, in an OLE file): its error cells are read by xlrd when a sheet is.
        self._xls_data = data if suffix == ".xls" and data.startswith(OLE_MAGIC) else None
        self._xls_book: Any = None
        if suffix != ".xls":
            self._archive = self._open_archive(data)
            if suffix == ".ods":
                self._ods = self._parsed(lambda: scan_ods(
                    self._stream("content.xml", MAX_PART_BYTES)))
                for name, shape in self._ods.items():  # calamine reads every table at opening
                    self._check_area(name, shape)
            else:
                self._parts = self._check_xlsx_parts()
        self._book = self._guard(lambda: _calamine_open(data), "cannot be read as a workbook")
        try:
            metadata = self._book.sheets_metadata
            self.names: list[str] = ([m.name for m in metadata if str(m.typ).endswith("WorkSheet")]
                                     or list(self._book.sheet_names))
            self.all_names: list[str] = list(self._book.sheet_names)
        except BaseException as exc:  # noqa: BLE001 (a Rust panic is a BaseException)
            self.close()
            _reraise_interrupt(exc)
            raise self._unreadable(exc, "cannot be read as a workbook") from None

    # ------------------------------------------------------------------------------ public

    def load(self, name: str) -> Grid:
        """One sheet as a grid; refused when its used area is beyond `MAX_SHEET_CELLS`."""
        shape = self._shape(name)
        if shape is not None:
            self._check_area(name, shape)

        def read() -> tuple[list[list[Any]], list]:
            sheet = self._book.get_sheet_by_name(name)
            return (sheet.to_python(skip_empty_area=False),
                    list(getattr(sheet, "merged_cell_ranges", None) or []))

        cells, merged = self._guard(read, f"sheet {name!r} cannot be read")
        grid = Grid(name, cells, merged)
        if shape is not None:
            grid.unusable = shape.unusable
            if not merged:
                grid.merged = shape.merged
        elif self._xls_data is not None:
            grid.unusable = self._xls_errors(name)
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
        if getattr(self, "_book", None) is not None:
            try:
                self._book.close()
            except Exception:  # noqa: BLE001 (closing what could not be read is no news)
                pass
        if self._archive is not None:
            self._archive.close()

    # ------------------------------------------------------------------------------ checks

    def _unreadable(self, exc: BaseException, what: str) -> InputFileError:
        if type(exc).__name__ == "PasswordError":
            return InputFileError(f"{self.path.name} is password-protected; remove the "
                                  "password and save it again")
        return InputFileError(f"{self.path.name} {what} ({short(exc)}); open it in a spreadsheet "
                              "program and save it again")

    def _guard(self, call, what: str):
        # calamine raises its own errors, and a Rust panic as PanicException, which derives
        # from BaseException: every one of them means "this file cannot be read".
        try:
            return call()
        except InputFileError:
            raise
        except BaseException as exc:  # noqa: BLE001
            _reraise_interrupt(exc)
            raise self._unreadable(exc, what) from None

    def _open_archive(self, data: bytes) -> zipfile.ZipFile:
        try:
            return zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
            raise self._unreadable(exc, "cannot be read as a workbook") from None

    def _stream(self, part: str, limit: int) -> Iterator[bytes]:
        """The part's bytes in chunks, refused past `limit` whatever its header says."""
        assert self._archive is not None
        try:
            info = self._archive.getinfo(part)
            if info.file_size > limit:
                raise self._too_big(part, info.file_size, limit)
            read = 0
            with self._archive.open(info) as handle:
                while chunk := handle.read(_CHUNK):
                    read += len(chunk)
                    if read > limit:
                        raise self._too_big(part, read, limit)
                    yield chunk
        except InputFileError:
            raise
        except (zipfile.BadZipFile, KeyError, OSError, EOFError, ValueError,
                NotImplementedError, RuntimeError) as exc:
            raise self._unreadable(exc, f"cannot be read as a workbook (part {part})") from None

    def _too_big(self, part: str, size: int, limit: int) -> InputFileError:
        return InputFileError(f"{self.path.name} is not a sheet layer-sync can read safely: its "
                              f"part {part} inflates to {size >> 20} MB or more, over the "
                              f"{limit >> 20} MB no layer sheet comes near; open it in a "
                              "spreadsheet program and save it again, or check it is the right file")

    def _check_xlsx_parts(self) -> dict[str, str]:
        """Every part calamine reads whole at opening, streamed and bounded; sheet -> part."""
        assert self._archive is not None
        names = set(self._archive.namelist())
        for part in sorted(names):
            if part.startswith("xl/worksheets/") or not part.endswith((".xml", ".rels")):
                continue  # sheets are checked when read; pictures and the like are never read
            limit = MAX_SHARED_STRINGS_BYTES if "sharedstrings" in part.casefold() else MAX_PART_BYTES
            for _ in self._stream(part, limit):
                pass
        # Found as the reader finds them, their names' case aside (`xl/Workbook.xml`).
        folded = {n.casefold(): n for n in names}
        book_part = folded.get("xl/workbook.xml")
        rels_part = folded.get("xl/_rels/workbook.xml.rels")
        if book_part is None or rels_part is None:
            return {}
        try:
            book = ElementTree.fromstring(self._archive.read(book_part))
            rels = ElementTree.fromstring(self._archive.read(rels_part))
        except (ElementTree.ParseError, zipfile.BadZipFile, OSError) as exc:
            raise self._unreadable(exc, "cannot be read as a workbook") from None
        targets = {r.get("Id"): r.get("Target") or "" for r in rels.iter(f"{_REL}Relationship")}
        parts = {}
        for sheet in book.iter(f"{_M}sheet"):
            target = targets.get(sheet.get(f"{_R}id"), "")
            parts[sheet.get("name") or ""] = (target.lstrip("/") if target.startswith("/")
                                              else "xl/" + target)
        return parts

    def _shape(self, name: str) -> Shape | None:
        if self.suffix == ".ods":
            return self._ods.get(name)
        if self._archive is None:  # .xls
            return None
        part = self._sheet_part(name)
        return self._parsed(lambda: scan_xlsx_sheet(lambda: self._stream(part, MAX_PART_BYTES)))

    def _parsed(self, scan: Callable[[], Any]) -> Any:
        """A `sheetxml` scan, its parse errors this file's."""
        try:
            return scan()
        except ElementTree.ParseError as exc:
            raise self._unreadable(exc, "cannot be read as a workbook") from None

    def _sheet_part(self, name: str) -> str:
        """The part an .xlsx sheet is in, found as the reader finds it (its name's case aside:
        `worksheets/SHEET1.xml` is read from `sheet1.xml`). A sheet whose part is not found
        is refused: what the reader would read could not be bounded first."""
        assert self._archive is not None
        names = self._archive.namelist()
        part = self._parts.get(name)
        if part is not None and part not in names:
            part = next((n for n in names if n.casefold() == part.casefold()), None)
        if part is None:
            raise InputFileError(f"{self.path.name}: the part that holds sheet {name!r} cannot "
                                 "be found; open it in a spreadsheet program and save it again")
        return part

    def _check_area(self, name: str, shape: Shape) -> None:
        merged = len(shape.merged) if self.suffix == ".ods" else self._merge_count(name)
        if merged > MAX_MERGED_RANGES:
            raise InputFileError(
                f"sheet {name!r} of {self.path.name} has {merged:,} merged ranges, far more than "
                f"a layer sheet (at most {MAX_MERGED_RANGES:,} are read); unmerge the cells and "
                "save it again")
        if shape.rows * shape.columns > MAX_SHEET_CELLS:
            raise InputFileError(
                f"sheet {name!r} of {self.path.name} reaches cell "
                f"{column_letter(shape.columns - 1)}{shape.rows}, far beyond a layer sheet (over "
                f"{MAX_SHEET_CELLS:,} cells to read); delete the rows and columns past your "
                "data (or the stray cell out there) and save it again")

    # ------------------------------------------------------------------------------ .xls

    def _xls_errors(self, name: str) -> dict[tuple[int, int], str | None]:
        """The cells of an .xls sheet that show an error (`#NAME?`), by xlrd."""
        import xlrd

        if self._xls_book is None:
            self._xls_book = self._guard(lambda: xlrd.open_workbook(
                file_contents=self._xls_data, on_demand=True, logfile=io.StringIO(),
                verbosity=0), "cannot be read as a workbook")

        def scan() -> dict[tuple[int, int], str | None]:
            sheet = self._xls_book.sheet_by_name(name)
            found: dict[tuple[int, int], str | None] = {}
            for r in range(sheet.nrows):
                types = sheet.row_types(r)
                if xlrd.XL_CELL_ERROR in types:
                    for c, kind in enumerate(types):
                        if kind == xlrd.XL_CELL_ERROR:
                            found[r, c] = xlrd.error_text_from_code.get(sheet.cell_value(r, c),
                                                                        "an error")
            self._xls_book.unload_sheet(name)
            return found

        return self._guard(scan, f"sheet {name!r} cannot be read")

    # ------------------------------------------------------------------------------ .xlsx

    def _merge_count(self, name: str) -> int:
        """How many merged ranges an .xlsx sheet lists (counted streaming, before the reader
        builds them all)."""
        if self._archive is None:
            return 0
        return sum(data.count(b"mergeCell ") for data in whole_tags(
            self._stream(self._sheet_part(name), MAX_PART_BYTES)))

def _calamine_open(data: bytes) -> Any:
    from python_calamine import CalamineWorkbook

    return CalamineWorkbook.from_filelike(io.BytesIO(data))


def _reraise_interrupt(exc: BaseException) -> None:
    if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
        raise exc
