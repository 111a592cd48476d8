"""The journal of writes in flight, kept beside the server's lock: what a run had sent when it
died, so that the next run knows which writes may still land.

A create (POST) is written to the journal before it is sent and marked settled once its
outcome is known (created, refused, or found on the server). A run killed with `kill -9`
leaves its unsettled entries behind; the next run against the same server, which holds the
same lock, finds them (`Journal.unsettled`) and waits until each is old enough for a late
commit to have shown (`settle_s`) before it reads the server's records: whatever the dead
run's writes did, the plan then sees it, and nothing is created twice.

One line of JSON per event, appended and flushed (the kernel keeps it through `kill -9`; a
power cut may lose the last lines, which is what an fsync per write would cost to avoid).
The file holds ids and times, never the key. Only the run holding the server's lock writes
it; `clear` starts it afresh once its entries are settled.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("layer_sync")

#: How long after a write was sent its outcome may still change on the server (a slow
#: database, a proxy that forwards late): a write in doubt is looked for only after this.
SETTLE_S = 10.0
#: A journal larger than this is not ours to trust (it is cleared, and said).
MAX_JOURNAL_BYTES = 16 << 20


@dataclass(frozen=True)
class Entry:
    """A write the journal saw begin and never settle: what it was, and when it was sent."""

    token: str
    what: str
    sent_at: float


class Journal:
    """The journal file at `path` (created 0666 less the umask: the server's lock folder is
    shared by the users of the machine, as the lock is)."""

    def __init__(self, path: Path, wall: Callable[[], float] = time.time) -> None:
        self.path = path
        self._wall = wall
        self._lock = threading.Lock()
        self._handle: IO[str] | None = None

    # ------------------------------------------------------------------ the last run's writes
    def unsettled(self) -> list[Entry]:
        """The writes begun and never settled in the journal as it stands (a run that died)."""
        try:
            with open(self.path, encoding="utf-8") as handle:
                text = handle.read(MAX_JOURNAL_BYTES + 1)
        except FileNotFoundError:
            return []
        except OSError as exc:
            log.warning("could not read the journal of writes in flight %s (%s)", self.path,
                        exc.strerror or exc)
            return []
        if len(text) > MAX_JOURNAL_BYTES:
            log.warning("the journal of writes in flight %s is too large to be ours; it is "
                        "started afresh", self.path)
            return []
        begun: dict[str, Entry] = {}
        for line in text.splitlines():
            try:
                event = json.loads(line)
                token = str(event["token"])
                if event["event"] == "begin":
                    begun[token] = Entry(token, str(event.get("what", "")),
                                         float(event["sent_at"]))
                elif event["event"] == "settled":
                    begun.pop(token, None)
            except (ValueError, KeyError, TypeError):
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
            self._close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    def begin(self, what: str) -> Callable[[], None]:
        """Note a write about to be sent; returns what to call once its outcome is known
        (created, refused, found on the server). A write never settled stays in the journal:
        the next run waits for it (`settle_wait`)."""
        token = uuid.uuid4().hex
        self._append({"event": "begin", "token": token, "what": what,
                      "sent_at": self._wall()})
        return lambda: self._append({"event": "settled", "token": token})

    def close(self) -> None:
        with self._lock:
            self._close()

    def _append(self, event: dict[str, Any]) -> None:
        line = json.dumps(event) + "\n"
        with self._lock:
            try:
                if self._handle is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT
                                 | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0),
                                 0o666)
                    self._handle = os.fdopen(fd, "a", encoding="utf-8")
                self._handle.write(line)
                self._handle.flush()  # in the kernel: survives kill -9
            except OSError as exc:
                # The journal helps the next run; its loss never stops this one.
                log.warning("could not write the journal of writes in flight %s (%s)",
                            self.path, exc.strerror or exc)

    def _close(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.close()
            self._handle = None
