"""`layer-sync sync` from the command line: options, environment, JSON line, exit codes, secrecy."""

from __future__ import annotations

import gc
import io
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from layer_sync.outcome.jsonline import FIELDS

from layer_sync.cli import main

from .conftest import API_KEY, dead_url


def _csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _cli(args, env=None, **kw):
    out, err = io.StringIO(), io.StringIO()
    code = main(args, environ=env if env is not None else {"ATOMSCALE_API_KEY": API_KEY},
                stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()



def test_sync_prints_summary_and_json_as_last_line(stack, tmp_path):
    path = _csv(tmp_path / "lab.csv", "sample_id,layer_id,orientation\n1,1,111\n1,2,001\n")
    report = tmp_path / "out" / "r.xlsx"
    code, out, err = _cli(["sync", str(path), "--api-url", stack.url, "--json", "--report", str(report)])
    assert code == 0, err
    lines = out.strip().splitlines()
    payload = json.loads(lines[-1])
    assert set(payload) == set(FIELDS) - {"valid", "errors", "warnings"}  # the documented line
    assert (payload["created"], payload["updated"], payload["exit_code"]) == (1, 1, 0)
    assert payload["requests"] == {"GET": 2, "POST": 1, "PATCH": 1}
    assert payload["report"] == str(report) and report.exists()
    assert len(lines) == 1  # with --json, stdout is the JSON object alone
    assert "1 created, 1 updated" in err and f"Report: {report}" in err


def test_exit_1_when_rows_are_invalid_with_the_cell_to_fix(stack, tmp_path):
    path = _csv(tmp_path / "lab.csv", "sample_id,layer_id,orientation\n1,1,1\n")
    code, out, _ = _cli(["sync", str(path), "--api-url", stack.url, "--report", str(tmp_path / "r.xlsx")])
    assert code == 1
    assert "lab.csv!C2 [error]" in out and "type 001" in out


@pytest.mark.parametrize("args,words", [
    (["sync"], "required"),
    (["sync", "x.csv", "--concurrency", "0"], "must be 1 or more"),
    (["sync", "x.csv", "--concurrency", "100000000"], "--concurrency must be at most 64"),
    (["sync", "x.csv", "--max-attempts", "1000000"], "--max-attempts must be at most 100"),
    (["sync", "x.csv", "--timeout", "1e300"], "at most 3600 seconds"),
    (["sync", "x.csv", "--timeout", "-1"], "must be more than 0"),
    (["sync", "x.csv", "--api-key", "s3cret"], "never given as a command-line flag"),
    (["sync", "x.csv", "--api-key=s3cret"], "never given as a command-line flag"),
    (["sync", "x.csv", "--dry", "x"], "unrecognized option: --dry (did you mean --dry-run?)"),  # no abbreviations
    (["sync", "x.csv", "--api-key-f", "x"], "never given as a command-line flag"),
    (["sync", "x.csv", "--nope"], "unrecognized"),
])
def test_bad_arguments_exit_2_with_json_zeros(args, words, tmp_path):
    code, out, err = _cli([*args, "--json"])
    assert code == 2 and words in err and "s3cret" not in err
    payload = json.loads(out.strip().splitlines()[-1])
    assert payload["exit_code"] == 2 and payload["rows"] == 0 and payload["requests"]["GET"] == 0


def test_missing_key_names_the_variables(tmp_path):
    path = _csv(tmp_path / "lab.csv", "sample_id,layer_id\n1,1\n")
    code, out, err = _cli(["sync", str(path), "--json"], env={})
    assert code == 2
    assert "ATOMSCALE_API_KEY" in err and "AS_API_KEY" in err and "--api-key-file" in err
    assert json.loads(out.strip().splitlines()[-1])["exit_code"] == 2


def test_environment_variables_in_order(stack, tmp_path):
    path = _csv(tmp_path / "lab.csv", "sample_id,layer_id\n1,1\n")
    env = {"AS_API_KEY": API_KEY, "AS_API_ENDPOINT": stack.url, "ATOMSCALE_API_URL": stack.url}
    code, out, _ = _cli(["sync", str(path), "--report", str(tmp_path / "r.xlsx")], env=env)
    assert code == 0 and stack.url in out
    env = {"ATOMSCALE_API_KEY": "wrong", "AS_API_KEY": API_KEY, "ATOMSCALE_API_URL": stack.url}
    code, _, err = _cli(["sync", str(path), "--report", str(tmp_path / "r.xlsx")], env=env)
    assert code == 2 and "refused" in err  # ATOMSCALE_API_KEY comes first


def test_key_file_and_its_permissions_warning(stack, tmp_path):
    path = _csv(tmp_path / "lab.csv", "sample_id,layer_id\n1,1\n")
    key_file = tmp_path / "key"
    key_file.write_text(API_KEY + "\n")
    key_file.chmod(0o600)
    args = ["sync", str(path), "--api-url", stack.url, "--api-key-file", str(key_file),
            "--report", str(tmp_path / "r.xlsx")]
    code, _, err = _cli(args, env={})
    assert code == 0 and "can be read by other users" not in err
    key_file.chmod(0o644)
    code, _, err = _cli(args, env={})
    assert code == 0 and "can be read by other users" in err and "chmod 600" in err
    code, _, err = _cli([*args[:-4], "--api-key-file", str(tmp_path / "none")], env={})
    assert code == 2 and "does not exist" in err


def test_the_key_never_appears_in_output_logs_or_report(stack, tmp_path):
    path = _csv(tmp_path / "lab.csv", "sample_id,layer_id,orientation\n1,1,111\n1,2,1\n")
    log_file = tmp_path / "sync.log"
    report = tmp_path / "r.xlsx"
    stack.faults.inject("503", method="PATCH")
    code, out, err = _cli(["sync", str(path), "--api-url", stack.url, "-v", "--json",
                           "--log-file", str(log_file), "--report", str(report)])
    assert code == 1
    code2, out2, err2 = _cli(["sync", str(path), "--api-url", stack.url, "--report", str(report)],
                             env={"ATOMSCALE_API_KEY": "bad-" + API_KEY})
    assert code2 == 2
    with zipfile.ZipFile(report) as archive:
        report_text = "".join(archive.read(n).decode("utf-8", "replace") for n in archive.namelist())
    for text in (out, err, log_file.read_text(), report_text, out2, err2):
        assert API_KEY not in text
    assert "PATCH target-materials/layers/ 503" in log_file.read_text()  # -v logged requests


def test_log_file_lines_are_timestamped_and_appended(stack, tmp_path):
    path = _csv(tmp_path / "lab.csv", "sample_id,layer_id\n1,1\n")
    log_file = tmp_path / "sync.log"
    for _ in range(2):
        _cli(["sync", str(path), "--api-url", stack.url, "-q", "--log-file", str(log_file),
              "--report", str(tmp_path / "r.xlsx")])
    lines = log_file.read_text().splitlines()
    assert sum("exit code 0" in line for line in lines) == 2
    assert all(line[:4].isdigit() and line[10] == " " for line in lines)


def test_quiet_prints_no_log_lines_but_the_summary(stack, tmp_path):
    path = _csv(tmp_path / "lab.csv", "sample_id,layer_id\n1,1\n")
    code, out, err = _cli(["sync", str(path), "--api-url", stack.url, "-q", "--report",
                           str(tmp_path / "r.xlsx")])
    assert code == 0 and err == "" and "1 row:" in out


def test_no_progress_bar_when_not_on_a_terminal(stack, tmp_path):
    path = _csv(tmp_path / "lab.csv", "sample_id,layer_id,orientation\n" +
                "".join(f"1,{n},001\n" for n in range(2, 40)))
    code, out, err = _cli(["sync", str(path), "--api-url", stack.url, "--report", str(tmp_path / "r.xlsx")])
    assert code == 0
    assert "\x1b[" not in out + err and "writing" not in err


def test_report_that_cannot_be_written_still_prints_the_summary(stack, tmp_path, monkeypatch):
    from layer_sync.report import writer as report_module

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report_module.tempfile, "mkdtemp", full)
    path = _csv(tmp_path / "lab.csv", "sample_id,layer_id\n1,1\n")
    code, out, err = _cli(["sync", str(path), "--api-url", stack.url, "--json",
                           "--report", str(tmp_path / "r.xlsx")])
    assert code == 2  # the rows are in sync, but the night left no record
    assert "Report not written" in err and "cannot" in err
    assert json.loads(out.strip().splitlines()[-1])["report"] is None


