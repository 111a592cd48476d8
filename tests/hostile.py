"""Hostile inputs, made at test time (nothing is downloaded): files built to hang, crash or
exhaust a spreadsheet reader. Each maker takes a folder and returns the path it made.

Used by tests/test_hostile_inputs.py; handy by hand too:

    python -m tests.hostile /tmp/hostile      # writes every kind into that folder
"""

from __future__ import annotations

import os
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape

from layer_sync.read.files import column_letter

HEADER = ["sample_id", "layer_id", "composition_string", "orientation"]
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    '</Types>')
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
_WORKBOOK = (
    f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{_MAIN}" xmlns:r="{_REL}">'
    '<sheets><sheet name="Layers" sheetId="1" r:id="rId1"/></sheets></workbook>')
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>')



def _cell(ref: str, value: object) -> str:
    if isinstance(value, (int, float)):
        return f'<c r="{ref}"><v>{value}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t>{escape(str(value))}</t></is></c>'


def _rows_xml(rows: list[list[object]]) -> str:
    out = []
    for r, row in enumerate(rows, start=1):
        cells = "".join(_cell(f"{column_letter(c)}{r}", v) for c, v in enumerate(row) if v is not None)
        out.append(f'<row r="{r}">{cells}</row>')
    return "".join(out)


def write_xlsx(path: Path, sheet_head: str, sheet_body: str = "", *, padding: int = 0,
               pad_byte: bytes = b" ", shared_strings: str | None = None,
               shared_padding: int = 0, dimension: str | None = None,
               after_data: str = "") -> Path:
    """A minimal .xlsx written by hand, so that its parts can be anything.

    `padding` bytes of `pad_byte` go inside <sheetData> (XML whitespace by default), streamed
    into the archive so that a part inflating to gigabytes costs no memory to make.
    """
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
            part.write(f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{_MAIN}">'
                       f'{dim}<sheetData>{sheet_head}'.encode())
            _pad(part, padding, pad_byte)
            part.write(f"{sheet_body}</sheetData>{after_data}</worksheet>".encode())
        if shared_strings is not None or shared_padding:
            with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as part:
                part.write(f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{_MAIN}"><si><t>'
                           .encode())
                part.write((shared_strings or "").encode())
                _pad(part, shared_padding, b"a")
                part.write(b"</t></si></sst>")
    return path


def _pad(part, size: int, byte: bytes) -> None:
    chunk = byte * (1 << 20)
    while size > 0:
        part.write(chunk[:size])
        size -= len(chunk)


# ------------------------------------------------------------------------------- the makers

def fifo(folder: Path) -> Path:
    """A named pipe with a .csv name: opening it for reading blocks until a writer comes."""
    path = folder / "pipe.csv"
    os.mkfifo(path)
    return path


def dev_zero(folder: Path) -> Path:
    """A .csv symlink to /dev/zero: reads forever."""
    path = folder / "zero.csv"
    path.symlink_to("/dev/zero")
    return path


def dev_null(folder: Path) -> Path:
    """A .xlsx symlink to /dev/null: a device, not a file."""
    path = folder / "null.xlsx"
    path.symlink_to("/dev/null")
    return path


def inflating_sheet(folder: Path, size: int = 300 << 20) -> Path:
    """A sheet part that inflates to `size` bytes of whitespace from a small file."""
    head = _rows_xml([HEADER, [1, 1, "Si", "001"]])
    return write_xlsx(folder / "bomb.xlsx", head, padding=size)


def inflating_shared_strings(folder: Path, size: int = 300 << 20) -> Path:
    """A shared-strings part holding one string of `size` bytes."""
    head = _rows_xml([HEADER]) + '<row r="2"><c r="A2"><v>1</v></c><c r="B2"><v>1</v></c>' \
        '<c r="C2" t="s"><v>0</v></c></row>'
    return write_xlsx(folder / "strings.xlsx", head, shared_padding=size)


def far_cell(folder: Path) -> Path:
    """A header, one row, and one cell at XFD1048576, the last cell a sheet can have."""
    head = _rows_xml([HEADER, [1, 1, "Si", "001"]])
    return write_xlsx(folder / "far.xlsx", head, '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>')


def _retargeted(path: Path, target: str) -> Path:
    """`path` with its sheet's relationship pointing at `target` instead."""
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        b'Target="worksheets/sheet1.xml"', f'Target="{target}"'.encode())
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return path


