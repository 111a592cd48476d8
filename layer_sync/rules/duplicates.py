"""The one duplicate-key rule: a layer named by more than one row makes every such row
invalid (none of them is sent). Applied to the sheet alone (`layer-sync check`) and, by the
plan, to the keys resolved against the server."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Protocol, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


class Located(Protocol):
    """Where a row is: its sheet and its row number."""

    @property
    def sheet(self) -> str: ...

    @property
    def row(self) -> int: ...


def duplicate_keys(items: Iterable[T], key: Callable[[T], K | None]) -> dict[K, list[T]]:
    """The one duplicate-key rule: the keys that more than one item holds, with those items
    (in input order). Items whose key is None name no layer and are left out."""
    # Counted first, so that the common case (every key once) builds no list per key.
    items = list(items)
    keys = [key(item) for item in items]
    counts = Counter(keys)
    by_key: dict[K, list[T]] = defaultdict(list)
    for k, item in zip(keys, items):
        if k is not None and counts[k] > 1:
            by_key[k].append(item)
    return dict(by_key)


def duplicate_message(what: str, rows: Sequence[Located]) -> str:
    if len({r.sheet for r in rows}) == 1:
        where = "rows " + ", ".join(str(r.row) for r in rows)
    else:
        where = ", ".join(f"{r.sheet} row {r.row}" for r in rows)
    return f"{what} appears on {where}; keep one row per layer (none of them is sent)"


