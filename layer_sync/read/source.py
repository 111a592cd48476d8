"""The input file read once, whole, into memory: the sheet that is planned is the sheet read.

A program saving a file in place writes it in pieces, with pauses between them; a read that
falls into a pause sees a still, half-written file. So:

1. a file modified moments ago (`STILL_S`) is taken to be still being written: the reader
   watches it (size, modification time, identity) until it has not changed for `STILL_S`,
   waiting at most `MAX_WAIT_S` (said on the log), and refuses it if it is still changing;
2. it is then read whole, through one descriptor checked to be a regular file, in chunks
   (the run's stop switch and the read's deadline are asked between them);
3. it is checked unchanged after the read: the opened file's size, modification time and
   identity (st_dev, st_ino) as before, and the path still naming that same file. A change
   means "the sheet changed while it was read; run again".

Clock, sleep and the wall clock (for modification times) are passed in, so tests never wait.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import InputFileError
from .files import open_regular, stat_regular, too_big
from .guard import ReadGuard

log = logging.getLogger(__name__)

#: A file modified less than this long ago may still be being written (seconds). The
#: environment variable LAYER_SYNC_STILL_SECONDS sets another (0: never wait; the test
#: suite's own files are whole when read).
STILL_S = 2.0
STILL_VARIABLE = "LAYER_SYNC_STILL_SECONDS"
#: The longest the reader waits for a file being written to become still (seconds).
MAX_WAIT_S = 10.0
#: How often a file being written is looked at while waiting (seconds).
POLL_S = 0.25
_CHUNK = 1 << 20


@dataclass
class Source:
    """The file's bytes as read, and its status when they were read."""

    path: Path
    data: bytes
    info: os.stat_result

    def take(self) -> bytes:
        """The bytes, no longer held here (the text reader keeps only the decoded text)."""
        data, self.data = self.data, b""
        return data


def _signature(info: os.stat_result) -> tuple[int, int, int, int]:
    return info.st_size, info.st_mtime_ns, info.st_dev, info.st_ino


def changed(path: Path) -> InputFileError:
    """The error for a sheet that changed while it was read."""
    return InputFileError(f"the sheet changed while it was read ({path.name} is being saved "
                          "or replaced by another program); run again once it is saved")


def still_seconds(environ: Mapping[str, str] | None = None) -> float:
    """How long a file must have been unchanged to be read: `STILL_S`, or the environment's
    LAYER_SYNC_STILL_SECONDS (a number from 0 to `MAX_WAIT_S`)."""
    text = (os.environ if environ is None else environ).get(STILL_VARIABLE, "").strip()
    try:
        return min(max(float(text), 0.0), MAX_WAIT_S) if text else STILL_S
    except ValueError:
        return STILL_S


def wait_until_still(path: Path, *, clock: Callable[[], float], sleep: Callable[[float], None],
                     wall: Callable[[], float], guard: ReadGuard | None = None,
                     still_s: float = STILL_S) -> None:
    """Return once `path` was last modified `still_s` ago, or has been seen unchanged for
    `still_s`; refuse it when it is still changing after `MAX_WAIT_S`."""
    start = clock()
    info = stat_regular(path)
    if wall() - info.st_mtime >= still_s:
        return  # the usual case: saved a while ago
    log.info("%s was modified %.1f s ago and may still be being written: waiting until it "
             "has not changed for %.0f s (at most %.0f s)", path.name,
             max(0.0, wall() - info.st_mtime), still_s, MAX_WAIT_S)
    seen, since = _signature(info), clock()
    while clock() - since < still_s:
        if clock() - start >= MAX_WAIT_S:
            raise InputFileError(
                f"{path.name} is still being written (it kept changing for {MAX_WAIT_S:.0f} "
                "s); run again once it is saved")
        if guard is not None:
            guard.check()
        sleep(POLL_S)
        info = stat_regular(path)
        now = _signature(info)
        if now != seen:
            seen, since = now, clock()
        elif wall() - info.st_mtime >= still_s:
            break  # its last change is old enough by the wall clock too
    log.info("%s has not changed for %.0f s: reading it", path.name, still_s)


def read_source(path: Path, limit: int, *, guard: ReadGuard,
                clock: Callable[[], float] = time.monotonic,
                sleep: Callable[[float], None] = time.sleep,
                wall: Callable[[], float] = time.time, still_s: float | None = None) -> Source:
    """The whole file, still and unchanged while read (see the module's docstring); refused
    past `limit` bytes. `still_s`: see `still_seconds` (the default)."""
    wait_until_still(path, clock=clock, sleep=sleep, wall=wall, guard=guard,
                     still_s=still_seconds() if still_s is None else still_s)
    chunks: list[bytes] = []
    with open_regular(path) as (handle, before):
        if before.st_size > limit:
            raise too_big(path, before.st_size, limit, "a file")
        size = 0
        try:
            while chunk := handle.read(_CHUNK):
                size += len(chunk)
                if size > limit:  # it grew while being read
                    raise too_big(path, size, limit, "a file")
                chunks.append(chunk)
                guard.check()
            after = os.fstat(handle.fileno())
        except OSError as exc:
            raise InputFileError(f"cannot read {path}: {exc.strerror}") from None
    try:
        named = os.stat(path)  # the path still names the file that was read
    except OSError:
        raise changed(path) from None
    if (_signature(after) != _signature(before) or size != before.st_size
            or (named.st_dev, named.st_ino) != (before.st_dev, before.st_ino)
            or _signature(named) != _signature(before)):
        raise changed(path)
    return Source(path, b"".join(chunks), before)
