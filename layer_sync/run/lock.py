"""The lock that keeps two runs off one sheet: "this sheet, on this machine, for this user".

- Two locks, both needed: one on the sheet's identity (device and inode: a hard link is the
  same sheet) and one on its real path (symbolic links resolved: a spreadsheet program that
  saves by writing a new file and renaming it over the old one gives the sheet a new inode,
  but it is still the sheet a running sync is reading).
- Held in a per-user folder that depends on nothing but the home folder (not TMPDIR, not
  XDG_RUNTIME_DIR, which cron does not set while a login session does):
  `~/.cache/layer-sync/locks`, created 0700.
- An `fcntl.flock` on the lock file: the kernel lets go of it when the process ends, however
  it ends (even `kill -9`), so a crashed run never blocks the next one.
- Removed when the run ends. filelock's FileLock cannot do that safely (it keeps the file by
  design, and removing it after release lets a waiter lock an orphaned inode while a third
  run locks a new file of the same name). Here the file is removed *while still held*, and
  a run that has just locked checks that the name still leads to the inode it locked; if not,
  it locked a file already removed, and it tries again.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Self

from ..core.errors import ConfigError, LockedError


def lock_folder(environ: Mapping[str, str] | None = None) -> Path:
    """The per-user folder for locks (created 0700 on first use, by `RunLock.acquire`)."""
    environ = os.environ if environ is None else environ
    home = environ.get("HOME") or os.path.expanduser("~")  # cron may give no HOME: passwd's
    return Path(home) / ".cache" / "layer-sync" / "locks"


def lock_path(input_path: str | os.PathLike[str], folder: str | os.PathLike[str] | None = None) -> Path:
    """The identity lock of an input: named after the file's device and inode, in `folder`
    (default: `lock_folder()`)."""
    info = os.stat(input_path)
    return Path(folder or lock_folder()) / f"sheet-{info.st_dev:x}-{info.st_ino:x}.lock"


def name_lock_path(input_path: str | os.PathLike[str], folder: str | os.PathLike[str] | None = None) -> Path:
    """The name lock of an input: named after a digest of its real path, in `folder`."""
    real = os.path.realpath(input_path).encode("utf-8", "surrogateescape")
    return Path(folder or lock_folder()) / f"path-{hashlib.sha256(real).hexdigest()[:24]}.lock"


def _lock_if_current(fd: int, path: Path) -> bool:
    """Lock `fd` (BlockingIOError when another process holds it); True when `path` still
    names the file locked, False when that file was removed meanwhile (then the lock is
    worthless: a new file may already be locked under the same name)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise BlockingIOError(exc.errno, exc.strerror) from None
        raise
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


class RunLock:
    """An exclusive, non-blocking lock on one input file (its identity and its name);
    `release()` removes its files."""

    def __init__(self, held: list[tuple[Path, int]]) -> None:
        self.path = held[0][0]
        self._held = held

    @classmethod
    def acquire(cls, input_path: str | os.PathLike[str],
                folder: str | os.PathLike[str] | None = None) -> RunLock:
        """Take both locks (in `folder`, default `lock_folder()`) or raise LockedError
        (another run holds one) / ConfigError."""
        try:
            paths = [lock_path(input_path, folder), name_lock_path(input_path, folder)]
        except OSError as exc:
            raise ConfigError(f"cannot read {input_path}: {exc.strerror or exc}") from None
        held: list[tuple[Path, int]] = []
        try:
            for path in paths:
                held.append((path, _take(path, Path(input_path).name)))
        except BaseException:
            if held:
                cls(held).release()
            raise
        return cls(held)

    def release(self) -> None:
        """Remove each lock file, then let go of its lock (in that order: see the module)."""
        held, self._held = self._held, []
        for path, fd in held:
            try:
                os.unlink(path)
            except OSError:
                pass
            finally:
                os.close(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _take(path: Path, sheet_name: str) -> int:
    """Lock the file `path` (created if need be); its descriptor, or LockedError / ConfigError."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the lock folder {path.parent}: "
                          f"{exc.strerror or exc}") from None
    for _ in range(100):  # a removed inode is retried; 100 races in a row never happen
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
                         | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except OSError as exc:
            raise ConfigError(f"cannot take the lock {path}: {exc.strerror or exc}") from None
        try:
            if _lock_if_current(fd, path):
                return fd
        except BlockingIOError:
            os.close(fd)
            raise LockedError(f"another layer-sync run is syncing {sheet_name} "
                              f"right now; wait for it to finish (lock: {path})") from None
        except OSError as exc:
            os.close(fd)
            raise ConfigError(f"cannot take the lock {path}: {exc.strerror or exc}") from None
        os.close(fd)  # the holder removed this file before we locked it: take the new one
    raise LockedError(f"could not take the lock {path}: other runs keep replacing it")
