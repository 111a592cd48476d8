"""The report workbook: made to be read and printed, every sheet or server value written as text,
written through a temporary file with the user's umask, and its failures an exit code."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import tempfile
import zipfile

import openpyxl
import pytest
import xlsxwriter
from openpyxl.utils import get_column_letter

from layer_sync.cli import main
from layer_sync.core.errors import ReportError
from layer_sync.outcome import table as table_module
from layer_sync.outcome.table import MAX_COLUMNS, MAX_ROWS
from layer_sync.report import content as content_module
from layer_sync.report import writer as report_module
from layer_sync.report.content import REPORT_ROW_COLUMNS
from layer_sync.run.check import check_file
from layer_sync.report.writer import write_report
from layer_sync.run.sync import sync_file

from .conftest import API_KEY

SHEET = ("Sample ID,Sample,Layer,Composition,Orientation,Notes,\"=HYPERLINK(\"\"http://x\"\")\"\n"
         "1,S,1,SrTiO3,111,first,\n"          # updated: orientation 001 -> 111
         "1,S,2,BaTiO3,001,,\n"                # unchanged
         "1,S,4,=1+2,001,=HYPERLINK(\"x\"),@SUM(A1)\n"   # invalid composition that looks like a formula
         "1,S,5,LaAlO3,001,,\n")               # created
SEED = [
    {"id": 10, "sample_id": 1, "sample_name": "S", "substrate": "Si", "layer_id": 1,
     "composition_string": "SrTiO3", "orientation": "001"},
    {"id": 11, "sample_id": 1, "sample_name": "S", "substrate": "Si", "layer_id": 2,
     "composition_string": "BaTiO3", "orientation": "001"},
    {"id": 12, "sample_id": 1, "sample_name": "S", "substrate": "Si", "layer_id": 3,
     "composition_string": "=cmd|' /C calc'!A0", "orientation": "001"},
]


@pytest.fixture
def lab(sandbox, tmp_path):
    sandbox.store.seed([dict(e) for e in SEED])
    path = tmp_path / "lab.csv"
    path.write_text(SHEET, encoding="utf-8")
    return path


@pytest.fixture
def run(sandbox, lab, tmp_path):
    def go(**kw):
        report = tmp_path / "out" / "report.xlsx"
        outcome = sync_file(lab, api_key=API_KEY, api_url=sandbox.url, report=report, **kw)
        assert outcome.report == report and outcome.report_error is None
        return outcome, openpyxl.load_workbook(report)

    return go


def _table(ws) -> list[dict]:
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def _summary(book) -> dict:
    return {a.value: b.value for a, b in book["Summary"].iter_rows(min_row=2, max_col=2)}


def test_sheets_headers_filters_and_widths(run):
    _outcome, book = run()
    assert book.sheetnames == ["Summary", "Rows", "Issues", "Not in sheet"]
    for name in ("Rows", "Issues", "Not in sheet"):
        ws = book[name]
        assert ws.freeze_panes == "A2" and ws["A1"].font.bold
        assert ws.auto_filter.ref.startswith("A1:")
        assert all(ws.column_dimensions[c].width >= 4 for c in "ABC")


def test_a_dry_run_names_the_record_each_row_was_compared_with(run):
    _outcome, book = run(dry_run=True)
    rows = _table(book["Rows"])
    assert [(r["Result"], r["Record id"]) for r in rows] == [
        ("would update", 10), ("unchanged", 11), ("invalid", None), ("would create", None)]


def test_tables_print_landscape_fitted_to_the_width_with_the_header_on_every_page(run):
    _outcome, book = run()
    for name in ("Rows", "Issues", "Not in sheet"):
        ws = book[name]
        assert ws.page_setup.orientation == "landscape"
        assert ws.sheet_properties.pageSetUpPr.fitToPage
        assert _fit(ws) == (1, 0)  # one page wide, as many down as it takes
        assert ws.print_title_rows == "$1:$1"
    summary = book["Summary"]
    assert summary.sheet_properties.pageSetUpPr.fitToPage and _fit(summary) == (1, 1)
    for ws in book.worksheets:  # every page says which it is, the Summary's too
        assert ws.oddFooter.center.text == "Page &P of &N"


def test_rows_prints_what_happened_to_each_row_and_says_the_values_as_read_are_left_out(run):
    _outcome, book = run()
    ws = book["Rows"]
    header = [c.value for c in ws[1]]
    assert header[len(REPORT_ROW_COLUMNS)].endswith("(as read)")
    last = get_column_letter(len(REPORT_ROW_COLUMNS))
    assert ws.print_area == f"'Rows'!$A$1:${last}${ws.max_row}"  # every row, its own columns
    assert "Values as read: in the workbook" in ws.oddFooter.left.text
    for name in ("Issues", "Not in sheet"):  # printed whole
        assert not book[name].print_area


def _fit(ws) -> tuple[int, int]:
    """Pages wide and high to fit to (a value left out of the file means 1)."""
    width, height = ws.page_setup.fitToWidth, ws.page_setup.fitToHeight
    return (1 if width is None else int(width), 1 if height is None else int(height))


def test_long_text_wraps_and_numbers_keep_apart_from_their_neighbours(run):
    _outcome, book = run()
    ws = book["Rows"]
    header = [c.value for c in ws[1]]
    invalid = 4  # the third data row
    message = ws.cell(invalid, header.index("Message") + 1)
    assert message.alignment.wrap_text and len(message.value) > ws.column_dimensions[
        message.column_letter].width
    assert ws.row_dimensions[invalid].height >= 30  # room for its lines
    row_number = ws.cell(2, header.index("Row") + 1)
    assert row_number.value == 2 and row_number.alignment.horizontal == "left"
    assert row_number.alignment.indent >= 1


def test_rows_sheet_says_what_happened_to_every_row(run):
    _outcome, book = run()
    rows = _table(book["Rows"])
    assert "Action" not in rows[0]  # what happened is said once, in Result
    assert [(r["Row"], r["Result"]) for r in rows] == [
        (2, "updated"), (3, "unchanged"), (4, "invalid"), (5, "created")]
    assert rows[0]["Changes"] == "orientation: 001 \u2192 111"
    assert rows[0]["HTTP status"] == 200 and rows[0]["Attempts"] == 1 and rows[0]["Record id"] == 10
    # An unchanged row names the server's record it was compared with; a created one the new.
    assert rows[1]["Record id"] == 11 and rows[1]["HTTP status"] is None
    assert isinstance(rows[3]["Record id"], (int, float)) and rows[3]["Record id"] > 12
    assert "not a chemical formula" in rows[2]["Message"]
    # The cell of the row's first problem, beside its message.
    assert rows[2]["Cell"] == "D4" and rows[0]["Cell"] is None
    # Every column of a row with something to say as read, unrecognised ones too, so failed
    # rows can be fixed and run again; a row in sync has nothing to fix.
    assert rows[0]["Notes (as read)"] == "first" and rows[2]["Composition (as read)"] == "=1+2"
    assert rows[3]["Sample ID (as read)"] == "1" and rows[1]["Sample ID (as read)"] is None


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_warning_is_the_rows_message_beside_its_cell(sandbox, tmp_path, dry_run):
    # An updated row, an unchanged one and a created one, each with a warning: the Message
    # column says what the Cell column points at, whatever the row's result.
    sandbox.store.seed([
        {"id": 10, "sample_id": 1, "sample_name": "S", "substrate": "Si", "layer_id": 1,
         "composition_string": "SrTiO3", "mp_id": "mp-5229"},
        {"id": 11, "sample_id": 1, "sample_name": "S", "substrate": "Si", "layer_id": 2,
         "composition_string": "BaTiO3"},
        {"id": 12, "sample_id": 1, "sample_name": "S", "substrate": "Si", "layer_id": 2,
         "composition_string": "BaTiO3"}])  # held twice: a warning
    lab = tmp_path / "lab.csv"
    lab.write_text("sample_id,layer_id,composition_string,mp_id\n"
                   "1,1,BaTiO3,mp-5229\n"   # new formula, old mp_id
                   "1,2,BaTiO3,\n", encoding="utf-8")
    report = tmp_path / "report.xlsx"
    sync_file(lab, api_key=API_KEY, api_url=sandbox.url, report=report, dry_run=dry_run)
    rows = _table(openpyxl.load_workbook(report)["Rows"])
    assert rows[0]["Result"] == ("would update" if dry_run else "updated")
    assert rows[0]["Cell"] == "D2" and "may describe the old material" in rows[0]["Message"]
    assert rows[1]["Result"] == "unchanged"
    assert rows[1]["Cell"] == "B3" and "2 times" in rows[1]["Message"]


def test_rows_in_sync_are_gathered_a_sample_to_a_line_and_every_row_is_accounted_for(
        sandbox, tmp_path):
    """Rows with nothing to say (unchanged, no message) take one line per run of a sample's
    consecutive rows, naming their rows and layers; every other row has a line of its own
    with its values as read. Every data row is on exactly one line; to_frame() keeps them all."""
    keys = [(1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (2, 1), (2, 2), (2, 3), (3, 1)]
    sandbox.store.seed([{"id": 10 + i, "sample_id": s, "sample_name": f"S{s}", "substrate": "Si",
                         "layer_id": n, "composition_string": "MgO", "orientation": "001"}
                        for i, (s, n) in enumerate(keys)])
    path = tmp_path / "lab.csv"
    path.write_text("sample_id,sample_name,layer_id,composition_string,orientation,Notes\n"
                    + "".join(f"{s},S{s},{n},MgO,{'111' if (s, n) == (1, 5) else '001'},n{s}{n}\n"
                              for s, n in keys), encoding="utf-8")
    report = tmp_path / "r.xlsx"
    outcome = sync_file(path, api_key=API_KEY, api_url=sandbox.url, report=report,
                        dry_run=True)
    assert outcome.report == report, outcome.report_error
    book = openpyxl.load_workbook(report)
    rows = _table(book["Rows"])
    assert [(r["Row"], r["sample_id"], r["layer_id"], r["Result"], r["Notes (as read)"])
            for r in rows] == [
        ("2\u20135", "1", "1\u20134", "unchanged", None), (6, "1", "5", "would update", "n15"),
        ("7\u20139", "2", "1\u20133", "unchanged", None), (10, "3", "1", "unchanged", None)]
    assert rows[0]["Message"] == "4 rows, each as the server holds it"
    assert rows[0]["composition_string"] is None and rows[0]["Record id"] is None
    # A row in sync alone is a line of its own, with its layer and record, not its values.
    assert rows[3]["composition_string"] == "MgO" and rows[3]["Record id"] == 18
    covered = []
    for r in rows:
        first, _, last = str(r["Row"]).partition("\u2013")
        covered += range(int(first), int(last or first) + 1)
    assert covered == list(range(2, 11)) and _summary(book)["Rows"] == 9
    frame = outcome.to_frame()  # for notebooks: every row, every column
    assert len(frame) == 9 and frame["Notes (as read)"].tolist()[:2] == ["n11", "n12"]


def test_a_check_report_gathers_valid_rows_as_docs_report_says(tmp_path):
    path = tmp_path / "lab.csv"
    path.write_text("sample_id,layer_id,composition_string,orientation\n"
                    "1,1,SrTiO3,001\n1,2,BaTiO3,001\n1,3,SrTiO3,001\n2,1,MgO,001\n",
                    encoding="utf-8")
    report = tmp_path / "r.xlsx"
    outcome = check_file(path, report=report)
    assert outcome.report == report
    rows = _table(openpyxl.load_workbook(report)["Rows"])
    assert [(r["Row"], r["sample_id"], r["layer_id"], r["Result"]) for r in rows] == [
        ("2\u20134", "1", "1\u20133", "valid"), (5, "2", "1", "valid")]
    assert rows[0]["Message"] == "3 rows, each passing every rule"


def test_layer_ids_of_a_gathered_line_are_runs():
    from layer_sync.report.content import _runs

    assert _runs([1, 2, 3, 5, 7, 8]) == "1\u20133, 5, 7\u20138"
    assert _runs(list(range(1, 40, 2))) == "1, 3, 5, 7, 9, 11, 13, 15, \u2026 (20 layers)"


def test_results_are_coloured(run):
    _outcome, book = run()
    ws = book["Rows"]
    col = REPORT_ROW_COLUMNS.index("Result") + 1
    colours = {ws.cell(r, col).value: ws.cell(r, col).fill.fgColor.rgb for r in range(2, 6)}
    assert colours["created"].endswith("C6EFCE") and colours["updated"].endswith("A9D08E")
    assert colours["unchanged"].endswith("E7E6E6") and colours["invalid"].endswith("FFC7CE")


def test_values_and_headers_from_the_sheet_and_server_are_text_never_formulas(run):
    _outcome, book = run()
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{ws.title}!{cell.coordinate} is a formula"
    header = [c.value for c in book["Rows"][1]]
    assert '=HYPERLINK("http://x") (as read)' in header
    rows = _table(book["Rows"])
    assert rows[2]['=HYPERLINK("http://x") (as read)'] == "@SUM(A1)"
    assert rows[2]["Notes (as read)"] == '=HYPERLINK("x")'
    issues = _table(book["Issues"])
    assert issues[0]["Value"] == "=1+2" and issues[0]["Cell"] == "D4"
    remote = _table(book["Not in sheet"])
    assert remote[0]["composition_string"] == "=cmd|' /C calc'!A0" and remote[0]["layer_id"] == "3"


def test_summary_counts_and_a_chart_in_the_outcome_colours_and_order(run, tmp_path):
    _outcome, book = run()
    labels = _summary(book)
    assert labels["Created"] == 1 and labels["Updated"] == 1 and labels["Invalid"] == 1
    assert labels["Unchanged"] == 1 and labels["Remote only (not in sheet)"] == 1
    assert labels["Exit code"] == 1 and labels["Dry run"] == "no"
    assert "Notes" in labels["Unrecognised columns (ignored)"]
    assert "GET 2" in labels["Requests"] and labels["layer-sync version"]  # the plan, the read-back
    ws = book["Summary"]
    outcome_rows = [r for r in range(2, ws.max_row + 1)
                    if ws.cell(r, 1).value in ("Created", "Updated", "Unchanged", "Invalid",
                                               "Failed", "Skipped")]
    table_colours = [ws.cell(r, 1).fill.fgColor.rgb[-6:] for r in outcome_rows]
    with zipfile.ZipFile(tmp_path / "out" / "report.xlsx") as z:
        chart = z.read("xl/charts/chart1.xml").decode()
    assert f"Summary!$B${outcome_rows[0]}:$B${outcome_rows[-1]}" in chart  # in the table's order
    bar_colours = re.findall(r'<c:dPt>.*?<a:srgbClr val="(\w+)"', chart)
    assert bar_colours == table_colours and len(set(bar_colours)) == 6
    assert '<c:majorUnit val="1"/>' in chart  # whole-number ticks


def test_dry_run_report_says_would_create_and_would_update_everywhere(run, sandbox):
    _outcome, book = run(dry_run=True)
    rows = _table(book["Rows"])
    assert [r["Result"] for r in rows] == ["would update", "unchanged", "invalid", "would create"]
    labels = _summary(book)
    assert labels["Dry run"].startswith("yes")
    assert labels["Would create"] == 1 and labels["Would update"] == 1
    assert "Created" not in labels and "Updated" not in labels
    assert "would be created" in labels["Result"]
    assert sandbox.stats.by_method == {"GET": 1}


def _outcome(sandbox, lab):
    return sync_file(lab, api_key=API_KEY, api_url=sandbox.url, dry_run=True, report=False)


def test_control_characters_are_replaced_visibly_never_a_crash(sandbox, lab, tmp_path):
    outcome = _outcome(sandbox, lab)
    outcome.headers[0] = "Sample\x01ID"
    row = outcome.results[0].action.row
    row.extra["Notes"] = "bell\x07 nul\x00 del\x7f esc\x1b tab\t newline\n"
    outcome.sheet = "Lay\x0bers"
    report = write_report(outcome, tmp_path / "r.xlsx")
    book = openpyxl.load_workbook(report)
    rows = book["Rows"]
    header = [c.value for c in rows[1]]
    assert "Sample\ufffdID (as read)" in header
    notes = rows.cell(2, header.index("Notes (as read)") + 1).value
    assert notes == "bell\ufffd nul\ufffd del\ufffd esc\ufffd tab\t newline\n"
    assert _summary(book)["Sheet"] == "Lay\ufffders"


def test_a_header_with_a_control_character_through_the_command_line(sandbox, lab, tmp_path):
    path = tmp_path / "ctl.csv"
    path.write_text("sample_id,layer_id,Note\x01s\n1,1,a\x02b\n", encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    code = main(["sync", str(path), "--api-url", sandbox.url, "--json", "--report",
                 str(tmp_path / "r.xlsx")], environ={"ATOMSCALE_API_KEY": API_KEY},
                stdout=out, stderr=err)
    assert "internal error" not in err.getvalue()
    assert json.loads(out.getvalue().splitlines()[-1])["report"] == str(tmp_path / "r.xlsx")
    assert code == 0


def test_more_columns_than_a_sheet_holds_are_left_out_and_the_report_says_so(sandbox, tmp_path):
    extra = 17_000
    path = tmp_path / "wide.csv"
    path.write_text("sample_id,layer_id," + ",".join(f"c{i}" for i in range(extra)) + "\n"
                    + "1,1," + ",".join("x" for _ in range(extra)) + "\n", encoding="utf-8")
    report = tmp_path / "r.xlsx"
    outcome = sync_file(path, api_key=API_KEY, api_url=sandbox.url, dry_run=True, report=report)
    assert outcome.report == report, outcome.report_error
    book = openpyxl.load_workbook(report, read_only=True)
    rows = book["Rows"]
    header = next(rows.iter_rows(max_row=1, values_only=True))
    assert len(header) == MAX_COLUMNS and header[-1] is not None
    left_out = len(outcome.headers) - (MAX_COLUMNS - header.index("sample_id (as read)"))
    assert left_out >= extra + 2 - MAX_COLUMNS + 13 - 2
    summary = _summary(book)
    assert summary["Columns left out of Rows"].startswith(f"{left_out} column(s)")
    issues = list(book["Issues"].iter_rows(min_row=2, values_only=True))
    assert any("16,384 columns" in str(r[-1]) for r in issues)


def test_more_rows_than_a_sheet_holds_are_left_out_and_the_report_says_so(sandbox, tmp_path,
                                                                          monkeypatch):
    """An input of more rows than an .xlsx sheet holds (a CSV, or several sheets), more
    problems or more remote-only layers: each table is cut at the limit (made small here),
    the report says what was left out, and the run is not failed for it."""
    for module in (table_module, content_module):  # a header and 5 rows a table
        monkeypatch.setattr(module, "MAX_ROWS", 6)
    sandbox.store.seed([{"id": 100 + i, "sample_id": 1, "sample_name": "S", "layer_id": 20 + i,
                         "composition_string": "MgO"} for i in range(8)])
    path = tmp_path / "long.csv"
    path.write_text("sample_id,layer_id,composition_string,orientation\n"  # 2 errors a row
                    + "".join(f"1,{i},{'Xx9,abc' if i % 2 else 'MgO,001'}\n" for i in range(1, 9)),
                    encoding="utf-8")
    report = tmp_path / "r.xlsx"
    outcome = sync_file(path, api_key=API_KEY, api_url=sandbox.url, dry_run=True, report=report)
    assert outcome.report == report, outcome.report_error
    assert outcome.counts["rows"] == 8 and outcome.counts["invalid"] == 4
    book = openpyxl.load_workbook(report)
    rows = _table(book["Rows"])
    assert [r["Row"] for r in rows] == [2, 3, 4, 5, 6]  # the first five, in order
    summary = _summary(book)
    assert summary["Rows left out of Rows"].startswith("3 row(s) of the input, from row 7 of "
                                                       "'long.csv' on, are not in the Rows sheet")
    assert summary["Rows"] == 8  # the counts are of every row
    issues = _table(book["Issues"])
    assert len(issues) == 5
    kept, notes = issues[:3], [i["Message"] for i in issues[3:]]
    assert all(i["Severity"] == "error" and i["Row"] for i in kept)
    assert notes[0].startswith("3 row(s) of the input")
    assert notes[1].startswith(summary["Problems left out of Issues"][:12])
    assert len(outcome.issues) == 8
    assert summary["Problems left out of Issues"].startswith(
        "5 problem(s) are not in the Issues sheet")
    assert len(_table(book["Not in sheet"])) == 5
    assert summary["Layers left out of Not in sheet"].startswith("3 layer(s) on the server")


def test_the_row_and_column_limits_are_the_writers(tmp_path):
    """MAX_ROWS and MAX_COLUMNS are what an .xlsx sheet holds: the last row and column can be
    written, one more cannot."""
    book = xlsxwriter.Workbook(str(tmp_path / "limit.xlsx"), {"constant_memory": True,
                                                               "tmpdir": str(tmp_path)})
    ws = book.add_worksheet("Rows")
    assert ws.write_string(0, MAX_COLUMNS - 1, "last column") == 0
    assert ws.write_string(0, MAX_COLUMNS, "one too many") == -1
    assert ws.write_string(MAX_ROWS - 1, 0, "last") == 0
    assert ws.write_string(MAX_ROWS, 0, "one too many") == -1
    book.close()
    assert openpyxl.load_workbook(tmp_path / "limit.xlsx", read_only=True)["Rows"].max_row == MAX_ROWS


def test_a_report_that_cannot_be_written_exits_2_with_the_reason_and_report_null(
        sandbox, tmp_path, monkeypatch):
    sandbox.store.seed([dict(SEED[0])])
    path = tmp_path / "lab.csv"
    path.write_text("sample_id,layer_id,composition_string,orientation\n1,1,SrTiO3,001\n",
                    encoding="utf-8")

    def full(*args, **kwargs):  # the disk fills up while the run goes on
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report_module.tempfile, "mkdtemp", full)
    report = tmp_path / "out" / "r.xlsx"
    out, err = io.StringIO(), io.StringIO()
    code = main(["sync", str(path), "--api-url", sandbox.url, "--json", "--report", str(report)],
                environ={"ATOMSCALE_API_KEY": API_KEY}, stdout=out, stderr=err)
    payload = json.loads(out.getvalue().splitlines()[-1])
    assert code == 2 and payload["exit_code"] == 2 and payload["report"] is None
    assert payload["unchanged"] == 1  # the rows were in sync: only the report failed
    assert (f"cannot write the report {report}: No space left on device"
            in out.getvalue() + err.getvalue())


@pytest.mark.parametrize("name", ["a-file/r.xlsx", "x" * 250 + ".xlsx"])
def test_a_report_that_could_never_be_written_is_refused_before_anything_is_sent(
        sandbox, tmp_path, name):
    """In a "folder" that is a file, or a name no folder takes: found at the start, not after
    the writes (the night's record would be lost at the end)."""
    (tmp_path / "a-file").write_text("")
    path = tmp_path / "lab.csv"
    path.write_text("sample_id,layer_id,orientation\n1,1,111\n", encoding="utf-8")
    sandbox.stats.reset()
    out, err = io.StringIO(), io.StringIO()
    code = main(["sync", str(path), "--api-url", sandbox.url, "--json", "--report",
                 str(tmp_path / name)], environ={"ATOMSCALE_API_KEY": API_KEY},
                stdout=out, stderr=err)
    assert code == 2 and sandbox.stats.total == 0
    assert "is not a folder" in err.getvalue() or "too long" in err.getvalue()


def test_the_default_report_name_is_short_and_plain_whatever_the_input_is_called(tmp_path):
    import datetime as dt

    from layer_sync.report.paths import report_stem

    stem = report_stem(tmp_path / ("\x1b[2J" + "é" * 200 + ".xlsx"), dt.datetime(2026, 12, 2))
    assert "\x1b" not in stem and len(stem.encode()) < 160 and stem.endswith("_xlsx_20261202-000000-000")


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_the_report_is_created_with_the_users_umask(sandbox, lab, tmp_path, umask, mode):
    outcome = _outcome(sandbox, lab)
    old = os.umask(umask)  # the test's own process: restored below
    try:
        report = write_report(outcome, tmp_path / "r.xlsx")
    finally:
        os.umask(old)
    assert report.stat().st_mode & 0o777 == mode


def test_written_through_a_temporary_file_then_renamed(sandbox, lab, tmp_path):
    outcome = _outcome(sandbox, lab)
    target = tmp_path / "out" / "report.xlsx"
    target.parent.mkdir()
    target.write_bytes(b"yesterday's report")
    yesterday = tmp_path / "yesterday.xlsx"
    os.link(target, yesterday)  # the old file, seen through a second name
    write_report(outcome, target, force=True)  # not a layer-sync report: replaced with force
    # A new file took the name: the old one was never opened for writing (a direct save
    # would have overwritten it in place, and a reader could have seen half a workbook).
    assert yesterday.read_bytes() == b"yesterday's report"
    assert not os.path.samefile(target, yesterday)
    assert openpyxl.load_workbook(target).sheetnames[0] == "Summary"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.xlsx"]


def test_nothing_is_left_behind_when_the_rename_fails(sandbox, lab, tmp_path):
    outcome = _outcome(sandbox, lab)
    target = tmp_path / "out" / "report.xlsx"
    target.mkdir(parents=True)  # a folder where the report should go: the rename fails
    with pytest.raises(ReportError, match="cannot write the report"):
        write_report(outcome, target)
    assert [p.name for p in target.parent.iterdir()] == ["report.xlsx"]
    assert target.is_dir() and not any(target.iterdir())


def test_nothing_is_left_behind_when_the_run_is_stopped_during_the_save(
        sandbox, lab, tmp_path, monkeypatch):
    outcome = _outcome(sandbox, lab)
    system_temp = tmp_path / "system-temp"
    system_temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_temp))
    monkeypatch.setenv("TMPDIR", str(system_temp))
    close = xlsxwriter.Workbook.close
    seen = []

    def interrupted(book):
        close(book)  # the workbook is saved, and then Ctrl-C arrives before the rename
        seen.extend(p.name for p in (tmp_path / "out").rglob("*"))
        raise KeyboardInterrupt

    monkeypatch.setattr(xlsxwriter.Workbook, "close", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_report(outcome, tmp_path / "out" / "report.xlsx")
    assert "report.xlsx" in seen  # there was a temporary file to clean up
    assert list((tmp_path / "out").iterdir()) == [] and list(system_temp.iterdir()) == []


# --------------------------------------------------------------------------- LibreOffice
# CI installs LibreOffice's spreadsheet program (.ci/run); there these tests must run.

def _soffice() -> str:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("LibreOffice (soffice) is missing in CI: .ci/run installs it")
        pytest.skip("LibreOffice is not installed")
    return found


def _convert(report, to: str, out) -> None:
    # A profile of its own: another LibreOffice running on the machine would take the job.
    profile = (out / "profile").as_uri()
    proc = subprocess.run([_soffice(), f"-env:UserInstallation={profile}", "--headless",
                           "--convert-to", to, "--outdir", str(out), str(report)],
                          check=False, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr


def _values(book) -> dict:
    """Each sheet's rows, without trailing blank cells and rows (LibreOffice leaves them out)."""
    sheets = {}
    for ws in book.worksheets:
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
        for row in rows:
            while row and row[-1] is None:
                row.pop()
        while rows and not rows[-1]:
            rows.pop()
        sheets[ws.title] = rows
    return sheets


def test_libreoffice_reads_back_every_value_as_written(run, tmp_path):
    _outcome, ours = run()
    out = tmp_path / "converted"
    out.mkdir()
    copy = out / "copy.xlsx"
    shutil.copy(tmp_path / "out" / "report.xlsx", copy)
    _convert(copy, "ods", out)
    _convert(out / "copy.ods", "xlsx", out / "back")  # through LibreOffice's own file and back
    # data_only: what LibreOffice shows, so a formula would read back as its result.
    theirs = openpyxl.load_workbook(out / "back" / "copy.xlsx", data_only=True)
    written, read_back = _values(ours), _values(theirs)
    assert read_back == written
    assert read_back["Rows"][3][3] == "S" and read_back["Issues"][1][4] == "=1+2"


def test_libreoffice_prints_one_page_per_sheet_for_a_small_report(run, tmp_path):
    run(dry_run=True)
    out = tmp_path / "pdf"
    out.mkdir()
    _convert(tmp_path / "out" / "report.xlsx", "pdf", out)
    pdf = (out / "report.pdf").read_bytes()
    pages = len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf))
    assert pages == 4  # Summary with its chart, Rows, Issues, Not in sheet: one page each


