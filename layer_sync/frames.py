"""pandas, for the people who build stacks in notebooks: DataFrames in, DataFrames out.

- `read_frame(df)`: a DataFrame becomes exactly what `read_stacks` makes of a sheet. The frame
  is turned into a grid (its column names as the header row, one grid row per frame row) and
  read by the sheet reader's own code (`headers.find_header`, `gridrows.rows_from_grid`), so every
  rule of a file applies: a float `1.0` layer id is 1, a float `1.0` orientation is the
  mangled-Miller error, blank sample columns fill down within a stack, an all-blank row ends a
  stack. NaN, None, pd.NA and NaT are blank cells.
- `sync_frame(df, …)`: `read_frame`, then `sync.sync_stacks`: the same plan, writes, report and
  exit code as `sync_file`.
- The other way, `read_stacks(path).to_frame()` and `outcome.to_frame()` (`read.rows`,
  `outcome.table`); a frame from `to_frame()` comes back through `read_frame` as it was
  (its own `sheet`, `row` and `valid` columns are not read as the lab's).

pandas is imported inside these functions only (a comment says so at each): the command line
never pays for it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from .core.errors import InputFileError, OptionError
from .core.options import SyncChanges, SyncOptions
from .core.runtime import Runtime
from .core.secrets import ApiKey
from .outcome.results import SyncOutcome
from .read.files import Grid
from .read.gridrows import rows_from_grid
from .read.headers import find_header, lab_names
from .read.rows import FRAME_COLUMNS, SheetData
from .run.sync import sync_stacks

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["read_frame", "sync_frame"]


def read_frame(df: pd.DataFrame, *, columns: Mapping[str, str] | None = None,
               name: str = "DataFrame") -> SheetData:
    """Read a DataFrame of layer stacks as `read_stacks` reads a sheet, with the same checks.

    Column names are matched like a sheet's header (canonical names, the usual aliases, and
    `columns`, a mapping of your own names to fields, `{"Film": "composition_string"}`).
    Each problem points at the frame: its `sheet` is `name`, its `row` the index label, its
    `column` the column name and its `cell` the subscript, so `issue.location` reads
    `DataFrame[3, 'orientation']`. `row` is the index label when the index is unique and of
    whole numbers (the default RangeIndex is); otherwise it is the position (0-based, as
    `df.iloc` counts), and the cell still shows the label.

    A frame made by `SheetData.to_frame()` holds `sheet`, `row` and `valid` columns of its
    own beside the fields: they are left out, so such a frame reads back as it was.

    Raises InputFileError (exit code 2) when no column names layer_id and sample_id or
    sample_name, or two columns name one field; OptionError for a `df` that is not a
    DataFrame.
    """
    import pandas as pd  # only for notebook users: the command line never imports pandas

    if not isinstance(df, pd.DataFrame):
        raise OptionError("df", f"must be a pandas DataFrame, not {type(df).__name__}")
    if set(FRAME_COLUMNS) <= set(df.columns):
        df = df.drop(columns=list(FRAME_COLUMNS))
    names = lab_names(columns)
    labels = [_cell(c) for c in df.columns.tolist()]
    grid = Grid(name, [list(labels)])
    path = Path(name)
    header = find_header(grid, path, names)  # on the header row alone: data is never a header
    if header is None:
        raise InputFileError(
            f"{name} has no column naming layer_id and sample_id or sample_name (its columns: "
            f"{', '.join(map(repr, labels[:20])) or 'none'}); name them as the template does, "
            "or map your own names with columns={'Your name': 'layer_id', …}")
    index = [_cell(label) for label in df.index.tolist()]
    whole = df.index.is_unique and all(type(label) is int for label in index)
    numbers = [0, *(index if whole else range(len(index)))]  # grid row 0 is the header
    grid.cells.extend([_cell(v) for v in row] for row in df.itertuples(index=False, name=None))
    fields = list(header.colmap.items())

    def cell_refs(grid_row: int) -> dict[str, str]:
        label = index[grid_row - 1]
        return {f: f"[{label!r}, {labels[c]!r}]" for f, c in fields}

    rows = rows_from_grid(grid, header, numbers=numbers, cell_refs=cell_refs)
    for issue in header.issues:  # about a column, not a row: no spreadsheet cell to name
        issue.row, issue.cell = None, None
    return SheetData(path=path, sheet=name, header_row=0,
                     columns={f: header.headers[c] for f, c in fields}, headers=header.headers,
                     ignored_columns=header.ignored, rows=rows, file_issues=list(header.issues),
                     sheets=[name], near_misses=header.near_misses)


def _cell(value: Any) -> Any:
    """A frame's value as a sheet reader would give it: plain Python, blank as None."""
    import numpy as np  # only for notebook users: the command line never imports pandas
    import pandas as pd

    if isinstance(value, np.generic):
        value = value.item()  # np.int64(1) -> 1, np.float64(1.0) -> 1.0 (a float, as in a sheet)
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()  # a date in orientation is the mangled-Miller error
    return value


def sync_frame(df: pd.DataFrame, *, api_key: str | ApiKey | None = None,
               name: str = "DataFrame", options: SyncOptions | None = None,
               runtime: Runtime | None = None, **changes: Unpack[SyncChanges]) -> SyncOutcome:
    """Sync a DataFrame of layer stacks with the server, by exactly the rules of a sheet.

    `read_frame(df, columns=…, name=name)` then the same plan, writes, report and exit code
    as `sync_file`, with the same options (`dry_run=True`, `report="run.xlsx"`, …; `sheet`
    and `all_sheets` do not apply to a frame). Without `options`, no report is written unless
    `report` asks for one (True: a name of its own in `reports/`).

    Raises InputFileError for a frame with no usable columns, an OptionError for bad options;
    everything after that ends in the SyncOutcome, whose `exit_code` says how it went.
    """
    if options is None:
        changes = {"report": False, **changes}
    options = SyncOptions.build(options, changes)
    for option in ("sheet", "all_sheets"):
        if getattr(options, option):
            raise OptionError(option, "does not apply to a DataFrame (it has no sheets)")
    data = read_frame(df, columns=options.columns, name=name)
    return sync_stacks(data, api_key=api_key, options=options, runtime=runtime)
