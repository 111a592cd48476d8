"""Output paths: checked before anything is sent; nothing a user owns is overwritten.

`--report`, `--log-file` and the export / template path are refused (exit 2) when they name
the input (by identity) or an existing file that is not a regular file; an existing report
is replaced only when it is a layer-sync report (or with --force); a name the tool picks
itself never replaces anything.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from layer_sync.cli import main
from layer_sync.core.errors import ConfigError, InputFileError
from layer_sync.core.runtime import Runtime
from layer_sync.report.paths import is_layer_sync_report, reserve_report_name
from layer_sync.report.writer import write_atomically
from layer_sync.run.sync import sync_file

from .conftest import API_KEY

ENV = {"ATOMSCALE_API_KEY": API_KEY}




@pytest.fixture
def sheet(tmp_path) -> Path:
    path = tmp_path / "lab.csv"
    path.write_text("sample_id,layer_id,orientation\n1,1,001\n1,2,111\n", encoding="utf-8")
    return path


def _cli(args):
    out, err = io.StringIO(), io.StringIO()
    code = main(args, environ=dict(ENV), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _refused(stack, args, *words):
    """Exit 2, one line on stderr with `words`, the JSON line, and no request sent."""
    code, out, err = _cli([*args, "--api-url", stack.url, "--json"])
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and all(w in err for w in words), err
    assert json.loads(out)["exit_code"] == 2
    assert stack.stats.by_method == {}
    return err


# --------------------------------------------------------------------------- the input

@pytest.mark.parametrize("option", ["--report", "--log-file"])
def test_an_output_naming_the_input_is_refused(stack, sheet, option):
    before = sheet.read_bytes()
    _refused(stack, ["sync", str(sheet), option, str(sheet)], "is the input file")
    assert sheet.read_bytes() == before


@pytest.mark.parametrize("link", ["hard", "symbolic"])
@pytest.mark.parametrize("option", ["--report", "--log-file"])
def test_a_link_to_the_input_is_the_input(stack, sheet, tmp_path, option, link):
    other = tmp_path / "other_name.xlsx"
    (os.link if link == "hard" else os.symlink)(sheet, other)
    before = sheet.read_bytes()
    _refused(stack, ["sync", str(sheet), option, str(other)], "is the input file", "another name")
    assert sheet.read_bytes() == before


def test_an_xlsx_input_given_as_its_own_report_is_kept(stack, tmp_path):
    from layer_sync.tools.samples import write_workbook

    book = write_workbook(tmp_path / "lab.xlsx")
    before = book.read_bytes()
    _refused(stack, ["sync", str(book), "--report", str(book), "--force"], "is the input file")
    assert book.read_bytes() == before  # not even --force replaces the input


# --------------------------------------------------------------------------- not regular files

def _special(kind: str, tmp_path: Path, suffix: str = ".xlsx") -> str:
    """A path of `kind` whose name ends in `suffix` (except /dev/null itself)."""
    target = tmp_path / f"special{suffix}"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "folder":
        target.mkdir()
    elif kind == "device":
        return "/dev/null"
    elif kind == "link to a device":
        os.symlink("/dev/null", target)
    else:
        os.symlink(tmp_path / "nowhere", target)
    return str(target)


KINDS = ["fifo", "folder", "device", "link to a device", "broken link"]
OUTPUT_KINDS = ["fifo", "folder", "link to a device", "broken link"]  # named like a .csv
WORDS = {"fifo": "FIFO", "folder": "a folder", "device": "character device",
         "link to a device": "character device", "broken link": "broken symbolic link"}


@pytest.mark.timeout(20)  # a FIFO must never be opened: that would wait for a reader forever
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("option", ["--report", "--log-file"])
def test_an_output_that_is_not_a_regular_file_is_refused(stack, sheet, tmp_path, kind, option):
    target = _special(kind, tmp_path)
    _refused(stack, ["sync", str(sheet), option, target, "--force"], WORDS[kind])
    if kind == "device":
        assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("kind", OUTPUT_KINDS)
@pytest.mark.parametrize("command", ["export", "template"])
def test_export_and_template_never_write_through_a_special_file(stack, tmp_path, kind, command):
    target = _special(kind, tmp_path, ".csv")
    code, out, err = _cli([command, target, "--force"] +
                          (["--api-url", stack.url] if command == "export" else []))
    assert code == 2 and WORDS[kind] in err and len(err.strip().splitlines()) == 1, err
    assert stack.stats.by_method == {}  # export checks its path before it asks the server


# --------------------------------------------------------------------------- existing reports

def test_an_existing_layer_sync_report_is_replaced(stack, sheet, tmp_path):
    report = tmp_path / "nightly.xlsx"
    for _ in range(2):
        code, out, err = _cli(["sync", str(sheet), "--api-url", stack.url, "--report", str(report)])
        assert code == 0, err
    assert is_layer_sync_report(report)


@pytest.mark.parametrize("content", ["text", "workbook", "look-alike"])
def test_an_existing_file_that_is_not_a_report_needs_force(stack, sheet, tmp_path, content):
    report = tmp_path / "mine.xlsx"
    if content == "text":
        report.write_text("precious")
    else:
        book = openpyxl.Workbook()
        book.active.title = "Summary"
        book.active["A1"] = "my own summary" if content == "look-alike" else "layer-sync report"
        if content == "look-alike":
            book.create_sheet("Rows")
        book.save(report)
    before = report.read_bytes()
    err = _refused(stack, ["sync", str(sheet), "--report", str(report)], "not a layer-sync report",
                   "--force")
    assert report.read_bytes() == before and str(report) in err
    code, _, err = _cli(["sync", str(sheet), "--api-url", stack.url, "--report", str(report), "--force"])
    assert code == 0, err
    assert is_layer_sync_report(report)


def test_is_layer_sync_report(tmp_path):
    from layer_sync.tools.templates import write_template

    assert not is_layer_sync_report(write_template(tmp_path / "t.xlsx"))
    assert not is_layer_sync_report(tmp_path / "missing.xlsx")
    (tmp_path / "zip.xlsx").write_bytes(b"PK\x03\x04 not really")
    assert not is_layer_sync_report(tmp_path / "zip.xlsx")
    book = openpyxl.Workbook()  # what the report looks like, written by another library
    book.active.title = "Summary"
    book.active["A1"] = "layer-sync report"
    book.create_sheet("Rows")
    book.save(tmp_path / "r.xlsx")
    assert is_layer_sync_report(tmp_path / "r.xlsx")


# --------------------------------------------------------------------------- names we pick

def _fixed_now():
    return dt.datetime(2026, 11, 25, 10, 15, 0, 123456)


def test_two_runs_in_the_same_instant_never_share_a_report(stack, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lab.csv").write_text("sample_id,layer_id\n1,1\n", encoding="utf-8")
    from layer_sync.tools.samples import write_workbook

    write_workbook(tmp_path / "lab.xlsx")
    taken = tmp_path / "layer-sync-reports" / "layer-sync_lab_csv_20261125-101500-123.xlsx"
    taken.parent.mkdir()
    taken.write_text("a colleague's file")
    reports = []
    for name in ("lab.csv", "lab.csv", "lab.xlsx"):
        outcome = sync_file(tmp_path / name, api_key=API_KEY, api_url=stack.url,
                            runtime=Runtime(now=_fixed_now))
        reports.append(outcome.report)
    assert [p.name for p in reports] == ["layer-sync_lab_csv_20261125-101500-123-2.xlsx",
                                         "layer-sync_lab_csv_20261125-101500-123-3.xlsx",
                                         "layer-sync_lab_xlsx_20261125-101500-123.xlsx"]
    assert all(is_layer_sync_report(p) for p in reports)
    assert taken.read_text() == "a colleague's file"


def test_a_run_that_ends_early_leaves_no_empty_report_behind(stack, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lab.csv").write_text("what,ever\n1,2\n", encoding="utf-8")  # no header
    with pytest.raises(InputFileError):
        sync_file(tmp_path / "lab.csv", api_key=API_KEY, api_url=stack.url)
    assert not (tmp_path / "reports").exists()  # the folder made for the report goes too
    (tmp_path / "reports").mkdir()  # one that was there before stays
    with pytest.raises(InputFileError):
        sync_file(tmp_path / "lab.csv", api_key=API_KEY, api_url=stack.url)
    assert list((tmp_path / "reports").iterdir()) == []


def test_a_reserved_name_is_created_exclusively(tmp_path):
    first = reserve_report_name(Path("lab.csv"), _fixed_now(), tmp_path)
    second = reserve_report_name(Path("lab.csv"), _fixed_now(), tmp_path)
    assert first.path != second.path and first.path.exists() and second.path.exists()
    second.path.write_text("replaced by the report")
    first.release()
    second.release()  # only an empty file of ours is removed
    assert not first.path.exists() and second.path.read_text() == "replaced by the report"


@pytest.mark.parametrize("name", ["notes.txt", "run.csv", "report", "night.xls", "macro.xlsm"])
@pytest.mark.parametrize("command", ["sync", "check"])
def test_a_report_not_named_xlsx_is_refused(stack, sheet, tmp_path, name, command):
    # A workbook named notes.txt opens as garbage: refused before anything is read or sent,
    # with the name it should have; nothing is created.
    report = tmp_path / name
    args = [command, str(sheet), "--report", str(report)]
    if command == "sync":
        err = _refused(stack, [*args, "--force"], ".xlsx", "--report")
    else:
        code, _, err = _cli(args)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"{Path(name).stem}.xlsx" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab.csv"]
    with pytest.raises(ConfigError, match=r"\.xlsx"):
        sync_file(sheet, api_key=API_KEY, api_url=stack.url, report=report)
    (tmp_path / "Upper.XLSX").touch()  # the suffix in any case; an empty file is no report
    code, _, err = _cli(["sync", str(sheet), "--api-url", stack.url, "--force",
                         "--report", str(tmp_path / "Upper.XLSX")])
    assert code == 0 and is_layer_sync_report(tmp_path / "Upper.XLSX"), err


def test_the_library_refuses_too(stack, sheet):
    with pytest.raises(ConfigError, match="is the input file"):
        sync_file(sheet, api_key=API_KEY, api_url=stack.url, report=sheet, force=True)
    assert stack.stats.by_method == {}


# --------------------------------------------------------------------------- permissions

def test_files_are_written_with_the_users_umask(tmp_path):
    # In a child process: the umask is the process's own setting.
    code = ("import os, sys; os.umask(int(sys.argv[1], 8)); "
            "from layer_sync.report.writer import write_atomically; "
            "write_atomically(sys.argv[2], lambda h: h.write(b'x'))")
    for umask, mode in (("027", 0o640), ("002", 0o664), ("077", 0o600)):
        target = tmp_path / f"f{umask}.csv"
        subprocess.run([sys.executable, "-c", code, umask, str(target)], check=True, timeout=30)
        assert stat.S_IMODE(target.stat().st_mode) == mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f002.csv", "f027.csv", "f077.csv"]


def test_an_interrupted_write_leaves_nothing_behind(tmp_path):
    def stop(handle):
        handle.write(b"half")
        raise KeyboardInterrupt

    (tmp_path / "keep.csv").write_text("before")
    with pytest.raises(KeyboardInterrupt):
        write_atomically(tmp_path / "keep.csv", stop)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.csv"]
    assert (tmp_path / "keep.csv").read_text() == "before"


def test_the_key_file_and_the_log_file_are_never_written_over(stack, sheet, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(API_KEY + "\n")
    key_file.chmod(0o600)
    args = ["sync", str(sheet), "--api-key-file", str(key_file)]
    _refused(stack, [*args, "--log-file", str(key_file)], "is the input file")
    _refused(stack, [*args, "--report", str(key_file), "--force"], "is the key file")
    log_file = tmp_path / "sync.log"
    _refused(stack, ["sync", str(sheet), "--log-file", str(log_file), "--report", str(log_file)],
             "name the same file")
    assert key_file.read_text() == API_KEY + "\n"


@pytest.mark.parametrize("name", ["lab.xlsx", "layer-sync.toml", "old.csv", "report.xlsx"])
def test_log_lines_are_never_appended_to_a_sheet_a_report_or_a_config(stack, sheet, tmp_path, name):
    (tmp_path / "elsewhere").mkdir()  # a layer-sync.toml beside the sheet would be read
    target = tmp_path / "elsewhere" / name
    target.write_bytes(b"precious")
    err = io.StringIO()
    code = main(["sync", str(sheet), "--api-url", stack.url, "--log-file", str(target)],
                environ=ENV, stdout=io.StringIO(), stderr=err)
    assert code == 2 and "not a log" in err.getvalue()
    assert target.read_bytes() == b"precious" and stack.stats.total == 0


def test_the_key_file_is_a_small_regular_file_and_a_pasted_key_is_not_echoed(stack, sheet, tmp_path):
    fifo = tmp_path / "key.fifo"
    os.mkfifo(fifo)
    big = tmp_path / "big.key"
    big.write_bytes(b"x" * 100_000)
    for key_file, says in ((fifo, "not a regular file"), ("/dev/zero", "not a regular file"),
                           (big, "larger than"), ("Zq8SECRETpasted", "does not exist")):
        err = io.StringIO()
        code = main(["sync", str(sheet), "--api-url", stack.url, "--api-key-file", str(key_file)],
                    environ={}, stdout=io.StringIO(), stderr=err)
        assert code == 2 and says in err.getvalue(), err.getvalue()
    assert "Zq8SECRETpasted" not in err.getvalue()
    assert stack.stats.total == 0


def test_export_never_writes_over_the_key_file_it_read(stack, tmp_path):
    key_file = tmp_path / "key.csv"
    key_file.write_text(API_KEY + "\n")
    key_file.chmod(0o600)
    err = io.StringIO()
    code = main(["export", str(key_file), "--force", "--api-url", stack.url,
                 "--api-key-file", str(key_file)], environ={}, stdout=io.StringIO(), stderr=err)
    assert code == 2 and "is the key file" in err.getvalue()
    assert key_file.read_text() == API_KEY + "\n"


@pytest.mark.parametrize("empty", ["", "  "])
def test_an_empty_report_path_is_refused_before_anything_is_read_or_sent(stack, sheet, empty):
    err = _refused(stack, ["sync", str(sheet), "--report", empty], "--report is empty")
    assert "internal error" not in err


@pytest.mark.parametrize("command", ["export"])  # template logs nothing: it takes no --log-file
def test_the_log_file_is_never_the_file_export_or_template_writes(stack, tmp_path, command):
    target = tmp_path / "new.csv"
    out, err = io.StringIO(), io.StringIO()
    code = main([command, str(target), "--log-file", str(target),
                 *(["--api-url", stack.url] if command == "export" else [])],
                environ={"ATOMSCALE_API_KEY": API_KEY}, stdout=out, stderr=err)
    assert code == 2 and "name the same file" in err.getvalue()
    assert not target.exists()  # not even an empty one


def test_the_log_file_is_never_where_the_standard_output_goes(tmp_path):
    """`--log-file /dev/stdout >> runs.jsonl`: log lines would land among the JSON lines."""
    sheet = tmp_path / "lab.csv"
    sheet.write_text("sample_id,layer_id,composition_string\n1,1,SrTiO3\n", encoding="utf-8")
    jsonl = tmp_path / "runs.jsonl"
    with jsonl.open("a") as handle:
        proc = subprocess.run([sys.executable, "-m", "layer_sync", "check", str(sheet),
                               "--log-file", "/dev/stdout"], stdout=handle,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    assert proc.returncode == 2 and "is where the standard output goes" in proc.stderr
    assert jsonl.read_text() == ""


def test_a_report_folder_that_cannot_be_written_is_refused_before_anything_is_sent(
        stack, sheet, tmp_path, monkeypatch):
    """A night whose report could never be written is refused at the start, not found after
    the writes. (The tests run as root, which may write anywhere: the folder's permission is
    what os.access says, so it is made to say no.)"""
    import os as os_module

    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os_module.access
    monkeypatch.setattr(os_module, "access",
                        lambda p, mode, **kw: False if str(p) == str(locked) else real_access(p, mode, **kw))
    stack.stats.reset()
    err = _refused(stack, ["sync", str(sheet), "--report", str(locked / "r.xlsx")],
                   f"you may not write in {locked}")
    assert "internal error" not in err and stack.stats.total == 0
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    _refused(stack, ["sync", str(sheet), "--report", str(not_a_folder / "r.xlsx")],
             "is not a folder")
    assert stack.stats.total == 0
