"""The `Idempotency-Key` header, as the sandbox sees it: every write's key is recorded (tests
check that each write carries one, the same on every attempt), and with `honour` a write whose
key was seen before is answered as the first one was, without being done again (as Stripe's
API and the IETF draft "The Idempotency-Key HTTP Header Field" describe). A second request
with a key still being handled waits for the first to finish, then gets its answer.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

Answer = tuple[int, Any]


class IdempotencyKeys:
    """The keys seen (the latest 100,000 as (method, key or None)), and when `honour` is
    set, the answers given to each key."""

    def __init__(self, honour: bool = False) -> None:
        self.honour = honour
        self._lock = threading.Lock()
        self.seen: deque[tuple[str, str | None]] = deque(maxlen=100_000)
        self._answers: dict[str, Answer] = {}
        self._busy: dict[str, threading.Lock] = {}

    def note(self, method: str, key: str | None) -> None:
        """A request arrived (before any fault or check): its key is recorded."""
        with self._lock:
            self.seen.append((method, key))

    def handle(self, method: str, key: str | None, route: Callable[[], Answer]) -> Answer:
        """`route()`'s answer, or the answer already given to `key` when honoured."""
        with self._lock:
            if not self.honour or not key or method == "GET":
                busy = None
            else:
                busy = self._busy.setdefault(key, threading.Lock())
        if busy is None:
            return route()
        with busy:  # a second request with this key waits for the first one's answer
            with self._lock:
                answer = self._answers.get(key or "")
            if answer is not None:
                return answer
            answer = route()
            if answer[0] < 500:
                with self._lock:
                    self._answers[key or ""] = answer
            return answer

    def keys(self, method: str) -> list[str | None]:
        """The keys sent with each `method` request, in order (None: none sent)."""
        with self._lock:
            return [key for m, key in self.seen if m == method]
