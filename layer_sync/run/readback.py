"""After the writes, the server's records are read once more: a layer (or target material)
this run created that the server now holds twice is reported with its record ids.

No lock reaches across machines: two labs' computers syncing copies of one sheet at the same
moment can both create the same layer. The read-back cannot prevent that, but it makes sure
such a night never passes as a success: the rows are errors (exit code 1) naming the records
to delete.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..core.errors import ApiError
from ..core.issues import Issue, Severity
from ..outcome.rows import Result, RowResult
from ..plan.actions import ActionKind
from ..plan.records import ServerIndex
from ..read.rows import row_issue

log = logging.getLogger("layer_sync")


@dataclass(frozen=True)
class Twice:
    """A key the server holds more than once after this run, and its record ids."""

    what: str
    record_ids: tuple[Any, ...]
    result: RowResult


def read_back(results: Sequence[RowResult],
              read_records: Callable[[], list[dict[str, Any]]]) -> tuple[list[Twice], list[Issue]]:
    """The keys this run created (or may have: a create whose answer was lost) that the
    server now holds twice, and an error issue on each of their rows. One GET, only when
    something was created; a read that fails is a warning, never a failed night."""
    wrote = [r for r in results
             if r.result is Result.CREATED or (r.result is Result.FAILED
                                               and r.action.kind is ActionKind.CREATE)]
    if not wrote:
        return [], []
    try:
        index = ServerIndex.build(read_records())
    except ApiError as exc:
        log.warning("could not read the server's records back after the writes (%s): "
                    "whether another run created the same layers is not known", exc)
        return [], []
    twice: list[Twice] = []
    issues: list[Issue] = []
    seen_samples: set[tuple[str, str | None]] = set()
    for result in wrote:
        action = result.action
        key = action.key
        if key is not None:
            records = index.layers.get(key, [])
            if len(records) > 1:
                ids = tuple(r.get("id") for r in records)
                what = f"layer {key[1]} of sample {key[0]}"
                twice.append(Twice(what, ids, result))
                issues.append(row_issue(action.row, Severity.ERROR, "layer_id", _message(what, ids)))
        group = action.new_sample
        if group is not None and group.key not in seen_samples:
            seen_samples.add(group.key)
            ids = tuple(index.named(group.sample_name, group.substrate))
            if len(ids) > 1:
                what = f"target material {group.sample_name!r}"
                twice.append(Twice(what, ids, result))
                issues.append(row_issue(action.row, Severity.ERROR, "sample_name",
                                        _message(what, ids, "sample_ids")))
    for item in twice:
        log.error("after this run the server holds %s %d times (%s)", item.what,
                  len(item.record_ids), ", ".join(map(str, item.record_ids)))
    return twice, issues


def _message(what: str, ids: tuple[Any, ...], named: str = "record ids") -> str:
    shown = ", ".join(map(str, ids[:10])) + (f" and {len(ids) - 10:,} more" if len(ids) > 10
                                              else "")
    return (f"after this run the server holds {what} {len(ids)} times ({named} {shown}): "
            "another run (on another computer?) created it at the same time; keep one and "
            "delete the others on Atomscale")
