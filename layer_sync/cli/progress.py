"""The progress bar on a terminal: reading, planning and writing, with the time left.

The run reports its progress through one small protocol, `Progress`:

    progress(phase, done, total, retries=0)

`phase` is "reading" (rows of the sheet read), "planning" (rows compared with the server's
records) or "writing" (rows whose write has an answer); `total` is None while unknown.
`ProgressBar` shows it with rich, on one line that is rewritten in place and erased when the
run ends (`transient`), so nothing of it is left on the screen. Log lines written while it
runs are printed above it instead of through it. Off a terminal, with -q, or with TERM=dumb
there is no bar at all and rich is not imported.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Mapping
from typing import IO, Any, Self, cast

#: How each phase reads on the bar.
PHASES = {"reading": "reading the sheet", "planning": "planning", "writing": "writing"}
#: What the bar says before the run's first report.
STARTING = "reading and planning"
from ..core.runtime import Stream


def bar_wanted(stream: Stream, quiet: bool = False,
               environ: Mapping[str, str] | None = None) -> bool:
    """A bar only for a person watching: the stream is a terminal, no -q, and TERM is not dumb."""
    environ = os.environ if environ is None else environ
    if quiet or environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class _AboveTheBar(io.TextIOBase):
    """A text stream whose lines rich prints above the live bar instead of across it."""

    def __init__(self, console: Any) -> None:
        self._console = console
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        # Whole lines only: rich redraws the bar below each printed line.
        *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._console.print(line, markup=False, highlight=False, emoji=False,
                                soft_wrap=True)
        return len(text)

    def flush(self) -> None:
        if self._partial:
            line, self._partial = self._partial, ""
            self._console.print(line, markup=False, highlight=False, emoji=False, soft_wrap=True)


class ProgressBar:
    """`with ProgressBar(stderr) as bar:` then pass `bar` (the Progress protocol) to the run.

    `console`: a rich Console to draw on (tests give one writing to a StringIO); by default
    one on `stream`. `logger`: its handlers writing to `stream` print above the bar while it
    runs (the "layer_sync" logger by default).
    """

    def __init__(self, stream: Stream, *, console: Any = None,
                 logger: logging.Logger | None = None) -> None:
        self._stream = stream
        self._console = console
        self._logger = logger or logging.getLogger("layer_sync")
        self._progress: Any = None
        self._task: Any = None
        self._phase: str | None = None
        self._swapped: list[tuple[logging.StreamHandler[Any], Any]] = []

    def __enter__(self) -> Self:
        from rich.console import Console
        from rich.progress import BarColumn, SpinnerColumn, TextColumn
        from rich.progress import Progress as RichProgress

        console = self._console or Console(file=cast(IO[str], self._stream))  # it writes only
        count, left = _columns()  # rich's classes, imported only when a bar is drawn
        self._progress = RichProgress(SpinnerColumn(), TextColumn("{task.description}"),
                                      BarColumn(), count(), left(), console=console,
                                      transient=True, redirect_stdout=False,
                                      redirect_stderr=False)
        self._task = self._progress.add_task(STARTING, total=None, unit="rows", retries=0)
        self._route_logs(console)
        self._progress.start()
        return self

    def __call__(self, phase: str, done: int, total: int | None, retries: int = 0) -> None:
        if self._progress is None:
            return
        if phase != self._phase:
            # A new phase starts its own count and its own estimate of the time left.
            self._phase = phase
            self._progress.reset(self._task, total=total, completed=done,
                                 description=PHASES.get(phase, phase))
        self._progress.update(self._task, completed=done, total=total, retries=retries)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()  # transient: the bar's line is erased
            self._progress = None
        for handler, stream in self._swapped:
            handler.setStream(stream)
        self._swapped.clear()

    def _route_logs(self, console: Any) -> None:
        above = _AboveTheBar(console)
        for handler in self._logger.handlers:
            if (type(handler) is logging.StreamHandler  # not a FileHandler: the log file stays
                    and getattr(handler, "stream", None) is self._stream):
                self._swapped.append((handler, handler.setStream(above)))


def _columns() -> tuple[type, type]:
    from rich.progress import ProgressColumn
    from rich.text import Text

    class Count(ProgressColumn):
        """`120/300 rows`, or `300 rows` while the total is unknown; then the retries, if any."""

        def render(self, task: Any) -> Text:
            done = int(task.completed)
            text = f"{done}/{int(task.total)} rows" if task.total else f"{done} rows"
            retries = task.fields.get("retries") or 0
            if retries:
                text += f", {retries} {'retry' if retries == 1 else 'retries'}"
            return Text(text)

    class Left(ProgressColumn):
        """`about 0:00:12 left` once there is a total and a rate; else the time so far."""

        def render(self, task: Any) -> Text:
            left = task.time_remaining
            if task.total and left is not None and task.completed:
                return Text(f"about {_clock(left)} left", style="progress.remaining")
            return Text(_clock(task.elapsed or 0), style="progress.elapsed")

    return Count, Left


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"

