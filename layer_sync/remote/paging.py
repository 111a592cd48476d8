"""The server's list read whole: every page of it, or refused before anything is written.

The API documents no paging, but a server (a later version, a proxy) that pages its list and
is read as if one page were all of it makes every layer on the later pages look new: each
would be created again. So a list that says it is paged is followed to its end, and one that
cannot be is refused (`ListIncomplete`, exit 2) before the plan is made. A list says it is
paged by any of:

- a `Link` header with a `rel="next"` link (RFC 8288: parameters in any order, quoted or not,
  several relations in one `rel`, several links, a URL relative to the page's);
- a total count larger than what came: `X-Total-Count`, or an envelope's `count`, `total` or
  `total_count` (at its top or in its `meta`);
- an envelope with a next page: `{"results": [...], "next": URL}` (Django REST framework),
  `{"items": [...], "next_page": URL or page number}`, `{"data": [...], "links": {"next":
  URL}}` (JSON:API), or `has_more: true`, `page` < `pages` without one (refused).

Any other JSON object is refused: whether it holds the whole list cannot be told; so is a list
holding an entry that is not an object (a list, a text, a number, null). A next link
is followed only to the API's own scheme, host and port and the list's own path (the key goes
with every request: a link elsewhere would send it to another host); at most `MAX_PAGES`
pages, together no larger once parsed than the client's bound (`jsoncost`); a URL seen twice,
or a page that brings nothing new and still links onwards, is a loop; a count the server gave
is checked against what came in the end. A record seen on two pages (the same `id`: a page's
edge moved while the list was read) is kept once, as last seen.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from ..core.errors import ApiError
from ..core.secrets import shown_url
from .answers import Answer
from .jsoncost import megabytes
from .links import next_link

log = logging.getLogger("layer_sync.api")

#: The most pages a list is read in: 100,000 layers at 100 a page. Past it the list is refused.
MAX_PAGES = 1000
#: The most records a list may hold: twice the largest sheet's rows (a real list is bounded
#: before this by what it takes once parsed, ~110,000 layers: `jsoncost`). Small records
#: cost the plan more than their text says (the index of 3 million `[]` took 660 MB).
MAX_ENTRIES = 200_000
#: The fields of an envelope that hold the page's records.
ENTRY_FIELDS = ("results", "items", "data")
#: The fields that give the total count of records (at the envelope's top, or in its `meta`).
COUNT_FIELDS = ("count", "total", "total_count")
#: Fields an envelope may hold that say nothing the reader needs (links back, page sizes).
QUIET_FIELDS = frozenset({"previous", "prev", "previous_page", "prev_page", "first", "last",
                          "self", "page", "pages", "size", "page_size", "per_page", "limit",
                          "offset", "meta", "links", "has_more", "total_pages", "num_pages"})
#: A field name that sounds like paging: one not understood is refused, not ignored.
_PAGING_WORD = re.compile(r"next|cursor|continu|more|after|token|page|offset", re.IGNORECASE)
_ACTION = ("nothing was written; run again later, and if it happens again, tell the server's "
           "administrator (the API documents one list, not pages)")


class ListIncomplete(ApiError):
    """The server's list cannot be read whole: paged past what can be followed, a count that
    does not match what came, or an answer of another shape. Nothing was written."""

    kind = "list_incomplete"


@dataclass(frozen=True)
class Page:
    """One page of the list: its entries as they came, the absolute URL of the next page
    (None: this is the last), and the total count of records the server gave (None: none)."""

    entries: list[Any]
    next: str | None
    total: int | None


def read_list(get: Callable[[str], Answer], url: str, *, max_cost: int,
              max_pages: int = MAX_PAGES, max_entries: int = MAX_ENTRIES,
              clean: Callable[[str], str] = str) -> list[Any]:
    """Every entry of the list at `url` (absolute), following its pages to the end.

    `get(url)` sends one GET under the retry policy (a page that fails is retried as any GET)
    and returns its `Answer`; `max_cost`: the memory all pages together may take once parsed
    (`Answer.cost`); `clean`: the key removed from a text (URLs come from the server).
    Raises `ListIncomplete` when the list cannot be read whole, ApiError (`answer_too_large`)
    past `max_cost` or `max_entries`, and whatever `get` raises.
    """
    origin = _origin(url)
    seen = {_without_fragment(url)}
    entries: list[Any] = []
    where: dict[Hashable, int] = {}  # a record's identity -> its place in `entries`
    total: int | None = None
    cost = pages = came = 0
    while True:
        answer = get(url)
        pages += 1
        cost += answer.cost
        if cost > max_cost:
            raise ApiError(f"the server's list would take more than {megabytes(max_cost)} of "
                           f"memory once read (after {pages} pages); it was not read whole and "
                           "nothing was written", answer.status, kind="answer_too_large")
        page = parse_page(answer, url, clean, first=came + 1)
        came += len(page.entries)
        if len(entries) + len(page.entries) > max_entries:
            raise ApiError(f"the server's list holds more than {max_entries:,} records, more "
                           "than a run reads; it was not read whole and nothing was written",
                           answer.status, kind="answer_too_large")
        new = _merge(entries, where, page.entries)
        if page.total is not None:
            total = page.total
        if page.next is None:
            break
        target = _without_fragment(page.next)
        if not _same_list(origin, target):
            raise ListIncomplete(
                f"the server's list is paged and its next page is at {_short(target, clean)}, "
                f"not at the list's own address ({_short(url_root(url), clean)}): it was not "
                "followed, as the key would go with it; nothing was written: check that "
                "--api-url is the API's own address", answer.status)
        if target in seen:
            raise ListIncomplete(
                f"the server's list links back to a page already read "
                f"({_short(target, clean)}, after {pages} pages), so its end cannot be "
                f"reached; {_ACTION}", answer.status)
        if pages > 1 and not new:
            raise ListIncomplete(
                f"page {pages} of the server's list brought no record that was not on the "
                f"pages before it, and links to another ({_short(target, clean)}): its pages "
                f"repeat; {_ACTION}", answer.status)
        if pages >= max_pages:
            raise ListIncomplete(f"the server's list has more than {max_pages:,} pages; it "
                                 f"was not read whole and {_ACTION}", answer.status)
        seen.add(target)
        url = target
    if total is not None and total != len(entries):
        raise ListIncomplete(
            f"the server says its list holds {total:,} records, but {len(entries):,} came"
            f"{f' in {pages} pages' if pages > 1 else ''}: the list changed while it was read, "
            f"or part of it was not sent; {_ACTION}", answer.status)
    if pages > 1:
        log.info("read the server's list in %d pages: %d records", pages, len(entries))
    return entries


def parse_page(answer: Answer, url: str, clean: Callable[[str], str] = str, *,
               first: int = 1) -> Page:
    """One page of the list from its answer: a JSON array (paged by its headers, if at all)
    or an envelope of a known shape (see the module's docstring), its entries the list's
    from the `first`-th on. Raises `ListIncomplete`."""
    data, headers, status = answer.data, answer.headers, answer.status
    header_next = _header_next(headers, url, status, clean)
    header_total = _count(headers.get("X-Total-Count"), "the X-Total-Count header", status,
                          clean)
    if isinstance(data, list):
        return Page(_records(data, status, first), header_next, header_total)
    if not isinstance(data, dict):
        raise ListIncomplete(f"the server's list of target materials is not a JSON array (it "
                             f"is {_kind(data)}); nothing was written: is --api-url the API?",
                             status)
    holders = [name for name in ENTRY_FIELDS if isinstance(data.get(name), list)]
    if len(holders) != 1:
        fields = ", ".join(_short(repr(k), clean, 40) for k in list(data)[:8]) or "none"
        raise ListIncomplete(
            f"the server's list of target materials is a JSON object (fields {fields}), not "
            "the array of records the API documents nor a page of one that layer-sync knows "
            f"({', '.join(ENTRY_FIELDS)}); nothing was written: is --api-url the API?", status)
    body_next = _body_next(data, url, status, clean)
    if header_next is not None and body_next is not None and header_next != body_next:
        raise ListIncomplete(
            f"the server's list names two different next pages ({_short(header_next, clean)} "
            f"in its Link header, {_short(body_next, clean)} in its body); {_ACTION}", status)
    body_total = _body_count(data, status, clean)
    if header_total is not None and body_total is not None and header_total != body_total:
        raise ListIncomplete(f"the server's list gives two different counts ({header_total:,} "
                             f"in X-Total-Count, {body_total:,} in its body); {_ACTION}", status)
    following = body_next or header_next
    if following is None:
        _check_no_more(data, holders[0], status, clean)
    return Page(_records(data[holders[0]], status, first), following,
                body_total if body_total is not None else header_total)


def _records(entries: list[Any], status: int | None, first: int) -> list[Any]:
    """`entries` (the list's from the `first`-th on), when every one is a record (a JSON
    object); else `ListIncomplete`.

    An entry that is no object (a list, a text, a number, null) may hide a layer in a form
    nobody can read: left out, its layer would look new and be created again; judged row by
    row, the rows of other layers would still be written from a list not known to be whole.
    So the run stops before any write. (An object of odd fields is a record: the plan holds
    back the rows it may be, `plan.records`.)"""
    for place, entry in enumerate(entries, first):
        if not isinstance(entry, dict):
            shown = ("null" if entry is None else "a list" if isinstance(entry, list)
                     else "text" if isinstance(entry, str) else "a number")
            raise ListIncomplete(
                f"entry {place:,} of the server's list is {shown}, not a record (an object): "
                "whether the list hides a layer in it cannot be told, so nothing was written; "
                "tell the server's administrator (the API documents a list of records)", status)
    return entries


def url_root(url: str) -> str:
    """`url` without its query and fragment: the list's own address."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


# ---------------------------------------------------------------------- the pieces

def _header_next(headers: Mapping[str, str], url: str, status: int | None,
                 clean: Callable[[str], str]) -> str | None:
    """The absolute URL of the `Link` header's next page, or None."""
    value = headers.get("Link")
    if not value:
        return None
    try:
        targets = next_link(value)
    except ValueError as exc:
        if "next" not in value.lower():
            return None  # links to other things, unreadable, say nothing of a next page
        raise ListIncomplete(f"the server's list has a Link header that cannot be read ({exc}: "
                             f"{_short(value, clean)}); {_ACTION}", status) from None
    targets = list(dict.fromkeys(urljoin(url, t) for t in targets))
    if len(targets) > 1:
        raise ListIncomplete(f"the server's list names {len(targets)} different next pages in "
                             f"its Link header; {_ACTION}", status)
    return targets[0] if targets else None


def _body_next(data: dict[str, Any], url: str, status: int | None,
               clean: Callable[[str], str]) -> str | None:
    """The absolute URL of an envelope's next page (`next`, `next_page`, `links.next`)."""
    links = data.get("links")
    candidates = [("next", data.get("next")), ("next_page", data.get("next_page")),
                  ("links.next", links.get("next") if isinstance(links, dict) else None)]
    found: list[str] = []
    for name, value in candidates:
        if isinstance(value, dict) and name == "links.next":  # JSON:API's link object
            value = value.get("href")
        if value is None or value == "":
            continue
        if name == "next_page" and type(value) is int and value > 0:
            # A page number: the same list with `page` set to it.
            parts = urlsplit(url)
            query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                     if k != "page"]
            query.append(("page", str(value)))
            found.append(urlunsplit(parts._replace(query=urlencode(query))))
        elif isinstance(value, str):
            found.append(urljoin(url, value.strip()))
        else:
            raise ListIncomplete(f"the server's list gives its next page as {name} = "
                                 f"{_short(repr(value), clean)}, which is no address; "
                                 f"{_ACTION}", status)
    targets = list(dict.fromkeys(found))
    if len(targets) > 1:
        shown = ", ".join(_short(t, clean) for t in targets)
        raise ListIncomplete(f"the server's list names {len(targets)} different next pages "
                             f"({shown}); {_ACTION}", status)
    return targets[0] if targets else None


