"""The HTTP client: one requests `Session` (pooled keep-alive), the key, timeouts, and the
retry policy around every attempt.

Only this module knows HTTP. Every request goes through `ApiClient.send`, in which every
attempt, the first included, runs inside tenacity's loop (`retry.RetryPolicy`). A POST is
never repeated blindly: when its outcome is unknown (timeout, dropped connection, 5xx) the
caller's `in_doubt` check runs first (the server's records are read again) and only what is
still missing is sent again. Redirects are not followed: a 3xx is an error, so a POST is
never turned into a GET. The key never leaves in a message: every text built from a server's
answer passes through `ApiClient.redact`, and `KeyRedactingFilter` does the same for logs.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from ..core.control import RunControl, RunStopped, StopReason
from ..core.errors import ApiDownError, ApiError, AuthError, ConfigError, option
from ..core.secrets import ApiKey, Redactor, shown_url
from ..core.version import __version__
from .answers import Answer, Transient, caused_by, key_refused_message, server_reason
from .jsoncost import MAX_PARSED_COST, megabytes, parsed_cost
from .paging import read_list
from .ratelimit import parse_rate_headers, parse_retry_after, shown_wait
from .retry import RetryPolicy
from .settings import (
    as_api_key,
    check_api_key,
    check_api_url,
)
from .throttle import Throttle, Ticket

log = logging.getLogger("layer_sync.api")

#: The largest answer read, decoded (after gzip): the list of a lab's target materials is a
#: few MB (100,000 layers are ~44 MB); past this the server has gone wrong, and reading on
#: could fill the memory. What it would take once parsed is bounded too (`jsoncost`).
MAX_ANSWER_BYTES = 64 << 20
#: An answer must arrive whole within this many timeouts (2 minutes by default: 30 MB at a
#: quarter of a MB a second). The timeout bounds each wait for the next bytes; this bounds a
#: server or proxy that keeps sending a byte now and then and would otherwise hold a run forever.
ANSWER_TIMEOUTS = 4
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


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

    __slots__ = ("answer_headers", "cost", "doubt", "headers", "paced", "sent", "sent_at",
                 "waited")

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
        # The last answer's headers and what its JSON took to parse (`jsoncost`).
        self.answer_headers: Mapping[str, str] = {}
        self.cost = 0


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
        self._wall_clock = wall_clock
        # A wait between attempts ends early when the run is stopped (unless tests inject one).
        self._sleep = self.policy.sleep or self.control.sleep
        headers = {"X-API-KEY": self.key.value, "Accept": "application/json",
                   "User-Agent": f"layer-sync/{__version__}"}
        try:  # a URL requests cannot use fails here, before anything is sent
            requests.Request("GET", self.base_url, headers=headers).prepare()
        except (requests.exceptions.RequestException, ValueError) as exc:
            raise ConfigError(f"the API URL {self.shown_url!r} cannot be used: "
                              f"{type(exc).__name__}; set {option('api_url')} or ATOMSCALE_API_URL, "
                              "e.g. https://api.atomscale.ai/", kind="bad_api_url") from None
        self.session = session or requests.Session()
        self.session.headers.update(headers)
        # requests reads the proxy and CA settings of the environment (HTTPS_PROXY, NO_PROXY,
        # REQUESTS_CA_BUNDLE) and looks for ~/.netrc on every request. Reading them once
        # (trust_env=False after merge_environment_settings) saved 17 % of the client's CPU
        # but 2.6 % of the 1,200-write benchmark's time (12 pairs): under 5 %, not kept.
        # One connection per writer (and the reads beside them) stays open for reuse;
        # requests' default keeps 10. No retries inside urllib3: the policy decides them all.
        adapter = HTTPAdapter(pool_maxsize=self.throttle.ceiling + 2, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._host = urlsplit(self.base_url).hostname or self.base_url

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
                    data, status = self._once(method, path, body, tries)
                except Transient as exc:
                    tries.doubt = in_doubt is not None and exc.unknown
                    if not exc.paced or tries.paced >= MAX_PACED_REFUSALS:
                        raise
                    self._paced_refusal(exc, tries, f"{method} {shown_url(path)}")
                    continue
                except ApiError as exc:
                    exc.attempts = tries.sent
                    raise
                return Answer(data, status, tries.sent, headers=tries.answer_headers,
                              cost=tries.cost)

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

    def _once(self, method: str, path: str, body: Any, tries: _Tries) -> tuple[Any, int]:
        """One attempt; `tries.sent` counts it only once it is really sent. It waits first for
        the run's throttle (a slot for a write, and the pace), and tells it what came back."""
        if self.control.stopped:
            raise self._stopped_error(tries.sent)
        ticket = self.throttle.admit(method != "GET", self._sleep, lambda: self.control.stopped)
        tries.waited += ticket.waited
        write = method != "GET"
        try:
            if self.control.stopped:  # the key refused or the run stopped while we waited
                raise self._stopped_error(tries.sent)
            answer = self._exchange(method, path, body, tries, ticket)
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
        return answer

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

    def _exchange(self, method: str, path: str, body: Any, tries: _Tries,
                  ticket: Ticket) -> tuple[Any, int]:
        """Send one attempt and read its answer (`_once` has admitted it)."""
        policy = self.policy
        self.counters.sent(method)
        tries.sent += 1
        tries.sent_at = policy.clock()
        started = time.perf_counter()
        deadline = time.monotonic() + self.max_answer_seconds
        try:
            # Streamed, so that an answer past `max_answer_bytes` is refused, not read whole.
            response = self.session.request(method, urljoin(self.base_url, path), json=body,
                                            headers=tries.headers, timeout=policy.timeout,
                                            allow_redirects=False, stream=True)
            content = self._read_body(response, f"{method} {shown_url(path)}", deadline, ticket)
        except requests.exceptions.ConnectTimeout:
            self._failed()
            raise Transient(f"could not connect to {self.shown_url} (timed out)") from None
        except requests.exceptions.Timeout:
            self._failed()
            self.throttle.overloaded(ticket)
            raise Transient(f"no answer within {policy.timeout:g} s", unknown=True) from None
        except requests.exceptions.SSLError as exc:
            raise ApiError(f"the TLS certificate of {self.shown_url} could not be verified "
                           f"({type(exc).__name__}); check --api-url") from None
        except requests.exceptions.ConnectionError as exc:
            self._failed()
            if caused_by(exc, (socket.gaierror,)):
                # A name that does not resolve now will not resolve in a minute: not retried.
                raise ApiError(f"the host name {self._host} could not be resolved; check the "
                               "API URL (--api-url, ATOMSCALE_API_URL or AS_API_ENDPOINT) and "
                               "the network") from None
            if caused_by(exc, (NewConnectionError, ConnectionRefusedError)):
                raise Transient(f"could not connect to {self.shown_url}") from None
            raise Transient("the connection was dropped before an answer", unknown=True) from None
        except requests.exceptions.RequestException as exc:
            raise ApiError(f"{method} {shown_url(path)} could not be sent: {type(exc).__name__}") from None
        status = response.status_code
        log.debug("%s %s %d %.0f ms", method, path, status, (time.perf_counter() - started) * 1000)
        rate = parse_rate_headers(response.headers, self._wall_clock)
        if status in (429, 503):
            self._refused(response, content, ticket, rate)
        self.throttle.answered(ticket, status, rate)
        if 300 <= status < 400:
            location = self.redact(response.headers.get("Location", "?"))
            raise ApiError(f"the API answered {method} {shown_url(path)} with a redirect ({status}) to "
                           f"{location}; set --api-url to the final address", status)
        if status in (401, 403):
            message = key_refused_message(status, self.key.source)
            self.control.stop(StopReason.KEY_REFUSED, message)
            raise AuthError(message, status)
        if status in RETRYABLE_STATUS:
            self._failed()
            raise Transient(f"server error {status}: {server_reason(response, content, self.redact)}",
                            status, unknown=True)
        if method != "GET":
            # The server answered a write: its write path is up. A GET that works proves
            # nothing about writes (a re-read between failed POSTs must not reset the count).
            policy.breaker.success()
        if status >= 400:
            raise ApiError(f"{status}: {server_reason(response, content, self.redact)}", status)
        tries.answer_headers, tries.cost = response.headers, parsed_cost(content)
        if tries.cost > self.max_answer_cost:  # checked before it is parsed: see jsoncost
            raise ApiError(self.redact(
                f"the answer to {method} {shown_url(path)} would take about {megabytes(tries.cost)} of "
                f"memory once read, more than the {megabytes(self.max_answer_cost)} a run "
                "reads; it was not read (is --api-url the API?)"), status, kind="answer_too_large")
        try:
            data = json.loads(content) if content else {}
        except (ValueError, RecursionError):  # RecursionError: JSON nested beyond reason
            raise Transient(f"the answer to {method} {shown_url(path)} was not JSON", status,
                            unknown=True) from None
        return data, status

    def _refused(self, response: requests.Response, content: bytes, ticket: Ticket,
                 rate: Any) -> None:
        """A 429, or a 503 with Retry-After: the server asks us to slow down. Raises the
        Transient to try again (`paced` when the pace answers it: see `throttle`). A 503
        without Retry-After returns: a server error like 500, and one reason fewer in flight."""
        policy, status = self.policy, response.status_code
        wait = parse_retry_after(response.headers.get("Retry-After"), self._wall_clock)
        if status == 503 and wait is None:
            self.throttle.overloaded(ticket)
            return
        if wait is not None and wait > policy.max_retry_after:
            # Waiting it out would hold the night's run (and every other request would be
            # told the same): the run stops, and says so, instead of sleeping.
            what = "rate limited" if status == 429 else f"server busy ({status})"
            message = (f"{what}: the server asked us to wait {shown_wait(wait)}, longer than a run "
                       f"waits ({policy.max_retry_after:.0f} s); nothing more was sent; run "
                       "again later")
            self.control.stop(StopReason.WAIT_TOO_LONG, message)
            raise RunStopped(message, status, kind="wait_too_long")
        paced = self.throttle.refused(ticket, status, wait, rate)
        if status == 429:
            # Nothing was done (RFC 6585): never in doubt, never a failure of the API.
            raise Transient("rate limited (429)", status, retry_after=wait, paced=paced)
        if not paced:
            self._failed()
        # A 503 may come from a proxy after the server did the work: in doubt, as any 5xx.
        raise Transient(f"server busy (503): {server_reason(response, content, self.redact)}",
                        status, unknown=True, retry_after=wait, paced=paced)

    def _read_body(self, response: requests.Response, request: str, deadline: float,
                   ticket: Ticket) -> bytes:
        """The answer's body, read as it arrives (`raw.read1`: whatever one read brings, so
        that a trickle is noticed); one larger than `max_answer_bytes`, or still arriving at
        `deadline` (time.monotonic), is refused. The body's own errors are urllib3's (requests
        maps them only for iter_content, which waits for whole chunks): mapped here."""
        limit = self.max_answer_bytes
        chunks: list[bytes] = []
        size = 0
        with response:
            while True:
                try:
                    chunk = response.raw.read1(1 << 16, decode_content=True)
                except urllib3.exceptions.ReadTimeoutError:
                    self._failed()
                    self.throttle.overloaded(ticket)  # slow to answer: fewer in flight
                    raise Transient(f"no answer within {self.policy.timeout:g} s",
                                    unknown=True) from None
                except urllib3.exceptions.SSLError as exc:
                    raise ApiError(f"the TLS connection to {self.shown_url} failed while "
                                   f"reading the answer ({type(exc).__name__})") from None
                except urllib3.exceptions.DecodeError:
                    raise Transient(f"the answer to {request} could not be decoded",
                                    response.status_code, unknown=True) from None
                except (urllib3.exceptions.HTTPError, OSError):  # dropped mid-answer
                    self._failed()
                    raise Transient("the connection was dropped before the whole answer "
                                    "arrived", unknown=True) from None
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise ApiError(self.redact(f"the answer to {request} is larger than "
                                               f"{megabytes(limit)}; it was not read (is "
                                               "--api-url the API?)"),
                                   response.status_code, kind="answer_too_large")
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    self._failed()
                    self.throttle.overloaded(ticket)
                    raise Transient(f"the answer to {request} was still arriving after "
                                    f"{self.max_answer_seconds:g} s", unknown=True)
        return b"".join(chunks)

    def _failed(self) -> None:
        """A failed attempt: past the limit in a row, the API is down and the run stops."""
        breaker = self.policy.breaker
        if breaker.failure():
            self.control.stop(StopReason.API_DOWN,
                              f"the API looks down: {breaker.in_a_row} failed attempts in a row "
                              f"over {breaker.failing_for:.0f} s; nothing more was sent (the "
                              "rows left are marked skipped)")
