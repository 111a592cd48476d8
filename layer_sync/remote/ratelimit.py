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
import math
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


#: Retry-After's seconds as RFC 9110 writes them (`1*DIGIT`), with a fraction as some servers
#: send; ASCII digits only (`float` would also take "nan", "-5", "1_0", "inf" and other
#: scripts' digits).
_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")
#: The longest wait a Retry-After is read as (about 31 years): anything longer (a date in the
#: year 9999, twelve nines) is the same to the caller, whose own bound is a minute.
MAX_RETRY_AFTER_S = 1e9


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Retry-After in seconds or as an HTTP date -> seconds to wait, always finite and within
    0 .. `MAX_RETRY_AFTER_S` (a date in the past is 0); None when absent or garbled (a sign, an
    exponent, "nan", "inf", two values, a date that cannot be read)."""
    if not value:
        return None
    value = value.strip()
    if _SECONDS.fullmatch(value):
        return min(float(value), MAX_RETRY_AFTER_S)
    if not value.isascii():
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
        wait = when.timestamp() - now()
    except (TypeError, ValueError, IndexError, OverflowError, OSError):
        return None
    if not math.isfinite(wait):
        return None
    return min(max(0.0, wait), MAX_RETRY_AFTER_S)


def shown_wait(seconds: float) -> str:
    """A wait as a message says it: `290 s`, or `more than a day`."""
    return f"{seconds:.0f} s" if seconds < 86400 else "more than a day"


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
    if not match:
        return None
    number = float(match.group(1))
    return number if math.isfinite(number) else None  # 400 nines are no count


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
