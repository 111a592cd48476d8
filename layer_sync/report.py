"""The report workbook technicians read the morning after (openpyxl, write-only: fast).

Sheets: Summary (with a bar chart of the outcomes), Rows (one per data row of the input, with
every column as read, so failed rows can be fixed and run again), Issues, Not in sheet.
Every value that came from the sheet or the server is written as text, never as a formula.
The workbook is written to a temporary file and renamed into place.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__, values
from .errors import ReportError

if TYPE_CHECKING:
    from .outcome import SyncOutcome

log = logging.getLogger("layer_sync.report")

RESULT_COLOURS = {
    "created": "C6EFCE", "updated": "C6EFCE", "would create": "E2F5E6", "would update": "E2F5E6",
    "unchanged": "E7E6E6", "invalid": "FFC7CE", "failed": "FFC7CE", "skipped": "FFEB9C",
}
SEVERITY_COLOURS = {"error": "FFC7CE", "warning": "FFEB9C"}
OUTCOMES = ("created", "updated", "unchanged", "invalid", "failed", "skipped")
ROW_COLUMNS = ("Sheet", "Row", "sample_id", "sample_name", "layer_id", "Action", "Result",
               "Changes", "HTTP status", "Attempts", "Record id", "Message")
ISSUE_COLUMNS = ("Sheet", "Row", "Column", "Cell", "Value", "Severity", "Message")
REMOTE_COLUMNS = ("sample_id", "sample_name", "substrate", "layer_id", "Record id",
                  "composition_string", "element_dict", "orientation", "space_group", "mp_id")


#: From this many rows to write, the report is written by a helper process (see ReportWriter).
HELPER_MIN_ROWS = 200
#: Column widths are measured on the first rows (the sheet's columns are set before its rows).
_WIDTH_SAMPLE = 500


def write_report(outcome: "SyncOutcome", path: str | Path) -> Path:
    """Write the report for a finished run; returns its path. Raises ReportError."""
    writer = ReportWriter(path, outcome.headers, len(outcome.results))
    for index, result in enumerate(outcome.results):
        writer.add(index, result)
    return writer.finish(outcome)


class ReportWriter:
    """Streams the report while the writes run.

    Rows are handed over in sheet order as their results arrive, so that when the last
    write returns only the tail, the small sheets and the zip are left to do.

    `helper=True`: the workbook is built by a helper process. openpyxl's work is pure
    Python, about 0.4 ms a row plus 0.1-0.2 s to import it; in this process it would take
    the interpreter's lock from the threads waiting on the network. The helper does it on
    another core. If the helper cannot start or stops, the report is written here instead.
    """

    def __init__(self, path: str | Path, headers: list[str], rows: int, *,
                 helper: bool = False) -> None:
        self.path = Path(path)
        self.headers = headers
        self._pending: dict[int, Any] = {}
        self._next = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ReportError(f"cannot create the folder {self.path.parent} for the report: "
                              f"{exc.strerror}") from None
        header = _row_header(headers)
        self._sink: _Local | _Helper = (_Helper.start(self.path, header, rows) if helper
                                        else None) or _Local(self.path, header, rows)

    @property
    def in_helper(self) -> bool:
        return isinstance(self._sink, _Helper)

    def add(self, index: int, result: Any) -> None:
        """Record the result of row `index`; rows are written in order as they complete."""
        self._pending[index] = result
        ready = []
        while self._next in self._pending:
            result = self._pending.pop(self._next)
            ready.append(_row_values(result.action, result, self.headers))
            self._next += 1
        if ready:
            self._sink.add(ready)

    def finish(self, outcome: "SyncOutcome") -> Path:
        """Write the rest and move the workbook into place (temporary file, then rename)."""
        rest = _Rest(_summary_lines(outcome), [(name, outcome.counts[name]) for name in OUTCOMES],
                     [_issue_values(i) for i in outcome.issues],
                     [_remote_values(r) for r in outcome.remote_only])
        return self._sink.finish(rest)

    def close(self) -> None:
        """Give up on the report (the run ended without one); ends the helper."""
        self._sink.close()


@dataclass
class _Rest:
    """What the report needs once the run is over, as plain values (it may cross processes)."""

    summary: list[tuple[str, Any]]
    chart: list[tuple[str, int]]
    issues: list[list[Any]]
    remote: list[list[Any]]


class _Book:
    """The workbook itself: every openpyxl call is here, in whichever process writes it."""

    def __init__(self, path: Path, header: list[str], rows: int) -> None:
        from openpyxl import Workbook  # only when a report is written

        self.path = path
        self._header = header
        self._total = rows
        self._book = Workbook(write_only=True)
        self._styles = _Styles()
        self._summary = self._book.create_sheet("Summary")  # first sheet; filled at the end
        self._rows: Any = None
        self._early: list[list[Any]] = []

    def add(self, rows: list[list[Any]]) -> None:
        if self._rows is None:
            self._early.extend(rows)
            if len(self._early) >= _WIDTH_SAMPLE:
                self._open_rows()
            return
        for row in rows:
            _append(self._rows, self._styles, row, 7)

    def _open_rows(self) -> None:
        early, self._early = self._early, []
        widths = _widths(self._header, early[:_WIDTH_SAMPLE])
        self._rows = _table_start(self._book, self._styles, "Rows", self._header, widths,
                                  self._total)
        self.add(early)

    def discard(self) -> None:
        """No report after all: openpyxl's temporary files are removed and closed cleanly
        (it removes them when a workbook is saved, so it is saved into memory and dropped)."""
        try:
            self._book.save(io.BytesIO())
        except Exception:  # nothing to keep; only the cleanup was wanted
            pass

    def finish(self, rest: _Rest) -> Path:
        if self._rows is None:
            self._open_rows()
        book, styles = self._book, self._styles
        _fill_summary(self._summary, styles, rest.summary, rest.chart)
        sheet = _table_start(book, styles, "Issues", ISSUE_COLUMNS,
                             _widths(ISSUE_COLUMNS, rest.issues[:_WIDTH_SAMPLE]), len(rest.issues))
        for row in rest.issues:
            _append(sheet, styles, row, 6)
        sheet = _table_start(book, styles, "Not in sheet", REMOTE_COLUMNS,
                             _widths(REMOTE_COLUMNS, rest.remote[:_WIDTH_SAMPLE]), len(rest.remote))
        for row in rest.remote:
            _append(sheet, styles, row, None)
        tmp_name = None
        try:
            with tempfile.NamedTemporaryFile(dir=self.path.parent, prefix=f".{self.path.stem}.",
                                             suffix=".tmp", delete=False) as handle:
                tmp_name = handle.name
                book.save(handle)
            os.replace(tmp_name, self.path)
        except OSError as exc:
            if tmp_name and os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise ReportError(f"cannot write the report {self.path}: {exc.strerror or exc}") from None
        return self.path


class _Local:
    """The report written in this process (openpyxl imported on the first row)."""

    def __init__(self, path: Path, header: list[str], rows: int) -> None:
        self.path = path
        self._args = (path, header, rows)
        self._book: _Book | None = None

    def _opened(self) -> _Book:
        if self._book is None:
            self._book = _Book(*self._args)
        return self._book

    def add(self, rows: list[list[Any]]) -> None:
        self._opened().add(rows)

    def finish(self, rest: _Rest) -> Path:
        return self._opened().finish(rest)

    def close(self) -> None:
        if self._book is not None:
            self._book.discard()
            self._book = None


class _Helper:
    """The report written by a helper process (`python -c`, this package), fed through a pipe.

    A plain child interpreter, not multiprocessing: multiprocessing's spawn runs the
    caller's main script again in the child, which a script calling `sync_file` without a
    `__main__` guard does not expect. Messages are pickled both ways (both ends are this
    package). A thread here feeds the pipe, so that `add` never blocks on it, and another
    reads the answers, so that `finish` can give up on a helper that hangs. Every row is also
    kept here: if the helper fails, the report is written in this process instead.
    """

    BATCH = 20

    def __init__(self, process: subprocess.Popen, fallback: _Local, rows: int) -> None:
        self._process = process
        self._fallback = fallback
        self._rows: list[list[Any]] = []
        self._sent = 0
        self._failed: str | None = None
        self._closed = False
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._answers: queue.SimpleQueue = queue.SimpleQueue()
        # The helper writes as the rows come; at the end it has the tail and the zip to do.
        self._finish_timeout = 60.0 + rows / 1000
        threading.Thread(target=self._feed, name="report-feed", daemon=True).start()
        threading.Thread(target=self._listen, name="report-listen", daemon=True).start()

    @classmethod
    def start(cls, path: Path, header: list[str], rows: int) -> "_Helper | None":
        executable = sys.executable
        if not executable or not os.path.basename(executable).lower().startswith("python"):
            return None  # an embedding program, not a Python interpreter
        package_root = str(Path(__file__).resolve().parent.parent)
        try:
            process = subprocess.Popen(
                [executable, "-c", _HELPER_CODE, package_root], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=helper_environment())
        except OSError as exc:
            log.debug("report helper not started (%s); writing the report in this process", exc)
            return None
        helper = cls(process, _Local(path, header, rows), rows)
        helper._outbox.put(("start", (str(path), header, rows)))
        return helper

    def _feed(self) -> None:
        pipe = self._process.stdin
        assert pipe is not None
        while True:
            message = self._outbox.get()
            if message is None:
                break
            try:
                pickle.dump(message, pipe, protocol=pickle.HIGHEST_PROTOCOL)
                pipe.flush()
            except (OSError, ValueError):
                break  # the helper is gone; `finish` finds out from the listener
        try:
            pipe.close()
        except OSError:
            pass

    def _listen(self) -> None:
        pipe = self._process.stdout
        assert pipe is not None
        try:
            while True:
                self._answers.put(pickle.load(pipe))
        except Exception as exc:  # EOF (the helper ended) or a broken pipe
            code = self._process.poll()
            self._answers.put(("failed", "the helper process ended" + (
                f" (exit code {code})" if code else "") if isinstance(exc, EOFError)
                else f"the helper's answer could not be read ({type(exc).__name__})"))

    def add(self, rows: list[list[Any]]) -> None:
        self._rows.extend(rows)
        if self._failed is None and len(self._rows) - self._sent >= self.BATCH:
            self._outbox.put(("rows", self._rows[self._sent:]))
            self._sent = len(self._rows)

    def finish(self, rest: _Rest) -> Path:
        if self._failed is None and not self._closed:
            if self._sent < len(self._rows):
                self._outbox.put(("rows", self._rows[self._sent:]))
            self._outbox.put(("finish", rest))
            self._outbox.put(None)
            try:
                kind, payload = self._answers.get(timeout=self._finish_timeout)
            except queue.Empty:
                kind, payload = "failed", f"no answer within {self._finish_timeout:.0f} s"
            self._end()
            if kind == "done":
                return self._fallback.path
            if kind == "error":  # the helper's own ReportError: the same would fail here
                raise ReportError(payload)
            self._failed = str(payload)
            log.warning("report helper: %s; writing the report in this process", payload)
        self._fallback.add(self._rows)
        return self._fallback.finish(rest)

    def close(self) -> None:
        """No report after all: the helper stops without writing."""
        if not self._closed:
            self._outbox.put(None)
            self._end(wait=2.0)

    def _end(self, wait: float = 10.0) -> None:
        self._closed = True
        try:
            self._process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def helper_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The helper's environment: this one without the API key (it never talks to the API)."""
    environ = dict(os.environ if environ is None else environ)
    for name in ("ATOMSCALE_API_KEY", "AS_API_KEY"):
        environ.pop(name, None)
    return environ


