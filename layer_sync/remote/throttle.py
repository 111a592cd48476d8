"""The gate every request passes on its way out: a slot under the concurrency limit (writes),
then its departure at the pace; and what its answer teaches both.

`Throttle.admit` waits for a slot (writes only: a GET is the plan's list or the shared re-read
of rows in doubt, one at a time, and must not wait behind the writes it settles) and for the
pace; `Throttle.release` gives the slot back. Between the two the client reports what came
back: `answered` (its latency is a sample of the limit's), `refused` (429 or 503: the server
asked to slow down) or `overloaded` (no answer in time, a 503 without Retry-After).

A refusal is the server's answer to our pace, not a failure of the request, when the server
served another write since the refused one was sent (`Ticket.served`): the run is making
progress, so the client sends it again without spending its attempts or the breaker's count.
Against a server that serves nothing, every refusal counts as before, and the run stops.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..outcome.results import Riding
from .limits import AdaptiveLimit, FixedLimit
from .pacing import Pace
from .ratelimit import RateInfo

Clock = Callable[[], float]
Sleep = Callable[[float], None]

#: How often a request waiting for a slot looks whether the run was stopped (a signal
#: handler cannot take the lock to wake it).
_POLL_S = 0.05


@dataclass
class Ticket:
    """One request on its way: when it left, the limit's epoch and the count of writes served
    then, whether it holds a slot, how long it waited to leave, and how many were in flight."""

    write: bool
    slot: bool = False
    sent_at: float = 0.0
    epoch: int = 0
    served: int = 0
    in_flight: int = 0
    waited: float = 0.0


class Throttle:
    """A run's concurrency limit and pace, shared by every worker."""

    def __init__(self, concurrency: int | None = None, max_concurrency: int = 32, *,
                 clock: Clock = time.monotonic) -> None:
        self.limit: FixedLimit | AdaptiveLimit = (
            FixedLimit(concurrency) if concurrency is not None
            else AdaptiveLimit(max_concurrency))
        self.pace = Pace(clock)
        self._clock = clock
        self._cond = threading.Condition()
        self._slots = 0      # writes between admit and release (leaving, on the wire)
        self._on_wire = 0    # writes sent and not yet answered
        self._sent: dict[int, float] = {}  # every request on the wire: when it left
        self.most_in_flight = 0
        self.slow_downs = 0
        self._served = 0     # writes the server answered (not refused, not a 5xx)

    @property
    def ceiling(self) -> int:
        """The most writes that may ever be in flight: threads beyond it would only wait."""
        limit = self.limit
        return limit.ceiling if isinstance(limit, AdaptiveLimit) else limit.limit

    def admit(self, write: bool, sleep: Sleep, stopped: Callable[[], bool]) -> Ticket:
        """Wait for a slot (a write) and for the pace. Returns early, without a slot, when
        the run is stopped meanwhile: the caller looks and sends nothing."""
        ticket = Ticket(write)
        started = self._clock()
        if write:
            with self._cond:
                while self._slots >= self.limit.limit:
                    if stopped():
                        return ticket
                    self._cond.wait(_POLL_S)
                self._slots += 1
                ticket.slot = True
        wait = self.pace.reserve()
        if wait > 0 and not stopped():
            sleep(wait)
        with self._cond:
            ticket.sent_at = self._clock()
            ticket.waited = ticket.sent_at - started
            ticket.epoch, ticket.served = self.limit.epoch, self._served
            self._sent[id(ticket)] = ticket.sent_at
            if write:
                self._on_wire += 1
                ticket.in_flight = self._on_wire
                self.most_in_flight = max(self.most_in_flight, self._on_wire)
        return ticket

    def release(self, ticket: Ticket) -> None:
        """The request is over, answered or not: its slot is free again."""
        with self._cond:
            self._sent.pop(id(ticket), None)
            if ticket.slot:
                ticket.slot = False
                self._slots -= 1
                self._on_wire -= 1
                self._cond.notify()

    def answered(self, ticket: Ticket, status: int, info: RateInfo) -> None:
        """The server answered (not a refusal)."""
        self.pace.state(info)
        if status >= 500:
            return
        self.pace.admitted()
        if ticket.write:
            with self._cond:
                self._served += 1
                before = self.limit.limit
                self.limit.sample(self._clock() - ticket.sent_at, ticket.in_flight)
                if self.limit.limit > before:
                    self._cond.notify_all()

    def refused(self, ticket: Ticket, status: int, retry_after: float | None,
                info: RateInfo) -> bool:
        """A 429 or a 503 with Retry-After. Returns whether it is the pace's business (the
        server served another write since this one left) rather than a failed attempt."""
        self.pace.state(info)
        if status == 429:
            with self._cond:  # on the wire, sent before this one: most of them admitted
                earlier = sum(1 for sent in self._sent.values() if sent < ticket.sent_at)
            self.pace.throttled(retry_after, ticket.sent_at, earlier)
        with self._cond:
            self.slow_downs += 1
            if status != 429:
                self.limit.refused(ticket.epoch)
            return self._served > ticket.served

    def overloaded(self, ticket: Ticket) -> None:
        """No answer in time, or a 503 without Retry-After: fewer in flight."""
        with self._cond:
            self.limit.refused(ticket.epoch)

    def riding(self) -> Riding:
        """How the run rode the server so far."""
        with self._cond:
            return Riding(most_in_flight=self.most_in_flight, limit=self.limit.limit,
                          adaptive=self.limit.adaptive, slow_downs=self.slow_downs,
                          pace_per_s=self.pace.rate, pace_stated=self.pace.stated)
