"""The report workbook technicians read the morning after: what happened to every row.

Sheets: Summary (with a chart of the outcomes and the exit code in words), Rows (every data
row of the input accounted for: each row that has something to say on a line of its own with
its layer, what happened and its columns as read, so it can be fixed and run again; rows that
need nothing, unchanged or valid, gathered a sample's consecutive rows to a line), Issues,
Not in sheet.

It is built after the run from the outcome, in this process, by XlsxWriter (pure Python, on
every platform), which also sets up the printed page and the chart. Rows are written in
order, one after the other (its constant-memory mode needs that).
Every value that came from the sheet or the server is written as text, never as a formula,
with control characters made visible. The workbook is written into a private temporary
folder beside the target and renamed into place; that folder is removed on every exit.
This module turns the outcome into plain rows; `layout` puts them on the page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

from ..core.errors import ExitCode
from ..core.issues import Issue, Severity
from ..core.text import plural
from ..core.version import __version__
from ..outcome.results import CheckOutcome, SyncOutcome
from ..outcome.rows import Result, RowResult
from ..outcome.table import MAX_COLUMNS, MAX_ROWS, RowsTable, exact_number
from ..plan.actions import ActionKind

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

#: The Rows sheet's own columns: the row, its layer, what happened to it (once), and why; the
#: row's columns as read follow them. (`to_frame()` keeps the table's: `outcome.table`.)
REPORT_ROW_COLUMNS = ("Sheet", "Row", "sample_id", "sample_name", "layer_id",
                      "composition_string", "orientation", "Result", "Changes", "HTTP status",
                      "Attempts", "Record id", "Cell", "Message")
#: Results that ask nothing of anyone: such rows, when they have no message or problem
#: either, are gathered on one line per run of a sample's consecutive rows.
QUIET = frozenset((Result.UNCHANGED, Result.VALID))
#: A gathered line names at most this many runs of its layer ids (the rest are counted).
LAYER_RUNS = 8

#: Each exit code in words, as the Summary explains it (README: Exit codes).
SYNC_EXIT_MEANINGS = {
    ExitCode.OK: "every row is in sync with the server (or would be, in a dry run) and none "
                 "is invalid: nothing to do",
    ExitCode.ROWS_NEED_ATTENTION: "the run finished, but some rows need attention (invalid, "
                                  "failed or not sent): the Rows and Issues sheets name the "
                                  "cell to fix; fix it and run again",
    ExitCode.RUN_INCOMPLETE: "the run could not be done in full (see 'Stopped because'): rows "
                             "not sent are 'skipped'; run again once that is put right",
    ExitCode.HANGUP: "stopped by a signal (SIGHUP: the terminal closed): nothing more was "
                     "sent; this report says what was done before it",
    ExitCode.INTERRUPTED: "stopped by a signal (Ctrl-C): nothing more was sent; this report "
                          "says what was done before it",
    ExitCode.TERMINATED: "stopped by a signal (SIGTERM): nothing more was sent; this report "
                         "says what was done before it",
}
CHECK_EXIT_MEANINGS = {
    ExitCode.OK: "no errors: every row passes the sheet's rules (any warnings are worth a "
                 "look); nothing was sent",
    ExitCode.ROWS_NEED_ATTENTION: "some rows or the sheet have errors: the Issues sheet names "
                                  "each cell to fix; nothing was sent",
}


class ReportContent(RowsTable):
    """What the report says, as plain rows of text and numbers (no workbook calls here): the
    Rows sheet (`rows()`), the Summary, the Issues and what is not in the sheet."""

    own_columns = REPORT_ROW_COLUMNS

    def __init__(self, outcome: SyncOutcome | CheckOutcome) -> None:
        super().__init__(outcome.results, outcome.headers, outcome.issues, outcome.redactor)
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
            ("What the exit code means", self.exit_meaning),
            ("Input file", self.text(str(outcome.path))),
            ("Sheet", self.text(outcome.sheet or "")),
        ]
        if sync is not None:
            lines.append(("API URL", self.text(sync.api_url)))
        elif isinstance(outcome, CheckOutcome) and outcome.api_url:
            lines.append(("API URL (its list read)", self.text(outcome.api_url)))
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
                ("Matched by name (no sample_id)",
                 self.text(_listed([s.resolved for s in sync.matched_by_name]) or "none")),
                ("Requests", ", ".join(f"{m} {n}" for m, n in sync.requests.items()) or "none"),
                ("Retries", sync.retries),
            ]
            if sync.riding is not None:  # how the writes rode the server
                lines.append(("Server", sync.riding.text))
        elif isinstance(outcome, CheckOutcome):
            lines += [(label, self.text(text)) for label, text in _stack_lines(outcome)]
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
    def exit_meaning(self) -> str:
        """The exit code in words."""
        code = self.outcome.exit_code
        meanings = CHECK_EXIT_MEANINGS if self.checked else SYNC_EXIT_MEANINGS
        return f"{int(code)}: {meanings.get(code, SYNC_EXIT_MEANINGS[ExitCode.RUN_INCOMPLETE])}"

    @property
    def page_title(self) -> str:
        """Which run the printed pages are of: the input, its sheet, when it ran, and how."""
        outcome = self.outcome
        how = "check" if self.checked else "dry run" if self.dry_run else "sync"
        # A CSV's one sheet is the file itself: named once.
        sheet = (f" \u00b7 {self.text(outcome.sheet)}"
                 if outcome.sheet and outcome.sheet != outcome.path.name else "")
        return (f"{self.text(outcome.path.name)}{sheet} \u00b7 "
                f"{outcome.started.strftime('%Y-%m-%d %H:%M')} \u00b7 {how}")

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
                        (f"{self.rows_left_out:,} row(s) of the input, from row {first.row} of "
                         f"{self.text(first.sheet)!r} on, are not in the Rows sheet: {room}; "
                         "the Summary's counts and the JSON line include them")))
        issues_left_out = self._issues_left_out()
        if issues_left_out:
            cut.append(("Problems left out of Issues",
                        (f"{issues_left_out:,} problem(s) are not in the Issues sheet: {room}; "
                         "`layer-sync check` on the sheet lists every one")))
        remote_left_out = max(0, len(self.remote_only) - (MAX_ROWS - 1))
        if remote_left_out:
            cut.append(("Layers left out of Not in sheet",
                        (f"{remote_left_out:,} layer(s) on the server are not in the Not in "
                         f"sheet sheet: {room}")))
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

    def _issue_values(self, issue: Issue) -> list[Any]:
        show = self.text
        return [show(issue.sheet), issue.row if issue.row is not None else "",
                show(issue.column or ""), show(issue.cell or ""), show(issue.value),
                str(issue.severity), show(issue.message)]

    def remote(self) -> list[list[Any]]:
        """The Not in sheet sheet: the server's layers the sheet lacks."""
        return [[self.text(record.get(k)) for k in _REMOTE_FIELDS]
                for record in islice(self.remote_only, MAX_ROWS - 1)]




    # ------------------------------------------------------------------------ the Rows sheet

    def rows(self) -> Iterator[list[Any]]:
        """The Rows sheet's lines, in sheet order, every data row accounted for: a row that
        has something to say (created, updated, invalid, failed, skipped, or with a message)
        on a line of its own, its columns as read after the report's; quiet rows (unchanged
        or valid, nothing to say) gathered, a line per run of one sample's consecutive rows,
        naming their rows and layers."""
        show, layout_of = self.shower(), self.layouts()
        quiet: list[RowResult] = []
        quiet_key: tuple[Any, ...] = ()
        for result in islice(self.results, MAX_ROWS - 1):
            action = result.action
            row = action.row
            # A valid row's message is the same for each ("every rule passed"): nothing to say.
            if (result.result in QUIET and (not result.message or result.result is Result.VALID)
                    and not row.issues and not action.issues):
                key = (row.sheet, result.result,
                       action.sample_id if action.sample_id is not None
                       else row.values.get("sample_id"), row.values.get("sample_name"))
                if quiet and key == quiet_key and row.row > quiet[-1].action.row.row:
                    quiet.append(result)
                    continue
                if quiet:
                    yield self._quiet_line(quiet, show)
                quiet, quiet_key = [result], key
                continue
            if quiet:
                yield self._quiet_line(quiet, show)
                quiet = []
            yield self._full_line(result, show) + self.as_read(row, layout_of(row), show)
        if quiet:
            yield self._quiet_line(quiet, show)

    def _full_line(self, result: RowResult, show: Callable[[Any], str]) -> list[Any]:
        """A row on a line of its own: where it is, its layer, what happened and why."""
        action = result.action
        row = action.row
        raw = row.raw
        sample_id = action.sample_id if action.sample_id is not None else raw.get("sample_id")
        if action.changes:
            changes = self.text("; ".join(str(c) for c in action.changes))
        elif action.kind == ActionKind.CREATE and result.result in (Result.FAILED,
                                                                     Result.SKIPPED):
            changes = "new layer"  # what was to be done: the Result says only that it was not
        else:
            changes = ""
        return [show(row.sheet), row.row, show(sample_id), show(raw.get("sample_name")),
                show(raw.get("layer_id")), show(raw.get("composition_string")),
                show(raw.get("orientation")), show(result.result), changes,
                result.status if result.status is not None else "", result.attempts or "",
                exact_number(result.record_id),
                self._first_problem.get((row.sheet, row.row), ""), self.text(result.message)]

    def _quiet_line(self, results: list[RowResult], show: Callable[[Any], str]) -> list[Any]:
        """Quiet rows of one sample: a row alone as its own line (its values as read left
        out: there is nothing to fix in them), consecutive rows on one."""
        if len(results) == 1:
            return self._full_line(results[0], show)
        first, last = results[0].action, results[-1].action
        raw = first.row.raw
        sample_id = first.sample_id if first.sample_id is not None else raw.get("sample_id")
        what = "each passing every rule" if self.checked else "each as the server holds it"
        return [show(first.row.sheet), f"{first.row.row}\u2013{last.row.row}", show(sample_id),
                show(raw.get("sample_name")), self.text(_runs([
                    r.action.layer_id if r.action.layer_id is not None
                    else r.action.row.values.get("layer_id") for r in results])),
                "", "", show(results[0].result), "", "", "", "", "",
                f"{plural(len(results), 'row')}, {what}"]


