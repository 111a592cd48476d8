"""`sync_file`: what `layer-sync sync` does, as a library function.

read the sheet (while the server's records are fetched) -> plan -> write -> report.
Nothing here prints or exits; the outcome says what happened and which exit code it means.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import signal
import stat
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .errors import ApiDownError, ApiError, AuthError, ConfigError, ReportError, signal_name
from .lock import RunLock, lock_path  # noqa: F401  (lock_path: where a run's lock lives)
from .control import RunControl
from .outcome import COUNT_NAMES, ActionKind, Result, RowResult, SyncOutcome, empty_json, plural  # noqa: F401
from .settings import ApiKey, resolve_api_key, resolve_api_url  # noqa: F401 - the CLI's
from .paths import ReservedName, check_report_path, reserve_report_name

log = logging.getLogger("layer_sync")

_T0 = time.perf_counter()  # the process's start, near enough: for -v timings

# ----------------------------------------------------------------------------- configuration


# ----------------------------------------------------------------------------- the run

def sync_file(path: str | os.PathLike, *, api_key: str | ApiKey, api_url: str = "https://api.atomscale.ai/",
              sheet: str | None = None, dry_run: bool = False,
              report: str | os.PathLike | None | bool = None, concurrency: int = 8,
              max_attempts: int = 6, timeout: float = 30.0, max_consecutive_failures: int = 20,
              create_samples: bool = False, columns: Mapping[str, str] | None = None,
              sleep: Callable[[float], None] | None = None,
              clock: Callable[[], float] = time.monotonic,
              progress: Callable[[int, int, int], None] | None = None,
              now: Callable[[], _dt.datetime] = _dt.datetime.now,
              report_helper: bool | None = None, force: bool = False,
              lock_dir: str | os.PathLike | None = None,
              control: RunControl | None = None) -> SyncOutcome:
    """Sync one sheet with the server and write the report.

    `report`: a path, None for a new `reports/…` name of its own, or False for no report.
    An existing `report` is replaced only when it is a layer-sync report, or with `force`;
    never when it is the input (by identity) or not a regular file.
    `lock_dir`: where the lock that keeps two runs off one sheet lives (default: the user's
    `lock.lock_folder()`).
    `report_helper`: build the report in a helper process (None: when there are at least
    `report.HELPER_MIN_ROWS` rows to write, so that its CPU work runs beside the writes).
    Raises LayerSyncError (exit code 2) when the run cannot start: bad input file, no
    header, an unusable report path, another run holding the lock, bad configuration.
    Everything after the sheet is read ends in a SyncOutcome, whose `exit_code` says how it
    went; a KeyboardInterrupt (Ctrl-C, or `errors.Interrupted` for a signal) after that point
    ends it too: nothing more is sent, the rows not done are skipped, the report is written
    and the exit code is 128 + the signal.
    """
    from .api import ApiClient
    from .retry import RetryPolicy
    from .sheet import check_input_file

    for name, value in (("concurrency", concurrency), ("max_attempts", max_attempts),
                        ("max_consecutive_failures", max_consecutive_failures)):
        if value < 1:
            raise ConfigError(f"{name} must be 1 or more")
    if timeout <= 0:
        raise ConfigError("timeout must be more than 0 seconds")
    path = Path(path)
    started_at, started = now(), clock()
    check_input_file(path)  # a missing or wrong file fails before any request
    if report:
        check_report_path(report, inputs=[path], force=force)
    lock = RunLock.acquire(path, lock_dir)
    reserved: ReservedName | None = None
    outcome: SyncOutcome | None = None
    try:
        if report is None:
            reserved = reserve_report_name(path, started_at)
        policy = RetryPolicy(max_attempts=max_attempts, timeout=timeout,
                             max_consecutive_failures=max_consecutive_failures,
                             clock=clock, sleep=sleep)
        client = ApiClient(api_url, api_key, policy, pool_size=concurrency,
                           control=control or RunControl())
        target = None if report is False else (
            Path(report) if report else reserved.path if reserved else None)
        try:
            outcome, writer = _run(path, client, sheet, dry_run, concurrency, create_samples,
                                   progress, started_at, target, report_helper, columns)
        finally:
            client.close()
        if client.control.interrupted and outcome.stop_signal is None:
            # A signal handler called control.interrupt(): exit 128 + the signal.
            outcome.stop_signal = int(client.control.signal or signal.SIGINT)
            outcome.fatal, outcome.message = True, client.control.message
        outcome.requests = dict(client.counters.requests)
        outcome.retries = client.counters.retries
        outcome.finished = now()
        outcome.duration_s = clock() - started
        if target is not None and outcome.report_error is None:
            try:
                if writer is not None:
                    outcome.report = writer.finish(outcome)
                else:
                    from .report import write_report

                    outcome.report = write_report(outcome, target)
                log.debug("report written at %.3f s", time.perf_counter() - _T0)
            except ReportError as exc:
                outcome.report_error = str(exc)
                log.error("%s", exc)
        outcome.duration_s = clock() - started
        return outcome
    except KeyboardInterrupt as exc:
        if outcome is None:  # stopped before the sheet was read: nothing to report
            raise
        # Stopped after the writes, while the report was written: say so, keep the counts.
        _stopped_by(exc, outcome)
        if outcome.report is None:
            outcome.report_error = (outcome.report_error
                                    or "the run was stopped while its report was written")
        outcome.finished, outcome.duration_s = now(), clock() - started
        return outcome
    finally:
        if reserved is not None:
            reserved.release()  # the placeholder, when no report replaced it
        lock.release()


def _run(path: Path, client: Any, sheet: str | None, dry_run: bool, concurrency: int,
         create_samples: bool, progress: Any, started_at: _dt.datetime,
         report: Path | None, report_helper: bool | None,
         columns: Mapping[str, str] | None = None) -> tuple[SyncOutcome, Any]:
    from .apply import apply_plan, dry_run_results
    from .plan import CREATE, UPDATE, build_plan, merge_issues
    from .sheet import read_stacks

    # The GET goes out while the sheet is read: network waiting overlaps the parsing.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fetch") as pool:
        fetching = pool.submit(client.list_target_materials)
        try:
            data = read_stacks(path, sheet, columns=dict(columns) if columns else None)
            log.debug("sheet read in %.3f s", time.perf_counter() - _T0)
        except BaseException:  # unreadable, or stopped (Ctrl-C, SIGTERM) while reading
            client.control.cancel()  # stop the GET's retries: nobody needs the answer
            raise
        outcome = SyncOutcome(path=path, api_url=client.base_url, dry_run=dry_run,
                              started=started_at, finished=started_at, sheet=data.sheet,
                              headers=[h for h in data.headers if h],
                              ignored_columns=data.ignored_columns)
        outcome.issues = data.issues
        log.info("read %s from %s, sheet %r (header on row %d)", plural(len(data.rows), "row"),
                 path.name, data.sheet, data.header_row)
        if data.ignored_columns:
            log.info("columns not used: %s", ", ".join(data.ignored_columns))
        try:
            entries = fetching.result()
            log.debug("server records read: %d entries, at %.3f s", len(entries), time.perf_counter() - _T0)
        except (AuthError, ApiDownError, ApiError) as exc:
            entries = None
            failure = exc
        except KeyboardInterrupt as exc:
            client.control.cancel()
            _stopped_by(exc, outcome, [_blank_action(row) for row in data.rows])
            return outcome, None
    if entries is None:
        outcome.fatal = True
        outcome.message = (str(failure) if isinstance(failure, AuthError)
                           else f"could not read the server's records: {failure}")
        outcome.results = [RowResult(_blank_action(row), Result.SKIPPED, message=f"not sent: {outcome.message}")
                           for row in data.rows]
        return outcome, None
    plan = None
    writer = None
    done: dict[int, RowResult] = {}  # the rows finished so far, for a run that is stopped

    def on_result(index: int, result: RowResult) -> None:
        done[index] = result
        if writer is not None:
            writer.add(index, result)

    try:
        plan = build_plan(data, entries, create_samples=create_samples)
        outcome.remote_only = plan.remote_only
        outcome.issues = merge_issues(data.issues, plan)
        if dry_run:
            outcome.results = dry_run_results(plan)
            return outcome, None
        if report is not None:
            # The report is written while the writes wait on the network, row by row in sheet
            # order, instead of after them; by a helper process when there are many rows to send.
            from .report import HELPER_MIN_ROWS, ReportWriter

            writes = sum(1 for a in plan.actions if a.kind in (CREATE, UPDATE))
            try:
                writer = ReportWriter(report, outcome.headers, len(plan.actions),
                                      helper=writes >= HELPER_MIN_ROWS if report_helper is None
                                      else report_helper)
            except ReportError as exc:
                outcome.report_error = str(exc)
                log.error("%s", exc)
        log.debug("plan ready at %.3f s", time.perf_counter() - _T0)
        outcome.results, fatal = apply_plan(plan, client, plan.known_samples,
                                            concurrency=concurrency, progress=progress,
                                            on_result=on_result)
    except BaseException as exc:
        if writer is not None:
            writer.close()
        if not isinstance(exc, KeyboardInterrupt):
            raise
        # Stopped (Ctrl-C, SIGTERM, SIGHUP): apply_plan sent nothing more and waited for the
        # answers in flight; the report is then written in one go from what was done.
        client.control.cancel()
        actions = plan.actions if plan is not None else [_blank_action(row) for row in data.rows]
        _stopped_by(exc, outcome, actions, done)
        return outcome, None
    log.debug("writes done at %.3f s", time.perf_counter() - _T0)
    if fatal:
        outcome.fatal = True
        outcome.message = fatal
    return outcome, writer


def _stopped_by(exc: BaseException, outcome: SyncOutcome, actions: list[Any] | None = None,
                done: Mapping[int, RowResult] | None = None) -> None:
    """Mark a run stopped by a signal: exit code 128 + the signal; with `actions`, every row
    not in `done` (by position) is skipped."""
    signum = int(getattr(exc, "signum", signal.SIGINT))
    name = signal_name(signum)
    outcome.stop_signal = signum
    outcome.fatal = True
    outcome.message = f"interrupted by {name}: nothing more was sent"
    if actions is not None:
        done = done or {}
        note = (f"not done: the run was interrupted by {name} (a write already on its way may "
                "have reached the server; the next run will see it)")
        outcome.results = [done.get(i) or RowResult(a, Result.SKIPPED, message=note)
                           for i, a in enumerate(actions)]


def _blank_action(row: Any) -> Any:
    from .plan import Action

    return Action(row, ActionKind.SKIPPED, layer_id=row.values.get("layer_id"))
