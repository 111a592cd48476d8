"""Where layer-sync may write: the rules for output paths, the names it picks itself, and
writing a file so that it appears whole, with the user's umask.

The rules, the same for `sync`'s report and log file and for `export` / `template`:

- an output never names an input: compared by identity (device and inode), so a hard link or
  a symbolic link to the sheet counts as the sheet;
- an output that exists must be a regular file (not a device, FIFO, folder, or a link to one,
  nor a broken link): writing "through" `/dev/sda` or a FIFO is never what was meant;
- an existing report is replaced only when it is a layer-sync report, or with `--force`;
- a name the tool picks itself never replaces anything: it is created exclusively.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import os
import re
import stat
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from ..core.errors import ConfigError, option
from ..core.secrets import NO_KEYS, REDACTED, Redactor
from ..core.text import name_part
from ..read.workbook import Workbook

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISSOCK, "a socket"))


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """True when both paths exist and are one file (symbolic and hard links followed)."""
    try:
        return os.path.samestat(os.stat(a), os.stat(b))
    except (OSError, ValueError):
        return False


def check_output(path: str | os.PathLike[str], what: str, *,
                 inputs: Iterable[str | os.PathLike[str]] = (),
                 exists_ok: bool | Callable[[Path], bool] = True,
                 exists_hint: str = f"choose another name, or replace it with {option('force')}",
                 ) -> Path:
    """Refuse (ConfigError, exit 2) an output path that must not be written.

    `what` names the path in the message: an option (`report`, `log_file`), which the
    command line shows as its flag, or words (`the file`). `inputs`: files the run reads,
    which the output must not be. `exists_ok`: whether an existing regular file may be
    replaced (or appended to): True, False, or a test of the file.
    """
    path = Path(path)
    if what.isidentifier():  # an option's name: the command line shows its flag
        what = option(what)

    def refuse(message: str) -> ConfigError:
        return ConfigError(message, kind="output_refused")

    for source in inputs:
        if same_file(path, source):
            raise refuse(f"{what} {path} is the input file {source} (the same file"
                         f"{' under another name' if Path(source) != path else ''}); "
                         "layer-sync only reads its input: choose another name")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.lexists(path):
            raise refuse(f"{what} {path} is a broken symbolic link; remove it or choose "
                         "another name") from None
        return path
    except OSError:
        return path  # a folder that cannot be searched, or not a folder: writing will say so
    for test, kind in _KINDS:
        if test(mode):
            raise refuse(f"{what} {path} is {kind}, not a regular file; give the name of a "
                         "file to write")
    if not stat.S_ISREG(mode):
        raise refuse(f"{what} {path} is not a regular file; give the name of a file to write")
    allowed = exists_ok(path) if callable(exists_ok) else exists_ok
    if not allowed:
        raise refuse(f"{what} {path} exists; {exists_hint}")
    return path


def check_report_path(path: str | os.PathLike[str], *,
                      inputs: Iterable[str | os.PathLike[str]] = (),
                      force: bool = False) -> Path:
    """The rules for a `report` path: the name ends in `.xlsx` (what the report is: a workbook
    named `notes.txt` or `run.csv` would open as garbage, or not at all); an existing file is
    replaced only when it is a layer-sync report, or with `force` (never when it is an input
    or not a regular file)."""
    check_output(path, "report", inputs=inputs)  # never an input, a device, a FIFO…
    if Path(path).suffix.lower() != ".xlsx":
        raise ConfigError(f"{option('report')} {path}: the report is an Excel workbook; "
                          f"give a name ending in .xlsx (e.g. {_xlsx_hint(str(path))})", kind="output_refused")
    checked = check_output(path, "report", inputs=inputs,
                           exists_ok=True if force else is_layer_sync_report,
                           exists_hint="it is not a layer-sync report, so it is left alone; "
                                       f"choose another {option('report')} name, or replace it with "
                                       f"{option('force')}")
    _check_folder(Path(path))
    return checked


def _xlsx_hint(given: str) -> str:
    """The name given, ending in .xlsx: the whole of it, never a piece (a key pasted there by
    mistake is replaced in the output only where it stands whole)."""
    suffix = Path(given).suffix
    if not suffix:
        return given + ".xlsx"
    if suffix.lower() in (".txt", ".csv", ".tsv", ".xls", ".xlsm", ".ods", ".xml", ".pdf"):
        return given[:-len(suffix)] + ".xlsx"
    return "nightly.xlsx"


def _check_folder(path: Path) -> None:
    """A report that could never be written is refused before anything is sent (else the
    writes would be done and the night's record lost at the end): its folder, or the nearest
    one that exists, must be a folder this user may write in, and its name must fit one."""
    if len(os.fsencode(path.name)) > _MAX_NAME_BYTES:
        raise ConfigError(f"{option('report')} {path}: the file name is too long for a "
                          f"folder (at most {_MAX_NAME_BYTES} bytes); give a shorter one", kind="output_refused")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ConfigError(f"{option('report')} {path}: {folder} is not a folder; give a path "
                          "in one", kind="output_refused")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{option('report')} {path}: you may not write in {folder}; give a "
                          "path in a folder you can write in", kind="output_refused")


#: The longest file name most file systems take, less room for the temporary file's name.
_MAX_NAME_BYTES = 200


def report_input(path: str | os.PathLike[str]) -> str | None:
    """The input file a layer-sync report's Summary names (as that run was given it), or None
    for a file that is no layer-sync report (the reader's own test, as `is_layer_sync_report`)."""
    try:
        book = Workbook(Path(path), ".xlsx")
    except Exception:  # noqa: BLE001 (whatever a hostile file does, it is not a report)
        return None
    try:
        return book.report_input()
    except Exception:  # noqa: BLE001 (likewise)
        return None
    finally:
        book.close()


def is_layer_sync_report(path: str | os.PathLike[str]) -> bool:
    """True for a workbook that the reader recognises as a layer-sync report (sheets Summary
    and Rows, "layer-sync report" in Summary!A1): the reader's own test, so that the two never
    disagree. Anything unreadable or hostile is simply not one of our reports."""

    try:
        book = Workbook(Path(path), ".xlsx")  # our reports are .xlsx, whatever their name
    except Exception:  # noqa: BLE001 (whatever a hostile file does, it is not a report)
        return False
    try:
        return book.report_input() is not None
    except Exception:  # noqa: BLE001 (likewise)
        return False
    finally:
        book.close()


# ----------------------------------------------------------------------------- picked names

class ReservedName:
    """A file name the tool picked, held by an empty file created exclusively, so that no
    other run picks it; the report later replaces the empty file. `release()` removes the
    empty file if nothing replaced it (the run ended without a report), and the folder too
    when it was made for it and holds nothing else."""

    def __init__(self, path: Path, identity: os.stat_result | None,
                 made_folder: Path | None = None) -> None:
        self.path = path
        self._identity = identity
        self._made_folder = made_folder

    def release(self) -> None:
        """Remove the placeholder, only if it is still the empty file created here."""
        if self._identity is None:
            return
        try:
            current = os.lstat(self.path)
            if os.path.samestat(current, self._identity) and current.st_size == 0:
                os.unlink(self.path)
                if self._made_folder is not None:
                    os.rmdir(self._made_folder)  # only if empty: else OSError, and it stays
        except OSError:
            pass
        self._identity = None


#: What stands for the API key in a report's name when the sheet's name holds it (`***` is
#: no character of a Windows file name).
KEY_IN_NAME = "KEY-REMOVED"


def report_stem(input_path: Path, now: _dt.datetime, redactor: Redactor = NO_KEYS) -> str:
    """`layer-sync_<stem>_<suffix>_<YYYYmmdd-HHMMSS-mmm>`: the input's suffix tells apart the
    reports of lab.csv and lab.xlsx, milliseconds those of two quick runs. A key of
    `redactor` in the sheet's name is left out of the report's (`KEY_IN_NAME`)."""
    return f"{report_prefix(input_path, redactor)}{now.strftime('%Y%m%d-%H%M%S')}-{now.microsecond // 1000:03d}"


#: The most bytes of the input's stem a report name keeps.
_STEM_BYTES = 100


def report_prefix(input_path: Path, redactor: Redactor = NO_KEYS) -> str:
    """`layer-sync_<stem>_<suffix>_`: what the names of one sheet's reports start with, and
    no other sheet's (retention removes only names with this prefix).

    The input's name as a file name may hold it (`core.text.name_part`: one rule with the
    line sanitiser): control and format characters (U+202E would show the name reversed) and
    bytes that did not decode (a name from a cp1252 share: written to a folder that takes only
    UTF-8 names, it would fail) shown as "_"; cut to 100 bytes (a 240-character input name
    made a report name no folder takes, found only when the report was written). A stem or
    suffix that had to be changed ends in `~` and 8 hex digits of a hash of the input's whole
    name (its bytes), so two sheets whose names differ only there never share a prefix (one's
    retention would remove the other's reports). A key of `redactor` in the stem is
    `KEY_IN_NAME`."""
    whole_suffix = input_path.suffix.lstrip(".").lower()
    suffix = name_part(whole_suffix) or "file"
    whole = input_path.stem
    stem = name_part(whole)
    if redactor and redactor.redact(input_path.name) != input_path.name:
        stem = redactor.redact(stem).replace(REDACTED, KEY_IN_NAME)
    encoded = os.fsencode(stem)
    if stem != whole or suffix != (whole_suffix or "file") or len(encoded) > _STEM_BYTES:
        digest = hashlib.sha256(os.fsencode(input_path.name)).hexdigest()[:8]
        cut = encoded[:_STEM_BYTES - 9].decode(sys.getfilesystemencoding(), "ignore")
        stem = f"{cut}~{digest}"
    return f"layer-sync_{stem or 'input'}_{suffix}_"


#: The folder of the reports layer-sync names itself, beside the sheet (`report_dir`).
REPORTS_FOLDER = "layer-sync-reports"


def report_folder(input_path: Path, report_dir: Path | None) -> Path:
    """Where a report of its own name goes: `report_dir`, else `layer-sync-reports` beside
    the sheet (a sheet on a shared drive has its nights beside it, whatever folder cron
    starts in), else (a DataFrame, no file) in the current folder."""
    if report_dir is not None:
        return report_dir
    base = input_path.parent if input_path.is_file() else Path()
    return base / REPORTS_FOLDER


def own_reports(folder: Path, input_path: Path,
                redactor: Redactor = NO_KEYS) -> list[tuple[_dt.datetime, Path]]:
    """The files in `folder` named as this sheet's reports are (`report_prefix`, with the
    keys of `redactor` left out), oldest first, with the time in their name: by name only
    (their content is not looked at)."""
    pattern = re.compile(re.escape(report_prefix(input_path, redactor))
                         + r"(\d{8}-\d{6})-(\d{3})(?:-\d+)?\.xlsx")
    found = []
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    for name in names:
        match = pattern.fullmatch(name)
        if match is None:
            continue
        try:
            when = _dt.datetime.strptime(match[1], "%Y%m%d-%H%M%S").replace(
                microsecond=int(match[2]) * 1000)
        except ValueError:
            continue
        found.append((when, folder / name))
    return sorted(found)


#: A reserved name still empty this long after it was made belongs to a run that was killed
#: (a run replaces it with its report when it ends; none runs for hours).
PLACEHOLDER_STALE_S = 6 * 3600.0


def clean_placeholders(folder: Path, input_path: Path,
                       redactor: Redactor = NO_KEYS) -> list[Path]:
    """Remove this sheet's reserved names that killed runs left empty (`ReservedName`): empty
    regular files named as its reports, unchanged for `PLACEHOLDER_STALE_S`. Never raises.
    (Were a live run's removed, its report would still be written under its name.)"""
    removed = []
    for _, path in own_reports(folder, input_path, redactor):
        try:
            info = os.lstat(path)
            if (stat.S_ISREG(info.st_mode) and info.st_size == 0
                    and time.time() - info.st_mtime > PLACEHOLDER_STALE_S):
                os.unlink(path)
                removed.append(path)
        except OSError:
            continue
    return removed


def reserve_report_name(input_path: Path, now: _dt.datetime, folder: Path,
                        redactor: Redactor = NO_KEYS) -> ReservedName:
    """A report name in `folder` that no file has, held until the report replaces it
    (`-2`, `-3`... are added while a name is taken). A folder that cannot be made or written
    in is refused here, before anything is sent (a night would otherwise do its writes and
    lose its record at the end). `redactor`: the keys the name must not hold."""
    if redactor and redactor.redact(input_path.name) != input_path.name:
        logging.getLogger("layer_sync").warning(
            "the sheet's file name holds the API key: the report's name leaves it out (%s); "
            "rename the sheet", KEY_IN_NAME)
    stem = report_stem(input_path, now, redactor)
    made = None if folder.is_dir() else folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unwritable(folder, exc) from None
    clean_placeholders(folder, input_path, redactor)
    for n in range(1, 1000):
        candidate = folder / (f"{stem}.xlsx" if n == 1 else f"{stem}-{n}.xlsx")
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                         | getattr(os, "O_BINARY", 0), 0o666)  # Windows: not in text mode
        except FileExistsError:
            continue
        except OSError as exc:
            raise _unwritable(folder, exc) from None
        try:
            return ReservedName(candidate, os.fstat(fd), made)
        finally:
            os.close(fd)
    raise ConfigError(f"no free report name in {folder} for {stem}; give one with "
                      f"{option('report')}", kind="output_refused")


def _unwritable(folder: Path, exc: OSError) -> ConfigError:
    return ConfigError(f"the reports' folder {folder} cannot be written ({exc.strerror or exc}); "
                       f"set {option('report_dir')} (in layer-sync.toml: report_dir = \"...\") "
                       f"to a folder you can write in, or give {option('report')}",
                       kind="output_refused")


# ----------------------------------------------------------------------------- the command line's outputs


# ----------------------------------------------------------------------------- writing

