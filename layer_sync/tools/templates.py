"""Input templates: a blank workbook (or CSV) a new lab starts from, and sheet writing shared
with `export`: canonical headers, text-like columns formatted as text, values never formulas.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from ..read.delimited import GUARDED_STARTS
from ..report.paths import check_output
from ..report.writer import write_atomically
from ..rules.cells import ValueProblem
from ..rules.crystal import parse_orientation
from ..rules.values import ALL_FIELDS, EXAMPLE_SAMPLE_NAME

#: Columns whose cells must stay text: typed into ordinary cells, 001 becomes 1.
TEXT_COLUMNS = ("orientation", "space_group", "mp_id", "composition_string", "element_dict",
                "sample_name", "substrate")
TEXT_FORMAT = "@"
WIDTHS = {"sample_id": 11, "sample_name": 26, "substrate": 14, "layer_id": 10,
          "composition_string": 22, "element_dict": 24, "orientation": 13, "space_group": 13,
          "mp_id": 12}

EXAMPLE_STACK: list[dict[str, Any]] = [
    {"sample_name": EXAMPLE_SAMPLE_NAME, "substrate": "SrTiO3", "layer_id": 1,
     "composition_string": "SrTiO3", "orientation": "001", "space_group": "Pm-3m", "mp_id": "mp-5229"},
    {"layer_id": 2, "composition_string": "BaTiO3", "orientation": "001", "space_group": "P4mm",
     "mp_id": "mp-5020"},
    {"layer_id": 3, "composition_string": "SrRuO3", "orientation": "001"},
]

INSTRUCTIONS: list[tuple[str, str, str]] = [
    ("sample_id", "The target material's id on Atomscale (a whole number).",
     ("To add to or change a stack already on the server, give its sample_id. For a new "
      "stack, leave it blank and give a new sample_name and substrate.")),
    ("sample_name", "The target material's name, e.g. BTO on STO.",
     ("When sample_id is blank, the stack is looked up by this name (and substrate). A name "
      "the server already has is matched to that target material and its layers are compared "
      "with the sheet's (the dry run names each match). A name it does not have is a new "
      "stack: created only when you run with --create-samples, refused without it.")),
    ("substrate", "The substrate, e.g. SrTiO3.",
     "Tells apart two target materials of the same name."),
    ("layer_id", "Position of the layer in the stack: 1 sits on the substrate.",
     "Required. A whole number, 1 or more. Each layer appears once per target material."),
    ("composition_string", "Chemical formula: BaTiO3, (Ba0.5Sr0.5)TiO3, La0.7Sr0.3MnO3.",
     "Real element symbols with a capital first letter. Compared by meaning: Ba1Ti1O3 = BaTiO3."),
    ("element_dict", 'Elements and amounts: Ba:1, Ti:1, O:3 or {"Ba": 1, "Ti": 1, "O": 3}.',
     "Usually left blank: the server derives it from the formula."),
    ("orientation", "Miller indices: 001, 111, 1-10, 0001; (001), [001], 0 0 1 also work.",
     ("This column is formatted as text so that 001 stays 001. Typed into an ordinary cell, "
      "001 becomes 1, (001) becomes -1 and 1-10 becomes a date; layer-sync refuses those "
      "cells. Keep the file as .xlsx: saved as CSV, the text format is lost.")),
    ("space_group", "Hermann-Mauguin symbol (P4mm, Fm-3m, P2_1/c) or number 1-230.",
     "Compared by group: P4mm = P 4 m m = 99. Usually left blank: the server fills it in."),
    ("mp_id", "Materials Project id: mp-5020.", "Usually left blank: the server fills it in."),
]

RULES = [
    ("The example stack (Example: BTO on STO) shows how rows look; layer-sync refuses it: "
     "write your own stacks over it or delete its rows."),
    "One row per layer. Rows of one stack follow each other; a blank row ends a stack.",
    ("In a stack, only the first row needs sample_id / sample_name / substrate: the rows below "
     "take them from it (merged cells work too)."),
    ("Do not sort or filter the sheet: a row without a sample takes it from the row above, so "
     "a sorted row lands in another stack. A stack whose layer numbers repeat or turn back "
     "(a sign of a sort) is refused as a whole."),
    ("A stack already on the server: give its sample_id. A new stack: leave sample_id blank, "
     "give a new sample_name and its substrate, and sync with --create-samples, which creates "
     "the target material with its layers. Without --create-samples its rows are refused (so "
     "a misspelt name never becomes a new target material by itself). A name the server "
     "already has is not new: the rows go into that stack, and the dry run names each match."),
    ("A blank cell leaves the server's value alone: it is neither sent nor compared. To manage "
     "a field, fill it in; to stop managing it, clear the cell."),
    "Title rows above the header and extra columns of your own are fine: they are ignored.",
    ("Then, in a terminal, with this file's name for my_stacks.xlsx: (1) layer-sync check "
     "my_stacks.xlsx: every problem with its cell, no key needed (with your API key in "
     "ATOMSCALE_API_KEY it also says which stacks are not on the server yet). (2) layer-sync "
     "sync my_stacks.xlsx --dry-run --create-samples: what would be created and changed, and "
     "which stacks were matched by name; nothing is written. (3) layer-sync sync "
     "my_stacks.xlsx --create-samples. Both need the key in ATOMSCALE_API_KEY. The report "
     "workbook says what happened to every row."),
    ("Nothing is ever deleted on the server: layers missing from the sheet are listed in the "
     "report's 'Not in sheet'."),
]

#: The first line of a CSV that `template` or `export` writes, a title row the reader skips:
#: a CSV keeps no cell formats, and the spreadsheet program that opens it says nothing of
#: what it does to Miller indices. No comma, semicolon or tab in it: it stays one cell, and
#: the delimiter is sniffed from the lines that have them.
CSV_NOTE_LINE = (
    "layer-sync sheet. Keep the orientation column as text: Excel and LibreOffice turn 001 "
    "into 1 and 1-10 into a date each time they open and save a CSV (even a column "
    "formatted as text). Edit it as .xlsx ({command} my_stacks.xlsx writes one) or open "
    "this CSV with the orientation column imported as Text. layer-sync skips this line.")


def check_target(path: str | os.PathLike[str], force: bool = False) -> str:
    """Refuse (ConfigError) a file name `template` / `export` must not write: not .xlsx or
    .csv, an existing file without `force`, or (even with `force`) anything that is not a
    regular file: a device, a FIFO, a folder. Returns the suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise ConfigError(f"{path.name}: choose a .xlsx or .csv file name")
    check_output(path, "the file", exists_ok=force)
    if not path.parent.is_dir():
        raise ConfigError(f"the folder {path.parent} does not exist")
    return suffix


