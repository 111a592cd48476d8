"""The HTTP client: one pooled keep-alive session, the key, timeouts, and the retry policy.

Only this module knows HTTP. Every request goes through `ApiClient.send`, which runs the one
retry policy (`retry.RetryPolicy`). A POST is never repeated blindly: when its outcome is
unknown (timeout, dropped connection, 5xx) the caller's `in_doubt` check runs first (the
server's records are read again) and only what is still missing is sent again.
"""

from __future__ import annotations

import email.utils
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.utils import select_proxy

from . import __version__
from .errors import ApiDownError, ApiError, AuthError, ConfigError
from .retry import RetryPolicy

log = logging.getLogger("layer_sync.api")

DEFAULT_API_URL = "https://api.atomscale.ai/"
KEY_VARIABLES = ("ATOMSCALE_API_KEY", "AS_API_KEY")
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class Transient(Exception):
    """An attempt that may succeed if tried again.

    `unknown`: the request may have been carried out (the server may hold the write).
    `retry_after`: seconds the server asked us to wait.
    """

    def __init__(self, message: str, status: int | None = None, unknown: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.unknown = unknown
        self.retry_after = retry_after


@dataclass
class Answer:
    """A request's final answer: the JSON body, the status, how many attempts it took, and
    whether it was found on the server after an unknown outcome instead of being sent again."""

    data: Any
    status: int | None
    attempts: int
    recovered: bool = False


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


def check_api_url(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed [ of an IPv6 address
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"the API URL {url!r} is not an http(s) address; set --api-url or "
                          "ATOMSCALE_API_URL, e.g. https://api.atomscale.ai/")
    return url if url.endswith("/") else url + "/"


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Retry-After in seconds or as an HTTP date -> seconds to wait (None if absent/garbled)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now())


def _detail(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:300] if text else response.reason or f"HTTP {response.status_code}"
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        if isinstance(detail, list):  # FastAPI-style validation errors
            return "; ".join(
                f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}"
                if isinstance(d, dict) else str(d) for d in detail)
        return str(detail)
    return json.dumps(body)[:300]


