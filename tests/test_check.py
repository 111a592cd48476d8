"""`layer-sync check`: every sheet rule, offline, with no key and no network."""

from __future__ import annotations

import io
import os
from pathlib import Path

import openpyxl
import pytest

from layer_sync.cli import main
from layer_sync.core.errors import InputFileError
from layer_sync.read.rows import sheet_issues
from layer_sync.read.stacks import read_stacks
from layer_sync.run.check import check_file

from .conftest import dead_url

UNREACHABLE = {"ATOMSCALE_API_URL": dead_url("check")}  # no key at all, and no server

SHEET = ("sample_id,sample_name,layer_id,composition_string,orientation\n"
         "101,BTO,1,SrTiO3,001\n"
         "101,BTO,2,BaTiO3,1\n"           # C3... the orientation in E3 is a mangled 001
         "101,BTO,2,BaTiO3,001\n"         # the key 101/2 a second time
         "102,PZT,1,PbTiO3,001\n"
         "102,PZT,3,PbZrO3,001\n")        # a gap: layer 2 missing (a warning)


def _cli(args, env=None, cwd=None):
    out, err = io.StringIO(), io.StringIO()
    code = main(args, environ=dict(UNREACHABLE if env is None else env), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def sheet(tmp_path) -> Path:
    path = tmp_path / "lab.csv"
    path.write_text(SHEET, encoding="utf-8")
    return path


def test_check_runs_with_no_key_and_an_unreachable_api(sheet):
    code, out, err = _cli(["check", str(sheet)])
    assert code == 1, err
    assert "lab.csv!E3 [error]" in out and "001 and 0001 both become 1" in out
    assert "lab.csv!C3:C4 [error]" in out and "appears on rows 3, 4" in out  # said once
    assert "lab.csv!C6 [warning]" in out and "jump from 1 to 3" in out
    assert "5 rows, 3 valid, 2 invalid" in out and "nothing was sent" in out
    assert "API key" not in err


def test_check_writes_nothing_and_reads_the_server_only_with_something_to_ask(sheet, sandbox,
                                                                              tmp_path):
    env = {"ATOMSCALE_API_URL": sandbox.url, "ATOMSCALE_API_KEY": "a-key"}
    # A changed orientation to say with the server's value: one GET (here refused: a wrong
    # key), and the exit code is still the sheet's.
    code, out, err = _cli(["check", str(sheet)], env=env)
    assert code == 1, err
    assert sandbox.stats.by_method == {"GET": 1}
    assert "001 and 0001 both become 1" in out and "Traceback" not in err
    # --offline: nothing at all.
    sandbox.stats.reset()
    code, out, err = _cli(["check", str(sheet), "--offline"], env=env)
    assert code == 1 and sandbox.stats.total == 0 and "nothing was sent" in out
    # Nothing to ask (every row gives its sample_id, no changed orientation): nothing sent.
    plain = tmp_path / "plain.csv"
    plain.write_text("sample_id,layer_id,orientation\n101,1,001\n", encoding="utf-8")
    code, out, err = _cli(["check", str(plain)], env=env)
    assert code == 0 and sandbox.stats.total == 0, err


def test_warnings_alone_exit_0(tmp_path):
    path = tmp_path / "lab.csv"
    path.write_text("sample_id,layer_id,orientation\n1,1,001\n1,3,111\n", encoding="utf-8")
    code, out, _ = _cli(["check", str(path)])
    assert code == 0
    assert "[warning]" in out and "2 rows, 2 valid, 0 invalid; 0 errors, 1 warning" in out


@pytest.mark.parametrize("text,words", [
    (None, "does not exist"),
    ("name,colour\nx,red\n", "no recognisable header"),
])
def test_an_unreadable_sheet_exits_2(tmp_path, text, words):
    path = tmp_path / "lab.csv"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    code, out, err = _cli(["check", str(path)])
    assert code == 2 and words in err and out == ""


def test_check_file_finds_what_the_reader_finds(sheet):
    outcome = check_file(sheet)
    data = read_stacks(sheet)
    # The reader's issues and the one duplicate-key rule of the plan, on the sheet's own keys.
    assert [(i.cell, i.severity, i.message) for i in outcome.issues] == \
           [(i.cell, i.severity, i.message) for i in sheet_issues(data)]
    assert len(outcome.issues) > len(data.issues)
    assert (outcome.valid_rows, outcome.invalid_rows, int(outcome.exit_code)) == (3, 2, 1)
    assert outcome.report is None


def test_report_has_rows_and_issues(sheet, tmp_path):
    report = tmp_path / "out" / "check.xlsx"
    code, out, err = _cli(["check", str(sheet), "--report", str(report)])
    assert code == 1, err
    assert f"Report: {report}" in out
    book = openpyxl.load_workbook(report, read_only=True)
    # No "Not in sheet": a check asks no server, and an empty sheet would read "none missing".
    assert book.sheetnames == ["Summary", "Rows", "Issues"]
    rows = list(book["Rows"].iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    assert len(body) == 5
    results = [r[header.index("Result")] for r in body]
    assert results.count("invalid") == 2 and results.count("valid") == 3  # never "skipped"
    cells = [r[header.index("Cell")] for r in body]
    assert "E3" in cells  # the cell of the row's first problem, beside its message
    issues = list(book["Issues"].iter_rows(values_only=True))[1:]
    assert {i[3] for i in issues} == {"E3", "C3", "C4", "C6", None}  # None: the CSV's note
    summary = {r[0]: r[1] for r in book["Summary"].iter_rows(min_row=2, max_col=2, values_only=True)}
    assert summary["Exit code"] == 1 and "checked offline" in summary["Result"]
    assert (summary["Valid"], summary["Invalid"]) == (3, 2)
    assert "Requests" not in summary and "Remote only (not in sheet)" not in summary


def test_report_never_replaces_the_sheet_or_another_file(sheet, tmp_path):
    before = sheet.read_bytes()
    code, _, err = _cli(["check", str(sheet), "--report", str(sheet)])
    assert code == 2 and "is the input file" in err
    assert sheet.read_bytes() == before
    linked = tmp_path / "linked.csv"
    os.link(sheet, linked)  # the same sheet under another name
    code, _, err = _cli(["check", str(linked), "--report", str(sheet)])
    assert code == 2 and sheet.read_bytes() == before
    other = tmp_path / "other.xlsx"  # a workbook of the lab's, not a report
    other.write_bytes(b"PK\x03\x04 not a report")
    code, _, err = _cli(["check", str(sheet), "--report", str(other)])
    assert code == 2 and "not a layer-sync report" in err
    assert other.read_bytes() == b"PK\x03\x04 not a report"
    report = tmp_path / "checked.xlsx"
    assert _cli(["check", str(sheet), "--report", str(report)])[0] == 1
    assert _cli(["check", str(sheet), "--report", str(report)])[0] == 1  # its own: replaced


def test_an_unknown_sheet_name_exits_2(tmp_path):
    path = tmp_path / "lab.xlsx"
    book = openpyxl.Workbook()
    book.active.title = "Stacks"
    book.active.append(["sample_id", "layer_id"])
    book.active.append([1, 1])
    book.save(path)
    assert _cli(["check", str(path), "--sheet", "Stacks"])[0] == 0
    code, _, err = _cli(["check", str(path), "--sheet", "Nope"])
    assert code == 2 and "no sheet 'Nope'" in err


def test_check_file_raises_for_an_unreadable_file(tmp_path):
    with pytest.raises(InputFileError):
        check_file(tmp_path / "missing.csv")


def test_template_and_demo_point_to_check(tmp_path):
    code, out, _ = _cli(["template", str(tmp_path / "new.xlsx")])
    assert code == 0 and "layer-sync check" in out
    code, out, _ = _cli(["template", str(tmp_path / "new.csv")])
    assert code == 0 and "layer-sync check" in out
    # the demo's closing text: asserted in test_demo.py, which runs the demo anyway


def test_problems_are_coloured_only_on_a_terminal(sheet):
    from layer_sync.cli.summary import print_check

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    outcome = check_file(sheet)
    out = Terminal()
    print_check(outcome, out, color=True)
    assert "lab.csv!E3 \x1b[1;31m[error]\x1b[0m" in out.getvalue()
    assert "lab.csv!C6 \x1b[1;33m[warning]\x1b[0m" in out.getvalue()
    plain = io.StringIO()
    print_check(outcome, plain)
    assert "\x1b" not in plain.getvalue() and plain.getvalue().startswith("lab.csv")


def test_check_names_the_columns_it_does_not_use(tmp_path):
    # A column the tool does not know is not silently dropped: "Film" means nothing to it.
    path = tmp_path / "lab.csv"
    path.write_text("Sample,Layer,Film,Cut\nS,1,BaTiO3,001\n", encoding="utf-8")
    code, out, err = _cli(["check", str(path)])
    assert code == 0 and "columns not used: Film, Cut" in out


def test_a_report_of_many_invalid_rows_takes_time_in_proportion(tmp_path):
    # Each row's errors are found once: 4,000 invalid rows took 15.7 s when every row went
    # over every issue; now well under a few seconds.
    import time as _time

    from layer_sync.run.check import check_file

    lines = ["sample_id,layer_id,composition_string,orientation"]
    lines += [f"x{i},y,zz,1" for i in range(4000)]
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    outcome = check_file(path)
    started = _time.perf_counter()
    results = outcome.results
    assert _time.perf_counter() - started < 3
    assert len(results) == 4000 and all(r.result == "invalid" for r in results)


def test_a_key_in_the_sheet_is_written_as_stars_in_the_checks_report(tmp_path):
    """`check` needs no key, but the environment's key may sit in a cell or a header (pasted
    by mistake): the report writes it as *** as a sync's does."""
    import zipfile

    key = "S3cr3t+/=Zq9xK-check"
    path = tmp_path / "lab.csv"
    path.write_text(f"sample_id,layer_id,composition_string,{key}\n1,1,{key},x\n",
                    encoding="utf-8")
    report = tmp_path / "c.xlsx"
    out, err = io.StringIO(), io.StringIO()
    code = main(["check", str(path), "--report", str(report)],
                environ={"ATOMSCALE_API_KEY": key}, stdout=out, stderr=err)
    assert code == 1 and report.exists()
    with zipfile.ZipFile(report) as archive:
        xml = b"".join(archive.read(n) for n in archive.namelist()).decode("utf-8", "replace")
    assert key not in xml and "Zq9xK" not in xml and "***" in xml
    assert key not in out.getvalue() + err.getvalue()
