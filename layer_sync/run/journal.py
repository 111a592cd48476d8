"""The journal of writes in flight, kept beside the server's lock: what a run had sent when it
died, so that the next run knows which writes may still land.

A create (POST) is written to the journal before it is sent and marked settled once its
outcome is known (created, refused, or found on the server). A run killed with `kill -9`
leaves its unsettled entries behind; the next run against the same server, which holds the
same lock, finds them (`Journal.unsettled`) and waits until each is old enough for a late
commit to have shown (`settle_s`) before it reads the server's records: whatever the dead
run's writes did, the plan then sees it, and nothing is created twice.

One line of JSON per event, written at once (the kernel keeps it through `kill -9`; a power
cut may lose the last lines, which is what an fsync per write would cost to avoid). The file
holds ids and times, never the key. Only the run holding the server's lock writes it;
`clear` starts it afresh once its entries are settled.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from ..remote.retry import SETTLE_S
from .lockfile import open_lock_file

log = logging.getLogger("layer_sync")

#: A journal larger than this is not ours to trust (it is cleared, and said).
MAX_JOURNAL_BYTES = 16 << 20


@dataclass(frozen=True)
class Entry:
    """A write the journal saw begin and never settle: what it was, and when it was sent."""

    token: str
    what: str
    sent_at: float


#: The first line of a journal file: layer-sync never writes to a file that does not start
#: so (a file planted or linked there by another user of the shared folder).
MARKER = b"layer-sync journal\n"


class Journal:
    """The journal file at `path`, beside the server's lock in the folder every user of the
    machine shares: opened as the lock file is (`run.lockfile`: created 0666, never through a
    symbolic link, never a file with other names or other content), and written only by the
    run holding the server's lock. A journal that cannot be used is said on the log, and the
    run goes on without it (it helps the next run; it never stops this one)."""

    def __init__(self, path: Path, wall: Callable[[], float] = time.time) -> None:
        self.path = path
        self._wall = wall
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._writable = False
        self._broken = False
        #: This run's writes begun and not settled yet.
        self._open_tokens: set[str] = set()

    # ------------------------------------------------------------------ the file
    def _open(self) -> int | None:
        """The journal's descriptor (opened and checked on first use), or None."""
        if self._fd is not None or self._broken:
            return self._fd
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, writable = open_lock_file(self.path)
        except (OSError, ConfigError) as exc:
            self._give_up(exc)
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
                raise ConfigError(f"{self.path} is not a layer-sync journal (a special file, or "
                                  "one with other names)")
            head = _read_at(fd, 0, len(MARKER)) if info.st_size else b""
            if info.st_size and (head != MARKER or info.st_size > MAX_JOURNAL_BYTES):
                raise ConfigError(f"{self.path} is not a layer-sync journal, or is too large")
            if writable and not info.st_size:
                _write_at(fd, 0, MARKER)
        except (OSError, ConfigError) as exc:
            os.close(fd)
            self._give_up(exc)
            return None
        self._fd, self._writable = fd, writable
        return fd

    def _give_up(self, exc: BaseException) -> None:
        self._broken = True
        reason = getattr(exc, "strerror", None) or str(exc)
        log.warning("the journal of writes in flight %s cannot be used (%s): a run after this "
                    "one will not know which of its writes were in flight", self.path, reason)

    # ------------------------------------------------------------------ the last run's writes
    def unsettled(self) -> list[Entry]:
        """The writes begun and never settled in the journal as it stands (a run that died)."""
        with self._lock:
            fd = self._open()
            if fd is None:
                return []
            size = os.fstat(fd).st_size
            data = _read_at(fd, len(MARKER), size) if size > len(MARKER) else b""
        begun: dict[str, Entry] = {}
        for line in data.decode("utf-8", "replace").splitlines():
            try:
                event = json.loads(line)
                token = str(event["token"])
                if event["event"] == "begin":
                    begun[token] = Entry(token, str(event.get("what", ""))[:200],
                                         float(event["sent_at"]))
                elif event["event"] == "settled":
                    begun.pop(token, None)
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # a line cut by a crash: the ones around it still count
        return list(begun.values())

    def settle_wait(self, settle_s: float = SETTLE_S) -> float:
        """Seconds to wait before the server's records show every unsettled write of a run
        that died (0 when there is none, or all are old enough)."""
        entries = self.unsettled()
        if not entries:
            return 0.0
        newest = max(entry.sent_at for entry in entries)
        wait = max(0.0, newest + settle_s - self._wall())
        if wait > 0:
            log.warning("a run against this server stopped with %d write(s) in flight (%s); "
                        "waiting %.0f s for any that may still land before the server's "
                        "records are read", len(entries),
                        ", ".join(entry.what for entry in entries[:5]), wait)
        return min(wait, settle_s)

    # ------------------------------------------------------------------ this run's writes
    def clear(self) -> None:
        """Start the journal afresh: the last run's writes are settled (the records read
        after `settle_wait` show them)."""
        with self._lock:
            fd = self._open()
            if fd is not None and self._writable:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, len(MARKER))

    def begin(self, what: str) -> Callable[[], None]:
        """Note a write about to be sent; returns what to call once its outcome is known
        (created, refused, found on the server). A write never settled stays in the journal:
        the next run waits for it (`settle_wait`)."""
        token = uuid.uuid4().hex
        with self._lock:
            self._open_tokens.add(token)
        self._append({"event": "begin", "token": token, "what": what,
                      "sent_at": self._wall()})

        def settle() -> None:
            with self._lock:
                if token not in self._open_tokens:
                    return
                self._open_tokens.discard(token)
            self._append({"event": "settled", "token": token})

        return settle

    def finish(self) -> None:
        """The run ends (still holding the server's lock): with every write settled the
        journal is removed, when we may (the next run has nothing to wait for); a write
        left in doubt keeps it, for the next run to wait on."""
        with self._lock:
            fd, self._fd = self._fd, None
            left = bool(self._open_tokens)
            if fd is None:
                return
            try:
                if not left and self._writable:
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, len(MARKER))
            finally:
                with contextlib.suppress(OSError):
                    os.close(fd)
            if not left and self._writable:
                with contextlib.suppress(OSError):  # another user's file in a sticky folder
                    os.unlink(self.path)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self._fd)
                self._fd = None

    def _append(self, event: dict[str, Any]) -> None:
        line = (json.dumps(event) + "\n").encode("utf-8")
        with self._lock:
            fd = self._open()
            if fd is None or not self._writable:
                return
            try:
                end = os.lseek(fd, 0, os.SEEK_END)
                if end + len(line) > MAX_JOURNAL_BYTES:
                    return  # a run of hundreds of thousands of writes: the rest unjournaled
                _write_at(fd, end, line)  # in the kernel at once: survives kill -9
            except OSError as exc:
                self._fd = None
                os.close(fd)
                self._give_up(exc)


def _read_at(fd: int, offset: int, size: int) -> bytes:
    """Up to `size` bytes from `offset` (os.pread is not on Windows)."""
    os.lseek(fd, offset, os.SEEK_SET)
    chunks, left = [], size
    while left > 0 and (chunk := os.read(fd, left)):
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _write_at(fd: int, offset: int, data: bytes) -> None:
    os.lseek(fd, offset, os.SEEK_SET)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
