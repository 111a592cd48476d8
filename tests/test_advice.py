"""Hints that use what is known (issue 23): an orientation a spreadsheet changed is named with
what may have become it, offline; with the server's value once the server is known; and a
hint never proposes a value that would change the server by itself. A CSV says once what
spreadsheet programs do to it, and an exported CSV that a spreadsheet program opened and
saved syncs back with nothing written."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest

from layer_sync.cli import main
from layer_sync.plan.build import build_plan, merge_issues
from layer_sync.read.stacks import read_stacks
from layer_sync.rules.advice import OrientationIssue
from layer_sync.rules.crystal import mangled_orientation
from layer_sync.run.check import check_file
from layer_sync.run.sync import sync_file
from layer_sync.tools.samples import SEED

from .conftest import API_KEY

#: The sample server, and layers whose orientations a spreadsheet changes in every way:
#: 0001 (GaN: the issue's case, 1 like 001), 1-10 and 11-20 (dates), 110 (stays).
MORE = [
    {"id": 1101, "sample_id": 103, "sample_name": "GaN on sapphire", "substrate": "Al2O3",
     "layer_id": 1, "composition_string": "GaN", "orientation": "0001"},
    {"id": 1102, "sample_id": 103, "sample_name": "GaN on sapphire", "substrate": "Al2O3",
     "layer_id": 2, "composition_string": "AlN", "orientation": "11-20"},
    {"id": 1103, "sample_id": 104, "sample_name": "Si films", "substrate": "Si",
     "layer_id": 1, "composition_string": "Si", "orientation": "110"},
    {"id": 1104, "sample_id": 104, "sample_name": "Si films", "substrate": "Si",
     "layer_id": 2, "composition_string": "SiO2", "orientation": "1-10"},
]
#: What each exported orientation becomes once a spreadsheet program has saved the CSV.
CHANGED = {"001": "1", "0001": "1", "1-10": None, "11-20": None}  # None: a date


@pytest.fixture
def lab(sandbox):
    sandbox.store.seed([dict(e) for e in SEED] + [dict(e) for e in MORE])
    sandbox.stats.reset()
    return sandbox


def _env(server):
    return {"ATOMSCALE_API_KEY": API_KEY, "ATOMSCALE_API_URL": server.url}


def _cli(args, env):
    out, err = io.StringIO(), io.StringIO()
    code = main(args, environ=env, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


# ------------------------------------------------------------- a spreadsheet program's saving

def _date(text: str, style: str) -> str | None:
    """`1-10` as the date a spreadsheet makes of it, written back in `style`; None: no date."""
    match = re.fullmatch(r"(\d{1,2})-(\d{1,2})", text)
    if match is None:
        return None
    first, second = int(match[1]), int(match[2])
    if not (1 <= first <= 12 and 1 <= second <= 31):
        return None
    when = dt.date(2026, first, second)
    return when.strftime("%d-%b").lstrip("0") if style == "excel" else when.isoformat()


def _as_saved(cell: str, style: str) -> str:
    """A CSV cell after a spreadsheet program opened it as a General cell and saved it again:
    digits are a number (leading zeros gone), (digits) an accounting negative, m-d a date."""
    if re.fullmatch(r"-?\d+", cell):
        return str(int(cell))
    if match := re.fullmatch(r"\((\d+)\)", cell):
        return str(-int(match[1]))
    date = _date(cell, style)
    return cell if date is None else date


def spreadsheet_saves(path: Path, style: str = "excel") -> None:
    """What Excel (`excel`: dates written as 10-Jan) or a spreadsheet in an ISO locale
    (`iso`: 2026-01-10) does to a CSV it opens and saves: every line padded to the widest,
    numbers and dates as shown; the title row above the header stays one cell."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    width = max(len(row) for row in rows)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        for row in rows:
            writer.writerow([_as_saved(c, style) for c in row + [""] * (width - len(row))])


def _export_csv(server, path: Path) -> Path:
    code, _, err = _cli(["export", str(path)], _env(server))
    assert code == 0, err
    server.stats.reset()
    return path


# ------------------------------------------------------------------------------- the tests

@pytest.mark.parametrize("style", ["excel", "iso"])
def test_an_exported_csv_saved_by_a_spreadsheet_program_is_refused_naming_the_servers_values(
        lab, tmp_path, style):
    path = _export_csv(lab, tmp_path / "stacks.csv")
    exported = {(r.values["sample_id"], r.values["layer_id"]): r.values["orientation"]
                for r in read_stacks(path).rows}
    spreadsheet_saves(path, style)
    outcome = sync_file(path, api_key=API_KEY, api_url=lab.url, dry_run=True, report=False)
    assert lab.stats.by_method == {"GET": 1}
    changed = {key for key, value in exported.items() if value in CHANGED}
    assert changed and {r.action.key for r in outcome.results if r.result == "invalid"} == changed
    assert outcome.counts["updated"] == 0  # nothing would be written over the server's values
    by_key = {r.action.key: r for r in outcome.results}
    for key in changed:
        server = exported[key]
        message = by_key[key].message
        # The hint names the server's value, and that alone: the GaN layer says 0001, not 001.
        assert f"the server holds {server}: if that is what you meant, type {server}" in message
        assert re.findall(r"type (\S+)", message) == [server]
        assert "this is a CSV" in message
    # Said once for the file: what a spreadsheet program does to a CSV, and the two ways out.
    notes = [i for i in outcome.issues if i.row is None]
    assert len(notes) == 1 and f"{len(changed)} orientations in this CSV" in notes[0].message
    assert ".xlsx" in notes[0].message and "imported as text" in notes[0].message