def write_template(path: str | os.PathLike[str], force: bool = False) -> Path:
    """Write the blank input template (.xlsx with instructions, or .csv) with one example stack."""
    path = Path(path)
    suffix = check_target(path, force)
    if suffix == ".csv":
        _write_csv(path, EXAMPLE_STACK, CSV_NOTE_LINE.format(command="layer-sync template"))
    else:
        _write_xlsx(path, EXAMPLE_STACK, instructions=True, validation_rows=1000)
    return path


def write_rows(path: Path, rows: Sequence[dict[str, Any]], force: bool = False) -> Path:
    """Write layer rows in the input format (by extension); used by `export`."""
    suffix = check_target(path, force)
    if suffix == ".csv":
        _write_csv(path, rows, CSV_NOTE_LINE.format(command="layer-sync export"))
    else:
        _write_xlsx(path, rows, instructions=False, validation_rows=max(1000, len(rows) + 100))
    return path


def cell_text(value: Any) -> Any:
    """A value as a sheet cell holds it: an object or a list (an element_dict) as JSON text."""
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return value


#: A spreadsheet program opening a CSV runs a cell starting with one of these as a formula:
#: the reader's set, so that what the export guards is what the reader unguards.
FORMULA_STARTS = GUARDED_STARTS
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def csv_safe(value: Any) -> Any:
    """A CSV cell that a spreadsheet program will show, never run: text starting with
    = + - @ tab or CR gets the usual leading apostrophe (`'=HYPERLINK(…)`), except plain
    numbers (`-1.5`) and Miller indices (`-110`), which a spreadsheet cannot run and
    layer-sync reads as they are. The reader removes the apostrophe again; so a value whose
    apostrophes come before such a start (`'=x`) gets one more, and reads back as it was."""
    if isinstance(value, str) and value[:1] == "'" and value.lstrip("'")[:1] in FORMULA_STARTS:
        return "'" + value
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    if _PLAIN_NUMBER.fullmatch(value):
        return value
    try:
        parse_orientation(value)
        return value
    except ValueProblem:
        return "'" + value


