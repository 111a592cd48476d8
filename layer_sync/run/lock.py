"""The lock that keeps two runs from writing to one server at once, whoever runs them.

- **Keyed by the server**: what its API URL reaches, however it is spelled (`localhost` and
  `127.0.0.1`, a default port given or not: `remote.identity`), not the sheet
  and not the user: two people syncing their own copies of one sheet against one server are
  the case it exists for. Not by the key either: two keys on one server may well write the
  same lab's target materials, and a run that waits costs less than a layer stored twice.
- **One folder for every user of the machine**, chosen from nothing a user's environment can
  change (cron sets no HOME-, TMPDIR- or XDG-like variable the way a login does): on POSIX the
  first of /run/lock, /var/lock and /tmp that belongs to root, is writable by all and is
  sticky (nobody can remove or rename a file there that is not theirs); on Windows
  %ProgramData%\\layer-sync, the same for every account.
- **One file per server**, `layer-sync-<digest of its identity>.lock`, that any user can take,
  never followed through a symbolic link nor written when planted (run/lockfile.py); the
  holder writes its process id, user and start time into it, so that a run that finds the
  lock taken can say who holds it. The kernel holds the lock: it is let go when the process
  ends, however it ends (`kill -9`), so a crashed run never blocks the next one.
- **A second run waits** for the lock up to a bound (`lock_wait`), then gives up naming the
  holder; a signal ends the wait. A dry run writes nothing and takes no lock.
- **The holder removes the file when it ends**, while still holding it, when it may (in a
  sticky folder only the file's owner can); a run that has just locked a file checks that the
  name still leads to it, and tries again if not.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import stat
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext, suppress
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from ..core.control import RunControl
from ..core.errors import ConfigError, Interrupted, LockedError, option
from ..core.runtime import Runtime
from ..remote.identity import server_identity
from .lockfile import (
    NOT_SAID,
    RECORD_SIZE,
    backend,
    check_lock_file,
    close,
    describe_holder,
    holder_record,
    open_flags,
    open_lock_file,
    read_record,
    same_file,
    try_lock,
    write_record,
)

log = logging.getLogger("layer_sync")

#: Where a shared lock may live on POSIX, in order: root's, writable by all, sticky.
POSIX_FOLDERS = (Path("/run/lock"), Path("/var/lock"), Path("/tmp"))
#: The first and the longest pause between two tries while waiting for the lock.
FIRST_PAUSE_S, LONGEST_PAUSE_S = 0.05, 1.0
#: How long to wait for a run that has just taken the lock to write its name.
NAME_PAUSE_S = 0.2


# ---------------------------------------------------------------------------- where

def server_key(api_url: str) -> str:
    """The API URL as messages about the lock show it: scheme and host in lower case, the
    port always given, the path ending in `/`; no user, password, query or fragment. (The
    lock itself is keyed on `server_identity`, which also knows `localhost` is 127.0.0.1.)"""
    parts = urlsplit(api_url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    try:
        port = parts.port
    except ValueError:
        port = None
    port = port or {"http": 80, "https": 443}.get(scheme)
    path = "/" + "/".join(p for p in parts.path.split("/") if p)
    path = path if path.endswith("/") else path + "/"
    shown_host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown_host}:{port}{path}"


def _shown(key: str) -> str:
    """A server key as a person writes the URL (without the scheme's own port)."""
    for scheme, port in (("http", 80), ("https", 443)):
        if key.startswith(f"{scheme}://"):
            host, sep, path = key[len(scheme) + 3:].partition("/")
            if host.endswith(f":{port}"):
                return f"{scheme}://{host[:-len(str(port)) - 1]}{sep}{path}"
    return key


def lock_folder() -> Path:
    """The machine's folder for locks, the same for every user and every environment:
    POSIX: the first of /run/lock, /var/lock, /tmp that is root's, writable by all and
    sticky; Windows: %ProgramData%\\layer-sync."""
    if backend() == "msvcrt":
        return Path(os.environ.get("ProgramData") or r"C:\ProgramData") / "layer-sync"
    for folder in POSIX_FOLDERS:
        try:
            info = folder.stat()
        except OSError:
            continue
        if (stat.S_ISDIR(info.st_mode) and info.st_uid == 0
                and info.st_mode & stat.S_IWOTH and info.st_mode & stat.S_ISVTX):
            return folder
    raise ConfigError("none of /run/lock, /var/lock and /tmp is a folder shared by all users "
                      "(root's, writable by all, sticky, as /tmp is): layer-sync cannot take "
                      "the lock that keeps two runs from writing to one server at once; ask the "
                      "machine's administrator to restore /tmp (chmod 1777 /tmp)")


def lock_path(api_url: str, folder: str | os.PathLike[str] | None = None) -> Path:
    """The lock file of the server at `api_url`, in `folder` (default: `lock_folder()`)."""
    # The server's identity, not the URL's text: every spelling of one server is one lock (and
    # one journal, which sits beside it).
    digest = hashlib.sha256(server_identity(api_url).encode("utf-8")).hexdigest()[:32]
    return Path(folder if folder is not None else lock_folder()) / f"layer-sync-{digest}.lock"


def _prepare(folder: Path) -> None:
    """A folder given instead of the machine's, or Windows': created when missing (on POSIX
    like /tmp, writable by all and sticky), and on POSIX used only if no other user can swap
    the files in it. (On Windows %ProgramData%'s own permissions let each user create files
    there and keep others from changing them.)"""
    if not folder.exists():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if backend() == "fcntl":
                os.chmod(folder, 0o1777)  # mkdir's mode is cut by the umask
        except OSError as exc:
            raise ConfigError(f"cannot create the lock folder {folder}: "
                              f"{exc.strerror or exc}") from None
    try:
        info = folder.stat()
    except OSError as exc:
        raise ConfigError(f"cannot use the lock folder {folder}: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"the lock folder {folder} is not a folder")
    if backend() == "fcntl":
        if info.st_uid not in (0, os.geteuid()):
            raise ConfigError(f"the lock folder {folder} belongs to another user (uid "
                              f"{info.st_uid}), who could replace the locks in it; use a "
                              "folder of your own or root's")
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not info.st_mode & stat.S_ISVTX:
            raise ConfigError(f"the lock folder {folder} can be changed by other users but "
                              f"is not sticky, so they could replace the locks in it; "
                              f"chmod +t {folder}")


# ---------------------------------------------------------------------------- the lock

class RunLock:
    """The lock of one server, held by this process until `release()`."""

    def __init__(self, path: Path, fd: int, writable: bool) -> None:
        self.path = path
        self._fd: int | None = fd
        self._writable = writable

    @classmethod
    def acquire(cls, api_url: str, folder: str | os.PathLike[str] | None = None, *,
                wait: float = 0.0, clock: Callable[[], float] = time.monotonic,
                sleep: Callable[[float], None] | None = None,
                control: RunControl | None = None,
                waiting: Callable[[str], None] | None = None) -> RunLock:
        """Take the lock of the server at `api_url` (in `folder`, default `lock_folder()`).

        When another run holds it, try again for up to `wait` seconds (`clock` and `sleep`
        measure and pass the time; a stop of `control` ends the wait with `Interrupted`),
        calling `waiting(message)` once; then LockedError naming the holder. ConfigError when
        the lock file or its folder cannot be used.
        """
        server = _shown(server_key(api_url))
        path = lock_path(api_url, folder)
        if folder is not None or backend() == "msvcrt":  # POSIX's own folders all exist
            _prepare(path.parent)
        started, pause = clock(), FIRST_PAUSE_S
        asked_again = False
        while True:
            taken, holder = _take(path)
            if taken is None and holder == NOT_SAID and not asked_again:
                # A run that has just taken the lock writes its name a moment later: look
                # again once, so that the line says who it is.
                asked_again = True
                (sleep or (control.sleep if control is not None else time.sleep))(NAME_PAUSE_S)
                continue
            if taken is not None:
                fd, writable = taken
                lock = cls(path, fd, writable)
                if writable:
                    try:
                        write_record(fd, holder_record())
                    except OSError:  # a full disk: the lock holds without the name
                        pass
                return lock
            waited = clock() - started
            if waited >= wait:
                after = f" after waiting {round(waited, 1):g} s" if wait > 0 else ""
                raise LockedError(
                    f"another layer-sync run is writing to {server} right now ({holder})"
                    f"{after}; run again when it has finished, or let a run wait longer for it "
                    f"with {option('lock_wait')} SECONDS (lock: {path})")
            if waiting is not None and pause == FIRST_PAUSE_S:  # said once, on the first wait
                waiting(f"another layer-sync run is writing to {server} right now ({holder}); "
                        f"waiting for it to finish, up to {wait:g} s")
            step = min(pause, wait - waited)
            pause = min(pause * 2, LONGEST_PAUSE_S)
            (sleep or (control.sleep if control is not None else time.sleep))(step)
            if control is not None and control.interrupted:
                raise Interrupted(control.signal or signal.SIGINT)

    def release(self) -> None:
        """Mark the record free, remove the file if it still is ours and we may, let go."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if self._writable:
                with suppress(OSError):
                    write_record(fd, {})
            if backend() == "fcntl" and same_file(fd, self.path):
                with suppress(OSError):  # another user's file in a sticky folder: it stays
                    os.unlink(self.path)
        finally:
            close(fd, locked=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _take(path: Path) -> tuple[tuple[int, bool] | None, str]:
    """((descriptor, writable), "") with the lock taken, or (None, who holds it)."""
    for _ in range(100):  # a file removed under us is tried again; 100 races never happen
        fd, writable = open_lock_file(path)
        try:
            check_lock_file(fd, path)
            if not try_lock(fd):
                holder = describe_holder(read_record(fd, RECORD_SIZE))
                close(fd, locked=False)
                return None, holder
        except BaseException:
            close(fd, locked=False)
            raise
        if same_file(fd, path):
            return (fd, writable), ""
        close(fd, locked=True)  # its holder removed it before we locked it: take the new one
    raise LockedError(f"could not take the lock {path}: other runs keep replacing it")


def lock_holder(api_url: str, folder: str | os.PathLike[str] | None = None) -> str | None:
    """Who holds the lock of the server at `api_url` right now (see `describe_holder`), or
    None when nobody does (or the lock cannot be looked at)."""
    path = lock_path(api_url, folder)
    try:
        fd = os.open(path, os.O_RDONLY | open_flags())
    except OSError:
        return None
    try:
        check_lock_file(fd, path)
        if try_lock(fd):
            return None
        return describe_holder(read_record(fd, RECORD_SIZE))
    except (OSError, ConfigError):
        return None
    finally:
        close(fd, locked=True)


def lock_for_run(api_url: str, *, dry_run: bool, wait: float,
                 runtime: Runtime) -> AbstractContextManager[RunLock | None]:
    """The lock a sync holds while it reads the server and writes: none for a dry run, which
    writes nothing (it neither waits for a run that writes nor holds one up; it says when one
    is writing, as its plan may then be out of date when it ends)."""
    if dry_run:
        holder = lock_holder(api_url, runtime.state_dir)
        if holder is not None:
            log.warning("another layer-sync run is writing to %s right now (%s): this dry "
                        "run's plan may be out of date when it ends", _shown(server_key(api_url)),
                        holder)
        return nullcontext()
    return RunLock.acquire(api_url, runtime.state_dir, wait=wait, clock=runtime.clock,
                           sleep=runtime.sleep, control=runtime.control, waiting=log.info)