def far_cell_other_case(folder: Path) -> Path:
    """A far cell in a sheet whose relationship names its part in other letters
    (`SHEET1.xml`): the reader finds it all the same, so the bounds must too."""
    head = _rows_xml([HEADER, [1, 1, "Si", "001"]])
    path = write_xlsx(folder / "far_case.xlsx", head,
                      '<row r="1000000"><c r="GR1000000"><v>1</v></c></row>')
    return _retargeted(path, "worksheets/SHEET1.xml")


def far_cell_workbook_case(folder: Path) -> Path:
    """A far cell, and the workbook's own parts named in other letters (`xl/Workbook.xml`)."""
    head = _rows_xml([HEADER, [1, 1, "Si", "001"]])
    path = write_xlsx(folder / "far_book_case.xlsx", head,
                      '<row r="1000000"><c r="GR1000000"><v>1</v></c></row>')
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    renamed = {"xl/workbook.xml": "xl/Workbook.xml",
               "xl/_rels/workbook.xml.rels": "xl/_rels/Workbook.xml.rels"}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(renamed.get(name, name), data)
    return path


def far_cell_ten_digits(folder: Path) -> Path:
    """A cell whose address has ten digits (D4294967295): the reader places it all the same."""
    head = _rows_xml([HEADER, [1, 1, "Si", "001"]])
    return write_xlsx(folder / "far_digits.xlsx", head,
                      '<row r="4294967295"><c r="D4294967295"><v>1</v></c></row>')


def sheet_part_missing(folder: Path) -> Path:
    """A sheet whose relationship names a part the file does not have."""
    head = _rows_xml([HEADER, [1, 1, "Si", "001"]])
    return _retargeted(write_xlsx(folder / "no_part.xlsx", head), "xl/worksheets/sheet1.xml")


def many_merges(folder: Path) -> Path:
    """A small sheet that lists two million merged ranges (a few MB on disk): building them
    all would take gigabytes."""
    head = _rows_xml([HEADER, [1, 1, "Si", "001"]])
    merges = "".join(f'<mergeCell ref="E{i}:F{i}"/>' for i in range(3, 2_000_003))
    return write_xlsx(folder / "merges.xlsx", head,
                      after_data=f'<mergeCells count="2000000">{merges}</mergeCells>')


def lying_dimension(folder: Path) -> Path:
    """A small sheet whose <dimension> claims every cell of the sheet."""
    head = _rows_xml([HEADER, [1, 1, "Si", "001"]])
    return write_xlsx(folder / "dimension.xlsx", head, dimension="A1:XFD1048576")


def far_ods(folder: Path) -> Path:
    """An .ods whose one cell spans and repeats over a billion rows and columns."""
    table = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
    office = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
    text = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"

    def cell(value: object, extra: str = "") -> str:
        if isinstance(value, int):
            return (f'<table:table-cell office:value-type="float" office:value="{value}"{extra}>'
                    f"<text:p>{value}</text:p></table:table-cell>")
        return (f'<table:table-cell office:value-type="string"{extra}><text:p>{value}</text:p>'
                "</table:table-cell>")

    rows = "".join(f"<table:table-row>{''.join(cell(v) for v in row)}</table:table-row>"
                   for row in [HEADER, [1, 1, "Si", "001"]])
    big = ' table:number-columns-spanned="1000000000" table:number-rows-spanned="1000000000"'
    rows += f"<table:table-row>{cell(1, big)}{cell(2)}</table:table-row>"
    repeated = cell(3, ' table:number-columns-repeated="100000"')
    rows += f'<table:table-row table:number-rows-repeated="1000000000">{repeated}</table:table-row>'
    content = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="{office}" '
               f'xmlns:table="{table}" xmlns:text="{text}" office:version="1.2"><office:body>'
               f'<office:spreadsheet><table:table table:name="Layers">{rows}</table:table>'
               "</office:spreadsheet></office:body></office:document-content>")
    path = folder / "span.ods"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("META-INF/manifest.xml", _ODS_MANIFEST)
        archive.writestr("content.xml", content)
    return path


_ODS_MANIFEST = (
    '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest='
    '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
    '<manifest:file-entry manifest:full-path="/" manifest:media-type='
    '"application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry '
    'manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
    "</manifest:manifest>")


def huge_csv_cell(folder: Path, size: int = 10 << 20) -> Path:
    """A CSV whose one cell holds `size` characters."""
    path = folder / "hugecell.csv"
    with path.open("w") as handle:
        handle.write(",".join(HEADER) + "\n1,1,Si,")
        handle.write("1" * size)
        handle.write("\n1,2,Si,001\n")
    return path