def _atomic(path: Path, write: Any) -> None:
    try:
        write_atomically(path, write)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None


def _write_csv(path: Path, rows: Iterable[dict[str, Any]], note: str) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([note])  # a title row: the reader looks for the header below it
    writer.writerow(ALL_FIELDS)
    for row in rows:
        writer.writerow(["" if row.get(f) is None else csv_safe(cell_text(row.get(f)))
                         for f in ALL_FIELDS])
    # UTF-8 with a BOM: Excel then opens accents correctly; layer-sync reads it either way.
    _atomic(path, lambda handle: handle.write(buffer.getvalue().encode("utf-8-sig")))


def _write_xlsx(path: Path, rows: Sequence[dict[str, Any]], instructions: bool,
                validation_rows: int) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    book = Workbook()
    ws = book.active
    ws.title = "Layers"
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    ws.append(list(ALL_FIELDS))
    for cell in ws[1]:
        cell.font = bold
        cell.fill = fill
    ws.freeze_panes = "A2"
    letters = {f: get_column_letter(i) for i, f in enumerate(ALL_FIELDS, start=1)}
    for f, letter in letters.items():
        ws.column_dimensions[letter].width = WIDTHS[f]
        if f in TEXT_COLUMNS:
            ws.column_dimensions[letter].number_format = TEXT_FORMAT  # new cells stay text
    for index, row in enumerate(rows, start=2):
        for f in ALL_FIELDS:
            value = cell_text(row.get(f))
            if value is None:
                continue
            cell = ws[f"{letters[f]}{index}"]
            cell.value = value
            if f in TEXT_COLUMNS:
                cell.number_format = TEXT_FORMAT
                cell.data_type = "s"  # a value starting with "=" is text, never a formula
    last = max(validation_rows, len(rows) + 1)
    for f in TEXT_COLUMNS:  # typed-in cells of these columns are text in Excel and LibreOffice
        for r in range(len(rows) + 2, last + 1):
            ws[f"{letters[f]}{r}"].number_format = TEXT_FORMAT
    whole = DataValidation(type="whole", operator="greaterThanOrEqual", formula1="1",
                           allow_blank=True, showErrorMessage=True, errorTitle="layer_id",
                           error="layer_id is the layer's position: a whole number, 1 or more.")
    whole.add(f"{letters['layer_id']}2:{letters['layer_id']}{last}")
    ids = DataValidation(type="whole", operator="greaterThanOrEqual", formula1="1",
                         allow_blank=True, showErrorMessage=True, errorTitle="sample_id",
                         error="sample_id is a whole number; leave it blank to use sample_name.")
    ids.add(f"{letters['sample_id']}2:{letters['sample_id']}{last}")
    ws.add_data_validation(whole)
    ws.add_data_validation(ids)
    if instructions:
        info = book.create_sheet("Instructions")
        info.column_dimensions["A"].width = 20
        info.column_dimensions["B"].width = 60
        info.column_dimensions["C"].width = 80
        info.append(["layer-sync input template"])
        info["A1"].font = Font(bold=True, size=14)
        info.append([])
        for rule in RULES:
            info.append(["", rule])
            info.cell(info.max_row, 2).alignment = Alignment(wrap_text=True, vertical="top")
        info.append([])
        info.append(["Column", "What it holds", "Notes"])
        for cell in info[info.max_row]:
            cell.font = bold
            cell.fill = fill
        for name, what, notes in INSTRUCTIONS:
            info.append([name, what, notes])
            for cell in info[info.max_row]:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    # Made in memory, then written: a write that fails (a full disk) then fails once, cleanly,
    # instead of leaving openpyxl's half-written archive to complain when it is collected.
    made = io.BytesIO()
    book.save(made)
    _atomic(path, lambda handle: handle.write(made.getvalue()))
