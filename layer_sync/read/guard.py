"""What keeps one read bounded in time and stoppable: a deadline and the run's stop switch.

Every loop of the reader that can be long (reading the file in chunks, scanning a part of a
workbook, walking an .xls's records, turning a grid into rows) calls `ReadGuard.check()`
between its steps. The reading library (python-calamine) cannot be stopped inside one call, so
what it is given is bounded first (`files.MAX_*`): each call is short, and the guard is asked
between them.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

from ..core.errors import InputFileError, Interrupted

#: The longest a read may take, from opening the file to the last row checked. The largest
#: sheet the bounds accept reads in a few seconds; this bound is for what nobody foresaw,
#: and leaves the rest of a run (the server, the report) well within a minute.
MAX_READ_SECONDS = 30.0

#: `should_stop()`: true (or a signal number) when the run has been asked to stop.
StopCheck = Callable[[], "bool | int | None"]


class ReadGuard:
    """The deadline and stop switch of one read (see the module's docstring)."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.monotonic,
                 should_stop: StopCheck | None = None,
                 limit_s: float = MAX_READ_SECONDS) -> None:
        self.path = path
        self.clock = clock
        self.should_stop = should_stop
        self.limit_s = limit_s
        self.deadline = clock() + limit_s

    def check(self) -> None:
        """Raise `Interrupted` when the run was asked to stop, `InputFileError` when the
        read has taken longer than its bound."""
        if self.should_stop is not None:
            asked = self.should_stop()
            if asked:
                # A signal number says which signal (the exit code is 128 + it); a plain
                # True is taken as Ctrl-C. (bool is an int: tell them apart.)
                signum = asked if isinstance(asked, int) and not isinstance(asked, bool) \
                    else signal.SIGINT
                raise Interrupted(int(signum))
        if self.clock() > self.deadline:
            raise InputFileError(
                f"reading {self.path.name} took longer than {self.limit_s:.0f} s, far longer "
                "than a layer sheet needs; check it is the right file, or split it")

    def rows(self, step: int = 1000) -> Callable[[int], None]:
        """A check for a loop over rows: asks `check()` every `step` rows only."""
        def every(index: int) -> None:
            if index % step == 0:
                self.check()
        return every
