"""CSV, TSV and TXT files into a grid: the encoding decided, the delimiter sniffed.

The whole file is read (it is bounded: see `inputfile.MAX_TEXT_BYTES`), decoded as UTF-8 (with
or without a byte-order mark), else as Windows-1252 with a warning, and split by the stdlib
`csv` module with the delimiter its sniffer finds.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..core.errors import InputFileError
from ..core.issues import Issue, Severity
from .files import MAX_SHEET_CELLS, MAX_TEXT_BYTES, OLE_MAGIC, Grid, read_bytes

#: The characters a spreadsheet program would run as a formula at the start of a cell. A CSV
#: export guards such a cell with a leading apostrophe (the usual defence against formula
#: injection); reading it back removes the apostrophe, so an export syncs back unchanged.
GUARDED_STARTS = ("=", "+", "-", "@", "\t", "\r")


def load_text(path: Path, suffix: str, issues: list[Issue]) -> tuple[Grid, str, str]:
    """The file as one grid named after the file; its encoding and delimiter.

    Appends a file-level warning to `issues` when the text is not UTF-8.
    """
    data = read_bytes(path, MAX_TEXT_BYTES, "a text file")
    if data.startswith(b"PK") or data.startswith(OLE_MAGIC):
        raise InputFileError(f"{path.name} is a workbook saved with a {suffix} name; "
                             "rename it to .xlsx (or .xls) and run again")
    if b"\x00" in data[:4096]:
        raise InputFileError(f"{path.name} is not a text file (UTF-16 or binary); save it as "
                             "'CSV UTF-8' and run again")
    try:
        text = data.decode("utf-8-sig")
        encoding = "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
        encoding = "cp1252"
        issues.append(Issue(path.name, None, None, None, "", Severity.WARNING,
                            "the file is not UTF-8; it was read as Windows-1252 (cp1252). "
                            "Check names with accents, or save as 'CSV UTF-8'"))
    del data
    if not text.strip():
        raise InputFileError(f"{path.name} is empty")
    delimiter = sniff_delimiter(text, suffix)
    rows = _split(path, text, delimiter)
    if "'" in text:
        rows = [[unguard(cell) for cell in row] for row in rows]
    return Grid(path.name, rows), encoding, delimiter


def unguard(cell: str) -> str:
    """`'=1+2` -> `=1+2`, `'-110` -> `-110`: the apostrophe a CSV export puts before a cell a
    spreadsheet would run as a formula, also when the value itself starts with apostrophes
    (`''=x` -> `'=x`: an exported `'=x` reads back as it was). Any other apostrophe is the
    technician's and stays (`'plain`, `''plain`)."""
    if cell[:1] == "'" and cell.lstrip("'")[:1] in GUARDED_STARTS:
        return cell[1:]
    return cell


def _split(path: Path, text: str, delimiter: str) -> list[list[str]]:
    """The csv module's rows, bounded in cells (rows x the widest row so far)."""
    rows: list[list[str]] = []
    width = 0
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for row in reader:
            rows.append(row)
            width = max(width, len(row))
            if len(rows) * width > MAX_SHEET_CELLS:
                raise InputFileError(
                    f"{path.name} has more cells than layer-sync reads ({len(rows):,} rows x "
                    f"{width:,} columns, over {MAX_SHEET_CELLS:,}); check it is the right file, "
                    "or split it")
    except csv.Error as exc:
        # The csv module refuses a field past its limit (128 KiB): no spreadsheet cell holds
        # that much (32,767 characters), so the file is not a sheet a program wrote.
        raise InputFileError(f"{path.name} cannot be read as CSV at line {reader.line_num} "
                             f"({exc}); a spreadsheet cell holds at most 32,767 characters: "
                             "check the quotes on that line") from None
    return rows


def sniff_delimiter(text: str, suffix: str) -> str:
    """Comma, semicolon or tab: the stdlib sniffer on the lines that have any, then counts."""
    lines = [line for line in text[:65536].splitlines()[:60] if line.strip()]
    sample = "\n".join(line for line in lines if any(d in line for d in ",;\t"))
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        pass
    if suffix == ".tsv":
        return "\t"
    counts = {d: sum(line.count(d) for line in lines) for d in ("\t", ";", ",")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","