def long_formula(folder: Path, size: int = 40_000) -> Path:
    """A composition of `size` characters (a formula far past a spreadsheet cell's limit)."""
    path = folder / "formula.csv"
    path.write_text(",".join(HEADER) + "\n1,1," + "SrTiO3" * (size // 6) + ",001\n")
    return path


def control_characters(folder: Path) -> Path:
    """Control characters in a header and in cells."""
    path = folder / "control.csv"
    path.write_text("sample_id,layer_id,\x01bad\x1b[31m,composition_string\r\n"
                    "1,1,x\x07,Si\x0b\n1,2,\x1f,\x7fSi\n")
    return path


def wide_sheet(folder: Path, columns: int = 17_000, suffix: str = ".csv") -> Path:
    """A sheet of `columns` columns (past the 16,384 an .xlsx can hold)."""
    header = HEADER + [f"extra {i}" for i in range(columns - len(HEADER))]
    row = ["1", "1", "Si", "001"] + ["x"] * (columns - len(HEADER))
    if suffix == ".csv":
        path = folder / "wide.csv"
        path.write_text(",".join(header) + "\n" + ",".join(row) + "\n")
        return path
    return write_xlsx(folder / "wide.xlsx", _rows_xml([header, row]))


def huge_numbers(folder: Path) -> Path:
    """Ids beyond what the API can store (its ids are signed 32-bit integers)."""
    path = folder / "numbers.csv"
    path.write_text(",".join(HEADER) + "\n99999999999999999999,1,Si,001\n1,2147483648,Si,001\n"
                    "1,1e308,Si,001\n")
    return path


# ------------------------------------------------------------------- issue 18's runaways

def _package(path: Path, parts: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return path


def _sheet_xml(body: str, after: str = "") -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{_MAIN}"><sheetData>'
            f"{body}</sheetData>{after}</worksheet>")


_FAR_BODY = _rows_xml([HEADER, [1, 1, "Si", "001"]]) + \
    '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'
_SHEET_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"


def _rels(targets: dict[str, str]) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships">' + "".join(
                f'<Relationship Id="{rid}" Type="{_SHEET_REL}" Target="{target}"/>'
                for rid, target in targets.items()) + "</Relationships>")


def _workbook(sheets: list[tuple[str, str]]) -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{_MAIN}" xmlns:r="{_REL}">'
            "<sheets>" + "".join(f'<sheet name="{name}" sheetId="{i + 1}" r:id="{rid}"/>'
                                 for i, (name, rid) in enumerate(sheets)) + "</sheets></workbook>")


def two_sheets_one_name(folder: Path) -> Path:
    """Two sheets called "Layers": the reader reads the first (a far cell), a reader of the
    last would bound the harmless second."""
    return _package(folder / "twins.xlsx", {
        "[Content_Types].xml": _CONTENT_TYPES, "_rels/.rels": _ROOT_RELS,
        "xl/workbook.xml": _workbook([("Layers", "rId1"), ("Layers", "rId2")]),
        "xl/_rels/workbook.xml.rels": _rels({"rId1": "worksheets/sheet1.xml",
                                             "rId2": "worksheets/sheet2.xml"}),
        "xl/worksheets/sheet1.xml": _sheet_xml(_FAR_BODY),
        "xl/worksheets/sheet2.xml": _sheet_xml(_rows_xml([HEADER, [1, 1, "Si", "001"]]))})


def relationships_elsewhere(folder: Path) -> Path:
    """The package relationships name `book/workbook.xml`: the reader reads that folder (a far
    cell), while the usual `xl/` holds a harmless decoy."""
    root = _ROOT_RELS.replace('Target="xl/workbook.xml"', 'Target="book/workbook.xml"')
    return _package(folder / "elsewhere.xlsx", {
        "[Content_Types].xml": _CONTENT_TYPES, "_rels/.rels": root,
        "xl/workbook.xml": _WORKBOOK, "xl/_rels/workbook.xml.rels": _WORKBOOK_RELS,
        "xl/worksheets/sheet1.xml": _sheet_xml(_rows_xml([HEADER, [1, 1, "Si", "001"]])),
        "book/workbook.xml": _WORKBOOK,
        "book/_rels/workbook.xml.rels": _rels({"rId1": "worksheets/sheet1.xml"}),
        "book/worksheets/sheet1.xml": _sheet_xml(_FAR_BODY)})


