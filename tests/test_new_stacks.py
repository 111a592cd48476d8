"""New stacks are a first-class path, and matching by name is visible (issue 23): the filled
template, as its instructions say, through check, a dry run and a sync, with and without
--create-samples; a problem that belongs to a stack said once, naming its rows; a stack
named like one on the server shown as resolved before anything is written."""

from __future__ import annotations

import io
import json
from pathlib import Path

import openpyxl
import pytest

from layer_sync.cli import main
from layer_sync.core.errors import OptionError
from layer_sync.core.options import CheckOptions, SyncOptions
from layer_sync.outcome.jsonline import FIELDS
from layer_sync.run.check import check_file
from layer_sync.run.sync import sync_file
from layer_sync.tools.samples import SEED
from layer_sync.tools.templates import write_template

from .conftest import API_KEY, dead_url

DEAD = dead_url("new-stacks")  # no server

#: The template's example written over: a new stack, and one named like a stack on the
#: server (the issue's "LSMO on LAO" / LaAlO3, target material 102) without its sample_id.
NEW = [("BTO on STO", "SrTiO3", 1, "SrTiO3", "001"), (None, None, 2, "BaTiO3", "001"),
       (None, None, 3, "SrRuO3", "001")]
SAME_NAME = [("LSMO on LAO", "LaAlO3", 2, "SrTiO3", "1-10")]


@pytest.fixture
def lab(sandbox):
    sandbox.store.seed([dict(e) for e in SEED])
    sandbox.stats.reset()
    return sandbox


def _filled(path: Path, stacks: list[list[tuple]]) -> Path:
    """The template, its example stack written over with `stacks` (a blank row between two)
    in the template's own columns, as a technician fills it in (xlsx or CSV)."""
    write_template(path)
    if path.suffix == ".csv":
        lines = path.read_text(encoding="utf-8-sig").splitlines()[:2]  # the note, the header
        for number, stack in enumerate(stacks):
            if number:
                lines.append(",,,,,,,,")
            lines += [f",{name or ''},{substrate or ''},{layer},{formula},,{hkl},,"
                      for name, substrate, layer, formula, hkl in stack]
        path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
        return path
    book = openpyxl.load_workbook(path)
    ws = book["Layers"]
    for row in ws.iter_rows(min_row=2, max_row=4):
        for cell in row:
            cell.value = None
    at = 2
    for number, stack in enumerate(stacks):
        at += 1 if number else 0
        for name, substrate, layer, formula, hkl in stack:
            for letter, value in zip("BCDEG", (name, substrate, layer, formula, hkl)):
                ws[f"{letter}{at}"] = value
            at += 1
    book.save(path)
    return path


