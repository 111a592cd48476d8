"""CSV, TSV and TXT files into a grid: the encoding decided, the delimiter sniffed.

The whole file is read once (`source`, bounded by `files.MAX_TEXT_BYTES`), decoded in one
encoding throughout (`textcodec`: UTF-8 with or without a byte-order mark, UTF-16 or UTF-32
with one, else Windows-1252 with a warning), and split by the stdlib `csv` module with the
delimiter its sniffer finds, line by line, bounded in rows and cells as it goes.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator

from ..core.errors import InputFileError
from ..core.issues import Issue, Severity
from .files import MAX_SHEET_CELLS, MAX_SHEET_ROWS, Grid
from .guard import ReadGuard
from .kinds import looks_like_zip
from .ole import OLE_MAGIC
from .source import Source
from .textcodec import decode

#: The characters a spreadsheet program would run as a formula at the start of a cell. A CSV
#: export guards such a cell with a leading apostrophe (the usual defence against formula
#: injection); reading it back removes the apostrophe, so an export syncs back unchanged.
GUARDED_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: A line as the csv module reads a file opened with newline="": CRLF, CR or LF ends it.
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def load_text(source: Source, suffix: str, issues: list[Issue],
              guard: ReadGuard | None = None) -> tuple[Grid, str, str]:
    """The file as one grid named after the file; its encoding and delimiter.

    Appends a file-level warning to `issues` when the text is not UTF-8. The bytes are
    released once decoded (`source.take()`), so the file is never held twice over.
    """
    path = source.path
    data = source.take()
    if looks_like_zip(data) or data.startswith(OLE_MAGIC):
        raise InputFileError(f"{path.name} is a workbook saved with a {suffix} name; "
                             "rename it to .xlsx (or .xls) and run again")
    text, encoding, warning = decode(data, path.name)
    del data
    if warning:
        issues.append(Issue(path.name, None, None, None, "", Severity.WARNING, warning))
    if not text.strip():
        raise InputFileError(f"{path.name} is empty")
    delimiter = sniff_delimiter(text, suffix)
    rows = _split(path.name, text, delimiter, guard)
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


def _lines(text: str) -> Iterator[str]:
    return (match.group() for match in _LINE.finditer(text))


def _split(name: str, text: str, delimiter: str, guard: ReadGuard | None) -> list[list[str]]:
    """The csv module's rows, bounded in rows and cells (rows x the widest row so far)."""
    rows: list[list[str]] = []
    width = 0
    reader = csv.reader(_lines(text), delimiter=delimiter)
    try:
        for row in reader:
            rows.append(row)
            width = max(width, len(row))
            count = len(rows)
            if count > MAX_SHEET_ROWS:
                raise InputFileError(
                    f"{name} has more than {MAX_SHEET_ROWS:,} rows, more than layer-sync reads "
                    "in one sheet; split it into several files and sync each")
            if count * width > MAX_SHEET_CELLS:
                raise InputFileError(
                    f"{name} has more cells than layer-sync reads ({count:,} rows x "
                    f"{width:,} columns, over {MAX_SHEET_CELLS:,}); check it is the right file, "
                    "or split it")
            if guard is not None and count % 1000 == 0:
                guard.check()
    except csv.Error as exc:
        # The csv module refuses a field past its limit (128 KiB): no spreadsheet cell holds
        # that much (32,767 characters), so the file is not a sheet a program wrote.
        raise InputFileError(f"{name} cannot be read as CSV at line {reader.line_num} "
                             f"({exc}); a spreadsheet cell holds at most 32,767 characters: "
                             "check the quotes on that line") from None
    return rows


#: What the stdlib sniffer is given: its regexes take time that grows with the square of the
#: sample (a 64 kB first line of `,",",...` took 16 s); 4,096 characters take it at most
#: ~0.15 s, and hold the header and the first rows of any lab sheet.
SNIFF_CHARS = 4096


def sniff_delimiter(text: str, suffix: str) -> str:
    """Comma, semicolon or tab: the stdlib sniffer on the first lines that have any (at most
    `SNIFF_CHARS` of them together), then counts over the first 60 lines."""
    lines = [line for line in text[:65536].splitlines()[:60] if line.strip()]
    sample = "\n".join(line for line in lines if any(d in line for d in ",;\t"))
    if len(sample) > SNIFF_CHARS:
        cut = sample.rfind("\n", 0, SNIFF_CHARS)  # whole lines, where the first fits
        sample = sample[:cut if cut > 0 else SNIFF_CHARS]
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        pass
    if suffix == ".tsv":
        return "\t"
    counts = {d: sum(line.count(d) for line in lines) for d in ("\t", ";", ",")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","
