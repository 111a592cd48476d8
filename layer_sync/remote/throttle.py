"""The gate every request passes on its way out: a slot under the concurrency limit (writes),
then its departure at the pace; and what its answer teaches both.

`Throttle.admit` waits for a slot (writes only: a GET is the plan's list or the shared re-read
of rows in doubt, one at a time, and must not wait behind the writes it settles) and for the
pace; `Throttle.release` gives the slot back. Between the two the client reports what came
back: `answered` (its latency is a sample of the limit's), `refused` (429 or 503: the server
asked to slow down) or `overloaded` (no answer in time, a 503 without Retry-After).

A refusal is the server's answer to our pace, not a failure of the request, when the server
is serving our other writes: it answered one since the refused one was sent or in the last
ten seconds, or another is on its way. The run is making progress, so the client sends the
refused one again without spending its attempts or the breaker's count. Against a server
that serves nothing, the limit soon falls to one write in flight, refusals count as before,
and the run stops as "API down".
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
#: A refusal within this many seconds of a write served is the pace's business: the server
#: is up and serving (past it, a server that only refuses is failing).
RECENT_S = 10.0


@dataclass
class Ticket:
    """One request on its way: its place in the order of departures, when it left (and when
    it took its departure from the pace), the limit's epoch and version and the count of
    writes served then, whether it holds a slot, how long it waited to leave, and how many
    were in flight."""

    write: bool
    seq: int = 0
    slot: bool = False
    sent_at: float = 0.0
    epoch: int = 0
    version: int = 0
    served: int = 0
    in_flight: int = 0
    waited: float = 0.0
    reserved_at: float = 0.0


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
        #: Every request on the wire: its place in the order of departures, and whether it
        #: is a write.
        self._sent: dict[int, tuple[int, bool]] = {}
        self._departures = 0
        self.most_in_flight = 0
        self.slow_downs = 0
        self.round_trip = 0.0  # seconds an answer takes, smoothed
        self._served = 0     # writes the server answered (not refused, not a 5xx)
        self._last_served = float("-inf")

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
        while True:  # a departure taken at a rate cut meanwhile is taken again
            ticket.reserved_at, cuts = self._clock(), self.pace.cuts
            wait = self.pace.reserve()
            if wait > 0 and not stopped():
                sleep(wait)
            if self.pace.cuts == cuts or stopped():
                break
        with self._cond:
            ticket.sent_at = self._clock()
            ticket.waited = ticket.sent_at - started
            ticket.epoch, ticket.version = self.limit.epoch, self.limit.version
            ticket.served = self._served
            self._departures += 1
            ticket.seq = self._departures
            self._sent[id(ticket)] = (ticket.seq, write)
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
        self.pace.admitted(ticket.sent_at)
        # A smoothed round trip (RFC 6298's 1/8): how soon a cut of the pace shows.
        self.round_trip += (self._clock() - ticket.sent_at - self.round_trip) / 8
        if ticket.write:
            with self._cond:
                self._served += 1
                self._last_served = self._clock()
                before = self.limit.limit
                self.limit.sample(self._clock() - ticket.sent_at, ticket.in_flight,
                                  ticket.version)
                if self.limit.limit > before:
                    self._cond.notify_all()

    def refused(self, ticket: Ticket, status: int, retry_after: float | None,
                info: RateInfo) -> bool:
        """A 429 or a 503 with Retry-After. Returns whether it is the pace's business (the
        server is serving our other writes: see the module's docstring) rather than a failed
        attempt."""
        self.pace.state(info)
        with self._cond:
            # Writes sent before this one and still unanswered: the server took them in (a
            # refusal is answered at once).
            taken = sum(1 for seq, write in self._sent.values() if write and seq < ticket.seq)
            serving = any(write for key, (_, write) in self._sent.items() if key != id(ticket))
            self.slow_downs += 1
            if status != 429:
                self.limit.refused(ticket.epoch, taken)
            paced = (serving or self._served > ticket.served
                     or self._clock() - self._last_served <= RECENT_S)
        if status == 429:
            self.pace.throttled(retry_after, ticket.sent_at, ticket.reserved_at,
                                self.round_trip)
        return paced

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
