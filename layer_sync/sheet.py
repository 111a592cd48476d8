"""Read layer stacks from CSV and Excel as technicians write them.

`read_stacks(path, sheet=None)` returns every data row with its source (sheet, row number as
the spreadsheet shows it, cell references) and every problem found, each tied to its cell.
No HTTP here. Workbooks are read with python-calamine, which gives each cell as the sheet
stores it (text as text, numbers as numbers, dates as dates), never as a dtype guess.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from . import values
from .errors import InputFileError
from .outcome import Issue, Severity

TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".ods", ".xls")
SUFFIXES = TEXT_SUFFIXES + WORKBOOK_SUFFIXES
HEADER_SEARCH_ROWS = 20

ERROR, WARNING = Severity.ERROR, Severity.WARNING

#: Header names technicians use, squeezed (lower case, letters and digits only).
ALIASES: dict[str, tuple[str, ...]] = {
    "sample_id": ("sampleid", "targetmaterialid", "tmid", "sampleno", "samplenumber"),
    "sample_name": ("samplename", "sample", "targetmaterial", "targetmaterialname",
                    "materialname", "stack", "stackname"),
    "substrate": ("substrate", "substratematerial"),
    "layer_id": ("layerid", "layer", "layerno", "layernumber", "layernum", "position",
                 "layerposition", "pos"),
    "composition_string": ("compositionstring", "composition", "formula", "chemicalformula",
                           "compound", "material"),
    "element_dict": ("elementdict", "elements", "elementcounts", "elementalcomposition"),
    "orientation": ("orientation", "millerindex", "millerindices", "hkl", "orient"),
    "space_group": ("spacegroup", "sg", "spacegroupsymbol", "spacegroupnumber", "spgr"),
    "mp_id": ("mpid", "materialsprojectid", "mp", "materialsproject", "mpnumber"),
}
_ALIAS_TO_FIELD = {alias: name for name, aliases in ALIASES.items() for alias in aliases}
_OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")


@dataclass
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
    _ref: tuple | None = field(default=None, repr=False)  # sample_ref, once the row is checked

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == ERROR]

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def sample_ref(self) -> tuple | None:
        """("id", 42) or ("name", "bto on sto", "srtio3"), or None when not usable."""
        if self._ref is not None:
            return self._ref or None
        if self.values.get("sample_id") is not None:
            return ("id", self.values["sample_id"])
        name = self.values.get("sample_name")
        if name:
            substrate = self.values.get("substrate")
            return ("name", name.casefold(), substrate.casefold() if substrate else None)
        return None

    def add(self, severity: str, field_name: str | None, message: str, column: str | None = None,
            value: Any = None) -> Issue:
        cell = self.cells.get(field_name) if field_name else None
        column = column or (self.columns.get(field_name) if field_name else None)
        issue = Issue(self.sheet, self.row, column, cell,
                      values.describe(self.raw.get(field_name) if value is None and field_name else value),
                      severity, message)
        self.issues.append(issue)
        return issue


@dataclass
class SheetData:
    """What `read_stacks` returns."""

    path: Path
    sheet: str
    header_row: int
    columns: dict[str, str]             # field -> header as written
    headers: list[str]                  # every header, in sheet order
    ignored_columns: list[str]
    rows: list[SheetRow]
    file_issues: list[Issue]            # about the file, not one row (encoding, headers)
    encoding: str | None = None
    delimiter: str | None = None

    @property
    def issues(self) -> list[Issue]:
        """Every problem: the file's, then each row's, in sheet order."""
        return self.file_issues + [issue for row in self.rows for issue in row.issues]

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == ERROR]


@dataclass
class _Grid:
    name: str
    cells: list[list[Any]]
    merged: list[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=list)
    no_value: set[tuple[int, int]] = field(default_factory=set)


# ============================================================================= public

def read_stacks(path: str | Path, sheet: str | None = None,
                columns: dict[str, str] | None = None) -> SheetData:
    """Read the layer stacks of a CSV or workbook, check every value, report every problem.

    `columns` maps a lab's own header names to fields (`{"Film": "composition_string"}`); they
    are matched like the built-in names (case, spaces and punctuation ignored) and win over them.
    Raises InputFileError (exit code 2) for a file that cannot be used at all.
    """
    path = Path(path)
    names = {squeeze_header(h): f for h, f in (columns or {}).items()}
    suffix = check_input_file(path)
    file_issues: list[Issue] = []
    encoding = delimiter = None
    if suffix in TEXT_SUFFIXES:
        grid, encoding, delimiter = _load_text(path, suffix, file_issues)
        if sheet is not None and sheet != grid.name:
            raise InputFileError(f"{path.name} is a text file with no sheets; drop --sheet")
        found = _find_header(grid, names)
        if found is None:
            raise InputFileError(_no_header_message(path, [grid], names))
        grids = [(grid, found)]
    else:
        grids = [_first_sheet_with_header(path, sheet, names)]
    grid, (header_index, colmap, headers, ignored, dup_issues) = grids[0]
    file_issues.extend(dup_issues)
    rows = _rows(grid, header_index, colmap, headers)
    _check_duplicates(rows)
    _check_gaps(rows)
    return SheetData(path=path, sheet=grid.name, header_row=header_index + 1,
                     columns={f: headers[c] for f, c in colmap.items()}, headers=headers,
                     ignored_columns=ignored, rows=rows, file_issues=file_issues, encoding=encoding,
                     delimiter=delimiter)


def squeeze_header(text: Any) -> str:
    """`"Layer #"` -> `"layer"`, `"Materials Project ID"` -> `"materialsprojectid"`."""
    return re.sub(r"[^0-9a-z]", "", values.describe(text).casefold())


def field_for_header(text: Any, names: dict[str, str] | None = None) -> str | None:
    """The field a header names: `names` (squeezed lab header -> field) first, then the aliases."""
    squeezed = squeeze_header(text)
    return (names.get(squeezed) if names else None) or _ALIAS_TO_FIELD.get(squeezed)


def column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


# ============================================================================= files

def check_input_file(path: Path) -> str:
    """Fail early for a file that is missing, a folder, empty, protected or of the wrong kind."""
    suffix = path.suffix.lower()
    if not path.exists():
        raise InputFileError(f"{path} does not exist")
    if path.is_dir():
        raise InputFileError(f"{path} is a folder, not a spreadsheet")
    if suffix not in SUFFIXES:
        raise InputFileError(f"{path.name} is not a spreadsheet layer-sync reads; use "
                             f"{', '.join(SUFFIXES)}")
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise InputFileError(f"cannot read {path}: {exc.strerror}") from None
    if not head:
        raise InputFileError(f"{path.name} is empty")
    if suffix in (".xlsx", ".xlsm") and head.startswith(_OLE_MAGIC):
        raise InputFileError(f"{path.name} is password-protected (encrypted); open it, remove "
                             "the password (File > Info > Protect Workbook) and save it again")
    if suffix in (".xlsx", ".xlsm", ".ods") and not head.startswith(b"PK"):
        raise InputFileError(f"{path.name} is not a {suffix} workbook (corrupt, or another kind "
                             "of file renamed); open it in a spreadsheet program and save it again")
    return suffix


def _load_text(path: Path, suffix: str, issues: list[Issue]) -> tuple[_Grid, str, str]:
    data = path.read_bytes()
    if data.startswith(b"PK") or data.startswith(_OLE_MAGIC):
        raise InputFileError(f"{path.name} is a workbook saved with a {suffix} name; "
                             "rename it to .xlsx (or .xls) and run again")
    if b"\x00" in data[:4096]:
        raise InputFileError(f"{path.name} is not a text file (UTF-16 or binary); save it as "
                             "'CSV UTF-8' and run again")
    try:
        text_ = data.decode("utf-8-sig")
        encoding = "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
    except UnicodeDecodeError:
        text_ = data.decode("cp1252", errors="replace")
        encoding = "cp1252"
        issues.append(Issue(path.name, None, None, None, "", WARNING,
                            "the file is not UTF-8; it was read as Windows-1252 (cp1252). "
                            "Check names with accents, or save as 'CSV UTF-8'"))
    if not text_.strip():
        raise InputFileError(f"{path.name} is empty")
    delimiter = _sniff_delimiter(text_, suffix)
    rows = list(csv.reader(io.StringIO(text_, newline=""), delimiter=delimiter))
    return _Grid(path.name, rows), encoding, delimiter


def _sniff_delimiter(text_: str, suffix: str) -> str:
    """Comma, semicolon or tab: the stdlib sniffer on the lines that have any, then counts."""
    lines = [line for line in text_.splitlines()[:60] if line.strip()]
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


def _open_workbook(path: Path):
    from python_calamine import CalamineWorkbook, PasswordError

    try:
        return CalamineWorkbook.from_path(str(path))
    except PasswordError:
        raise InputFileError(f"{path.name} is password-protected; remove the password and "
                             "save it again") from None
    except Exception as exc:
        raise InputFileError(f"{path.name} cannot be read as a workbook ({_short(exc)}); open it "
                             "in a spreadsheet program and save it again") from None


def _first_sheet_with_header(path: Path, wanted: str | None, headers: dict[str, str]):
    book = _open_workbook(path)
    try:
        metadata = book.sheets_metadata
        names = [m.name for m in metadata if str(m.typ).endswith("WorkSheet")] or list(book.sheet_names)
        if wanted is not None:
            if wanted not in book.sheet_names:
                raise InputFileError(f"{path.name} has no sheet {wanted!r}; its sheets are "
                                     f"{', '.join(map(repr, book.sheet_names))}")
            names = [wanted]
        if not names:
            raise InputFileError(f"{path.name} has no worksheets")
        tried: list[_Grid] = []
        for name in names:
            grid = _load_sheet(book, path, name)
            found = _find_header(grid, headers)
            if found is not None:
                return grid, found
            tried.append(grid)
        raise InputFileError(_no_header_message(path, tried, headers))
    finally:
        book.close()


def _load_sheet(book, path: Path, name: str) -> _Grid:
    try:
        sheet = book.get_sheet_by_name(name)
        cells = sheet.to_python(skip_empty_area=False)
        merged = list(getattr(sheet, "merged_cell_ranges", None) or [])
    except Exception as exc:
        raise InputFileError(f"sheet {name!r} of {path.name} cannot be read ({_short(exc)})") from None
    grid = _Grid(name, cells, merged)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        grid.no_value = _formulas_without_value(path, name)
    elif path.suffix.lower() == ".ods" and not merged:
        grid.merged = _ods_merged_ranges(path, name)
    return grid


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__


_NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
       "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
       "rel": "http://schemas.openxmlformats.org/package/2006/relationships"}
_REF = re.compile(r"([A-Z]+)(\d+)")


def _formulas_without_value(path: Path, sheet_name: str) -> set[tuple[int, int]]:
    """Cells holding a formula but no stored result (calamine shows them blank).

    Excel and LibreOffice always store results; files written by scripts may not. Only the
    sheet's own XML is scanned, and only when it holds a formula at all.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            part = _sheet_part(archive, sheet_name)
            if part is None:
                return set()
            data = archive.read(part)
            if b"<f" not in data and b":f" not in data:
                return set()
            found: set[tuple[int, int]] = set()
            for _, element in ElementTree.iterparse(io.BytesIO(data)):
                if element.tag != f"{{{_NS['m']}}}c":
                    continue
                formula = element.find("m:f", _NS)
                if formula is not None:
                    value = element.find("m:v", _NS)
                    if (value is None or not (value.text or "")) and element.get("t") != "str":
                        match = _REF.fullmatch(element.get("r", ""))
                        if match:
                            found.add((int(match.group(2)) - 1, _column_index(match.group(1))))
                element.clear()
            return found
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, OSError):
        return set()


