"""One attempt's exchange with the server: the session it travels on, the request sent, its
answer's body read within bounds, and the answer told apart: data, a `Transient` failure worth
trying again, a refusal to slow down (429, 503 with Retry-After), or an error.

`ApiClient` (`client.py`) decides whether and when an attempt is made; `Exchange.send_once`
makes one. Redirects are not followed: a 3xx is an error, so a POST is never turned into a
GET. What the answer teaches goes where it belongs as it is read: the throttle (`answered`,
`refused`, `overloaded`), the policy's breaker (a failed attempt, a write answered), and the
run's `RunControl` (the key refused, a wait too long, the API down). Every text built from a
server's answer passes through the client's `redact`.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from ..core.control import RunControl, RunStopped, StopReason
from ..core.errors import ApiError, AuthError, ConfigError, option
from ..core.secrets import ApiKey, shown_url
from ..core.version import __version__
from .answers import Transient, caused_by, key_refused_message, server_reason
from .jsoncost import megabytes, parsed_cost
from .ratelimit import RateInfo, parse_rate_headers, parse_retry_after, shown_wait
from .retry import RetryPolicy
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


class Reply(NamedTuple):
    """What one attempt brought back: the parsed JSON, the status, the answer's headers and
    what its JSON took to parse (`jsoncost`)."""

    data: Any
    status: int
    headers: Mapping[str, str]
    cost: int


class Exchange:
    """One attempt at a time over one requests `Session` (pooled keep-alive, the key in its
    headers), read within the bounds a run reads (`max_answer_bytes`, `max_answer_seconds`,
    `max_answer_cost`).

    A `base_url` requests cannot use fails here (`ConfigError`), before anything is sent.
    `session`: one to use instead of a new one (its headers and adapters are set here).
    """

    def __init__(self, base_url: str, key: ApiKey, policy: RetryPolicy, control: RunControl,
                 throttle: Throttle, *, redact: Callable[[str], str],
                 wall_clock: Callable[[], float], max_answer_bytes: int,
                 max_answer_seconds: float, max_answer_cost: int,
                 session: requests.Session | None = None) -> None:
        self.base_url = base_url
        #: The URL as messages show it: no user, password or query values (`shown_url`).
        self.shown_url = shown_url(base_url)
        self.key_source = key.source
        self.policy = policy
        self.control = control
        self.throttle = throttle
        self.redact = redact
        self.max_answer_bytes = max_answer_bytes
        self.max_answer_seconds = max_answer_seconds
        self.max_answer_cost = max_answer_cost
        self._wall_clock = wall_clock
        headers = {"X-API-KEY": key.value, "Accept": "application/json",
                   "User-Agent": f"layer-sync/{__version__}"}
        try:  # a URL requests cannot use fails here, before anything is sent
            requests.Request("GET", base_url, headers=headers).prepare()
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
        adapter = HTTPAdapter(pool_maxsize=throttle.ceiling + 2, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._host = urlsplit(base_url).hostname or base_url

    def send_once(self, method: str, path: str, body: Any, headers: dict[str, str] | None,
                  ticket: Ticket) -> Reply:
        """Send one attempt and read its answer (the throttle has admitted it: `ticket`).

        `headers`: the request's own (its Idempotency-Key), the same on every attempt.
        Raises `Transient` for a failure worth trying again (`unknown` when the server may
        have carried it out), `AuthError` for a refused key, `ApiError` for the rest.
        """
        policy = self.policy
        started = time.perf_counter()
        deadline = time.monotonic() + self.max_answer_seconds
        try:
            # Streamed, so that an answer past `max_answer_bytes` is refused, not read whole.
            response = self.session.request(method, urljoin(self.base_url, path), json=body,
                                            headers=headers, timeout=policy.timeout,
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
            message = key_refused_message(status, self.key_source)
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
        cost = parsed_cost(content)
        if cost > self.max_answer_cost:  # checked before it is parsed: see jsoncost
            raise ApiError(self.redact(
                f"the answer to {method} {shown_url(path)} would take about {megabytes(cost)} of "
                f"memory once read, more than the {megabytes(self.max_answer_cost)} a run "
                "reads; it was not read (is --api-url the API?)"), status, kind="answer_too_large")
        try:
            data = json.loads(content) if content else {}
        except (ValueError, RecursionError):  # RecursionError: JSON nested beyond reason
            raise Transient(f"the answer to {method} {shown_url(path)} was not JSON", status,
                            unknown=True) from None
        return Reply(data, status, response.headers, cost)

    def _refused(self, response: requests.Response, content: bytes, ticket: Ticket,
                 rate: RateInfo) -> None:
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
