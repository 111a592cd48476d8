"""Unusable files end in one clear line and exit code 2, never a traceback; and no input makes
the reader raise anything but the project's own error (property-based)."""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layer_sync.cli import main
from layer_sync.core.errors import InputFileError
from layer_sync.read.stacks import read_stacks

from .conftest import dead_url


def _encrypted_xlsx(path: Path) -> Path:
    # An encrypted OOXML workbook is an OLE compound file, whatever its extension says, whose
    # directory holds the encryption's streams instead of a workbook stream.
    from tests import hostile

    path.write_bytes(hostile.compound_file({"EncryptionInfo": b"\x04\x00\x04\x00",
                                            "EncryptedPackage": b"\x00" * 5000}))
    return path


def _mk(path: Path, data: bytes | str | None = None) -> Path:
    if data is None:
        path.mkdir()
    elif isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)
    return path


def _fifo(path: Path) -> Path:
    import os

    os.mkfifo(path)
    return path


def _link(path: Path, target: str) -> Path:
    path.symlink_to(target)
    return path


CASES = {
    "missing": (lambda p: p / "nope.xlsx", "does not exist"),
    "folder": (lambda p: _mk(p / "dir.csv"), "folder"),
    "named pipe": (lambda p: _fifo(p / "pipe.csv"), "named pipe"),
    "device": (lambda p: _link(p / "zero.csv", "/dev/zero"), "device"),
    "empty csv": (lambda p: _mk(p / "e.csv", b""), "empty"),
    "blank csv": (lambda p: _mk(p / "b.csv", "\n \n"), "empty"),
    "empty xlsx": (lambda p: _mk(p / "e.xlsx", b""), "empty"),
    "not a spreadsheet": (lambda p: _mk(p / "n.pdf", b"%PDF"), "not a spreadsheet"),
    "corrupt xlsx": (lambda p: _mk(p / "c.xlsx", b"PK\x03\x04 broken"), "cannot be read"),
    "text named xlsx": (lambda p: _mk(p / "t.xlsx", "a,b\n1,2"), "not a .xlsx workbook"),
    "password": (lambda p: _encrypted_xlsx(p / "locked.xlsx"), "password-protected"),
    "workbook named csv": (lambda p: _mk(p / "w.csv", b"PK\x03\x04xx"), "rename it"),
    "utf16 csv": (lambda p: _mk(p / "u.csv", "a,b\n".encode("utf-16-le")), "UTF-16"),
    "no header csv": (lambda p: _mk(p / "h.csv", "x,y\n1,2\n"), "no recognisable header"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_unusable_file_is_one_line_and_exit_2(tmp_path, name, capsys):
    make, words = CASES[name]
    path = make(tmp_path)
    with pytest.raises(InputFileError, match=words):
        read_stacks(path)
    out, err = io.StringIO(), io.StringIO()
    code = main(["sync", str(path), "--api-url", dead_url("read-errors"), "--report", str(tmp_path / "r.xlsx")],
                environ={"ATOMSCALE_API_KEY": "k"}, stdout=out, stderr=err)
    assert code == 2
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("layer-sync: error:") and words in lines[0]
    assert "Traceback" not in err.getvalue()
    assert not (tmp_path / "r.xlsx").exists()


def test_empty_workbook_has_no_header(tmp_path):
    path = tmp_path / "blank.xlsx"
    openpyxl.Workbook().save(path)
    with pytest.raises(InputFileError, match="no recognisable header"):
        read_stacks(path)


def test_input_file_is_never_written(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("sample_id,layer_id\n1,1\n")
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    read_stacks(path)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


cells = st.one_of(st.none(), st.text(max_size=12), st.integers(-10**6, 10**6),
                  st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                  st.dates(), st.datetimes())
# A header the reader must find: the required columns, then others in any order (each once:
# two columns for one field are refused, see test_read_excel).
headers = st.lists(st.sampled_from(["Sample", "Formula", "Miller Index", "SG", "MP ID", "Elements",
                                    "Substrate", "junk", ""]), unique=True, max_size=7).flatmap(
    lambda extra: st.permutations(["sample_id", "Layer #", *extra]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=headers, rows=st.lists(st.lists(cells, max_size=9), max_size=8))
def test_any_workbook_reads_or_fails_with_our_error(tmp_path, header, rows):
    book = openpyxl.Workbook()
    ws = book.active
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    ws.append(header)
    for row in rows:  # control characters cannot be stored in a workbook at all
        ws.append([ILLEGAL_CHARACTERS_RE.sub("", c) if isinstance(c, str) else c for c in row])
    path = tmp_path / "p.xlsx"
    book.save(path)
    data = read_stacks(path)  # a header is there: the file is never refused
    # Every row that fills a recognised column is there, once, in sheet order, numbered as
    # the sheet shows it; the others are blank rows, skipped.
    from layer_sync.read.headers import field_for_header

    mapped: dict[str, int] = {}
    for col, name in enumerate(header):
        field = field_for_header(name)
        if field and field not in mapped:
            mapped[field] = col

    def blank(c) -> bool:
        return (c is None or (isinstance(c, str) and not ILLEGAL_CHARACTERS_RE.sub("", c).strip())
                or (isinstance(c, float) and not math.isfinite(c)))  # no workbook stores inf

    assert data.header_row == 1
    expected = [i + 2 for i, row in enumerate(rows)
                if any(c < len(row) and not blank(row[c]) for c in mapped.values())]
    assert [r.row for r in data.rows] == expected
    for row in data.rows:
        # A row is valid exactly when it has no error, and every value it kept was checked.
        assert row.valid == (not [i for i in row.issues if i.severity == "error"])
        for name, value in row.values.items():
            assert name in data.columns
        if row.valid:
            assert row.values.get("layer_id") is not None
            assert row.values.get("sample_id") is not None or row.values.get("sample_name")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".csv", ".txt", ".tsv", ".xlsx", ".ods", ".xls"]))
def test_any_bytes_read_or_fail_with_our_error(tmp_path, data, suffix):
    path = tmp_path / f"b{suffix}"
    path.write_bytes(data)
    try:
        stacks = read_stacks(path)
    except InputFileError as exc:
        _one_line_naming(exc, path)
    else:
        _holds_together(stacks)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.sampled_from(list("sample_id,layer_id;\t\n\"01-(). Ba Ti O3 mp-éß")), max_size=300))
