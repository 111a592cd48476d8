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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Unpack

from ..core.control import RunStopped
from ..core.errors import ApiError, ReportError
from ..core.options import SyncChanges, SyncOptions
from ..core.runtime import Runtime
from ..core.secrets import ApiKey, Redactor
from ..core.text import plural
from ..outcome.results import SyncOutcome
from ..outcome.rows import Result, RowResult
from ..plan.actions import Action, ActionKind
from ..plan.build import build_plan, merge_issues
from ..read.files import check_input_file
from ..read.rows import SheetData, SheetRow
from ..read.stacks import read_stacks
from ..remote.client import ApiClient
from ..remote.retry import RetryPolicy, settle_seconds
from ..remote.settings import resolve_api_key, resolve_api_url
from ..report.paths import ReservedName, check_report_path, report_folder, reserve_report_name
from ..report.retention import prune_reports
from ..report.writer import write_report
from .apply import apply_plan, dry_run_results
from .journal import Journal
from .lock import RunLock, lock_for_run
from .readback import read_back

log = logging.getLogger("layer_sync")


def sync_file(path: str | os.PathLike[str], *, api_key: str | ApiKey | None = None,
              options: SyncOptions | None = None, runtime: Runtime | None = None,
              **changes: Unpack[SyncChanges]) -> SyncOutcome:
    """Sync one sheet with the server and write the report.

    `options` (a `SyncOptions`) and keywords of the same names (`dry_run=True`,
    `report="nightly.xlsx"`, `sheet="Stacks"`, …) say how; the keywords win. `api_key`: the
    key itself; when not given it comes from `api_key_file`, else ATOMSCALE_API_KEY, else
    AS_API_KEY in `runtime.environ`. `report`: True (the default) for a new report of its own
    name in `reports/`, a path, or False/None for none; an existing file is replaced only
    when it is a layer-sync report, or with `force`, never when it is the input or not a
    regular file. `runtime` (a `Runtime`): clock, sleep, progress, the run's stop switch, the
    environment. A report that cannot be written sets `outcome.report_error` (exit code 2).

    While another run writes to the same server (any user's, on this machine), a run that
    writes waits for it up to `lock_wait` seconds; a dry run does not wait.

    Raises LayerSyncError (exit code 2) when the run cannot start: bad options, an unusable
    input file or report path, no header, no key, another run writing to the server past
    `lock_wait`. Everything
    after the sheet is read ends in a SyncOutcome, whose `exit_code` says how it went.
    """
    options = SyncOptions.build(options, changes)
    runtime = runtime or Runtime()
    path = Path(path)
    check_input_file(path)  # a missing or unusable file fails before any request
    client = _client(api_key, options, runtime)  # no key, a bad URL: before anything else
    try:
        report = _report_target(options, inputs=[path])
        with lock_for_run(client.base_url, dry_run=options.dry_run, wait=options.lock_wait,
                          runtime=runtime) as lock, _journal(lock, runtime) as journal:
            start = runtime.now(), runtime.clock()  # the run's duration counts the reading
            reserved = (_reserve(path, start[0], options, client.redactor) if report is True
                        else None)
            try:
                runtime.report("reading", 0, None, 0)
                data = read_stacks(path, options=options, runtime=runtime)
                log.info("read %s from %s, sheet %r (header on row %d)",
                         plural(len(data.rows), "row"), path.name, data.sheet,
                         data.header_row)
                return _sync(data, client, options, runtime, start, _target(report, reserved),
                             journal)
            finally:
                if reserved is not None:
                    reserved.release()  # the placeholder, when no report replaced it
    finally:
        client.close()


