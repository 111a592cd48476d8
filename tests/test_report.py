"""The report workbook: made to be read, and every sheet or server value written as text."""

from __future__ import annotations

import shutil
import subprocess

import openpyxl
import pytest

from layer_sync.sync import sync_file

from .conftest import API_KEY

SHEET = ("Sample ID,Sample,Layer,Composition,Orientation,Notes\n"
         "1,S,1,SrTiO3,111,first\n"        # updated: orientation 001 -> 111
         "1,S,2,BaTiO3,001,\n"              # unchanged
         "1,S,4,=1+2,001,=HYPERLINK(\"x\")\n"   # invalid composition that looks like a formula
         "1,S,5,LaAlO3,001,\n")             # created


@pytest.fixture(params=[False, True], ids=["in-process", "helper-process"])
def run(sandbox, tmp_path, request):
    """Every report test runs twice: written here, and by the helper process."""
    sandbox.store.seed([
        {"id": 10, "sample_id": 1, "sample_name": "S", "substrate": "Si", "layer_id": 1,
         "composition_string": "SrTiO3", "orientation": "001"},
        {"id": 11, "sample_id": 1, "sample_name": "S", "substrate": "Si", "layer_id": 2,
         "composition_string": "BaTiO3", "orientation": "001"},
        {"id": 12, "sample_id": 1, "sample_name": "S", "substrate": "Si", "layer_id": 3,
         "composition_string": "=cmd|' /C calc'!A0", "orientation": "001"},
    ])
    path = tmp_path / "lab.csv"
    path.write_text(SHEET, encoding="utf-8")

    def go(**kw):
        report = tmp_path / "out" / "report.xlsx"
        outcome = sync_file(path, api_key=API_KEY, api_url=sandbox.url, report=report,
                            report_helper=request.param, **kw)
        return outcome, openpyxl.load_workbook(report)

    return go


def _table(ws) -> list[dict]:
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def test_sheets_headers_filters_and_widths(run):
    outcome, book = run()
    assert book.sheetnames == ["Summary", "Rows", "Issues", "Not in sheet"]
    for name in ("Rows", "Issues", "Not in sheet"):
        ws = book[name]
        assert ws.freeze_panes == "A2" and ws["A1"].font.bold
        assert ws.auto_filter.ref.startswith("A1:")
        assert all(ws.column_dimensions[c].width >= 8 for c in "ABC")


def test_rows_sheet_says_what_happened_to_every_row(run):
    outcome, book = run()
    rows = _table(book["Rows"])
    assert [(r["Row"], r["Action"], r["Result"]) for r in rows] == [
        (2, "update", "updated"), (3, "unchanged", "unchanged"), (4, "invalid", "invalid"),
        (5, "create", "created")]
    assert rows[0]["Changes"] == "orientation: 001 \u2192 111"
    assert rows[0]["HTTP status"] == 200 and rows[0]["Attempts"] == 1 and rows[0]["Record id"] == 10
    assert "not a chemical formula" in rows[2]["Message"]
    # Every column of the row as read, unrecognised ones too, so failed rows can be re-run.
    assert rows[0]["Notes (as read)"] == "first" and rows[2]["Composition (as read)"] == "=1+2"


def test_results_are_coloured(run):
    outcome, book = run()
    ws = book["Rows"]
    colours = {ws.cell(r, 7).value: ws.cell(r, 7).fill.fgColor.rgb for r in range(2, 6)}
    assert colours["updated"].endswith("C6EFCE") and colours["created"].endswith("C6EFCE")
    assert colours["unchanged"].endswith("E7E6E6") and colours["invalid"].endswith("FFC7CE")


def test_values_from_the_sheet_and_server_are_text_never_formulas(run):
    outcome, book = run()
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{ws.title}!{cell.coordinate} is a formula"
    issues = _table(book["Issues"])
    assert issues[0]["Value"] == "=1+2" and issues[0]["Cell"] == "D4"
    remote = _table(book["Not in sheet"])
    assert remote[0]["composition_string"] == "=cmd|' /C calc'!A0" and remote[0]["layer_id"] == "3"


def test_summary_counts_chart_and_exit_code(run):
    outcome, book = run()
    ws = book["Summary"]
    labels = {ws.cell(r, 1).value: ws.cell(r, 2).value for r in range(2, ws.max_row + 1)}
    assert labels["Created"] == 1 and labels["Updated"] == 1 and labels["Invalid"] == 1
    assert labels["Unchanged"] == 1 and labels["Remote only (not in sheet)"] == 1
    assert labels["Exit code"] == 1 and labels["Dry run"] == "no"
    assert labels["Unrecognised columns (ignored)"] == "Notes"
    assert "GET 1" in labels["Requests"] and labels["layer-sync version"]
    (chart,) = ws._charts
    assert chart.series[0].val.numRef.f == "'Summary'!$E$3:$E$8"  # all six outcomes


def test_dry_run_report_shows_what_would_be_done(run, sandbox):
    outcome, book = run(dry_run=True)
    rows = _table(book["Rows"])
    assert [r["Result"] for r in rows] == ["would update", "unchanged", "invalid", "would create"]
    labels = {c.value: d.value for c, d in book["Summary"].iter_rows(min_row=2, max_col=2)}
    assert labels["Dry run"].startswith("yes")
    assert sandbox.stats.by_method == {"GET": 1}


def test_written_through_a_temporary_file(run, tmp_path):
    run()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.xlsx"]


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_libreoffice_opens_it_without_repair(run, tmp_path):
    run()
    out = tmp_path / "converted"
    proc = subprocess.run(["soffice", "--headless", "--convert-to", "csv", "--outdir", str(out),
                           str(tmp_path / "out" / "report.xlsx")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    text = (out / "report.csv").read_text()
    assert "layer-sync report" in text
