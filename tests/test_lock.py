"""The lock: one per server, shared by every user of the machine, let go by the kernel.

Two runs against one server never write at once, whoever runs them and from whichever copy of
the sheet: the second waits (within --lock-wait) or refuses with exit 2, naming the holder.
Holders here are real processes (a lock held in this process would hide a lock that does
nothing across processes), and `kill -9` really kills them.
"""

from __future__ import annotations

import io
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from layer_sync.cli import main
from layer_sync.core.control import RunControl
from layer_sync.core.errors import ConfigError, Interrupted, LockedError
from layer_sync.core.runtime import Runtime
from layer_sync.core.secrets import ApiKey
from layer_sync.read.stacks import read_stacks
from layer_sync.run import lockfile
from layer_sync.run.lock import (
    RunLock,
    lock_folder,
    lock_holder,
    lock_path,
    server_key,
)
from layer_sync.run.sync import sync_file, sync_stacks

from .conftest import API_KEY, FakeClock

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX lock folder and signals")


@pytest.fixture
def sheet(tmp_path) -> Path:
    path = tmp_path / "lab.csv"
    path.write_text("sample_id,layer_id,orientation\n1,2,001\n", encoding="utf-8")
    _saved_long_ago(path)
    return path


HOLDER = textwrap.dedent("""
    import sys, time
    from layer_sync.run.lock import RunLock
    lock = RunLock.acquire(sys.argv[1], sys.argv[2] or None)
    print("held", flush=True)
    time.sleep(float(sys.argv[3]) if len(sys.argv) > 3 else 120)
    lock.release()
""")


def _holder(url: str, folder: Path | None = None, seconds: float = 120) -> subprocess.Popen:
    """Another process holding the lock of `url` until killed (or `seconds` have passed)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, url, str(folder or ""), str(seconds)],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def _kill(holder: subprocess.Popen, url: str) -> None:
    """SIGKILL the holder, and remove the lock file it leaves in the machine's folder."""
    holder.kill()
    holder.wait(30)
    lock_path(url).unlink(missing_ok=True)


def _cli(args, env=None):
    out, err = io.StringIO(), io.StringIO()
    code = main(args, environ={"ATOMSCALE_API_KEY": API_KEY} if env is None else env,
                stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


# ---------------------------------------------------------------------------- the key

def test_the_lock_is_keyed_by_the_server_normalised():
    same = ["https://api.atomscale.ai/", "HTTPS://API.Atomscale.AI", "https://api.atomscale.ai:443",
            "https://api.atomscale.ai./", "https://user:secret@api.atomscale.ai/?x=1#top",
            "https://api.atomscale.ai//"]
    assert {server_key(url) for url in same} == {"https://api.atomscale.ai:443/"}
    assert {lock_path(url) for url in same} == {lock_path(same[0])}
    others = ["http://api.atomscale.ai/", "https://api.atomscale.ai:8443/",
              "https://api.atomscale.ai/v2/", "https://staging.atomscale.ai/"]
    assert len({lock_path(url) for url in [same[0], *others]}) == 5
    assert server_key("http://[::1]:8080/a/b") == "http://[::1]:8080/a/b/"
    # The file name carries a digest only: not the host, never anything of the URL's user part.
    name = lock_path("https://user:secret@api.atomscale.ai/").name
    assert name.startswith("layer-sync-") and "secret" not in name and "atomscale" not in name


def test_the_lock_folder_is_the_machines_whatever_the_environment(tmp_path):
    folder = lock_folder()
    info = folder.stat()
    # Root's, writable by all, sticky (like /tmp): nobody can remove another user's lock file.
    assert info.st_uid == 0 and info.st_mode & stat.S_IWOTH and info.st_mode & stat.S_ISVTX
    probe = "from layer_sync.run.lock import lock_folder; print(lock_folder())"
    seen = set()
    for n, extra in enumerate([{"HOME": str(tmp_path / "a"), "XDG_RUNTIME_DIR": str(tmp_path)},
                               {"HOME": str(tmp_path / "b"), "TMPDIR": str(tmp_path),
                                "XDG_CACHE_HOME": str(tmp_path), "USER": "someone-else"},
                               {}]):  # cron's bare environment: no HOME at all
        env = {"PATH": "/usr/bin:/bin", **extra}
        proc = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                              text=True, timeout=60, check=True)
        seen.add(proc.stdout.strip())
    assert seen == {str(folder)}


