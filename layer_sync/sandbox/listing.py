"""How the sandbox answers `GET /target-materials/`: whole (the API's documented answer), or
as servers that clients get wrong do: paged, with odd records, gzip-encoded, as a bomb.

- Paged (`page_size`): `style` `link` (`?page=N`, `Link` rel=next/prev/first/last and
  `X-Total-Count`), `offset` (`?offset=K&limit=N`, only a `Link`, its parameters in another
  order and unquoted), `results` (Django REST framework: `count`, `next`, `previous`,
  `results`), `items` (`items`, `total`, `page`, `size`, `next_page` as a page number), or
  `data` (JSON:API: `data`, `links.next` relative, `meta.total`).
- A paged list gone wrong (`fault`): `lying-total` (the count says one more than there is),
  `loop` (the last page links back to the first), `offhost` (the first page's next link is on
  another host: `elsewhere`), `short` (the page before the last links nowhere: the count says
  more), `stuck` (every page is the first, each linking onwards), `overlap` (each page after
  the first starts again with the record the page before ended with, as when a record is
  added while the list is read).
- Odd records (`odd`): a field of every layer record holds another shape, round-robin over
  the shapes given (`layer_id:text`, or `text` for layer_id): `text` ("3"), `float` (3.0),
  `bool`, `object`, `list`, `null`, `huge` (past 64 bits), `negative`; or the record is no
  object at all (`ENTRY_SHAPES`, the field ignored): `entry` (a bare string naming it),
  `entry-list` (the record wrapped in a list), `entry-json` (the record as JSON text),
  `entry-number` (its id), `entry-null` (null).
- `gzip`: the answer is gzip-encoded when the client accepts it. `bomb_mb`: the answer is
  that many MB of `[[],[],…]`, gzip-encoded (a few hundred KB on the wire), whatever is stored.
"""

from __future__ import annotations

import argparse
import gzip as _gzip
import json
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urljoin

PAGING_STYLES = ("link", "offset", "results", "items", "data")
LIST_FAULTS = ("lying-total", "loop", "offhost", "short", "stuck", "overlap")
#: Shapes of an entry that is not an object at all.
ENTRY_SHAPES = ("entry", "entry-list", "entry-json", "entry-number", "entry-null")
ODD_SHAPES = ("text", "float", "bool", "object", "list", "null", "huge", "negative",
              *ENTRY_SHAPES)
ODD_FIELDS = ("layer_id", "sample_id", "id")
#: Where `offhost` sends the next page unless told (`Listing.elsewhere`): a name that never
#: resolves (RFC 2606), so that a client that follows it fails instead of reaching anyone.
ELSEWHERE = "http://elsewhere.invalid/"


@dataclass(frozen=True)
class ListAnswer:
    """The list's answer, ready to send: its JSON, its headers, and whether to gzip it."""

    body: bytes
    headers: dict[str, str]
    gzip: bool = False
    #: Already gzip-encoded (a bomb): sent as it is, whatever the client accepts.
    encoded: bool = False

    def encode(self, accept_encoding: str | None) -> tuple[bytes, dict[str, str]]:
        """The bytes to send and their headers, for a request that accepts `accept_encoding`."""
        if self.encoded or (self.gzip and "gzip" in (accept_encoding or "").lower()):
            body = self.body if self.encoded else _gzip.compress(self.body, compresslevel=6)
            return body, {**self.headers, "Content-Encoding": "gzip"}
        return self.body, dict(self.headers)


