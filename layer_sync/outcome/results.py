"""What a run produced: `SyncOutcome` (`sync_file`, `sync_frame`) and `CheckOutcome`
(`check_file`). Both hold a result per data row and every problem, and offer the same views:
`counts`, `exit_code`, `headline`, `to_dict()`, `to_json()` (a string) and `to_frame()`.
"""

from __future__ import annotations

import datetime as _dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import ExitCode
from ..core.issues import Issue, Severity
from ..core.secrets import NO_KEYS, Redactor
from ..core.text import plural
from ..plan import named
from ..plan.named import NamedStack
from . import jsonline
from .rows import Result, RowResult
from .table import RowsTable, rows_frame

if TYPE_CHECKING:
    import pandas as pd

#: The counts of a sync's JSON line, in its order.
COUNT_NAMES = jsonline.SYNC_COUNTS


@dataclass
class Outcome:
    """What every run has: the input, a result per data row, every problem, the report."""

    path: Path
    started: _dt.datetime
    finished: _dt.datetime
    duration_s: float = 0.0
    sheet: str | None = None
    #: The sheets read, in order (a CSV: its file name).
    sheets: list[str] = field(default_factory=list)
    #: Every header of the sheet read, in order (the Rows table's columns as read).
    headers: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    results: list[RowResult] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    report: Path | None = None
    report_error: str | None = None
    #: The run's keys (`core.secrets.Redactor`), that the report and every view write
    #: as `***`, wherever the sheet or the server put them.
    redactor: Redactor = field(default=NO_KEYS, repr=False, compare=False)

    dry_run = True  # a check sends nothing; SyncOutcome says per run

    @property
    def counts(self) -> dict[str, int]:
        raise NotImplementedError

    @property
    def exit_code(self) -> ExitCode:
        raise NotImplementedError

    @property
    def headline(self) -> str:
        raise NotImplementedError

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == Severity.ERROR]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity != Severity.ERROR]

    @property
    def reason(self) -> tuple[str, str]:
        """Why the run ended as it did: a stable word (`jsonline.REASONS`) and one line."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """The JSON line's fields, as a dict (see `outcome.jsonline` for each)."""
        raise NotImplementedError

    def to_json(self) -> str:
        """The JSON line: one line of JSON, as `--json` prints it."""
        return jsonline.dumps(self.to_dict())

    def rows_table(self) -> RowsTable:
        """The report's Rows table (`outcome.table.RowsTable`)."""
        return RowsTable(self.results, self.headers, self.issues, self.redactor)

    def to_frame(self) -> pd.DataFrame:
        """The Rows table as a pandas DataFrame: one row per data row, every column (the
        report's Rows sheet, less compact; needs pandas)."""
        return rows_frame(self.rows_table())

    def _tally(self) -> Counter[Result]:
        # A few distinct results, each named once (not one Enum call a row; this runs several
        # times per run, over every row).
        return Counter(result.result for result in self.results)


@dataclass(frozen=True)
class Riding:
    """How a sync rode the server: the most writes in flight at once, the limit it ended at
    (N with --concurrency), whether that limit adapted, how often the server asked to slow
    down (a 429, a 503 with Retry-After), and the pace it ended at (requests a second, and
    whether the server stated it; None: no pace was needed)."""

    most_in_flight: int = 0
    limit: int = 0
    adaptive: bool = False
    slow_downs: int = 0
    pace_per_s: float | None = None
    pace_stated: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The JSON line's `pacing` field (see `jsonline.FIELDS`)."""
        return {"most_in_flight": self.most_in_flight, "limit": self.limit,
                "adaptive": self.adaptive, "slow_downs": self.slow_downs,
                "pace_per_s": round(self.pace_per_s, 1) if self.pace_per_s else None}

    @property
    def text(self) -> str:
        """One line in plain words, after "server: " on the terminal and in the report's
        Summary: `took up to 24 writes at once; asked us to slow down 3 times; we then kept
        to 38 requests a second, the pace it stated` (the JSON line's `pacing` has the
        figures: the limit it ended at, whether it adapted)."""
        if self.most_in_flight == 0:
            took = "no writes were needed"
        elif self.most_in_flight == 1:
            took = "took 1 write at a time"
        else:
            took = f"took up to {self.most_in_flight} writes at once"
        if not self.adaptive and self.limit:
            took += f" (--concurrency {self.limit})"
        line = f"{took}; " + (f"asked us to slow down {plural(self.slow_downs, 'time')}"
                              if self.slow_downs else "never asked us to slow down")
        if self.pace_per_s:
            line += (f"; we then kept to {self.pace_per_s:.1f} requests a second"
                     + (", the pace it stated" if self.pace_stated else ""))
        return line


