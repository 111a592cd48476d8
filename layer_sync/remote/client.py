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

import email.utils
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from ..core.control import RunControl, RunStopped, StopReason
from ..core.errors import ApiDownError, ApiError, AuthError, ConfigError, option
from ..core.secrets import ApiKey, key_forms, replace_forms
from ..core.version import __version__
from .retry import RetryPolicy
from .settings import (
    as_api_key,
    check_api_key,
    check_api_url,
)

log = logging.getLogger("layer_sync.api")

#: The largest answer read: the list of a lab's target materials is a few MB (100,000 layers
#: are ~30 MB); past this the server has gone wrong, and reading on could fill the memory.
MAX_ANSWER_BYTES = 256 << 20
#: An answer must arrive whole within this many timeouts (2 minutes by default: 30 MB at a
#: quarter of a MB a second). The timeout bounds each wait for the next bytes; this bounds a
#: server or proxy that keeps sending a byte now and then and would otherwise hold a run forever.
ANSWER_TIMEOUTS = 4
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


def key_refused_message(status: int, source: str) -> str:
    """The one message for a refused key: what happened and where the key came from."""
    if status == 403:
        return (f"the API key in {source} may not do this (403): it needs write access; set a "
                "key with write scope there; nothing more was sent")
    return (f"the API key in {source} was refused (401); check it, or set a valid key there; "
            "nothing more was sent")