def sync_stacks(data: SheetData, *, api_key: str | ApiKey | None = None,
                options: SyncOptions | None = None, runtime: Runtime | None = None,
                **changes: Unpack[SyncChanges]) -> SyncOutcome:
    """Sync stacks already read (`read_stacks`, `read_frame`) with the server: the same plan,
    writes, server lock and report as `sync_file`. `report=True` names the report after
    `data.path` in `reports/`."""
    options = SyncOptions.build(options, changes)
    runtime = runtime or Runtime()
    client = _client(api_key, options, runtime)
    try:
        report = _report_target(options, inputs=[data.path] if data.path.is_file() else [])
        with lock_for_run(client.base_url, dry_run=options.dry_run, wait=options.lock_wait,
                          runtime=runtime) as lock, _journal(lock, runtime) as journal:
            start = runtime.now(), runtime.clock()
            reserved = (_reserve(data.path, start[0], options, client.redactor)
                        if report is True else None)
            try:
                return _sync(data, client, options, runtime, start, _target(report, reserved),
                             journal)
            finally:
                if reserved is not None:
                    reserved.release()
    finally:
        client.close()


def _client(api_key: str | ApiKey | None, options: SyncOptions, runtime: Runtime) -> ApiClient:
    """The API client of a run, its key and URL found as the options and environment say."""
    api_url = resolve_api_url(options.api_url, runtime.environ)
    if api_key is None:
        api_key = resolve_api_key(runtime.environ, options.api_key_file)
    policy = RetryPolicy(max_attempts=options.max_attempts, timeout=options.timeout,
                         max_consecutive_failures=options.max_consecutive_failures,
                         settle_s=settle_seconds(runtime.environ),
                         clock=runtime.clock, sleep=runtime.sleep)
    return ApiClient(api_url, api_key, policy, concurrency=options.concurrency,
                     max_concurrency=options.max_concurrency, control=runtime.control)


@contextmanager
def _journal(lock: RunLock | None, runtime: Runtime) -> Iterator[Journal | None]:
    """The journal of writes in flight beside the server's lock (none for a dry run, which
    holds no lock and writes nothing); removed at the end when every write was settled."""
    if lock is None:
        yield None
        return
    journal = Journal(lock.path.with_suffix(".journal"), wall=runtime.wall)
    try:
        yield journal
    finally:
        journal.finish()


def _after_last_run(journal: Journal | None, runtime: Runtime) -> None:
    """Before the server's records are read: if the last run against this server died with
    writes in flight, wait until any of them that is going to land has landed (the records
    then show it, and the plan sends nothing twice)."""
    if journal is None:
        return
    wait = journal.settle_wait(settle_seconds(runtime.environ))
    if wait > 0:
        (runtime.sleep or runtime.control.sleep)(wait)
    if not runtime.control.stopped:
        journal.clear()


def _report_target(options: SyncOptions, inputs: list[Path]) -> Path | bool:
    """The report's path checked before anything is sent (True: a name of its own, False:
    none); the writer checks it again when it writes."""
    if isinstance(options.report, Path):
        check_report_path(options.report, inputs=inputs, force=options.force)
    return options.report


def _reserve(path: Path, now: _dt.datetime, options: SyncOptions,
             redactor: Redactor) -> ReservedName:
    """A report name of its own for this run, in the reports' folder (see `report_folder`),
    never holding the key."""
    return reserve_report_name(path, now, report_folder(path, options.report_dir), redactor)


def _target(report: Path | bool, reserved: ReservedName | None) -> tuple[Path, bool] | None:
    """Where the report goes and whether the file there may be replaced: the name reserved
    for it (the empty file made to hold the name), a path given, or None for no report."""
    if reserved is not None:
        return reserved.path, True
    return (report, False) if isinstance(report, Path) else None


