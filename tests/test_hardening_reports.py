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


# ============================================================ what a killed run leaves

def _partial(folder: Path, name: str = ".layer-sync-partial.abc123.tmp", owner: bool = True):
    work = folder / name
    work.mkdir(parents=True)
    (work / "r.xlsx").write_bytes(b"PK half a workbook")
    (work / "tmpxyz").write_bytes(b"x" * 10_000)
    if owner:  # what its writer wrote once it held the lock
        (work / "owner.lock").write_bytes(b"4242\n")
    return work


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGKILL"), reason="kill -9 is POSIX's")
def test_a_killed_writers_folder_is_removed_by_the_next_write_into_that_folder(tmp_path):
    """The red team's repro: kill -9 while a large report was saved left `.r.<random>.tmp`
    folders of tens of MB, one per killed run, for ever. The folder's owner lock died with
    its process: the next write there removes it."""
    import signal
    import subprocess
    import sys
    import time

    from layer_sync.report.writer import write_atomically

    target = tmp_path / "r.xlsx"
    code = ("import sys, time; from pathlib import Path; "
            "from layer_sync.report.writer import replacing\n"
            "with replacing(Path(sys.argv[1])) as part:\n"
            "    part.write_bytes(b'x' * 100000); print('writing', flush=True); time.sleep(60)\n")
    writer = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE,
                              text=True)
    assert writer.stdout is not None and writer.stdout.readline().strip() == "writing"
    (left,) = [p for p in tmp_path.iterdir() if p.name.startswith(".layer-sync-partial.")]
    # While it writes, another write into the folder leaves its folder alone.
    write_atomically(tmp_path / "other.csv", lambda h: h.write(b"a,b\n"))
    assert left.is_dir()
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert left.is_dir() and not target.exists()  # nothing under the final name
    start = time.perf_counter()
    write_atomically(tmp_path / "other.csv", lambda h: h.write(b"a,b\n"))
    assert not left.exists() and time.perf_counter() - start < 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.csv"]


def test_the_next_report_cleans_what_killed_runs_left_and_nothing_else(stack, tmp_path):
    sheet = tmp_path / "lab.csv"
    sheet.write_text(SHEET, encoding="utf-8")
    folder = tmp_path / "layer-sync-reports"
    dead = [_partial(folder, f".layer-sync-partial.dead{n}.tmp") for n in range(3)]
    unowned_new = _partial(folder, ".layer-sync-partial.new.tmp", owner=False)
    unowned_old = _partial(folder, ".layer-sync-partial.old.tmp", owner=False)
    os.utime(unowned_old, (0, 0))
    being_made = _partial(folder, ".layer-sync-partial.making.tmp", owner=False)
    (being_made / "owner.lock").write_bytes(b"")  # made, not yet locked: a writer starting
    elsewhere = _partial(tmp_path / "elsewhere", ".layer-sync-partial.linked.tmp")
    os.symlink(elsewhere, folder / ".layer-sync-partial.link.tmp")
    (folder / ".layer-sync-partial.file.tmp").write_bytes(b"a file, not our folder")
    lab_own = _partial(folder, ".lab-notes.tmp")
    report = _sync(stack, sheet, 1).report
    left = sorted(p.name for p in folder.iterdir())
    assert not any(p.exists() for p in dead) and not unowned_old.exists()
    assert unowned_new.is_dir() and lab_own.is_dir() and elsewhere.is_dir() and being_made.is_dir()
    assert left == sorted([report.name, ".layer-sync-partial.new.tmp", ".layer-sync-partial.link.tmp",
                           ".layer-sync-partial.file.tmp", ".lab-notes.tmp",
                           ".layer-sync-partial.making.tmp"])


def test_a_live_writers_folder_is_never_removed(tmp_path):
    fcntl = pytest.importorskip("fcntl")
    from layer_sync.report.writer import clean_partials

    work = _partial(tmp_path)
    fd = os.open(work / "owner.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert clean_partials(tmp_path) == [] and work.is_dir()
    finally:
        os.close(fd)
    assert clean_partials(tmp_path) == [work] and not work.exists()


def test_empty_report_names_that_killed_runs_reserved_are_removed_later(stack, tmp_path):
    """A run killed before its report was saved leaves the empty file that held its report's
    name: removed by a later run of the same sheet once it is hours old (a run still going
    would write its report all the same), never another sheet's, nor a non-empty file."""
    sheet = tmp_path / "lab.csv"
    sheet.write_text(SHEET, encoding="utf-8")
    folder = tmp_path / "layer-sync-reports"
    folder.mkdir()
    old_empty = folder / "layer-sync_lab_csv_20261101-020000-000.xlsx"
    new_empty = folder / "layer-sync_lab_csv_20261102-020000-000.xlsx"
    other_sheet = folder / "layer-sync_other_csv_20261101-020000-000.xlsx"
    not_empty = folder / "layer-sync_lab_csv_20261101-030000-000.xlsx"
    for path in (old_empty, new_empty, other_sheet):
        path.write_bytes(b"")
    not_empty.write_bytes(b"something")
    for path in (old_empty, other_sheet, not_empty):
        os.utime(path, (0, 0))
    report = _sync(stack, sheet, 3).report
    assert not old_empty.exists()
    assert new_empty.exists() and other_sheet.exists() and not_empty.exists() and report.exists()
