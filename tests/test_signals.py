"""Every ending is readable: SIGTERM, SIGHUP and Ctrl-C stop a run the same way.

Nothing more is sent, the answers in flight are awaited, the report of what was done is
written, the JSON line is printed, the exit code is 128 + the signal; nothing is left behind
(no temporary file, no lock), and a rerun completes without duplicates.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from layer_sync.cli import main
from layer_sync.cli.process import StopSignals
from layer_sync.report.paths import is_layer_sync_report
from layer_sync.run.lock import lock_path

from .conftest import API_KEY


def _sheet(folder: Path, rows: int) -> Path:
    path = folder / "lab.csv"
    path.write_text("sample_id,layer_id,composition_string,orientation\n" + "".join(
        f"1,{n},SrTiO3,001\n" for n in range(2, rows + 2)), encoding="utf-8")
    return path


def _wait_for(test, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not test():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _start(stack, folder: Path, *extra: str) -> subprocess.Popen:
    home, tmp = folder / "home", folder / "tmp"
    home.mkdir(exist_ok=True)
    tmp.mkdir(exist_ok=True)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(tmp),
           "ATOMSCALE_API_KEY": API_KEY, "ATOMSCALE_API_URL": stack.url}
    return subprocess.Popen([sys.executable, "-m", "layer_sync", "sync", "lab.csv", "--json",
                             "--report", "r.xlsx", "--concurrency", "4", *extra],
                            cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)


def _nothing_left_behind(folder: Path, url: str) -> None:
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["home", "lab.csv", "r.xlsx", "tmp"], names  # no temporary file beside it
    assert list((folder / "tmp").iterdir()) == []  # none in the temp folder either
    assert list((folder / "home").iterdir()) == []  # nor in the home folder
    assert not lock_path(url).exists()  # the server's lock is removed


def test_sigterm_during_a_300_row_run(stack, tmp_path):
    stack.latency_ms = 20
    _sheet(tmp_path, 300)
    proc = _start(stack, tmp_path)
    _wait_for(lambda: stack.stats.by_method.get("POST", 0) >= 20)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    payload = json.loads(out)  # the JSON object, alone on stdout
    assert payload["exit_code"] == 143 and payload["rows"] == 300
    assert payload["created"] >= 10 and payload["skipped"] > 0
    assert payload["created"] + payload["skipped"] == 300
    assert payload["report"] == "r.xlsx" and is_layer_sync_report(tmp_path / "r.xlsx")
    assert "interrupted by SIGTERM" in err and "Traceback" not in err
    sent = stack.stats.by_method["POST"]
    time.sleep(0.2)
    assert stack.stats.by_method["POST"] == sent  # nothing more was sent
    assert sent <= payload["created"] + 4 + 1  # what was done, and what was on the wire
    _nothing_left_behind(tmp_path, stack.url)

    stack.latency_ms = 0
    proc = _start(stack, tmp_path)  # the rerun completes, with no duplicate
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    keys = Counter((l["sample_id"], l["layer_id"]) for l in stack.store.layers())
    assert len(keys) == 301 and set(keys.values()) == {1}
    _nothing_left_behind(tmp_path, stack.url)


@pytest.mark.parametrize("first,then,code", [
    (signal.SIGHUP, signal.SIGTERM, 129),  # a second signal does not cut the ending short
    (signal.SIGINT, signal.SIGINT, 130),   # Ctrl-C twice
])
def test_sighup_and_ctrl_c(stack, tmp_path, first, then, code):
    stack.latency_ms = 20
    _sheet(tmp_path, 60)
    proc = _start(stack, tmp_path, "--concurrency", "2")
    _wait_for(lambda: stack.stats.by_method.get("POST", 0) >= 5)
    proc.send_signal(first)
    time.sleep(0.005)
    proc.send_signal(then)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    payload = json.loads(out)
    assert payload["exit_code"] == code and payload["created"] >= 1 and payload["skipped"] > 0
    assert "interrupted by" in err and "Traceback" not in err
    _nothing_left_behind(tmp_path, stack.url)


def _in_process(stack, tmp_path, when, args=()):
    """main() in this (the main) thread; another thread sends SIGTERM once `when()` holds.

    The test's own SIGTERM handler is in place first: if layer-sync did not install its
    handler, this one would only record the signal and the run would end normally."""
    seen = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))

    def send():
        _wait_for(when)
        os.kill(os.getpid(), signal.SIGTERM)

    sender = threading.Thread(target=send, daemon=True)
    out, err = io.StringIO(), io.StringIO()
    try:
        sender.start()
        code = main(["sync", str(tmp_path / "lab.csv"), "--api-url", stack.url, "--json",
                     "--report", str(tmp_path / "r.xlsx"), *args],
                    environ={"ATOMSCALE_API_KEY": API_KEY, "HOME": str(tmp_path / "home")},
                    stdout=out, stderr=err)
        sender.join(10)
        ours = signal.getsignal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == []  # layer-sync's handler took the signal
    assert ours is not None and ours is not previous and ours.__name__ == "<lambda>"  # put back
    return code, json.loads(out.getvalue()), err.getvalue()


def test_sigterm_in_process_while_writing(stack, tmp_path):
    stack.latency_ms = 20
    _sheet(tmp_path, 100)
    code, payload, err = _in_process(stack, tmp_path,
                                     lambda: stack.stats.by_method.get("POST", 0) >= 10)
    assert code == 143 and payload["exit_code"] == 143 and payload["skipped"] > 0
    assert payload["created"] >= 1 and is_layer_sync_report(tmp_path / "r.xlsx")
    assert "layer-sync: error: interrupted by SIGTERM: nothing more was sent" in err


def test_sigterm_while_the_server_records_are_read(stack, tmp_path):
    stack.latency_ms = 600
    _sheet(tmp_path, 5)
    started = time.monotonic()
    code, payload, err = _in_process(stack, tmp_path, lambda: time.monotonic() - started > 0.3)
    assert code == 143 and (payload["rows"], payload["skipped"], payload["created"]) == (5, 5, 0)
    assert payload["requests"] == {"GET": 1, "POST": 0, "PATCH": 0}
    assert is_layer_sync_report(tmp_path / "r.xlsx")


def test_a_write_whose_answer_never_comes_does_not_keep_the_process_alive(stack, tmp_path):
    # The server stores the writes but answers 20 s late: after SIGTERM the run waits the
    # grace period (5 s) for them, reports them as unknown, and the process ends then.
    stack.faults.slow_seconds = 20.0
    stack.faults.inject("slow", count=10, method="POST")
    _sheet(tmp_path, 4)
    proc = _start(stack, tmp_path)
    _wait_for(lambda: stack.stats.by_method.get("POST", 0) >= 4)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert time.monotonic() - started < 12, "the process waited for the late answers"
    assert proc.returncode == 143, err
    payload = json.loads(out)
    assert payload["exit_code"] == 143 and payload["failed"] == 4


def test_the_same_signal_again_within_a_moment_is_its_echo_and_says_nothing():
    """timeout(1) and a closed terminal signal the process and its group: one request, said
    once; the same signal later, or another one, is a second request and is answered."""
    now = [100.0]
    err = io.StringIO()
    signals = StopSignals(err, clock=lambda: now[0])
    signals.watching = True
    signals._handle(signal.SIGTERM, None)
    now[0] += 0.2
    signals._handle(signal.SIGTERM, None)
    assert err.getvalue() == "" and signals.control.interrupted
    now[0] += 5
    signals._handle(signal.SIGTERM, None)
    signals._handle(signal.SIGINT, None)
    assert err.getvalue().count("still stopping") == 2


_EARLY = """
import builtins, json, os, signal, sys
import layer_sync.entry as entry
real_import = builtins.__import__
SIGNUM = getattr(signal, sys.argv[1])
def hooked(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 1 and name == "cli.console":  # the package starts loading: the signal comes
        os.kill(os.getpid(), SIGNUM)
    return real_import(name, globals, locals, fromlist, level)
builtins.__import__ = hooked
sys.argv = ["layer-sync", "check", sys.argv[2], "--json"]
entry.run()
"""

_LATE = """
import os, signal, sys
import layer_sync.entry as entry
import layer_sync.cli.console as console
real_main = console.main
SIGNUM = getattr(signal, sys.argv[1])
def main(*args, **kwargs):
    code = real_main(*args, **kwargs)
    os.kill(os.getpid(), SIGNUM)  # the run is over: too late to stop it
    return code
console.main = main
sys.argv = ["layer-sync", "check", sys.argv[2], "--json"]
entry.run()
"""


_SHUTDOWN = """
import atexit, os, signal, sys
import layer_sync.entry as entry
SIGNUM = getattr(signal, sys.argv[1])
def late():  # Python is shutting down: the run has ended and printed its JSON line
    sys.stderr.write(f"handler at shutdown: {signal.getsignal(SIGNUM)!r}\\n")
    os.kill(os.getpid(), SIGNUM)
atexit.register(late)
sys.argv = ["layer-sync", "check", sys.argv[2], "--json"]
entry.run()
"""


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT", "SIGHUP"])
def test_a_signal_while_python_shuts_down_leaves_the_json_lines_exit_code(tmp_path, name):
    sheet = tmp_path / "lab.csv"
    sheet.write_text("sample_id,layer_id\n1,1\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-c", _SHUTDOWN, name, str(sheet)],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          env={**os.environ, "LAYER_SYNC_STILL_SECONDS": "0"})
    assert "handler at shutdown: <Handlers.SIG_IGN: 1>" in proc.stderr, proc.stderr
    assert proc.returncode == json.loads(proc.stdout)["exit_code"] == 0, proc.stderr


@pytest.mark.parametrize("name,code", [("SIGTERM", 143), ("SIGINT", 130), ("SIGHUP", 129)])
def test_a_signal_while_the_package_loads_ends_as_stopped_with_its_json_line(tmp_path, name, code):
    sheet = tmp_path / "lab.csv"
    sheet.write_text("sample_id,layer_id\n1,1\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-c", _EARLY, name, str(sheet)], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL,
                          env={**os.environ, "LAYER_SYNC_STILL_SECONDS": "0"})
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr and "before anything was written" in proc.stderr
    assert json.loads(proc.stdout)["exit_code"] == code


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT"])
def test_a_signal_after_the_run_has_ended_leaves_its_exit_code(tmp_path, name):
    sheet = tmp_path / "lab.csv"
    sheet.write_text("sample_id,layer_id\n1,1\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-c", _LATE, name, str(sheet)], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL,
                          env={**os.environ, "LAYER_SYNC_STILL_SECONDS": "0"})
    assert "Traceback" not in proc.stderr
    assert proc.returncode == json.loads(proc.stdout)["exit_code"] == 0, proc.stderr
