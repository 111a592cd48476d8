"""Read layer stacks from CSV and Excel as technicians write them: a file becomes rows.

`read_stacks(path, sheet=None)` returns every data row with its source (sheet, row number as
the spreadsheet shows it, cell references) and every problem found, each tied to its cell.
No HTTP here. The file is read once within the bounds of `files` (`source`); it becomes grids
in `delimited` (CSV, TSV, TXT) or, for a workbook (.xlsx, .xlsm, .ods, .xls), in `sheets`,
which chooses the sheets to read; `headers` finds the header row; `gridrows` makes the rows
(merged and blank cells filled down), `checks` checks every value and the rules across rows.
This module runs those steps and adds the notes about the file as a whole.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Unpack

from ..core.errors import InputFileError, option
from ..core.issues import Issue, Severity
from ..core.options import ReadChanges, ReadOptions
from ..core.runtime import Runtime
from ..rules.advice import Medium, OrientationIssue, csv_note
from .checks import check_gaps
from .delimited import load_text
from .files import (
    MAX_TEXT_BYTES,
    MAX_WORKBOOK_BYTES,
    SUFFIXES,
    TEXT_SUFFIXES,
    WORKBOOK_SUFFIXES,
    check_input_file,
    column_letter,
)
from .gridrows import grid_rows, rows_from_grid
from .guard import ReadGuard
from .headers import (
    ALIASES,
    HEADER_SEARCH_ROWS,
    field_for_header,
    find_header,
    lab_names,
    no_header_message,
    squeeze_header,
)
from .rows import SheetData, SheetRow
from .sheets import read_sheets
from .source import read_source

__all__ = ["ALIASES", "HEADER_SEARCH_ROWS", "SUFFIXES", "TEXT_SUFFIXES", "WORKBOOK_SUFFIXES",
           "SheetData", "SheetRow", "check_input_file", "column_letter", "field_for_header",
           "read_stacks", "rows_from_grid", "squeeze_header"]

WARNING = Severity.WARNING


def read_stacks(path: str | os.PathLike[str], *, options: ReadOptions | None = None,
                runtime: Runtime | None = None, **changes: Unpack[ReadChanges]) -> SheetData:
    """Read the layer stacks of a CSV or workbook, check every value, report every problem.

    `sheet` names one sheet or several (case ignored); `all_sheets` reads every sheet with a
    recognisable header. By default the first sheet with a header is read, and any other
    sheet with one is named in a file-level warning. A key repeated across the sheets read is
    a duplicate like any other. `columns` maps a lab's own header names to fields
    (`{"Film": "composition_string"}`); they are matched like the built-in names, and first.
    These come as keywords or in `options` (a `ReadOptions`, or the `SyncOptions` of a sync).
    `runtime.progress("reading", rows_done, rows, 0)` is called every 1,000 rows while they
    are checked (for a progress bar).

    The file is read once, whole, and checked unchanged after the read; a file modified
    moments ago is first watched until it has been still for `runtime.still_s` seconds
    (default 2, or LAYER_SYNC_STILL_SECONDS; it waits at most 10 s, and says so on the log).
    `runtime.clock` and `runtime.sleep` time that wait and bound the whole read (30 s);
    `runtime.wall` is the clock modification times are compared with. The run's control
    (`runtime.control`) is asked between chunks and rows: once a signal has interrupted the
    run, reading stops with `core.errors.Interrupted(signum)`, a KeyboardInterrupt.

    Raises InputFileError (exit code 2) for a file that cannot be used at all.
    """
    read = ReadOptions.build(options, changes)
    progress = runtime.progress if runtime is not None else None
    all_sheets = read.all_sheets
    path = Path(path)
    suffix = check_input_file(path)
    runtime = runtime or Runtime()
    control = runtime.control
    clock = runtime.clock
    guard = ReadGuard(path, clock=clock,
                      should_stop=lambda: (control.signal or True) if control.interrupted else None)
    source = read_source(path, MAX_TEXT_BYTES if suffix in TEXT_SUFFIXES else MAX_WORKBOOK_BYTES,
                         guard=guard, clock=clock, sleep=runtime.sleep or control.sleep,
                         wall=runtime.wall, still_s=runtime.still_s)
    wanted = list(read.sheet)
    names = lab_names(read.columns)
    file_issues: list[Issue] = []
    encoding = delimiter = None
    medium: Medium = "text" if suffix in TEXT_SUFFIXES else "workbook"
    if suffix in TEXT_SUFFIXES:

        grid, encoding, delimiter = load_text(source, suffix, file_issues, guard)
        if any(name.casefold() != grid.name.casefold() for name in wanted):
            raise InputFileError(f"{path.name} is a text file with no sheets; leave out "
                                 f"{option('sheet')}")
        header = find_header(grid, path, names)
        if header is None:
            raise InputFileError(no_header_message(path, [grid], names), kind="no_header")
        found = [(grid, header)]
    else:
        found = read_sheets(source, suffix, wanted, all_sheets, file_issues, names, guard)
    del source

    def tick(done: int, total: int) -> None:
        if progress is not None:
            progress("reading", done, total, 0)
        guard.check()

    rows: list[SheetRow] = []
    columns: dict[str, str] = {}
    headers: list[str] = []
    ignored: list[str] = []
    near: list[tuple[str, str]] = []
    seen_headers: set[str] = set()
    seen_ignored: set[str] = set()
    for grid, header in found:
        file_issues.extend(header.issues)
        stack = rows[-1].stack + 1 if rows else 0  # a stack never runs on into the next sheet
        for row in grid_rows(grid, header, tick=tick, medium=medium, lab=names,
                             notes=file_issues):
            row.stack += stack
            rows.append(row)
        for name, col in header.colmap.items():
            columns.setdefault(name, header.headers[col])
        headers.extend(h for h in header.headers if not h or h not in seen_headers)
        ignored.extend(h for h in header.ignored if h not in seen_ignored)
        near.extend(n for n in header.near_misses if n not in near)
        seen_headers.update(header.headers)
        seen_ignored.update(header.ignored)
    check_gaps(rows)
    if medium == "text":
        _note_changed_orientations(rows, file_issues)
    sheets = [grid.name for grid, _ in found]
    _note_open_elsewhere(path, sheets[0], file_issues)
    return SheetData(path=path, sheet=", ".join(sheets), header_row=found[0][1].index + 1,
                     columns=columns, headers=headers if len(found) > 1 else found[0][1].headers,
                     ignored_columns=ignored, rows=rows, file_issues=file_issues,
                     encoding=encoding, delimiter=delimiter, sheets=sheets, near_misses=near)


def _note_changed_orientations(rows: list[SheetRow], file_issues: list[Issue]) -> None:
    """A CSV in which a spreadsheet program changed orientations: said once, for the file,
    with what happens to a CSV in such a program and the two ways out (`advice.CSV_NOTE`)."""
    changed = sum(isinstance(issue, OrientationIssue) for row in rows for issue in row.issues)
    if changed:
        sheet = rows[0].sheet
        file_issues.append(Issue(sheet, None, None, None, "", WARNING, csv_note(changed)))


#: The files a spreadsheet program keeps beside a file it has open, by program: Excel's
#: owner file and LibreOffice's lock file.
OPEN_MARKS = (("Excel", "~${}"), ("LibreOffice", ".~lock.{}#"))


def _note_open_elsewhere(path: Path, sheet: str, file_issues: list[Issue]) -> None:
    """A sheet open in Excel or LibreOffice (their mark beside it): what the file holds is
    read, not the edits not yet saved; a warning for the file, once, never an error (a
    mark left behind by a program that crashed means nothing)."""
    for program, pattern in OPEN_MARKS:
        mark = path.with_name(pattern.format(path.name))
        try:
            present = os.path.lexists(mark)
        except (OSError, ValueError):
            continue
        if present:
            file_issues.append(Issue(
                sheet, None, None, None, "", WARNING,
                f"{path.name} is open in {program} ({mark.name}): changes not yet saved are "
                "not read"))
            return