def sheets_sharing_a_part(folder: Path, count: int = 1024) -> Path:
    """`count` sheets whose relationships all point at one large part."""
    rows = [HEADER] + [[1, i, "Si", "001"] for i in range(1, 20_001)]
    return _package(folder / "shared.xlsx", {
        "[Content_Types].xml": _CONTENT_TYPES, "_rels/.rels": _ROOT_RELS,
        "xl/workbook.xml": _workbook([(f"S{i}", f"rId{i}") for i in range(count)]),
        "xl/_rels/workbook.xml.rels": _rels({f"rId{i}": "worksheets/sheet1.xml"
                                             for i in range(count)}),
        "xl/worksheets/sheet1.xml": _sheet_xml(_rows_xml(rows))})


def claimed_strings(folder: Path) -> Path:
    """Shared strings whose first tag claims four billion of them (the reader reserves room
    for that many before it reads one)."""
    head = _rows_xml([HEADER, [1, 1, "Si", "001"]])
    path = write_xlsx(folder / "claimed.xlsx", head, shared_strings="x")
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    parts["xl/sharedStrings.xml"] = parts["xl/sharedStrings.xml"].replace(
        b"<sst ", b'<sst uniqueCount="4000000000" ')
    return _package(path, parts)


def overlapping_merges(folder: Path, count: int = 20_000) -> Path:
    """`count` merged ranges over one large area, each overlapping all the others."""
    rows = [HEADER] + [[1, i, "Si", "001"] for i in range(1, 2001)]
    merges = "".join(f'<mergeCell ref="A{2 + i % 7}:D2001"/>' for i in range(count))
    return write_xlsx(folder / "overlap.xlsx", _rows_xml(rows),
                      after_data=f'<mergeCells count="{count}">{merges}</mergeCells>')


def error_cell_pattern(folder: Path, size: int = 8 << 20) -> Path:
    """A part of `size` bytes of `<c r="A1" t="e"` with no closing bracket: a scan that lets a
    tag's attributes run on backtracks over the whole of it from every cell."""
    head = _rows_xml([HEADER, [1, 1, "Si", "001"], ['=1/0', 1, "Si", "001"]])
    return write_xlsx(folder / "errors.xlsx", head, padding=size, pad_byte=b'<c r="A1" t="e" ')


def endless_tag(folder: Path, size: int = 64 << 20) -> Path:
    """One tag that never closes, 64 MB long: a chunked scan that waits for its end copies
    it again for every chunk."""
    head = _rows_xml([HEADER, [1, 1, "Si", "001"]]) + '<c r="A3" t="e" x="'
    return write_xlsx(folder / "endless.xlsx", head, padding=size, pad_byte=b"a")


def spanned_ods(folder: Path, count: int = 20_000) -> Path:
    """An .ods of `count` cells each spanning a 1,000 x 26 block below them."""
    table = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
    office = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
    text = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"

    def cell(value: object, extra: str = "") -> str:
        return (f'<table:table-cell office:value-type="string"{extra}><text:p>{value}</text:p>'
                "</table:table-cell>")

    rows = "".join(f"<table:table-row>{''.join(cell(v) for v in row)}</table:table-row>"
                   for row in [HEADER, [1, 1, "Si", "001"]])
    span = ' table:number-columns-spanned="26" table:number-rows-spanned="1000"'
    rows += "".join(f"<table:table-row>{cell(1, span)}</table:table-row>" for _ in range(count))
    content = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="{office}" '
               f'xmlns:table="{table}" xmlns:text="{text}" office:version="1.2"><office:body>'
               f'<office:spreadsheet><table:table table:name="Layers">{rows}</table:table>'
               "</office:spreadsheet></office:body></office:document-content>")
    return _package(folder / "spanned.ods", {
        "mimetype": "application/vnd.oasis.opendocument.spreadsheet", "content.xml": content,
        "META-INF/manifest.xml": _ODS_MANIFEST})


def bomb_named_xls(folder: Path) -> Path:
    """The inflating sheet of `inflating_sheet`, named .xls: bounded as what it is."""
    path = inflating_sheet(folder)
    return path.rename(path.with_suffix(".xls"))


def far_cell_named_xls(folder: Path) -> Path:
    """The far cell of `far_cell`, named .xls."""
    path = far_cell(folder)
    return path.rename(path.with_name("far_named.xls"))