def _body_count(data: dict[str, Any], status: int | None,
                clean: Callable[[str], str]) -> int | None:
    """The total count an envelope gives (its top first, then its `meta`), or None."""
    meta = data.get("meta")
    for where, holder in (("", data), ("meta.", meta if isinstance(meta, dict) else {})):
        for name in COUNT_FIELDS:
            if holder.get(name) is not None:
                return _count(holder[name], f"its {where}{name}", status, clean)
    return None


def _count(value: Any, what: str, status: int | None,
           clean: Callable[[str], str]) -> int | None:
    """A total count (a whole number, or digits in a header), or None when not given."""
    if value is None:
        return None
    if isinstance(value, str) and re.fullmatch(r"\s*[0-9]{1,18}\s*", value):
        return int(value)
    if type(value) is int and value >= 0:
        return value
    raise ListIncomplete(f"the server's list gives its count in {what} as "
                         f"{_short(repr(value), clean)}, which is no count; {_ACTION}", status)


def _check_no_more(data: dict[str, Any], holder: str, status: int | None,
                   clean: Callable[[str], str]) -> None:
    """An envelope without a next page that still says there is more (or says it in a field
    not understood) is refused: its other pages cannot be reached."""
    if data.get("has_more") not in (None, False):
        raise ListIncomplete(f"the server's list says it has more records (has_more) but not "
                             f"where they are; {_ACTION}", status)
    page, last = data.get("page"), data.get("pages", data.get("total_pages"))
    if type(page) is int and type(last) is int and page < last:
        raise ListIncomplete(f"the server's list is page {page} of {last} but does not say "
                             f"where the next is; {_ACTION}", status)
    for name, value in data.items():
        if (name in (holder, *COUNT_FIELDS, "next", "next_page") or name in QUIET_FIELDS
                or value is None or value is False or value == ""):
            continue
        if _PAGING_WORD.search(name):
            raise ListIncomplete(f"the server's list has a paging field layer-sync does not "
                                 f"know ({_short(repr(name), clean, 40)}); it cannot be "
                                 f"followed, so {_ACTION}", status)


