"""What a run is given from outside rather than deciding itself, as one object (`Runtime`):
clocks and sleep, progress, its stop switch, the environment, the output streams.

Tests and embedders replace what they need (`Runtime(sleep=recorded.append, clock=fake)`);
the library reads nothing of the process that is not here. The command line makes one per
run, with its signal handler's `RunControl` and its redacting streams.
"""

from __future__ import annotations

import datetime as _dt
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .control import RunControl


class Stream(Protocol):
    """A text stream the command line prints to (stdout, stderr, or a test's StringIO)."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...

    def isatty(self) -> bool: ...


class Progress(Protocol):
    """What a run calls as it goes: `progress(phase, done, total, retries)`.

    `phase` is "reading" (rows of the sheet read), "planning" (rows compared with the
    server's records) or "writing" (rows whose write has an answer); `total` is None while
    unknown; `retries` counts the requests tried again so far.
    """

    def __call__(self, phase: str, done: int, total: int | None, retries: int = 0) -> None: ...


def local_now() -> _dt.datetime:
    """The wall-clock time, with the local time zone (ISO 8601 with the zone when printed)."""
    return _dt.datetime.now().astimezone()


@dataclass(frozen=True)
class Runtime:
    """Everything a run takes from its surroundings.

    `clock`: seconds for durations (monotonic). `sleep`: waits between attempts (and for a
    sheet being saved to be still); None means the run control's own, which a stop cuts
    short. `wall`: the wall clock files' modification times are compared with. `still_s`:
    how long a sheet must have been still before it is read (None: 2 s, or
    LAYER_SYNC_STILL_SECONDS). `now`: the wall-clock time for the
    report and the JSON line. `progress`: called as the run goes (see `Progress`).
    `control`: the run's stop switch (a signal handler calls its `interrupt`). `environ`: where
    the API key and URL are looked for. `state_dir`: where locks and the journal of writes in
    flight live (default: the machine's lock folder, shared by every user: run/lock.py). `stdout`, `stderr`: where the command line
    prints (the library prints nothing).
    """

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] | None = None
    wall: Callable[[], float] = time.time
    still_s: float | None = None
    now: Callable[[], _dt.datetime] = local_now
    progress: Progress | None = None
    control: RunControl = field(default_factory=RunControl)
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    state_dir: Path | None = None
    stdout: Stream = field(default_factory=lambda: sys.stdout)
    stderr: Stream = field(default_factory=lambda: sys.stderr)

    def report(self, phase: str, done: int, total: int | None, retries: int = 0) -> None:
        """Tell `progress`, if there is one."""
        if self.progress is not None:
            self.progress(phase, done, total, retries)
