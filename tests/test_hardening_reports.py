"""The report side of the red-team findings: report names unique per sheet, retention that
removes only the reports provably made for this sheet, and temporary files that never
outlive a run (or are recognised and cleaned by the next)."""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

import pytest

from layer_sync import Runtime, sync_file
from layer_sync.report.paths import report_stem

from .conftest import API_KEY

SHEET = "sample_id,layer_id,orientation\n1,1,001\n"


def _night(day: int, ms: int = 123):
    return lambda: _dt.datetime(2026, 11, day, 2, 0, 0, ms * 1000).astimezone()


def _sync(server, sheet, day, **options):
    return sync_file(sheet, api_key=API_KEY, api_url=server.url, runtime=Runtime(now=_night(day)),
                     **options)


# ============================================================ report names and retention

SHARED = "2026 thin-film campaign - BTO STO superlattices grown on the PLD chamber 2 - shared with the XRD group"
#: Pairs of sheet names that a report name cut to 100 bytes could not tell apart.
LOOK_ALIKE_PAIRS = [
    (f"{SHARED} - Alice.csv", f"{SHARED} - Bob.csv"),
    ("é" * 60 + "a.csv", "é" * 60 + "b.csv"),            # two bytes a letter, cut mid-way
    ("Ω" * 50 + "1.txt", "Ω" * 50 + "2.txt"),
    ("x" * 99 + "1.csv", "x" * 99 + "2.csv"),            # cut exactly at the boundary
    ("lab\x01.csv", "lab\x02.csv"),                     # control characters, both shown "_"
    ("lab\n.csv", "lab\r.csv"),
]


@pytest.mark.parametrize("alice,bob", LOOK_ALIKE_PAIRS, ids=range(len(LOOK_ALIKE_PAIRS)))
def test_sheets_whose_report_names_would_be_cut_alike_keep_each_others_reports(
        stack, tmp_path, alice, bob):
    """The red team's repro: two sheets whose names share their first 100 bytes, each run
    with --keep-reports 1 in one folder: Bob's run deleted Alice's report."""
    paths = []
    for name in (alice, bob):
        path = tmp_path / name
        path.write_text(SHEET, encoding="utf-8")
        paths.append(path)
    when = _dt.datetime(2026, 11, 1)
    assert report_stem(paths[0], when) != report_stem(paths[1], when)
    first = _sync(stack, paths[0], 1, dry_run=True, keep_reports=1).report
    _sync(stack, paths[1], 2, dry_run=True, keep_reports=1)
    _sync(stack, paths[1], 3, dry_run=True, keep_reports=1)
    left = sorted(p.name for p in (tmp_path / "layer-sync-reports").iterdir())
    assert first.name in left and len(left) == 2
    later = _sync(stack, paths[0], 4, dry_run=True, keep_reports=1).report
    left = sorted(p.name for p in (tmp_path / "layer-sync-reports").iterdir())
    assert first.name not in left and later.name in left and len(left) == 2


@pytest.mark.parametrize("name", ["lab.csv", SHARED + ".xlsx", "é" * 200 + ".csv",
                                  "a\x1b[31mb.csv"])
def test_a_report_name_fits_a_folder_and_starts_with_its_prefix(tmp_path, name):
    stem = report_stem(Path(name), _dt.datetime(2026, 11, 1, 2, 0))
    assert len(os.fsencode(stem + "-999.xlsx")) <= 200
    assert not any(ord(c) < 32 for c in stem)


def test_a_short_plain_name_keeps_the_documented_report_name():
    assert report_stem(Path("lab.csv"), _dt.datetime(2026, 11, 23, 2, 0, 0, 5000)) == \
        "layer-sync_lab_csv_20261123-020000-005"


def test_two_sheets_of_one_name_sharing_a_report_folder_keep_each_others_reports(stack,
                                                                                 tmp_path):
    """lab.csv of two folders, both reported into one --report-dir: the names are alike,
    but each report says which file it was made for, and only that one's are removed."""
    shared = tmp_path / "reports"
    sheets = []
    for lab in ("a", "b"):
        (tmp_path / lab).mkdir()
        sheet = tmp_path / lab / "lab.csv"
        sheet.write_text(SHEET, encoding="utf-8")
        sheets.append(sheet.absolute())
    first = _sync(stack, sheets[0], 1, dry_run=True, report_dir=shared, keep_reports=1).report
    _sync(stack, sheets[1], 2, dry_run=True, report_dir=shared, keep_reports=1)
    _sync(stack, sheets[1], 3, dry_run=True, report_dir=shared, keep_reports=1)
    left = sorted(p.name for p in shared.iterdir())
    assert first.name in left and len(left) == 2