@pytest.mark.parametrize("where", ["rows", "save"])
def test_a_writer_failure_is_one_line_exit_2_and_leaves_nothing(sandbox, tmp_path, monkeypatch,
                                                                where):
    """The disk fills while the writer keeps its rows in its temporary files, or while it
    saves the workbook (XlsxWriter wraps that OSError in its own error): one line, exit 2,
    the JSON line's report null, nothing left beside the report's name."""
    import xlsxwriter.workbook

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    if where == "rows":
        monkeypatch.setattr(tempfile, "mkstemp", full)  # the writer's, not the work folder's
    else:
        monkeypatch.setattr(xlsxwriter.workbook, "ZipFile", full)
    path = tmp_path / "lab.csv"
    path.write_text("sample_id,layer_id,orientation\n1,1,111\n", encoding="utf-8")
    out_dir = tmp_path / "out"
    out, err = io.StringIO(), io.StringIO()
    code = main(["sync", str(path), "--api-url", sandbox.url, "--json", "--report",
                 str(out_dir / "r.xlsx")], environ={"ATOMSCALE_API_KEY": API_KEY},
                stdout=out, stderr=err)
    assert code == 2 and json.loads(out.getvalue().splitlines()[-1])["report"] is None
    lines = [line for line in err.getvalue().splitlines()
             if "cannot write the report" in line]
    assert lines and all(line.endswith("No space left on device") for line in lines)
    assert "Traceback" not in err.getvalue() and "Warning" not in err.getvalue()
    assert list(out_dir.iterdir()) == []