def _merge(entries: list[Any], where: dict[Hashable, int], page: list[Any]) -> int:
    """Add a page's entries to `entries`; a record already there (by its identity) is
    replaced by the later copy, not added twice. Returns how many were new."""
    new = 0
    for entry in page:
        identity = _identity(entry)
        if identity is not None:
            place = where.get(identity)
            if place is not None:
                entries[place] = entry
                continue
            where[identity] = len(entries)
        entries.append(entry)
        new += 1
    return new


def _identity(entry: Any) -> Hashable | None:
    """What makes a record the same record on two pages: its `id`, or for a target material
    listed without layers, its `sample_id`. None: it cannot be told (kept every time)."""
    if not isinstance(entry, dict):
        return None
    record_id = entry.get("id")
    if type(record_id) is int:
        return ("id", record_id)
    sample_id = entry.get("sample_id")
    if record_id is None and entry.get("layer_id") is None and type(sample_id) is int:
        return ("sample", sample_id)
    return None


def _origin(url: str) -> tuple[str, str, int | None, str, bool]:
    """What a page must share with the list: scheme, host, port, path, and no user name."""
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    try:
        port = parts.port or default
    except ValueError:  # a port that is no number: no list lives there
        port = -1
    return (parts.scheme.lower(), (parts.hostname or "").lower(), port,
            parts.path.rstrip("/"), parts.username is not None or parts.password is not None)


def _same_list(origin: tuple[str, str, int | None, str, bool], url: str) -> bool:
    """Whether `url` is on the list's own scheme, host and port, at its own path."""
    return _origin(url) == origin


def _without_fragment(url: str) -> str:
    return url.split("#", 1)[0]


def _short(text: str, clean: Callable[[str], str], limit: int = 120) -> str:
    """A text from the server for a message: the key removed first, then cut to `limit`."""
    text = clean(shown_url(text))
    return text if len(text) <= limit else text[:limit] + "…"


def _kind(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, str):
        return "text"
    return f"a {type(value).__name__}" if not isinstance(value, bool) else "true or false"
