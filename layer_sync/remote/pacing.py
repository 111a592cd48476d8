"""When the next request may leave: the server's stated rate followed as a pace.

Two things decide it, both on one injected clock:

- a **hold**, a time before which nothing is sent: a 429's `Retry-After` (every request waits
  for it, not only the one refused) and a quota spent as needed used up (`remaining` 0:
  until its `reset`);
- a **pace**, requests spread evenly at a rate, as a token bucket of a few tokens (GCRA: each
  request takes the next departure time; after a pause, as many at once as the margin leaves
  of a window's quota). Where
  the server states its limit (`RateLimit-Policy`, the `*-Limit` fields; see `ratelimit`) the
  pace is that rate less a margin, so a window is never used up; a quota for a long window
  (an hour's, a day's) is not spread but spent as needed, and waited out when it runs out.
  Where the server says nothing but refuses (429), the pace is a tenth under the rate the
  run was sending at, as botocore's adaptive retry mode cuts its measured rate; it grows
  back slowly and is cut again at each refusal (AIMD), so it stays just under what the
  server admits (see `throttled`).

So after the first 429 every worker waits for the Retry-After, as before, but they leave one
after the other at the pace, not all at once into the same limit; once the run has a pace of
its own, a 429 slows them all down and only the refused request waits its Retry-After.
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
#: A pace learnt from refusals: the share of the rate sent kept at a refusal, and the
#: seconds it takes to grow back by its margin (AIMD: a probe past the server's rate costs
#: a refused request).
CUT = 0.9
PROBE_AFTER_S = 5.0
#: The rate sent is measured over the last MEASURE_S seconds since the last cut or hold,
#: and at least MIN_SPAN_S.
MEASURE_S = 0.5
MIN_SPAN_S = 0.1
#: A refusal of a request that took its departure within two round trips of the last cut
#: (and at least this long) is part of the same congestion: one cut for it.
MIN_GAP_S = 0.05


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
        #: How often a learnt rate was cut: a departure taken before a cut is taken again.
        self.cuts = 0
        self._longest_reset = 0.0
        self._departures: deque[float] = deque()  # when requests left (or will), lately
        self._admitted: deque[float] = deque()  # when the requests admitted left, lately
        self._refused: deque[float] = deque()  # when the requests refused left, lately
        self._resumed = float("-inf")  # the first departure, the last cut or hold's end
        # After a refusal: the pace then, and when it was cut.
        self._plateau = 0.0
        self._cut_at = float("-inf")

    # ------------------------------------------------------------------ departures
    def reserve(self) -> float:
        """Take the next departure; returns the seconds to wait for it (0: go now)."""
        with self._lock:
            now = self._clock()
            at = max(now, self._not_before)
            if not self._departures:
                self._resumed = max(self._resumed, at)  # the run's first: measured from it
            self._departures.append(at)
            while self._departures and self._departures[0] < now - 2 * MEASURE_S:
                self._departures.popleft()
            if self.rate:
                interval = 1.0 / self.rate
                at = max(at, self._due - (self._burst - 1) * interval)
                self._due = max(self._due, at) + interval
            return at - now

    def hold(self, seconds: float) -> None:
        """Send nothing for `seconds` from now (a longer hold already set stays)."""
        with self._lock:
            self._not_before = max(self._not_before, self._clock() + max(0.0, seconds))
            self._resumed = max(self._resumed, self._not_before)

    # ------------------------------------------------------------------ what answers say
    def state(self, info: RateInfo) -> None:
        """What an answer's rate-limit headers say: the pace to keep, and a hold when a
        quota spent as needed runs out."""
        if not info:
            return
        with self._lock:
            if info.reset is not None:
                self._longest_reset = max(self._longest_reset, info.reset)
            # Unstated, the window is about the longest reset seen (a reset counts down the
            # window: right after one it is the whole window), in whole seconds: resets are
            # whole seconds, and one given as a Unix time can be up to one late. With no
            # reset either, the quota's period is unknown: nothing to pace by.
            longest = self._longest_reset
            window = info.window or (max(1.0, math.floor(longest)) if longest > 0 else None)
            if info.quota and info.quota > 0 and window is not None:
                if window <= SHORT_WINDOW_S:
                    self.rate, self.stated = MARGIN * info.quota / window, True
                    self._burst = _burst(info.quota)
                elif self.stated:  # now a long window: spent as needed
                    self.rate, self.stated = None, False
            paced = self.stated
        # A quota spent as needed is waited out when it runs out. A rate kept as a pace is
        # not: the pace already spreads its window (and a token bucket's "none left, reset
        # in 1 s" means a token in 1/rate seconds: the pace's next departure).
        if (not paced and info.remaining is not None and info.remaining <= 0
                and info.reset is not None):
            self.hold(info.reset)

    def admitted(self, sent_at: float) -> None:
        """The server answered (it did not refuse) a request that left at `sent_at`: counted,
        and a pace learnt from refusals grows back (see `throttled`)."""
        with self._lock:
            self._admitted.append(sent_at)
            while self._admitted and self._admitted[0] < sent_at - 2 * MEASURE_S:
                self._admitted.popleft()
            if self.rate is not None and not self.stated:
                since = max(0.0, self._clock() - max(self._cut_at, self._not_before))
                # It regains its margin in PROBE_AFTER_S, then goes on probing for more.
                self.rate = self._plateau * (1 + (1 / MARGIN - 1) * since / PROBE_AFTER_S)

    def throttled(self, retry_after: float | None, sent_at: float,
                  reserved_at: float | None = None, round_trip: float = 0.0) -> bool:
        """A 429 of a request sent at `sent_at` (its departure taken at `reserved_at`; an
        answer takes about `round_trip` seconds). Before the run has a pace of its own (or when the server refuses the rate it
        stated), every request waits out `retry_after`; returns True then. With a pace
        learnt from earlier refusals, the others slow down instead (the refused request
        waits out its own Retry-After: the caller's business).

        The pace is cut to a tenth under the rate the run was sending at (botocore's
        adaptive mode cuts its measured rate so, and AIMD), or to just under the share of it
        the server admitted if that is less: far too fast, one cut comes near. It then grows
        back slowly: it stays just under what the server admits, a probe past it costing a
        refused request. One cut per congestion: a request whose departure was taken
        before the last cut, or within two round trips after it, is part of it."""
        with self._lock:
            hold_all = self.rate is None or self.stated
            same = (self.stated or (sent_at if reserved_at is None else reserved_at)
                    < self._cut_at + max(MIN_GAP_S, 2 * round_trip))
            # What was really sent since the first departure, the last cut or the last hold,
            # over at most MEASURE_S and at least MIN_SPAN_S.
            span = max(MIN_SPAN_S, min(MEASURE_S, sent_at - self._resumed))
            sending = sum(1 for t in self._departures if sent_at - span <= t <= sent_at) / span
            # Of the answers to what left in that span, the share admitted.
            admitted = sum(1 for t in self._admitted if sent_at - span <= t <= sent_at)
            refused = sum(1 for t in self._refused if sent_at - span <= t <= sent_at) + 1
            share = admitted / (admitted + refused) if admitted + refused >= 4 else 1.0
            self._refused.append(sent_at)
            while self._refused and self._refused[0] < sent_at - 2 * MEASURE_S:
                self._refused.popleft()
        if hold_all and retry_after is not None:
            self.hold(retry_after)
        if not same and sending:
            with self._lock:
                now = self._clock()
                # A tenth under what was sent, or what was admitted of it if far less.
                cut = min(sending, self.rate or sending) * min(CUT, MARGIN * share)
                self._plateau = self.rate = max(cut, 1.0 / PROBE_AFTER_S)
                self._burst = _burst(self.rate / MARGIN)
                self._cut_at = self._resumed = max(now, self._not_before)
                # Departures taken at the old rate are taken again (see `Throttle.admit`).
                self._due = self._resumed
                self.cuts += 1
        return hold_all


def _burst(quota: float) -> float:
    """Departures allowed at once after a pause: what the margin leaves of a window's quota,
    so that a window never holds more than burst + rate x window <= the quota."""
    return max(1.0, math.floor(quota * (1 - MARGIN)))
