"""The API client: the Atomscale endpoints, and the retry policy around every request with
its writes in doubt.

Every request goes through `ApiClient.send`, in which every attempt, the first included, runs
inside tenacity's loop (`retry.RetryPolicy`); each attempt waits for the run's throttle and is
then one exchange with the server (`exchange.Exchange`: the request sent, its answer read
within bounds and told apart). A POST is never repeated blindly: when its outcome is unknown
(timeout, dropped connection, 5xx) the caller's `in_doubt` check runs first (the server's
records are read again) and only what is still missing is sent again. The key never leaves in
a message: every text built from a server's answer passes through `ApiClient.redact`, and
`KeyRedactingFilter` does the same for logs.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin

import requests

from ..core.control import RunControl, RunStopped, StopReason
from ..core.errors import ApiDownError, ApiError, AuthError
from ..core.secrets import ApiKey, Redactor, shown_url
from .answers import Answer, Transient
from .exchange import ANSWER_TIMEOUTS, MAX_ANSWER_BYTES, Exchange, Reply
from .jsoncost import MAX_PARSED_COST
from .paging import read_list
from .retry import RetryPolicy
from .settings import (
    as_api_key,
    check_api_key,
    check_api_url,
)
from .throttle import Throttle

log = logging.getLogger("layer_sync.api")

# The answer's bounds are the exchange's; they stay importable from here, where they were.
__all__ = ["ANSWER_TIMEOUTS", "MAX_ANSWER_BYTES", "MAX_PACED_REFUSALS", "ApiClient", "Counters"]


class Counters:
    """Requests sent (by method, retries included) and retries, across all workers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[str, int] = {}
        self.retries = 0

    def sent(self, method: str) -> None:
        with self._lock:
            self.requests[method] = self.requests.get(method, 0) + 1

    def retried(self) -> None:
        with self._lock:
            self.retries += 1


#: Refusals of one request that the pace answers without spending an attempt; past them,
#: each counts as a failed attempt again (a server that refuses this request alone).
MAX_PACED_REFUSALS = 30


class _Tries:
    """One request's attempts so far, whether the last one's outcome is unknown, its
    refusals sent again without spending an attempt, and the seconds it waited for the run's
    pace (a slot, a departure, a refusal's Retry-After): not counted in its retry budget."""

    __slots__ = ("doubt", "headers", "paced", "sent", "sent_at", "waited")

    def __init__(self, headers: dict[str, str] | None = None) -> None:
        #: The request's own headers, the same on every attempt (its Idempotency-Key).
        self.headers = headers
        self.sent = 0
        #: When the last attempt left (the policy's clock): a write in doubt is looked for
        #: on the server only `settle_s` after it.
        self.sent_at = 0.0
        self.doubt = False
        self.paced = 0
        self.waited = 0.0