def test_second_run_while_one_holds_the_lock_exits_2_at_once(stack, tmp_path):
    from layer_sync.run.lock import RunLock

    path = _csv(tmp_path / "lab.csv", "sample_id,layer_id\n1,1\n")
    with RunLock.acquire(stack.url):  # another run writes to this server (tests/test_lock.py)
        code, out, err = _cli(["sync", str(path), "--api-url", stack.url, "--json",
                               "--lock-wait", "0"])
    assert code == 2 and "another layer-sync run" in err
    assert stack.stats.by_method == {}


def test_default_report_goes_beside_the_sheet_whatever_the_current_folder(stack, tmp_path,
                                                                           monkeypatch):
    lab = tmp_path / "shared drive"
    lab.mkdir()
    path = _csv(lab / "lab stacks.csv", "sample_id,layer_id\n1,1\n")
    elsewhere = tmp_path / "cron home"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # cron starts in the home folder
    code, out, _ = _cli(["sync", str(path), "--api-url", stack.url, "--json"])
    report = Path(json.loads(out.strip().splitlines()[-1])["report"])
    assert report.parent == lab / "layer-sync-reports"
    assert report.name.startswith("layer-sync_lab stacks_") and report.exists()
    assert list(elsewhere.iterdir()) == []


def test_python_dash_m_and_cron_like_bare_environment(stack, tmp_path):
    path = _csv(tmp_path / "lab.csv", "sample_id,layer_id\n1,1\n")
    env = {"PATH": "/usr/bin:/bin", "ATOMSCALE_API_KEY": API_KEY, "ATOMSCALE_API_URL": stack.url}
    proc = subprocess.run([sys.executable, "-m", "layer_sync", "sync", str(path), "--json"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["exit_code"] == 0
    assert "Traceback" not in proc.stderr and "\x1b[" not in proc.stdout + proc.stderr


def test_help_documents_exit_codes():
    code, out, _ = _cli(["sync", "--help"])
    assert code == 0 and "exit codes" in out and "another run holding the lock" in out


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal(stack, tmp_path, monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    path = _csv(tmp_path / "lab.csv", "sample_id,layer_id,orientation\n" +
                "".join(f"1,{n},001\n" for n in range(2, 30)))
    out, err = _Terminal(), _Terminal()
    code = main(["sync", str(path), "--api-url", stack.url, "--report", str(tmp_path / "r.xlsx")],
                environ={"ATOMSCALE_API_KEY": API_KEY}, stdout=out, stderr=err)
    assert code == 0
    assert "writing" in err.getvalue() and "28/28 rows" in err.getvalue()
    quiet_err = _Terminal()
    main(["sync", str(path), "--api-url", stack.url, "-q", "--report", str(tmp_path / "r.xlsx")],
         environ={"ATOMSCALE_API_KEY": API_KEY}, stdout=_Terminal(), stderr=quiet_err)
    assert "writing" not in quiet_err.getvalue()


@pytest.mark.timeout(30)
def test_a_server_that_trickles_every_answer_ends_the_run_with_its_line(stack, tmp_path):
    # No read ever times out (a byte comes every 50 ms), no signal comes: the bound on the
    # whole answer (4 x --timeout) ends each attempt, and the run ends as an unreachable API does.
    path = _csv(tmp_path / "lab.csv", "sample_id,layer_id,orientation\n1,1,111\n")
    stack.faults.inject("trickle", count=10, method="GET")
    started = time.perf_counter()
    code, out, err = _cli(["sync", str(path), "--api-url", stack.url, "--json", "--timeout", "0.25",
                           "--max-attempts", "2", "--report", str(tmp_path / "r.xlsx")])
    assert time.perf_counter() - started < 10
    payload = json.loads(out)
    assert code == 2 and payload["exit_code"] == 2, err
    assert "still arriving after 1 s" in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if "error" in line]) == 1, err
    assert stack.stats.by_method == {"GET": 2}


def test_max_consecutive_failures_option(stack, tmp_path, clock):
    # The API is down after N failed attempts in a row that went on for 30 s (on the run's
    # clock, here one whose sleeps do not wait): nothing more is sent, the report is written.
    from layer_sync.core.runtime import Runtime
    from layer_sync.run.sync import sync_file

    path = _csv(tmp_path / "lab.csv", "sample_id,layer_id,orientation\n" +
                "".join(f"1,{n},001\n" for n in range(2, 12)))
    stack.faults.kinds, stack.faults.methods, stack.faults.rate = ("502",), frozenset({"POST"}), 1.0
    outcome = sync_file(path, api_key=API_KEY, api_url=stack.url, concurrency=1,
                        max_consecutive_failures=3, report=tmp_path / "r.xlsx",
                        runtime=Runtime(clock=clock.monotonic, sleep=clock.sleep,
                                        environ={"LAYER_SYNC_SETTLE_SECONDS": "0"}))
    assert outcome.exit_code == 2 and outcome.reason_kind == "api_down"
    assert re.search(r"the API looks down: \d+ failed attempts in a row over 3\d s", outcome.message)
    posts = stack.stats.by_method["POST"]
    assert 3 <= posts <= 18 and outcome.counts["skipped"] == 10 - outcome.counts["failed"]
    assert (tmp_path / "r.xlsx").exists()  # the report is still written


def test_api_url_comes_from_the_option_then_the_variables_in_order():
    from layer_sync.remote.settings import resolve_api_url

    env = {"ATOMSCALE_API_URL": "https://a.example/", "AS_API_ENDPOINT": "https://b.example"}
    assert resolve_api_url("https://flag.example", env) == "https://flag.example/"
    assert resolve_api_url(None, env) == "https://a.example/"
    assert resolve_api_url(None, {"AS_API_ENDPOINT": "https://b.example"}) == "https://b.example/"
    assert resolve_api_url(None, {}) == "https://api.atomscale.ai/"


@pytest.mark.parametrize("url,words", [
    ("http://exa mple.com/", "cannot be used"),
    ("http://[::1/", "not an http(s) address"),
    ("ftp://example.com/", "not an http(s) address"),
])
def test_an_unusable_api_url_is_a_clear_error_before_any_request(url, words, tmp_path):
    path = _csv(tmp_path / "lab.csv", "sample_id,layer_id\n1,1\n")
    code, out, err = _cli(["sync", str(path), "--api-url", url, "--json"])
    assert code == 2 and words in err and "Traceback" not in err and "internal error" not in err


def test_a_key_with_a_line_break_is_a_clear_error_that_does_not_show_it(tmp_path):
    path = _csv(tmp_path / "lab.csv", "sample_id,layer_id\n1,1\n")
    code, out, err = _cli(["sync", str(path), "--api-url", dead_url("cli-unreachable"), "--json"],
                          env={"ATOMSCALE_API_KEY": "s3cret\npart"})
    assert code == 2 and "ATOMSCALE_API_KEY" in err and "s3cret" not in err + out


SECRET = "s3cr3t-Key-9d2f"


@pytest.mark.parametrize("args", [
    ["sync", "lab.csv", "--apikey", SECRET],
    ["sync", "lab.csv", "--api-ke", SECRET],
    ["sync", "lab.csv", f"--key={SECRET}"],
    ["sync", "lab.csv", "--token", SECRET],
    ["sync", "lab.csv", f"--api-key={SECRET}"],
    ["sync", "--apikey", SECRET, "lab.csv"],  # the key would otherwise be taken for PATH
    ["export", "out.csv", "--API_KEY", SECRET],
    ["sync", "lab.csv", "--secret", f"-{SECRET}"],  # a value that looks like an option
])
def test_a_mistyped_key_flag_is_refused_without_echoing_the_key(args, tmp_path):
    code, out, err = _cli([*args, "--json"])
    assert code == 2
    assert "ATOMSCALE_API_KEY" in err and "--api-key-file" in err
    assert SECRET not in out + err
    assert json.loads(out)["exit_code"] == 2


@pytest.mark.parametrize("flag", ["--timeout", "--concurrency", "--report", "--api-url",
                                  "--config", "--log-file"])
@pytest.mark.parametrize("source", ["environment", "key file"])
def test_a_key_pasted_into_another_flag_is_never_echoed(flag, source, tmp_path):
    # Each of these flags' errors names its value; the key, known from the environment or
    # from the key file on the same line, comes out as *** instead (stdout and stderr alike).
    path = _csv(tmp_path / "lab.csv", "sample_id,layer_id,orientation\n1,1,001\n")
    env, key_args = {"ATOMSCALE_API_URL": dead_url("key-in-a-flag")}, []
    if source == "environment":
        env["ATOMSCALE_API_KEY"] = SECRET
    else:
        key_file = tmp_path / "key"
        key_file.write_text(SECRET + "\n")
        key_file.chmod(0o600)
        key_args = [f"--api-key-file={key_file}"]
    # The log file in a folder that does not exist: its error names the path, key and all.
    value = str(tmp_path / "missing" / SECRET) if flag == "--log-file" else SECRET
    code, out, err = _cli(["sync", str(path), *key_args, flag, value, "--json"], env=env)
    assert code == 2, err
    assert SECRET not in out + err and "***" in err
    assert json.loads(out)["exit_code"] == 2


@pytest.mark.parametrize("args,shown", [
    (["sync", "lab.csv", "--tkn", SECRET], "--tkn"),
    (["sync", "lab.csv", f"--pass-word-x={SECRET}"], None),
    (["sync", "lab.csv", SECRET], "1 extra value (not shown"),
    (["template", "t.csv", "-z", SECRET], "-z"),
])
def test_unrecognised_arguments_are_named_never_their_values(args, shown, tmp_path):
    code, out, err = _cli(args)
    assert code == 2 and ("unrecognized" in err or "never given" in err)
    assert SECRET not in out + err
    if shown:
        assert shown in err


def test_json_makes_stdout_the_json_object_alone(stack, tmp_path):
    path = _csv(tmp_path / "lab.csv", "sample_id,layer_id,orientation\n1,1,1\n1,2,001\n")
    code, out, err = _cli(["sync", str(path), "--api-url", stack.url, "--json",
                           "--report", str(tmp_path / "r.xlsx")])
    assert code == 1
    assert json.loads(out)["invalid"] == 1 and out.count("\n") == 1
    assert "2 rows: 1 created" in err and "lab.csv!C2 [error]" in err and "Report:" in err
    code, out, err = _cli(["sync", str(path), "--api-url", stack.url,
                           "--report", str(tmp_path / "r.xlsx")])
    assert "2 rows:" in out and "{" not in out  # without --json the summary is on stdout


@pytest.mark.parametrize("options", [
    "",  # the short form
    # the README's crontab line: a key file, a log file, the same report replaced each night
    "--api-key-file {d}/.atomscale-key --log-file {d}/layer-sync.log --report {d}/reports/nightly.xlsx",
])
def test_the_readme_cron_line_appends_json_lines(stack, tmp_path, options):
    # Run by a shell twice: every line of the log is one JSON object.
    _csv(tmp_path / "lab.csv", "sample_id,layer_id,orientation\n1,1,111\n1,2,1\n")
    key_file = tmp_path / ".atomscale-key"
    key_file.write_text(API_KEY + "\n")
    key_file.chmod(0o600)
    bin_dir = Path(sys.executable).parent
    command = "layer-sync" if (bin_dir / "layer-sync").exists() else f"{sys.executable} -m layer_sync"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path / "home"),
           "ATOMSCALE_API_URL": stack.url, "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}
    if not options:
        env["ATOMSCALE_API_KEY"] = API_KEY
    for _ in range(2):
        subprocess.run(f"cd {tmp_path} && {command} sync lab.csv -q "
                       f"{options.format(d=tmp_path)} --json >> {tmp_path}/log.jsonl",
                       shell=True, env=env, timeout=60, stdin=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert (first["updated"], first["invalid"], first["exit_code"]) == (1, 1, 1)
    assert (second["updated"], second["unchanged"], second["exit_code"]) == (0, 1, 1)
    if options:
        assert second["report"] == f"{tmp_path}/reports/nightly.xlsx"
        assert (tmp_path / "layer-sync.log").read_text().count("exit code 1") == 2


def test_rows_and_layers_are_counted_in_words_that_agree(stack, tmp_path):
    path = _csv(tmp_path / "lab.csv", "sample_id,layer_id\n1,2\n")  # layer 1 only on the server
    code, out, _ = _cli(["sync", str(path), "--api-url", stack.url, "--report", str(tmp_path / "r.xlsx")])
    assert "  1 row: 1 created" in out and "1 layer on the server is not in the sheet" in out


def test_an_unexpected_error_is_one_line_and_the_json_line(stack, tmp_path, monkeypatch):
    import layer_sync.cli.commands

    def broken(*args, **kwargs):
        raise RuntimeError("something no one expected")

    monkeypatch.setattr(layer_sync.cli.commands, "sync_file", broken)
    path = _csv(tmp_path / "lab.csv", "sample_id,layer_id\n1,1\n")
    code, out, err = _cli(["sync", str(path), "--api-url", stack.url, "--json"])
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines() == ["layer-sync: internal error: RuntimeError: something no one "
                                        "expected (run again with --traceback and report it)"]
    assert json.loads(out) == {**json.loads(out), "exit_code": 2, "rows": 0}


def test_main_leaves_the_process_as_it_found_it(stack, tmp_path):
    import logging
    import signal

    path = _csv(tmp_path / "lab.csv", "sample_id,layer_id\n1,1\n")
    logger = logging.getLogger("layer_sync")
    root = logging.getLogger()
    before = (logger.level, list(logger.handlers), logger.propagate, root.level, list(root.handlers),
              signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT),
              signal.getsignal(signal.SIGHUP), sys.getswitchinterval(), gc.get_threshold())
    log_file = tmp_path / "sync.log"
    for _ in range(2):  # twice in one process: the second run works like the first
        code, out, err = _cli(["sync", str(path), "--api-url", stack.url, "-v", "--log-file",
                               str(log_file), "--report", str(tmp_path / "r.xlsx")])
        assert code == 0 and "1 row:" in out
        after = (logger.level, list(logger.handlers), logger.propagate, root.level,
                 list(root.handlers), signal.getsignal(signal.SIGTERM),
                 signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGHUP),
                 sys.getswitchinterval(), gc.get_threshold())
        assert after == before
    assert log_file.read_text().count("exit code 0") == 2  # the file handler was closed each time