#: Stacks named on one Summary line; the rest are counted (the terminal lists them too).
MAX_LISTED = 10


def _listed(items: list[str]) -> str:
    """`a; b; c`, past MAX_LISTED the rest counted."""
    more = len(items) - MAX_LISTED
    return "; ".join(items[:MAX_LISTED]) + (f"; and {more} more" if more > 0 else "")


def _stack_lines(outcome: CheckOutcome) -> list[tuple[str, str]]:
    """A check's Summary lines about the stacks named without a sample_id: which the server
    does not have yet, which it has (matched by name), which name several; or that it cannot
    be told offline."""
    stacks = outcome.named_stacks
    if not stacks:
        return []
    if not outcome.server_answered:
        why = outcome.server_note or "the server was not asked"
        said = (f"{_listed([s.listed for s in stacks])}. Whether the server has them cannot "
                f"be told offline ({why}); one it does not have yet is created only with "
                "--create-samples")
        return [("Stacks named without a sample_id", said)]
    new = [s.listed for s in stacks if not s.sample_ids]
    matched = [s.resolved for s in stacks if len(s.sample_ids) == 1]
    several = [f"{s.listed}: sample_ids {', '.join(map(str, s.sample_ids))}"
               for s in stacks if len(s.sample_ids) > 1]
    lines = [("Stacks not on the server yet",
              f"{_listed(new)}: created only with --create-samples" if new else "none"),
             ("Matched by name (no sample_id)", _listed(matched) or "none")]
    if several:
        lines.append(("Names of several target materials",
                      f"{_listed(several)}: give the sample_id"))
    return lines


def _runs(ids: list[Any]) -> str:
    """Layer ids as runs, `1\u20134, 6, 8\u20139`; past LAYER_RUNS runs, the rest counted."""
    runs: list[list[Any]] = []
    for value in ids:
        if (runs and type(value) is int and type(runs[-1][1]) is int
                and value == runs[-1][1] + 1):
            runs[-1][1] = value
        else:
            runs.append([value, value])
    shown = [f"{a}" if a == b else f"{a}\u2013{b}" for a, b in runs[:LAYER_RUNS]]
    if len(runs) > LAYER_RUNS:
        shown.append(f"\u2026 ({len(ids)} layers)")
    return ", ".join(shown)
