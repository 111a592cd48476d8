"""The one duplicate-key rule: a layer named by more than one row makes every such row
invalid (none of them is sent). Applied to the sheet alone (`layer-sync check`) and, by the
plan, to the keys resolved against the server."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import TYPE_CHECKING, TypeVar

from ..core.issues import Issue, Severity
from .rows import row_issue

if TYPE_CHECKING:
    from .rows import SheetData, SheetRow

T = TypeVar("T")


def duplicate_keys(items: Iterable[T],
                   key: Callable[[T], Hashable | None]) -> dict[Hashable, list[T]]:
    """The one duplicate-key rule: the keys that more than one item holds, with those items
    (in input order). Items whose key is None name no layer and are left out."""
    # Counted first, so that the common case (every key once) builds no list per key.
    items = list(items)
    keys = [key(item) for item in items]
    counts = Counter(keys)
    by_key: dict[Hashable, list[T]] = defaultdict(list)
    for k, item in zip(keys, items):
        if k is not None and counts[k] > 1:
            by_key[k].append(item)
    return dict(by_key)


def duplicate_message(what: str, rows: Sequence[SheetRow]) -> str:
    if len({r.sheet for r in rows}) == 1:
        where = "rows " + ", ".join(str(r.row) for r in rows)
    else:
        where = ", ".join(f"{r.sheet} row {r.row}" for r in rows)
    return f"{what} appears on {where}; keep one row per layer (none of them is sent)"


def sheet_duplicates(rows: Sequence[SheetRow]) -> list[Issue]:
    """The duplicate-key rule on the sheet alone (`layer-sync check`: no server), in row order.

    Rows are keyed by the sample as the sheet names it (sample_id, or sample_name with
    substrate) and layer_id. `build_plan` applies the same rule to the keys resolved against
    the server, which also catches one layer named once by id and once by name.
    """
    def key(row: SheetRow) -> Hashable | None:
        ref, layer_id = row.sample_ref, row.values.get("layer_id")
        return None if ref is None or layer_id is None else (ref, layer_id)

    issues: dict[int, Issue] = {}
    for (ref, layer_id), group in duplicate_keys(rows, key).items():
        sample = ref[1] if ref[0] == "id" else repr(group[0].values["sample_name"])
        what = f"layer {layer_id} of sample {sample}"
        message = duplicate_message(what, group)
        for row in group:
            issues[id(row)] = row_issue(row, Severity.ERROR, "layer_id", message)
    return [issues[id(row)] for row in rows if id(row) in issues]


def sheet_issues(data: SheetData) -> list[Issue]:
    """Every problem the sheet alone shows, in sheet order: what `layer-sync check` reports
    (the reader's issues and the duplicate-key rule; no server needed)."""
    order = {(row.sheet, row.row): i for i, row in enumerate(data.rows)}
    return sorted([*data.issues, *sheet_duplicates(data.rows)],
                  key=lambda i: order.get((i.sheet, i.row), -1))
