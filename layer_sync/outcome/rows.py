"""What happened to one sheet row (`RowResult`), in the words users read (`Result`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..plan.actions import Action


class Result(StrEnum):
    """What happened to a row (in a dry run: what would happen)."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    INVALID = "invalid"
    FAILED = "failed"
    SKIPPED = "skipped"
    WOULD_CREATE = "would create"
    WOULD_UPDATE = "would update"
    VALID = "valid"  # `layer-sync check`: every rule passed; nothing compared or sent

    @property
    def counted_as(self) -> str:
        """The JSON line's count this result adds to (a dry run counts what it would do)."""
        return {Result.WOULD_CREATE: "created", Result.WOULD_UPDATE: "updated"}.get(self, self.value)



@dataclass
class RowResult:
    """What happened to one sheet row. `action` is the plan's `Action` for the row."""

    action: Action
    result: Result
    status: int | None = None
    attempts: int = 0
    record_id: int | None = None
    message: str = ""
