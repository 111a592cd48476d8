"""The lock: "this sheet, on this machine, for this user".

Keyed on the file's identity (a hard link is the same sheet), held in a per-user folder that
does not depend on TMPDIR, removed when the run ends.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from layer_sync.cli import main
from layer_sync.core.errors import LockedError
from layer_sync.run.lock import RunLock, lock_folder, lock_path
from layer_sync.run.sync import sync_file

from .conftest import API_KEY


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    return home



@pytest.fixture
def sheet(tmp_path) -> Path:
    path = tmp_path / "lab.csv"
    path.write_text("sample_id,layer_id\n1,1\n", encoding="utf-8")
    return path


def test_the_lock_folder_is_per_user_and_private(home, tmp_path, monkeypatch):
    assert lock_folder() == home / ".cache" / "layer-sync" / "locks"
    runtime = tmp_path / "run-user"
    runtime.mkdir(mode=0o700)
    # A login session sets XDG_RUNTIME_DIR, cron does not: the two must share one lock.
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    assert lock_folder() == home / ".cache" / "layer-sync" / "locks"
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert lock_folder() == home / ".cache" / "layer-sync" / "locks"  # TMPDIR plays no part


def test_a_sheet_saved_over_during_a_run_is_still_locked(home, sheet):
    # Spreadsheet programs save by writing a new file and renaming it over the old one: the
    # sheet gets a new inode, but a run is still reading it; a second run must wait.
    with RunLock.acquire(sheet):
        saved = sheet.with_name(".lab.csv~")
        saved.write_text(sheet.read_text(encoding="utf-8"), encoding="utf-8")
        os.replace(saved, sheet)
        with pytest.raises(LockedError, match="another layer-sync run"):
            RunLock.acquire(sheet)
    RunLock.acquire(sheet).release()  # and free again afterwards


def test_a_run_removes_its_lock_and_the_folder_is_0700(home, stack, sheet):
    outcome = sync_file(sheet, api_key=API_KEY, api_url=stack.url, report=False)
    assert outcome.exit_code == 0
    folder = lock_folder()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert list(folder.iterdir()) == []


def test_a_hard_link_to_the_sheet_is_the_same_lock(home, stack, sheet, tmp_path):
    linked = tmp_path / "elsewhere.csv"
    os.link(sheet, linked)
    symlinked = tmp_path / "pointer.csv"
    symlinked.symlink_to(sheet)
    assert lock_path(linked) == lock_path(sheet) == lock_path(symlinked)
    with RunLock.acquire(sheet):
        for other in (linked, symlinked):
            with pytest.raises(LockedError, match="another layer-sync run"):
                sync_file(other, api_key=API_KEY, api_url=stack.url, report=False)
    assert stack.stats.by_method == {}  # refused at once, before any request
    assert sync_file(linked, api_key=API_KEY, api_url=stack.url, report=False).exit_code == 0


def test_another_tmpdir_does_not_bypass_the_lock(home, stack, sheet, tmp_path):
    other_tmp = tmp_path / "tmp2"
    other_tmp.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(other_tmp),
           "ATOMSCALE_API_KEY": API_KEY, "ATOMSCALE_API_URL": stack.url}
    with RunLock.acquire(sheet):
        proc = subprocess.run([sys.executable, "-m", "layer_sync", "sync", str(sheet), "--json"],
                              env=env, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert proc.returncode == 2 and "another layer-sync run" in proc.stderr
    assert json.loads(proc.stdout)["exit_code"] == 2
    assert stack.stats.by_method == {}


def test_a_lock_file_left_by_a_killed_run_does_not_block(home, stack, sheet):
    # kill -9 leaves the file, but the kernel has let go of the lock: the next run takes it.
    path = lock_path(sheet)
    path.parent.mkdir(parents=True)
    path.write_text("")
    assert sync_file(sheet, api_key=API_KEY, api_url=stack.url, report=False).exit_code == 0
    assert not path.exists()


def test_a_lock_on_a_removed_file_counts_for_nothing(home, sheet):
    from layer_sync.run.lock import _lock_if_current

    # A run opened the lock file just before its holder removed it and let go; it then wins
    # the lock on the removed file, while a third run creates and locks a new one.
    first = RunLock.acquire(sheet)
    stale_fd = os.open(first.path, os.O_RDWR)
    first.release()
    third = RunLock.acquire(sheet)
    try:
        assert _lock_if_current(stale_fd, third.path) is False  # so it tries again...
        with pytest.raises(LockedError):  # ...and finds the third run's lock
            RunLock.acquire(sheet)
    finally:
        os.close(stale_fd)
        third.release()
    assert list(lock_folder().iterdir()) == []


def test_the_command_line_takes_the_lock_folder_from_its_environment(stack, sheet, tmp_path):
    home = tmp_path / "cron-home"
    env = {"ATOMSCALE_API_KEY": API_KEY, "HOME": str(home)}
    with RunLock.acquire(sheet, home / ".cache" / "layer-sync" / "locks"):
        err = io.StringIO()
        code = main(["sync", str(sheet), "--api-url", stack.url], environ=env,
                    stdout=io.StringIO(), stderr=err)
    assert code == 2 and str(home / ".cache" / "layer-sync" / "locks") in err.getvalue()
