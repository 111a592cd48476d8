"""Workbooks (.xlsx, .xlsm, .ods, .xls) into grids, without trusting the file.

Cells are read by python-calamine, which gives each cell as the sheet stores it (text as text,
numbers as numbers, dates as dates). Nothing reaches calamine before the file is measured as
calamine will read it, whatever its name says (`measure`), and no sheet before its area is
held to the bounds; the whole read shares one deadline and the run's stop switch (`guard`).
Whatever calamine raises, a Rust panic included, ends as this file's InputFileError.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..core.errors import InputFileError
from ..core.issues import Issue, Severity
from .files import MAX_WORKBOOK_BYTES, Grid, unreadable
from .guard import ReadGuard
from .kinds import Kind
from .measure import BookMeasure
from .source import Source, read_source

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
        self._book: Any = None
        self._measure = BookMeasure(data, self.path, suffix, guard)
        self.kind = self._measure.kind
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
            raise unreadable(self.path, exc, "cannot be read as a workbook") from None
        if self.kind is Kind.XLS:
            self._measure.name_sheets(list(self._book.sheet_names))

    # ------------------------------------------------------------------------------ public

    def load(self, name: str) -> Grid:
        """One sheet as a grid; refused when its used area is beyond the bounds."""
        self._guard.check()
        shape = self._measure.admit(name)

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
            _reach(grid)
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
        self._measure.close()

    # ------------------------------------------------------------------------------ calamine

    def _guard_call(self, call: Callable[[], Any], what: str) -> Any:
        # calamine raises its own errors, and a Rust panic as PanicException, which derives
        # from BaseException: every one of them means "this file cannot be read".
        try:
            return call()
        except InputFileError:
            raise
        except BaseException as exc:  # noqa: BLE001
            _reraise_interrupt(exc)
            raise unreadable(self.path, exc, what) from None


def _calamine_open(data: bytes) -> Any:
    from python_calamine import CalamineWorkbook  # a compiled library: loaded for a workbook only

    return CalamineWorkbook.from_filelike(io.BytesIO(data))


def _reraise_interrupt(exc: BaseException) -> None:
    if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
        raise exc


def _reach(grid: Grid) -> None:
    """calamine's area ends at the last cell with a value: a formula with no stored result
    below or right of it (a last row of only such cells) would be left out, and its row
    neither read nor said. The grid is widened to the cells the sheet's XML holds (within the
    measured area: the bounds admitted them)."""
    if not grid.unusable:
        return
    cells = grid.cells
    rows = max(r for r, _ in grid.unusable) + 1
    width = max(max(c for _, c in grid.unusable) + 1, max((len(row) for row in cells), default=0))
    for row in cells:
        if len(row) < width:
            row.extend([""] * (width - len(row)))
    cells.extend([""] * width for _ in range(rows - len(cells)))