def _caused_by(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> bool:
    """Whether `exc` or anything it wraps (causes, contexts, urllib3's `reason`) is of `kinds`."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kinds):
            return True
        for inner in (current.__cause__, current.__context__, getattr(current, "reason", None),
                      *current.args):
            if isinstance(inner, BaseException):
                todo.append(inner)
    return False


def _detail(response: requests.Response, content: bytes, clean: Callable[[str], str]) -> str:
    """The server's reason for an error answer, `clean`ed (the key replaced) before it is
    shortened, so that a cut can never leave part of the key behind."""
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):  # RecursionError: JSON nested beyond reason
        text = clean(content.decode(response.encoding or "utf-8", "replace").strip())
        return text[:300] if text else clean(response.reason or f"HTTP {response.status_code}")
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        if isinstance(detail, list):  # FastAPI-style validation errors
            return clean("; ".join(
                f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}"
                if isinstance(d, dict) else str(d) for d in detail))
        return clean(str(detail))
    return clean(json.dumps(body))[:300]


class _Tries:
    """One request's attempts so far, and whether the last one's outcome is unknown."""

    __slots__ = ("sent", "doubt")

    def __init__(self) -> None:
        self.sent = 0
        self.doubt = False


class ApiClient:
    """The Atomscale target-materials API, with the retry policy around every request.

    `control`: the run's `RunControl`; the client asks it before every attempt and wait, and
    tells it when the key is refused or the API is down. `api_key`: an `ApiKey` (its source
    is named in messages) or a plain string.
    """

    def __init__(self, base_url: str, api_key: str | ApiKey, policy: RetryPolicy | None = None, *,
                 control: RunControl | None = None, pool_size: int = 8,
                 session: requests.Session | None = None,
                 wall_clock: Callable[[], float] = time.time,
                 max_answer_bytes: int = MAX_ANSWER_BYTES,
                 max_answer_seconds: float | None = None) -> None:
        self.key = check_api_key(as_api_key(api_key))
        self.max_answer_bytes = max_answer_bytes
        self._key_forms = key_forms(self.key.value)
        self.base_url = check_api_url(base_url)
        self.policy = policy or RetryPolicy()
        self.max_answer_seconds = max_answer_seconds or ANSWER_TIMEOUTS * self.policy.timeout
        self.control = control or RunControl()
        self.counters = Counters()
        self._wall_clock = wall_clock
        # A wait between attempts ends early when the run is stopped (unless tests inject one).
        self._sleep = self.policy.sleep or self.control.sleep
        headers = {"X-API-KEY": self.key.value, "Accept": "application/json",
                   "User-Agent": f"layer-sync/{__version__}"}
        try:  # a URL requests cannot use fails here, before anything is sent
            requests.Request("GET", self.base_url, headers=headers).prepare()
        except (requests.exceptions.RequestException, ValueError) as exc:
            raise ConfigError(f"the API URL {self.base_url!r} cannot be used: "
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
        adapter = HTTPAdapter(pool_maxsize=max(pool_size, 1) + 2, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._host = urlsplit(self.base_url).hostname or self.base_url

    def close(self) -> None:
        self.session.close()

    def redact(self, text: str) -> str:
        """`text` with the key replaced by `***`: for every text built from a server's answer."""
        return replace_forms(text, self._key_forms)

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
        tries = _Tries()

        def attempt() -> Answer:
            if tries.doubt:
                assert in_doubt is not None
                found = self._look_again(in_doubt)
                if found is not None:
                    return Answer(found, None, tries.sent, recovered=True)
                tries.doubt = False
            try:
                data, status = self._once(method, path, body, tries)
            except Transient as exc:
                tries.doubt = in_doubt is not None and exc.unknown
                raise
            except ApiError as exc:
                exc.attempts = tries.sent
                raise
            return Answer(data, status, tries.sent)

        def before_sleep(retry_state: Any) -> None:
            self.counters.retried()
            log.debug("%s %s: %s; attempt %d of %d, retrying", method, path,
                      retry_state.outcome.exception(), tries.sent, self.policy.max_attempts)

        retrying = self.policy.retrying(Transient, should_stop=lambda: self.control.stopped,
                                        sleep=self._sleep, before_sleep=before_sleep)
        try:
            return retrying(attempt)
        except Transient as exc:
            last = exc
        if self.control.stopped:
            raise self._stopped_error(tries.sent, in_doubt=tries.doubt) from None
        if tries.doubt and in_doubt is not None:
            try:  # a last look: the write may have arrived after all
                found = in_doubt()
            except ApiError:
                found = None
            if found is not None:
                return Answer(found, None, tries.sent, recovered=True)
            raise ApiError(self.redact(f"{last}; the server did not confirm whether it stored "
                                       "this, so it was not sent again (the next run will see)"),
                           last.status, tries.sent) from None
        raise ApiError(self.redact(f"{last} (gave up after {tries.sent} attempt"
                                   f"{'s' if tries.sent != 1 else ''})"),
                       last.status, tries.sent) from None

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
        return kind(message, None, attempts)

    def _once(self, method: str, path: str, body: Any, tries: _Tries) -> tuple[Any, int]:
        """One attempt; `tries.sent` counts it only once it is really sent."""
        policy = self.policy
        if self.control.stopped:
            raise self._stopped_error(tries.sent)
        policy.gate.wait(self._sleep)
        if self.control.stopped:  # the key refused or the run stopped while we waited
            raise self._stopped_error(tries.sent)
        self.counters.sent(method)
        tries.sent += 1
        started = time.perf_counter()
        deadline = time.monotonic() + self.max_answer_seconds
        try:
            # Streamed, so that an answer past `max_answer_bytes` is refused, not read whole.
            response = self.session.request(method, urljoin(self.base_url, path), json=body,
                                            timeout=policy.timeout, allow_redirects=False,
                                            stream=True)
            content = self._read_body(response, f"{method} {path}", deadline)
        except requests.exceptions.ConnectTimeout:
            self._failed()
            raise Transient(f"could not connect to {self.base_url} (timed out)") from None
        except requests.exceptions.Timeout:
            self._failed()
            raise Transient(f"no answer within {policy.timeout:g} s", unknown=True) from None
        except requests.exceptions.SSLError as exc:
            raise ApiError(f"the TLS certificate of {self.base_url} could not be verified "
                           f"({type(exc).__name__}); check --api-url") from None
        except requests.exceptions.ConnectionError as exc:
            self._failed()
            if _caused_by(exc, (socket.gaierror,)):
                # A name that does not resolve now will not resolve in a minute: not retried.
                raise ApiError(f"the host name {self._host} could not be resolved; check the "
                               "API URL (--api-url, ATOMSCALE_API_URL or AS_API_ENDPOINT) and "
                               "the network") from None
            if _caused_by(exc, (NewConnectionError, ConnectionRefusedError)):
                raise Transient(f"could not connect to {self.base_url}") from None
            raise Transient("the connection was dropped before an answer", unknown=True) from None
        except requests.exceptions.RequestException as exc:
            raise ApiError(f"{method} {path} could not be sent: {type(exc).__name__}") from None
        status = response.status_code
        log.debug("%s %s %d %.0f ms", method, path, status, (time.perf_counter() - started) * 1000)
        if 300 <= status < 400:
            location = self.redact(response.headers.get("Location", "?"))
            raise ApiError(f"the API answered {method} {path} with a redirect ({status}) to "
                           f"{location}; set --api-url to the final address", status)
        if status in (401, 403):
            message = key_refused_message(status, self.key.source)
            self.control.stop(StopReason.KEY_REFUSED, message)
            raise AuthError(message, status)
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
            raise Transient(f"server error {status}: {_detail(response, content, self.redact)}",
                            status, unknown=True)
        if method != "GET":
            # The server answered a write: its write path is up. A GET that works proves
            # nothing about writes (a re-read between failed POSTs must not reset the count).
            policy.breaker.success()
        if status >= 400:
            raise ApiError(f"{status}: {_detail(response, content, self.redact)}", status)
        try:
            data = json.loads(content) if content else {}
        except (ValueError, RecursionError):  # RecursionError: JSON nested beyond reason
            raise Transient(f"the answer to {method} {path} was not JSON", status,
                            unknown=True) from None
        return data, status

    def _read_body(self, response: requests.Response, request: str, deadline: float) -> bytes:
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
                    raise Transient(f"no answer within {self.policy.timeout:g} s",
                                    unknown=True) from None
                except urllib3.exceptions.SSLError as exc:
                    raise ApiError(f"the TLS connection to {self.base_url} failed while "
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
                    raise ApiError(f"the answer to {request} is larger than "
                                   f"{f'{limit >> 20} MB' if limit >= 1 << 20 else f'{limit} bytes'}"
                                   "; it was not read (is --api-url the API?)",
                                   response.status_code)
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    self._failed()
                    raise Transient(f"the answer to {request} was still arriving after "
                                    f"{self.max_answer_seconds:g} s", unknown=True)
        return b"".join(chunks)

    def _failed(self) -> None:
        """A failed attempt: past the limit in a row, the API is down and the run stops."""
        breaker = self.policy.breaker
        if breaker.failure():
            self.control.stop(StopReason.API_DOWN,
                              f"the API looks down: {breaker.limit} failed attempts in a row; "
                              "nothing more was sent (the rows left are marked skipped)")
