"""Reading CSV / TSV / TXT: delimiters, encodings, exact text."""

from __future__ import annotations

from pathlib import Path

import pytest

from layer_sync.read.stacks import read_stacks

ROWS = [("sample_id", "layer_id", "composition_string", "element_dict", "orientation"),
        ("42", "1", "BaTiO3", "Ba:1, Ti:1, O:3", "001"),
        ("42", "2.0", "SrTiO3", "", "(1 -1 0)")]


def _write(path: Path, delimiter: str, encoding: str = "utf-8", bom: bool = False,
           rows=ROWS) -> Path:
    import csv
    import io

    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    data = buffer.getvalue().encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


@pytest.mark.parametrize("suffix,delimiter", [(".csv", ","), (".csv", ";"), (".csv", "\t"),
                                              (".tsv", "\t"), (".txt", ";"), (".txt", ",")])
def test_delimiters_are_sniffed(tmp_path, suffix, delimiter):
    data = read_stacks(_write(tmp_path / f"s{suffix}", delimiter))
    assert data.delimiter == delimiter
    assert [r.values["layer_id"] for r in data.rows] == [1, 2]
    assert data.rows[0].values["element_dict"] == {"Ba": 1, "Ti": 1, "O": 3}
    assert data.rows[1].values["orientation"] == "1-10"
    assert data.issues == []


def test_bom_and_semicolons_european_excel(tmp_path):
    data = read_stacks(_write(tmp_path / "eu.csv", ";", bom=True))
    assert data.encoding == "utf-8-sig"
    assert data.columns["sample_id"] == "sample_id"  # the BOM is not part of the first header
    assert data.rows[0].values["sample_id"] == 42


def test_cp1252_falls_back_with_a_warning(tmp_path):
    rows = [("Sample", "Layer", "Formula"), ("Probe Müller", "1", "BaTiO3")]
    data = read_stacks(_write(tmp_path / "win.csv", ",", encoding="cp1252", rows=rows))
    assert data.encoding == "cp1252"
    assert data.rows[0].values["sample_name"] == "Probe Müller"
    (issue,) = data.issues
    assert issue.severity == "warning" and "cp1252" in issue.message


def test_text_stays_exactly_as_typed(tmp_path):
    rows = [("sample_id", "layer_id", "orientation", "mp_id", "Notes"),
            ("1", "1", "001", "mp-0149", "nan"), ("1", "2", "0001", "mp-1", "=1+2")]
    data = read_stacks(_write(tmp_path / "t.csv", ",", rows=rows))
    assert [r.values["orientation"] for r in data.rows] == ["001", "0001"]
    assert data.rows[0].values["mp_id"] == "mp-0149"
    assert [r.extra["Notes"] for r in data.rows] == ["nan", "=1+2"]


def test_lost_zeros_in_a_csv_are_still_caught(tmp_path):
    # A CSV saved from a sheet where 001 had become 1.
    rows = [("sample_id", "layer_id", "orientation"), ("1", "1", "1"), ("1", "2", "-1")]
    data = read_stacks(_write(tmp_path / "z.csv", ",", rows=rows))
    note, *cells = data.issues
    # Once for the file: what a spreadsheet program does to a CSV, and the two ways out.
    assert note.row is None and note.severity == "warning" and ".xlsx" in note.message
    assert "2 orientations in this CSV" in note.message and "imported as text" in note.message
    # Then each cell, with what it may have been and no single value proposed (offline).
    assert "leading zeros (001 and 0001 both become 1)" in cells[0].message
    assert "accounting negative" in cells[1].message and "type 0" not in cells[0].message
    assert [c.cell for c in cells] == ["C2", "C3"]
    assert not any(r.valid for r in data.rows)


