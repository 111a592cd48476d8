"""Reports that suit cron: beside the sheet by default, each night its own name, the newest N
(or N days) kept when asked, and nothing but the sheet's own reports ever removed."""

from __future__ import annotations

import datetime as _dt
import io
import json
import os

import pytest

from layer_sync import Runtime, sync_file
from layer_sync.cli import main
from layer_sync.report.paths import is_layer_sync_report

from .conftest import API_KEY, key_file_line

SHEET = "sample_id,layer_id,orientation\n1,1,001\n"


def _night(day: int):
    return lambda: _dt.datetime(2026, 11, day, 2, 0, 0, 123_000).astimezone()


@pytest.fixture
def sheet(tmp_path):
    path = tmp_path / "lab.csv"
    path.write_text(SHEET, encoding="utf-8")
    return path


def _sync(stack, sheet, day, **options):
    return sync_file(sheet, api_key=API_KEY, api_url=stack.url, runtime=Runtime(now=_night(day)),
                     **options)


def test_each_night_keeps_its_own_report_and_old_ones_are_kept_as_told(stack, sheet, tmp_path):
    folder = tmp_path / "layer-sync-reports"
    written = [_sync(stack, sheet, day).report for day in range(1, 6)]
    assert len(set(written)) == 5 and all(p.parent == folder for p in written)
    # The lab's own files in the folder, and look-alikes that are not this sheet's reports.
    keep_out = {
        "notes.xlsx": b"PK\x03\x04 the lab's workbook",
        "layer-sync_lab_csv_20261101-020000-000.xlsx": b"not a report at all",  # our name only
        "layer-sync_other_csv_20261101-020000-000.xlsx": written[0].read_bytes(),  # other sheet
        "layer-sync_lab_xlsx_20261101-020000-000.xlsx": written[0].read_bytes(),  # lab.xlsx's
    }
    for name, data in keep_out.items():
        (folder / name).write_bytes(data)
    (folder / "sub").mkdir()
    os.symlink(written[1], folder / "layer-sync_lab_csv_20261102-020000-999.xlsx")
    latest = _sync(stack, sheet, 6, keep_reports=3).report
    left = sorted(p.name for p in folder.iterdir())
    kept = [p.name for p in (*written[3:], latest)]
    assert all(name in left for name in kept) and not any(p.name in left for p in written[:2])
    assert written[2].name not in left  # the newest 3: nights 4, 5 and 6
    for name, data in keep_out.items():  # nothing else is ever touched
        assert (folder / name).read_bytes() == data
    assert (folder / "sub").is_dir() and os.path.islink(folder / "layer-sync_lab_csv_20261102-020000-999.xlsx")


def test_keep_days_removes_only_older_own_reports(stack, sheet, tmp_path):
    for day in (1, 10, 20):
        _sync(stack, sheet, day)
    _sync(stack, sheet, 25, keep_days=7)
    names = sorted(p.name for p in (tmp_path / "layer-sync-reports").iterdir())
    assert [n[19:27] for n in names] == ["20261120", "20261125"]
    assert all(is_layer_sync_report(tmp_path / "layer-sync-reports" / n) for n in names)


def test_the_report_folder_and_retention_come_from_layer_sync_toml(stack, sheet, tmp_path,
                                                                   monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "layer-sync.toml").write_text(
        f'api_url = "{stack.url}"\nreport_dir = "nights"\nkeep_reports = 2\n'
        + key_file_line(tmp_path), encoding="utf-8")
    for _ in range(3):
        out = io.StringIO()
        assert main(["sync", "lab.csv", "--json"], environ={"ATOMSCALE_API_KEY": API_KEY},
                    stdout=out, stderr=io.StringIO()) == 0
        report = json.loads(out.getvalue())["report"]
        assert report.startswith(str(tmp_path / "nights")) and os.path.isfile(report)
    assert len(list((tmp_path / "nights").iterdir())) == 2


def test_a_report_folder_that_cannot_be_made_is_refused_before_anything_is_sent(stack, sheet,
                                                                                tmp_path):
    blocker = tmp_path / "not a folder"
    blocker.write_text("x")
    stack.stats.reset()
    out, err = io.StringIO(), io.StringIO()
    code = main(["sync", str(sheet), "--api-url", stack.url, "--json", "--report-dir",
                 str(blocker / "reports")], environ={"ATOMSCALE_API_KEY": API_KEY}, stdout=out,
                stderr=err)
    assert code == 2 and stack.stats.total == 0, err.getvalue()
    assert "cannot be written" in err.getvalue() and "--report-dir" in err.getvalue()
    assert json.loads(out.getvalue())["reason"]["kind"] == "output_refused"
