"""What the command line sets up in its own process for a run, and puts back afterwards:
the `layer_sync` logger's handlers and level, the handlers of SIGTERM, SIGHUP and SIGINT
(those of them the platform has),
and (the console script only) how often the garbage collector runs.

Used by `cli.main()` only: library code never changes process-wide state, and main() leaves
the interpreter as it found it (it can be called twice in one process).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Self

from ..core.control import RunControl
from ..core.errors import STOP_SIGNALS, ConfigError, Interrupted, signal_name
from ..core.runtime import Stream
from ..core.text import one_line, printable

#: The collector's thresholds for a run of the console script (mypy's command line uses the
#: same): a collection after 200,000 new objects instead of 700.
GC_THRESHOLDS = (200_000, 30, 30)


@contextlib.contextmanager
def collecting_less_often() -> Any:
    """Run the garbage collector less often, as a batch job can, and put it back afterwards.

    Python collects after every 700 new objects and looks at every live object again now and
    then; a big sheet keeps ~15 objects a row alive for the whole run, so at 50,000 rows the
    collector took a fifth of a dry run (5.5 -> 4.2 s measured, memory the same: the run
    makes almost no reference cycles). Only the console script does this, for its own
    process; library calls leave the collector as it is.
    """
    saved = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*saved)


class LoggingSetup:
    """Configures only the `layer_sync` logger (never the root logger) and puts it back as
    it was afterwards, so that main() leaves the interpreter as it found it."""

    def __init__(self, filters: Sequence[logging.Filter] = ()) -> None:
        self._saved: list[tuple[logging.Logger, int, list[logging.Handler], bool]] = []
        self._added: list[logging.Handler] = []
        #: Put on every handler before its first line (the keys known before the arguments
        #: are read: the run's start line names the sheet and the API URL, which may hold one).
        self._filters = tuple(filters)

    def _save(self, logger: logging.Logger) -> None:
        self._saved.append((logger, logger.level, list(logger.handlers), logger.propagate))

    def configure(self, args: argparse.Namespace, stderr: Stream) -> None:
        root = logging.getLogger("layer_sync")
        self._save(root)
        self._save(logging.getLogger("layer_sync.sandbox"))
        for handler in list(root.handlers):
            root.removeHandler(handler)
        verbose, quiet = getattr(args, "verbose", False), getattr(args, "quiet", False)
        log_file = getattr(args, "log_file", None)
        level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
        root.setLevel(logging.DEBUG if log_file else level)
        root.propagate = False
        console = logging.StreamHandler(stderr)
        console.setLevel(level)
        console.setFormatter(_Printable("%(message)s"))
        console.addFilter(_for_the_console)
        for key_filter in self._filters:
            console.addFilter(key_filter)
        root.addHandler(console)
        self._added.append(console)
        if log_file:
            try:
                file_handler = _LogFile(log_file, stderr)
            except OSError as exc:
                raise ConfigError(f"cannot open the log file {log_file}: {exc.strerror}") from None
            # -q quiets the terminal (cron's mail); the log file keeps the run's INFO lines
            # (which sheet, the lock waited for, ...), a handful a night.
            file_handler.setLevel(logging.DEBUG if verbose else logging.INFO)
            file_handler.setFormatter(_Printable("%(asctime)s %(levelname)s %(message)s"))
            for key_filter in self._filters:
                file_handler.addFilter(key_filter)
            root.addHandler(file_handler)
            self._added.append(file_handler)

    def restore(self) -> None:
        for handler in self._added:
            with contextlib.suppress(Exception):
                handler.flush()
                handler.close()
        for logger, level, handlers, propagate in reversed(self._saved):
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
            for handler in handlers:
                logger.addHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate
        self._saved, self._added = [], []


def _for_the_console(record: logging.LogRecord) -> bool:
    """Lines logged with `extra=FILE_ONLY` go to the log file only: the terminal has them
    already, as the command line printed them (its error line, its summary)."""
    return getattr(record, "console", True) is not False


#: `log.error(..., extra=FILE_ONLY)`: a line for the --log-file, not the terminal: the
#: run's start and end (kept with -q too: every run leaves its dated line).
FILE_ONLY = {"console": False}


class _LogFile(logging.FileHandler):
    """The --log-file. A line it cannot write (a full disk) is said once, on the terminal, and
    the file takes no more; the run goes on (the standard handler printed a traceback for
    every line)."""

    def __init__(self, path: str, console: Stream) -> None:
        super().__init__(path, mode="a", encoding="utf-8")
        self._console = console
        self.failed = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.failed:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        if self.failed:
            return
        self.failed = True
        error = sys.exc_info()[1]
        reason = getattr(error, "strerror", None) or type(error).__name__
        with contextlib.suppress(Exception):
            self._console.write(f"layer-sync: warning: could not write the log file "
                                f"{printable(self.baseFilename)} ({reason}); it takes no more "
                                "lines this run\n")


class StopSignals:
    """SIGTERM and SIGHUP stop a run the way Ctrl-C does (cron's and systemd's time limits and
    timeout(1) send SIGTERM; a closed terminal sends SIGHUP). Only the signals the platform
    has are handled: Windows has no SIGHUP, and its console's Ctrl-Break (SIGBREAK) stops a
    run as SIGTERM does (exit 143).

    The first signal calls `control.interrupt(signum)`: a sync that watches the control
    (`watching = True`) sends nothing more, waits briefly for the answers in flight, writes
    the report of what was done and ends with exit code 128 + the signal. For a command that
    does not watch it (export, template, check), the signal raises `errors.Interrupted` in
    the main thread instead. Later signals are noted and ignored, so that the report gets
    written. A signal the caller ignores (nohup's SIGHUP, SIGINT in a background job) stays
    ignored. Installed only here, for the length of main(), and put back afterwards.
    """

    SIGNALS = STOP_SIGNALS

    #: The same signal again within this many seconds is its echo, not a second request:
    #: timeout(1) and a closed terminal send one to the process and to its group.
    ECHO_S = 1.0

    def __init__(self, stderr: Stream, clock: Callable[[], float] = time.monotonic,
                 early: list[int] | None = None) -> None:

        self.control = RunControl()
        self.watching = False
        self.received: int | None = None
        self._stderr = stderr
        self._clock = clock
        self._received_at = 0.0
        self._previous: dict[int, Any] = {}
        self._early = early if early is not None else []

    def __enter__(self) -> Self:
        if threading.current_thread() is not threading.main_thread():
            return self  # signals reach the main thread only; a caller's thread keeps its own
        for signum in self.SIGNALS:
            try:
                if signal.getsignal(signum) is signal.SIG_IGN:
                    continue
                self._previous[signum] = signal.signal(signum, self._handle)
            except (ValueError, OSError):
                pass
        if self._early:  # came before these handlers: the first one is this run's request
            self.received = self._early[0]
            self._received_at = self._clock()
            self.control.interrupt(self.received)
            self._early.clear()
        return self

    def _handle(self, signum: int, frame: Any) -> None:

        if self.received is not None:
            if signum == self.received and self._clock() - self._received_at < self.ECHO_S:
                return  # the same signal, sent to the group as well: nothing to say
            with contextlib.suppress(Exception):  # never fail inside a handler
                self._stderr.write(f"layer-sync: still stopping ({signal_name(signum)} "
                                   "ignored): waiting for the answers in flight, then writing "
                                   "the report\n")
            return
        self.received = signum
        self._received_at = self._clock()
        self.control.interrupt(signum)
        if not self.watching:
            raise Interrupted(signum)

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous = {}


class _Printable(logging.Formatter):
    """Log lines with control characters and line breaks shown as U+FFFD (a file name or a
    record with an escape sequence or a line break in it can neither rewrite the screen nor
    forge a line of the log); a traceback after the line keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return one_line(super().formatMessage(record))

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))
