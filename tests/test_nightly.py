"""Nights you can read: every run, failures included, leaves a dated JSON line that says when,
what and why, and a dated line in the --log-file at the level it deserves."""

from __future__ import annotations

import datetime as _dt
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from layer_sync.cli import main
from layer_sync.run.lock import RunLock
from layer_sync.outcome.jsonline import FIELDS, REASONS, SCHEMA

from .conftest import API_KEY

SHEET = "sample_id,layer_id,orientation\n1,1,111\n1,2,1\n"
DATED = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR|DEBUG) ")


@pytest.fixture
def sheet(tmp_path):
    path = tmp_path / "lab.csv"
    path.write_text(SHEET, encoding="utf-8")
    return path


def _run(args, env):
    out, err = io.StringIO(), io.StringIO()
    code = main(args, environ=env, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _when(text):
    when = _dt.datetime.fromisoformat(text)
    assert when.tzinfo is not None  # ISO 8601 with the zone
    return when


def test_the_json_line_holds_every_documented_field(stack, sheet, tmp_path):
    code, out, _ = _run(["sync", str(sheet), "--api-url", stack.url, "--json", "--report",
                         str(tmp_path / "r.xlsx")], {"ATOMSCALE_API_KEY": API_KEY})
    line = json.loads(out)
    assert code == 1 and set(line) == set(FIELDS) - {"valid", "errors", "warnings"}
    assert line["schema"] == SCHEMA and line["command"] == "sync" and line["version"]
    assert _when(line["started"]) <= _when(line["finished"])
    assert line["input"] == {"path": str(sheet), "sheets": ["lab.csv"]}
    assert line["api_url"] == stack.url and API_KEY not in out
    assert line["reason"]["kind"] == "rows_invalid" and line["reason"]["kind"] in REASONS
    assert "1 invalid" in line["reason"]["message"]


def test_check_has_json_with_the_fields_that_apply(sheet):
    code, out, err = _run(["check", str(sheet), "--json"], {})
    line = json.loads(out)
    assert code == 1 and line["command"] == "check" and line["api_url"] is None
    assert (line["rows"], line["valid"], line["invalid"], line["errors"]) == (2, 1, 1, 1)
    assert line["reason"]["kind"] == "rows_invalid" and line["exit_code"] == 1
    assert set(line) == set(FIELDS) - {"created", "updated", "unchanged", "failed", "skipped",
                                       "remote_only", "duplicates", "matched_by_name"}
    assert "lab.csv!C3 [error]" in err  # the human lines go to stderr with --json


FAILURES = [
    # (what, arguments after the sheet, environment, exit code, reason)
    ("no key", [], {}, 2, "no_key"),
    ("a missing key file", ["--api-key-file", "{tmp}/nope.key"], {}, 2, "key_file_unreadable"),
    ("a mistyped sheet", ["--sheet", "Stakcs"], {"ATOMSCALE_API_KEY": API_KEY}, 2,
     "sheet_missing"),
    ("a bad option", ["--timeout", "-1"], {"ATOMSCALE_API_KEY": API_KEY}, 2, "bad_option"),
    ("a missing sheet file", None, {"ATOMSCALE_API_KEY": API_KEY}, 2, "input_missing"),
    ("a refused key", [], {"ATOMSCALE_API_KEY": "wrong-key-123456"}, 2, "key_refused"),
]


@pytest.mark.parametrize("what,extra,env,code,kind", FAILURES, ids=[f[0] for f in FAILURES])
def test_each_failure_leaves_a_distinct_dated_json_line_and_log_line(stack, tmp_path, what,
                                                                     extra, env, code, kind):
    workbook = tmp_path / "lab.xlsx"
    if extra is not None:
        import openpyxl

        book = openpyxl.Workbook()
        book.active.title = "Stacks"
        book.active.append(["sample_id", "layer_id"])
        book.active.append([1, 1])
        book.save(workbook)
    log_file = tmp_path / "night.log"
    args = ["sync", str(workbook), "--api-url", stack.url, "--json", "--log-file",
            str(log_file), *[a.format(tmp=tmp_path) for a in (extra or [])]]
    got, out, err = _run(args, env)
    assert got == code, err
    line = json.loads(out)
    assert line["exit_code"] == code and line["reason"]["kind"] == kind
    assert line["reason"]["message"] and "\n" not in line["reason"]["message"]
    _when(line["started"])
    assert line["input"]["path"] == str(workbook) and line["api_url"] == stack.url
    logged = log_file.read_text().splitlines()
    assert logged and all(DATED.match(entry) for entry in logged), logged
    assert any(f"ERROR exit code {code} ({kind})" in entry for entry in logged), logged
    assert "wrong-key-123456" not in out + err + log_file.read_text()


def test_quiet_keeps_a_line_for_each_run_in_the_log(stack, sheet, tmp_path):
    log_file = tmp_path / "night.log"
    for _ in range(2):
        _run(["sync", str(sheet), "--api-url", stack.url, "-q", "--log-file", str(log_file),
              "--report", str(tmp_path / "r.xlsx")], {"ATOMSCALE_API_KEY": API_KEY})
    logged = log_file.read_text().splitlines()
    assert all(DATED.match(entry) for entry in logged)
    assert sum("WARNING exit code 1 (rows_invalid)" in e for e in logged) == 2
    starts = [e for e in logged if "started (layer-sync" in e]
    assert len(starts) == 2 and all(" INFO sync " in e for e in starts)
    assert sum(" INFO read " in e for e in logged) == 2  # -q quiets the terminal, not the log


def test_quiet_still_logs_the_wait_for_another_runs_lock(stack, sheet, tmp_path):
    log_file = tmp_path / "night.log"
    with RunLock.acquire(stack.url):
        code, _, err = _run(["sync", str(sheet), "--api-url", stack.url, "-q", "--log-file",
                             str(log_file), "--lock-wait", "1"], {"ATOMSCALE_API_KEY": API_KEY})
    assert code == 2 and "another layer-sync run" in err
    logged = log_file.read_text()
    assert " INFO " in logged and "waiting for it to finish" in logged, logged


def test_the_readme_cron_line_leaves_a_dated_log_and_json_lines(stack, sheet, tmp_path):
    """Run by a shell, as cron runs it: a JSON line per night and a dated log, also when the
    night fails before the sheet is read."""
    bin_dir = Path(sys.executable).parent
    command = "layer-sync" if (bin_dir / "layer-sync").exists() else f"{sys.executable} -m layer_sync"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path / "home"),
           "ATOMSCALE_API_URL": stack.url, "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}
    line = (f"cd {tmp_path} && {command} sync lab.csv --json -q --log-file {tmp_path}/night.log "
            f">> {tmp_path}/runs.jsonl 2>> {tmp_path}/night.err")
    subprocess.run(line, shell=True, env=env, timeout=60, check=False)  # no key: fails early
    subprocess.run(line, shell=True, env={**env, "ATOMSCALE_API_KEY": API_KEY}, timeout=60,
                   check=False)
    nights = [json.loads(entry) for entry in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert [n["reason"]["kind"] for n in nights] == ["no_key", "rows_invalid"]
    assert nights[0]["started"] < nights[1]["started"]
    logged = (tmp_path / "night.log").read_text()
    assert "ERROR exit code 2 (no_key)" in logged and "WARNING exit code 1 (rows_invalid)" in logged
