"""The sandbox playing a server of known capacity: how many it serves at once, how many a
second it admits, and what it says when it will not.

- `Capacity(n, queue)`: n requests are served at once (each for the sandbox's latency); up to
  `queue` more wait their turn; past that the answer is 503 with Retry-After at once, as a
  load balancer in front of a full pool does.
- `RateLimit(rate, headers)`: `rate` requests a second in fixed one-second windows (a window of
  1/rate seconds below one a second); past the quota the answer is 429 with Retry-After (the
  seconds to the window's end, rounded up: delay-seconds are whole). With `headers`, every
  answer also states the limit, in the form a server of that kind sends:
  `draft` (the IETF draft's `RateLimit-Policy: "default";q=40;w=1` and
  `RateLimit: "default";r=12;t=1`), `draft-06` (its earlier separate `RateLimit-Limit`,
  `RateLimit-Remaining`, `RateLimit-Reset`), `x` (`X-RateLimit-Limit`, `-Remaining`, and
  `-Reset` as a Unix time, as GitHub sends it) or `none`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

RATE_HEADER_FORMS = ("draft", "draft-06", "x", "none")


class Capacity:
    """Serves `capacity` requests at once; `queue` more wait; the rest are turned away."""

    def __init__(self, capacity: int, queue: int | None = None) -> None:
        if capacity < 1:
            raise ValueError("the capacity must be 1 or more")
        self.capacity = capacity
        self.queue = capacity if queue is None else max(0, queue)
        #: The Retry-After of a 503 (tests make it "0": come back at once).
        self.retry_after = "1"
        self._cond = threading.Condition()
        self._serving = 0
        self._waiting = 0

    def enter(self) -> bool:
        """Wait for a place among those served; False (at once) when the queue is full."""
        with self._cond:
            if self._serving >= self.capacity:
                if self._waiting >= self.queue:
                    return False
                self._waiting += 1
                try:
                    while self._serving >= self.capacity:
                        self._cond.wait()
                finally:
                    self._waiting -= 1
            self._serving += 1
            return True

    def leave(self) -> None:
        with self._cond:
            self._serving -= 1
            self._cond.notify()


class RateLimit:
    """Admits `rate` requests a second in fixed windows, and says so in `headers` form."""

    def __init__(self, rate: float, headers: str = "none",
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        if not rate > 0:
            raise ValueError("the rate must be more than 0")
        if headers not in RATE_HEADER_FORMS:
            raise ValueError(f"rate headers are one of {', '.join(RATE_HEADER_FORMS)}")
        self.window = max(1.0, 1.0 / rate)
        self.quota = max(1, round(rate * self.window))
        self.form = headers
        self._clock, self._wall_clock = clock, wall_clock
        self._lock = threading.Lock()
        self._start = clock()
        self._index = 0
        self._used = 0

    def admit(self) -> tuple[bool, dict[str, str]]:
        """Whether this request is admitted, and the headers its answer carries (with a
        Retry-After when it is not)."""
        with self._lock:
            now = self._clock()
            index = int((now - self._start) // self.window)
            if index != self._index:
                self._index, self._used = index, 0
            admitted = self._used < self.quota
            if admitted:
                self._used += 1
            remaining = self.quota - self._used
            left = self._start + (index + 1) * self.window - now
        reset = max(1, math.ceil(left))
        headers = self._headers(remaining, reset, left)
        if not admitted:
            headers["Retry-After"] = str(reset)
        return admitted, headers

    def _headers(self, remaining: int, reset: int, left: float) -> dict[str, str]:
        window = f"{self.window:g}"
        if self.form == "draft":
            return {"RateLimit-Policy": f'"default";q={self.quota};w={window}',
                    "RateLimit": f'"default";r={remaining};t={reset}'}
        if self.form == "draft-06":
            return {"RateLimit-Limit": str(self.quota), "RateLimit-Remaining": str(remaining),
                    "RateLimit-Reset": str(reset)}
        if self.form == "x":
            return {"X-RateLimit-Limit": str(self.quota), "X-RateLimit-Remaining": str(remaining),
                    "X-RateLimit-Reset": str(math.ceil(self._wall_clock() + left))}
        return {}
