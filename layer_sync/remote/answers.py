"""What an attempt comes to: a final `Answer`, a `Transient` failure worth trying again, or an
error; and the words for them (the server's reason, a refused key, what caused a failure).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests


class Transient(Exception):
    """An attempt that may succeed if tried again.

    `unknown`: the request may have been carried out (the server may hold the write).
    `retry_after`: seconds the server asked us to wait.
    `paced`: a refusal (429, 503 with Retry-After) while the server served other writes: the
    pace's business, sent again without spending an attempt (see `throttle`).
    """

    def __init__(self, message: str, status: int | None = None, unknown: bool = False,
                 retry_after: float | None = None, paced: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.unknown = unknown
        self.retry_after = retry_after
        self.paced = paced


@dataclass
class Answer:
    """A request's final answer: the JSON body, the status, how many attempts it took, and
    whether it was found on the server after an unknown outcome instead of being sent again."""

    data: Any
    status: int | None
    attempts: int
    recovered: bool = False
    #: The answer's headers (a list's `Link`, `X-Total-Count`: see `paging`).
    headers: Mapping[str, str] = field(default_factory=dict)
    #: What its JSON took to parse, estimated (`jsoncost.parsed_cost`).
    cost: int = 0


def key_refused_message(status: int, source: str) -> str:
    """The one message for a refused key: what happened and where the key came from."""
    if status == 403:
        return (f"the API key in {source} may not do this (403): it needs write access; set a "
                "key with write scope there; nothing more was sent")
    return (f"the API key in {source} was refused (401); check it, or set a valid key there; "
            "nothing more was sent")


def caused_by(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> bool:
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


#: An error answer's body is parsed for its reason only up to this size (its start is shown).
MAX_REASON_BYTES = 64 << 10
#: Byte order marks, and the encoding each one says (the longest first: UTF-32's starts
#: with UTF-16's).
_BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
         (b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.IGNORECASE)


def readable_text(data: bytes, content_type: str = "") -> str | None:
    """`data` (the start of an answer's body: a character cut at its end is dropped) as text,
    in the encoding its byte order mark or its Content-Type's charset says, else UTF-8;
    None when it does not decode as such, or holds a NUL (UTF-16 read as bytes): a text that
    is not what it says cannot be searched for the key, so it is never shown."""
    codec = next((name for bom, name in _BOMS if data.startswith(bom)), None)
    if codec is None:
        match = _CHARSET.search(content_type)
        codec = match.group(1) if match else "utf-8"
    try:
        text = codecs.getincrementaldecoder(codec)("strict").decode(data, final=False)
    except (UnicodeDecodeError, LookupError):
        return None
    return None if "\x00" in text else text


def server_reason(response: requests.Response, content: bytes,
                  clean: Callable[[str], str]) -> str:
    """The server's reason for an error answer, `clean`ed (the key replaced) before it is
    shortened, so that a cut can never leave part of the key behind."""
    try:
        if len(content) > MAX_REASON_BYTES:  # parsed, a large body could fill the memory
            raise ValueError("too long to be a reason")
        body = json.loads(content)
    except (ValueError, RecursionError):  # RecursionError: JSON nested beyond reason
        # Its start only: what is shown is its first 300 characters once cleaned, and
        # cleaning (which replaces the key by `***`) never shortens 16 KB to under 300.
        decoded = readable_text(content[:MAX_REASON_BYTES >> 2],
                                response.headers.get("Content-Type", ""))
        if decoded is None:  # never shown raw: undecoded, the key in it would not be found
            return (f"{clean(response.reason or f'HTTP {response.status_code}')} (an answer "
                    f"of {len(content):,} bytes that is not readable text)")
        text = clean(decoded.strip())
        return text[:300] if text else clean(response.reason or f"HTTP {response.status_code}")
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        if isinstance(detail, list):  # FastAPI-style validation errors
            return clean("; ".join(
                f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}"
                if isinstance(d, dict) else str(d) for d in detail))
        return clean(str(detail))
    return clean(json.dumps(body))[:300]


def _shown(value: Any) -> str:
    """A value from a server's answer as a message shows it: short, whatever it is."""
    text = "nothing" if value is None else repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


def layer_answer_problem(data: Any, sample_id: int, layer_id: int) -> str | None:
    """Why a success answer to a layer write does not prove that the server holds the layer
    asked for (None: it does). The API answers a layer POST or PATCH with the stored layer:
    an object naming the same `sample_id` and `layer_id` and its record's `id` (whole
    numbers). A body that reports an error, is empty, names another layer, or
    gives an id that is not a whole number proves nothing: the write may not be stored."""
    if not isinstance(data, dict) or not data:
        return f"its answer is {'empty' if not data else 'not a record'}"
    if data.get("ok") is False or data.get("error") or data.get("errors"):
        return "its answer reports an error"
    for name, wanted in (("sample_id", sample_id), ("layer_id", layer_id)):
        got = data.get(name)
        if type(got) is not int or got != wanted:
            return f"its answer names {name} {_shown(got)}, not {wanted}"
    record_id = data.get("id")
    if type(record_id) is not int or record_id < 0:
        return f"its answer gives the record id {_shown(record_id)}, not a whole number"
    return None


def sample_answer_problem(data: Any, sample_id: int | None = None) -> str | None:
    """Why a success answer to a target material's POST (or its rename's PATCH, `sample_id`
    given) does not prove the server holds it (None: it does): the answer must be the target
    material, its `sample_id` a whole number (the one renamed)."""
    if not isinstance(data, dict) or not data:
        return f"its answer is {'empty' if not data else 'not a record'}"
    if data.get("ok") is False or data.get("error") or data.get("errors"):
        return "its answer reports an error"
    got = data.get("sample_id")
    if type(got) is not int or got < 0 or (sample_id is not None and got != sample_id):
        return f"its answer names sample_id {_shown(got)}" + (
            f", not {sample_id}" if sample_id is not None else ", not a whole number")
    return None
