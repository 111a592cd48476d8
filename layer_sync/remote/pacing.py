"""When the next request may leave: the server's stated rate followed as a pace.

Two things decide it, both on one injected clock:

- a **hold**, a time before which nothing is sent: a 429's `Retry-After` (every request waits
  for it, not only the one refused) and a rate-limit window used up (`remaining` 0: until its
  `reset`);
- a **pace**, requests spread evenly at a rate, as a token bucket of a few tokens (GCRA: each
  request takes the next departure time; after a pause, as many at once as the margin leaves
  of a window's quota). Where
  the server states its limit (`RateLimit-Policy`, the `*-Limit` fields; see `ratelimit`) the
  pace is that rate less a margin, so a window is never used up; a quota for a long window
  (an hour's, a day's) is not spread but spent as needed, and waited out when it runs out.
  Where the server says nothing but refuses (429), the rate it admitted in the last second
  (the answers, and the requests sent before the refused one and still on their way) is
  taken as its limit: the pace drops to just under it, stays near it for half a minute,
  then grows ever faster to probe for more, as CUBIC does on throttling in botocore's
  adaptive retry mode (a refusal then finds the limit again; a probe costs a Retry-After).

So after a 429 every worker waits for the Retry-After, as before, but they leave one after
the other at the pace, not all at once into the same limit.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from .ratelimit import SHORT_WINDOW_S, RateInfo

Clock = Callable[[], float]

#: Of a stated rate, the share used: a window is then never quite used up, whatever the
#: phase between our requests and the server's windows.
MARGIN = 0.95
#: After a 429 with no stated rate, the pace keeps the margin under the rate the server
#: admitted until it probes above that rate this many seconds later (CUBIC's growth,
#: scaled to the rate).
PROBE_AFTER_S = 30.0
#: The admitted rate is measured over this many seconds (a window of most limits: a shorter
#: span would count one window's quota as a faster rate).
MEASURE_S = 1.0


class Pace:
    """The run's hold and pace (see the module's docstring); safe across threads."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._burst = 1.0
        self._not_before = float("-inf")
        self._due = float("-inf")  # the theoretical departure time of the next request (GCRA)
        #: Requests a second, or None: no pace.
        self.rate: float | None = None
        #: Whether the rate is the server's word (True) or learnt from its refusals.
        self.stated = False
        self._longest_reset = 0.0
        self._admitted: deque[float] = deque()
        # CUBIC after a refusal: the pace then, its growth, and when it was cut.
        self._plateau = 0.0
        self._growth = 0.0
        self._cut_at = float("-inf")

    # ------------------------------------------------------------------ departures
    def reserve(self) -> float:
        """Take the next departure; returns the seconds to wait for it (0: go now)."""
        with self._lock:
            now = self._clock()
            at = max(now, self._not_before)
            if self.rate:
                interval = 1.0 / self.rate
                at = max(at, self._due - (self._burst - 1) * interval)
                self._due = max(self._due, at) + interval
            return at - now

    def hold(self, seconds: float) -> None:
        """Send nothing for `seconds` from now (a longer hold already set stays)."""
        with self._lock:
            self._not_before = max(self._not_before, self._clock() + max(0.0, seconds))

    # ------------------------------------------------------------------ what answers say
    def state(self, info: RateInfo) -> None:
        """What an answer's rate-limit headers say: the pace to keep, and a hold when the
        window is used up."""
        if not info:
            return
        if info.remaining is not None and info.remaining <= 0 and info.reset is not None:
            self.hold(info.reset)
        with self._lock:
            if info.reset is not None:
                self._longest_reset = max(self._longest_reset, info.reset)
            if info.quota is None or info.quota <= 0:
                return
            # Unstated, the window is about the longest reset seen (a reset counts down the
            # window: right after one it is the whole window), in whole seconds: resets are
            # whole seconds, and one given as a Unix time can be up to one late. With no
            # reset either, the quota's period is unknown: nothing to pace by.
            longest = self._longest_reset
            window = info.window or (max(1.0, math.floor(longest)) if longest > 0 else None)
            if window is None:
                return
            if window <= SHORT_WINDOW_S:
                self.rate, self.stated = MARGIN * info.quota / window, True
                self._burst = _burst(info.quota)
            elif self.stated:  # the policy changed to a long window: spend it as needed
                self.rate, self.stated = None, False

    def admitted(self) -> None:
        """The server answered a request (it was not refused): measured, and a pace learnt
        from refusals grows back."""
        with self._lock:
            now = self._clock()
            self._admitted.append(now)
            while self._admitted and self._admitted[0] < now - MEASURE_S:
                self._admitted.popleft()
            if self.rate is not None and not self.stated:
                self.rate = self._plateau + self._growth * (now - self._cut_at) ** 3

    def throttled(self, retry_after: float | None, sent_at: float, in_flight: int = 0) -> None:
        """A 429: every request waits out `retry_after`; with no stated rate, the pace is cut
        to just under what the server admitted in the last second: the answers, and the
        `in_flight` requests still on their way (sent before the refusal, most of them
        admitted). Once per congestion: a request sent before the last cut is part of it."""
        if retry_after is not None:
            self.hold(retry_after)
        with self._lock:
            if self.stated or sent_at < self._cut_at:
                return
            now = self._clock()
            while self._admitted and self._admitted[0] < now - MEASURE_S:
                self._admitted.popleft()
            if not self._admitted:
                return  # nothing admitted lately: the hold is all there is to go by
            admitted = (len(self._admitted) + max(0, in_flight)) / MEASURE_S
            self._plateau = self.rate = MARGIN * admitted
            self._burst = _burst(admitted * MEASURE_S)
            # rate(t) = plateau + growth * t**3 passes the admitted rate after PROBE_AFTER_S.
            self._growth = (1 - MARGIN) * admitted / PROBE_AFTER_S ** 3
            self._cut_at = now
            self._due = max(self._due, now)


def _burst(quota: float) -> float:
    """Departures allowed at once after a pause: what the margin leaves of a window's quota,
    so that a window never holds more than burst + rate x window <= the quota."""
    return max(1.0, math.floor(quota * (1 - MARGIN)))
