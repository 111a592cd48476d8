"""The sandbox playing a server of known capacity: how many it serves at once, how many a
second it admits, and what it says when it will not.

- `Capacity(n, queue)`: n requests are served at once (each for the sandbox's latency); up to
  `queue` more wait their turn; past that the answer is 503 with Retry-After at once, as a
  load balancer in front of a full pool does.
- `RateLimit(rate, headers, burst)`: `rate` requests a second, at most `burst` at once (a token
  bucket of `burst` tokens refilled at `rate`, by default a quarter of a second's worth: a
  longer burst is refused, as nginx's limit_req does); past it the answer is 429 with Retry-After (the
  seconds until the next is admitted, rounded up: delay-seconds are whole). With `headers`,
  every answer also states the limit (the rate as a quota a second; what is left; seconds
  until the bucket is full), in the form a server of that kind sends:
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
    """Admits `rate` requests a second, `burst` at most at once (a token bucket, as GCRA:
    nginx's limit_req, API gateways), and says so in `headers` form."""

    def __init__(self, rate: float, headers: str = "none", burst: int | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        if not rate > 0:
            raise ValueError("the rate must be more than 0")
        if headers not in RATE_HEADER_FORMS:
            raise ValueError(f"rate headers are one of {', '.join(RATE_HEADER_FORMS)}")
        self.rate = rate
        self.burst = max(1, round(rate / 4) if burst is None else burst)
        self.form = headers
        self._interval = 1.0 / rate
        self._tolerance = (self.burst - 1) * self._interval
        self._clock, self._wall_clock = clock, wall_clock
        self._lock = threading.Lock()
        self._due = float("-inf")  # when the bucket is full again (GCRA's TAT)

    def admit(self) -> tuple[bool, dict[str, str]]:
        """Whether this request is admitted, and the headers its answer carries (with a
        Retry-After when it is not)."""
        with self._lock:
            now = self._clock()
            due = max(self._due, now)
            admitted = due - now <= self._tolerance
            if admitted:
                self._due = due = due + self._interval
            # Requests that would be admitted now; seconds until the bucket is full.
            remaining = max(0, math.floor((now + self._tolerance + self._interval - due)
                                          / self._interval + 1e-9))
            full = due - now
            wait = due - self._tolerance - now  # until the next is admitted
        headers = self._headers(remaining, max(1, math.ceil(full)), full)
        if not admitted:
            headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return admitted, headers

    def _headers(self, remaining: int, reset: int, full: float) -> dict[str, str]:
        # The policy: the rate as a quota per second (or per the seconds one request takes).
        window = max(1.0, self._interval)
        quota, window_text = max(1, round(self.rate * window)), f"{window:g}"
        if self.form == "draft":
            return {"RateLimit-Policy": f'"default";q={quota};w={window_text}',
                    "RateLimit": f'"default";r={remaining};t={reset}'}
        if self.form == "draft-06":
            return {"RateLimit-Limit": str(quota), "RateLimit-Remaining": str(remaining),
                    "RateLimit-Reset": str(reset)}
        if self.form == "x":
            return {"X-RateLimit-Limit": str(quota), "X-RateLimit-Remaining": str(remaining),
                    "X-RateLimit-Reset": str(math.ceil(self._wall_clock() + full))}
        return {}