_ODS = {"table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0"}


def _ods_attr(element: ElementTree.Element, name: str, default: int = 1) -> int:
    try:
        return int(element.get(f"{{{_ODS['table']}}}{name}", default))
    except ValueError:
        return default


def _ods_merged_ranges(path: Path, sheet_name: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Merged cells of an .ods sheet (calamine gives them for Excel files only): the cells
    that span rows or columns in content.xml, with repeated rows and cells counted."""
    table_tag, row_tag = f"{{{_ODS['table']}}}table", f"{{{_ODS['table']}}}table-row"
    cell_tags = {f"{{{_ODS['table']}}}table-cell", f"{{{_ODS['table']}}}covered-table-cell"}
    ranges: list[tuple[tuple[int, int], tuple[int, int]]] = []
    try:
        with zipfile.ZipFile(path) as archive:
            data = archive.read("content.xml")
        if b"number-rows-spanned" not in data and b"number-columns-spanned" not in data:
            return ranges
        for _, table in ElementTree.iterparse(io.BytesIO(data)):
            if table.tag != table_tag:
                continue
            if table.get(f"{{{_ODS['table']}}}name") == sheet_name:
                row = 0
                for row_el in table.iter(row_tag):
                    col = 0
                    for cell in row_el:
                        if cell.tag not in cell_tags:
                            continue
                        rows_spanned = _ods_attr(cell, "number-rows-spanned")
                        cols_spanned = _ods_attr(cell, "number-columns-spanned")
                        if rows_spanned > 1 or cols_spanned > 1:
                            ranges.append(((row, col), (row + rows_spanned - 1, col + cols_spanned - 1)))
                        col += _ods_attr(cell, "number-columns-repeated")
                    row += _ods_attr(row_el, "number-rows-repeated")
                return ranges
            table.clear()
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, OSError):
        pass
    return ranges


def _sheet_part(archive: zipfile.ZipFile, sheet_name: str) -> str | None:
    book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target") for r in rels.findall("rel:Relationship", _NS)}
    for sheet in book.iterfind("m:sheets/m:sheet", _NS):
        if sheet.get("name") == sheet_name:
            target = targets.get(sheet.get(f"{{{_NS['r']}}}id"), "")
            return target.lstrip("/") if target.startswith("/") else "xl/" + target
    return None


def _column_index(letters: str) -> int:
    index = 0
    for char in letters:
        index = index * 26 + ord(char) - 64
    return index - 1


# ============================================================================= header

def _find_header(grid: _Grid, names: dict[str, str] | None = None):
    """The first of the first 20 rows naming layer_id and sample_id or sample_name."""
    for index, cells in enumerate(grid.cells[:HEADER_SEARCH_ROWS]):
        colmap: dict[str, int] = {}
        duplicates: list[int] = []
        for col, cell in enumerate(cells):
            if values.is_blank(cell):
                continue
            name = field_for_header(cell, names)
            if name is None:
                continue
            if name in colmap:
                duplicates.append(col)
            else:
                colmap[name] = col
        if "layer_id" in colmap and ("sample_id" in colmap or "sample_name" in colmap):
            headers = [values.describe(c).strip() for c in cells]
            ignored = [headers[c] or f"column {column_letter(c)}" for c in range(len(cells))
                       if c not in colmap.values() and not values.is_blank(cells[c])]
            issues = [Issue(grid.name, index + 1, headers[c], f"{column_letter(c)}{index + 1}",
                            headers[c], WARNING,
                            f"a second {field_for_header(cells[c], names)} column; only column "
                            f"{column_letter(colmap[field_for_header(cells[c], names)])} is read")
                      for c in duplicates]
            return index, colmap, headers, ignored, issues
    return None


def _no_header_message(path: Path, grids: list[_Grid], names: dict[str, str] | None = None) -> str:
    best: tuple[int, list[str], str] = (0, [], "")
    for grid in grids:
        for cells in grid.cells[:HEADER_SEARCH_ROWS]:
            known = [f"{values.describe(c).strip()!r} ({field_for_header(c, names)})" for c in cells
                     if not values.is_blank(c) and field_for_header(c, names)]
            if len(known) > best[0]:
                best = (len(known), known, grid.name)
    where = f" (sheets: {', '.join(g.name for g in grids)})" if len(grids) > 1 else ""
    found = (f"; the best row, in {best[2]!r}, has {', '.join(best[1])}" if best[1]
             else "; no column name was recognised")
    return (f"{path.name} has no recognisable header in its first {HEADER_SEARCH_ROWS} rows"
            f"{where}: a header needs a layer_id column (Layer, Layer #, Position) and a "
            f"sample_id or sample_name column (Sample ID, Sample){found}")


# ============================================================================= rows

@lru_cache(maxsize=65536, typed=True)  # typed: TRUE and 1.0 are not the same cell
def _check_cached(field_name: str, raw: Any) -> values.Checked | str:
    try:
        return values.check(field_name, raw)
    except values.ValueProblem as exc:
        return str(exc)


def _check(field_name: str, raw: Any) -> values.Checked | str:
    try:
        return _check_cached(field_name, raw)
    except TypeError:  # an unhashable value: check it without the cache
        try:
            return values.check(field_name, raw)
        except values.ValueProblem as exc:
            return str(exc)


def _fill_merged(grid: _Grid, header_index: int) -> None:
    cells = grid.cells
    for (r0, c0), (r1, c1) in grid.merged:
        if r1 <= header_index or r0 >= len(cells) or c0 >= len(cells[r0]):
            continue
        value = cells[r0][c0]
        for r in range(max(r0, header_index + 1), min(r1, len(cells) - 1) + 1):
            row = cells[r]
            if len(row) <= c1:
                row.extend([""] * (c1 + 1 - len(row)))
            for c in range(c0, c1 + 1):
                if (r, c) != (r0, c0) and values.is_blank(row[c]):
                    row[c] = value


def _rows(grid: _Grid, header_index: int, colmap: dict[str, int], headers: list[str]) -> list[SheetRow]:
    _fill_merged(grid, header_index)
    extra_cols = [(c, headers[c] or f"column {column_letter(c)}") for c in range(len(headers))
                  if c not in colmap.values() and headers[c]]
    letters = {f: column_letter(c) for f, c in colmap.items()}
    names = {f: headers[c] for f, c in colmap.items()}
    rows: list[SheetRow] = []
    stack = 0
    previous: SheetRow | None = None
    columns = list(colmap.items())
    blank = _blank
    for index in range(header_index + 1, len(grid.cells)):
        cells = grid.cells[index]
        number = index + 1
        width = len(cells)
        raw = {f: (cells[c] if c < width else None) for f, c in columns}
        no_value = ({f for f, c in columns if (index, c) in grid.no_value}
                    if grid.no_value else set())
        if not no_value and all(blank(v) for v in raw.values()):
            if previous is not None:
                stack += 1
            previous = None
            continue
        extra = {name: (cells[c] if c < len(cells) else None) for c, name in extra_cols}
        row = SheetRow(grid.name, number, stack, raw, {f: f"{letters[f]}{number}" for f in colmap},
                       extra, names)
        # Within a stack, sample columns left blank (or repeated by a merged cell) are the
        # stack's: take them from the row above.
        if previous is not None and all(
                blank(raw.get(f)) or raw.get(f) == previous.raw.get(f)
                for f in values.SAMPLE_FIELDS if f in raw):
            for f in values.SAMPLE_FIELDS:
                if f in raw and blank(raw[f]):
                    row.raw[f] = previous.raw[f]
            row.filled_from = previous.row
        _check_row(row, no_value, headers, colmap)
        row._ref = row.sample_ref or ()  # computed once; the checks below read it often
        rows.append(row)
        previous = row
    return rows


def _blank(value: Any) -> bool:
    """values.is_blank for the hot loop: calamine gives '' for an empty cell."""
    if value is None or value == "":
        return True
    return values.is_blank(value)


def _check_row(row: SheetRow, no_value: set[str], headers: list[str], colmap: dict[str, int]) -> None:
    for field_name in colmap:
        column = headers[colmap[field_name]]
        if field_name in no_value:
            row.add(ERROR, field_name, "this cell holds a formula with no stored result; open the "
                    "file in Excel or LibreOffice, let it calculate and save, or type the value",
                    column)
            continue
        outcome = _check(field_name, row.raw[field_name])
        if isinstance(outcome, str):
            if row.filled_from is not None and field_name in values.SAMPLE_FIELDS:
                outcome = f"{outcome} (taken from row {row.filled_from}, which carries the stack's sample)"
            row.add(ERROR, field_name, outcome, column)
            continue
        row.values[field_name] = outcome.value
        for warning in outcome.warnings:
            row.add(WARNING, field_name, warning, column)
    if "layer_id" not in no_value and values.is_blank(row.raw.get("layer_id")):
        row.add(ERROR, "layer_id", "layer_id is blank; every row needs its position in the stack "
                "(1 = on the substrate)", headers[colmap["layer_id"]])
    has_sample_id = not values.is_blank(row.raw.get("sample_id"))
    has_name = not values.is_blank(row.raw.get("sample_name"))
    if not has_sample_id and not has_name:
        field_name = "sample_id" if "sample_id" in colmap else "sample_name"
        row.add(ERROR, field_name, "no sample_id or sample_name: the row does not say which "
                "target material it belongs to", headers[colmap[field_name]])
    formula = row.values.get("composition_string")
    elements = row.values.get("element_dict")
    if formula and elements:
        conflict = values.composition_conflict(formula, elements)
        if conflict:
            row.add(WARNING, "element_dict", conflict, headers[colmap["element_dict"]])


def _key_text(ref: tuple, layer_id: int) -> str:
    sample = f"sample {ref[1]}" if ref[0] == "id" else f"sample {ref[1]!r}"
    return f"layer {layer_id} of {sample}"


def _check_duplicates(rows: list[SheetRow]) -> None:
    """A key on more than one row makes all of those rows invalid: which one is right?"""
    by_key: dict[tuple, list[SheetRow]] = defaultdict(list)
    for row in rows:
        ref = row.sample_ref
        layer_id = row.values.get("layer_id")
        if ref is not None and layer_id is not None:
            by_key[(ref, layer_id)].append(row)
    for (ref, layer_id), group in by_key.items():
        if len(group) < 2:
            continue
        numbers = ", ".join(str(r.row) for r in group)
        for row in group:
            row.add(ERROR, "layer_id", f"{_key_text(ref, layer_id)} appears on rows {numbers}; "
                    "keep one row per layer (none of them is sent)")


def _check_gaps(rows: list[SheetRow]) -> None:
    by_sample: dict[tuple, list[SheetRow]] = defaultdict(list)
    for row in rows:
        if row.sample_ref is not None and row.values.get("layer_id") is not None:
            by_sample[row.sample_ref].append(row)
    for ref, group in by_sample.items():
        ordered = sorted(group, key=lambda r: r.values["layer_id"])
        for before, after in zip(ordered, ordered[1:]):
            low, high = before.values["layer_id"], after.values["layer_id"]
            if high - low > 1:
                missing = f"layer {low + 1}" if high - low == 2 else f"layers {low + 1}-{high - 1}"
                name = ref[1]
                after.add(WARNING, "layer_id", f"the layer_ids of sample {name!r} jump from "
                          f"{low} to {high}: {'is' if high - low == 2 else 'are'} {missing} missing?")
