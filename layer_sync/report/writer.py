"""Writing a file so that it appears whole: through a temporary file beside it, renamed into
place when complete, with the user's umask. The report workbook goes through here."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from ..core.errors import ConfigError, ReportError
from ..outcome.results import CheckOutcome, SyncOutcome
from .content import ReportContent
from .paths import check_report_path


def write_report(outcome: SyncOutcome | CheckOutcome, path: str | os.PathLike[str], *,
                 force: bool = False) -> Path:
    """Write the report of a finished run to `path`; returns the path. Raises ReportError.

    The output rules are kept here, where the file is written, whoever calls: never the
    run's input, never a file that is not a regular file, an existing file only when it is a
    layer-sync report or with `force` (`paths.check_report_path`). The file is created with
    the user's umask, in a temporary folder in the target's folder, then renamed into place,
    so a reader never sees half a workbook; nothing is left behind on any exit (an error,
    Ctrl-C, or the signal handler's exception during the save).
    """
    from ..report import (
        layout as report_layout,  # imports the writer: only runs that write a report need it
    )

    path = Path(path)
    try:
        check_report_path(path, inputs=[outcome.path] if outcome.path.is_file() else [],
                          force=force)
    except ConfigError as exc:
        raise ReportError(f"cannot write the report: {exc}") from None
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


def write_atomically(path: str | os.PathLike, write: Callable[[IO[bytes]], object]) -> Path:
    """Write `path` through a temporary file beside it, renamed into place when complete.

    The temporary file is created with mode 0666 less the user's umask, as any new file of
    theirs would be (tempfile's would be 0600: colleagues could not open it on a shared
    drive). Nothing is left behind if writing fails or is interrupted. Raises OSError.
    """
    path = Path(path)
    # O_BINARY: on Windows a descriptor is otherwise in text mode (each \n written as \r\n).
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
             | getattr(os, "O_BINARY", 0))
    name = re.sub(r"[^\w.-]", "_", path.stem)[:40]
    while True:
        tmp = path.with_name(f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path
