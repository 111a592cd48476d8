"""When a server says to come back, and the rate it states, in every form servers send.

- `Retry-After`: seconds, or an HTTP date (`parse_retry_after`).
- The IETF draft's current form (draft-ietf-httpapi-ratelimit-headers-08 and later): the
  policy `RateLimit-Policy: "default";q=40;w=1` (a quota of 40 per 1-second window) and the
  live counter `RateLimit: "default";r=12;t=1` (12 left, the window resets in 1 s); several
  policies may be listed, comma-separated.
- Its draft-07 form: `RateLimit-Policy: 40;w=1` and `RateLimit: limit=40, remaining=12, reset=1`.
- The earlier drafts' separate fields: `RateLimit-Limit: 40` (or `40, 40;w=1`),
  `RateLimit-Remaining: 12`, `RateLimit-Reset: 1`.
- The de facto `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (seconds
  left, or the reset time as a Unix timestamp, as GitHub sends it).

Everything is parsed leniently: a field that cannot be read is as if absent, never an error
(the server's answer itself is what matters). Where the window is not stated (the separate
fields, X-RateLimit-*), the caller estimates it from the resets it sees.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

#: A reset this large is a Unix timestamp (X-RateLimit-Reset as GitHub sends it), not seconds.
_EPOCH = 1_000_000_000
#: A policy's window up to this long is a rate to keep (pacing.py spreads it); a longer one
#: (an hour's, a day's quota) is spent as needed.
SHORT_WINDOW_S = 60.0
_NUMBER = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*$")


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


@dataclass(frozen=True)
class RateInfo:
    """What one answer says about the server's rate limit (None: not said).

    `quota` requests per `window` seconds (the policy); `remaining` requests left in the
    current window, which ends in `reset` seconds.
    """

    quota: float | None = None
    window: float | None = None
    remaining: float | None = None
    reset: float | None = None

    @property
    def rate(self) -> float | None:
        """Requests a second the policy allows, when both quota and window are stated."""
        if self.quota is None or not self.window:
            return None
        return self.quota / self.window

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.quota, self.window, self.remaining, self.reset))


def _number(text: str | None) -> float | None:
    match = _NUMBER.match(text or "")
    return float(match.group(1)) if match else None


def _members(value: str) -> list[tuple[str, dict[str, str]]]:
    """A structured-field list, loosely: `"a";q=1;w=2, 5;w=1` -> [("a", {q, w}), ("5", {w})].
    (Quoted strings holding commas or semicolons are not expected in these fields.)"""
    members = []
    for part in value.split(","):
        pieces = [p.strip() for p in part.split(";")]
        if not pieces or not any(pieces):
            continue
        head, params = pieces[0].strip('"'), {}
        for piece in pieces[1:]:
            name, _, val = piece.partition("=")
            params[name.strip().lower()] = val.strip().strip('"')
        if "=" in head:  # draft-07's `limit=40` is a parameter, not a name
            name, _, val = head.partition("=")
            params[name.strip().lower()] = val.strip()
            head = ""
        members.append((head, params))
    return members


def _policy(value: str | None) -> tuple[float | None, float | None]:
    """(quota, window) of the policy to keep in a RateLimit-Policy (or a RateLimit-Limit
    with policies, `40, 40;w=1`): of those with a short window, the slowest rate; else of
    all, the slowest (a day's quota beside a per-second rate is the per-second rate's
    business only when it runs out)."""
    stated: list[tuple[bool, float, float, float | None]] = []
    unstated: tuple[float | None, float | None] = (None, None)
    for head, params in _members(value or ""):
        quota = _number(params.get("q") or params.get("l") or head)
        window = _number(params.get("w"))
        if quota is None:
            continue
        if window:
            stated.append((window > SHORT_WINDOW_S, quota / window, quota, window))
        elif unstated == (None, None):
            unstated = (quota, None)
    if stated:
        _, _, quota, window = min(stated)
        return quota, window
    return unstated


def parse_rate_headers(headers: Mapping[str, str],
                       wall_clock: Callable[[], float] = time.time) -> RateInfo:
    """The rate limit an answer's headers state, in any of the forms above (an empty
    `RateInfo` when none). `headers`: case-insensitive (requests' headers are)."""
    quota, window = _policy(headers.get("RateLimit-Policy"))
    remaining = reset = None
    counters = _members(headers.get("RateLimit") or "")
    if counters and all(not head for head, _ in counters):
        # draft-07's one dictionary, `limit=40, remaining=12, reset=1`: one counter.
        counters = [("", {k: v for _, params in counters for k, v in params.items()})]
    for _, params in counters:
        # Of several policies' counters, the one with least left speaks for all.
        left = _number(params.get("r") or params.get("remaining"))
        after = _number(params.get("t") or params.get("reset"))
        if left is not None and (remaining is None or left < remaining):
            remaining, reset = left, after
        elif remaining is None and after is not None:
            reset = after
        if quota is None and (limit := _number(params.get("limit"))) is not None:
            quota = limit
    for prefix in ("RateLimit-", "X-RateLimit-"):
        if quota is None and (limit_field := headers.get(prefix + "Limit")):
            quota, stated = _policy(limit_field)  # "40", or "40, 40;w=1" with its window
            window = window or stated
        if remaining is None:
            remaining = _number(headers.get(prefix + "Remaining"))
        if reset is None:
            reset = _number(headers.get(prefix + "Reset"))
            if reset is not None and reset >= _EPOCH:
                reset = max(0.0, reset - wall_clock())
    return RateInfo(quota, window, remaining, reset)
