"""The one retry policy, built from tenacity's small parts and one shared piece of state.

- `Breaker`: failed attempts in a row, across all workers; past the limit the API is "down".
- `RetryPolicy`: capped exponential backoff plus random jitter (`wait + wait`) (or the
  server's Retry-After), a stop after N attempts, after about a minute of retrying, or when
  the run is stopped, whichever comes first; and the injectable clock and sleep that let
  tests assert every wait without waiting.

A 429's Retry-After holds back every worker, not just the one that got it: that hold, and
the pace after it, are the run's throttle's (`throttle.Throttle`, `pacing.Pace`). Time a
request spends waiting for the throttle is not retrying, and is left out of its budget.

Whether the run goes on is not the policy's business: it asks (`should_stop`), and the
run's `control.RunControl` answers.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import tenacity
from tenacity import stop_after_attempt, wait_exponential, wait_random

Clock = Callable[[], float]
Sleep = Callable[[float], None]


#: The API is taken to be down only after failing for this long (seconds) as well as
#: `max_consecutive_failures` times in a row: with many writes in flight, twenty attempts
#: fail within a tenth of a second of an outage, and a server restarting for a few seconds is
#: not down. Each request keeps retrying with its own backoff meanwhile.
DOWN_AFTER_S = 30.0


class Breaker:
    """Counts failed attempts in a row across all workers; trips at `limit` of them, once
    they have gone on for `down_after_s` (on `clock`): a failing API, not a blip."""

    def __init__(self, limit: int, clock: Clock = time.monotonic,
                 down_after_s: float = DOWN_AFTER_S) -> None:
        self.limit = limit
        self.down_after_s = down_after_s
        self._clock = clock
        self._lock = threading.Lock()
        self._in_a_row = 0
        self._since = 0.0
        self.tripped = False

    def failure(self) -> bool:
        with self._lock:
            now = self._clock()
            if self._in_a_row == 0:
                self._since = now
            self._in_a_row += 1
            if self._in_a_row >= self.limit and now - self._since >= self.down_after_s:
                self.tripped = True
            return self.tripped

    def success(self) -> None:
        with self._lock:
            if not self.tripped:
                self._in_a_row = 0

    @property
    def failing_for(self) -> float:
        """Seconds since the first failure of the current run of failures (0: none)."""
        with self._lock:
            return self._clock() - self._since if self._in_a_row else 0.0

    @property
    def in_a_row(self) -> int:
        return self._in_a_row


#: A run whose writes make no progress for this long (seconds) stops: no write was answered
#: in that time but with a refusal (429, 503) or a failure. Five times the longest wait a
#: server may ask for (`RetryPolicy.max_retry_after`, a minute): a server that keeps its own
#: Retry-After serves a write within it, and a rate limit that lifts within a minute or two
#: is ridden, while one that never lifts (an exhausted daily quota, a proxy answering 429 to
#: everything) no longer holds a night's run for each row's retry budget in turn (40 rows took
#: over 10 minutes). The per-request budgets stay: this bound is the run's, whatever its size.
NO_PROGRESS_S = 300.0


class Stall:
    """Whether the run's writes have made no progress for `limit_s` (on `clock`): every write
    answered since the last one served was refused or failed. Shared by all workers."""

    def __init__(self, limit_s: float = NO_PROGRESS_S, clock: Clock = time.monotonic) -> None:
        self.limit_s = limit_s
        self._clock = clock
        self._lock = threading.Lock()
        self._since: float | None = None

    def progressed(self) -> None:
        """A write was answered (stored, or refused for its content: the server works)."""
        with self._lock:
            self._since = None

    def stalled(self) -> bool:
        """A write was refused or failed: True once that has been all for `limit_s`."""
        with self._lock:
            now = self._clock()
            if self._since is None:
                self._since = now
            return now - self._since >= self.limit_s

    @property
    def stalled_for(self) -> float:
        with self._lock:
            return self._clock() - self._since if self._since is not None else 0.0


class _StopAfterDelay(tenacity.stop.stop_base):
    """tenacity's stop_after_delay, but on the injected clock, and less the seconds
    `excused()` (waiting for the run's pace is not retrying)."""

    def __init__(self, seconds: float, clock: Clock, started: float,
                 excused: Callable[[], float]) -> None:
        self.seconds, self.clock, self.started, self.excused = seconds, clock, started, excused

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return self.clock() - self.started - self.excused() >= self.seconds


class _StopWhen(tenacity.stop.stop_base):
    def __init__(self, predicate: Callable[[], bool]) -> None:
        self.predicate = predicate

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return self.predicate()


class _WaitForServer(tenacity.wait.wait_base):
    """The server's Retry-After when it gave one, else the fallback backoff."""

    def __init__(self, fallback: tenacity.wait.wait_base) -> None:
        self.fallback = fallback

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return float(retry_after)
        return float(self.fallback(retry_state))


#: How long after a write was sent its outcome may still change on the server (a slow
#: database, a proxy that forwards late), in seconds. LAYER_SYNC_SETTLE_SECONDS sets another.
SETTLE_S = 10.0
SETTLE_VARIABLE = "LAYER_SYNC_SETTLE_SECONDS"
#: The longest settle window the environment may set.
MAX_SETTLE_S = 120.0


def settle_seconds(environ: Mapping[str, str]) -> float:
    """`SETTLE_S`, or the environment's LAYER_SYNC_SETTLE_SECONDS (0 to `MAX_SETTLE_S`)."""
    text = environ.get(SETTLE_VARIABLE, "").strip()
    try:
        value = float(text) if text else SETTLE_S
    except ValueError:
        return SETTLE_S
    return min(max(value, 0.0), MAX_SETTLE_S) if not math.isnan(value) else SETTLE_S


@dataclass
class RetryPolicy:
    """Everything that decides when to try again, shared by all workers of a run."""

    max_attempts: int = 6
    timeout: float = 30.0
    max_consecutive_failures: int = 20
    initial_backoff: float = 0.5
    max_backoff: float = 10.0
    jitter: float = 0.5
    #: The longest Retry-After honoured (a minute: a request's retry budget); a server
    #: asking for more stops the run ("asked us to wait too long") instead of holding it.
    max_retry_after: float = 60.0
    #: How long after a write was sent its outcome may still change on the server: a write
    #: in doubt is looked for only then (see `ApiClient._settle`).
    settle_s: float = SETTLE_S
    #: How long attempts must have been failing, besides their number, for the API to be
    #: taken as down (see `Breaker`).
    down_after_s: float = DOWN_AFTER_S
    #: How long the run's writes may make no progress before it stops (see `Stall`).
    no_progress_s: float = NO_PROGRESS_S
    clock: Clock = time.monotonic
    #: None: the caller's sleep (the client uses one that a stopped run cuts short).
    sleep: Sleep | None = None
    breaker: Breaker = field(init=False)
    stall: Stall = field(init=False)

    def __post_init__(self) -> None:
        self.breaker = Breaker(self.max_consecutive_failures, self.clock, self.down_after_s)
        self.stall = Stall(self.no_progress_s, self.clock)

    @property
    def retry_budget(self) -> float:
        """How long one request keeps retrying: about a minute, at least two timeouts."""
        return max(60.0, 2 * self.timeout)

    def retrying(self, retry_on: type[BaseException] | tuple[type[BaseException], ...], *,
                 should_stop: Callable[[], bool], sleep: Sleep,
                 before_sleep: Callable[[tenacity.RetryCallState], None] | None = None,
                 excused: Callable[[], float] = lambda: 0.0) -> tenacity.Retrying:
        """A fresh tenacity loop for one request, its time budget counted from now.

        `should_stop`: asked after each failed attempt (the run's control); `sleep`: the
        wait between attempts when the policy has none of its own; `excused()`: the seconds
        the request has spent waiting for the run's pace, left out of its budget.
        """
        return tenacity.Retrying(
            stop=(stop_after_attempt(self.max_attempts)
                  | _StopAfterDelay(self.retry_budget, self.clock, self.clock(), excused)
                  | _StopWhen(should_stop)),
            wait=_WaitForServer(wait_exponential(multiplier=self.initial_backoff, max=self.max_backoff)
                                + wait_random(0, self.jitter)),
            retry=tenacity.retry_if_exception_type(retry_on),
            sleep=self.sleep or sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