class _ApiAdapter(HTTPAdapter):
    """requests' adapter, minus the work an API client would repeat on every request.

    One API host: its connection pool is looked up once per TLS setting, not on every
    request (requests rebuilds the pool key from the URL each time). A proxy still goes
    through requests' own lookup. These are the methods requests documents for subclassing.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pools: dict[tuple, Any] = {}

    def get_connection_with_tls_context(self, request: requests.PreparedRequest, verify: Any,
                                        proxies: dict[str, str] | None = None,
                                        cert: Any = None) -> Any:
        if proxies and select_proxy(request.url, proxies):
            return super().get_connection_with_tls_context(request, verify, proxies, cert)
        parts = urlsplit(request.url)
        key = (parts.scheme, parts.netloc, verify, cert if not isinstance(cert, list) else tuple(cert))
        pool = self._pools.get(key)
        if pool is None or pool.pool is None:  # new, or closed by the pool manager
            pool = super().get_connection_with_tls_context(request, verify, proxies, cert)
            self._pools[key] = pool
        return pool

    def close(self) -> None:
        self._pools.clear()
        super().close()


class ApiClient:
    """The Atomscale target-materials API, with the retry policy around every request."""

    def __init__(self, base_url: str, api_key: str, policy: RetryPolicy | None = None, *,
                 pool_size: int = 8, session: requests.Session | None = None,
                 wall_clock: Callable[[], float] = time.time) -> None:
        if not api_key:
            raise ConfigError("no API key: set ATOMSCALE_API_KEY (or AS_API_KEY), or use "
                              "--api-key-file")
        self.base_url = check_api_url(base_url)
        self.policy = policy or RetryPolicy()
        self.counters = Counters()
        self._wall_clock = wall_clock
        self._session = session or requests.Session()
        adapter = _ApiAdapter(pool_connections=2, pool_maxsize=max(pool_size, 1) + 2,
                              max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        # Requests go straight to the adapter: an API client needs neither cookies nor
        # redirects (requests would turn a redirected POST into a GET), and skipping the
        # session's per-response cookie and redirect handling is a fifth of its cost.
        self._adapter = self._session.get_adapter(self.base_url)
        # Proxies and CA bundle from the environment (HTTPS_PROXY, REQUESTS_CA_BUNDLE, ...)
        # are read once here, not on every request: that scan cost more than the request.
        settings = self._session.merge_environment_settings(self.base_url, {}, None, None, None)
        self._session.trust_env = False
        self._send_settings = {"proxies": settings["proxies"], "verify": settings["verify"],
                               "cert": settings["cert"]}
        headers = {"X-API-KEY": api_key, "Content-Type": "application/json",
                   "Accept": "application/json", "User-Agent": f"layer-sync/{__version__}"}
        # The URL and headers are the same for every request: requests checks them once
        # here (a bad URL or header fails now), and each request only prepares its body.
        checked = requests.PreparedRequest()
        try:
            checked.prepare(method="GET", url=self.base_url, headers=headers)
        except requests.exceptions.InvalidHeader:
            raise ConfigError("the API key holds characters an HTTP header cannot carry (a line "
                              "break or a control character?); check ATOMSCALE_API_KEY (or "
                              "AS_API_KEY, or the key file)") from None
        except (requests.exceptions.RequestException, ValueError) as exc:
            raise ConfigError(f"the API URL {self.base_url!r} cannot be used: "
                              f"{type(exc).__name__}; set --api-url or ATOMSCALE_API_URL, e.g. "
                              "https://api.atomscale.ai/") from None
        self._checked_headers = checked.headers
        self._urls: dict[str, str] = {}
        # --concurrency bounds the requests on the wire. Preparing a request and parsing its
        # answer happen outside the slot, so a slot is never idle while Python works.
        self.in_flight = threading.BoundedSemaphore(max(pool_size, 1))

    def close(self) -> None:
        self._session.close()

    # ------------------------------------------------------------------ endpoints
    def list_target_materials(self) -> list[dict[str, Any]]:
        answer = self.send("GET", "target-materials/")
        if not isinstance(answer.data, list):
            raise ApiError("the server's list of target materials is not a JSON array", answer.status)
        return [e for e in answer.data if isinstance(e, dict)]

    def create_layer(self, body: dict[str, Any],
                     in_doubt: Callable[[], dict[str, Any] | None]) -> Answer:
        return self.send("POST", "target-materials/layers/", body, in_doubt=in_doubt)

    def update_layer(self, body: dict[str, Any]) -> Answer:
        # A PATCH sets fields to values: repeating it is harmless, so it is retried freely.
        return self.send("PATCH", "target-materials/layers/", body)

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
        state = {"attempts": 0, "doubt": False}

        def attempt() -> Answer:
            if state["doubt"]:
                try:
                    found = in_doubt() if in_doubt else None
                except (AuthError, ApiDownError):
                    raise
                except ApiError as exc:  # still in doubt: try the re-read again, never the POST
                    raise Transient(f"could not re-read the server's records ({exc})",
                                    exc.status, unknown=True) from None
                if found is not None:
                    return Answer(found, None, state["attempts"], recovered=True)
                state["doubt"] = False
            try:
                data, status = self._once(method, path, body, state)
            except Transient as exc:
                state["doubt"] = bool(in_doubt) and exc.unknown
                raise
            except ApiError as exc:
                exc.attempts = state["attempts"]
                raise
            return Answer(data, status, state["attempts"])

        def before_sleep(retry_state: Any) -> None:
            self.counters.retried()
            exc = retry_state.outcome.exception()
            log.debug("%s %s: %s; attempt %d of %d, retrying", method, path, exc,
                      state["attempts"], self.policy.max_attempts)

        # The first attempt is made directly: most requests need no other, and setting up
        # tenacity's loop costs more Python work than a fast request's own (measured: 2 % of
        # a 1,200-write sync). A failure worth retrying enters the loop, which counts it as
        # attempt 1 and decides every retry and wait from there, as it would have.
        started = self.policy.clock()
        try:
            return attempt()
        except Transient as exc:
            first: Transient | None = exc

        def again() -> Answer:
            nonlocal first
            if first is not None:
                failure, first = first, None
                raise failure
            return attempt()

        try:
            return self.policy.retrying(Transient, before_sleep, started=started)(again)
        except Transient as exc:
            if self.policy.abort.is_set():
                raise AuthError(_KEY_REFUSED, 401, state["attempts"]) from None
            if self.policy.breaker.tripped:
                raise ApiDownError(self._down_message(), exc.status, state["attempts"]) from None
            if state["doubt"] and in_doubt is not None:
                found = self._last_look(in_doubt)
                if found is not None:
                    return Answer(found, None, state["attempts"], recovered=True)
                raise ApiError(f"{exc}; the server did not confirm whether it stored this, so "
                               "it was not sent again (the next run will see)", exc.status,
                               state["attempts"]) from None
            raise ApiError(f"{exc} (gave up after {state['attempts']} attempt"
                           f"{'s' if state['attempts'] != 1 else ''})", exc.status,
                           state["attempts"]) from None

    def _last_look(self, in_doubt: Callable[[], Any]) -> Any:
        if self.policy.stopped:
            return None
        try:
            return in_doubt()
        except ApiError:
            return None

    def _raise_if_stopped(self) -> None:
        """Nothing is sent once the run is cancelled, the key refused or the API down."""
        if self.policy.cancel.is_set():
            raise ApiError("cancelled: the run no longer needs this request")
        if self.policy.abort.is_set():
            raise AuthError(_KEY_REFUSED, 401)
        if self.policy.breaker.tripped:
            raise ApiDownError(self._down_message())

    def _down_message(self) -> str:
        return (f"the API looks down: {self.policy.breaker.limit} failed attempts in a row; "
                "nothing more was sent")

    def _once(self, method: str, path: str, body: Any, state: dict[str, Any]) -> tuple[Any, int]:
        """One attempt; `state["attempts"]` counts it only once it is really sent."""
        policy = self.policy
        self._raise_if_stopped()
        policy.gate.wait()
        self._raise_if_stopped()
        started = time.perf_counter()
        try:
            prepared = self._prepare(method, path, body)
            with self.in_flight:
                # Checked again once a slot is free: the key may have been refused, the API
                # declared down, or the run interrupted, while this request waited for it.
                self._raise_if_stopped()
                self.counters.sent(method)
                state["attempts"] += 1
                response = self._adapter.send(prepared, timeout=policy.timeout,
                                              **self._send_settings)
                response.content  # read the body while holding the slot  # noqa: B018
        except requests.exceptions.ConnectTimeout:
            self._failed()
            raise Transient(f"could not connect to {self.base_url} (timed out)") from None
        except requests.exceptions.Timeout:
            self._failed()
            raise Transient(f"no answer within {policy.timeout:g} s", unknown=True) from None
        except requests.exceptions.SSLError as exc:
            raise ApiError(f"the TLS certificate of {self.base_url} could not be verified "
                           f"({type(exc).__name__})") from None
        except requests.exceptions.ConnectionError as exc:
            self._failed()
            refused = "NewConnectionError" in repr(exc) or "NameResolutionError" in repr(exc)
            what = (f"could not connect to {self.base_url}" if refused
                    else "the connection was dropped before an answer")
            raise Transient(what, unknown=not refused) from None
        except requests.exceptions.RequestException as exc:
            raise ApiError(f"{method} {path} could not be sent: {type(exc).__name__}") from None
        status = response.status_code
        if 300 <= status < 400:
            raise ApiError(f"the API answered {method} {path} with a redirect ({status}) to "
                           f"{response.headers.get('Location', '?')}; set --api-url to the "
                           "final address", status)
        log.debug("%s %s %d %.0f ms", method, path, status, (time.perf_counter() - started) * 1000)
        if status in (401, 403):
            policy.abort.set()
            raise AuthError(_KEY_REFUSED if status == 401 else _KEY_FORBIDDEN, status)
        if status == 429:
            wait = parse_retry_after(response.headers.get("Retry-After"), self._wall_clock)
            if wait is not None and wait > policy.max_retry_after:
                raise ApiError(f"rate limited: the server asked to wait {wait:.0f} s, longer than "
                               f"{policy.max_retry_after:.0f} s; run again later", status)
            if wait is not None:
                policy.gate.hold(wait)
            raise Transient("rate limited (429)", status, retry_after=wait)
        if status in RETRYABLE_STATUS:
            self._failed()
            raise Transient(f"server error {status}: {_detail(response)}", status, unknown=True)
        if method != "GET":
            # The server answered a write: its write path is up. A GET that works proves
            # nothing about writes (a re-read between failed POSTs must not reset the count).
            policy.breaker.success()
        if status >= 400:
            raise ApiError(f"{status}: {_detail(response)}", status)
        try:
            data = response.json() if response.content else {}
        except ValueError:
            raise Transient(f"the answer to {method} {path} was not JSON", status,
                            unknown=True) from None
        return data, status

    def _prepare(self, method: str, path: str, body: Any) -> requests.PreparedRequest:
        """A request with the checked URL and headers; only the body is new."""
        url = self._urls.get(path)
        if url is None:
            checked = requests.PreparedRequest()
            checked.prepare(method=method, url=urljoin(self.base_url, path))
            url = self._urls[path] = checked.url
        prepared = requests.PreparedRequest()
        prepared.method = method
        prepared.url = url
        prepared.headers = self._checked_headers.copy()
        prepared.prepare_body(data=None, files=None, json=body)
        return prepared

    def _failed(self) -> None:
        if self.policy.breaker.failure():
            log.debug("breaker tripped after %d failures in a row", self.policy.breaker.limit)


_KEY_REFUSED = ("the API key was refused (401); check ATOMSCALE_API_KEY (or AS_API_KEY, or the "
                "file given with --api-key-file); nothing more was sent")
_KEY_FORBIDDEN = ("the API key may not do this (403): it needs write access; set a key with "
                  "write scope in ATOMSCALE_API_KEY (or AS_API_KEY); nothing more was sent")
