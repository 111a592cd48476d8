"""Writing a file so that it appears whole: through a temporary file beside it, renamed into
place when complete, with the user's umask. The report workbook goes through here."""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ..core.errors import ConfigError, ReportError
from ..outcome.results import CheckOutcome, SyncOutcome
from . import layout
from .content import ReportContent
from .paths import check_report_path

log = logging.getLogger("layer_sync")

#: The workbook's options: every string is written as text (never a formula, a number or a
#: link, whatever it holds: `layout` writes strings as strings besides); rows go to disk as
#: they are written (constant memory).
WORKBOOK_OPTIONS = {"strings_to_formulas": False, "strings_to_urls": False,
                    "strings_to_numbers": False, "constant_memory": True}


def write_report(outcome: SyncOutcome | CheckOutcome, path: str | os.PathLike[str], *,
                 force: bool = False) -> Path:
    """Write the report of a finished run to `path`; returns the path. Raises ReportError.

    The output rules are kept here, where the file is written, whoever calls: never the
    run's input, never a file that is not a regular file, an existing file only when it is a
    layer-sync report or with `force` (`paths.check_report_path`). The file is created with
    the user's umask, in a temporary folder in the target's folder
    (the writer's own temporary files go there too), then renamed into place, so a reader never
    sees half a workbook; nothing is left behind on any exit (an error, Ctrl-C, or the signal
    handler's exception during the save).
    """
    # ~40 ms to import: only runs that write a report need it. (Typed, but marked untyped.)
    import xlsxwriter  # type: ignore[import-untyped]
    from xlsxwriter.exceptions import XlsxWriterException  # type: ignore[import-untyped]

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
    book = None
    try:
        partial = Path(work) / path.name
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            # The file is created as any other (mode 0666 less the user's umask); mkstemp
            # would have made it 0600, unreadable to colleagues on a shared drive.
            book = xlsxwriter.Workbook(str(partial), {**WORKBOOK_OPTIONS, "tmpdir": work})
            layout.fill(book, ReportContent(outcome))
            book.close()
        for warning in said:  # a line in the log, never a warning's own two lines on stderr
            log.warning("the report writer: %s", warning.message)
        os.replace(partial, path)
    except (OSError, ValueError, XlsxWriterException) as exc:
        raise ReportError(f"cannot write the report {path}: {_reason(exc)}") from None
    finally:
        if book is not None:
            _release(book)
        shutil.rmtree(work, ignore_errors=True)
    return path


def _reason(exc: BaseException) -> str:
    """Why the writer failed, in a few words (the OSError inside XlsxWriter's own error)."""
    inner = exc.args[0] if exc.args and isinstance(exc.args[0], OSError) else exc
    reason = getattr(inner, "strerror", None) or str(inner) or type(inner).__name__
    return " ".join(reason.split())  # one line, whatever the library said


def _release(book: Any) -> None:
    """Close the temporary files of a workbook that was not saved (an error or Ctrl-C before
    the save): open, they could not be removed on Windows. A saved one has closed them."""
    for sheet in book.worksheets():
        handle = getattr(sheet, "row_data_fh", None)
        if handle is not None and not handle.closed:
            handle.close()


def write_atomically(path: str | os.PathLike[str],
                     write: Callable[[IO[bytes]], object]) -> Path:
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
