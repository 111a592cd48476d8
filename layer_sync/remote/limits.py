"""How many writes may be in flight at once: fixed (`--concurrency N`), or found as the run goes.

The adaptive limit follows TCP Vegas as Netflix's concurrency-limits applies it to requests:
while answers come back as fast as the fastest seen (the server's own time, no queue), more in
flight only means more done; once answers slow down, the extra requests wait in a queue at the
server, which helps no one. Its estimate of that queue, from one window of answers to requests
sent under the current limit (about one round trip: as many answers as the limit):

    queue = limit * (1 - fastest / now)       (fastest: the lowest window median seen)

- no queue (at most `log10(limit)`, at least 1): grow, doubling while nothing has pushed back
  (slow start, as TCP's), then by one a window;
- a small queue (below `alpha`): grow by one; not while fewer than half the slots are used
  (nothing is learnt about more);
- a long queue (above `beta`): shrink to what the server serves at once plus `alpha`
  (`limit - queue + alpha`), Gradient2's proportional step rather than Vegas' one;
- a refusal (503): shrink to what the server had taken in (our requests sent before the
  refused one and still unanswered) or by a quarter, whichever is less; a timeout: by a
  quarter. Either at most once per window of requests sent after the last cut (the refusals
  of one burst arrive together: AIMD's one cut per round trip); the number in flight that
  was refused is not tried again for `PROBE_WINDOWS` windows (TCP's slow-start threshold,
  CUBIC's W_max: a weak server is not probed at every window).

`alpha` and `beta` grow with the log of the limit (3 and 6 x log10, at least 2 and 4), so a
small limit tolerates a relatively larger queue. A window's median, not its mean, stands for
it: a shared machine's hiccups move the mean more. Decisions take answers' latencies as given,
so tests feed them without a clock.
"""

from __future__ import annotations

import math
import statistics
from collections import deque

#: Where an adaptive limit starts: modest, a polite first guess (TCP's initial window is ~4).
INITIAL_LIMIT = 4
#: The fewest answers that make a window (a limit of 1 or 2 still decides on several).
MIN_WINDOW = 4
#: A timeout keeps this share of the limit.
BACKOFF = 0.75
#: Windows after a refusal before the limit may reach the number refused again.
PROBE_WINDOWS = 20


class FixedLimit:
    """`--concurrency N`: N in flight, whatever the answers say."""

    adaptive = False

    def __init__(self, limit: int) -> None:
        self.limit = max(1, int(limit))
        self.epoch = self.version = 0

    def sample(self, latency: float, in_flight: int, version: int | None = None) -> None:
        """An answer's latency (seconds) and how many were in flight when it was sent: ignored."""

    def refused(self, epoch: int, taken: int | None = None) -> None:
        """A refusal or timeout of a request sent at `epoch`: ignored."""


class AdaptiveLimit:
    """A Vegas-style limit between 1 and `ceiling` (see the module's docstring)."""

    adaptive = True

    def __init__(self, ceiling: int, initial: int = INITIAL_LIMIT) -> None:
        self.ceiling = max(1, int(ceiling))
        self.limit = max(1, min(initial, self.ceiling))
        #: Bumped at every cut: refusals of requests sent before it are the same congestion.
        self.epoch = 0
        #: Bumped at every change: answers to requests sent before it say nothing of it.
        self.version = 0
        self.fastest: float | None = None
        self.slow_start = True
        self._refused_at: int | None = None  # in flight when last refused
        self._calm = 0  # windows since then
        self._window: list[float] = []
        self._busiest = 0
        #: The latest limits decided, in order (for tests and logs).
        self.history: deque[int] = deque([self.limit], maxlen=256)

    @staticmethod
    def alpha(limit: int) -> float:
        return max(2.0, 3 * math.log10(max(limit, 1)))

    @staticmethod
    def beta(limit: int) -> float:
        return max(4.0, 6 * math.log10(max(limit, 1)))

    def sample(self, latency: float, in_flight: int, version: int | None = None) -> None:
        """An answered request: its latency in seconds, how many (itself included) were in
        flight when it was sent, and the limit's `version` then (None: the current one). A
        window's worth of answers to requests sent under the current limit makes a decision."""
        if version is not None and version != self.version:
            return
        self._window.append(max(0.0, latency))
        self._busiest = max(self._busiest, in_flight)
        if len(self._window) >= max(MIN_WINDOW, self.limit):
            self._decide(statistics.median(self._window), self._busiest)

    def refused(self, epoch: int, taken: int | None = None) -> None:
        """The server refused (503), or did not answer in time, a request sent at `epoch`;
        `taken`: how many of ours it had taken in then (a refusal), None (a timeout)."""
        if epoch < self.epoch:
            return  # the same congestion as the last cut: answered already
        self.slow_start = False
        cut = math.floor(self.limit * BACKOFF)
        if taken is not None:
            self._refused_at = min(self.limit, taken + 1)
            cut = min(cut, taken)
        else:
            self._refused_at = self.limit
        self._calm = 0
        self.epoch += 1
        self._set(cut)

    def _decide(self, latency: float, busiest: int) -> None:
        self._calm += 1
        if self.fastest is None or latency < self.fastest:
            self.fastest = latency
        limit = self.limit
        queue = limit * (1 - self.fastest / latency) if latency > 0 else 0.0
        alpha, beta = self.alpha(limit), self.beta(limit)
        if queue > beta:
            self.slow_start = False
            self._set(math.floor(limit - queue + alpha))
        elif queue < alpha and busiest * 2 >= limit:
            if queue > max(1.0, math.log10(limit)):
                self.slow_start = False  # a queue begins: from here on, one at a time
            grown = limit * 2 if self.slow_start else limit + 1
            if self._refused_at is not None and self._calm < PROBE_WINDOWS:
                grown = min(grown, self._refused_at - 1)
            self._set(max(limit, grown))
        elif queue >= alpha:
            self.slow_start = False
        self._window, self._busiest = [], 0

    def _set(self, limit: int) -> None:
        limit = max(1, min(self.ceiling, limit))
        if limit != self.limit:
            self.limit = limit
            self.version += 1
            self._window, self._busiest = [], 0
            self.history.append(limit)