_HELPER_CODE = ("import sys; sys.path.insert(0, sys.argv[1]); "
                "from layer_sync.report import _serve; _serve()")


def _serve() -> None:
    """The report helper's main: build the workbook from what stdin brings, answer on stdout."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches every process: the parent decides
    source, answers = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing stray may reach the answer pipe

    def answer(message: tuple[str, Any]) -> None:
        try:
            pickle.dump(message, answers, protocol=pickle.HIGHEST_PROTOCOL)
            answers.flush()
        except (OSError, ValueError):
            pass

    book: _Book | None = None
    try:
        kind, (path, header, rows) = pickle.load(source)
        book = _Book(Path(path), header, rows)
        while True:
            kind, payload = pickle.load(source)
            if kind == "rows":
                book.add(payload)
            elif kind == "finish":
                answer(("done", str(book.finish(payload))))
                os._exit(0)  # the workbook is saved: skip the interpreter's teardown
    except EOFError:  # the parent gave up on the report (or is gone)
        if book is not None:
            book.discard()
    except ReportError as exc:
        answer(("error", str(exc)))
    except BaseException as exc:  # any other failure: the parent writes the report itself
        answer(("failed", f"{type(exc).__name__}: {exc}"))


class _Styles:
    def __init__(self) -> None:
        from openpyxl.styles import Alignment, Font, PatternFill

        self.bold = Font(bold=True)
        self.title = Font(bold=True, size=14)
        self.header_fill = PatternFill("solid", fgColor="DDEBF7")
        self.left = Alignment(horizontal="left")
        self.fills = {k: PatternFill("solid", fgColor=v)
                      for k, v in {**RESULT_COLOURS, **SEVERITY_COLOURS}.items()}


def _text(ws: Any, value: Any) -> Any:
    """A cell that is text whatever it holds: `=1+2` stays `=1+2`, never a formula.

    openpyxl treats only a string starting with "=" as a formula; every other string is
    written as it is (the fast path), that one as a cell forced to the string type.
    """
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    text = value if type(value) is str else values.describe(value)
    if ILLEGAL_CHARACTERS_RE.search(text):
        text = ILLEGAL_CHARACTERS_RE.sub("\ufffd", text)
    if not text.startswith("="):
        return text
    cell = WriteOnlyCell(ws, value=text)
    cell.data_type = "s"
    return cell


def _styled(ws: Any, value: Any, fill: Any) -> Any:
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(ws, value=value)
    if type(value) is str and value.startswith("="):
        cell.data_type = "s"
    cell.fill = fill
    return cell


def _number(ws: Any, value: Any) -> Any:
    from openpyxl.cell import WriteOnlyCell

    return WriteOnlyCell(ws, value=value)


def _summary_lines(outcome: "SyncOutcome") -> list[tuple[str, Any]]:
    """The Summary sheet's label/value lines."""
    counts = outcome.counts
    lines: list[tuple[str, Any]] = [
        ("Result", outcome.headline),
        ("Exit code", int(outcome.exit_code)),
        ("Input file", str(outcome.path)),
        ("Sheet", outcome.sheet or ""),
        ("API URL", outcome.api_url),
        ("Started", outcome.started.strftime("%Y-%m-%d %H:%M:%S")),
        ("Finished", outcome.finished.strftime("%Y-%m-%d %H:%M:%S")),
        ("Duration (s)", round(outcome.duration_s, 2)),
        ("Dry run", "yes: nothing was written" if outcome.dry_run else "no"),
        ("Rows", counts["rows"]),
        *[(name.capitalize() if name != "remote_only" else "Remote only (not in sheet)",
           counts[name]) for name in (*OUTCOMES, "remote_only")],
        ("Requests", ", ".join(f"{m} {n}" for m, n in outcome.requests.items()) or "none"),
        ("Retries", outcome.retries),
        ("Unrecognised columns (ignored)", ", ".join(outcome.ignored_columns) or "none"),
        ("layer-sync version", __version__),
    ]
    if outcome.message:
        lines.insert(1, ("Stopped because", outcome.message))
    return lines