def test_any_text_reads_or_fails_with_our_error(tmp_path, text):
    path = tmp_path / "t.csv"
    path.write_text("sample_id,layer_id,orientation\n" + text, encoding="utf-8")
    try:
        stacks = read_stacks(path)
    except InputFileError as exc:
        _one_line_naming(exc, path)
        return
    _holds_together(stacks)
    # The header is the first line: every data row is below it, in order, numbered as read.
    assert stacks.header_row == 1 and all(r.row >= 2 for r in stacks.rows)


def _one_line_naming(exc: InputFileError, path) -> None:
    """Our error: one line a technician reads, naming the file."""
    message = str(exc)
    assert message and "\n" not in message and "Traceback" not in message
    assert path.name in message or str(path) in message, message


def _holds_together(stacks) -> None:
    """What any read sheet promises: rows in order, below the header; a row is valid exactly
    when it has no error; each issue points at a row that was read (or at the file); a valid
    row names its layer and its target material."""
    numbers = [(r.sheet, r.row) for r in stacks.rows]
    assert len(set(numbers)) == len(numbers)
    assert all(r.row > stacks.header_row for r in stacks.rows if r.sheet == stacks.sheets[0])
    known = set(numbers)
    for issue in stacks.issues:
        assert issue.row is None or (issue.sheet, issue.row) in known, issue
        assert issue.message and issue.severity in ("error", "warning")
    for row in stacks.rows:
        assert row.valid == (not row.errors)
        if row.valid:
            assert isinstance(row.values.get("layer_id"), int)
            assert row.values.get("sample_id") is not None or row.values.get("sample_name")


