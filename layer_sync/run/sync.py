"""`sync_file` and `sync_stacks`: what `layer-sync sync` does, as library functions.

read the sheet -> read the server's records -> plan -> write -> report, one step after the
other. Nothing here prints or exits; the outcome says what happened and which exit code it
means. A stop (a signal handler calling `RunControl.interrupt`, the key refused, the API down)
ends in an outcome too: nothing more is sent, and the report of what was done is written.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..core.control import RunControl, RunStopped
from ..core.errors import ApiError, ConfigError, ReportError
from ..core.runtime import Progress  # progress(phase, done, total, retries)
from ..core.secrets import ApiKey, key_forms
from ..core.text import plural
from ..outcome.results import SyncOutcome
from ..outcome.rows import Result, RowResult
from ..plan.actions import Action, ActionKind
from ..plan.build import build_plan, merge_issues
from ..read.files import check_input_file
from ..read.rows import SheetData
from ..read.stacks import read_stacks
from ..remote.client import ApiClient
from ..remote.retry import RetryPolicy
from ..remote.settings import (
    MAX_ATTEMPTS,
    MAX_CONCURRENCY,
    MAX_TIMEOUT_S,
    resolve_api_key,
    resolve_api_url,
)
from ..report.paths import check_report_path, reserve_report_name, temp_folder_problem
from ..report.writer import write_report
from .apply import apply_plan, dry_run_results
from .lock import RunLock

log = logging.getLogger("layer_sync")



def sync_file(path: str | os.PathLike, *, api_key: str | ApiKey | None = None,
              api_url: str | None = None, sheet: str | Sequence[str] | None = None,
              all_sheets: bool = False, columns: Mapping[str, str] | None = None,
              dry_run: bool = False, report: str | os.PathLike | None | bool = None,
              force: bool = False, concurrency: int | None = None, max_concurrency: int = 32,
              max_attempts: int = 6, timeout: float = 30.0, max_consecutive_failures: int = 20,
              create_samples: bool = False, update_samples: bool = False,
              sleep: Callable[[float], None] | None = None,
              clock: Callable[[], float] = time.monotonic, progress: Progress | None = None,
              now: Callable[[], _dt.datetime] = _dt.datetime.now,
              lock_dir: str | os.PathLike | None = None,
              control: RunControl | None = None) -> SyncOutcome:
    """Sync one sheet with the server and write the report.

    `api_key` and `api_url`: as the command line finds them when not given: the key from
    ATOMSCALE_API_KEY, else AS_API_KEY; the URL from ATOMSCALE_API_URL, else AS_API_ENDPOINT,
    else the public API.
    `sheet`: a sheet name or several (case ignored); `all_sheets`: every sheet with a
    recognisable header. `columns`: a lab's header names mapped to fields
    (`{"Film": "composition_string"}`).
    `report`: a path, None for a new `reports/…` name of its own, or False for no report.
    An existing `report` is replaced only when it is a layer-sync report, or with `force`;
    never when it is the input (by identity) or not a regular file. A report that cannot be
    written sets `outcome.report_error` (exit code 2).
    `lock_dir`: where the lock that keeps two runs off one sheet lives (default: the user's
    `lock.lock_folder()`). `control`: the run's stop switch; a signal handler calls its
    `interrupt(signum)` (nothing more is sent, exit code 128 + the signal).

    Raises LayerSyncError (exit code 2) when the run cannot start: bad options, an unusable
    input file or report path, no header, another run holding the lock. Everything after the
    sheet is read ends in a SyncOutcome, whose `exit_code` says how it went.
    """

    _check_options(concurrency, max_concurrency, max_attempts, max_consecutive_failures, timeout)
    if isinstance(report, str) and not report.strip():
        raise ConfigError("the report's path is empty; give a file name, or leave --report out "
                          "for one of its own in reports/")
    path = Path(path)
    check_input_file(path)  # a missing or unusable file fails before any request
    if report:
        check_report_path(report, inputs=[path], force=force)
    elif report is None and (problem := temp_folder_problem()):  # the default report's writer
        raise ConfigError(problem)
    with RunLock.acquire(path, lock_dir):
        start = now(), clock()  # the run's duration counts the reading
        reserved = reserve_report_name(path, start[0]) if report is None else None
        try:
            if progress is not None:
                progress("reading", 0, None, 0)
            data = read_stacks(path, sheet, all_sheets=all_sheets, columns=columns,
                               progress=progress)
            log.info("read %s from %s, sheet %r (header on row %d)",
                     plural(len(data.rows), "row"), path.name, data.sheet, data.header_row)
            target = None if report is False else Path(report) if report else reserved.path
            return sync_stacks(data, api_key=api_key, api_url=api_url, dry_run=dry_run,
                               report=target, concurrency=concurrency,
                               max_concurrency=max_concurrency, max_attempts=max_attempts,
                               timeout=timeout,
                               max_consecutive_failures=max_consecutive_failures,
                               create_samples=create_samples, update_samples=update_samples,
                               sleep=sleep, clock=clock, progress=progress, now=now,
                               control=control, start=start)
        finally:
            if reserved is not None:
                reserved.release()  # the placeholder, when no report replaced it


def sync_stacks(data: "SheetData", *, api_key: str | ApiKey | None = None,
                api_url: str | None = None,
                dry_run: bool = False, report: str | os.PathLike | None = None,
                concurrency: int | None = None, max_concurrency: int = 32,
                max_attempts: int = 6, timeout: float = 30.0,
                max_consecutive_failures: int = 20, create_samples: bool = False,
                update_samples: bool = False, sleep: Callable[[float], None] | None = None,
                clock: Callable[[], float] = time.monotonic, progress: Progress | None = None,
                now: Callable[[], _dt.datetime] = _dt.datetime.now,
                control: RunControl | None = None,
                start: tuple[_dt.datetime, float] | None = None) -> SyncOutcome:
    """Sync stacks already read (`sheet.read_stacks`, `frames.read_frame`) with the server.

    The same plan, writes and report as `sync_file`, without the file's lock; `report` is a
    path or None (no report); `api_key` and `api_url` as in `sync_file`. `start`: when the
    run began, as (`now()`, `clock()`), when that was before the stacks were read (by
    default, now). Raises ConfigError for bad options or an unusable key or URL.
    """

    _check_options(concurrency, max_concurrency, max_attempts, max_consecutive_failures, timeout)
    api_url = resolve_api_url(api_url, os.environ)
    if api_key is None:
        api_key = resolve_api_key(os.environ)
    started_at, started = start or (now(), clock())
    control = control or RunControl()
    policy = RetryPolicy(max_attempts=max_attempts, timeout=timeout,
                         max_consecutive_failures=max_consecutive_failures,
                         clock=clock, sleep=sleep)
    client = ApiClient(api_url, api_key, policy, concurrency=concurrency,
                       max_concurrency=max_concurrency, control=control)
    outcome = SyncOutcome(path=Path(data.path), api_url=client.base_url, dry_run=dry_run,
                          started=started_at, finished=started_at, sheet=data.sheet,
                          headers=[h for h in data.headers if h],
                          ignored_columns=list(data.ignored_columns), issues=list(data.issues),
                          key_forms=key_forms(client.key.value))
    try:
        _plan_and_write(data, client, outcome, dry_run=dry_run, create_samples=create_samples,
                        update_samples=update_samples, concurrency=concurrency,
                        max_concurrency=max_concurrency, progress=progress)
    finally:
        client.close()
    if control.interrupted:  # a signal: exit 128 + the signal, the report still written
        outcome.stop_signal = int(control.signal or signal.SIGINT)
        outcome.fatal, outcome.message = True, control.message
    outcome.requests = dict(client.counters.requests)
    outcome.retries = client.counters.retries
    if not dry_run and (outcome.requests.get("POST") or outcome.requests.get("PATCH")):
        outcome.riding = client.throttle.riding()
    outcome.finished, outcome.duration_s = now(), clock() - started
    if report is not None:

        try:
            outcome.report = write_report(outcome, report)
        except ReportError as exc:
            outcome.report_error = str(exc)
            log.error("%s", exc)
        outcome.duration_s = clock() - started
    if control.interrupted and outcome.stop_signal is None:
        # The signal came while the report was saved: the report is whole (it says what was
        # done), and the exit code still says the run was stopped.
        outcome.stop_signal = int(control.signal or signal.SIGINT)
        outcome.fatal, outcome.message = True, control.message
    return outcome


def _plan_and_write(data: "SheetData", client: Any, outcome: SyncOutcome, *, dry_run: bool,
                    create_samples: bool, update_samples: bool, concurrency: int | None,
                    max_concurrency: int, progress: Progress | None) -> None:
    """Fill `outcome` with a result per row: planned against the server, then written."""

    def skip_all(reason: str) -> None:
        # A row with an error of its own stays invalid: it would not have been sent anyway.
        outcome.results = [RowResult(_blank_action(row), Result.INVALID,
                                     message="; ".join(i.message for i in row.errors))
                           if row.errors else
                           RowResult(_blank_action(row), Result.SKIPPED,
                                     message=f"not sent: {reason}") for row in data.rows]

    if client.control.stopped:  # interrupted while the sheet was read
        skip_all(client.control.message)
        return
    try:
        entries = _read_records(client)
    except ApiError as exc:
        outcome.fatal = True
        outcome.message = (str(exc) if exc.status in (401, 403)
                           else f"could not read the server's records: {exc}")
        skip_all(outcome.message)
        return
    plan = build_plan(data, entries, create_samples=create_samples,
                      update_samples=update_samples, progress=progress)
    outcome.remote_only = plan.remote_only
    outcome.issues = merge_issues(data.issues, plan)
    if dry_run:
        outcome.results = dry_run_results(plan)
        return
    def writing(done: int, total: int, retries: int) -> None:
        if progress is not None:
            progress("writing", done, total, retries)

    outcome.results, fatal = apply_plan(plan, client, plan.known_samples,
                                        concurrency=concurrency,
                                        max_concurrency=max_concurrency, progress=writing)
    if fatal:
        outcome.fatal, outcome.message = True, fatal


def _read_records(client: Any) -> list[dict[str, Any]]:
    """The server's records, read by a thread of its own while this one watches the run's
    control: after a signal, a server that never finishes its answer (one that trickles it
    byte by byte defeats any per-read timeout) is given the grace period, then left behind."""

    box: dict[str, Any] = {}

    def read() -> None:
        try:
            box["entries"] = client.list_target_materials()
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    reader = threading.Thread(target=read, name="read-records", daemon=True)
    reader.start()
    while reader.is_alive():
        reader.join(0.1)
        if client.control.interrupted:
            reader.join(client.control.grace_s)
            if reader.is_alive():
                raise RunStopped(client.control.message)
    if "error" in box:
        raise box["error"]
    return box["entries"]


def _check_options(concurrency: int | None, max_concurrency: int, max_attempts: int,
                   max_consecutive_failures: int, timeout: float) -> None:
    counts = (("concurrency", concurrency), ("max_concurrency", max_concurrency),
              ("max_attempts", max_attempts),
              ("max_consecutive_failures", max_consecutive_failures))
    for name, value in counts:
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be 1 or more")
    for name, value, most in (("concurrency", concurrency, MAX_CONCURRENCY),
                              ("max_concurrency", max_concurrency, MAX_CONCURRENCY),
                              ("max_attempts", max_attempts, MAX_ATTEMPTS)):
        if value is not None and value > most:
            raise ConfigError(f"{name} must be at most {most}")
    if not 0 < timeout <= MAX_TIMEOUT_S:  # also NaN and infinity
        raise ConfigError(f"timeout must be more than 0 and at most {MAX_TIMEOUT_S:g} seconds")


def _blank_action(row: Any) -> Any:

    return Action(row, ActionKind.SKIPPED, layer_id=row.values.get("layer_id"))
