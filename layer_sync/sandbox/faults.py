"""Which requests the sandbox fails, and how.

Kinds:
  429          answered 429 with Retry-After; nothing stored
  500/502/503  answered with that status; nothing stored
  reset        the connection is dropped before the request is handled; nothing stored
  commit500    the request is handled (a write is stored), then answered 500
  commitreset  the request is handled (a write is stored), then the connection is dropped
  slow         the request is handled, then answered after `slow_seconds` (past the
               client's timeout)
  redirect     answered 307 with a Location elsewhere; nothing stored (only when injected)
  trickle      the request is handled, then the answer's body is sent a byte at a time,
               `trickle_seconds` apart (only when injected)
  late         the request is handled `late_seconds` after it arrived (past the client's
               timeout: a slow database, a proxy that forwards late), then the connection
               is dropped: the write lands after the client gave up on its answer (only
               when asked for: injected, or named in `kinds`)
  commit204    the request is handled (a write is stored), then answered 204 with no body
               (only when injected)
  hollow-SHAPE nothing stored, but answered as if it were, in a shape that does not prove it
               (`HOLLOW_KINDS`, only when injected): `error` (200, an error body), `okfalse`
               (200, `ok: false`), `empty` (201, no body), `204`, `202` (queued), `idtext`,
               `idbool`, `idfloat`, `idnull` (the record echoed with such an id), `keytext`
               (its sample_id and layer_id as text), `other` (another layer's record),
               `list` (the record inside a list)

Faults come from a script first (tests queue exact faults) and then at random with
`rate`, from a seeded generator so that a run is repeatable.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS = ("429", "500", "502", "503", "reset", "commit500", "commitreset", "slow")
#: Kinds a test injects on purpose, never drawn at random.
HOLLOW_KINDS = ("hollow-error", "hollow-okfalse", "hollow-empty", "hollow-204", "hollow-202",
                "hollow-idtext", "hollow-idbool", "hollow-idfloat", "hollow-idnull",
                "hollow-keytext", "hollow-other", "hollow-list")
SCRIPTED_KINDS = ("redirect", "trickle", "commit204", *HOLLOW_KINDS)
#: Kinds drawn at random only when named (`--faults late`), never by default.
OPT_IN_KINDS = ("late",)
BEFORE_HANDLING = frozenset({"429", "500", "502", "503", "reset", "redirect", *HOLLOW_KINDS})


#: The forms in which `echo_key` quotes the key back (`echoed_key`): as sent, in upper case,
#: full-width, split by NULs, zero-width spaces or soft hyphens, as HTML entities; `loc` puts
#: it in a validation error's `loc`; `utf16` sends the error as UTF-16 text without a charset.
ECHO_FORMS = ("plain", "upper", "fullwidth", "nul", "zwsp", "shy", "entities", "loc", "utf16")


def echoed_key(key: str, form: str) -> str:
    """`key` in the `form` (of `ECHO_FORMS`) a careless server quotes it back in."""
    if form == "upper":
        return key.upper()
    if form == "fullwidth":
        return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in key)
    if form in ("nul", "zwsp", "shy"):
        return {"nul": "\x00", "zwsp": "\u200b", "shy": "\u00ad"}[form].join(key)
    if form == "entities":
        return "".join(f"&#x{ord(c):x};" for c in key)
    return key


def hollow_answer(kind: str, request: Any) -> tuple[int, Any]:
    """The status and body of a `hollow-…` answer to a write of `request` (its JSON body)."""
    body = request if isinstance(request, dict) else {}
    echoed = {k: v for k, v in body.items() if k != "id"}
    answers: dict[str, tuple[int, Any]] = {
        "hollow-error": (200, {"detail": "layer_id already exists", "error": True}),
        "hollow-okfalse": (200, {"ok": False, "errors": ["not stored"]}),
        "hollow-empty": (201, b""),
        "hollow-204": (204, b""),
        "hollow-202": (202, {"status": "queued"}),
        "hollow-idtext": (200, {"id": "77", **echoed}),
        "hollow-idbool": (200, {"id": True, **echoed}),
        "hollow-idfloat": (200, {"id": 77.0, **echoed}),
        "hollow-idnull": (200, {"id": None, **echoed}),
        "hollow-keytext": (200, {**echoed, "id": 77, "sample_id": str(body.get("sample_id")),
                                 "layer_id": str(body.get("layer_id"))}),
        "hollow-other": (200, {"id": 78, "sample_id": 9, "layer_id": 9,
                               "composition_string": "Xx"}),
        "hollow-list": (200, [{"id": 79, **echoed}]),
    }
    return answers[kind]


def before_handling(kind: str | None) -> bool:
    """Faults answered (or dropped) before the request is handled: nothing is stored."""
    return kind is not None and (kind in BEFORE_HANDLING or kind.isdigit())


def parse_kinds(text: str) -> tuple[str, ...]:
    """`"429, 500,reset"` -> `("429", "500", "reset")`; raises ValueError for unknown kinds."""
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in FAULT_KINDS and k not in OPT_IN_KINDS]
    if unknown:
        raise ValueError(f"unknown fault kind(s) {', '.join(unknown)}; "
                         f"choose from {','.join(FAULT_KINDS + OPT_IN_KINDS)}")
    return kinds


@dataclass
class Faults:
    """Decides, per request, which fault (if any) the sandbox injects."""

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    seed: int | None = None
    slow_seconds: float = 35.0
    trickle_seconds: float = 0.05
    late_seconds: float = 3.0
    retry_after: str = "1"
    #: Apply random faults only to these methods (None: every method).
    methods: frozenset[str] | None = None
    _script: deque[tuple[str, str | None]] = field(default_factory=deque, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def inject(self, kind: str, count: int = 1, method: str | None = None) -> None:
        """Fail the next `count` requests (of `method`, if given) with `kind`, or with any
        HTTP status given as digits ("404", "422", "403"), answered without handling."""
        if kind not in (*FAULT_KINDS, *SCRIPTED_KINDS, *OPT_IN_KINDS) and not (kind.isdigit() and 400 <= int(kind) <= 599):
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            for _ in range(count):
                self._script.append((kind, method))

    def clear(self) -> None:
        with self._lock:
            self._script.clear()
            self.rate = 0.0

    def decide(self, method: str) -> str | None:
        with self._lock:
            for i, (kind, only) in enumerate(self._script):
                if only is None or only == method:
                    del self._script[i]
                    return kind
            if self.rate <= 0 or not self.kinds:
                return None
            if self.methods is not None and method not in self.methods:
                return None
            if self._random.random() < self.rate:
                drawn: str = self._random.choice(self.kinds)
                return drawn
            return None