def _fill_summary(ws: Any, styles: _Styles, lines: list[tuple[str, Any]],
                  chart_counts: list[tuple[str, int]]) -> None:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.chart import BarChart, Reference

    ws.column_dimensions["A"].width = 32
    ws.column_dimensions["B"].width = 70
    ws.column_dimensions["D"].width = 12
    ws.column_dimensions["E"].width = 8
    title = WriteOnlyCell(ws, value="layer-sync report")
    title.font = styles.title
    ws.append([title])
    # The chart's data sits in columns D:E, beside the summary.
    chart_rows = [("Outcome", "Rows"), *chart_counts]
    for i, (label, value) in enumerate(lines):
        label_cell = WriteOnlyCell(ws, value=label)
        label_cell.font = styles.bold
        value_cell = WriteOnlyCell(ws, value=value if isinstance(value, (int, float))
                                   else values.describe(value))
        if isinstance(value_cell.value, str) and value_cell.value.startswith("="):
            value_cell.data_type = "s"
        value_cell.alignment = styles.left
        extra: list[Any] = []
        if i < len(chart_rows):
            name, number = chart_rows[i]
            name_cell = WriteOnlyCell(ws, value=name)
            if i == 0:
                name_cell.font = styles.bold
            elif name in styles.fills:
                name_cell.fill = styles.fills[name]
            extra = [None, name_cell, _number(ws, number) if i else WriteOnlyCell(ws, value=number)]
        ws.append([label_cell, value_cell, *extra])
    chart = BarChart()
    chart.type = "bar"
    chart.style = 10
    chart.title = "Rows by outcome"
    chart.legend = None
    chart.height, chart.width = 7, 12
    data = Reference(ws, min_col=5, min_row=2, max_row=2 + len(OUTCOMES))  # title + 6 outcomes
    cats = Reference(ws, min_col=4, min_row=3, max_row=2 + len(OUTCOMES))
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(cats)
    ws.add_chart(chart, "G2")


