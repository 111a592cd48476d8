"""The sandbox's HTTP side: each request read, held to the server's limits and faults, handed
to the routes (`routes.py`), and its answer written as a real server writes it.

Two details make it fast: the answer goes out in one `sendall` with TCP_NODELAY set (with
Nagle's algorithm on, a keep-alive answer written in two parts waits ~40 ms for the peer's
delayed ACK), and requests run in threads (`Server`). The faults that need the raw
connection (a reset, a body trickled a byte at a time) are done here.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from .faults import HOLLOW_KINDS, Faults, before_handling, echoed_key, hollow_answer
from .idempotency import IdempotencyKeys
from .limits import Capacity, RateLimit
from .listing import ListAnswer
from .stats import Stats

log = logging.getLogger("layer_sync.sandbox")


class Served(Protocol):
    """The server a handler answers for, as the handler sees it (`app.SandboxServer`): read
    at each request, so that a test may change it between requests."""

    latency_ms: float
    faults: Faults
    stats: Stats
    idempotency: IdempotencyKeys
    capacity: Capacity | None
    rate_limit: RateLimit | None
    echo_key: bool
    echo_form: str

    @property
    def url(self) -> str: ...

    def key_accepted(self, key: str | None) -> bool: ...

    def route(self, method: str, path: str, body: bytes) -> tuple[int, Any]: ...


class Connections:
    """The connections open now, so that stopping the server resets them: a client waiting on
    a kept-alive connection is not left hanging."""

    def __init__(self) -> None:
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def add(self, connection: socket.socket) -> None:
        with self._lock:
            self._open.add(connection)

    def discard(self, connection: socket.socket) -> None:
        with self._lock:
            self._open.discard(connection)

    def reset(self) -> None:
        """Shut every open connection down, both ways."""
        with self._lock:
            for conn in list(self._open):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class Server(ThreadingHTTPServer):
    """The listening socket: a thread per connection, its address reusable at once."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


