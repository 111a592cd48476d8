"""Reading workbooks as technicians write them: layout, merged cells, what Excel does to values."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest

from layer_sync.plan.build import build_plan
from layer_sync.read.rows import sheet_duplicates
from layer_sync.read.stacks import read_stacks

DATA = Path(__file__).parent / "data"
HEADER = ["sample_id", "layer_id", "composition_string", "orientation"]


def _book(path: Path, rows: list[list], title: str = "Layers", extra_sheets: int = 0, edit=None) -> Path:
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = title
    for row in rows:
        ws.append(row)
    if edit:
        edit(ws)
    for i in range(extra_sheets):
        book.create_sheet(f"Other{i}")
    book.save(path)
    return path


def _key(data):
    return [(r.row, r.values.get("sample_id"), r.values.get("sample_name"), r.values.get("layer_id"),
             r.values.get("composition_string"), r.values.get("orientation"),
             r.values.get("space_group"), r.values.get("mp_id")) for r in data.rows]


def test_clean_workbook_rows_keep_their_source(tmp_path):
    data = read_stacks(_book(tmp_path / "a.xlsx", [HEADER, [42, 1, "BaTiO3", "001"], [42, 2, "SrTiO3", "111"]]))
    assert data.sheet == "Layers" and data.header_row == 1
    assert [(r.sheet, r.row, r.values["layer_id"]) for r in data.rows] == [("Layers", 2, 1), ("Layers", 3, 2)]
    assert data.rows[0].cells["orientation"] == "D2"
    assert data.issues == []


def test_same_stacks_in_every_format_read_to_the_same_rows():
    """The issue's 'done when': clean CSV, technician's workbook, European CSV, LibreOffice files."""
    expected = _key(read_stacks(DATA / "technician.xlsx"))
    assert len(expected) == 5
    for name in ("technician.ods", "technician.xls", "technician_libreoffice.xlsx",
                 "technician_european.csv"):
        assert _key(read_stacks(DATA / name)) == expected, name
    clean = read_stacks(DATA / "technician_clean.csv")
    assert [k[1:] for k in _key(clean)] == [k[1:] for k in expected]


def test_title_rows_aliases_and_unknown_columns(tmp_path):
    rows = [["Target stacks, growth lab"], ["updated by hand"], [],
            ["Sample ID", "Layer #", "Chemical Formula", "Miller Index", "SG", "MP ID", "Notes", "Elements"],
            [7, 1, "BaTiO3", "001", "P4mm", "mp-5020", "first", "Ba:1, Ti:1, O:3"]]
    data = read_stacks(_book(tmp_path / "t.xlsx", rows))
    assert data.header_row == 4
    assert data.columns == {"sample_id": "Sample ID", "layer_id": "Layer #",
                            "composition_string": "Chemical Formula", "orientation": "Miller Index",
                            "space_group": "SG", "mp_id": "MP ID", "element_dict": "Elements"}
    assert data.ignored_columns == ["Notes"]
    assert data.rows[0].row == 5 and data.rows[0].extra == {"Notes": "first"}


@pytest.mark.parametrize("header,name", [
    ("Sample ID", "sample_id"), ("sample_id", "sample_id"), ("Sample", "sample_name"),
    ("Sample Name", "sample_name"), ("Target Material", "sample_name"), ("Substrate", "substrate"),
    ("Layer", "layer_id"), ("Layer #", "layer_id"), ("Layer ID", "layer_id"), ("Layer No", "layer_id"),
    ("Layer No.", "layer_id"), ("Position", "layer_id"), ("Composition", "composition_string"),
    ("Formula", "composition_string"), ("Chemical Formula", "composition_string"),
    ("Element Dict", "element_dict"), ("Elements", "element_dict"), ("Orientation", "orientation"),
    ("Miller Index", "orientation"), ("Space Group", "space_group"), ("SG", "space_group"),
    ("MP ID", "mp_id"), ("Materials Project ID", "mp_id"), ("  LAYER_ID ", "layer_id"),
])
def test_header_aliases(header, name):
    from layer_sync.read.headers import field_for_header

    assert field_for_header(header) == name


def test_header_not_in_first_20_rows_is_an_input_error(tmp_path):
    from layer_sync.core.errors import InputFileError

    rows = [["title"]] * 20 + [HEADER, [1, 1, "Si", "001"]]
    with pytest.raises(InputFileError, match="no recognisable header"):
        read_stacks(_book(tmp_path / "late.xlsx", rows))


def test_header_without_required_columns_names_what_it_found(tmp_path):
    from layer_sync.core.errors import InputFileError

    with pytest.raises(InputFileError, match=r"'Formula' \(composition_string\)"):
        read_stacks(_book(tmp_path / "nolayer.xlsx", [["Sample ID", "Formula"], [1, "Si"]]))


def test_merged_cells_and_blank_rows_fill_down_within_a_stack(tmp_path):
    rows = [["Sample", "Substrate", "Sample ID", "Layer", "Formula", "Orientation"],
            ["BTO/STO", "SrTiO3", 42, 1, "SrTiO3", "001"],
            [None, None, None, 2, "BaTiO3", "001"],
            [None, None, None, 3, "SrRuO3", "001"],
            [],
            [None, None, None, 1, "Si", "001"],  # a new stack without sample: not filled
            ["LSMO", "LaAlO3", 43, 1, "La0.7Sr0.3MnO3", "110"],
            [None, None, None, 2, "LaAlO3", "001"]]

    def merge(ws):
        ws.merge_cells("A2:A4")
        ws.merge_cells("E7:E8")  # a merged non-sample cell fills down too

    data = read_stacks(_book(tmp_path / "m.xlsx", rows, edit=merge))
    got = [(r.row, r.values.get("sample_id"), r.values.get("sample_name"), r.values.get("substrate"),
            r.values.get("composition_string")) for r in data.rows]
    assert got == [(2, 42, "BTO/STO", "SrTiO3", "SrTiO3"), (3, 42, "BTO/STO", "SrTiO3", "BaTiO3"),
                   (4, 42, "BTO/STO", "SrTiO3", "SrRuO3"), (6, None, None, None, "Si"),
                   (7, 43, "LSMO", "LaAlO3", "La0.7Sr0.3MnO3"), (8, 43, "LSMO", "LaAlO3", "La0.7Sr0.3MnO3")]
    lonely = data.rows[3]
    assert not lonely.valid and "sample_id or sample_name" in lonely.errors[0].message
    assert [r.stack for r in data.rows] == [0, 0, 0, 1, 1, 1]


def test_values_arrive_as_the_cell_stores_them(tmp_path):
    def edit(ws):
        ws["D3"] = -1
        ws["D3"].number_format = "#,##0_);(#,##0)"
        ws["D4"] = dt.datetime(2026, 1, 10)
        ws["D4"].number_format = "d-mmm"
        ws["D5"].number_format = "@"

    rows = [HEADER, [1, 1.0, "BaTiO3", 1], [1, 2, "BaTiO3", None], [1, 3, "BaTiO3", None],
            [1, 4, "BaTiO3", "001"]]
    data = read_stacks(_book(tmp_path / "v.xlsx", rows, edit=edit))
    by_row = {i.cell: i for i in data.issues}
    assert data.rows[0].values["layer_id"] == 1  # 1.0 is 1
    assert "leading zeros" in by_row["D2"].message and by_row["D2"].value == "1"
    assert "accounting negative" in by_row["D3"].message and by_row["D3"].value == "-1"
    assert "date" in by_row["D4"].message
    assert data.rows[3].values["orientation"] == "001"
    assert all(i.severity == "error" and i.sheet == "Layers" and i.column == "orientation"
               for i in by_row.values())
    assert [r.valid for r in data.rows] == [False, False, False, True]


def test_formula_results_are_read_and_formulas_without_results_are_issues(tmp_path):
    path = DATA / "technician_libreoffice.xlsx"  # LibreOffice stores results: nothing to flag
    assert read_stacks(path).issues == []
    rows = [HEADER, [1, 1, "BaTiO3", "001"], [1, "=B2+1", "SrTiO3", "001"]]
    data = read_stacks(_book(tmp_path / "f.xlsx", rows))  # openpyxl stores no result
    issue = data.rows[1].errors[0]
    assert issue.cell == "B3" and "formula with no stored result" in issue.message


@pytest.mark.parametrize("name", ["formula_errors_libreoffice.xlsx",
                                  "formula_errors_libreoffice.ods",
                                  "formula_errors_libreoffice.xls"])
def test_a_cell_showing_a_formula_error_is_an_error_never_a_blank_cell(name):
    """calamine reads a cell showing #NAME? as blank: a layer would be sent without its
    formula. Found in the file itself, it is an error at its cell."""
    data = read_stacks(DATA / name)
    assert [(i.cell, i.value) for i in data.issues] == [("C2", "#NAME?"), ("C3", "#DIV/0!"),
                                                        ("D4", "#N/A")]
    assert all(i.severity == "error" and "its formula failed" in i.message for i in data.issues)
    assert not any(r.valid for r in data.rows)


def test_an_error_value_written_without_a_formula_is_an_error_too(tmp_path):
    def edit(ws):
        ws["C3"] = "#REF!"  # openpyxl stores a known error code as an error cell (t="e")
        assert ws["C3"].data_type == "e"

    data = read_stacks(_book(tmp_path / "e.xlsx", [HEADER, [1, 1, "BaTiO3", "001"],
                                                   [1, 2, "SrTiO3", "001"]], edit=edit))
    (issue,) = data.issues
    assert issue.cell == "C3" and issue.value == "#REF!" and data.rows[0].valid
    # The same sheet with its cells written without addresses (read by the XML parser).
    plain = tmp_path / "plain.xlsx"
    with zipfile.ZipFile(tmp_path / "e.xlsx") as source, zipfile.ZipFile(plain, "w") as target:
        for item in source.infolist():
            part = source.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                part = re.sub(rb' r="[A-Z]+[0-9]+"', b"", part)
            target.writestr(item, part)
    assert [(i.cell, i.value) for i in read_stacks(plain).issues] == [("C3", "#REF!")]


def test_formulas_with_stored_results_read_as_their_value():
    # Saved by LibreOffice: layer numbers typed as =D5+1 read as their results.
    data = read_stacks(DATA / "formulas_libreoffice.xlsx")
    assert [r.values["layer_id"] for r in data.rows] == [1, 2, 3]
    assert data.issues == []


def test_text_that_looks_like_a_formula_stays_text(tmp_path):
    def edit(ws):
        ws["E2"] = '=HYPERLINK("http://lab/wiki")'
        ws["E2"].data_type = "s"

    data = read_stacks(_book(tmp_path / "h.xlsx", [[*HEADER, "Link"], [1, 1, "Si", "001"]], edit=edit))
    assert data.rows[0].extra == {"Link": '=HYPERLINK("http://lab/wiki")'}
    assert data.issues == []


def test_sheet_option_and_default_first_sheet_with_a_header(tmp_path):
    book = openpyxl.Workbook()
    book.active.title = "Cover"
    book.active.append(["Read me first"])
    ws = book.create_sheet("Stacks")
    ws.append(HEADER)
    ws.append([1, 1, "Si", "001"])
    other = book.create_sheet("Old")
    other.append(HEADER)
    other.append([2, 1, "Si", "001"])
    path = tmp_path / "s.xlsx"
    book.save(path)
    assert read_stacks(path).sheet == "Stacks"
    assert read_stacks(path, sheet="Old").rows[0].values["sample_id"] == 2
    from layer_sync.core.errors import InputFileError

    with pytest.raises(InputFileError, match="no sheet 'Nope'.*'Cover', 'Stacks', 'Old'"):
        read_stacks(path, sheet="Nope")


def test_duplicate_keys_make_every_such_row_invalid(tmp_path):
    rows = [["Sample", "Layer", "Formula"], ["A", 1, "Si"], ["A", 2, "Si"], ["A", 1.0, "SrTiO3"]]
    data = read_stacks(_book(tmp_path / "d.xlsx", rows))
    issues = sheet_duplicates(data.rows)  # the plan's one duplicate rule, on the sheet's keys
    assert [(i.row, i.severity) for i in issues] == [(2, "error"), (4, "error")]
    assert "rows 2, 4" in issues[0].message
    assert [a.valid for a in build_plan(data, [], create_samples=True).actions] == [False, True, False]


def test_gap_in_layer_ids_is_a_warning(tmp_path):
    rows = [HEADER, [1, 1, "Si", "001"], [1, 2, "Si", "001"], [1, 4, "Si", "001"]]
    data = read_stacks(_book(tmp_path / "g.xlsx", rows))
    assert all(r.valid for r in data.rows)
    (issue,) = data.issues
    assert issue.severity == "warning" and issue.cell == "B4" and "layer 3 missing" in issue.message


def _two_sheets(path: Path, names=("Stacks", "Old"), ids=(1, 1)) -> Path:
    book = openpyxl.Workbook()
    book.active.title = "Cover"
    book.active.append(["Read me first"])
    for name, sample in zip(names, ids):
        ws = book.create_sheet(name)
        ws.append(HEADER)
        ws.append([sample, 1, "Si", "001"])
    book.save(path)
    return path


def test_other_sheets_with_a_header_are_named_in_a_warning(tmp_path):
    data = read_stacks(_two_sheets(tmp_path / "w.xlsx"))
    assert data.sheet == "Stacks" and data.sheets == ["Stacks"]
    (issue,) = data.file_issues
    assert issue.severity == "warning" and "'Old'" in issue.message
    assert "--sheet NAME" in issue.message and "--all-sheets" in issue.message


def test_sheets_are_named_ignoring_case_one_or_several(tmp_path):
    path = _two_sheets(tmp_path / "n.xlsx", ids=(1, 2))
    assert read_stacks(path, sheet="stacks").sheets == ["Stacks"]
    data = read_stacks(path, sheet=["OLD", "stacks"])
    assert data.sheets == ["Old", "Stacks"] and data.sheet == "Old, Stacks"
    assert [(r.sheet, r.values["sample_id"]) for r in data.rows] == [("Old", 2), ("Stacks", 1)]
    assert data.file_issues == []


def test_all_sheets_reads_every_sheet_with_a_header_and_finds_duplicates_across_them(tmp_path):
    data = read_stacks(_two_sheets(tmp_path / "a.xlsx"), all_sheets=True)
    assert data.sheets == ["Stacks", "Old"]  # Cover has no header: not read
    assert [r.sheet for r in data.rows] == ["Stacks", "Old"]
    assert [r.stack for r in data.rows] == [0, 1]
    issues = sheet_duplicates(data.rows)
    assert [(i.sheet, i.row) for i in issues] == [("Stacks", 2), ("Old", 2)]
    assert all("Stacks row 2, Old row 2" in i.message for i in issues)


def test_a_layer_sync_report_is_refused_as_input(tmp_path):
    from layer_sync.core.errors import InputFileError

    book = openpyxl.Workbook()
    summary = book.active
    summary.title = "Summary"
    summary.append(["layer-sync report"])
    summary.append(["Input file", "/lab/stacks.xlsx"])
    rows = book.create_sheet("Rows")
    rows.append(["sheet", "row", "sample_id", "layer_id"])
    rows.append(["Layers", 2, 1, 1])
    book.create_sheet("Issues")
    path = tmp_path / "layer-sync_stacks_20261125-101010.xlsx"
    book.save(path)
    with pytest.raises(InputFileError, match=r"a layer-sync report, not a layer sheet; sync the "
                       r"original sheet \(/lab/stacks.xlsx\)"):
        read_stacks(path)


def test_composition_contradicting_element_dict_is_an_error(tmp_path):
    rows = [["Sample ID", "Layer", "Formula", "Elements"], [1, 1, "BaTiO3", "Sr:1, Ti:1, O:3"]]
    data = read_stacks(_book(tmp_path / "c.xlsx", rows))
    assert not data.rows[0].valid  # either half sent alone would leave wrong chemistry
    assert data.issues[0].severity == "error" and data.issues[0].cell == "D2"


def test_xlsm_and_hidden_columns(tmp_path):
    """A hidden column is read like any other: hiding is how a sheet looks, not what it says."""
    def hide(ws):
        ws.column_dimensions["C"].hidden = True  # composition_string
        ws.column_dimensions["E"].hidden = True  # an unrecognised column

    path = _book(tmp_path / "m.xlsx", [[*HEADER, "Notes"], [1, 1, "Si", "001", "kept"]], edit=hide)
    xlsm = path.with_suffix(".xlsm")
    path.rename(xlsm)
    book = openpyxl.load_workbook(xlsm)
    assert book.active.column_dimensions["C"].hidden  # the file really has a hidden column
    data = read_stacks(xlsm)
    assert data.rows[0].values["composition_string"] == "Si"
    assert data.columns["composition_string"] == "composition_string"
    assert data.ignored_columns == ["Notes"] and data.rows[0].extra == {"Notes": "kept"}


@pytest.mark.parametrize("header,name", [
    ("Composition (formula)", "composition_string"), ("Orientation (hkl)", "orientation"),
    ("Layer # (from substrate)", "layer_id"), ("Space group (H-M)", "space_group"),
    ("Orientation: hkl", "orientation"), ("Layer Nr.", "layer_id"), ("Position No.", "layer_id"),
    ("Formula [as grown]", "composition_string"), ("MP ID (Materials Project)", "mp_id"),
    ("Sample (ID)", "sample_id"), ("Substrate {material}", "substrate"),
])
def test_header_hints_in_brackets_or_after_a_colon_are_ignored(header, name):
    from layer_sync.read.headers import field_for_header

    assert field_for_header(header) == name


def test_headers_with_hints_are_read(tmp_path):
    rows = [["Sample ID", "Layer # (from substrate)", "Composition (formula)", "Orientation (hkl)",
             "Space group (H-M)", "Thickness (nm)"], [7, 1, "SrTiO3", "001", "Pm-3m", 20]]
    data = read_stacks(_book(tmp_path / "hints.xlsx", rows))
    assert set(data.columns) == {"sample_id", "layer_id", "composition_string", "orientation",
                                 "space_group"}
    assert data.ignored_columns == ["Thickness (nm)"]
    assert data.rows[0].values["composition_string"] == "SrTiO3"


def test_two_columns_for_one_field_are_refused_naming_both(tmp_path):
    from layer_sync.core.errors import InputFileError

    rows = [["Sample ID", "Layer", "Formula", "Notes", "Composition"], [1, 1, "Si", "", "Ge"]]
    with pytest.raises(InputFileError, match=r"two composition_string columns: 'Formula' \(column C\) "
                       r"and 'Composition' \(column E\)"):
        read_stacks(_book(tmp_path / "two.xlsx", rows))


def test_a_column_like_a_known_one_is_a_near_miss_warning(tmp_path):
    rows = [["Sample ID", "Layer", "Orientaton", "Notes"], [1, 1, "001", "x"]]
    data = read_stacks(_book(tmp_path / "typo.xlsx", rows))
    assert data.near_misses == [("Orientaton", "orientation")]
    assert data.ignored_columns == ["Orientaton", "Notes"]
    (issue,) = data.file_issues
    assert issue.severity == "warning" and issue.cell == "C1"
    assert "'Orientaton'" in issue.message and "orientation" in issue.message


def test_merged_cells_in_an_ods_saved_by_libreoffice_fill_down():
    data = read_stacks(DATA / "merged_libreoffice.ods")
    assert [(r.values.get("sample_id"), r.values["layer_id"], r.values.get("composition_string"))
            for r in data.rows] == [(7, 1, "SrTiO3"), (7, 2, "BaTiO3"), (7, 3, "BaTiO3")]
    assert data.issues == []


def test_formulas_without_results_past_column_z_are_found(tmp_path):
    header = ["sample_id", "layer_id", *[f"note {i}" for i in range(26)], "orientation"]
    rows = [header, [1, 1, *["x"] * 26, "001"], [1, "=B2+1", *["x"] * 26, "=AC2"]]
    data = read_stacks(_book(tmp_path / "wide.xlsx", rows))
    assert sorted(e.cell for e in data.rows[1].errors) == ["AC3", "B3"]
    assert data.rows[0].valid


def _unaddressed(values: list) -> str:
    # Cells without their r="A1" address: allowed by the format, placed one after another.
    return "".join(f"<c><v>{v}</v></c>" if isinstance(v, int) else
                   f'<c t="inlineStr"><is><t>{v}</t></is></c>' for v in values)


def test_cells_without_addresses_are_read_and_bounded(tmp_path):
    from layer_sync.core.errors import InputFileError
    from tests import hostile

    head = f'<row r="1">{_unaddressed(HEADER)}</row><row r="2">{_unaddressed([7, 1, "Si", "001"])}</row>'
    data = read_stacks(hostile.write_xlsx(tmp_path / "plain.xlsx", head))
    assert [(r.row, r.values["sample_id"], r.values["orientation"]) for r in data.rows] == [(2, 7, "001")]
    far = f'<row r="1048576">{_unaddressed([1] * 10)}</row>'
    with pytest.raises(InputFileError, match=r"reaches cell J1048576"):
        read_stacks(hostile.write_xlsx(tmp_path / "far.xlsx", head, far))


def test_a_strict_ooxml_workbook_reads_as_the_reader_reads_it(tmp_path):
    """Workbooks calamine reads were refused ("the part cannot be found") when their parts
    were named in the Strict namespace or in another folder (issue 18): the sheets are found
    along the reader's own path."""
    from tests import hostile

    strict = "http://purl.oclc.org/ooxml/spreadsheetml/main"
    path = hostile.relationships_elsewhere(tmp_path)  # its reader's folder: book/
    import zipfile

    with zipfile.ZipFile(path) as archive:
        parts = {n: archive.read(n) for n in archive.namelist()}
    body = hostile._rows_xml([hostile.HEADER, [7, 1, "Si", "001"]])
    parts["book/worksheets/sheet1.xml"] = hostile._sheet_xml(body).replace(
        hostile._MAIN, strict).encode()
    parts["book/workbook.xml"] = parts["book/workbook.xml"].replace(hostile._MAIN.encode(),
                                                                    strict.encode())
    hostile._package(path, parts)
    (row,) = read_stacks(path).rows
    assert (row.values["sample_id"], row.values["orientation"]) == (7, "001")
