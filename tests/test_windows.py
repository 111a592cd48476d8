"""Windows, simulated: the command line end to end with the Unix-only pieces taken away.

No Windows machine is available, so each command runs in a Python whose start-up
(tests/windows/sitecustomize.py) makes `fcntl`, `pwd`, `termios`… unimportable, removes the
signals and `os` functions Windows lacks (SIGHUP, getuid, O_NONBLOCK…), and gives it a
stand-in `msvcrt` whose `locking` really locks (tests/windows/msvcrt.py). What it proves:
layer-sync imports and runs every command there, takes the Windows paths (the msvcrt lock in
%ProgramData%, only the signals Windows has), and opens no file in Windows' text mode. What it
cannot prove: Windows' own file system (a file in use cannot be removed or replaced there),
its console, and the standard library's Windows code.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

from .conftest import API_KEY

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the simulation's msvcrt locks with Linux's OFD locks")

SIMULATION = Path(__file__).parent / "windows"


class Windows:
    """Runs layer-sync in the simulated Windows, in `folder`; `trace()` says what it used."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.program_data = folder / "ProgramData"
        self.trace_file = folder / "trace.jsonl"
        (folder / "Temp").mkdir()
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(SIMULATION),
            "SystemRoot": r"C:\Windows", "ProgramData": str(self.program_data),
            "USERNAME": "technician", "USERPROFILE": str(folder / "technician"),
            "TEMP": str(folder / "Temp"), "TMP": str(folder / "Temp"),
            # What Windows gives a program whose output goes to a file or a pipe (Task
            # Scheduler, `>> log`): the ANSI code page, not UTF-8.
            "PYTHONIOENCODING": "cp1252",
            "LAYER_SYNC_WINSIM_TRACE": str(self.trace_file),
            "no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost",
        }  # no HOME, USER, LOGNAME, TMPDIR or XDG_*: Windows sets none of them

    def command(self, *args: str, code: str | None = None) -> list[str]:
        return [sys.executable, "-c", code, *args] if code else \
            [sys.executable, "-m", "layer_sync", *args]

    def run(self, *args: str, env: dict[str, str] | None = None,
            code: str | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(self.command(*args, code=code), cwd=self.folder,
                              env={**self.env, **(env or {})}, capture_output=True, text=True,
                              encoding="cp1252", errors="replace", timeout=120,
                              stdin=subprocess.DEVNULL, check=False)
        assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
        return proc

    def start(self, *args: str, env: dict[str, str] | None = None,
              code: str | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(self.command(*args, code=code), cwd=self.folder,
                                env={**self.env, **(env or {})}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                encoding="cp1252", errors="replace")

    def trace(self) -> list[dict[str, object]]:
        if not self.trace_file.exists():
            return []
        return [json.loads(line) for line in self.trace_file.read_text().splitlines()]


@pytest.fixture
def windows(tmp_path) -> Windows:
    return Windows(tmp_path)


PROBE = """
import json, os, signal, sys
import layer_sync
from layer_sync.cli.process import StopSignals
from layer_sync.run import lock
try:
    import fcntl
    fcntl_importable = True
except ImportError:
    fcntl_importable = False
print(json.dumps({
    "fcntl": fcntl_importable or "fcntl" in sys.modules, "pwd": "pwd" in sys.modules,
    "sighup": hasattr(signal, "SIGHUP"), "getuid": hasattr(os, "getuid"),
    "backend": lock.backend(), "folder": str(lock.lock_folder()),
    "signals": [signal.Signals(s).name for s in StopSignals.SIGNALS],
}))
"""


def test_layer_sync_imports_and_takes_the_windows_paths(windows):
    proc = windows.run(code=PROBE)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    # The simulation holds: no fcntl, no pwd, no SIGHUP, no getuid...
    assert not seen["fcntl"] and not seen["pwd"] and not seen["sighup"] and not seen["getuid"]
    # ...and layer-sync takes Windows' lock, lock folder and signals.
    assert seen["backend"] == "msvcrt"
    assert seen["folder"] == str(windows.program_data / "layer-sync")
    assert seen["signals"] == ["SIGINT", "SIGTERM"]
    assert {"event": "import refused", "name": "fcntl"} in \
        [{k: v for k, v in e.items() if k != "pid"} for e in windows.trace()]


HOLDER = """
import sys, time
from layer_sync.run.lock import RunLock
lock = RunLock.acquire(sys.argv[1])
print("held", flush=True)
time.sleep(120)
"""


@pytest.fixture
def sandbox_process(windows) -> Iterator[str]:
    """`layer-sync sandbox` in the simulated Windows, with its default seed: its URL."""
    proc = windows.start("sandbox", "--port", "0", "--api-key", API_KEY)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
    assert match and "seeded with the sample data" in line, line
    try:
        yield match.group(1)
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C, as on Windows
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0 and "Traceback" not in err, err


def _saved_long_ago(*paths: Path) -> None:
    """Sheets saved an hour ago: a run does not wait for them to be still."""
    for path in paths:
        os.utime(path, (time.time() - 3600, time.time() - 3600))


def test_every_command_end_to_end(windows, sandbox_process):
    url, folder = sandbox_process, windows.folder
    server = {"ATOMSCALE_API_URL": url, "ATOMSCALE_API_KEY": API_KEY}

    proc = windows.run("template", "blank.xlsx")
    assert proc.returncode == 0 and openpyxl.load_workbook(folder / "blank.xlsx")

    proc = windows.run("demo", "--copy-sample", "sample")
    assert proc.returncode == 0, proc.stderr
    _saved_long_ago(*(folder / "sample").iterdir())
    proc = windows.run("check", "sample/lab_stacks.xlsx", "--report", "checked.xlsx")
    assert proc.returncode == 1 and "1 invalid; 1 error" in proc.stdout, proc.stderr
    assert openpyxl.load_workbook(folder / "checked.xlsx")

    proc = windows.run("demo", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["created"] == 3, proc.stderr

    proc = windows.run("sync", "sample/lab_stacks.xlsx", "--json", "--report", "night.xlsx",
                       env=server)
    assert proc.returncode == 1, proc.stderr  # the sample's invalid row, on purpose
    payload = json.loads(proc.stdout)
    assert (payload["created"], payload["updated"], payload["invalid"]) == (3, 1, 1)
    assert openpyxl.load_workbook(folder / "night.xlsx").sheetnames[0] == "Summary"

    key_file = folder / "atomscale-key"
    key_file.write_text(API_KEY + "\r\n", encoding="ascii")  # as Notepad saves it
    for name in ("exported.xlsx", "exported.csv"):
        proc = windows.run("export", name, "--api-key-file", str(key_file),
                           env={"ATOMSCALE_API_URL": url})
        assert proc.returncode == 0 and "Exported 8 layers" in proc.stdout, proc.stderr
    _saved_long_ago(folder / "exported.csv")
    proc = windows.run("sync", "exported.csv", "--json", "--report", "again.xlsx", env=server)
    assert proc.returncode == 0 and json.loads(proc.stdout)["requests"]["POST"] == 0

    # The lock, through msvcrt: another process holds it, then dies by SIGKILL.
    holder = windows.start(url, code=HOLDER)
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    try:
        proc = windows.run("sync", "exported.csv", "--lock-wait", "0", "--json", env=server)
        assert proc.returncode == 2 and f"process {holder.pid} of user technician" in proc.stderr
        assert json.loads(proc.stdout)["exit_code"] == 2
    finally:
        holder.kill()
        holder.wait(30)
    proc = windows.run("sync", "exported.csv", "--lock-wait", "0", "--json", env=server)
    assert proc.returncode == 0, proc.stderr

    trace = windows.trace()
    locks = [e for e in trace if e["event"] == "msvcrt.locking"]
    assert {e["mode"] for e in locks} == {0, 2}  # LK_UNLCK and LK_NBLCK, nothing blocking
    assert list((windows.program_data / "layer-sync").glob("layer-sync-*.lock"))
    text_mode = [e for e in trace if e["event"] == "text-mode open"]
    assert text_mode == [], text_mode  # on Windows these would translate line ends


def test_ctrl_c_stops_a_sync_as_on_windows(windows, stack):
    stack.latency_ms = 20
    (windows.folder / "lab.csv").write_text(
        "sample_id,layer_id,composition_string,orientation\n"
        + "".join(f"1,{n},SrTiO3,001\n" for n in range(2, 62)), encoding="utf-8")
    _saved_long_ago(windows.folder / "lab.csv")
    proc = windows.start("sync", "lab.csv", "--json", "--report", "r.xlsx", "--concurrency", "2",
                         env={"ATOMSCALE_API_URL": stack.url, "ATOMSCALE_API_KEY": API_KEY})
    deadline = time.monotonic() + 60
    while stack.stats.by_method.get("POST", 0) < 5:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    payload = json.loads(out)
    assert payload["exit_code"] == 130 and payload["skipped"] > 0 and payload["created"] >= 1
    assert "interrupted by Ctrl-C" in err and "Traceback" not in err
    assert openpyxl.load_workbook(windows.folder / "r.xlsx")
    assert any(e["event"] == "msvcrt.locking" for e in windows.trace())


def test_a_key_file_is_not_called_readable_by_all_where_modes_cannot_say(tmp_path, monkeypatch):
    # Windows' os.stat gives every file 0o666 (or 0o444): a warning from the mode bits would
    # come every night there. The simulation keeps os.name "posix", so this is tested here.
    from layer_sync.remote import settings

    key_file = tmp_path / "key"
    key_file.write_text(API_KEY + "\n", encoding="utf-8")
    key_file.chmod(0o644)
    said: list[str] = []
    settings.resolve_api_key({}, key_file, warn=said.append)
    assert said and "chmod 600" in said[0]  # POSIX: the mode says who may read it
    monkeypatch.setattr(settings, "PERMISSION_BITS", False)
    said.clear()
    assert settings.resolve_api_key({}, key_file, warn=said.append).value == API_KEY
    assert said == []