# ---------------------------------------------------------------------------- across processes

def test_a_holder_killed_with_sigkill_blocks_until_it_dies_then_frees_the_lock(stack, sheet):
    holder = _holder(stack.url)
    try:
        with pytest.raises(LockedError) as refused:
            RunLock.acquire(stack.url)
        assert f"process {holder.pid} of user " in str(refused.value)
        assert stack.url.rstrip("/") in str(refused.value)
        code, out, err = _cli(["sync", str(sheet), "--api-url", stack.url, "--json",
                               "--lock-wait", "0", "--report", str(sheet.with_suffix(".xlsx"))])
        assert code == 2 and json.loads(out)["exit_code"] == 2
        assert err.count("\n") == 1 and f"process {holder.pid}" in err and "--lock-wait" in err
        assert stack.stats.by_method == {}  # refused before reading the server
    finally:
        holder.send_signal(signal.SIGKILL)  # no handler, no release: only the kernel lets go
        holder.wait(30)
    assert lock_path(stack.url).exists()  # left behind by the killed holder...
    code, out, err = _cli(["sync", str(sheet), "--api-url", stack.url, "--lock-wait", "0",
                           "--report", str(sheet.with_suffix(".xlsx"))])
    assert code == 0, err  # ...and it blocks nothing
    assert stack.stats.by_method["POST"] == 1  # (and GETs: the records, the read-back)
    assert not lock_path(stack.url).exists()  # removed by the run that ended


def test_a_second_run_waits_within_the_bound_then_names_the_holder(stack, sheet):
    holder = _holder(stack.url)
    clock, said = FakeClock(), []
    try:
        with pytest.raises(LockedError, match=f"process {holder.pid} .* after waiting 30 s"):
            RunLock.acquire(stack.url, wait=30, clock=clock.monotonic, sleep=clock.sleep,
                            waiting=said.append)
        assert sum(clock.sleeps) == pytest.approx(30) and max(clock.sleeps) <= 1.0
        assert len(said) == 1 and "waiting for it to finish, up to 30 s" in said[0]
        # The run itself: nothing read, nothing sent, exit 2 after the wait.
        outcome_error = None
        try:
            sync_file(sheet, api_key=API_KEY, api_url=stack.url, report=False, lock_wait=5,
                      runtime=Runtime(clock=clock.monotonic, sleep=clock.sleep))
        except LockedError as exc:
            outcome_error = exc
        assert outcome_error is not None and stack.stats.by_method == {}
    finally:
        _kill(holder, stack.url)


def test_a_waiting_run_goes_ahead_once_the_holder_ends(stack, sheet):
    holder = _holder(stack.url, seconds=0.5)  # lets go by itself after half a second
    started = time.monotonic()
    outcome = sync_file(sheet, api_key=API_KEY, api_url=stack.url, report=False, lock_wait=60)
    assert outcome.exit_code == 0 and outcome.counts["created"] == 1
    assert time.monotonic() - started < 30
    assert holder.wait(30) == 0


def test_a_signal_while_waiting_stops_the_run_before_anything_is_read(stack, sheet):
    control = RunControl()

    def sleep(seconds: float) -> None:
        control.interrupt(signal.SIGTERM)

    holder = _holder(stack.url)
    try:
        with pytest.raises(Interrupted) as stopped:
            RunLock.acquire(stack.url, wait=600, sleep=sleep, control=control)
        assert stopped.value.exit_code == 143
        # From the command line: SIGTERM while it waits ends it as stopped, with its JSON line.
        timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
        timer.start()
        started = time.monotonic()
        code, out, err = _cli(["sync", str(sheet), "--api-url", stack.url, "--json",
                               "--lock-wait", "600"])
        timer.join()
        assert code == 143 and json.loads(out)["exit_code"] == 143, err
        assert time.monotonic() - started < 10 and "interrupted by SIGTERM" in err
        assert stack.stats.by_method == {}
    finally:
        _kill(holder, stack.url)


