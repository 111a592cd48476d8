"""`layer-sync demo` and the sample data it uses."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import openpyxl

from layer_sync.cli import main
from layer_sync.cli.demo import run_demo
from layer_sync.read.stacks import read_stacks
from layer_sync.tools import samples

SAMPLE_DATA = Path(__file__).parent.parent / "sample_data"


def test_demo_shows_every_outcome_with_no_key_and_no_network(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    code = main(["demo"], environ={}, stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    assert code == 0, text
    assert "7 rows: 3 created, 1 updated, 2 unchanged, 1 invalid, 0 failed, 0 skipped" in text
    assert "1 layer on the server is not in the sheet" in text
    assert "Stacks!F10 [error]" in text and "type 001" in text
    assert "layer-sync check my_stacks.xlsx" in text  # the offline check, for the bench
    report = next((tmp_path / "layer-sync-reports").glob("layer-sync_lab_stacks_*.xlsx"))
    assert f"Report: layer-sync-reports/{report.name}" in text
    book = openpyxl.load_workbook(report)
    assert book.sheetnames == ["Summary", "Rows", "Issues", "Not in sheet"]


def test_demo_as_a_new_user_runs_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATOMSCALE", "AS_"))}
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"
    proc = subprocess.run([sys.executable, "-m", "layer_sync", "demo", "--json"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)  # with --json, stdout is the JSON object alone
    assert "Report: layer-sync-reports/" in proc.stderr and "Traceback" not in proc.stderr
    assert (payload["created"], payload["updated"], payload["unchanged"], payload["invalid"],
            payload["remote_only"]) == (3, 1, 2, 1, 1)


def test_committed_sample_data_is_what_the_code_writes(tmp_path):
    samples.write_all(tmp_path)
    assert json.loads((tmp_path / "sandbox_seed.json").read_text()) == \
        json.loads((SAMPLE_DATA / "sandbox_seed.json").read_text())
    assert (tmp_path / "lab_stacks.csv").read_bytes() == (SAMPLE_DATA / "lab_stacks.csv").read_bytes()
    for name in ("lab_stacks.xlsx",):
        ours = openpyxl.load_workbook(tmp_path / name)["Stacks"]
        committed = openpyxl.load_workbook(SAMPLE_DATA / name)["Stacks"]
        assert [[c.value for c in r] for r in ours.iter_rows()] == \
            [[c.value for c in r] for r in committed.iter_rows()]
        assert sorted(map(str, ours.merged_cells.ranges)) == sorted(map(str, committed.merged_cells.ranges))


def test_sample_workbook_and_csv_read_to_the_same_stacks():
    def key(path):
        return [(r.values.get("sample_id"), r.values.get("layer_id"), r.values.get("orientation"),
                 r.valid) for r in read_stacks(path).rows]

    from_workbook = key(SAMPLE_DATA / "lab_stacks.xlsx")
    assert from_workbook == key(SAMPLE_DATA / "lab_stacks.csv")
    # Not two empty readings: the seven layers of the three stacks, one of them invalid.
    assert len(from_workbook) == 7 and [valid for *_, valid in from_workbook].count(False) == 1
    assert {(s, layer) for s, layer, _, _ in from_workbook} >= {(101, 1), (102, 2), (103, 2)}


def test_demo_names_the_copy_of_the_sample_sheet_it_used(tmp_path, monkeypatch):
    # An installed package has no sample_data/ folder: the demo says which file it synced.
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    assert main(["demo", "--report", str(tmp_path / "r.xlsx")], environ={}, stdout=out,
                stderr=io.StringIO()) == 0
    text = out.getvalue()
    assert "sample_data/" not in text
    used = Path(re.search(r"a fresh copy, (\S+lab_stacks\.xlsx), removed afterwards", text)[1])
    assert used.is_absolute() and not used.exists()  # a temporary copy, and it says so
    assert "layer-sync demo --copy-sample DIR" in text
    book = openpyxl.load_workbook(tmp_path / "r.xlsx")
    assert any(str(used) in str(c.value) for row in book["Summary"].iter_rows() for c in row)


def test_copy_sample_writes_the_sample_files_for_the_user(tmp_path):
    folder = tmp_path / "my lab"
    out = io.StringIO()
    assert main(["demo", "--copy-sample", str(folder)], environ={}, stdout=out,
                stderr=io.StringIO()) == 0
    assert sorted(p.name for p in folder.iterdir()) == \
        ["lab_stacks.csv", "lab_stacks.xlsx", "sandbox_seed.json"]
    assert json.loads((folder / "sandbox_seed.json").read_text(encoding="utf-8")) == samples.SEED
    rows = read_stacks(folder / "lab_stacks.xlsx").rows
    assert len(rows) == 7 and sum(not r.valid for r in rows) == 1  # F10, on purpose
    assert f"layer-sync check {folder / 'lab_stacks.xlsx'}" in out.getvalue()
    # Nothing is run: no sandbox, no report.
    assert not (tmp_path / "reports").exists()


def test_copy_sample_never_writes_over_a_file(tmp_path):
    folder = tmp_path / "lab"
    folder.mkdir()
    (folder / "lab_stacks.csv").write_text("my own work\n", encoding="utf-8")
    err = io.StringIO()
    code = main(["demo", "--copy-sample", str(folder), "--json"], environ={},
                stdout=io.StringIO(), stderr=err)
    assert code == 2 and err.getvalue().count("\n") == 1
    assert "lab_stacks.csv already exists" in err.getvalue()
    assert sorted(p.name for p in folder.iterdir()) == ["lab_stacks.csv"]  # none written
    assert (folder / "lab_stacks.csv").read_text(encoding="utf-8") == "my own work\n"
    (tmp_path / "a file").write_text("", encoding="utf-8")
    code = main(["demo", "--copy-sample", str(tmp_path / "a file")], environ={},
                stdout=io.StringIO(), stderr=(err := io.StringIO()))
    assert code == 2 and "is not a folder" in err.getvalue()


def test_the_demo_does_not_wait_for_its_own_fresh_sheet(tmp_path, monkeypatch, caplog):
    # A sheet modified moments ago is watched until still (it may be being saved); the demo's
    # own copy, written and closed by the demo, is not.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LAYER_SYNC_STILL_SECONDS", "2")  # as outside the tests
    caplog.set_level("INFO", logger="layer_sync")
    outcome = run_demo(report=tmp_path / "r.xlsx")
    assert outcome.counts["created"] == 3
    assert "may still be being written" not in caplog.text
