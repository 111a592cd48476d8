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

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__, values
from .paths import temp_folder_problem
from .redaction import replace_forms
from .errors import ReportError
from .outcome import Result, Severity

if TYPE_CHECKING:
    from .outcome import Issue, RowResult, SyncOutcome
    from .sheet import SheetRow

#: The Rows sheet's own columns; the row's columns as read follow them.
ROW_COLUMNS = ("Sheet", "Row", "sample_id", "sample_name", "layer_id", "Action", "Result",
               "Changes", "HTTP status", "Attempts", "Record id", "Cell", "Message")
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

#: What one .xlsx sheet can hold (Excel's limits, which every reader keeps to); a table's
#: rows include its header row.
MAX_COLUMNS = 16_384
MAX_ROWS = 1_048_576
MAX_TEXT = 32_767

# Characters an .xlsx cannot hold or that a reader would not show: C0 controls but tab and
# newline, DEL, lone surrogates (undecodable bytes), and the two non-characters.
_UNSHOWABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
#: What an unshowable character becomes: visible, and not mistaken for a real value.
REPLACEMENT = "\ufffd"


def write_report(outcome: "SyncOutcome", path: str | os.PathLike) -> Path:
    """Write the report of a finished run to `path`; returns the path. Raises ReportError.

    The file is created with the user's umask, in a temporary folder in the target's folder,
    then renamed into place, so a reader never sees half a workbook; nothing is left behind
    on any exit (an error, Ctrl-C, or the signal handler's exception during the save).
    """
    from . import report_layout  # imports the writer: only runs that write a report need it

    path = Path(path)
    problem = temp_folder_problem()
    if problem:
        raise ReportError(f"cannot write the report {path}: {problem}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        work = tempfile.mkdtemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ReportError(f"cannot write the report {path}: {exc.strerror or exc}") from None
    try:
        partial = Path(work) / path.name
        book = report_layout.xlsx.Workbook(str(partial))
        book.set_tempdir(work)  # the rows written so far go in the folder removed below
        report_layout.fill(book, ReportContent(outcome))
        # The file is created as any other (mode 0666 less the user's umask); mkstemp
        # would have made it 0600, unreadable to colleagues on a shared drive.
        book.close()
        os.replace(partial, path)
    except (OSError, ValueError) as exc:
        # ValueError: a value past the writer's limits (text() keeps values within them).
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise ReportError(f"cannot write the report {path}: {reason}") from None
    except BaseException as exc:
        # A panic inside the Rust writer arrives as pyo3's PanicException, which derives from
        # BaseException: the report is not written (exit 2), never a traceback. Ctrl-C,
        # SystemExit and our own bugs (ordinary exceptions) pass on as they are.
        if isinstance(exc, (Exception, KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ReportError(f"cannot write the report {path}: the report writer failed "
                          f"({detail}); is the disk full, or $TMPDIR not writable?") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return path


def text(value: Any) -> str:
    """`value` as the report shows it: always a string, showable, within a cell's limit."""
    shown = value if type(value) is str else values.describe(value)
    if _UNSHOWABLE.search(shown):
        shown = _UNSHOWABLE.sub(REPLACEMENT, shown)
    if len(shown) > MAX_TEXT:
        shown = shown[:MAX_TEXT - 1] + "\u2026"
    return shown


class ReportContent:
    """What the report says, as plain rows of text and numbers (no workbook calls here)."""

    def __init__(self, outcome: "SyncOutcome") -> None:
        self.outcome = outcome
        forms = getattr(outcome, "key_forms", ())
        # The run's key is written as *** wherever the sheet or the server put it: one search
        # a value finds it (case ignored, as a percent-encoded form is), replace_forms replaces.
        self._key = re.compile("|".join(map(re.escape, forms)), re.IGNORECASE) if forms else None
        self._forms = forms
        self.dry_run = outcome.dry_run
        room = MAX_COLUMNS - len(ROW_COLUMNS)
        self.headers = list(outcome.headers[:room])
        #: Columns of the sheet that do not fit in an .xlsx sheet beside the report's own.
        self.left_out = len(outcome.headers) - len(self.headers)
        self.row_header = [*ROW_COLUMNS, *(self.text(f"{h} (as read)") for h in self.headers)]
        self.checked = bool(getattr(outcome, "checked", False))
        self.outcomes = (CHECK_OUTCOMES if self.checked else
                         DRY_RUN_OUTCOMES if outcome.dry_run else OUTCOMES)
        self.counts = counts = outcome.counts  # once: it goes through every row
        self.outcome_counts = [(str(name), counts.get(name.counted_as, 0))
                               for name in self.outcomes]
        self._first_problem = _first_problem_cells(outcome.issues)
        #: Data rows of the input past what the Rows sheet holds (an input of more than a
        #: million rows, from a CSV or several sheets): left out, and said.
        self.rows_left_out = max(0, len(outcome.results) - (MAX_ROWS - 1))

    def text(self, value: Any) -> str:
        """`value` as the report shows it (see `text`), with the run's key as `***`."""
        shown = text(value)
        if self._key is not None and self._key.search(shown):
            shown = replace_forms(shown, self._forms)
        return shown

    def summary(self) -> list[tuple[str, Any, str | None]]:
        """The Summary sheet's lines: label, value, and the outcome a count line is of."""
        outcome, counts = self.outcome, self.counts
        lines: list[tuple[Any, ...]] = [
            ("Result", self.text(outcome.headline)),
            ("Exit code", int(outcome.exit_code)),
            ("Input file", self.text(str(outcome.path))),
            ("Sheet", self.text(outcome.sheet or "")),
            ("API URL", self.text(outcome.api_url)),
            ("Started", outcome.started.strftime("%Y-%m-%d %H:%M:%S")),
            ("Finished", outcome.finished.strftime("%Y-%m-%d %H:%M:%S")),
            ("Duration (s)", round(outcome.duration_s, 2)),
            ("Dry run", "yes: nothing was written" if outcome.dry_run else "no"),
            ("Rows", counts["rows"]),
            *[(name.capitalize(), number, name) for name, number in self.outcome_counts],
            ("Remote only (not in sheet)", counts["remote_only"]),
            ("Requests", ", ".join(f"{m} {n}" for m, n in outcome.requests.items()) or "none"),
            ("Retries", outcome.retries),
            ("Unrecognised columns (ignored)",
             self.text(", ".join(outcome.ignored_columns) or "none")),
            ("layer-sync version", __version__),
        ]
        if self.checked:  # nothing was compared with a server or sent
            server = {"API URL", "Dry run", "Remote only (not in sheet)", "Requests", "Retries"}
            lines = [line for line in lines if line[0] not in server]
        if outcome.message:
            lines.insert(1, ("Stopped because", self.text(outcome.message)))
        if self.left_out:
            lines.insert(-1, ("Columns left out of Rows", self.left_out_message))
        for label, message in self._cut_messages():
            lines.insert(-1, (label, message))
        return [line if len(line) == 3 else (*line, None) for line in lines]

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
        remote_left_out = max(0, len(self.outcome.remote_only) - (MAX_ROWS - 1))
        if remote_left_out:
            cut.append(("Layers left out of Not in sheet",
                        f"{remote_left_out:,} layer(s) on the server are not in the Not in "
                        f"sheet sheet: {room}"))
        return cut

    def _issues_left_out(self) -> int:
        notes = bool(self.left_out) + bool(self.rows_left_out)
        extra = len(self.outcome.issues) + notes - (MAX_ROWS - 1)
        return extra + 1 if extra > 0 else 0  # + 1: the line that says so takes a row too

    def rows(self) -> Iterator[list[Any]]:
        """The Rows sheet, one list per data row of the input, in sheet order."""
        # Most values repeat from row to row (the sheet's name, compositions, orientations,
        # outcomes): each distinct one is made showable once.
        # Text is keyed by itself; other values by type too (1, 1.0 and True are equal keys
        # but read "1", "1", "TRUE").
        shown: dict[Any, str] = {}

        def show(value: Any) -> str:
            key = value if type(value) is str else (type(value), value)
            try:
                return shown[key]
            except KeyError:
                made = shown[key] = self.text(value)
                return made
            except TypeError:  # unhashable (a list or dict from a sheet cell): not kept
                return self.text(value)

        layouts: dict[tuple[int, tuple[str, ...]], list[tuple[bool, str]]] = {}
        for result in islice(self.outcome.results, MAX_ROWS - 1):
            row = result.action.row
            # Where each header's value is, looked up once per sheet (its rows share one
            # header map and the same fields): in the row's extra columns, or under the
            # field the header was mapped to.
            key = (id(row.columns), tuple(row.raw))
            layout = layouts.get(key)
            if layout is None:
                layout = layouts[key] = self._layout(row)
            yield self._row(result, layout, show)

    def _layout(self, row: "SheetRow") -> list[tuple[bool, str]]:
        """For each header: (from the extra columns?, the key to look up there or in raw)."""
        fields = {row.columns.get(f, f): f for f in row.raw}
        return [(True, h) if h in row.extra or h not in fields else (False, fields[h])
                for h in self.headers]

    def _row(self, result: "RowResult", layout: list[tuple[bool, str]],
             show: Callable[[Any], str]) -> list[Any]:
        action = result.action
        row = action.row
        raw, extra = row.raw, row.extra
        sample_id = action.sample_id if action.sample_id is not None else raw.get("sample_id")
        return [
            show(row.sheet), row.row, show(sample_id), show(raw.get("sample_name")),
            show(raw.get("layer_id")), show(action.kind), show(result.result),
            self.text("; ".join(str(c) for c in action.changes)) if action.changes else "",
            result.status if result.status is not None else "",
            result.attempts or "",
            _number(result.record_id),
            self._first_problem.get((row.sheet, row.row), ""), self.text(result.message),
            *[show(extra.get(key) if in_extra else raw.get(key)) for in_extra, key in layout],
        ]

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
                for record in islice(self.outcome.remote_only, MAX_ROWS - 1)]


#: A workbook's numbers are doubles: past this a whole number would be shown rounded.
_EXACT = 2 ** 53


def _number(value: int | None) -> int | str:
    """A record id as the report shows it: a number, or text when a number would round it."""
    if value is None:
        return ""
    return value if abs(value) <= _EXACT else str(value)


def _first_problem_cells(issues: list["Issue"]) -> dict[tuple[str, int], str]:
    """(sheet, row) -> the cell of the row's first error, else of its first warning: the
    cell to look at for the row's message."""
    cells: dict[tuple[str, int], str] = {}
    for severity in (Severity.ERROR, Severity.WARNING):
        for issue in issues:
            if issue.severity == severity and issue.row is not None and issue.cell:
                cells.setdefault((issue.sheet, issue.row), text(issue.cell))
    return cells