def test_zip_that_is_not_a_workbook(tmp_path):
    path = tmp_path / "z.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(InputFileError, match="holds no workbook"):
        read_stacks(path)


def test_a_panic_in_the_workbook_reader_is_our_error(tmp_path, monkeypatch):
    """calamine raises a Rust panic as PanicException, a BaseException: it must still end as
    one line and exit 2, never a traceback."""
    from layer_sync.read import workbook

    class PanicException(BaseException):  # what pyo3 raises, by name and base
        pass

    def panic(data):
        raise PanicException("chunk size must be non-zero")

    monkeypatch.setattr(workbook, "_calamine_open", panic)
    path = tmp_path / "p.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["sample_id", "layer_id"])
    book.save(path)
    with pytest.raises(InputFileError, match="cannot be read as a workbook .chunk size must be non-zero"):
        read_stacks(path)


def test_a_zip_member_larger_than_its_header_says_is_refused(tmp_path):
    """A zip header can lie about a part's size: what is read is counted, and a part that does
    not match its header is corrupt."""
    path = tmp_path / "lie.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["sample_id", "layer_id"])
    book.active.append([1, 1])
    book.save(path)
    data = bytearray(path.read_bytes())
    # Shrink the sheet's declared size in the central directory (and its local header).
    name = b"xl/worksheets/sheet1.xml"
    for signature, size_at in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):
        start = 0
        while (start := data.find(signature, start)) != -1:
            name_at = start + (46 if signature == b"PK\x01\x02" else 30)
            if data[name_at:name_at + len(name)] == name:
                data[start + size_at:start + size_at + 4] = (10).to_bytes(4, "little")
            start += 4
    path.write_bytes(bytes(data))
    with pytest.raises(InputFileError, match="cannot be read"):
        read_stacks(path)


# ----------------------------------------------------- what a file is, by content (issue 18)

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("source, name", [("technician.xls", "renamed.xlsx"),
                                          ("technician.xlsx", "renamed.xls"),
                                          ("technician.ods", "renamed.xlsx")])
def test_a_workbook_with_another_workbook_suffix_is_read_as_what_it_is(tmp_path, source, name):
    expected = read_stacks(DATA / source)
    path = tmp_path / name
    path.write_bytes((DATA / source).read_bytes())
    data = read_stacks(path)  # an .xls named .xlsx was called "password-protected"
    assert [r.values for r in data.rows] == [r.values for r in expected.rows]
    (warning,) = [i for i in data.file_issues if "by its content" in i.message]
    assert f"rename it to renamed{Path(source).suffix}" in warning.message


def test_an_office_file_that_holds_no_workbook_says_so(tmp_path):
    from tests import hostile

    path = tmp_path / "letter.xls"
    path.write_bytes(hostile.compound_file({"WordDocument": b"\x00" * 100}))
    with pytest.raises(InputFileError, match="holds no workbook"):
        read_stacks(path)


@pytest.mark.parametrize("rows", [
    [["=0"]],                                   # the only data row: a formula, no result
    [[1, 1, "SrTiO3"], [None, None, "=A1"]],    # the last row holds only such a formula
    [[1, 1, "SrTiO3"], [None, "=A2"], [None, None, "=A1"]],  # two such rows at the end
])
def test_a_last_row_of_formulas_without_results_is_read_and_said(tmp_path, rows):
    """calamine's area ends at the last cell with a value; the row of a formula with no stored
    result below it must still be read, and its cell said, never dropped unseen."""
    book = openpyxl.Workbook()
    book.active.append(["sample_id", "Layer #", "Formula"])
    for row in rows:
        book.active.append(row)
    path = tmp_path / "f.xlsx"
    book.save(path)
    data = read_stacks(path)
    last = data.rows[-1]
    assert last.row == len(rows) + 1 and not last.valid
    assert any("formula with no stored result" in i.message for i in last.issues)
