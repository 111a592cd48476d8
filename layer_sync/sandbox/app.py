"""A local stand-in of the Atomscale target-materials API, on the standard library's server:
`SandboxServer` puts together the store, the faults, the limits and the HTTP side
(`handler.py`) and runs it in a thread (tests, demo) or in the foreground.

Why `http.server` and not a framework: fault injection needs the raw connection (to drop it
before or after a write), and the endpoints are five (`routes.py`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Self

from .bodies import Unprocessable, parse_json, validate_seed
from .faults import Faults
from .handler import Connections, Server, make_handler
from .idempotency import IdempotencyKeys
from .limits import Capacity, RateLimit
from .listing import Listing
from .routes import route
from .stats import Stats
from .store import Store

#: The key the sandbox accepts when given none: made up, but no word and 8 characters or more,
#: so that it is hidden as a real key is and no text the tool prints holds 8 of its
#: characters in a row ("sandbox" as the key turned `sandbox_seed.json` and report paths into
#: `***`). tests/test_names.py checks the README, the docs and --help against it.
DEFAULT_API_KEY = "demo-key-0000"


class SandboxServer:
    """The sandbox, runnable in a thread (tests, demo) or in the foreground (`layer-sync sandbox`)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, db: str | Path | None = None,
                 seed: str | Path | list[Any] | None = None, api_key: str = DEFAULT_API_KEY,
                 latency_ms: float = 0.0, faults: Faults | None = None,
                 echo_key: bool = False, capacity: int | None = None,
                 queue: int | None = None, rate: float | None = None,
                 rate_headers: str = "none", burst: int | None = None,
                 idempotency: bool = False, listing: Listing | None = None) -> None:
        #: How the list is answered: whole by default; paged, odd, gzipped (`listing`).
        self.listing = listing or Listing()
        # The server's limits (`limits`): checked first, so that a bad one fails at once.
        self.capacity = Capacity(capacity, queue) if capacity is not None else None
        self.rate_limit = RateLimit(rate, rate_headers, burst) if rate is not None else None
        self.store = Store(db)
        if seed is not None:
            if not isinstance(seed, list):
                try:
                    seed = parse_json(Path(seed).read_bytes(), what="")
                except OSError as exc:  # a ValueError for the command line: "cannot load"
                    raise Unprocessable(f"cannot read it ({exc.strerror or exc})") from None
            entries = validate_seed(seed)
            if not self.store.layers() and not self.store.target_materials():
                self.store.seed(entries)
        self.api_key = api_key
        #: Quote the client's key back in error answers (500 pages, 4xx details, a
        #: redirect's Location), as a careless server might: tests prove it never leaks.
        self.echo_key = echo_key
        #: The form the key is quoted back in (`faults.ECHO_FORMS`).
        self.echo_form = "plain"
        self.latency_ms = latency_ms
        self.faults = faults or Faults()
        self.stats = Stats()
        #: Every write's Idempotency-Key; with `idempotency`, a key seen before is answered
        #: as the first time, the write not done again.
        self.idempotency = IdempotencyKeys(honour=idempotency)
        #: Tests: accept the key for this many more requests, then refuse it (a revoked key).
        self.revoke_key_after: int | None = None
        self._key_lock = threading.Lock()
        self._connections = Connections()
        self._httpd = Server((host, port), make_handler(self, self._connections))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host if isinstance(host, str) else host.decode()}:{port}/"

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="sandbox",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()
        self._connections.reset()
        self.store.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def key_accepted(self, key: str | None) -> bool:
        """Whether `key` is the sandbox's (and, with `revoke_key_after`, not yet revoked)."""
        if key != self.api_key:
            return False
        with self._key_lock:
            if self.revoke_key_after is None:
                return True
            self.revoke_key_after -= 1
            return self.revoke_key_after >= 0

    def route(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        """The answer (status, payload) to a request past the key, limits and faults."""
        return route(self.store, self.listing, self.url, method, path, body)
