"""A lock file and the kernel's lock on it, on POSIX and on Windows (used by run/lock.py).

- Opened without following a symbolic link and without blocking (a FIFO), created 0666 so
  that any user of the machine can take it, and used only if it is a regular file of one name
  (not a hard link to someone's file) that holds nothing but a lock record: it is never
  truncated, its record is rewritten in place at a fixed size. Anything else is a
  ConfigError naming the file.
- The record says who holds the lock: process id, user, since when.
- The kernel holds the lock (`fcntl.flock`; on Windows `msvcrt.locking` on a byte past the
  record, which other processes must still be able to read), so it is let go when the
  process ends, however it ends (`kill -9`).

The standard library's `fcntl` and `msvcrt` rather than a lock package: `filelock` opens its
file with O_TRUNC and follows symbolic links (a file planted in a shared folder would be
emptied), and has no place for the holder's name.
"""

from __future__ import annotations

import datetime as _dt
import errno
import getpass
import importlib
import json
import os
import stat
from contextlib import suppress
from pathlib import Path
from types import ModuleType
from typing import Any

from ..core.errors import ConfigError
from ..core.text import one_line


def _platform_module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


#: POSIX's lock (absent on Windows, where `msvcrt` is used instead).
_FCNTL = _platform_module("fcntl")
_MSVCRT = None if _FCNTL is not None else _platform_module("msvcrt")

#: The record at the start of each lock file: a marker line, then the holder as JSON, padded.
MARKER = b"layer-sync lock\n"
RECORD_SIZE = 512
#: On Windows the byte locked lies past the record (a locked byte cannot be read by others).
WINDOWS_LOCK_BYTE = 4096


def backend() -> str:
    """The platform's lock: "fcntl" (POSIX) or "msvcrt" (Windows)."""
    if _FCNTL is not None:
        return "fcntl"
    if _MSVCRT is not None:
        return "msvcrt"
    raise ConfigError("this system has neither fcntl nor msvcrt: layer-sync cannot take the "
                      "lock that keeps two runs from writing at once")


def open_flags() -> int:
    return (getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
            | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))


def _refused(path: Path, exc: OSError) -> ConfigError:
    if exc.errno in (errno.ELOOP, errno.EMLINK) or os.path.islink(path):
        return ConfigError(f"the lock file {path} is a symbolic link, which layer-sync never "
                           "follows (someone may have put it there to make a run write "
                           "elsewhere); remove it, or ask the machine's administrator to")
    if isinstance(exc, PermissionError):
        return ConfigError(f"the lock file {path} belongs to another user and cannot be opened "
                           "by you; ask them or the machine's administrator to remove it")
    return ConfigError(f"cannot take the lock {path}: {exc.strerror or exc}")


def open_lock_file(path: Path) -> tuple[int, bool]:
    """The lock file opened (created 0666 if missing); True when it may be written to.

    Opened without O_CREAT first: Linux refuses O_CREAT on another user's file in a sticky
    folder (fs.protected_regular), though opening it is allowed."""
    for _ in range(100):
        try:
            return os.open(path, os.O_RDWR | open_flags()), True
        except FileNotFoundError:
            pass
        except PermissionError:  # another user's file, not writable by us: lock it read-only
            try:
                return os.open(path, os.O_RDONLY | open_flags()), False
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise _refused(path, exc) from None
        except OSError as exc:
            raise _refused(path, exc) from None
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | open_flags(), 0o666)
        except FileExistsError:
            continue  # another run made it first: open theirs
        except OSError as exc:
            raise _refused(path, exc) from None
        if hasattr(os, "fchmod") and backend() == "fcntl":
            with suppress(OSError):
                os.fchmod(fd, 0o666)  # the umask cut it: every user must be able to take it
        return fd, True
    raise ConfigError(f"cannot take the lock {path}: it keeps disappearing")


def check_lock_file(fd: int, path: Path) -> None:
    """Refuse anything but a layer-sync lock file: a regular file of one name, empty or
    starting with the marker (never someone's file planted or linked there)."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"the lock file {path} is not a regular file (someone else made it); "
                          "remove it, or ask the machine's administrator to")
    if info.st_nlink != 1:
        raise ConfigError(f"the lock file {path} has other names (hard links): it may be "
                          "someone's file, which layer-sync never writes to; remove it, or "
                          "ask the machine's administrator to")
    head = read_record(fd, len(MARKER)) if info.st_size else b""
    if info.st_size and (info.st_size > WINDOWS_LOCK_BYTE or head != MARKER):
        raise ConfigError(f"the lock file {path} is not a layer-sync lock file, and "
                          "layer-sync never writes over another file; remove it, or ask the "
                          "machine's administrator to")


def read_record(fd: int, size: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, size)


def write_record(fd: int, holder: dict[str, Any]) -> None:
    """The holder's record, written over the old one at a fixed size (never truncated)."""
    text = json.dumps(holder, ensure_ascii=True)[:RECORD_SIZE - len(MARKER) - 1].encode()
    record = (MARKER + text).ljust(RECORD_SIZE - 1) + b"\n"
    os.lseek(fd, 0, os.SEEK_SET)
    view = memoryview(record)
    while view:
        view = view[os.write(fd, view):]


def same_file(fd: int, path: Path) -> bool:
    """True when `path` still names the file open as `fd` (a holder may have removed it
    between our open and our lock: then a new file may already be locked under the name)."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False))
    except OSError:
        return False


def try_lock(fd: int) -> bool:
    """Take the kernel's lock on `fd` without waiting: False when another process holds it."""
    try:
        if _FCNTL is not None:
            _FCNTL.flock(fd, _FCNTL.LOCK_EX | _FCNTL.LOCK_NB)
        else:
            os.lseek(fd, WINDOWS_LOCK_BYTE, os.SEEK_SET)
            assert _MSVCRT is not None
            _MSVCRT.locking(fd, _MSVCRT.LK_NBLCK, 1)
    except OSError as exc:
        busy = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES, errno.EDEADLK)
        if exc.errno in busy:
            return False
        raise
    return True


def close(fd: int, locked: bool) -> None:
    """Let go of the lock (Windows lets go of it only "eventually" after a close) and close."""
    try:
        if locked and _MSVCRT is not None and _FCNTL is None:
            with suppress(OSError):
                os.lseek(fd, WINDOWS_LOCK_BYTE, os.SEEK_SET)
                _MSVCRT.locking(fd, _MSVCRT.LK_UNLCK, 1)
    finally:
        os.close(fd)


def holder_record() -> dict[str, Any]:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no name in the environment and no password database
        user = "unknown"
    since = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    return {"pid": os.getpid(), "user": user, "since": since}


#: A holder whose record is empty: it has just taken the lock (it writes its name next), or
#: cannot write the file.
NOT_SAID = "a process that has not said who it is yet"


def describe_holder(record: bytes) -> str:
    """Who holds a lock, from its record ("process 4242 of user alice, since 2026-11-25
    02:00:03+01:00"), as far as the record says; any user can write the file, so nothing in
    it is trusted beyond being shown, in one short line."""
    try:
        data = json.loads(record[len(MARKER):].decode("ascii").strip()) \
            if record.startswith(MARKER) else None
    except (UnicodeDecodeError, ValueError):
        data = None
    if not isinstance(data, dict) or not data:
        return NOT_SAID

    def field(name: str) -> str:
        return one_line(str(data.get(name, "?")))[:60]

    pid = data.get("pid")
    since = field("since").replace("T", " ")
    return (f"process {pid if isinstance(pid, int) else '?'} of user {field('user')}, "
            f"since {since}")