def xls_far_cell(folder: Path) -> Path:
    """An .xls whose one stray cell sits at row 65,536, column 65,536."""
    records = layer_rows_biff([HEADER, [1, 1, "Si", "001"]]) + [biff_number(65535, 65535, 1)]
    return write_xls(folder / "far_cell.xls", [("Layers", records)])


def xls_lying_dimensions(folder: Path) -> Path:
    """An .xls whose DIMENSIONS record claims four billion rows (its first row past its
    last): the reader reserves room for them before reading a cell."""
    records = [biff_dimensions(5, 1, 0, 200)] + layer_rows_biff([HEADER, [1, 1, "Si", "001"]])
    return write_xls(folder / "dimensions.xls", [("Layers", records)])


def xls_sheets_overlapping(folder: Path, count: int = 300) -> Path:
    """An .xls of `count` sheets that all start at the same records (each read again)."""
    rows = layer_rows_biff([HEADER] + [[1, i, "Si", "001"] for i in range(1, 3000)])
    return write_xls(folder / "overlapping.xls", [(f"S{i}", rows) for i in range(count)],
                     same_position=True)


def ole_directory_loop(folder: Path) -> Path:
    """A compound file whose directory's sector chain points back at itself: a reader that
    follows it never ends, its memory growing."""
    path = folder / "loop.xls"
    path.write_bytes(compound_file({"Workbook": b"\x00" * 16}, loop_directory=True))
    return path


def ole_claimed_fat(folder: Path) -> Path:
    """A compound file whose header claims four billion FAT sectors."""
    path = folder / "fat.xls"
    path.write_bytes(compound_file({"Workbook": b"\x00" * 16}, fat_len=0xFFFFFFFF))
    return path


MAKERS: dict[str, Callable[[Path], Path]] = {
    "fifo": fifo, "dev_zero": dev_zero, "dev_null": dev_null,
    "inflating_sheet": inflating_sheet, "inflating_shared_strings": inflating_shared_strings,
    "far_cell": far_cell, "far_cell_other_case": far_cell_other_case,
    "far_cell_workbook_case": far_cell_workbook_case, "far_cell_ten_digits": far_cell_ten_digits,
    "sheet_part_missing": sheet_part_missing, "many_merges": many_merges, "lying_dimension": lying_dimension, "far_ods": far_ods,
    "huge_csv_cell": huge_csv_cell, "long_formula": long_formula,
    "control_characters": control_characters, "wide_sheet": wide_sheet,
    "wide_xlsx": lambda folder: wide_sheet(folder, suffix=".xlsx"), "huge_numbers": huge_numbers,
}


MAKERS.update({
    "two_sheets_one_name": two_sheets_one_name, "relationships_elsewhere": relationships_elsewhere,
    "sheets_sharing_a_part": sheets_sharing_a_part, "claimed_strings": claimed_strings,
    "overlapping_merges": overlapping_merges, "error_cell_pattern": error_cell_pattern,
    "endless_tag": endless_tag, "spanned_ods": spanned_ods, "bomb_named_xls": bomb_named_xls,
    "far_cell_named_xls": far_cell_named_xls, "xls_far_cell": xls_far_cell,
    "xls_lying_dimensions": xls_lying_dimensions, "xls_sheets_overlapping": xls_sheets_overlapping,
    "ole_directory_loop": ole_directory_loop, "ole_claimed_fat": ole_claimed_fat,
})


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "hostile")
    target.mkdir(parents=True, exist_ok=True)
    for name, make in MAKERS.items():
        print(name, make(target))


# ------------------------------------------------------------------------ OLE compound files

_FREE, _END, _FATSECT = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD


