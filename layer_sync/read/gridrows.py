"""A grid becomes rows: the rows below the header, each with its cells' names; merged cells
and the sample columns left blank within a stack filled down; blank rows ending a stack; a
header repeated below the first (two tables pasted one under the other) skipped, or refused
when its columns differ. Each row is checked as it is made (`checks`), and the order of the
rows that carry their sample down (`order`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ..core.errors import InputFileError
from ..core.issues import Issue, Severity
from ..rules import values
from ..rules.advice import Medium
from ..rules.cells import MAX_CELL_CHARS, is_blank
from .checks import blank as _blank
from .checks import check_gaps, check_row
from .files import Grid, column_letter
from .headers import Header, header_columns, is_header
from .order import check_carried_order
from .rows import SheetRow

WARNING = Severity.WARNING


def rows_from_grid(grid: Grid, header: Header, *, numbers: Sequence[int] | None = None,
                   cell_refs: Callable[[int], dict[str, str]] | None = None,
                   medium: Medium = "frame") -> list[SheetRow]:
    """The checked rows of one grid below its `header` (from `find_header`), with the gap
    warnings: what `read_stacks` makes of one sheet, for a grid built elsewhere (a DataFrame).

    `numbers[i]`: the row number that grid row `i` is known by (default `i + 1`, as a
    spreadsheet counts); `cell_refs(i)`: its cells' names by field (default `F12`-style);
    `medium`: where the grid came from, for the advice on a changed orientation.
    """
    rows = grid_rows(grid, header, numbers, cell_refs, medium=medium)
    check_gaps(rows)
    return rows


def grid_rows(grid: Grid, header: Header, numbers: Sequence[int] | None = None,
              cell_refs: Callable[[int], dict[str, str]] | None = None,
              tick: Callable[[int, int], None] | None = None, medium: Medium = "workbook",
              lab: Mapping[str, str] | None = None,
              notes: list[Issue] | None = None) -> list[SheetRow]:
    """The checked rows below the `header` (no gap warnings: those are said across every
    sheet read). `numbers`, `cell_refs`, `medium`: as for `rows_from_grid`; `tick(done,
    total)` is called every 1,000 rows (for the progress and the read's bounds). With `notes`
    (the file's issues), a row that repeats the header (two tables pasted one under the
    other) is skipped with a warning there, and one whose columns differ from the header's
    is refused (`_header_again`); `lab`: the lab's own header names, to recognise it."""
    header_index, colmap, headers = header.index, header.colmap, header.headers
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
        if (index - header_index) % 1000 == 0 and tick is not None:
            tick(index - header_index, total)
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
        check_row(row, unusable, headers, colmap, checked_columns, medium, after_blank,
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