def test_quoted_fields_with_delimiters_inside(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('sample_id;layer_id;element_dict\n1;1;"Ba:1; Ti:1; O:3"\n', encoding="utf-8")
    data = read_stacks(path)
    assert data.rows[0].values["element_dict"] == {"Ba": 1, "Ti": 1, "O": 3}


def test_title_rows_and_blank_separators_in_csv(tmp_path):
    path = tmp_path / "title.csv"
    path.write_text("Target stacks 2026\n\nSample,Layer,Formula\nA,1,Si\n,2,SrTiO3\n\n"
                    ",1,Si\nB,1,MgO\n", encoding="utf-8")
    data = read_stacks(path)
    assert data.header_row == 3
    assert [(r.row, r.values.get("sample_name")) for r in data.rows] == [
        (4, "A"), (5, "A"), (7, None), (8, "B")]


def test_the_apostrophe_guarding_a_formula_like_cell_is_removed(tmp_path):
    """A CSV export guards cells a spreadsheet would run (=, +, -, @, tab, CR) with a leading
    apostrophe; reading removes it again, so export then sync writes nothing."""
    path = tmp_path / "export.csv"
    path.write_text("sample_id,layer_id,composition_string,orientation,notes,more\n"
                    "1,1,'+SrTiO3,'-110,'=HYPERLINK(\"x\"),'@sum\n"
                    "1,2,Si,001,'plain,''plain\n"
                    "1,3,Si,001,''=x,'''-1\n", encoding="utf-8")
    data = read_stacks(path)
    first, second, third = data.rows
    assert first.raw["composition_string"] == "+SrTiO3"
    assert first.values["orientation"] == "-110"
    assert first.extra == {"notes": '=HYPERLINK("x")', "more": "@sum"}
    # Apostrophes that guard nothing are the technician's own, and stay.
    assert second.extra == {"notes": "'plain", "more": "''plain"}
    # Apostrophes before a guarded start: one is the guard (an exported '=x reads back as '=x).
    assert third.extra == {"notes": "'=x", "more": "''-1"}


def test_a_ten_megabyte_cell_is_one_clear_error(tmp_path):
    from layer_sync.core.errors import InputFileError

    path = tmp_path / "big.csv"
    path.write_text("sample_id,layer_id,notes\n1,1," + "x" * (10 << 20) + "\n")
    with pytest.raises(InputFileError, match="line 2.*32,767 characters"):
        read_stacks(path)


def test_a_column_with_values_but_no_header_is_kept_by_its_letter(tmp_path):
    """Its values are the row's (the report shows every column as read) and it is named
    among the columns not used; a blank column with nothing in it is not."""
    path = tmp_path / "lab.csv"
    path.write_text("sample_id,layer_id,,composition_string,\n"
                    "1,1,grown at 700C,BaTiO3,\n"
                    "1,2,,SrTiO3,\n", encoding="utf-8")
    data = read_stacks(path)
    assert data.ignored_columns == ["column C"]
    assert [row.extra for row in data.rows] == [{"column C": "grown at 700C"}, {"column C": ""}]
    assert [h for h in data.headers if h] == ["sample_id", "layer_id", "column C",
                                              "composition_string"]


@pytest.mark.parametrize("column,cells,warned", [
    ("Film", ["BaTiO3", "SrTiO3", "La0.7Sr0.3MnO3"], True),
    ("Film", ["BaTiO3", "SrTiO3", "LaAlQ3"], True),  # one typo among formulas: still formulas
    ("Notes", ["grown at 700C", "second try", "BaTiO3 cap"], False),
    ("Buffer", ["Si", "Si", "Ge"], False),  # single elements: as likely a note as a formula
])
def test_an_unused_column_of_formulas_is_pointed_out_when_the_sheet_has_no_composition(
        tmp_path, column, cells, warned):
    path = tmp_path / "lab.csv"
    path.write_text(f"sample_id,layer_id,{column},orientation\n"
                    + "".join(f"1,{i},{c},001\n" for i, c in enumerate(cells, start=1)),
                    encoding="utf-8")
    data = read_stacks(path)
    found = [i for i in data.issues if "no composition_string column" in i.message]
    assert bool(found) == warned
    if warned:
        (issue,) = found
        assert issue.severity == "warning" and issue.cell == "C1" and issue.row == 1
        assert f"[columns] \"{column}\" = \"composition_string\"" in issue.message
        assert "BaTiO3" in issue.message
        # Mapped, the column is read and no longer pointed out.
        mapped = read_stacks(path, columns={column: "composition_string"})
        assert not [i for i in mapped.issues if "no composition_string column" in i.message]


def test_a_problem_with_a_value_taken_from_the_row_above_names_the_cell_it_was_typed_in(tmp_path):
    path = tmp_path / "lab.csv"
    path.write_text("sample_id,layer_id,composition_string\n"
                    "x1,1,BaTiO3\n"
                    ",2,SrTiO3\n"
                    ",3,MgO\n", encoding="utf-8")
    data = read_stacks(path)
    found = [(i.row, i.cell) for i in data.issues if i.column == "sample_id"]
    assert found == [(2, "A2"), (3, "A2"), (4, "A2")]
    assert data.rows[2].cells["layer_id"] == "B4"  # its own values stay at its own cells


# ------------------------------------------------------------ one encoding throughout (issue 18)

from layer_sync.core.errors import InputFileError

_LAB = ("sample_name,substrate,layer_id,composition_string,orientation,notes\n"
        "Übergitter BTO/STO – Charge 7,SrTiO3,1,BaTiO3,001,grown at 700 °C\n"
        "Übergitter BTO/STO – Charge 7,SrTiO3,2,SrTiO3,001,\n")


def test_utf8_with_one_stray_windows_1252_byte_is_refused_at_that_byte(tmp_path):
    # The attack: a UTF-8 sheet, one ° typed in a notes column by a Windows program.
    data = _LAB.encode().replace("°".encode(), "°".encode("cp1252"))
    path = tmp_path / "mixed.csv"
    path.write_bytes(data)
    with pytest.raises(InputFileError, match=r"not in one encoding throughout: line 2, "
                       r"column 64 holds the byte 0xB0"):
        read_stacks(path)


def test_a_whole_windows_1252_file_still_reads_with_its_warning(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(_LAB.encode("cp1252"))
    data = read_stacks(path)
    assert data.encoding == "cp1252"
    assert data.rows[0].values["sample_name"] == "Übergitter BTO/STO – Charge 7"
    assert any("cp1252" in i.message for i in data.file_issues)


def test_latin1_control_bytes_are_refused_where_they_are(tmp_path):
    path = tmp_path / "control.csv"
    path.write_bytes(_LAB.encode("cp1252").replace(b"700", b"7\x810"))
    with pytest.raises(InputFileError, match=r"line 2, column 61 holds the byte 0x81"):
        read_stacks(path)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-8-sig"])
def test_a_byte_order_mark_decides_the_encoding(tmp_path, encoding):
    # Excel's "Unicode Text" is UTF-16 with its mark, tab-separated.
    path = tmp_path / "unicode.txt"
    path.write_bytes(_LAB.replace(",", "\t").encode(encoding))
    data = read_stacks(path)
    assert data.rows[0].values["sample_name"] == "Übergitter BTO/STO – Charge 7"
    assert data.file_issues == [] and data.delimiter == "\t"


def test_utf16_that_breaks_off_is_refused(tmp_path):
    path = tmp_path / "cut.csv"
    path.write_bytes(_LAB.encode("utf-16") + b"\x00\xd8")  # half a surrogate pair
    with pytest.raises(InputFileError, match="not in one encoding throughout"):
        read_stacks(path)


def test_mixed_line_endings_read_the_same_rows(tmp_path):
    lines = _LAB.encode().split(b"\n")
    path = tmp_path / "endings.csv"
    path.write_bytes(lines[0] + b"\r\n" + lines[1] + b"\r" + lines[2] + b"\n")
    data = read_stacks(path)
    assert [r.values["layer_id"] for r in data.rows] == [1, 2]
    assert data.rows[0].extra == {"notes": "grown at 700 °C"}
