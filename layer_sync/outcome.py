"""What a run produces, shared by the modules that make it and the ones that show it.

The row states and severities are enums here, so that `plan`, `apply`, `sync`, `report` and
the command line all speak of one set of names (their values are the words users read).
"""

from __future__ import annotations

import datetime as _dt
import json
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import values
from .errors import ExitCode

if TYPE_CHECKING:
    from .sheet import SheetRow


class Severity(StrEnum):
    """How bad a problem is: an error makes its row invalid, a warning does not."""

    ERROR = "error"
    WARNING = "warning"


class ActionKind(StrEnum):
    """What the plan decided for a row."""

    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    INVALID = "invalid"
    SKIPPED = "skipped"  # nothing could be decided (the server's records could not be read)
    CHECKED = "checked"  # `layer-sync check`: the sheet's rules only, no server


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


#: The counts of the JSON line, in its order.
COUNT_NAMES = ("rows", "created", "updated", "unchanged", "invalid", "failed", "skipped",
               "remote_only")


@dataclass
class Issue:
    """One problem, tied to where the technician can fix it."""

    sheet: str
    row: int | None
    column: str | None
    cell: str | None
    value: str
    severity: Severity
    message: str

    @property
    def location(self) -> str:
        """`Stacks!F12` for a sheet's cell; `DataFrame[3, 'orientation']` for a frame's (whose
        cell is its `[index, column]` subscript, see `frames.read_frame`)."""
        if self.cell and self.cell.startswith("["):
            return f"{self.sheet}{self.cell}"
        where = f"{self.sheet}!{self.cell}" if self.cell else (
            f"{self.sheet} row {self.row}" if self.row else self.sheet)
        return where


def row_issue(row: SheetRow, severity: Severity, field_name: str | None, message: str) -> Issue:
    """An issue located at a row's cell for `field_name` (the row itself is not changed)."""
    return Issue(row.sheet, row.row, row.columns.get(field_name) if field_name else None,
                 row.cells.get(field_name) if field_name else None,
                 values.describe(row.raw.get(field_name)) if field_name else "", severity, message)


@dataclass
class Change:
    """One field the sheet changes: the server's value and the sheet's (`orientation: 001 → 111`)."""

    field: str
    old: Any
    new: Any

    def __str__(self) -> str:
        old = values.describe(self.old) if self.old is not None else "(blank)"
        return f"{self.field}: {old} \u2192 {values.describe(self.new)}"


@dataclass
class RowResult:
    """What happened to one sheet row. `action` is the plan's `Action` for the row."""

    action: Any
    result: Result
    status: int | None = None
    attempts: int = 0
    record_id: int | None = None
    message: str = ""


@dataclass
class SyncOutcome:
    """Everything a run did: per-row results, counts, requests, the report, the exit code."""

    path: Path
    api_url: str
    dry_run: bool
    started: _dt.datetime
    finished: _dt.datetime
    duration_s: float = 0.0
    sheet: str | None = None
    headers: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    results: list[RowResult] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    remote_only: list[dict[str, Any]] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    report: Path | None = None
    report_error: str | None = None
    message: str | None = None  # why the run stopped early (exit code 2)
    fatal: bool = False
    #: The signal that stopped the run (SIGTERM, SIGHUP, SIGINT), if one did: exit 128 + it.
    stop_signal: int | None = None
    #: The forms of the run's API key (`redaction.key_forms`): the report writes each as `***`,
    #: wherever the sheet or the server put it.
    key_forms: tuple[str, ...] = field(default=(), repr=False)

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(COUNT_NAMES, 0)
        counts["rows"] = len(self.results)
        # Tallied first: a few distinct results, each named once (not one Enum call a row;
        # this runs several times per run, over every row).
        for value, number in Counter(result.result for result in self.results).items():
            name = Result(value).counted_as
            counts[name] = counts.get(name, 0) + number
        counts["remote_only"] = len(self.remote_only)
        return counts

    @property
    def exit_code(self) -> ExitCode:
        if self.stop_signal is not None:
            return ExitCode.for_signal(self.stop_signal)
        # A report that could not be written is a run not done in full: the night left no
        # record, and monitoring must learn of it even when every row is in sync.
        if self.fatal or self.report_error is not None:
            return ExitCode.RUN_INCOMPLETE
        counts = self.counts
        if counts["invalid"] or counts["failed"] or counts["skipped"]:
            return ExitCode.ROWS_NEED_ATTENTION
        return ExitCode.OK

    @property
    def headline(self) -> str:
        c = self.counts
        if self.fatal:
            return f"Stopped: {self.message}"
        verb = "would be " if self.dry_run else ""
        text = (f"{plural(c['rows'], 'row')}: {c['created']} {verb}created, {c['updated']} "
                f"{verb}updated, {c['unchanged']} unchanged, {c['invalid']} invalid, "
                f"{c['failed']} failed, {c['skipped']} skipped; "
                f"{plural(c['remote_only'], 'layer')} on the server not in the sheet")
        return text

    def to_json(self) -> dict[str, Any]:
        counts = self.counts
        return {**counts,
                "requests": {m: self.requests.get(m, 0) for m in ("GET", "POST", "PATCH")},
                "retries": self.retries, "duration_s": round(self.duration_s, 2),
                "dry_run": self.dry_run, "report": str(self.report) if self.report else None,
                "exit_code": int(self.exit_code)}

    def json_line(self) -> str:
        return json.dumps(self.to_json())

    def to_frame(self) -> Any:
        """The report's Rows sheet as a pandas DataFrame (see `frames.outcome_frame`)."""
        from .frames import outcome_frame

        return outcome_frame(self)


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`1 row`, `2 rows`, `0 rows` (`nouns`: an irregular plural)."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def empty_json(dry_run: bool = False, exit_code: int = int(ExitCode.RUN_INCOMPLETE)) -> str:
    """The JSON line for a run that never started (zeros), e.g. bad arguments."""
    payload: dict[str, Any] = dict.fromkeys(COUNT_NAMES, 0)
    payload.update({"requests": {"GET": 0, "POST": 0, "PATCH": 0}, "retries": 0,
                    "duration_s": 0.0, "dry_run": dry_run, "report": None, "exit_code": exit_code})
    return json.dumps(payload)
