"""Makes this Python look like Windows to layer-sync, as far as that can be done on Linux: it
is imported at start-up when this folder is on PYTHONPATH (tests/test_windows.py).

- `fcntl`, `termios`, `pwd`, `grp`, `resource`, `tty` and `pty` cannot be imported (Windows
  has none of them); `msvcrt` is this folder's stand-in, whose `locking` really locks.
- `signal` has only Windows' signals (no SIGHUP, SIGQUIT, SIGKILL, SIGUSR1, …, no alarm);
  `os` has no getuid, geteuid, fchown, fchmod (3.13 has it on Windows; 3.11 does not), mkfifo,
  statvfs, pread…, nor the open flags Windows lacks (O_NOFOLLOW, O_NONBLOCK, O_CLOEXEC, …).
- `os` gains Windows' O_BINARY, O_TEXT and O_NOINHERIT, and `os.open` notes every file that
  layer-sync opens without O_BINARY: Windows would read and write it in text mode (line ends
  translated, Ctrl-Z taken as the end), which breaks a workbook.
- What was used goes to the file named by $LAYER_SYNC_WINSIM_TRACE, one JSON object a line.

Not changed: sys.platform and os.name (pathlib and the standard library would then take their
Windows code, which cannot run here), the file system's rules (here a file in use can still be
removed or replaced), and the console.
"""

from __future__ import annotations

import fcntl as _real_fcntl  # for the stand-in msvcrt only
import importlib.abc
import json
import os
import shutil
import signal
import sys

sys.modules["_winsim_fcntl"] = _real_fcntl

_TRACE = os.environ.get("LAYER_SYNC_WINSIM_TRACE")


def trace(**event: object) -> None:
    if _TRACE:
        with open(_TRACE, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"pid": os.getpid(), **event}) + "\n")


UNIX_ONLY_MODULES = {"fcntl", "termios", "pwd", "grp", "resource", "tty", "pty"}


class _Unavailable(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in UNIX_ONLY_MODULES:
            trace(event="import refused", name=name)
            raise ModuleNotFoundError(f"No module named {name!r} (simulated Windows)", name=name)


for _name in UNIX_ONLY_MODULES:
    sys.modules.pop(_name, None)
sys.meta_path.insert(0, _Unavailable())

WINDOWS_SIGNALS = {"SIGABRT", "SIGBREAK", "SIGFPE", "SIGILL", "SIGINT", "SIGSEGV", "SIGTERM"}
for _name in dir(signal):
    if _name.startswith("SIG") and not _name.startswith(("SIG_", "SIGRT")) \
            and _name not in WINDOWS_SIGNALS:
        delattr(signal, _name)
for _name in ("alarm", "pause", "setitimer", "getitimer", "siginterrupt", "sigwait",
              "sigpending", "pthread_kill", "SIGRTMIN", "SIGRTMAX"):
    if hasattr(signal, _name):
        delattr(signal, _name)

for _name in ("getuid", "geteuid", "getgid", "getegid", "getgroups", "setuid", "seteuid",
              "setgid", "fchown", "chown", "lchown", "fchmod", "mkfifo", "mknod", "statvfs",
              "fstatvfs", "getpgid", "killpg", "setsid", "getsid", "sync", "pread", "pwrite",
              "getloadavg", "O_NOFOLLOW", "O_NONBLOCK", "O_CLOEXEC", "O_NOCTTY", "O_DIRECTORY",
              "O_SYNC", "O_DSYNC", "O_ASYNC", "O_NDELAY", "O_LARGEFILE", "O_NOATIME",
              "O_PATH", "O_TMPFILE", "O_FSYNC", "O_RSYNC", "O_DIRECT"):
    if hasattr(os, _name):
        delattr(os, _name)

# The standard library's own POSIX paths that use what was just taken away take their
# Windows path instead, as on Windows (shutil.rmtree without descriptors; no os.fwalk).
shutil._use_fd_functions = False  # type: ignore[attr-defined]
if hasattr(os, "fwalk"):
    del os.fwalk

os.O_BINARY, os.O_TEXT, os.O_NOINHERIT = 0x8000, 0x4000, 0x0080
_WINDOWS_ONLY = os.O_BINARY | os.O_TEXT | os.O_NOINHERIT
_real_open = os.open


def _open(path, flags, mode=0o777, *, dir_fd=None):
    if not flags & (os.O_BINARY | os.O_TEXT):
        caller = sys._getframe(1).f_code.co_filename
        if "layer_sync" in caller:
            trace(event="text-mode open", path=os.fspath(path), caller=caller)
    return _real_open(path, flags & ~_WINDOWS_ONLY, mode, dir_fd=dir_fd)


os.open = _open