def _user_env(tmp_path: Path, name: str, url: str) -> dict[str, str]:
    """A user of their own: home, temporary folder, runtime folder, name."""
    home = tmp_path / name
    for sub in ("", "tmp", "run"):
        (home / sub).mkdir(exist_ok=True)
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(home / "tmp"),
            "XDG_RUNTIME_DIR": str(home / "run"), "XDG_CACHE_HOME": str(home / ".cache"),
            "USER": name, "LOGNAME": name, "ATOMSCALE_API_KEY": API_KEY,
            "ATOMSCALE_API_URL": url}


def _saved_long_ago(path: Path) -> None:
    """A sheet saved an hour ago: no run waits for it to be still (one just saved may still
    be being written)."""
    an_hour_ago = time.time() - 3600
    os.utime(path, (an_hour_ago, an_hour_ago))


ROWS = 300
SHEET = "sample_id,layer_id,composition_string,orientation\n" + "".join(
    f"1,{n},SrTiO3,001\n" for n in range(2, ROWS + 2))


def test_two_users_syncing_their_own_copies_at_once_never_both_write(stack, tmp_path):
    # The night of the issue: two people, each with their own home and copy of one sheet,
    # against one server at the same moment. Before, both wrote: 269 of 300 stored twice.
    stack.latency_ms = 20  # 300 writes, 4 at a time: the first run writes for over a second
    procs = []
    for name in ("alice", "bob"):
        env = _user_env(tmp_path, name, stack.url)
        copy = Path(env["HOME"]) / "lab.csv"
        copy.write_text(SHEET, encoding="utf-8")
        _saved_long_ago(copy)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "layer_sync", "sync", str(copy), "--json", "--report",
             str(Path(env["HOME"]) / "r.xlsx"), "--concurrency", "4"], env=env, cwd=env["HOME"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True))
    results = [(proc.communicate(timeout=120), proc.returncode) for proc in procs]
    for (out, err), code in results:
        assert code == 0, err
    payloads = sorted((json.loads(out) for (out, _), _ in results), key=lambda p: -p["created"])
    assert [(p["created"], p["unchanged"]) for p in payloads] == [(ROWS, 0), (0, ROWS)]
    assert stack.stats.by_method["POST"] == ROWS  # the second run wrote nothing
    keys = Counter((layer["sample_id"], layer["layer_id"]) for layer in stack.store.layers())
    assert len(keys) == ROWS + 1 and set(keys.values()) == {1}
    # The second usually meets the first at work and waits, naming who holds the lock; on a
    # loaded machine it may start only after the first has finished (then nothing to wait for).
    waited = [err for (_, err), _ in results if "waiting for it to finish" in err]
    assert len(waited) <= 1
    assert all("of user alice" in w or "of user bob" in w for w in waited)
    assert not lock_path(stack.url).exists()


RUN_AS = textwrap.dedent("""
    import os, sys
    from layer_sync.cli.console import main
    # Everything a run imports is imported while this interpreter can still read its own
    # files (they may sit in a folder only root can enter); then it becomes the other user.
    main(["check", sys.argv[2], "--report", sys.argv[2] + ".warm.xlsx"], environ={})
    import layer_sync.run.sync, layer_sync.report.writer, layer_sync.remote.client
    uid = int(sys.argv[1])
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    sys.exit(main(sys.argv[3:]))
""")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="needs root, to run as two real users")
def test_two_real_users_of_the_machine_share_one_lock(stack, tmp_path):
    import pwd
    import tempfile

    nobody = pwd.getpwnam("nobody").pw_uid
    shared = Path(tempfile.mkdtemp(prefix="layer-sync-users-", dir="/tmp"))
    try:
        os.chmod(shared, 0o755)
        os.chown(shared, nobody, -1)
        sheet = shared / "lab.csv"
        sheet.write_text(SHEET, encoding="utf-8")
        os.chown(sheet, nobody, -1)
        _saved_long_ago(sheet)
        # root holds the lock first, created 0666 by root: nobody must wait for it, then take
        # the same file (which it cannot remove: the folder is sticky) and name itself in it.
        holder = _holder(stack.url)
        assert stat.S_IMODE(lock_path(stack.url).stat().st_mode) == 0o666
        env = {"PATH": "/usr/bin:/bin", "ATOMSCALE_API_KEY": API_KEY, "HOME": str(shared)}
        proc = subprocess.Popen(
            [sys.executable, "-c", RUN_AS, str(nobody), str(sheet), "sync", str(sheet),
             "--api-url", stack.url, "--json", "--report", str(shared / "r.xlsx")],
            env=env, cwd=shared, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL, text=True)
        assert proc.stderr is not None
        seen = ""
        while "waiting for it to finish" not in seen:  # nobody waits for root's run...
            line = proc.stderr.readline()
            assert line, seen
            seen += line
        assert "of user root" in seen and stack.stats.by_method == {}
        holder.send_signal(signal.SIGKILL)  # ...which dies
        holder.wait(30)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, seen + err
        assert json.loads(out.splitlines()[-1])["created"] == ROWS
        assert (shared / "r.xlsx").stat().st_uid == nobody
    finally:
        lock_path(stack.url).unlink(missing_ok=True)
        for path in shared.iterdir():
            path.unlink()
        shared.rmdir()