def _widths(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[int]:
    widths = [len(h) for h in header]
    for row in rows:
        for i, value in enumerate(row[:len(widths)]):
            widths[i] = max(widths[i], len(values.describe(value)))
    return [min(max(w + 2, 8), 60) for w in widths]


def _table_start(book: Any, styles: _Styles, title: str, header: Sequence[str],
                 widths: list[int], rows: int) -> Any:
    """A sheet with a bold, filled, frozen header row, filters and column widths."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.utils import get_column_letter

    ws = book.create_sheet(title)
    ws.freeze_panes = "A2"
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.auto_filter.ref = f"A1:{get_column_letter(len(header))}{rows + 1}"
    head = []
    for name in header:
        cell = WriteOnlyCell(ws, value=name)
        cell.font = styles.bold
        cell.fill = styles.header_fill
        head.append(cell)
    ws.append(head)
    return ws


def _append(ws: Any, styles: _Styles, row: list[Any], colour_at: int | None) -> None:
    cells = [(v if type(v) is int else _text(ws, v)) for v in row]
    if colour_at is not None:
        fill = styles.fills.get(str(row[colour_at - 1]))
        if fill is not None:
            cells[colour_at - 1] = _styled(ws, str(row[colour_at - 1]), fill)
    ws.append(cells)


def _row_header(headers: list[str]) -> list[str]:
    return [*ROW_COLUMNS, *[f"{h} (as read)" for h in headers]]


class _Text(str):
    """A value from the sheet or server that must be written as text even if it is a number."""


def _row_values(action: Any, result: Any, headers: list[str]) -> list[Any]:
    """One line of the Rows sheet (`result` None: what is known before the writes)."""
    row = action.row
    as_read = {**{row.columns.get(f, f): v for f, v in row.raw.items()}, **row.extra}
    return [
        row.sheet, row.row,
        _Text(values.describe(action.sample_id if action.sample_id is not None
                              else row.raw.get("sample_id"))),
        _Text(values.describe(row.raw.get("sample_name"))),
        _Text(values.describe(row.raw.get("layer_id"))),
        action.kind, result.result if result else "would update",
        "; ".join(str(c) for c in action.changes),
        result.status if result and result.status is not None else "",
        result.attempts if result and result.attempts else "",
        result.record_id if result and result.record_id is not None else "",
        result.message if result else "",
        *[_Text(values.describe(as_read.get(h))) for h in headers],
    ]


def _issue_values(issue: Any) -> list[Any]:
    return [issue.sheet, issue.row if issue.row is not None else "", issue.column or "",
            issue.cell or "", _Text(issue.value), issue.severity, issue.message]


def _remote_values(record: dict[str, Any]) -> list[Any]:
    return [_Text(values.describe(record.get(k))) for k in
            ("sample_id", "sample_name", "substrate", "layer_id", "id", "composition_string",
             "element_dict", "orientation", "space_group", "mp_id")]