def test_the_console_script_collects_garbage_less_often_and_puts_it_back(monkeypatch):
    # Only the console script (its own process) changes the collector, and only while it runs.
    from layer_sync.cli import console as cli
    from layer_sync.cli.process import GC_THRESHOLDS

    before = gc.get_threshold()
    seen = []
    monkeypatch.setattr(cli, "main", lambda **_: seen.append(gc.get_threshold()) or 0)
    with pytest.raises(SystemExit) as stopped:
        cli.run()
    assert stopped.value.code == 0
    assert seen == [GC_THRESHOLDS] and GC_THRESHOLDS != before
    assert gc.get_threshold() == before


def test_a_library_run_leaves_the_collector_as_it_is(stack, tmp_path):
    from layer_sync import sync_file

    path = _csv(tmp_path / "lab.csv", "sample_id,layer_id\n1,1\n")
    before = gc.get_threshold()
    sync_file(path, api_key=API_KEY, api_url=stack.url, report=False)
    assert gc.get_threshold() == before


def test_the_package_main_does_nothing_when_imported_under_another_name():
    # `python -m layer_sync` runs the command line; importing layer_sync.__main__ (as a tool
    # that scans modules would) must not: no usage text, no exit.
    code = ("import runpy, sys; runpy.run_module('layer_sync.__main__', run_name='scanned'); "
            "print('still here')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "still here\n" and proc.stderr == ""
    ran = subprocess.run([sys.executable, "-m", "layer_sync"], capture_output=True, text=True,
                         timeout=60, stdin=subprocess.DEVNULL)
    assert ran.returncode == 2 and "usage: layer-sync" in ran.stdout + ran.stderr


def test_a_file_name_with_an_escape_sequence_never_reaches_the_terminal_raw(stack, tmp_path):
    """Error lines and log lines show control characters as U+FFFD, as values are shown."""
    name = "lab\x1b[2J\x1b]0;PWNED\x07"
    good = tmp_path / f"{name}.csv"
    good.write_text("sample_id,layer_id,composition_string\n1,1,SrTiO3\n", encoding="utf-8")
    bad = tmp_path / f"{name}-nohead.csv"
    bad.write_text("what,ever\n1,2\n", encoding="utf-8")
    for path, expected in ((good, (0, 1)), (bad, (2,))):
        code, out, err = _cli(["sync", str(path), "--api-url", stack.url, "--dry-run", "--json",
                               "--report", str(tmp_path / "r.xlsx")])
        assert code in expected, err
        assert "\x1b" not in err and "\x07" not in err and "\ufffd[2J" in err, err


def test_an_error_line_stays_one_line_whatever_the_file_name_holds(tmp_path):
    code, out, err = _cli(["check", str(tmp_path / "miss\ning.csv")])
    (line,) = err.splitlines()
    assert code == 2 and line.startswith("layer-sync: error:") and "miss\ufffding.csv" in line


class _ClosedAfter(io.StringIO):
    """A stream whose reader goes away after its first line (`| head -1`)."""

    def write(self, text: str) -> int:
        if "\n" in self.getvalue():
            raise BrokenPipeError(32, "Broken pipe")
        return super().write(text)


def test_a_reader_that_goes_away_ends_the_output_not_the_run(stack, tmp_path):
    """`layer-sync sync lab.csv | head -1`: the run still does its work, writes its report and
    exits with its own code; no "internal error" (it was exit 2, or 1 with stderr piped too)."""
    path = _csv(tmp_path / "lab.csv", "sample_id,layer_id,orientation\n1,1,111\n1,2,001\n")
    report = tmp_path / "r.xlsx"
    out, err = _ClosedAfter(), _ClosedAfter()
    code = main(["sync", str(path), "--api-url", stack.url, "--report", str(report)],
                environ={"ATOMSCALE_API_KEY": API_KEY}, stdout=out, stderr=err)
    assert code == 0 and report.exists()
    assert stack.stats.by_method == {"GET": 2, "PATCH": 1, "POST": 1}
    assert "error" not in out.getvalue() + err.getvalue()


def test_the_console_script_with_its_output_closed_exits_with_the_runs_code(stack, tmp_path):
    path = _csv(tmp_path / "lab.csv", "sample_id,layer_id,orientation\n1,1,111\n1,2,1\n")
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path / "home"),
           "ATOMSCALE_API_KEY": API_KEY, "ATOMSCALE_API_URL": stack.url,
           "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}
    proc = subprocess.Popen([sys.executable, "-c", "from layer_sync.cli import run; run()",
                             "sync", str(path), "--report", str(tmp_path / "r.xlsx")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            stdin=subprocess.DEVNULL)
    proc.stdout.close()  # the reader is gone before anything is printed
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1  # one invalid row: the run's own code
    assert "1 row is invalid" not in err and (tmp_path / "r.xlsx").exists()
    assert "rror" not in err and "Exception" not in err  # no internal error, no "Exception ignored"


def test_a_key_pasted_as_the_report_name_is_never_shown_even_in_part(stack, tmp_path):
    key = "S3cr3t+/=Zq9xK.part"  # a "/" and a "." would have cut it into pieces a hint shows
    path = _csv(tmp_path / "lab.csv", "sample_id,layer_id,orientation\n1,1,001\n")
    code, out, err = _cli(["sync", str(path), "--api-url", stack.url, "--report", key, "--json"],
                          env={"ATOMSCALE_API_KEY": key})
    assert code == 2
    for piece in ("S3cr3t", "Zq9xK", "=Zq9xK"):
        assert piece not in out + err
    assert json.loads(out.strip().splitlines()[-1])["exit_code"] == 2


def _console(args, stack, tmp_path, **streams):
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path / "home"),
           "ATOMSCALE_API_KEY": API_KEY, "ATOMSCALE_API_URL": stack.url,
           "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}
    return subprocess.run([sys.executable, "-c", "from layer_sync.cli import run; run()", *args],
                          env=env, stdin=subprocess.DEVNULL, timeout=60, **streams)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_output_that_cannot_be_written_is_exit_2_said_on_the_other_stream(stack, tmp_path):
    """A full disk under `>> runs.jsonl` (here /dev/full): cron must learn the night's line is
    missing. The report is still written; the error goes to the stream that works."""
    path = _csv(tmp_path / "lab.csv", "sample_id,layer_id,orientation\n1,1,001\n")
    with open("/dev/full", "w") as full:
        proc = _console(["sync", str(path), "--json", "--report", str(tmp_path / "a.xlsx")],
                        stack, tmp_path, stdout=full, stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 2 and (tmp_path / "a.xlsx").exists()
    assert ("could not write to the standard output (No space left on device); the run "
            "itself ended with exit code 0") in proc.stderr
    assert "Traceback" not in proc.stderr and "Exception" not in proc.stderr
    with open("/dev/full", "w") as full:  # the summary's stream full: the JSON line says 2
        proc = _console(["sync", str(path), "--json", "--report", str(tmp_path / "b.xlsx")],
                        stack, tmp_path, stdout=subprocess.PIPE, stderr=full, text=True)
    assert proc.returncode == 2
    assert json.loads(proc.stdout.strip().splitlines()[0])["exit_code"] == 2
    assert "could not write to the standard error" in proc.stdout


def test_an_output_closed_before_the_run_is_a_reader_gone_not_an_error(stack, tmp_path):
    path = _csv(tmp_path / "lab.csv", "sample_id,layer_id,orientation\n1,1,001\n")
    proc = _console(["sync", str(path), "--report", str(tmp_path / "c.xlsx")], stack, tmp_path,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                    preexec_fn=lambda: os.close(1))
    assert proc.returncode == 0 and (tmp_path / "c.xlsx").exists()
    assert "rror" not in proc.stderr and "Exception" not in proc.stderr


def test_a_log_file_that_cannot_be_written_is_said_once_and_the_run_goes_on(stack, tmp_path,
                                                                             monkeypatch):
    import errno
    import logging

    class Full(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(logging.FileHandler, "_open", lambda self: Full())
    path = _csv(tmp_path / "lab.csv", "sample_id,layer_id,orientation\n1,1,111\n")
    code, out, err = _cli(["sync", str(path), "--api-url", stack.url, "-v", "--log-file",
                           str(tmp_path / "run.log"), "--report", str(tmp_path / "r.xlsx")])
    assert code == 0 and stack.stats.by_method["PATCH"] == 1
    assert err.count("could not write the log file") == 1
    assert "No space left on device" in err and "Logging error" not in err + out
