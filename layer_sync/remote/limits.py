"""How many writes may be in flight at once: fixed (`--concurrency N`), or found as the run goes.

The adaptive limit follows TCP Vegas as Netflix's concurrency-limits applies it to requests:
while answers come back as fast as the fastest seen (the server's own time, no queue), more in
flight only means more done; once answers slow down, the extra requests wait in a queue at the
server, which helps no one. Its estimate of that queue, from one window of answers (about one
round trip: as many answers as the limit):

    queue = limit * (1 - fastest / now)       (fastest: the lowest window median seen)

- below `alpha` (no queue to speak of): grow, doubling at first (slow start, as TCP), then by
  one a window; not while fewer than half the slots are used (nothing learnt about more);
- above `beta` (a queue is forming): shrink to what the server serves at once plus `alpha`
  (`limit - queue + alpha`), which is Gradient2's proportional step rather than Vegas' one;
- a refusal (503) or a timeout: shrink by a quarter, at most once per window of requests sent
  after the last cut (the refusals of one burst arrive together: AIMD's one cut per round trip).

`alpha` and `beta` grow with the log of the limit (3 and 6 x log10), so a small limit
tolerates a relatively larger queue. A window's median, not its mean, stands for it: a shared
machine's hiccups move the mean more. Decisions take answers' latencies as given, so tests
feed them without a clock.
"""

from __future__ import annotations

import math
import statistics
from collections import deque

#: Where an adaptive limit starts: modest, a polite first guess (TCP's initial window is ~4).
INITIAL_LIMIT = 4
#: The fewest answers that make a window (a limit of 1 or 2 still decides on several).
MIN_WINDOW = 4
#: A refusal or timeout keeps this share of the limit.
BACKOFF = 0.75


class FixedLimit:
    """`--concurrency N`: N in flight, whatever the answers say."""

    adaptive = False

    def __init__(self, limit: int) -> None:
        self.limit = max(1, int(limit))
        self.epoch = 0

    def sample(self, latency: float, in_flight: int) -> None:
        """An answer's latency (seconds) and how many were in flight when it was sent: ignored."""

    def refused(self, epoch: int) -> None:
        """A refusal or timeout of a request sent at `epoch`: ignored."""


class AdaptiveLimit:
    """A Vegas-style limit between 1 and `ceiling` (see the module's docstring)."""

    adaptive = True

    def __init__(self, ceiling: int, initial: int = INITIAL_LIMIT) -> None:
        self.ceiling = max(1, int(ceiling))
        self.limit = max(1, min(initial, self.ceiling))
        #: Bumped at every cut: refusals of requests sent before it are the same congestion.
        self.epoch = 0
        self.fastest: float | None = None
        self.slow_start = True
        self._window: list[float] = []
        self._busiest = 0
        #: The latest limits decided, in order (for tests and logs).
        self.history: deque[int] = deque([self.limit], maxlen=256)

    @staticmethod
    def alpha(limit: int) -> float:
        return max(2.0, 3 * math.log10(limit)) if limit > 1 else 2.0

    @staticmethod
    def beta(limit: int) -> float:
        return max(4.0, 6 * math.log10(limit)) if limit > 1 else 4.0

    def sample(self, latency: float, in_flight: int) -> None:
        """An answered request: its latency in seconds, and how many (itself included) were
        in flight when it was sent. A window's worth of them makes one decision."""
        self._window.append(max(0.0, latency))
        self._busiest = max(self._busiest, in_flight)
        if len(self._window) >= max(MIN_WINDOW, self.limit):
            self._decide(statistics.median(self._window), self._busiest)
            self._window, self._busiest = [], 0

    def refused(self, epoch: int) -> None:
        """The server refused (503) or did not answer in time a request sent at `epoch`."""
        if epoch < self.epoch:
            return  # the same congestion as the last cut: answered already
        self.slow_start = False
        self._set(math.floor(self.limit * BACKOFF))
        self.epoch += 1
        self._window, self._busiest = [], 0

    def _decide(self, latency: float, busiest: int) -> None:
        if self.fastest is None or latency < self.fastest:
            self.fastest = latency
        limit = self.limit
        queue = limit * (1 - self.fastest / latency) if latency > 0 else 0.0
        alpha, beta = self.alpha(limit), self.beta(limit)
        if queue > beta:
            self.slow_start = False
            self._set(math.floor(limit - queue + alpha))
        elif queue < alpha and busiest * 2 >= limit:
            self._set(limit * 2 if self.slow_start else limit + 1)
        elif queue >= alpha:
            self.slow_start = False  # the knee is near: from here on, one at a time

    def _set(self, limit: int) -> None:
        self.limit = max(1, min(self.ceiling, limit))
        if self.limit != self.history[-1]:
            self.history.append(self.limit)