def test_a_workbook_left_unsaved_has_its_temporary_files_closed(sandbox, lab, tmp_path,
                                                                monkeypatch):
    """Ctrl-C while the rows are written: the writer's temporary files are closed before its
    folder is removed (open, Windows would keep them), and nothing is left."""
    from layer_sync.report import layout

    outcome = _outcome(sandbox, lab)
    books = []
    fill = layout.fill

    def interrupted(book, content):
        books.append(book)
        fill(book, content)
        raise KeyboardInterrupt

    monkeypatch.setattr(layout, "fill", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_report(outcome, tmp_path / "out" / "report.xlsx")
    assert all(ws.row_data_fh.closed for ws in books[0].worksheets())
    assert list((tmp_path / "out").iterdir()) == []


def test_a_record_id_a_number_would_round_is_written_as_text():
    # Workbook numbers are doubles: 9007199254740995 would read 9007199254740996.
    from layer_sync.outcome.table import exact_number

    assert exact_number(9_007_199_254_740_995) == "9007199254740995"
    assert exact_number(1002) == 1002 and exact_number(None) == ""


def test_the_writer_keeps_nothing_in_tmpdir_so_no_tmpdir_stops_it(sandbox, tmp_path,
                                                                 monkeypatch):
    """The writer keeps its temporary files in the report's own work folder: a $TMPDIR that is
    no folder (a cron job's) changes nothing, and a usable one is left as it was."""
    sandbox.store.seed([dict(SEED[0])])
    path = tmp_path / "lab.csv"
    path.write_text("sample_id,layer_id,orientation\n1,1,111\n", encoding="utf-8")
    system_temp = tmp_path / "system-temp"
    system_temp.mkdir()
    for folder in (tmp_path / "gone", system_temp):
        monkeypatch.setenv("TMPDIR", str(folder))
        monkeypatch.setattr(tempfile, "tempdir", None)  # Python looks at $TMPDIR again
        out, err = io.StringIO(), io.StringIO()
        report = tmp_path / f"{folder.name}.xlsx"
        code = main(["sync", str(path), "--api-url", sandbox.url, "--json", "--report",
                     str(report)], environ={"ATOMSCALE_API_KEY": API_KEY},
                    stdout=out, stderr=err)
        assert code == 0, err.getvalue()
        assert json.loads(out.getvalue().splitlines()[-1])["report"] == str(report)
    assert list(system_temp.iterdir()) == []
