"""Run control: whether a run goes on sending, and if not, why.

One `RunControl` per run, shared by every worker. Anything that learns the run must stop
says so here: the client when the key is refused or the API is down, the run itself when
nobody needs the answers any more, the command line when a signal arrives (`interrupt`).
The retry policy and the client only ask it (`stopped`) before each attempt and each wait;
the run's owner reads `reason` and `message` at the end to say how it went.
"""

from __future__ import annotations

import threading
from enum import Enum

from .errors import ApiError, signal_name


class StopReason(Enum):
    """Why a run stopped sending; the value is the words a user reads."""

    KEY_REFUSED = "the API key was refused"
    API_DOWN = "the API looks down"
    INTERRUPTED = "the run was interrupted"
    CANCELLED = "the run no longer needed it"
    WAIT_TOO_LONG = "the server asked us to wait too long"


_KINDS = {StopReason.KEY_REFUSED: "key_refused", StopReason.API_DOWN: "api_down",
          StopReason.INTERRUPTED: "interrupted", StopReason.CANCELLED: "run_incomplete",
          StopReason.WAIT_TOO_LONG: "wait_too_long"}


class RunStopped(ApiError):
    """A request not sent (or given up) because the run was interrupted or cancelled."""

    kind = "stopped"


class RunControl:
    """Whether the run may send more, and why not. Safe across threads and signal handlers.

    `grace_s`: once interrupted, how long the run still waits for answers already in flight
    (they are the server's word on writes it may have stored) before it reports them unknown.
    """

    def __init__(self, grace_s: float = 5.0) -> None:
        self.grace_s = grace_s
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self.reason: StopReason | None = None
        self.message = ""
        #: The signal that interrupted the run, if one did (signal.SIGINT for Ctrl-C).
        self.signal: int | None = None

    @property
    def stopped(self) -> bool:
        """True once anything has stopped the run: send nothing more."""
        return self._stopped.is_set()

    def stop(self, reason: StopReason, message: str = "") -> bool:
        """Stop the run for `reason`. The first reason wins; returns True if this call set it."""
        with self._lock:
            first = self.reason is None
            if first:
                self.reason = reason
                self.message = message or f"{reason.value}; nothing more was sent"
        self._stopped.set()
        return first

    def interrupt(self, signum: int | None = None) -> None:
        """Stop because the user or the system asked (Ctrl-C, SIGTERM, SIGHUP).

        Meant to be called from a signal handler, so it takes none of this object's locks
        (the interrupted code may hold one): it sets plain attributes and the stop event,
        which wakes every wait. Nothing more is sent after it; answers already in flight are
        awaited for `grace_s` seconds, then reported as unknown.
        """
        if self.reason is None:
            self.signal = signum
            self.reason = StopReason.INTERRUPTED
            name = signal_name(signum) if signum is not None else ""
            self.message = (f"interrupted{f' by {name}' if name else ''}: nothing more was "
                            "sent; the rows not sent are marked skipped")
        self._stopped.set()

    def cancel(self) -> None:
        """Stop the requests under way because nobody needs their answers any more."""
        self.stop(StopReason.CANCELLED, "cancelled: the run no longer needs this request")

    @property
    def kind(self) -> str | None:
        """Why the run stopped, as the JSON line's `reason.kind` (None: it did not)."""
        return _KINDS.get(self.reason) if self.reason is not None else None

    @property
    def interrupted(self) -> bool:
        return self.reason is StopReason.INTERRUPTED

    def sleep(self, seconds: float) -> None:
        """Wait `seconds`, or less if the run is stopped meanwhile (a backoff that a stop ends)."""
        self._stopped.wait(max(0.0, seconds))

    def skip_note(self) -> str:
        """The message of a row that was not sent because the run stopped."""
        reason = self.reason.value if self.reason else "the run stopped"
        return f"not sent: {reason}"
