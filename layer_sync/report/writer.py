"""Writing a file so that it appears whole, with the user's umask: the one way layer-sync
writes its files (`replacing`), for the report workbook (`write_report`) and the template
and export sheets (`write_atomically`).

A file is written in a private folder made beside its target and renamed into place when
complete, so a reader never sees half of it, and the folder (with anything a writer kept
there) is removed on every exit: an error, Ctrl-C, the signal handler's exception. A folder
left by a run killed outright is recognised by its name and its owner lock, and removed by
the next write into the same folder (`clean_partials`).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
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
    # ~40 ms to import: only runs that write a report need it.
    import xlsxwriter
    from xlsxwriter.exceptions import XlsxWriterException

    path = Path(path)
    try:
        check_report_path(path, inputs=[outcome.path] if outcome.path.is_file() else [],
                          force=force)
    except ConfigError as exc:
        raise ReportError(f"cannot write the report: {exc}") from None
    book = None
    try:
        with replacing(path) as partial:
            try:
                with warnings.catch_warnings(record=True) as said:
                    warnings.simplefilter("always")
                    # The writer's own temporary files go in the private folder too.
                    book = xlsxwriter.Workbook(str(partial), {**WORKBOOK_OPTIONS,
                                                              "tmpdir": str(partial.parent)})
                    layout.fill(book, ReportContent(outcome))
                    book.close()
            finally:
                if book is not None:
                    _release(book)  # before the folder is removed (Windows keeps open files)
        for warning in said:  # a line in the log, never a warning's own two lines on stderr
            log.warning("the report writer: %s", warning.message)
    except (OSError, ValueError, XlsxWriterException) as exc:
        raise ReportError(f"cannot write the report {path}: {_reason(exc)}") from None
    return path


#: The private folders files are written in before they are renamed into place:
#: `.layer-sync-partial.<random>.tmp`, holding the file and `OWNER`, which the writing
#: process holds a kernel lock on while it writes (let go however it ends: `kill -9` too).
PARTIAL_PREFIX, PARTIAL_SUFFIX = ".layer-sync-partial.", ".tmp"
OWNER = "owner.lock"
#: A partial folder without its owner file (its run was killed between making the one and
#: the other) is left this long, in case a run is between the two right now.
UNOWNED_STALE_S = 600.0


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """The path to write `path`'s new content to, in a private folder made beside it: renamed
    into place when the block ends well; the folder removed on every exit. The file keeps the
    mode it was created with: made by `open` or `os.open(..., 0o666)`, that is 0666 less the
    user's umask, as any new file of theirs (mkstemp's 0600 would lock colleagues out on a
    shared drive). A run killed (`kill -9`, a power cut) leaves its folder behind: the next
    write into the same folder removes it (`clean_partials`). Raises OSError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_partials(path.parent)
    work = Path(tempfile.mkdtemp(prefix=PARTIAL_PREFIX, suffix=PARTIAL_SUFFIX, dir=path.parent))
    owner = None
    try:
        owner = os.open(work / OWNER, os.O_RDWR | os.O_CREAT | os.O_EXCL
                        | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0), 0o600)
        if _lock(owner, wait=True):
            # Written only once locked: an owner file with content and no lock is abandoned;
            # an empty one may be a writer between the two (see `_abandoned`).
            os.write(owner, f"{os.getpid()}\n".encode())
        partial = work / path.name
        yield partial
        os.replace(partial, path)
    finally:
        if owner is not None:
            os.close(owner)  # before the folder goes (Windows keeps open files)
        shutil.rmtree(work, ignore_errors=True)


def clean_partials(folder: Path) -> list[Path]:
    """Remove the partial folders (`PARTIAL_PREFIX`) that runs which were killed left in
    `folder`: only real folders of that name (never a link) whose owner file no process holds
    locked (or that have none, after `UNOWNED_STALE_S`). Returns what was removed; never
    raises (what cannot be removed stays)."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for entry in entries:
        name = entry.name
        if not (name.startswith(PARTIAL_PREFIX) and name.endswith(PARTIAL_SUFFIX)):
            continue
        try:
            if not entry.is_dir(follow_symlinks=False):
                continue
            if not _abandoned(Path(entry.path)):
                continue
        except OSError:
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        if not os.path.lexists(entry.path):
            removed.append(Path(entry.path))
    if removed:
        log.info("removed %d unfinished file(s) that stopped runs left in %s", len(removed),
                 folder)
    return removed


def _abandoned(work: Path) -> bool:
    """Whether no process writes in the partial folder `work` any more: its owner file holds
    what its writer wrote once it had the lock, and no process holds that lock now (the
    kernel let it go when the writer ended). Without an owner file, or with an empty one (a
    writer between making it and locking it, or killed right then), only when the folder is
    older than `UNOWNED_STALE_S`. Raises OSError."""
    stale = time.time() - os.lstat(work).st_mtime > UNOWNED_STALE_S
    try:
        fd = os.open(work / OWNER, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0)
                     | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return stale
    try:
        if not _lock(fd, wait=False):
            return False
        return os.fstat(fd).st_size > 0 or stale
    finally:
        os.close(fd)  # the lock goes with it: the folder is removed after


def _lock(fd: int, *, wait: bool) -> bool:
    """Take the kernel's lock on `fd` (POSIX flock; Windows: its first byte); False when
    another process holds it (with `wait`, still after half a second: only a cleaner's
    look holds a fresh owner file, for a moment), or the system has no lock (then a partial
    folder is never taken for abandoned). Never blocks for long (Windows' blocking lock
    would wait 10 s)."""
    fcntl, msvcrt = _platform_module("fcntl"), _platform_module("msvcrt")
    for _ in range(50 if wait else 1):
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            elif msvcrt is not None:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            else:
                return False
        except OSError:  # held by another process (BlockingIOError, or Windows' OSError)
            if wait:
                time.sleep(0.01)
            continue
        return True
    return False


def _platform_module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


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
    """Write `path` with `write(handle)` through `replacing`: whole or not at all, with the
    user's umask. Raises OSError."""
    path = Path(path)
    with replacing(path) as partial:
        # O_BINARY: on Windows a descriptor is otherwise in text mode (\n written as \r\n).
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
                     | getattr(os, "O_BINARY", 0), 0o666)
        with os.fdopen(fd, "wb") as handle:
            write(handle)
    return path
