"""The console script's first code: the stop signals are caught before anything else loads.

Loading the package takes a fifth of a second; a signal in that time (cron's time limit, a
Ctrl-C typed at once) would otherwise end the process as Python's defaults do, with a
traceback or without the JSON line. Here each one is only noted, and the run's own handlers
(cli/process.StopSignals) take it over as soon as they are installed: the run then ends as
stopped before anything was written, with its exit code and its JSON line. The same handler
is in place again once they are put back, and the signals are ignored once the run is over,
so a signal after the run's end leaves the exit code the JSON line gave. This module imports only the package's core at its
top, and the package's own top (`layer_sync/__init__.py`) loads its parts only when used.
"""

from __future__ import annotations

import signal
from typing import Any

from .core.errors import STOP_SIGNALS

#: The signals noted while no run's handlers are in place, oldest first.
pending: list[int] = []


def note(signum: int, frame: Any) -> None:
    """Note a stop signal for the run to take over (see the module's docstring)."""
    pending.append(signum)


def run() -> None:
    """The `layer-sync` console script (and `python -m layer_sync`)."""
    for signum in STOP_SIGNALS:
        try:
            if signal.getsignal(signum) is not signal.SIG_IGN:  # nohup's SIGHUP stays ignored
                signal.signal(signum, note)
        except (ValueError, OSError):  # not the main thread, or not settable here
            pass
    # Only now the package: what it takes to load is covered by `note`.
    from .cli.console import run as console_run

    try:
        console_run(pending)  # ends with SystemExit(the JSON line's exit code)
    finally:
        # The run is over. Python puts its default handlers back while it shuts down (tens of
        # ms with the libraries loaded), and a SIGTERM then would end the process as killed
        # after the JSON line gave its code; an ignored signal stays ignored through that.
        for signum in STOP_SIGNALS:
            try:
                signal.signal(signum, signal.SIG_IGN)
            except (ValueError, OSError):
                pass