def compound_file(streams: dict[str, bytes], *, fat_len: int | None = None,
                  loop_directory: bool = False) -> bytes:
    """A minimal OLE compound file (version 3, 512-byte sectors) holding `streams`, each
    padded to at least 4,096 bytes so that it lives in ordinary sectors. `fat_len` overrides
    the header's count of FAT sectors; `loop_directory` makes the directory's chain point at
    itself."""
    import struct

    names = list(streams)
    streams = {n: streams[n].ljust(4096, b"\x00") for n in names}  # past the mini stream's
    data = [streams[n].ljust(-(-len(streams[n]) // 512) * 512, b"\x00") for n in names]
    sectors = 1 + sum(len(blob) // 512 for blob in data)  # the directory, then the streams
    fat_sectors = 1
    while fat_sectors * 128 < fat_sectors + sectors:
        fat_sectors += 1
    assert fat_sectors <= 109 and len(names) <= 3
    directory_at = fat_sectors
    fat = [_FATSECT] * fat_sectors + [_END if not loop_directory else directory_at]
    starts = []
    for blob in data:
        count = len(blob) // 512
        starts.append(len(fat))
        fat.extend(range(len(fat) + 1, len(fat) + count))
        fat.append(_END)
    fat += [_FREE] * (fat_sectors * 128 - len(fat))

    def entry(name: str, kind: int, start: int, size: int, child: int = _FREE,
              right: int = _FREE) -> bytes:
        encoded = (name + "\x00").encode("utf-16-le")
        raw = encoded.ljust(64, b"\x00") + struct.pack("<HBBIII", len(encoded), kind, 1, _FREE,
                                                          right, child)
        raw = raw.ljust(116, b"\x00") + struct.pack("<II", start, size)
        return raw.ljust(128, b"\x00")

    directory = entry("Root Entry", 5, _END, 0, child=1 if names else _FREE)
    for i, (name, start) in enumerate(zip(names, starts)):
        directory += entry(name, 2, start, len(streams[name]),
                           right=i + 2 if i + 1 < len(names) else _FREE)
    directory = directory.ljust(512, b"\x00")
    header = bytes.fromhex("D0CF11E0A1B11AE1") + b"\x00" * 16 + struct.pack(
        "<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) + b"\x00" * 6 + struct.pack(
        "<IIIIIIIII", 0, fat_sectors if fat_len is None else fat_len, directory_at, 0, 4096,
        _END, 0, _END, 0)
    header += struct.pack(f"<{fat_sectors}I", *range(fat_sectors))
    header += struct.pack("<I", _FREE) * (109 - fat_sectors)
    assert len(header) == 512
    return header + struct.pack(f"<{len(fat)}I", *fat) + directory + b"".join(data)


def _record(kind: int, body: bytes = b"") -> bytes:
    import struct

    return struct.pack("<HH", kind, len(body)) + body


def biff_number(row: int, col: int, value: float) -> bytes:
    import struct

    return _record(0x0203, struct.pack("<HHHd", row, col, 15, value))


def biff_label(row: int, col: int, text: str) -> bytes:
    import struct

    encoded = text.encode("latin-1")
    return _record(0x0204, struct.pack("<HHHHB", row, col, 15, len(encoded), 0) + encoded)


def biff_dimensions(first_row: int, last_row: int, first_col: int, last_col: int) -> bytes:
    import struct

    return _record(0x0200, struct.pack("<IIHHH", first_row, last_row, first_col, last_col, 0))


def biff_workbook(sheets: list[tuple[str, list[bytes]]], *, same_position: bool = False) -> bytes:
    """A BIFF8 workbook stream: globals with one BoundSheet8 per sheet, then each sheet's
    records between BOF and EOF. `same_position`: every BoundSheet8 points at the first sheet."""
    import struct

    bof_globals = _record(0x0809, struct.pack("<HHHHII", 0x0600, 0x0005, 0, 0, 0, 0))
    bof_sheet = _record(0x0809, struct.pack("<HHHHII", 0x0600, 0x0010, 0, 0, 0, 0))
    eof = _record(0x000A)

    def bound(position: int, name: str) -> bytes:
        encoded = name.encode("latin-1")
        return _record(0x0085, struct.pack("<IBBBB", position, 0, 0, len(encoded), 0) + encoded)

    globals_size = len(bof_globals) + sum(len(bound(0, n)) for n, _ in sheets) + len(eof)
    bodies = [bof_sheet + b"".join(records) + eof for _, records in sheets]
    if same_position:
        bodies = bodies[:1]
    positions, at = [], globals_size
    for body in bodies:
        positions.append(at)
        at += len(body)
    positions += [globals_size] * (len(sheets) - len(positions))
    stream = bof_globals + b"".join(bound(p, n) for p, (n, _) in zip(positions, sheets)) + eof
    return stream + b"".join(bodies)


def layer_rows_biff(rows: list[list[object]]) -> list[bytes]:
    out = []
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if isinstance(value, (int, float)):
                out.append(biff_number(r, c, float(value)))
            elif value is not None:
                out.append(biff_label(r, c, str(value)))
    return out


def write_xls(path: Path, sheets: list[tuple[str, list[bytes]]], **options: bool) -> Path:
    path.write_bytes(compound_file({"Workbook": biff_workbook(sheets, **options)}))
    return path
