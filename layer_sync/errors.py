"""The errors a user can act on, and the exit codes that cron and monitoring read."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What `layer-sync` exits with.

    0: every row is in sync (or would be, in a dry run) and none is invalid.
    1: the run finished, but some rows are invalid or failed.
    2: the run could not be done in full (bad arguments, unreadable input, no header,
       key refused, API unreachable, another run holding the lock, an unusable output path,
       the report could not be written).
    130 / 143: interrupted by Ctrl-C / SIGTERM (128 + the signal): nothing more was sent.
    """

    OK = 0
    ROWS_NEED_ATTENTION = 1
    RUN_INCOMPLETE = 2
    INTERRUPTED = 130
    TERMINATED = 143


class LayerSyncError(Exception):
    """An error the user can fix; its message says what to do next."""

    exit_code: ExitCode = ExitCode.RUN_INCOMPLETE


class InputFileError(LayerSyncError):
    """The input file cannot be used: missing, empty, corrupt, protected, no header."""


class ConfigError(LayerSyncError):
    """Bad arguments or missing configuration (API key, URL)."""


class LockedError(LayerSyncError):
    """Another run is syncing the same input file."""


class ApiError(LayerSyncError):
    """A request failed for good. `status` is the HTTP status, or None without an answer."""

    def __init__(self, message: str, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class AuthError(ApiError):
    """401 / 403: the key is missing, wrong, revoked or lacks the write scope."""


class ApiDownError(ApiError):
    """Too many failed attempts in a row across all workers: the API is taken to be down."""


class ReportError(LayerSyncError):
    """The report workbook could not be written."""
