"""What the sandbox counts: requests by method and status, faults, and how many at once."""

from __future__ import annotations

import threading
from collections import deque


class Stats:
    """Request counters, safe across threads: tests prove concurrency with `max_in_flight`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.by_method: dict[str, int] = {}
            self.by_status: dict[int, int] = {}
            self.faults: dict[str, int] = {}
            # The latest requests only: a sandbox may run for days.
            self.log: deque[tuple[str, str, int | None, str | None]] = deque(maxlen=100_000)
            self.in_flight = 0
            self.max_in_flight = 0

    @property
    def total(self) -> int:
        return sum(self.by_method.values())

    def begin(self, method: str) -> None:
        with self._lock:
            self.by_method[method] = self.by_method.get(method, 0) + 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def note_fault(self, fault: str) -> None:
        with self._lock:
            self.faults[fault] = self.faults.get(fault, 0) + 1

    def end(self, method: str, path: str, status: int | None, fault: str | None) -> None:
        with self._lock:
            self.in_flight -= 1
            if status is not None:
                self.by_status[status] = self.by_status.get(status, 0) + 1
            self.log.append((method, path, status, fault))