def _sync(data: SheetData, client: ApiClient, options: SyncOptions, runtime: Runtime,
          start: tuple[_dt.datetime, float], report: tuple[Path, bool] | None,
          journal: Journal | None = None) -> SyncOutcome:
    """Plan, write and report the stacks read; `start`: when the run began (now(), clock());
    `report`: the report's path and whether it may replace the file there (see `_target`)."""
    control = runtime.control
    started_at, started = start
    outcome = SyncOutcome(path=Path(data.path), api_url=client.shown_url,
                          dry_run=options.dry_run, started=started_at, finished=started_at,
                          sheet=data.sheet, sheets=list(data.sheets or [data.sheet]),
                          headers=[h for h in data.headers if h],
                          ignored_columns=list(data.ignored_columns), issues=list(data.issues),
                          redactor=client.redactor)
    _plan_and_write(data, client, outcome, options, runtime, journal)
    if control.interrupted:  # a signal: exit 128 + the signal, the report still written
        outcome.stop_signal = int(control.signal or signal.SIGINT)
        outcome.fatal, outcome.message = True, control.message
    outcome.requests = dict(client.counters.requests)
    outcome.retries = client.counters.retries
    if outcome.requests.get("POST") or outcome.requests.get("PATCH"):
        outcome.riding = client.throttle.riding()  # how the writes rode the server
    outcome.finished, outcome.duration_s = runtime.now(), runtime.clock() - started
    if report is not None:
        target, reserved = report
        try:
            outcome.report = write_report(outcome, target, force=options.force or reserved)
        except ReportError as exc:
            outcome.report_error = str(exc)
            log.error("%s", exc)
        else:
            if reserved:  # a name of its own: its folder keeps as many as it is told to
                prune_reports(target.parent, outcome.path, keep=options.keep_reports,
                              days=options.keep_days, now=outcome.started, written=target,
                              redactor=outcome.redactor)
        outcome.duration_s = runtime.clock() - started
    if control.interrupted and outcome.stop_signal is None:
        # The signal came while the report was saved: the report is whole (it says what was
        # done), and the exit code still says the run was stopped.
        outcome.stop_signal = int(control.signal or signal.SIGINT)
        outcome.fatal, outcome.message = True, control.message
    return outcome


def _plan_and_write(data: SheetData, client: ApiClient, outcome: SyncOutcome,
                    options: SyncOptions, runtime: Runtime, journal: Journal | None) -> None:
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
    _after_last_run(journal, runtime)
    if client.control.stopped:  # interrupted while it waited
        skip_all(client.control.message)
        return
    try:
        entries = _read_records(client)
    except ApiError as exc:
        outcome.fatal, outcome.reason_kind = True, exc.kind
        outcome.message = (str(exc) if exc.status in (401, 403)
                           else f"could not read the server's records: {exc}")
        skip_all(outcome.message)
        return
    plan = build_plan(data, entries, create_samples=options.create_samples,
                      update_samples=options.update_samples, progress=runtime.progress)
    outcome.remote_only = plan.remote_only
    outcome.issues = merge_issues(data.issues, plan)
    if options.dry_run:
        outcome.results = dry_run_results(plan)
        return
    def writing(done: int, total: int, retries: int) -> None:
        runtime.report("writing", done, total, retries)

    outcome.results, fatal = apply_plan(plan, client, plan.known_samples,
                                        concurrency=options.concurrency,
                                        max_concurrency=options.max_concurrency,
                                        progress=writing, journal=journal)
    if fatal:
        outcome.fatal, outcome.message = True, fatal
        outcome.reason_kind = client.control.kind
    elif not client.control.stopped:
        twice, issues = read_back(outcome.results, lambda: _read_records(client))
        outcome.duplicates = len(twice)
        outcome.issues = merge_issues([*outcome.issues, *issues], plan)


def _read_records(client: ApiClient) -> list[dict[str, Any]]:
    """The server's records, read by a thread of its own while this one watches the run's
    control: after a signal, a server that never finishes its answer (one that trickles it
    byte by byte defeats any per-read timeout) is given the grace period, then left behind."""

    box: dict[str, Any] = {}

    def read() -> None:
        try:
            box["entries"] = client.list_target_materials()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            box["error"] = exc

    reader = threading.Thread(target=read, name="read-records", daemon=True)
    reader.start()
    while reader.is_alive():
        reader.join(0.1)
        if client.control.interrupted:
            reader.join(client.control.grace_s)
            if reader.is_alive():
                raise RunStopped(client.control.message)
    error = box.get("error")
    if isinstance(error, BaseException):
        raise error
    entries: list[dict[str, Any]] = box["entries"]
    return entries


def _blank_action(row: SheetRow) -> Action:
    return Action(row, ActionKind.SKIPPED, layer_id=row.values.get("layer_id"))