# ---------------------------------------------------------------------------- in one run

def test_a_run_holds_a_0666_lock_named_after_it_and_removes_it(stack, sheet):
    seen = {}

    def progress(phase, done, total, retries=0):
        path = lock_path(stack.url)
        if phase == "writing" and path.exists() and not seen:
            seen["mode"] = stat.S_IMODE(path.stat().st_mode)
            seen["holder"] = lock_holder(stack.url)

    outcome = sync_file(sheet, api_key=API_KEY, api_url=stack.url, report=False,
                        runtime=Runtime(progress=progress))
    assert outcome.exit_code == 0
    assert seen["mode"] == 0o666  # any user of the machine can take it after us
    assert seen["holder"].startswith(f"process {os.getpid()} of user ")
    assert not lock_path(stack.url).exists() and lock_holder(stack.url) is None


def test_a_dry_run_neither_waits_nor_blocks_and_says_a_run_is_writing(stack, sheet, caplog):
    holder = _holder(stack.url)
    try:
        outcome = sync_file(sheet, api_key=API_KEY, api_url=stack.url, report=False,
                            dry_run=True, lock_wait=0)
        assert outcome.exit_code == 0 and outcome.counts["created"] == 1
        assert f"process {holder.pid}" in caplog.text and "out of date" in caplog.text
    finally:
        _kill(holder, stack.url)
    with RunLock.acquire(stack.url):  # a dry run while this one writes: it goes ahead
        assert sync_file(sheet, api_key=API_KEY, api_url=stack.url, report=False,
                         dry_run=True, lock_wait=0).exit_code == 0


def test_sync_stacks_takes_the_servers_lock_too(stack, sheet):
    data = read_stacks(sheet)
    holder = _holder(stack.url)
    try:
        with pytest.raises(LockedError, match=f"process {holder.pid}"):
            sync_stacks(data, api_key=ApiKey(API_KEY, "test"), api_url=stack.url,
                        report=False, lock_wait=0)
        assert stack.stats.by_method == {}
    finally:
        _kill(holder, stack.url)


def test_runs_against_two_servers_do_not_wait_for_each_other(stack, sheet, tmp_path):
    with RunLock.acquire(f"https://elsewhere.example/{tmp_path.name}/"):  # a server of its own
        assert sync_file(sheet, api_key=API_KEY, api_url=stack.url, report=False,
                         lock_wait=0).exit_code == 0


def test_lock_wait_is_an_option_of_the_flags_and_the_config(stack, sheet, tmp_path):
    code, _, err = _cli(["sync", str(sheet), "--api-url", stack.url, "--lock-wait", "-1"])
    assert code == 2 and "--lock-wait must be 0 or more" in err
    (tmp_path / "layer-sync.toml").write_text("lock_wait = 0\n", encoding="utf-8")
    holder = _holder(stack.url)
    try:
        code, _, err = _cli(["sync", str(sheet), "--api-url", stack.url, "--config",
                             str(tmp_path / "layer-sync.toml")])
        assert code == 2 and f"process {holder.pid}" in err and "after waiting" not in err
    finally:
        _kill(holder, stack.url)