def _cli(args, env):
    out, err = io.StringIO(), io.StringIO()
    code = main(args, environ=env, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _env(server=None):
    if server is None:
        return {"ATOMSCALE_API_URL": DEAD}  # no key, and no server
    return {"ATOMSCALE_API_KEY": API_KEY, "ATOMSCALE_API_URL": server.url}


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_the_filled_template_without_create_samples(lab, tmp_path, suffix):
    path = _filled(tmp_path / f"mine{suffix}", [NEW])
    top = 3 if suffix == ".csv" else 2  # the CSV's first line is its note
    rows = f"rows {top}\u2013{top + 2}"
    # check, offline: every row valid, and it says what it cannot know.
    code, out, err = _cli(["check", str(path)], _env())
    assert code == 0, err
    assert f"1 stack named without a sample_id: BTO on STO / SrTiO3 ({rows})" in out
    assert "cannot be told offline (no API key" in out and "--create-samples" in out
    # check, with a key: which stacks the server does not have yet.
    code, out, err = _cli(["check", str(path)], _env(lab))
    assert code == 0, err
    assert ("1 stack is not on the server yet: it would be created with --create-samples"
            in out) and f"+ BTO on STO / SrTiO3 ({rows})" in out
    assert lab.stats.by_method == {"GET": 1}
    # The dry run as a new user ran it: every row refused, the reason said once, its rows named.
    code, out, err = _cli(["sync", str(path), "--dry-run", "--report",
                           str(tmp_path / "r.xlsx")], _env(lab))
    assert code == 1, err
    assert out.count("no target material named 'BTO on STO' on SrTiO3") == 1
    assert f"run with --create-samples; if it exists, check the name or give its sample_id " \
           f"({rows})" in out
    # The report's Issues sheet keeps a line per row: its Rows sheet points each row there.
    issues = list(openpyxl.load_workbook(tmp_path / "r.xlsx")["Issues"].iter_rows(
        min_row=2, values_only=True))
    assert [i[1] for i in issues if "no target material" in i[6]] == [top, top + 1, top + 2]
    # The sync without --create-samples writes nothing.
    code, out, _ = _cli(["sync", str(path), "--report", str(tmp_path / "r2.xlsx")], _env(lab))
    assert code == 1 and lab.stats.by_method == {"GET": 3}  # check, dry run, sync: reads


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_the_filled_template_with_create_samples(lab, tmp_path, suffix):
    path = _filled(tmp_path / f"mine{suffix}", [NEW])
    code, out, err = _cli(["sync", str(path), "--dry-run", "--create-samples", "--json",
                           "--report", str(tmp_path / "r.xlsx")], _env(lab))
    assert code == 0, err
    assert "would create 3" in err and "+ 'BTO on STO'/1 SrTiO3 001" in err
    assert json.loads(out)["created"] == 3 and lab.stats.by_method == {"GET": 1}
    code, out, err = _cli(["sync", str(path), "--create-samples", "--report",
                           str(tmp_path / "r2.xlsx")], _env(lab))
    assert code == 0, err
    assert [m["sample_name"] for m in lab.store.target_materials()].count("BTO on STO") == 1
    lab.stats.reset()
    code, out, err = _cli(["sync", str(path), "--create-samples", "--report",
                           str(tmp_path / "r3.xlsx")], _env(lab))
    assert code == 0 and "3 unchanged" in out and lab.stats.by_method == {"GET": 1}


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_a_stack_named_like_one_on_the_server_is_shown_as_resolved(lab, tmp_path, suffix):
    """The issue's case: a template stack "LSMO on LAO" / LaAlO3 without a sample_id became
    `~ 102/2 orientation: 001 → 1-10` and nothing said it was matched by name."""
    path = _filled(tmp_path / f"mine{suffix}", [NEW, SAME_NAME])
    row = 7 if suffix == ".csv" else 6
    resolved = f"LSMO on LAO / LaAlO3 \u2192 target material 102 (row {row})"
    # check, with a key, says it before any sync.
    code, out, err = _cli(["check", str(path)], _env(lab))
    assert code == 0 and f"1 stack matched by name (no sample_id in the sheet; check that " \
                         f"each is the one meant): {resolved}" in out, err
    # The dry run: on the terminal, in the JSON line, in the report's Summary and Rows.
    report = tmp_path / "r.xlsx"
    code, out, err = _cli(["sync", str(path), "--dry-run", "--create-samples", "--json",
                           "--report", str(report)], _env(lab))
    assert code == 0, err
    assert "1 stack matched by name" in err and resolved in err
    assert err.index(resolved) < err.index("~ 102/2 orientation: 001 \u2192 1-10")
    line = json.loads(out)
    assert line["matched_by_name"] == 1 and "matched_by_name" in FIELDS
    book = openpyxl.load_workbook(report)
    summary = {r[0]: r[1] for r in book["Summary"].iter_rows(min_row=2, max_col=2,
                                                             values_only=True)}
    assert summary["Matched by name (no sample_id)"] == resolved
    rows = list(book["Rows"].iter_rows(values_only=True))
    header = rows[0]
    (updated,) = [r for r in rows[1:] if r[header.index("Result")] == "would update"]
    assert updated[header.index("Message")] == \
        "matched by name: LSMO on LAO / LaAlO3 \u2192 target material 102"
    assert updated[header.index("sample_id")] == "102"
    assert lab.stats.by_method == {"GET": 2}  # check's and the dry run's reads: no write


def test_a_sheet_that_names_every_stack_by_id_matches_none_by_name(lab, tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("sample_id,layer_id,orientation\n102,2,001\n", encoding="utf-8")
    outcome = sync_file(path, api_key=API_KEY, api_url=lab.url, dry_run=True, report=False)
    assert outcome.counts["matched_by_name"] == 0 and outcome.matched_by_name == []
    assert outcome.to_dict()["matched_by_name"] == 0


def test_several_stacks_missing_are_each_said_once_naming_their_rows(lab, tmp_path):
    path = tmp_path / "lab.csv"
    path.write_text("sample_name,substrate,layer_id,orientation\n"
                    "A,Si,1,001\n,,2,001\n\nB,Si,1,001\n,,2,001\n,,3,001\n", encoding="utf-8")
    code, out, _ = _cli(["sync", str(path), "--dry-run", "--report",
                         str(tmp_path / "r.xlsx")], _env(lab))
    assert code == 1
    problems = [line for line in out.splitlines() if "no target material named" in line]
    assert len(problems) == 2
    assert problems[0].startswith("  ! lab.csv!A2 [error]") and problems[0].endswith("(rows 2\u20133)")
    assert problems[1].startswith("  ! lab.csv!A5 [error]") and problems[1].endswith("(rows 5\u20137)")


def test_check_with_a_server_that_cannot_be_reached_says_so_and_keeps_its_exit_code(tmp_path):
    path = _filled(tmp_path / "mine.csv", [NEW])
    env = {"ATOMSCALE_API_KEY": API_KEY, "ATOMSCALE_API_URL": DEAD}
    code, out, err = _cli(["check", str(path), "--json"], env)
    assert code == 0 and "Traceback" not in err
    assert "cannot be told (the server's list could not be read:" in err
    line = json.loads(out)
    assert line["api_url"] == DEAD and line["exit_code"] == 0
    assert line["requests"]["GET"] == 2  # CHECK_ATTEMPTS: a bench check does not wait long


def test_offline_is_checks_option_on_the_command_line_and_in_the_config(lab, tmp_path):
    path = _filled(tmp_path / "mine.csv", [NEW])
    (tmp_path / "layer-sync.toml").write_text("offline = true\n", encoding="utf-8")
    code, out, err = _cli(["check", str(path), "--config", str(tmp_path / "layer-sync.toml")],
                          _env(lab))
    assert code == 0 and "cannot be told offline (--offline)" in out, err
    assert lab.stats.total == 0
    # The same file serves sync, which always reads the server: offline is not its option.
    code, out, err = _cli(["sync", str(path), "--dry-run", "--create-samples", "--config",
                           str(tmp_path / "layer-sync.toml"), "--report",
                           str(tmp_path / "r.xlsx")], _env(lab))
    assert code == 0, err
    code, _, err = _cli(["sync", str(path), "--offline"], _env(lab))
    assert code == 2 and "--offline" in err
    with pytest.raises(OptionError, match="offline"):
        SyncOptions(offline=True)
    assert CheckOptions(offline=True).offline
    assert check_file(path, offline=True, api_key=API_KEY).requests == {}
