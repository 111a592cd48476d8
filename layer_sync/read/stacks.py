"""Read layer stacks from CSV and Excel as technicians write them: a grid becomes rows.

`read_stacks(path, sheet=None)` returns every data row with its source (sheet, row number as
the spreadsheet shows it, cell references) and every problem found, each tied to its cell.
No HTTP here. The file becomes grids in `textfile` (CSV, TSV, TXT) or `workbook` (.xlsx,
.xlsm, .ods, .xls), within the bounds of `inputfile`; `headers` finds the header row; this
module fills merged and blank cells down, checks every value and the rules across rows.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any, Unpack

from ..core.errors import InputFileError, option
from ..core.issues import Issue, Severity
from ..core.options import ReadChanges, ReadOptions
from ..core.runtime import Runtime
from ..core.text import describe
from ..rules import values
from ..rules.advice import Medium, OrientationIssue, csv_note, orientation_advice
from ..rules.cells import MAX_CELL_CHARS, Checked, ValueProblem, is_blank
from ..rules.crystal import Mangled, MangledOrientation
from .delimited import load_text
from .files import (
    MAX_TEXT_BYTES,
    MAX_WORKBOOK_BYTES,
    SUFFIXES,
    TEXT_SUFFIXES,
    WORKBOOK_SUFFIXES,
    Grid,
    check_input_file,
    column_letter,
)
from .guard import ReadGuard
from .headers import (
    ALIASES,
    HEADER_SEARCH_ROWS,
    Header,
    field_for_header,
    find_header,
    header_columns,
    is_header,
    lab_names,
    no_header_message,
    squeeze_header,
)
from .order import check_carried_order
from .rows import SheetData, SheetRow
from .source import Source, read_source
from .workbook import Workbook

__all__ = ["ALIASES", "HEADER_SEARCH_ROWS", "SUFFIXES", "TEXT_SUFFIXES", "WORKBOOK_SUFFIXES",
           "SheetData", "SheetRow", "check_input_file", "column_letter", "field_for_header",
           "read_stacks", "rows_from_grid", "squeeze_header"]

ERROR, WARNING = Severity.ERROR, Severity.WARNING


# ============================================================================= public

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
        found = _read_workbook(source, suffix, wanted, all_sheets, file_issues, names, guard)
    del source
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
        for row in _rows(grid, header.index, header.colmap, header.headers, progress=progress,
                         guard=guard, medium=medium, lab=names, notes=file_issues):
            row.stack += stack
            rows.append(row)
        for name, col in header.colmap.items():
            columns.setdefault(name, header.headers[col])
        headers.extend(h for h in header.headers if not h or h not in seen_headers)
        ignored.extend(h for h in header.ignored if h not in seen_ignored)
        near.extend(n for n in header.near_misses if n not in near)
        seen_headers.update(header.headers)
        seen_ignored.update(header.ignored)
    _check_gaps(rows)
    if medium == "text":
        _note_changed_orientations(rows, file_issues)
    sheets = [grid.name for grid, _ in found]
    _note_open_elsewhere(path, sheets[0], file_issues)
    return SheetData(path=path, sheet=", ".join(sheets), header_row=found[0][1].index + 1,
                     columns=columns, headers=headers if len(found) > 1 else found[0][1].headers,
                     ignored_columns=ignored, rows=rows, file_issues=file_issues,
                     encoding=encoding, delimiter=delimiter, sheets=sheets, near_misses=near)


def _read_workbook(source: Source, suffix: str, wanted: list[str], all_sheets: bool,
                   file_issues: list[Issue], lab: dict[str, str],
                   guard: ReadGuard) -> list[tuple[Grid, Header]]:
    """The sheets to read, each with its header (see `read_stacks`)."""
    path = source.path
    book = Workbook(source, suffix, guard, file_issues)
    source.take()  # the reader holds its own copy
    try:
        report_of = book.report_input()
        if report_of is not None:
            raise InputFileError(f"{path.name} is a layer-sync report, not a layer sheet; sync "
                                 f"the original sheet ({report_of})")
        hidden: list[str] = []
        if wanted:
            by_name = {n.casefold(): n for n in book.all_names}
            missing = [n for n in wanted if n.casefold() not in by_name]
            if missing:
                raise InputFileError(f"{path.name} has no sheet {missing[0]!r} (named by "
                                     f"{option('sheet')}); its sheets are "
                                     f"{', '.join(map(repr, book.all_names))}", kind="sheet_missing")
            names = list(dict.fromkeys(by_name[n.casefold()] for n in wanted))
        else:
            # A hidden sheet is not what the technician sees: never chosen, only named
            # (`--sheet`); one with a layer header is said, so it never goes unread unsaid.
            names = [n for n in book.names if n not in book.hidden]
            hidden = [n for n in book.names if n in book.hidden and _has_header(book, n, path, lab)]
            for name in hidden:
                file_issues.append(Issue(name, None, None, None, "", WARNING,
                                         f"sheet {name!r} is hidden: not read; name it with "
                                         "--sheet NAME to read it"))
        if not names and hidden:
            raise _only_hidden(path, hidden)
        if not names:
            raise InputFileError(f"{path.name} has no worksheets")
        found: list[tuple[Grid, Header]] = []
        tried: list[Grid] = []
        others: list[str] = []
        for name in names:
            if found and not wanted and not all_sheets:
                # Only to say that it is there: a sheet never goes unread without a word.
                if _has_header(book, name, path, lab):
                    others.append(name)
                continue
            grid = book.load(name)
            header = find_header(grid, path, lab)
            if header is not None:
                found.append((grid, header))
            elif wanted:
                raise InputFileError(no_header_message(path, [grid], lab), kind="no_header")
            else:
                tried.append(grid)
        if not found:
            if hidden:
                raise _only_hidden(path, hidden)
            raise InputFileError(no_header_message(path, tried, lab), kind="no_header")
        if others:
            listed = ", ".join(map(repr, others))
            file_issues.append(Issue(
                found[0][0].name, None, None, None, "", WARNING,
                f"only sheet {found[0][0].name!r} was read; {listed} "
                f"{'has' if len(others) == 1 else 'have'} a layer header too: read "
                f"{'it' if len(others) == 1 else 'them'} with --sheet NAME (once per sheet), "
                "or every such sheet with --all-sheets"))
        return found
    finally:
        book.close()


def _only_hidden(path: Path, hidden: list[str]) -> InputFileError:
    listed = ", ".join(map(repr, hidden))
    one = len(hidden) == 1
    return InputFileError(
        f"{path.name}: the only {'sheet' if one else 'sheets'} with a layer header "
        f"{'is' if one else 'are'} hidden ({listed}), and a hidden sheet is read only when "
        f"named: unhide it in the workbook, or name it with {option('sheet')}",
        kind="no_header")


def _has_header(book: Any, name: str, path: Path, lab: dict[str, str]) -> bool:
    try:
        return find_header(book.load(name), path, lab) is not None
    except InputFileError:
        return False  # unreadable as a layer sheet: nothing to point the technician to


# ============================================================================= rows

def _check_uncached(field_name: str, raw: Any) -> Checked | str | Mangled:
    """The cell's checked value, or the problem's message (what a spreadsheet made of an
    orientation, for advice that fits the file)."""
    try:
        return values.check(field_name, raw)
    except MangledOrientation as exc:
        return exc.mangled
    except ValueProblem as exc:
        return str(exc)


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


#: A sheet repeats its values: each (field, value) is checked once.
_check_cached = lru_cache(maxsize=65536, typed=True)(_check_uncached)  # typed: TRUE is not 1.0


def _fill_merged(grid: Grid, header_index: int, width: int) -> None:
    """A merged range's value fills its cells below the header, within the sheet's rows and
    the header's `width` (a range can claim a billion columns; the cells past them are not
    read anyway).

    Ranges that do not overlap cover each cell once at most, so the cells they cover together
    are at most the grid's: more than that means overlapping ranges (which no spreadsheet
    program saves), refused before the work, which would grow with their square.
    """
    cells = grid.cells
    spans = []
    budget, work = len(cells) * max(width, 1), 0
    for (r0, c0), (r1, c1) in grid.merged:
        if r1 <= header_index or r0 >= len(cells) or c0 >= len(cells[r0]) or c0 >= width:
            continue
        c1 = min(c1, width - 1)
        first, last = max(r0, header_index + 1), min(r1, len(cells) - 1)
        work += max(0, last - first + 1) * (c1 - c0 + 1)
        if work > budget:
            raise InputFileError(
                f"sheet {grid.name!r} has merged ranges that overlap one another, which no "
                "spreadsheet program saves; unmerge its cells (select all, Unmerge) and "
                "merge them again, then save it")
        spans.append((r0, c0, c1, first, last))
    for r0, c0, c1, first, last in spans:
        value = cells[r0][c0]
        for r in range(first, last + 1):
            row = cells[r]
            if len(row) <= c1:
                row.extend([""] * (c1 + 1 - len(row)))
            for c in range(c0, c1 + 1):
                if (r, c) != (r0, c0) and is_blank(row[c]):
                    row[c] = value


def rows_from_grid(grid: Grid, header: Header, *, numbers: Sequence[int] | None = None,
                   cell_refs: Callable[[int], dict[str, str]] | None = None,
                   medium: Medium = "frame") -> list[SheetRow]:
    """The checked rows of one grid below its `header` (from `find_header`), with the gap
    warnings: what `read_stacks` makes of one sheet, for a grid built elsewhere (a DataFrame).

    `numbers[i]`: the row number that grid row `i` is known by (default `i + 1`, as a
    spreadsheet counts); `cell_refs(i)`: its cells' names by field (default `F12`-style);
    `medium`: where the grid came from, for the advice on a changed orientation.
    """
    rows = _rows(grid, header.index, header.colmap, header.headers, numbers, cell_refs,
                 medium=medium)
    _check_gaps(rows)
    return rows


def _rows(grid: Grid, header_index: int, colmap: dict[str, int], headers: list[str],
          numbers: Sequence[int] | None = None,
          cell_refs: Callable[[int], dict[str, str]] | None = None,
          progress: Callable[[str, int, int | None, int], None] | None = None,
          guard: ReadGuard | None = None, medium: Medium = "workbook",
          lab: Mapping[str, str] | None = None,
          notes: list[Issue] | None = None) -> list[SheetRow]:
    """The checked rows below the header. With `notes` (the file's issues), a row that
    repeats the header (two tables pasted one under the other) is skipped with a warning
    there, and one whose columns differ from the header's is refused (`_header_again`)."""
    _fill_merged(grid, header_index, len(headers))
    extra_cols = [(c, headers[c] or f"column {column_letter(c)}") for c in range(len(headers))
                  if c not in colmap.values() and headers[c]]
    letters = [(f, column_letter(c)) for f, c in colmap.items()]
    names = {f: headers[c] for f, c in colmap.items()}
    sample_fields = [f for f in values.SAMPLE_FIELDS if f in colmap]
    identity_fields = [f for f in ("sample_id", "sample_name") if f in colmap]
    rows: list[SheetRow] = []
    stack = 0
    previous: SheetRow | None = None
    # The blank rows (first, last) that ended the stack above, and the first row after them,
    # while the stack below gives no sample of its own: said on its rows' "no sample" error.
    ended: tuple[int, int] | None = None
    after_blank: tuple[int, int, int] | None = None
    columns = list(colmap.items())
    checked_columns = [(f, headers[c]) for f, c in columns]  # (field, header), looked up once
    blank = _blank
    total = len(grid.cells) - header_index - 1
    for index in range(header_index + 1, len(grid.cells)):
        if (index - header_index) % 1000 == 0:
            if progress is not None:
                progress("reading", index - header_index, total, 0)
            if guard is not None:
                guard.check()
        cells = grid.cells[index]
        number = index + 1 if numbers is None else numbers[index]
        width = len(cells)
        raw = {f: (cells[c] if c < width else None) for f, c in columns}
        unusable = ({f: grid.unusable[index, c] for f, c in columns if (index, c) in grid.unusable}
                    if grid.unusable else _NO_FIELDS)
        if not unusable and all(blank(v) for v in raw.values()):
            if previous is not None:
                stack += 1
                ended = (number, number)
            elif ended is not None:
                ended = (ended[0], number)
            previous = None
            continue
        if notes is not None and _header_again(grid, index, header_index, colmap, lab, notes):
            if previous is not None:
                stack += 1  # a table below a header of its own starts a stack
            previous = None
            continue
        extra = {name: (cells[c] if c < len(cells) else None) for c, name in extra_cols}
        if cell_refs is None:
            digits = str(number)
            refs = {f: letter + digits for f, letter in letters}
        else:
            refs = cell_refs(index)
        row = SheetRow(grid.name, number, stack, raw, refs, extra, names)
        for name, value in extra.items():
            if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
                row.add(WARNING, None, f"this cell holds {len(value):,} characters, more than a "
                        f"spreadsheet cell can ({MAX_CELL_CHARS:,}); it is not used, but check "
                        "the file", name, value[:40] + "…")
        # Within a stack, sample columns left blank (or repeated by a merged cell) are the
        # stack's: take them from the row above.
        # (Equality first: most rows of a stack repeat its sample, and that test is cheap.)
        if previous is not None:
            above = previous.raw
            row.carried = all(blank(raw[f]) for f in identity_fields)
            if all(raw[f] == above[f] or blank(raw[f]) for f in sample_fields):
                for f in sample_fields:
                    if blank(raw[f]):
                        raw[f] = above[f]
                        # A problem with the value is shown at the cell it was typed in.
                        refs[f] = previous.cells[f]
                row.filled_from = previous.row
        if previous is None:  # a stack's first row
            after_blank = (*ended, number) if ended is not None else None
            ended = None
        if after_blank is not None and any(not blank(raw[f]) for f in sample_fields):
            after_blank = None
        formulas = ({f: grid.formulas.get((index, c)) for f, c in columns} if unusable
                    and grid.formulas else None)
        _check_row(row, unusable, headers, colmap, checked_columns, medium, after_blank,
                   formulas)
        row._ref = row.sample_ref or ()  # computed once; the checks below read it often
        rows.append(row)
        previous = row
    check_carried_order(rows)
    return rows


def _header_again(grid: Grid, index: int, header_index: int, colmap: dict[str, int],
                  lab: Mapping[str, str] | None, notes: list[Issue]) -> bool:
    """Whether grid row `index` is a header again (it names layer_id and the sample as the
    header does): with the header's columns, a warning in `notes` and True (the row is no
    layer); with other columns, InputFileError: the rows below it would be read under the
    wrong columns (a layer_id read as a sample_id). Asked of every row: only a row whose
    layer_id cell is blank or text not starting with a digit (no layer) costs more."""
    cells = grid.cells[index]
    column = colmap["layer_id"]
    cell = cells[column] if column < len(cells) else None
    if not (cell is None or isinstance(cell, str) and not cell.lstrip()[:1].isdigit()):
        return False
    again, _ = header_columns(cells, lab)
    if not is_header(again):
        return False
    number, first = index + 1, header_index + 1
    if again != colmap:
        moved = sorted(set(again) ^ set(colmap)) or [
            f for f in colmap if again.get(f) != colmap[f]]
        name = moved[0]
        there = (f"column {column_letter(again[name])}" if name in again else "no column")
        here = (f"column {column_letter(colmap[name])}" if name in colmap else "no column")
        raise InputFileError(
            f"sheet {grid.name!r} has a second header on row {number} whose columns differ "
            f"from the header on row {first} ({name}: {there} there, {here} on row {first}): "
            "the rows below it would be read under the wrong columns; move that table to a "
            "sheet of its own, or give it the same columns")
    notes.append(Issue(grid.name, number, None, None, "", WARNING,
                       f"row {number} repeats the header of row {first}; it is not a layer "
                       "and is skipped"))
    return True


#: A row's fields showing no usable value, when the sheet has none (most do).
_NO_FIELDS: dict[str, str | None] = {}


def _blank(value: Any) -> bool:
    """is_blank, for the loop over every cell: the common kinds first."""
    if value is None or value == "":
        return True
    if isinstance(value, str):
        return value.isspace()
    if isinstance(value, float):
        return math.isnan(value)
    return False


def _check_row(row: SheetRow, unusable: dict[str, str | None], headers: list[str],
               colmap: dict[str, int], checked_columns: list[tuple[str, str]],
               medium: Medium = "workbook",
               after_blank: tuple[int, int, int] | None = None,
               formulas: dict[str, str | None] | None = None) -> None:
    """Check each field of the row; `unusable`: its fields whose cell shows no usable value
    (field -> the error the cell shows, or None for a formula with no stored result);
    `medium`: where the sheet came from, for the advice on a changed orientation;
    `after_blank`: the blank rows (first, last) that ended the stack above this row's, and
    its stack's first row, when the stack gives no sample of its own; `formulas`: the text
    of its formulas without a result, by field (shown as the issue's value)."""
    raw, checked = row.raw, row.values
    for field_name, column in checked_columns:
        if unusable and field_name in unusable:
            error = unusable[field_name]
            row.add(ERROR, field_name, "this cell holds a formula with no stored result; open the "
                    "file in Excel or LibreOffice, let it calculate and save, or type the value"
                    if error is None else
                    f"this cell shows {error}: its formula failed; correct the formula (or "
                    "type the value) and save", column,
                    error if error is not None or formulas is None else formulas.get(field_name))
            continue
        try:
            outcome = _check_cached(field_name, raw[field_name])
        except TypeError:  # an unhashable value: checked without the cache
            outcome = _check_uncached(field_name, raw[field_name])
        if isinstance(outcome, Mangled):
            # The plan completes this advice with the server's value (`rules.advice`).
            row.issues.append(OrientationIssue(
                row.sheet, row.row, column, row.cells.get(field_name),
                describe(raw[field_name]), ERROR, orientation_advice(outcome, medium),
                mangled=outcome, medium=medium))
            continue
        if isinstance(outcome, str):
            if row.filled_from is not None and field_name in values.SAMPLE_FIELDS:
                outcome = f"{outcome} (taken from row {row.filled_from}, which carries the stack's sample)"
            row.add(ERROR, field_name, outcome, column)
            continue
        checked[field_name] = outcome.value
        for warning in outcome.warnings:
            row.add(WARNING, field_name, warning, column)
    if "layer_id" not in unusable and _blank(raw.get("layer_id")):
        row.add(ERROR, "layer_id", "layer_id is blank; every row needs its position in the stack "
                "(1 = on the substrate)", headers[colmap["layer_id"]])
    if _blank(raw.get("sample_id")) and _blank(raw.get("sample_name")):
        field_name = "sample_id" if "sample_id" in colmap else "sample_name"
        if after_blank is None:
            why = "the row does not say which target material it belongs to"
        else:
            first, last, start = after_blank
            blank_rows = (f"row {first} above is blank: it" if first == last else
                          f"rows {first}-{last} above are blank: they")
            why = (f"{blank_rows} ended the stack, and the sample columns are carried down "
                   f"only within a stack; fill in sample_id (or sample_name) on row {start}, "
                   f"or remove the blank {'row' if first == last else 'rows'} if it is the "
                   "same stack")
        row.add(ERROR, field_name, f"no sample_id or sample_name: {why}",
                headers[colmap[field_name]])
    if checked.get("sample_name") == values.EXAMPLE_SAMPLE_NAME:
        row.add(ERROR, "sample_name", "this is the template's example stack: delete its rows "
                "(or give the target material its real name) before syncing",
                headers[colmap["sample_name"]])
    formula = checked.get("composition_string")
    elements = checked.get("element_dict")
    if formula and elements:
        conflict = values.composition_conflict(formula, elements)
        if conflict:
            row.add(ERROR, "element_dict", conflict, headers[colmap["element_dict"]])


def _check_gaps(rows: list[SheetRow]) -> None:
    by_sample: dict[tuple[Any, ...], list[SheetRow]] = defaultdict(list)
    for row in rows:
        if row.sample_ref is not None and row.values.get("layer_id") is not None:
            by_sample[row.sample_ref].append(row)
    for ref, group in by_sample.items():
        ordered = sorted(group, key=lambda r: r.values["layer_id"])
        for before, after in pairwise(ordered):
            low, high = before.values["layer_id"], after.values["layer_id"]
            if high - low > 1:
                missing = f"layer {low + 1}" if high - low == 2 else f"layers {low + 1}-{high - 1}"
                name = ref[1] if ref[0] == "id" else after.values.get("sample_name")
                after.add(WARNING, "layer_id", f"the layer_ids of sample {name!r} jump from "
                          f"{low} to {high}: {'is' if high - low == 2 else 'are'} {missing} missing?")