@dataclass
class SyncOutcome(Outcome):
    """Everything a sync did: per-row results, counts, requests, the report, the exit code."""

    api_url: str = ""
    dry_run: bool = False
    remote_only: list[dict[str, Any]] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    message: str | None = None  # why the run stopped early (exit code 2)
    fatal: bool = False
    #: Why it stopped early, as a stable word (`jsonline.REASONS`): `key_refused`, `api_down`…
    reason_kind: str | None = None
    #: The command that made it: "sync", or "demo".
    command: str = "sync"
    #: Layers (and target materials) this run created that the server holds twice after it,
    #: found by the read-back (`run.readback`): their rows carry an error naming the records.
    duplicates: int = 0
    #: The signal that stopped the run (SIGTERM, SIGHUP, SIGINT), if one did: exit 128 + it.
    stop_signal: int | None = None
    #: How the writes rode the server (None: nothing was written, e.g. a dry run).
    riding: Riding | None = None

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(COUNT_NAMES, 0)
        counts["rows"] = len(self.results)
        for value, number in self._tally().items():
            name = Result(value).counted_as
            counts[name] = counts.get(name, 0) + number
        counts["remote_only"] = len(self.remote_only)
        counts["duplicates"] = self.duplicates
        counts["matched_by_name"] = len(self.matched_by_name)
        return counts

    @property
    def matched_by_name(self) -> list[NamedStack]:
        """The target materials that rows without a sample_id were found by, by name (and
        substrate), each with its rows: `LSMO on LAO / LaAlO3 → target material 102`."""
        return named.matched_by_name(result.action for result in self.results)

    @property
    def exit_code(self) -> ExitCode:
        if self.stop_signal is not None:
            return ExitCode.for_signal(self.stop_signal)
        # A report that could not be written is a run not done in full: the night left no
        # record, and monitoring must learn of it even when every row is in sync.
        if self.fatal or self.report_error is not None:
            return ExitCode.RUN_INCOMPLETE
        counts = self.counts
        if counts["invalid"] or counts["failed"] or counts["skipped"] or self.duplicates:
            return ExitCode.ROWS_NEED_ATTENTION
        return ExitCode.OK

    @property
    def headline(self) -> str:
        c = self.counts
        if self.fatal:
            return f"Stopped: {self.message}"
        verb = "would be " if self.dry_run else ""
        twice = (f"; {plural(self.duplicates, 'layer')} this run created "
                 f"{'is' if self.duplicates == 1 else 'are'} now on the server twice"
                 if self.duplicates else "")
        return (f"{plural(c['rows'], 'row')}: {c['created']} {verb}created, {c['updated']} "
                f"{verb}updated, {c['unchanged']} unchanged, {c['invalid']} invalid, "
                f"{c['failed']} failed, {c['skipped']} skipped; "
                f"{plural(c['remote_only'], 'layer')} on the server not in the sheet{twice}")

    @property
    def reason(self) -> tuple[str, str]:
        code = self.exit_code
        if self.stop_signal is not None:
            return jsonline.signal_kind(int(code)), self.message or self.headline
        if self.fatal:
            return self.reason_kind or "run_incomplete", self.message or self.headline
        if self.report_error is not None:
            return "report_unwritable", self.report_error
        counts = self.counts
        for kind, name in (("duplicates_found", "duplicates"), ("rows_failed", "failed"),
                           ("rows_skipped", "skipped"), ("rows_invalid", "invalid")):
            if counts[name]:
                return kind, self.headline
        return "ok", self.headline

    def to_dict(self) -> dict[str, Any]:
        kind, message = self.reason
        return jsonline.Line(
            command=self.command, started=self.started, finished=self.finished,
            duration_s=self.duration_s, input_path=str(self.path), sheets=self.sheets,
            api_url=self.api_url, dry_run=self.dry_run, counts=self.counts,
            requests=self.requests, retries=self.retries,
            report=str(self.report) if self.report else None, exit_code=int(self.exit_code),
            kind=kind, message=message, pacing=(self.riding or Riding()).to_dict()).fields()