@dataclass
class Listing:
    """How the list is answered (see the module's docstring); the default: whole, as the API."""

    page_size: int | None = None
    style: str = "link"
    fault: str | None = None
    odd: tuple[str, ...] = ()
    #: Only the layer record at this place (0-based, in the list's order) is made odd.
    odd_only: int | None = None
    gzip: bool = False
    bomb_mb: float | None = None
    elsewhere: str = ELSEWHERE
    _bomb: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.page_size is not None and self.page_size < 1:
            raise ValueError("a page holds at least one record")
        if self.style not in PAGING_STYLES:
            raise ValueError(f"unknown paging style {self.style!r}; choose from "
                             f"{', '.join(PAGING_STYLES)}")
        if self.fault is not None and self.fault not in LIST_FAULTS:
            raise ValueError(f"unknown list fault {self.fault!r}; choose from "
                             f"{', '.join(LIST_FAULTS)}")
        self.odd = tuple(parse_odd(",".join(self.odd))) if self.odd else ()

    @property
    def plain(self) -> bool:
        """Whether the list is answered as the API documents it: whole, as stored."""
        return (self.page_size is None and not self.odd and not self.gzip
                and self.bomb_mb is None)

    def answer(self, stored: bytes, query: str, base_url: str) -> ListAnswer | bytes:
        """The answer to `GET /target-materials/?{query}`, from the stored list's JSON."""
        if self.bomb_mb is not None:
            return ListAnswer(self._bomb_bytes(), {}, encoded=True)
        if self.plain:
            return stored
        entries: list[Any] = json.loads(stored)
        if self.odd:
            entries = odd_records(entries, self.odd, self.odd_only)
        if self.page_size is None:
            return ListAnswer(json.dumps(entries).encode(), {}, gzip=self.gzip)
        body, headers = self._page(entries, parse_qs(query), urljoin(base_url,
                                                                     "target-materials/"))
        return ListAnswer(json.dumps(body).encode(), headers, gzip=self.gzip)

    # ------------------------------------------------------------------ pages
    def _page(self, entries: list[Any], query: dict[str, list[str]],
              url: str) -> tuple[Any, dict[str, str]]:
        size, total = int(self.page_size or 1), len(entries)
        pages = max(1, math.ceil(total / size))
        if self.style == "offset":
            number = _number(query, "offset", 0) // size + 1
        else:
            number = max(1, _number(query, "page", 1))
        start = 0 if self.fault == "stuck" else (number - 1) * size
        if self.fault == "overlap":
            start -= number - 1  # each page repeats the last record of the one before
        chunk = entries[start:start + size]
        following: int | None = None if start + size >= total else number + 1
        if self.fault == "stuck":
            following = number + 1  # on and on, each page the first again
        elif self.fault == "short" and number == pages - 1:
            following = None
        elif self.fault == "loop" and following is None:
            following = number  # the last page links to itself
        counted = total + 1 if self.fault == "lying-total" else total
        link = self._link(url, following, size)
        if self.fault == "offhost" and following is not None:
            link = urljoin(self.elsewhere, f"target-materials/?page={following}")
        return self._shape(chunk, link, following, counted, number, size, pages, url)

    def _link(self, url: str, number: int | None, size: int) -> str | None:
        if number is None:
            return None
        if self.style == "offset":
            return f"{url}?offset={(number - 1) * size}&limit={size}"
        if self.style == "data":
            return f"/target-materials/?page={number}"  # relative, as JSON:API allows
        return f"{url}?page={number}"

    def _shape(self, chunk: list[Any], link: str | None, following: int | None, counted: int,
               number: int, size: int, pages: int, url: str) -> tuple[Any, dict[str, str]]:
        style = self.style
        if style == "link":
            links = [f'<{url}?page=1>; rel="first"', f'<{url}?page={pages}>; rel="last"']
            if number > 1:
                links.insert(0, f'<{url}?page={number - 1}>; rel="prev"')
            if link is not None:
                links.append(f'<{link}>; rel="next"')
            return chunk, {"Link": ", ".join(links), "X-Total-Count": str(counted)}
        if style == "offset":
            headers = {"Link": f'<{link}>; title="next page"; rel=next'} if link else {}
            return chunk, headers
        if style == "results":
            previous = f"{url}?page={number - 1}" if number > 1 else None
            return {"count": counted, "next": link, "previous": previous, "results": chunk}, {}
        if style == "items":
            # A page number, as such servers give it; a link elsewhere needs the URL form.
            next_page: Any = link if self.fault == "offhost" else following
            return {"items": chunk, "total": counted, "page": number, "size": size,
                    "next_page": next_page}, {}
        return {"data": chunk, "links": {"self": f"{url}?page={number}", "next": link},
                "meta": {"total": counted}}, {}

    def _bomb_bytes(self) -> bytes:
        """`bomb_mb` MB of `[[],[],…]`, gzip-encoded (made once, in 1 MB pieces)."""
        if self._bomb is None:
            piece = b"[]," * ((1 << 20) // 3)
            squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)
            parts = [squeeze.compress(b"[")]
            for _ in range(max(1, int(float(self.bomb_mb or 1) * (1 << 20) / len(piece)))):
                parts.append(squeeze.compress(piece))
            parts.append(squeeze.compress(b"[]]"))
            parts.append(squeeze.flush())
            self._bomb = b"".join(parts)
        return self._bomb


