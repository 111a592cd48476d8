"""The report workbook technicians read the morning after: what happened to every row.

Sheets: Summary (with a chart of the outcomes), Rows (one per data row of the input, with
every column as read, so failed rows can be fixed and run again), Issues, Not in sheet.

It is built after the run from the outcome, in this process, by rvgsrust-xlsxwriter (a
binding of rust_xlsxwriter): measured on the report of 50,000 rows it writes in a fifth of
XlsxWriter's time (see the README), and it sets up the printed page (fit to width, header on
every page) and the chart. Rows are written in order, one after the other (its constant-memory
mode needs that).
Every value that came from the sheet or the server is written as text, never as a formula,
with control characters made visible. The workbook is written into a private temporary
folder beside the target and renamed into place; that folder is removed on every exit.
This module turns the outcome into plain rows; `report_layout` puts them on the page.
"""

from __future__ import annotations

from itertools import islice
from typing import Any

from ..core.issues import Issue, Severity
from ..core.version import __version__
from ..outcome.results import CheckOutcome, SyncOutcome
from ..outcome.rows import Result
from ..outcome.table import MAX_COLUMNS, MAX_ROWS, RowsTable

ISSUE_COLUMNS = ("Sheet", "Row", "Column", "Cell", "Value", "Severity", "Message")
REMOTE_COLUMNS = ("sample_id", "sample_name", "substrate", "layer_id", "Record id",
                  "composition_string", "element_dict", "orientation", "space_group", "mp_id")
_REMOTE_FIELDS = ("sample_id", "sample_name", "substrate", "layer_id", "id", "composition_string",
                  "element_dict", "orientation", "space_group", "mp_id")

#: The outcome table and chart, in this order; a dry run shows what would be done.
OUTCOMES = (Result.CREATED, Result.UPDATED, Result.UNCHANGED, Result.INVALID, Result.FAILED,
            Result.SKIPPED)
DRY_RUN_OUTCOMES = (Result.WOULD_CREATE, Result.WOULD_UPDATE, *OUTCOMES[2:])
#: A check (`layer-sync check --report`): rows are valid or not; no server was asked.
CHECK_OUTCOMES = (Result.VALID, Result.INVALID)


