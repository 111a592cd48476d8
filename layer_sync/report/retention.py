"""Keeping the reports folder tidy for nightly runs: the newest N of a sheet's own reports,
or those of the last N days, and nothing else is ever touched.

A report is removed only when all of these hold: it is in the reports folder itself (not
below it), its name is one layer-sync gives a report of *this* sheet
(`layer-sync_<stem>_<suffix>_<YYYYmmdd-HHMMSS-mmm>[-N].xlsx`, a long stem cut and marked
with a hash of the whole name: `paths.report_prefix`), it is a regular file (not a link), its
content is a layer-sync report (the reader's own test) whose Summary names this sheet as its
input (`_made_for`), and it is not the report just written.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path

from ..core.secrets import NO_KEYS, Redactor
from ..outcome.table import CellText
from .paths import own_reports, report_input, same_file

log = logging.getLogger("layer_sync")


def prune_reports(folder: Path, input_path: Path, *, keep: int | None, days: int | None,
                  now: _dt.datetime, written: Path | None,
                  redactor: Redactor = NO_KEYS) -> list[Path]:
    """Remove this sheet's older reports from `folder` as `keep` (the newest N) and `days`
    say; returns what was removed. `redactor`: the run's keys, as the reports' names and
    Summaries were written with them. Nothing is raised: a report that cannot be removed
    stays, and the log says so."""
    if keep is None and days is None:
        return []
    own = own_reports(folder, input_path, redactor)
    shown = CellText(redactor).text
    doomed: list[Path] = []
    if keep is not None and len(own) > keep:
        doomed += [path for _, path in own[:-keep]]
    if days is not None:
        limit = now.replace(tzinfo=None) - _dt.timedelta(days=days)
        doomed += [path for when, path in own if when < limit and path not in doomed]
    removed = []
    for path in doomed:
        if written is not None and _same(path, written):
            continue
        try:
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode) or not _made_for(report_input(path), input_path, shown):
                continue
            os.unlink(path)
        except OSError as exc:
            log.warning("could not remove the old report %s (%s)", path, exc.strerror or exc)
            continue
        removed.append(path)
    if removed:
        log.info("removed %d old report(s) of %s from %s", len(removed), input_path.name, folder)
    return removed


def _made_for(recorded: str | None, input_path: Path, shown: Callable[[str], str]) -> bool:
    """Whether a report whose Summary names `recorded` as its input was made for
    `input_path`: it is a report, of a file of the same name (the whole name: the report's
    own name may hold only its first 100 bytes) and, where the report gives a full path, of
    the same file (two `lab.csv` of two folders may share a --report-dir). Names are compared
    as the Summary shows them (`shown`: the report's own cell text, e.g. a byte of the name
    that did not decode as U+FFFD, the key as `***`), never as the file system gives them."""
    if recorded is None or recorded == "?":
        return False
    given = Path(recorded)
    if given.name != shown(input_path.name):
        return False
    if given.is_absolute():
        return same_file(given, input_path) or recorded == shown(str(input_path.absolute()))
    return True


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