def _number(query: dict[str, list[str]], name: str, default: int) -> int:
    try:
        return max(0, int(query.get(name, [str(default)])[0]))
    except ValueError:
        return default


# ---------------------------------------------------------------------- odd records

def parse_odd(text: str) -> list[str]:
    """`"text, sample_id:float"` -> `["layer_id:text", "sample_id:float"]`; raises
    ValueError for an unknown field or shape."""
    found = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        name, _, shape = item.rpartition(":")
        name = name or "layer_id"
        if name not in ODD_FIELDS or shape not in ODD_SHAPES:
            raise ValueError(f"unknown odd record {item!r}: give [FIELD:]SHAPE, FIELD one of "
                             f"{', '.join(ODD_FIELDS)}, SHAPE one of {', '.join(ODD_SHAPES)}")
        found.append(f"{name}:{shape}")
    return found


def odd_records(entries: Sequence[Any], odd: Sequence[str], only: int | None = None) -> list[Any]:
    """`entries` with every layer record's field made odd, round-robin over `odd`
    (`FIELD:SHAPE`), or only the `only`-th layer record (0-based); target materials listed
    without layers are left as they are."""
    out: list[Any] = []
    turn = 0
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("layer_id") is None:
            out.append(entry)
            continue
        name, _, shape = odd[turn % len(odd)].partition(":")
        turn += 1
        out.append(_odd_entry(entry, name, shape) if only in (None, turn - 1) else entry)
    return out


def _odd_entry(entry: dict[str, Any], name: str, shape: str) -> Any:
    value = entry.get(name)
    number = value if type(value) is int else 0
    if shape in ENTRY_SHAPES:
        return {"entry": f"layer {entry.get('layer_id')} of sample {entry.get('sample_id')}",
                "entry-list": [entry], "entry-json": json.dumps(entry),
                "entry-number": entry.get("id"), "entry-null": None}[shape]
    odd: Any = {
        "text": str(number), "float": float(number), "bool": True, "object": {"value": number},
        "list": [number], "null": None, "huge": number + 2**64, "negative": -number,
    }[shape]
    return {**entry, name: odd}


# ---------------------------------------------------------------------- the command line

def add_listing_arguments(parser: argparse.ArgumentParser) -> None:
    """`layer-sync sandbox`'s options for how the list is answered."""
    group = parser.add_argument_group("the list's answer (to test clients against servers "
                                      "that page it, or send odd records)")
    group.add_argument("--page-size", type=int, default=None, metavar="N",
                       help="answer the list in pages of N records (default: whole)")
    group.add_argument("--paging", choices=PAGING_STYLES, default="link",
                       help="how the pages say there is more: Link and X-Total-Count with "
                            "?page= (link, the default), Link with ?offset= (offset), or an "
                            "envelope: results/next (results), items/next_page (items), "
                            "data/links.next (data)")
    group.add_argument("--list-fault", choices=LIST_FAULTS, default=None,
                       help="a paged list gone wrong: a count one too many (lying-total), a "
                            "loop, a next link to another host (offhost), a page that stops "
                            "early (short), pages that never move on (stuck), pages that "
                            "overlap by a record (overlap)")
    group.add_argument("--odd-records", default=None, metavar="SHAPES",
                       help="every layer record's layer_id (or FIELD:SHAPE: sample_id, id) in "
                            f"another shape, in turn: {','.join(ODD_SHAPES)}")
    group.add_argument("--gzip", action="store_true",
                       help="gzip the list's answer when the client accepts it")
    group.add_argument("--list-bomb", type=float, default=None, metavar="MB",
                       help="answer the list with MB megabytes of [[],[],...] gzip-encoded")


def listing_from_arguments(args: argparse.Namespace) -> Listing:
    """The `Listing` the options of `add_listing_arguments` ask for. Raises ValueError."""
    if args.page_size is not None and args.page_size < 1:
        raise ValueError("--page-size must be 1 or more")
    if args.list_bomb is not None and not 0 < args.list_bomb <= 4096:
        raise ValueError("--list-bomb must be between 0 and 4096 (MB)")
    return Listing(page_size=args.page_size, style=args.paging, fault=args.list_fault,
                   odd=tuple(parse_odd(args.odd_records or "")), gzip=args.gzip,
                   bomb_mb=args.list_bomb)