def test_following_the_hints_changes_nothing_on_the_server(lab, tmp_path):
    """The issue's case: following "type 001" for the GaN layer made `0001 → 001`. Each value
    a hint proposes is typed in (as text); the sync then has nothing to write."""
    path = _export_csv(lab, tmp_path / "stacks.csv")
    spreadsheet_saves(path)
    outcome = sync_file(path, api_key=API_KEY, api_url=lab.url, dry_run=True, report=False)
    typed = {}
    for issue in outcome.issues:
        if issue.row is not None:
            (value,) = re.findall(r"type (\S+)", issue.message)
            typed[(issue.row, issue.column)] = value
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    column = rows[1].index("orientation")
    for (row, _), value in typed.items():
        rows[row - 1][column] = value
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    lab.stats.reset()
    again = sync_file(path, api_key=API_KEY, api_url=lab.url, report=False)
    assert again.exit_code == 0 and again.counts["unchanged"] == again.counts["rows"]
    assert lab.stats.by_method == {"GET": 1}  # no PATCH: what the server holds is kept


def test_a_value_the_server_does_not_hold_is_never_proposed(lab, tmp_path):
    """The cell shows 1 where the server holds 111: neither 001 nor 0001 is proposed (either
    would change the server), and the server's value is named."""
    path = tmp_path / "lab.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["sample_id", "layer_id", "orientation"])
    book.active.append([101, 2, 1])     # the server holds 111
    book.active.append([101, 1, -1])    # 001 typed as (001): an accounting negative
    book.active.append([104, 2, dt.datetime(2026, 1, 10)])  # 1-10 became a date
    book.active.append([101, 9, 1])     # a layer the server does not hold
    book.save(path)
    outcome = sync_file(path, api_key=API_KEY, api_url=lab.url, dry_run=True, report=False)
    messages = [r.message for r in outcome.results]
    assert ("the server holds 111, which is not one of them: format the orientation column "
            "as text and type the indices you mean") in messages[0]
    assert "(001 and 0001 both become 1)" in messages[0]
    assert "accounting negative" in messages[1] and "the server holds 001: if that is" in messages[1]
    assert "into a date (2026-01-10)" in messages[2] and "type 1-10" in messages[2]
    assert "the server holds" not in messages[3] and "type the indices you mean" in messages[3]
    # Only a value the server holds is ever proposed.
    assert [re.findall(r"type (\d[\d-]*)", m) for m in messages] == [[], ["001"], ["1-10"], []]
    assert not [i for i in outcome.issues if i.row is None]  # no CSV note for a workbook


def test_check_offline_names_no_single_value_and_with_a_key_names_the_servers(lab, tmp_path):
    path = _export_csv(lab, tmp_path / "stacks.csv")
    spreadsheet_saves(path)
    offline = check_file(path, offline=True)
    changed = [i for i in offline.issues if i.row is not None]
    assert changed and all("type the indices you mean" in i.message.lower() for i in changed)
    assert not any(re.search(r"type \d", i.message, re.IGNORECASE) for i in changed)
    assert "(001 and 0001 both become 1)" in changed[0].message
    assert offline.requests == {} and offline.api_url is None
    code, out, err = _cli(["check", str(path), "--json"], _env(lab))
    assert code == 1, err
    assert "the server holds 0001: if that is what you meant, type 0001" in err
    line = json.loads(out)
    assert line["api_url"] == lab.url and line["requests"]["GET"] == 1
    assert lab.stats.by_method == {"GET": 1}  # read once; nothing written


def test_the_plan_completes_the_readers_advice_without_changing_the_rows(tmp_path):
    path = tmp_path / "lab.csv"
    path.write_text("sample_id,layer_id,orientation\n103,1,1\n103,1,1\n", encoding="utf-8")
    data = read_stacks(path)
    reader = [i for i in data.issues if isinstance(i, OrientationIssue)]
    before = [i.message for i in reader]
    entries = [dict(e) for e in MORE[:1]]
    plan = build_plan(data, entries)
    merged = merge_issues(data.issues, plan)
    assert [i.message for i in reader] == before  # the reader's rows are not written into
    advised = [i for i in merged if isinstance(i, OrientationIssue)]
    assert len(advised) == 2 and all("the server holds 0001" in i.message for i in advised)
    assert [(i.row, i.cell) for i in advised] == [(i.row, i.cell) for i in reader]
    # Against a server without that layer, the plan leaves the reader's advice as it is.
    kept = merge_issues(data.issues, build_plan(data, []))
    assert [i for i in kept if isinstance(i, OrientationIssue)] == reader


