"""The errors a user can act on, and the exit codes that cron and monitoring read."""

from __future__ import annotations

import re
import signal
from collections.abc import Mapping
from enum import IntEnum


class ExitCode(IntEnum):
    """What `layer-sync` exits with.

    0: every row is in sync (or would be, in a dry run) and none is invalid.
    1: the run finished, but some rows are invalid or failed.
    2: the run could not be done in full (bad arguments, unreadable input, no header,
       key refused, API unreachable, another run holding the lock, an unusable output path,
       the report could not be written).
    129 / 130 / 143: stopped by SIGHUP / Ctrl-C / SIGTERM (128 + the signal): nothing more
       was sent; the report of what was done and the JSON line were still written.
    """

    OK = 0
    ROWS_NEED_ATTENTION = 1
    RUN_INCOMPLETE = 2
    HANGUP = 129
    INTERRUPTED = 130
    TERMINATED = 143

    @classmethod
    def for_signal(cls, signum: int) -> ExitCode:
        """128 + the signal, for the signals a run handles (others count as SIGTERM)."""
        try:
            return cls(128 + int(signum))
        except ValueError:
            return cls.TERMINATED


class LayerSyncError(Exception):
    """An error the user can fix; its message says what to do next.

    An option named in the message is written with `option("api_url")`: the library's
    message shows the name as it is (`api_url`), the command line's (`for_cli`) its flag
    (`--api-url`).
    """

    exit_code: ExitCode = ExitCode.RUN_INCOMPLETE
    #: Why, in a short stable word for the JSON line's `reason.kind` (`no_key`, `locked`…).
    kind: str = "run_incomplete"

    def __init__(self, *args: object, kind: str | None = None) -> None:
        super().__init__(*args)
        if kind is not None:
            self.kind = kind

    def __str__(self) -> str:
        return _MARKED.sub(r"\1", super().__str__())

    def for_cli(self, named: Mapping[str, str] | None = None) -> str:
        """The message with each option named as the command line's flag, or as `named`
        says (an option whose value came from a config file is named there)."""
        named = named or {}
        return _MARKED.sub(lambda m: named.get(m.group(1)) or flag(m.group(1)),
                           super().__str__())


#: An option's name in a message (see `option`).
_MARK = "\x1f"
_MARKED = re.compile(f"{_MARK}([a-z_]+){_MARK}")


def option(name: str) -> str:
    """`name` marked as an option's in a message: `api_url` for the library, `--api-url` for
    the command line (`LayerSyncError.for_cli`)."""
    return f"{_MARK}{name}{_MARK}"


def flag(name: str) -> str:
    """`api_key_file` -> `--api-key-file`."""
    return "--" + name.replace("_", "-")


class InputFileError(LayerSyncError):
    """The input file cannot be used: missing, empty, corrupt, protected, no header."""

    kind = "input_unreadable"


class ConfigError(LayerSyncError):
    """Bad arguments or missing configuration (API key, URL)."""

    kind = "bad_configuration"


class OptionError(ConfigError):
    """An option's value cannot be used: `option` names it (`timeout`), the message says why."""

    kind = "bad_option"

    def __init__(self, name: str, detail: str) -> None:
        super().__init__(f"{option(name)} {detail}")
        self.option = name
        self.detail = detail


class LockedError(LayerSyncError):
    """Another run is writing to the same server (the lock of run/lock.py)."""

    kind = "locked"


class ApiError(LayerSyncError):
    """A request failed for good. `status` is the HTTP status, or None without an answer."""

    kind = "api_error"

    def __init__(self, message: str, status: int | None = None, attempts: int = 1, *,
                 kind: str | None = None, in_doubt: bool = False) -> None:
        super().__init__(message, kind=kind)
        self.status = status
        self.attempts = attempts
        #: Whether the server may have stored the write all the same (its answer was lost).
        self.in_doubt = in_doubt


class AuthError(ApiError):
    """401 / 403: the key is missing, wrong, revoked or lacks the write scope."""

    kind = "key_refused"


class ApiDownError(ApiError):
    """Too many failed attempts in a row across all workers: the API is taken to be down."""

    kind = "api_down"


class ReportError(LayerSyncError):
    """The report workbook could not be written."""

    kind = "report_unwritable"


class Interrupted(KeyboardInterrupt):
    """The run was asked to stop by a signal (SIGTERM, SIGHUP, or Ctrl-C's SIGINT).

    Raised in the main thread by the command line's signal handler, and by a run that is
    stopped while it waits for another run's lock (nothing was read or sent yet); never
    elsewhere by the library. It is a KeyboardInterrupt, so everything that stops cleanly on Ctrl-C stops cleanly on
    it too; `sync_file` turns it into an outcome whose exit code is 128 + `signum`.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal_name(signum))
        self.signum = int(signum)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.for_signal(self.signum)


#: The signals that stop a run, those this platform has: Ctrl-C, SIGTERM (time limits,
#: timeout(1)), SIGHUP (a closed terminal) and Windows' Ctrl-Break.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK")
                     if hasattr(signal, name))


def signal_name(signum: int) -> str:
    """`SIGTERM` for 15; Ctrl-C for SIGINT, as a technician knows it."""
    if signum == signal.SIGINT:
        return "Ctrl-C"
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
