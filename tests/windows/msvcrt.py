"""A stand-in for Windows' `msvcrt`, for the simulated Windows of tests/test_windows.py:
`locking` locks for real, each call noted in the trace (see sitecustomize.py).

Windows locks a byte range of a file through one handle: another handle, in this process or
another, cannot take it. Linux's open-file-description locks (F_OFD_SETLK) behave the same
way, so two simulated processes really exclude each other; where they are missing, POSIX
record locks (per process) are used. Like Windows, a failed non-blocking lock raises
PermissionError (EACCES), and the kernel lets go when the process dies.
"""

from __future__ import annotations

import errno
import os
import struct
import sys

fcntl = sys.modules["_winsim_fcntl"]  # the real one, kept by sitecustomize

LK_UNLCK, LK_LOCK, LK_NBLCK, LK_RLCK, LK_NBRLCK = 0, 1, 2, 3, 4


def _trace(**event: object) -> None:
    import sitecustomize  # the simulation's own

    sitecustomize.trace(**event)


#: Windows locks through a handle opened for reading too; a POSIX write lock needs one opened
#: for writing: such a descriptor locks through a twin opened for writing (kept until unlocked).
_twins: dict[int, int] = {}


def locking(fd: int, mode: int, nbytes: int) -> None:
    """Lock or unlock `nbytes` bytes from the file's current position."""
    start = os.lseek(fd, 0, os.SEEK_CUR)
    _trace(event="msvcrt.locking", mode=mode, start=start, nbytes=nbytes)
    kind = fcntl.F_UNLCK if mode == LK_UNLCK else \
        fcntl.F_RDLCK if mode in (LK_RLCK, LK_NBRLCK) else fcntl.F_WRLCK
    command = getattr(fcntl, "F_OFD_SETLK", None)
    if command is None:
        command = fcntl.F_SETLK
    target = _twins.get(fd, fd)
    if kind == fcntl.F_WRLCK and target == fd \
            and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
        target = _twins[fd] = os.open(f"/proc/self/fd/{fd}", os.O_RDWR)
    request = struct.pack("@hhqqi", kind, os.SEEK_SET, start, nbytes, 0) + bytes(8)
    try:
        fcntl.fcntl(target, command, request)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            raise PermissionError(errno.EACCES, "Permission denied") from None
        raise
    finally:
        if target != fd and (kind == fcntl.F_UNLCK or sys.exc_info()[0] is not None):
            os.close(_twins.pop(fd))


def setmode(fd: int, flags: int) -> int:
    return os.O_BINARY  # type: ignore[attr-defined]  # set by sitecustomize


def get_osfhandle(fd: int) -> int:
    return fd