class ApiClient:
    """The Atomscale target-materials API, with the retry policy around every request.

    `control`: the run's `RunControl`; the client asks it before every attempt and wait, and
    tells it when the key is refused or the API is down. `api_key`: an `ApiKey` (its source
    is named in messages) or a plain string. `concurrency`: the writes in flight at once, or
    None to find it as the run goes, up to `max_concurrency` (`throttle.Throttle`).
    """

    def __init__(self, base_url: str, api_key: str | ApiKey, policy: RetryPolicy | None = None, *,
                 control: RunControl | None = None, concurrency: int | None = None,
                 max_concurrency: int = 32, session: requests.Session | None = None,
                 wall_clock: Callable[[], float] = time.time,
                 max_answer_bytes: int = MAX_ANSWER_BYTES,
                 max_answer_seconds: float | None = None,
                 max_answer_cost: int = MAX_PARSED_COST) -> None:
        self.key = check_api_key(as_api_key(api_key))
        self.max_answer_bytes = max_answer_bytes
        #: The memory an answer (the whole list, every page of it) may take once parsed.
        self.max_answer_cost = max_answer_cost
        #: Writes the key as `***` (any form of it) in a text.
        self.redactor = Redactor([self.key])
        self.base_url = check_api_url(base_url)
        #: The URL as messages show it: no user, password or query values (`shown_url`).
        self.shown_url = shown_url(self.base_url)
        self.policy = policy or RetryPolicy()
        self.max_answer_seconds = max_answer_seconds or ANSWER_TIMEOUTS * self.policy.timeout
        self.control = control or RunControl()
        self.counters = Counters()
        self.throttle = Throttle(concurrency, max_concurrency, clock=self.policy.clock)
        # A wait between attempts ends early when the run is stopped (unless tests inject one).
        self._sleep = self.policy.sleep or self.control.sleep
        #: Each attempt's exchange with the server, over its one session (a URL requests
        #: cannot use fails here, before anything is sent).
        self.exchange = Exchange(self.base_url, self.key, self.policy, self.control,
                                 self.throttle, redact=self.redact, wall_clock=wall_clock,
                                 max_answer_bytes=max_answer_bytes,
                                 max_answer_seconds=self.max_answer_seconds,
                                 max_answer_cost=max_answer_cost, session=session)
        self.session = self.exchange.session

    def close(self) -> None:
        self.session.close()

    def redact(self, text: str) -> str:
        """`text` with the key replaced by `***`: for every text built from a server's answer."""
        return self.redactor.redact(text)

    # ------------------------------------------------------------------ endpoints
    def list_target_materials(self) -> list[Any]:
        """The server's records, every page of them (`paging.read_list`), each an object as
        it came (its fields are the plan's to judge, `plan.records`); a list holding an entry
        that is not an object is refused (`ListIncomplete`), never read without it."""
        return read_list(lambda url: self.send("GET", url),
                         urljoin(self.base_url, "target-materials/"),
                         max_cost=self.max_answer_cost, clean=self.redact)

    def create_layer(self, body: dict[str, Any],
                     in_doubt: Callable[[], dict[str, Any] | None]) -> Answer:
        return self.send("POST", "target-materials/layers/", body, in_doubt=in_doubt)

    def update_layer(self, body: dict[str, Any]) -> Answer:
        # A PATCH sets fields to values: repeating it is harmless, so it is retried freely.
        return self.send("PATCH", "target-materials/layers/", body)

    def update_target_material(self, sample_id: int, body: dict[str, Any]) -> Answer:
        """`PATCH /target-materials/{sample_id}`: change the target material's own fields
        (`sample_name`, `substrate`); its layers are untouched."""
        # Like the layer PATCH it sets fields to values: repeating it is harmless, so retried.
        return self.send("PATCH", f"target-materials/{int(sample_id)}", body)

    def create_target_material(self, body: dict[str, Any],
                               in_doubt: Callable[[], dict[str, Any] | None]) -> Answer:
        return self.send("POST", "target-materials/", body, in_doubt=in_doubt)

    # ------------------------------------------------------------------ the request path
    def send(self, method: str, path: str, body: Any = None, *,
             in_doubt: Callable[[], Any] | None = None) -> Answer:
        """One request under the retry policy.

        `in_doubt` (required for POST): called before a new attempt when the previous one's
        outcome is unknown; if it returns something, the write did arrive and is not sent again.
        """
        if method == "POST" and in_doubt is None:
            raise ValueError("a POST needs an in_doubt check: it is never repeated blindly")
        # One key per write, sent with every attempt of it: a server that honours
        # Idempotency-Key stores a write once however often it arrives; one that does not
        # ignores the header (the re-read in doubt is then what prevents a second record).
        tries = _Tries(None if method == "GET" else {"Idempotency-Key": str(uuid.uuid4())})

        def attempt() -> Answer:
            while True:
                if self.control.stopped:  # e.g. during a refusal's wait below
                    raise self._stopped_error(tries.sent, in_doubt=tries.doubt)
                if tries.doubt:
                    assert in_doubt is not None
                    self._settle(tries)
                    if self.control.stopped:
                        raise self._stopped_error(tries.sent, in_doubt=True)
                    found = self._look_again(in_doubt)
                    if found is not None:
                        return Answer(found, None, tries.sent, recovered=True)
                    tries.doubt = False
                try:
                    reply = self._once(method, path, body, tries)
                except Transient as exc:
                    tries.doubt = in_doubt is not None and exc.unknown
                    if not exc.paced or tries.paced >= MAX_PACED_REFUSALS:
                        raise
                    self._paced_refusal(exc, tries, f"{method} {shown_url(path)}")
                    continue
                except ApiError as exc:
                    exc.attempts = tries.sent
                    raise
                return Answer(reply.data, reply.status, tries.sent, headers=reply.headers,
                              cost=reply.cost)

        def before_sleep(retry_state: Any) -> None:
            self.counters.retried()
            log.debug("%s %s: %s; attempt %d of %d, retrying", method, path,
                      retry_state.outcome.exception(), tries.sent, self.policy.max_attempts)

        retrying = self.policy.retrying(Transient, should_stop=lambda: self.control.stopped,
                                        sleep=self._sleep, before_sleep=before_sleep,
                                        excused=lambda: tries.waited)
        try:
            return retrying(attempt)
        except Transient as exc:
            last = exc
        except ApiError as exc:
            # Stopped while a write was in doubt (the key refused on the re-read, the run
            # interrupted): whether the server stored it is still unknown.
            exc.in_doubt = exc.in_doubt or tries.doubt
            raise
        if self.control.stopped:
            raise self._stopped_error(tries.sent, in_doubt=tries.doubt) from None
        if tries.doubt and in_doubt is not None:
            self._settle(tries)
            try:  # a last look: the write may have arrived after all
                found = None if self.control.stopped else in_doubt()
            except ApiError:
                found = None
            if found is not None:
                return Answer(found, None, tries.sent, recovered=True)
            raise ApiError(self.redact(f"{last}; the server did not confirm whether it stored "
                                       "this, so it was not sent again (the next run will see)"),
                           last.status, tries.sent, in_doubt=True) from None
        raise ApiError(self.redact(f"{last} (gave up after {tries.sent} attempt"
                                   f"{'s' if tries.sent != 1 else ''})"),
                       last.status, tries.sent) from None

    def _paced_refusal(self, exc: Transient, tries: _Tries, request: str) -> None:
        """A refusal the pace answers (the server served other writes meanwhile): sent
        again without spending an attempt, after its own Retry-After (for a 429 the others
        may be held too: see `pacing`). Not counted in its budget."""
        tries.paced += 1
        self.counters.retried()
        log.debug("%s: %s; the server is serving others: sent again at the pace", request, exc)
        if exc.retry_after:
            started = self.policy.clock()
            self._sleep(exc.retry_after)
            tries.waited += self.policy.clock() - started

    def _settle(self, tries: _Tries) -> None:
        """Wait until the last attempt was sent `settle_s` ago: a server may commit a write
        seconds after its answer was lost (a slow database, a proxy that forwards late), and
        a re-read before then would not find it and send it again. The wait is the pace's,
        not the request's: it does not count in its retry budget."""
        clock = self.policy.clock
        wait = tries.sent_at + self.policy.settle_s - clock()
        if wait > 0 and not self.control.stopped:
            log.debug("a write in doubt: waiting %.1f s for a late commit to show", wait)
            started = clock()
            self._sleep(wait)
            tries.waited += clock() - started

    def _look_again(self, in_doubt: Callable[[], Any]) -> Any:
        """The re-read before a POST in doubt is sent again; a failed re-read stays in doubt."""
        try:
            return in_doubt()
        except (AuthError, ApiDownError, RunStopped):
            raise
        except ApiError as exc:  # still in doubt: try the re-read again, never the POST
            raise Transient(f"could not re-read the server's records ({exc})", exc.status,
                            unknown=True) from None

    def _stopped_error(self, attempts: int = 0, in_doubt: bool = False) -> ApiError:
        """Why nothing more is sent, as the error the run's reason calls for."""
        reason = self.control.reason
        kind = (AuthError if reason is StopReason.KEY_REFUSED
                else ApiDownError if reason is StopReason.API_DOWN else RunStopped)
        message = self.control.message
        if in_doubt:
            message += "; whether the server stored the last attempt is unknown (the next run will see)"
        return kind(message, None, attempts, in_doubt=in_doubt)

    def _once(self, method: str, path: str, body: Any, tries: _Tries) -> Reply:
        """One attempt; `tries.sent` counts it only once it is really sent. It waits first for
        the run's throttle (a slot for a write, and the pace); the exchange tells the throttle
        what came back."""
        if self.control.stopped:
            raise self._stopped_error(tries.sent)
        ticket = self.throttle.admit(method != "GET", self._sleep, lambda: self.control.stopped)
        tries.waited += ticket.waited
        write = method != "GET"
        try:
            if self.control.stopped:  # the key refused or the run stopped while we waited
                raise self._stopped_error(tries.sent)
            self.counters.sent(method)
            tries.sent += 1
            tries.sent_at = self.policy.clock()
            reply = self.exchange.send_once(method, path, body, tries.headers, ticket)
        except Transient:
            if write:
                self._no_progress()
            raise
        except ApiError as exc:
            if write and exc.status is not None and 400 <= exc.status < 500:
                self.policy.stall.progressed()  # refused for its content: the server works
            raise
        finally:
            self.throttle.release(ticket)
        if write:
            self.policy.stall.progressed()
        return reply

    def _no_progress(self) -> None:
        """A write refused or failed: past the policy's bound with nothing else, the run
        stops (the API takes no writes), whatever its rows' own retry budgets have left."""
        stall = self.policy.stall
        if stall.stalled():
            self.control.stop(StopReason.API_DOWN,
                              f"the API takes no writes: none was stored for "
                              f"{stall.stalled_for:.0f} s, each refused (rate limited or busy) "
                              "or failed; nothing more was sent (the rows left are marked "
                              "skipped); run again later")