def make_handler(sandbox: Served, connections: Connections) -> type[BaseHTTPRequestHandler]:
    """The handler class of a server answering for `sandbox`, its connections noted in
    `connections`."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "layer-sync-sandbox/1"
        # One request's state (a connection's requests come one after the other).
        _answer_at = 0.0
        _arrived = 0.0
        _serving = False
        _limit_headers: dict[str, str] = {}  # noqa: RUF012 - replaced per request, never changed
        _method = ""
        _status: int | None = None
        _fault: str | None = None
        _body: bytes = b""
        _recorded = True

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connections.add(self.connection)

        def finish(self) -> None:
            connections.discard(self.connection)
            try:
                super().finish()
            except OSError:
                pass

        def parse_request(self) -> bool:
            # The request line has just arrived: the latency window starts here.
            self._arrived = time.perf_counter()
            return super().parse_request()

        def log_message(self, format: str, *args: Any) -> None:  # the standard library's own name
            pass  # one line per request is written by _handle, without the key

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

        def _handle(self, method: str) -> None:
            started = time.perf_counter()
            sandbox.stats.begin(method)
            self._method, self._status, self._fault, self._recorded = method, None, None, False
            try:
                length = int(self.headers.get("Content-Length") or 0)
                body = self._body = self.rfile.read(length) if length > 0 else b""
                # --latency-ms is the time from receiving a request to answering it, as a
                # remote API's response time would be; the sandbox's own work happens inside
                # that window (see _send), so it adds only parsing and I/O on top. With a
                # capacity, it is counted from the moment the request is served.
                self._answer_at = self._arrived + sandbox.latency_ms / 1000
                sandbox.idempotency.note(method, self.headers.get("Idempotency-Key"))
                if not self._admitted():
                    return
                fault = self._fault = sandbox.faults.decide(method)
                if fault:
                    sandbox.stats.note_fault(fault)
                if fault is not None and before_handling(fault):
                    self._injected(fault)
                    return
                if not sandbox.key_accepted(self.headers.get("X-API-KEY")):
                    self._send(401, {"detail": "Invalid or missing API key (X-API-KEY)"
                                               + self._quoted_key()})
                    return
                if fault == "late":  # the client gives up first; the write lands later
                    time.sleep(sandbox.faults.late_seconds)
                status, payload = sandbox.idempotency.handle(
                    method, self.headers.get("Idempotency-Key"),
                    lambda: sandbox.route(method, self.path, body))
                if status >= 400 and isinstance(payload, dict):
                    payload = {**payload, "detail": f"{payload.get('detail')}{self._quoted_key()}"}
                if fault == "commit500" and status < 400:
                    self._send_500()
                elif fault == "commit204" and status < 400:
                    self._send(204, b"")
                elif fault in ("commitreset", "late"):
                    self._drop()
                else:
                    if fault == "slow":
                        time.sleep(sandbox.faults.slow_seconds)
                    self._send(status, payload, trickle=fault == "trickle")
            except (TimeoutError, ConnectionError, BrokenPipeError):
                self.close_connection = True
            except Exception:  # a sandbox bug must answer 500, not hang the client
                log.exception("sandbox error on %s %s", method, self.path)
                try:
                    self._send_500()
                except OSError:
                    self.close_connection = True
            finally:
                if self._serving:
                    self._serving = False
                    assert sandbox.capacity is not None
                    sandbox.capacity.leave()
                self._record()
                ms = (time.perf_counter() - started) * 1000
                log.info("%s %s %s %.1f ms%s", method, self.path,
                         self._status if self._status is not None else "dropped", ms,
                         f" (fault {self._fault})" if self._fault else "")

        def _admitted(self) -> bool:
            """The server's limits: past its rate a 429, past its capacity and queue a 503,
            both at once and with Retry-After; else the request is served (it may have
            waited in the queue first)."""
            self._limit_headers = {}
            if sandbox.rate_limit is not None:
                admitted, self._limit_headers = sandbox.rate_limit.admit()
                if not admitted:
                    self._answer_at = 0.0
                    self._send(429, {"detail": "Too Many Requests: past the rate limit"})
                    return False
            if sandbox.capacity is not None:
                if not sandbox.capacity.enter():
                    self._answer_at = 0.0
                    self._send(503, {"detail": "Service Unavailable: the server is full"},
                               {"Retry-After": sandbox.capacity.retry_after})
                    return False
                self._serving = True
                self._answer_at = time.perf_counter() + sandbox.latency_ms / 1000
            return True

        def _injected(self, fault: str) -> None:
            """A fault answered before the request is handled: nothing is stored."""
            if fault == "reset":
                self._drop()
            elif fault == "redirect":
                # Where a misconfigured proxy might send the client (with the key, if echoing).
                key = self.headers.get("X-API-KEY") or ""
                target = f"{sandbox.url.rstrip('/')}/moved{urlsplit(self.path).path}"
                if sandbox.echo_key:
                    target += f"?api_key={quote(key, safe='')}"
                self._send(307, {"detail": "moved"}, {"Location": target})
            elif fault == "500":
                self._send_500()
            elif fault in HOLLOW_KINDS:
                try:
                    request = json.loads(self._body or b"null")
                except ValueError:
                    request = None
                self._send(*hollow_answer(fault, request))
            else:
                status = int(fault)
                headers = {"Retry-After": sandbox.faults.retry_after} if status == 429 else {}
                detail = REASONS.get(status, f"injected {status}")
                if sandbox.echo_key and sandbox.echo_form == "loc":
                    key = self.headers.get("X-API-KEY") or ""
                    self._send(status, {"detail": [{"loc": ["body", key], "msg": detail}]})
                elif sandbox.echo_key and sandbox.echo_form == "utf16":
                    text = f"{detail}{self._quoted_key()}".encode("utf-16-le")
                    self._send(status, text, {"Content-Type": "text/plain"})
                else:
                    self._send(status, {"detail": detail + self._quoted_key()}, headers)

        def _quoted_key(self) -> str:
            """With `echo_key`, the key the client sent, quoted back as careless servers do
            (in `echo_form`: see `faults.echoed_key`)."""
            if not sandbox.echo_key:
                return ""
            key = echoed_key(self.headers.get("X-API-KEY") or "", sandbox.echo_form)
            return f" (request sent with X-API-KEY: {key})"

        def _send_500(self) -> None:
            if sandbox.echo_key:  # a web server's error page, not JSON, quoting the request
                page = ("<html><head><title>500 Internal Server Error</title></head><body>"
                        f"<h1>Internal Server Error</h1><p>{self._quoted_key()}</p></body></html>")
                self._send(500, page)
            else:
                self._send(500, {"detail": "Internal Server Error"})

        def _record(self) -> None:
            """Count the answer once, before it leaves: a client that has it sees it counted."""
            if not self._recorded:
                self._recorded = True
                sandbox.stats.end(self._method, self.path, self._status, self._fault)

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None,
                  trickle: bool = False) -> None:
            if isinstance(payload, ListAnswer):  # the list, paged or encoded (`listing`)
                data, extra = payload.encode(self.headers.get("Accept-Encoding"))
                kind, headers = "application/json", {**extra, **(headers or {})}
            elif isinstance(payload, str):
                data, kind = payload.encode("utf-8"), "text/html; charset=utf-8"
            elif isinstance(payload, bytes):  # JSON text already (the list: see Store)
                data, kind = payload, "application/json"
            else:
                data, kind = json.dumps(payload).encode("utf-8"), "application/json"
            headers = dict(headers or {})
            kind = headers.pop("Content-Type", kind)
            lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}",
                     f"Content-Type: {kind}",
                     f"Content-Length: {len(data)}",
                     f"Server: {self.server_version}"]
            lines += [f"{k}: {v}" for k, v in {**self._limit_headers, **(headers or {})}.items()]
            if self.close_connection:
                lines.append("Connection: close")
            answer = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data
            # The answer is ready before the wait: it leaves as the latency window closes.
            wait = self._answer_at - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            self._status = status
            self._record()
            if not trickle:
                self.wfile.write(answer)
                return
            # The headers at once, then the body a byte at a time: each read the client makes
            # gets something, so only a bound on the whole answer ends it.
            head = len(answer) - len(data)
            self.wfile.write(answer[:head])
            for i in range(head, len(answer)):
                self.wfile.flush()
                time.sleep(sandbox.faults.trickle_seconds)
                self.wfile.write(answer[i:i + 1])

        def _drop(self) -> None:
            # SO_LINGER 0: closing sends a reset, as a crashed proxy would.
            self._status = None
            self._record()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            try:
                self.connection.close()
            except OSError:
                pass

    return Handler


#: The reason phrase of each status the sandbox answers.
REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request",
           401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           409: "Conflict", 422: "Unprocessable Entity", 429: "Too Many Requests",
           500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
