"""`check_file`: what `layer-sync check` does. Every sheet rule, offline.

The sheet is read exactly as `sync_file` reads it (formats, headers, values, duplicate keys,
gaps in a stack), and nothing else happens: no key, no network, no lock. The outcome lists
every row and every problem with its cell; `exit_code` is 0 when no problem is an error, 1
otherwise (a file that cannot be read at all raises InputFileError, exit code 2).
"""

from __future__ import annotations

import datetime as _dt
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ExitCode, ReportError
from .paths import check_report_path
from .redaction import forms_of
from .outcome import ActionKind, Issue, Result, RowResult, Severity, SyncOutcome, plural

#: What the report's "API URL" line says for a check: no server was asked.
NOT_CONTACTED = "not contacted (layer-sync check reads the sheet only)"


@dataclass
class CheckOutcome:
    """What `check_file` found: the rows as read and every problem, each tied to its cell."""

    path: Path
    sheet: str
    header_row: int
    headers: list[str]
    ignored_columns: list[str]
    rows: list[Any]  # sheet.SheetRow
    issues: list[Issue]
    started: _dt.datetime
    finished: _dt.datetime
    duration_s: float = 0.0
    report: Path | None = None
    report_error: str | None = None
    #: The forms of the keys the report writes as `***` (`redaction.key_forms`).
    key_forms: tuple[str, ...] = field(default=(), repr=False)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == Severity.ERROR]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity != Severity.ERROR]

    @property
    def invalid_rows(self) -> int:
        bad = {(i.sheet, i.row) for i in self.errors}
        return sum(1 for row in self.rows if (row.sheet, row.row) in bad)

    @property
    def valid_rows(self) -> int:
        return len(self.rows) - self.invalid_rows

    @property
    def exit_code(self) -> ExitCode:
        """0: no errors (warnings allowed); 1: some error, in a row or about the file."""
        return ExitCode.ROWS_NEED_ATTENTION if self.errors else ExitCode.OK

    def as_sync_outcome(self) -> SyncOutcome:
        """The outcome the report writer takes: every row "skipped" by the server side (nothing
        was compared or sent) or "invalid", with the check's own headline and exit code."""
        from .plan import Action

        # Each row's errors (its cells' and the duplicate-key rule's), grouped once: going over
        # every issue for every row took 158 s for 10,000 invalid rows.
        by_row: dict[tuple[str, int | None], list[Issue]] = {}
        for issue in self.errors:
            by_row.setdefault((issue.sheet, issue.row), []).append(issue)
        results = []
        for row in self.rows:
            errors = by_row.get((row.sheet, row.row), [])
            if not errors:
                action = Action(row, ActionKind.CHECKED, layer_id=row.values.get("layer_id"),
                                sample_id=row.values.get("sample_id"))
                results.append(RowResult(action, Result.VALID, message="every rule passed "
                                         "(checked offline, not compared with the server)"))
            else:
                action = Action(row, ActionKind.CHECKED, layer_id=row.values.get("layer_id"),
                                sample_id=row.values.get("sample_id"))
                message = "; ".join(i.message for i in errors)
                results.append(RowResult(action, Result.INVALID, message=message))
        return _CheckReport(path=self.path, api_url=NOT_CONTACTED, dry_run=True,
                            started=self.started, finished=self.finished,
                            duration_s=self.duration_s, sheet=self.sheet,
                            headers=[h for h in self.headers if h],
                            ignored_columns=self.ignored_columns, results=results,
                            issues=self.issues, check=self, key_forms=self.key_forms)


@dataclass
class _CheckReport(SyncOutcome):
    """A SyncOutcome whose headline and exit code are the check's: its rows are valid or
    invalid, and no server was asked (the report leaves out what only a sync has)."""

    check: CheckOutcome | None = field(default=None, repr=False)
    checked = True  # read by the report

    @property
    def exit_code(self) -> ExitCode:  # type: ignore[override]
        return self.check.exit_code if self.check is not None else ExitCode.OK

    @property
    def headline(self) -> str:  # type: ignore[override]
        check = self.check
        if check is None:
            return ""
        return (f"checked offline: {plural(len(check.rows), 'row')}, {check.valid_rows} valid, "
                f"{check.invalid_rows} invalid; {plural(len(check.errors), 'error')}, "
                f"{plural(len(check.warnings), 'warning')}; nothing was sent")


def check_file(path: str | os.PathLike, sheet: str | Sequence[str] | None = None, *,
               all_sheets: bool = False, columns: Mapping[str, str] | None = None,
               report: str | os.PathLike | None = None,
               clock: Callable[[], float] = time.monotonic,
               now: Callable[[], _dt.datetime] = _dt.datetime.now,
               secrets: Iterable[str] = ()) -> CheckOutcome:
    """Check a sheet against every rule, offline; write the report to `report` if given.

    `columns` maps a lab's header names to fields (`{"Film": "composition_string"}`).
    `secrets`: keys the report writes as `***` wherever the sheet holds them (the command
    line passes the API key of the environment: a check needs none, but a sheet may hold it).
    Raises InputFileError (exit code 2) for a file that cannot be read or has no header.
    A report that cannot be written is not raised: `report_error` says why.
    """
    from .duplicates import sheet_issues
    from .sheet import read_stacks

    if report is not None:
        check_report_path(report, inputs=[path])
    started_at, started = now(), clock()
    data = read_stacks(path, sheet, all_sheets=all_sheets, columns=columns)
    outcome = CheckOutcome(path=Path(path), sheet=data.sheet, header_row=data.header_row,
                           headers=list(data.headers), ignored_columns=list(data.ignored_columns),
                           rows=data.rows, issues=sheet_issues(data), started=started_at,
                           finished=now(), duration_s=clock() - started,
                           key_forms=forms_of(secrets))
    if report is not None:
        from .report import write_report

        try:
            outcome.report = write_report(outcome.as_sync_outcome(), report)
        except ReportError as exc:
            outcome.report_error = str(exc)
        outcome.finished, outcome.duration_s = now(), clock() - started
    return outcome
