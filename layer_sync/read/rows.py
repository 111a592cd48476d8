"""What the reader makes of a sheet: its data rows (`SheetRow`), each with its cells as read,
its checked values and its problems, and the whole (`SheetData`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.issues import Issue, Severity
from ..core.text import describe
from ..rules import values
from ..rules.cells import name_key
from ..rules.duplicates import duplicate_keys, duplicate_message

if TYPE_CHECKING:
    import pandas as pd


@dataclass(slots=True)  # 50,000 of them in a big sheet: no __dict__ each
class SheetRow:
    """One data row: the cells as read, the checked values, and its problems."""

    sheet: str
    row: int
    stack: int
    raw: dict[str, Any]
    cells: dict[str, str]
    extra: dict[str, Any]
    columns: dict[str, str] = field(default_factory=dict)  # field -> header as written
    values: dict[str, Any] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    filled_from: int | None = None  # the row the sample columns were taken from
    carried: bool = False  # no sample_id or sample_name of its own: the row above's stack
    _ref: tuple[Any, ...] | None = field(default=None, repr=False)  # sample_ref, once checked

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == Severity.ERROR]

    @property
    def valid(self) -> bool:
        return not any(i.severity == Severity.ERROR for i in self.issues)  # asked often: no list built

    @property
    def sample_ref(self) -> tuple[Any, ...] | None:
        """("id", 42) or ("name", "bto on sto", "srtio3"), or None when not usable."""
        if self._ref is not None:
            return self._ref or None
        if self.values.get("sample_id") is not None:
            return ("id", self.values["sample_id"])
        name = self.values.get("sample_name")
        if name:
            substrate = self.values.get("substrate")
            return ("name", name_key(name), name_key(substrate) or None)
        return None

    def add(self, severity: Severity, field_name: str | None, message: str,
            column: str | None = None, value: Any = None) -> Issue:
        cell = self.cells.get(field_name) if field_name else None
        column = column or (self.columns.get(field_name) if field_name else None)
        issue = Issue(self.sheet, self.row, column, cell,
                      describe(self.raw.get(field_name) if value is None and field_name else value),
                      severity, message)
        self.issues.append(issue)
        return issue



@dataclass
class SheetData:
    """What `read_stacks` returns."""

    path: Path
    sheet: str                          # the sheets read, for display: "Layers, Old"
    header_row: int
    columns: dict[str, str]             # field -> header as written
    headers: list[str]                  # every header, in sheet order
    ignored_columns: list[str]
    rows: list[SheetRow]
    file_issues: list[Issue]            # about the file, not one row (encoding, headers)
    encoding: str | None = None
    delimiter: str | None = None
    sheets: list[str] = field(default_factory=list)  # every sheet read, in order
    near_misses: list[tuple[str, str]] = field(default_factory=list)  # (unused header, field it resembles)

    @property
    def issues(self) -> list[Issue]:
        """Every problem: the file's, then each row's, in sheet order."""
        return self.file_issues + [issue for row in self.rows for issue in row.issues]

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == Severity.ERROR]

    def to_frame(self) -> Any:
        """The rows as a pandas DataFrame (see `frames.stacks_frame`); needs pandas."""

        return stacks_frame(self)


def row_issue(row: SheetRow, severity: Severity, field_name: str | None, message: str) -> Issue:
    """An issue located at a row's cell for `field_name` (the row itself is not changed)."""
    return Issue(row.sheet, row.row, row.columns.get(field_name) if field_name else None,
                 row.cells.get(field_name) if field_name else None,
                 describe(row.raw.get(field_name)) if field_name else "", severity, message)


#: Columns of `stacks_frame` that hold whole numbers: pandas' nullable Int64 (blank is <NA>).
_INTEGER_FIELDS = ("sample_id", "layer_id")



#: The columns `SheetData.to_frame()` puts before the fields: its own, not the lab's.
FRAME_COLUMNS = ("sheet", "row", "valid")


def stacks_frame(data: SheetData) -> pd.DataFrame:
    """One row per data row: `sheet`, `row` (the sheet's row number, or the frame's label),
    `valid` (no error, as `layer-sync check` says: a layer named by two rows makes both
    invalid), then the canonical fields in `values.ALL_FIELDS` order.

    The fields hold the values as the tool reads them, checked and normalised, as they would
    be compared and sent: `orientation` is text (`001` stays `001`, `(001)` becomes `001`),
    `element_dict` a dict, `space_group` a symbol. A blank cell, or one whose value is an
    error (see `data.issues`), is None; `sample_id` and `layer_id` are nullable integers
    (Int64: blank is <NA>); `pd.isna` is true for both kinds of blank.
    """
    import pandas as pd  # only for notebook users: the command line never imports pandas

    rows = data.rows
    duplicated = {(i.sheet, i.row) for i in sheet_duplicates(rows)}
    sheet, row, valid = FRAME_COLUMNS
    table: dict[str, Any] = {
        sheet: pd.Series([r.sheet for r in rows], dtype=object),
        row: pd.Series([r.row for r in rows], dtype="int64"),
        valid: pd.Series([r.valid and (r.sheet, r.row) not in duplicated for r in rows],
                           dtype=bool),
    }
    for name in values.ALL_FIELDS:
        cells = [r.values.get(name) for r in rows]
        table[name] = pd.Series(cells, dtype="Int64" if name in _INTEGER_FIELDS else object)
    return pd.DataFrame(table)


def sheet_duplicates(rows: Sequence[SheetRow]) -> list[Issue]:
    """The duplicate-key rule on the sheet alone (`layer-sync check`: no server), in row order.

    Rows are keyed by the sample as the sheet names it (sample_id, or sample_name with
    substrate) and layer_id. `build_plan` applies the same rule to the keys resolved against
    the server, which also catches one layer named once by id and once by name.
    """
    def key(row: SheetRow) -> tuple[tuple[Any, ...], int] | None:
        ref, layer_id = row.sample_ref, row.values.get("layer_id")
        return None if ref is None or layer_id is None else (ref, layer_id)

    issues: dict[int, Issue] = {}
    for (ref, layer_id), group in duplicate_keys(rows, key).items():
        sample = ref[1] if ref[0] == "id" else repr(group[0].values["sample_name"])
        what = f"layer {layer_id} of sample {sample}"
        message = duplicate_message(what, group)
        for row in group:
            issues[id(row)] = row_issue(row, Severity.ERROR, "layer_id", message)
    return [issues[id(row)] for row in rows if id(row) in issues]



def sheet_issues(data: SheetData) -> list[Issue]:
    """Every problem the sheet alone shows, in sheet order: what `layer-sync check` reports
    (the reader's issues and the duplicate-key rule; no server needed)."""
    order: dict[tuple[str, int | None], int] = {(row.sheet, row.row): i
                                                for i, row in enumerate(data.rows)}
    return sorted([*data.issues, *sheet_duplicates(data.rows)],
                  key=lambda i: order.get((i.sheet, i.row), -1))
