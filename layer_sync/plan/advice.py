"""The reader's advice completed with what the server holds: an orientation a spreadsheet
changed (the number 1, a date) is said together with the server's value of that layer, so
that the hint names what is known ("the server holds 0001: if that is what you meant, …")
and never proposes a value that would change the server by itself. Pure: no network."""

from __future__ import annotations

from collections.abc import Iterable

from ..core.issues import Issue
from ..core.text import describe
from ..read.rows import SheetRow
from ..rules import values
from ..rules.advice import OrientationIssue
from ..rules.cells import ValueProblem, is_blank
from .records import ServerIndex


def server_advice(rows: Iterable[tuple[SheetRow, int | None]], index: ServerIndex,
                  ) -> dict[int, Issue]:
    """For each row (with the target material it was resolved to on the server, or None)
    whose orientation a spreadsheet changed, and whose layer the server holds with an
    orientation: the reader's issue with advice that names the server's value, by the
    reader's issue's id. A layer the server does not hold keeps the reader's advice."""
    advice: dict[int, Issue] = {}
    for row, sample_id in rows:
        if sample_id is None or not row.issues:  # most rows: nothing to look at
            continue
        layer_id = row.values.get("layer_id")
        for issue in row.issues:
            if not isinstance(issue, OrientationIssue) or layer_id is None:
                continue
            records = index.layers.get((sample_id, layer_id))
            held = records[0].get("orientation") if records else None
            if is_blank(held):
                continue
            advice[id(issue)] = issue.with_server(_compact(held))
    return advice


def _compact(held: object) -> str:
    """The server's orientation as the sheet would compare it (`(0 0 1)` -> `001`), or as it
    stands when the rules cannot read it."""
    try:
        return str(values.meaning("orientation", held))
    except ValueProblem:
        return describe(held)