@pytest.mark.parametrize("raw,readings", [
    (1, ("001", "0001")), (1.0, ("001", "0001")), ("1", ("001", "0001")), (10, ("010",)),
    (-1, ("001", "0001")), ("-1", ("001", "0001")), (-110, ("110", "-110")),
    (dt.date(2026, 1, 10), ("1-10", "10-1", "01-10")), ("10-Jan", ("1-10", "10-1", "01-10")),
    ("2026-01-10", ("1-10", "10-1", "01-10")), ("1/10/2026", ("1-10", "10-1", "01-10")),
    ("10.01.2026", ("1-10", "10-1", "01-10")), ("20-Nov", ("11-20",)),
    (dt.datetime(2026, 11, 20), ("11-20",)),
])
def test_what_a_changed_cell_may_have_been(raw, readings):
    assert mangled_orientation(raw).readings == readings


@pytest.mark.parametrize("raw", ["001", "0001", "1-10", "110", "-110", "11-20", 111, 110.0,
                                 "abc", 1.5, True, None])
def test_what_a_spreadsheet_leaves_alone_is_not_taken_for_a_change(raw):
    assert mangled_orientation(raw) is None


@pytest.mark.parametrize("style", ["excel", "iso"])
@pytest.mark.parametrize("command", ["export", "template"])
def test_a_csv_the_tool_writes_says_so_at_the_top_and_a_spreadsheets_save_keeps_it_a_title(
        lab, tmp_path, command, style):
    """The first line of an exported or template CSV tells a spreadsheet user what happens
    to Miller indices in a CSV; it is a title row the reader skips, and a spreadsheet
    program's save (padding it to the width) keeps it one."""
    path = tmp_path / "stacks.csv"
    args = [command, str(path)]
    code, said, err = _cli(args, _env(lab))
    assert code == 0, err
    first = path.read_text(encoding="utf-8-sig").splitlines()[0]
    assert first.startswith("layer-sync sheet. Keep the orientation column as text")
    assert "," not in first and ";" not in first  # one cell, and no delimiter to sniff
    if command == "template":
        assert "open the CSV with the orientation column imported as text" in said
    spreadsheet_saves(path, style)
    assert path.read_text(encoding="utf-8").splitlines()[0].endswith(",,,,,,,,")
    assert read_stacks(path).header_row == 2


def test_an_exported_csv_with_its_note_syncs_straight_back_with_nothing_to_change(lab, tmp_path):
    path = _export_csv(lab, tmp_path / "stacks.csv")
    padded = tmp_path / "padded.csv"  # saved by a program that keeps text (imported as text)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    with padded.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(r + [""] * (9 - len(r)) for r in rows)
    for sheet in (path, padded):
        lab.stats.reset()
        outcome = sync_file(sheet, api_key=API_KEY, api_url=lab.url, report=False)
        assert outcome.exit_code == 0 and outcome.issues == []
        layers = sum(e.get("layer_id") is not None for e in [*SEED, *MORE])
        assert outcome.counts["unchanged"] == outcome.counts["rows"] == layers
        assert lab.stats.by_method == {"GET": 1}


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_libreoffice_opening_and_saving_an_export_is_caught(lab, tmp_path):
    """The real thing, where it is installed: LibreOffice opens the exported CSV as a General
    column (special numbers detected, as Excel does) and saves it; the title row survives,
    001 and 0001 became 1, and the sync refuses them naming the server's values."""
    path = _export_csv(lab, tmp_path / "stacks.csv")
    out = tmp_path / "saved"
    done = subprocess.run(
        ["soffice", "--headless", "--infilter=CSV:44,34,76,1,,1033,false,true",
         "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76,1", "--outdir", str(out),
         str(path)], capture_output=True, text=True, timeout=90, check=False,
        env={"HOME": str(tmp_path / "lo-home"), "PATH": "/usr/bin:/bin"})
    saved = out / "stacks.csv"
    if done.returncode != 0 or not saved.exists():
        pytest.skip(f"LibreOffice could not convert here: {done.stderr[-200:]}")
    assert saved.read_text(encoding="utf-8").splitlines()[0].startswith('"layer-sync sheet.')
    outcome = sync_file(saved, api_key=API_KEY, api_url=lab.url, dry_run=True, report=False)
    invalid = [r for r in outcome.results if r.result == "invalid"]
    assert invalid and all("the server holds 0" in r.message for r in invalid)
    assert outcome.counts["updated"] == 0 and lab.stats.by_method == {"GET": 1}