def test_a_lock_on_a_removed_file_counts_for_nothing(tmp_path):
    # A run opened the lock file just before its holder removed it and let go; it then wins
    # the lock on the removed file, while a third run creates and locks a new one.
    url = "https://race.example/"
    first = RunLock.acquire(url, tmp_path)
    stale_fd = os.open(first.path, os.O_RDWR)
    first.release()
    third = RunLock.acquire(url, tmp_path)
    try:
        assert lockfile.try_lock(stale_fd)  # the lock of the removed file is free...
        assert not lockfile.same_file(stale_fd, third.path)  # ...and counts for nothing
        with pytest.raises(LockedError):  # the third run's lock is found instead
            RunLock.acquire(url, tmp_path)
    finally:
        os.close(stale_fd)
        third.release()
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------- attacks

URL = "https://api.example.org/"


@pytest.fixture
def shared(tmp_path) -> Path:
    """A lock folder like the machine's: writable by all, sticky."""
    folder = tmp_path / "locks"
    folder.mkdir()
    os.chmod(folder, 0o1777)
    return folder


def test_a_symlink_planted_as_the_lock_file_is_never_followed(shared, tmp_path):
    victim = tmp_path / "thesis.txt"
    victim.write_text("years of work", encoding="utf-8")
    lock_path(URL, shared).symlink_to(victim)
    with pytest.raises(ConfigError, match="is a symbolic link, which layer-sync never follows"):
        RunLock.acquire(URL, shared)
    lock_path(URL, shared).unlink()
    lock_path(URL, shared).symlink_to(tmp_path / "missing")  # a dangling one: not created
    with pytest.raises(ConfigError, match="symbolic link"):
        RunLock.acquire(URL, shared)
    assert victim.read_text(encoding="utf-8") == "years of work"
    assert not (tmp_path / "missing").exists()


def test_a_hard_link_planted_as_the_lock_file_is_never_written(shared, tmp_path):
    victim = tmp_path / "thesis.txt"
    victim.write_text("years of work", encoding="utf-8")
    os.link(victim, lock_path(URL, shared))
    with pytest.raises(ConfigError, match="has other names"):
        RunLock.acquire(URL, shared)
    assert victim.read_text(encoding="utf-8") == "years of work"


def test_a_planted_file_that_is_not_a_lock_file_is_never_written(shared):
    lock_path(URL, shared).write_bytes(b"someone's notes\n")
    with pytest.raises(ConfigError, match="not a layer-sync lock file"):
        RunLock.acquire(URL, shared)
    assert lock_path(URL, shared).read_bytes() == b"someone's notes\n"


def test_a_fifo_planted_as_the_lock_file_does_not_hang(shared):
    os.mkfifo(lock_path(URL, shared))
    started = time.monotonic()
    with pytest.raises(ConfigError, match="not a regular file"):
        RunLock.acquire(URL, shared)
    assert time.monotonic() - started < 5


def test_a_lock_folder_others_can_change_is_refused(tmp_path):
    loose = tmp_path / "loose"
    loose.mkdir()
    os.chmod(loose, 0o777)  # writable by all, not sticky: anyone could swap the lock files
    with pytest.raises(ConfigError, match="not sticky"):
        RunLock.acquire(URL, loose)
    made = tmp_path / "new" / "locks"  # a folder given that is missing: made like /tmp
    RunLock.acquire(URL, made).release()
    assert stat.S_IMODE(made.stat().st_mode) == 0o1777


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_a_lock_folder_of_another_user_is_refused(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, 65534, -1)  # nobody's: its owner could replace the files in it
    with pytest.raises(ConfigError, match="belongs to another user"):
        RunLock.acquire(URL, theirs)


def test_a_planted_symlink_in_the_machines_folder_is_one_line_and_exit_2(stack, sheet, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep", encoding="utf-8")
    planted = lock_path(stack.url)
    planted.symlink_to(victim)
    try:
        code, out, err = _cli(["sync", str(sheet), "--api-url", stack.url, "--json"])
    finally:
        planted.unlink()
    assert code == 2 and json.loads(out)["exit_code"] == 2
    assert err.count("\n") == 1 and "symbolic link" in err and "Traceback" not in err
    assert victim.read_text(encoding="utf-8") == "keep" and stack.stats.by_method == {}