@dataclass
class CheckOutcome(Outcome):
    """What `check_file` found: a result per data row (valid or invalid: nothing was compared
    with a server or sent) and every problem, each tied to its cell."""

    header_row: int = 0
    #: The stacks the sheet names without a sample_id (`plan.named.NamedStack`), with the
    #: server's target materials of each name when the server answered (`server_answered`).
    named_stacks: list[NamedStack] = field(default_factory=list)
    #: The API whose list was read (with a key known and not `offline`), or None.
    api_url: str | None = None
    #: True when the server's list was read: the stacks' sample_ids are the server's.
    server_answered: bool = False
    #: Why the server was not asked, or what went wrong when it was (None: it answered, or
    #: there was nothing to ask).
    server_note: str | None = None
    #: HTTP requests sent, by method (a GET of the server's list, or none).
    requests: dict[str, int] = field(default_factory=dict)

    @property
    def new_stacks(self) -> list[NamedStack] | None:
        """The stacks the server does not have yet (created only with --create-samples), or
        None when that cannot be told (offline)."""
        if not self.server_answered:
            return None
        return [stack for stack in self.named_stacks if not stack.sample_ids]

    @property
    def invalid_rows(self) -> int:
        return self._tally()[Result.INVALID]

    @property
    def valid_rows(self) -> int:
        return len(self.results) - self.invalid_rows

    @property
    def counts(self) -> dict[str, int]:
        return {"rows": len(self.results), "valid": self.valid_rows,
                "invalid": self.invalid_rows, "errors": len(self.errors),
                "warnings": len(self.warnings)}

    @property
    def exit_code(self) -> ExitCode:
        """0: no errors (warnings allowed); 1: some error, in a row or about the file; 2: the
        report could not be written."""
        if self.report_error is not None:
            return ExitCode.RUN_INCOMPLETE
        return ExitCode.ROWS_NEED_ATTENTION if self.errors else ExitCode.OK

    @property
    def headline(self) -> str:
        c = self.counts
        how, sent = (("checked, the server's list read", "nothing was written")
                     if self.server_answered else ("checked offline", "nothing was sent"))
        return (f"{how}: {plural(c['rows'], 'row')}, {c['valid']} valid, "
                f"{c['invalid']} invalid; {plural(c['errors'], 'error')}, "
                f"{plural(c['warnings'], 'warning')}; {sent}")

    @property
    def reason(self) -> tuple[str, str]:
        if self.report_error is not None:
            return "report_unwritable", self.report_error
        return ("rows_invalid" if self.errors else "ok"), self.headline

    def to_dict(self) -> dict[str, Any]:
        kind, message = self.reason
        return jsonline.Line(
            command="check", started=self.started, finished=self.finished,
            duration_s=self.duration_s, input_path=str(self.path), sheets=self.sheets,
            api_url=self.api_url, dry_run=True, counts=self.counts, requests=self.requests,
            retries=0,
            report=str(self.report) if self.report else None, exit_code=int(self.exit_code),
            kind=kind, message=message).fields()