class ReportContent(RowsTable):
    """What the report says, as plain rows of text and numbers (no workbook calls here): the
    Rows table (`RowsTable`), the Summary, the Issues and what is not in the sheet."""

    def __init__(self, outcome: SyncOutcome | CheckOutcome) -> None:
        super().__init__(outcome.results, outcome.headers, outcome.issues, outcome.key_forms)
        self.outcome = outcome
        self.dry_run = outcome.dry_run
        self.checked = isinstance(outcome, CheckOutcome)
        self.outcomes = (CHECK_OUTCOMES if self.checked else
                         DRY_RUN_OUTCOMES if outcome.dry_run else OUTCOMES)
        self.counts = counts = outcome.counts  # once: it goes through every row
        self.outcome_counts = [(str(name), counts.get(name.counted_as, 0))
                               for name in self.outcomes]

    def summary(self) -> list[tuple[str, Any, str | None]]:
        """The Summary sheet's lines: label, value, and the outcome a count line is of."""
        outcome, counts = self.outcome, self.counts
        sync = outcome if isinstance(outcome, SyncOutcome) else None
        lines: list[tuple[Any, ...]] = [
            ("Result", self.text(outcome.headline)),
            ("Exit code", int(outcome.exit_code)),
            ("Input file", self.text(str(outcome.path))),
            ("Sheet", self.text(outcome.sheet or "")),
        ]
        if sync is not None:
            lines.append(("API URL", self.text(sync.api_url)))
        lines += [
            ("Started", outcome.started.strftime("%Y-%m-%d %H:%M:%S")),
            ("Finished", outcome.finished.strftime("%Y-%m-%d %H:%M:%S")),
            ("Duration (s)", round(outcome.duration_s, 2)),
        ]
        if sync is not None:
            lines.append(("Dry run", "yes: nothing was written" if sync.dry_run else "no"))
        lines += [("Rows", counts["rows"]),
                  *[(name.capitalize(), number, name) for name, number in self.outcome_counts]]
        if sync is not None:  # a check compares nothing with a server and sends nothing
            lines += [
                ("Remote only (not in sheet)", counts["remote_only"]),
                ("Requests", ", ".join(f"{m} {n}" for m, n in sync.requests.items()) or "none"),
                ("Retries", sync.retries),
            ]
            if sync.riding is not None:  # how the writes rode the server
                lines.append(("Server", sync.riding.text))
        lines += [
            ("Unrecognised columns (ignored)",
             self.text(", ".join(outcome.ignored_columns) or "none")),
            ("layer-sync version", __version__),
        ]
        if sync is not None and sync.message:
            lines.insert(1, ("Stopped because", self.text(sync.message)))
        if self.left_out:
            lines.insert(-1, ("Columns left out of Rows", self.left_out_message))
        for label, message in self._cut_messages():
            lines.insert(-1, (label, message))
        return [line if len(line) == 3 else (*line, None) for line in lines]

    @property
    def remote_only(self) -> list[dict[str, Any]]:
        """The server's layers the sheet lacks (none in a check: no server was asked)."""
        return self.outcome.remote_only if isinstance(self.outcome, SyncOutcome) else []

    @property
    def left_out_message(self) -> str:
        last = self.text(self.outcome.headers[len(self.headers)])
        return (f"{self.left_out} column(s) of the sheet, from {last!r} on, are not in the Rows "
                f"sheet: an .xlsx sheet holds at most {MAX_COLUMNS:,} columns")

    def _cut_messages(self) -> list[tuple[str, str]]:
        """(Summary label, message) for each table cut at the rows an .xlsx sheet holds."""
        room = f"an .xlsx sheet holds at most {MAX_ROWS - 1:,} rows below its header"
        cut = []
        if self.rows_left_out:
            first = self.outcome.results[MAX_ROWS - 1].action.row
            cut.append(("Rows left out of Rows",
                        f"{self.rows_left_out:,} row(s) of the input, from row {first.row} of "
                        f"{self.text(first.sheet)!r} on, are not in the Rows sheet: {room}; "
                        "the Summary's counts and the JSON line include them"))
        issues_left_out = self._issues_left_out()
        if issues_left_out:
            cut.append(("Problems left out of Issues",
                        f"{issues_left_out:,} problem(s) are not in the Issues sheet: {room}; "
                        "`layer-sync check` on the sheet lists every one"))
        remote_left_out = max(0, len(self.remote_only) - (MAX_ROWS - 1))
        if remote_left_out:
            cut.append(("Layers left out of Not in sheet",
                        f"{remote_left_out:,} layer(s) on the server are not in the Not in "
                        f"sheet sheet: {room}"))
        return cut

    def _issues_left_out(self) -> int:
        notes = bool(self.left_out) + bool(self.rows_left_out)
        extra = len(self.outcome.issues) + notes - (MAX_ROWS - 1)
        return extra + 1 if extra > 0 else 0  # + 1: the line that says so takes a row too

    def issues(self) -> list[list[Any]]:
        """The Issues sheet; what is left out of the report's tables is one more issue each."""
        issues = self.outcome.issues
        cut = self._issues_left_out()
        lines = [self._issue_values(issue) for issue in islice(issues, len(issues) - cut)]
        notes = [message for label, message in self._cut_messages()
                 if label != "Layers left out of Not in sheet"]
        if self.left_out:
            notes.insert(0, self.left_out_message)
        sheet = self.text(self.outcome.sheet or "")
        lines += [[sheet, "", "", "", "", str(Severity.WARNING), note] for note in notes]
        return lines

    def _issue_values(self, issue: "Issue") -> list[Any]:
        show = self.text
        return [show(issue.sheet), issue.row if issue.row is not None else "",
                show(issue.column or ""), show(issue.cell or ""), show(issue.value),
                str(issue.severity), show(issue.message)]

    def remote(self) -> list[list[Any]]:
        """The Not in sheet sheet: the server's layers the sheet lacks."""
        return [[self.text(record.get(k)) for k in _REMOTE_FIELDS]
                for record in islice(self.remote_only, MAX_ROWS - 1)]


