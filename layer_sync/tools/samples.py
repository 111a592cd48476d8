"""The demo's data: a realistic lab workbook, the same stacks as CSV, and the sandbox seed.

Made from code so that `layer-sync demo` works from an installed package; the files in
`sample_data/` are these, written by `python -m layer_sync.samples sample_data` (a test checks
that they match). Chosen so that one demo run shows every outcome: creates, updates,
unchanged rows, an invalid row and a remote-only layer.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SEED: list[dict[str, Any]] = [
    # BTO/STO superlattice: layer 1 is as in the sheet, layer 2's orientation differs.
    {"id": 1001, "sample_id": 101, "sample_name": "BTO/STO superlattice", "substrate": "SrTiO3",
     "layer_id": 1, "composition_string": "SrTiO3", "element_dict": {"Sr": 1, "Ti": 1, "O": 3},
     "orientation": "001", "space_group": "Pm-3m", "mp_id": "mp-5229"},
    {"id": 1002, "sample_id": 101, "sample_name": "BTO/STO superlattice", "substrate": "SrTiO3",
     "layer_id": 2, "composition_string": "BaTiO3", "element_dict": {"Ba": 1, "Ti": 1, "O": 3},
     "orientation": "111", "space_group": "P4mm", "mp_id": "mp-5020"},
    # LSMO on LAO: layer 3 is on the server only (remote-only: reported, never deleted).
    {"id": 1003, "sample_id": 102, "sample_name": "LSMO on LAO", "substrate": "LaAlO3",
     "layer_id": 1, "composition_string": "La0.7Sr0.3MnO3",
     "element_dict": {"La": 0.7, "Sr": 0.3, "Mn": 1, "O": 3}, "orientation": "001",
     "space_group": "R-3c", "mp_id": None},
    {"id": 1004, "sample_id": 102, "sample_name": "LSMO on LAO", "substrate": "LaAlO3",
     "layer_id": 2, "composition_string": "SrTiO3", "element_dict": {"Sr": 1, "Ti": 1, "O": 3},
     "orientation": "001", "space_group": "Pm-3m", "mp_id": "mp-5229"},
    {"id": 1005, "sample_id": 102, "sample_name": "LSMO on LAO", "substrate": "LaAlO3",
     "layer_id": 3, "composition_string": "LaAlO3", "element_dict": {"La": 1, "Al": 1, "O": 3},
     "orientation": "001", "space_group": "R-3c", "mp_id": "mp-2920"},
    # GaN on sapphire: a target material with no layers yet.
    {"id": None, "sample_id": 103, "sample_name": "GaN on sapphire", "substrate": "Al2O3",
     "layer_id": None, "composition_string": None, "element_dict": None, "orientation": None,
     "space_group": None, "mp_id": None},
]

TITLE = "Thin-film growth lab: target layer stacks"
SUBTITLE = "Edit on the shared drive; synced to Atomscale every night by layer-sync"
HEADER = ["Sample ID", "Sample", "Substrate", "Layer #", "Chemical Formula", "Miller Index",
          "SG", "MP ID", "Grower", "Notes"]
#: (sample_id, name, substrate, layer, formula, orientation, space group, mp_id, grower, notes)
Layer = tuple[int | None, str | None, str | None, int, str, str | int, str | None, str | None,
              str, str]
STACKS: list[list[Layer]] = [
    [(101, "BTO/STO superlattice", "SrTiO3", 1, "SrTiO3", "001", "Pm-3m", "mp-5229", "AK", "buffer"),
     (None, None, None, 2, "BaTiO3", "001", "P4mm", "mp-5020", "AK", "orientation corrected"),
     (None, None, None, 3, "SrTiO3", "(001)", None, None, "AK", "new cap layer")],
    [(102, "LSMO on LAO", "LaAlO3", 1, "La0.7Sr0.3MnO3", "001", "R-3c", None, "JM", ""),
     (None, None, None, 2, "SrTiO3", 1, None, None, "JM", "orientation typed into a number cell")],
    [(103, "GaN on sapphire", "Al2O3", 1, "GaN", "0001", "P6_3mc", "mp-804", "RS", "new stack"),
     (None, None, None, 2, "Al0.3Ga0.7N", "0001", None, None, "RS", "")],
]
#: Where the stacks start in the workbook (after the title rows and the header).
FIRST_ROW = 5


def write_seed(path: Path) -> Path:
    path.write_text(json.dumps(SEED, indent=2) + "\n", encoding="utf-8")
    return path


def write_workbook(path: Path) -> Path:
    """The lab's own workbook: title rows, its own header names, merged sample cells, blank
    rows between stacks, extra columns, and one orientation typed into an ordinary cell."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    book = Workbook()
    ws = book.active
    ws.title = "Stacks"
    ws["A1"] = TITLE
    ws["A1"].font = Font(bold=True, size=14)
    ws["A2"] = SUBTITLE
    ws["A2"].font = Font(italic=True)
    ws.append([])
    ws.append(HEADER)
    for cell in ws[4]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="FCE4D6")
    row = FIRST_ROW
    for stack in STACKS:
        first = row
        for layer in stack:
            for col, value in enumerate(layer, start=1):
                if value is None:
                    continue
                cell = ws.cell(row=row, column=col, value=value)
                if col in (6, 7, 8) and isinstance(value, str):
                    cell.number_format = "@"  # the lab formats these columns as text...
                    cell.data_type = "s"
            row += 1
        for col in (1, 2, 3):  # merged sample cells down the stack
            ws.merge_cells(start_row=first, start_column=col, end_row=row - 1, end_column=col)
            ws.cell(first, col).alignment = Alignment(vertical="center")
        row += 1  # a blank row between stacks
    for letter, width in zip("ABCDEFGHIJ", (10, 24, 11, 8, 18, 13, 8, 10, 8, 34)):
        ws.column_dimensions[letter].width = width
    book.save(path)
    return path


def write_csv(path: Path) -> Path:
    """The same stacks as a plain CSV (every row carries its sample columns)."""
    import csv

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(HEADER)
        for stack in STACKS:
            sample = stack[0][:3]
            for layer in stack:
                values = list(sample) + list(layer[3:])
                writer.writerow(["" if v is None else v for v in values])
            writer.writerow([])
    return path


def write_all(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [write_workbook(folder / "lab_stacks.xlsx"), write_csv(folder / "lab_stacks.csv"),
            write_seed(folder / "sandbox_seed.json")]


if __name__ == "__main__":
    for written in write_all(Path(sys.argv[1] if len(sys.argv) > 1 else "sample_data")):
        print(written)
