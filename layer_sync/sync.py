"""`sync_file`: what `layer-sync sync` does, as a library function.

read the sheet (while the server's records are fetched) -> plan -> write -> report.
Nothing here prints or exits; the outcome says what happened and which exit code it means.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import stat
import tempfile
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import (ApiDownError, ApiError, AuthError, ConfigError, LayerSyncError, LockedError,
                     ReportError)
from .outcome import COUNT_NAMES, ActionKind, Result, RowResult, SyncOutcome, empty_json  # noqa: F401

log = logging.getLogger("layer_sync")

_T0 = time.perf_counter()  # the process's start, near enough: for -v timings

# ----------------------------------------------------------------------------- configuration

def resolve_api_url(explicit: str | None, environ: Mapping[str, str]) -> str:
    from .api import DEFAULT_API_URL, check_api_url

    return check_api_url(explicit or environ.get("ATOMSCALE_API_URL")
                         or environ.get("AS_API_ENDPOINT") or DEFAULT_API_URL)


def resolve_api_key(environ: Mapping[str, str], key_file: str | os.PathLike | None = None,
                    warn: Callable[[str], None] = log.warning) -> str:
    """The key from --api-key-file, else ATOMSCALE_API_KEY, else AS_API_KEY."""
    if key_file is not None:
        path = Path(key_file)
        try:
            mode = path.stat().st_mode
            key = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise ConfigError(f"the key file {path} does not exist") from None
        except OSError as exc:
            raise ConfigError(f"cannot read the key file {path}: {exc.strerror}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            warn(f"the key file {path} can be read by other users; restrict it with "
                 f"chmod 600 {path}")
        if not key:
            raise ConfigError(f"the key file {path} is empty")
        return key.splitlines()[0].strip()
    for name in ("ATOMSCALE_API_KEY", "AS_API_KEY"):
        if environ.get(name, "").strip():
            return environ[name].strip()
    raise ConfigError("no API key: set ATOMSCALE_API_KEY (or AS_API_KEY) in the environment, "
                      "or give --api-key-file PATH")


def default_report_path(input_path: Path, now: _dt.datetime, folder: Path = Path("reports")) -> Path:
    return folder / f"layer-sync_{input_path.stem}_{now.strftime('%Y%m%d-%H%M%S')}.xlsx"


def lock_path(input_path: Path) -> Path:
    """A lock per input file, outside its folder (which may be read-only)."""
    digest = hashlib.sha256(str(input_path.resolve()).encode("utf-8")).hexdigest()[:20]
    return Path(tempfile.gettempdir()) / f"layer-sync-{digest}.lock"


# ----------------------------------------------------------------------------- the run

def sync_file(path: str | os.PathLike, *, api_key: str, api_url: str = "https://api.atomscale.ai/",
              sheet: str | None = None, dry_run: bool = False,
              report: str | os.PathLike | None | bool = None, concurrency: int = 8,
              max_attempts: int = 6, timeout: float = 30.0, max_consecutive_failures: int = 20,
              create_samples: bool = False, sleep: Callable[[float], None] | None = None,
              clock: Callable[[], float] = time.monotonic,
              progress: Callable[[int, int, int], None] | None = None,
              now: Callable[[], _dt.datetime] = _dt.datetime.now) -> SyncOutcome:
    """Sync one sheet with the server and write the report.

    `report`: a path, None for the default `reports/…` name, or False for no report. A report
    that cannot be written sets `outcome.report_error` (exit code 2).
    Raises LayerSyncError (exit code 2) when the run cannot start: bad input file, no
    header, another run holding the lock, bad configuration. Everything after the sheet is
    read ends in a SyncOutcome, whose `exit_code` says how it went.
    """
    from filelock import FileLock, Timeout

    from .api import ApiClient
    from .retry import RetryPolicy

    for name, value in (("concurrency", concurrency), ("max_attempts", max_attempts),
                        ("max_consecutive_failures", max_consecutive_failures)):
        if value < 1:
            raise ConfigError(f"{name} must be 1 or more")
    if timeout <= 0:
        raise ConfigError("timeout must be more than 0 seconds")
    path = Path(path)
    started_at, started = now(), clock()
    lock = FileLock(lock_path(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise LockedError(f"another layer-sync run is syncing {path.name} right now; "
                          f"wait for it to finish (lock: {lock.lock_file})") from None
    except OSError as exc:
        raise ConfigError(f"cannot take the lock {lock.lock_file}: {exc.strerror}") from None
    try:
        policy = RetryPolicy(max_attempts=max_attempts, timeout=timeout,
                             max_consecutive_failures=max_consecutive_failures,
                             clock=clock, sleep=sleep)
        client = ApiClient(api_url, api_key, policy, pool_size=concurrency)
        target = None if report is False else (
            Path(report) if report else default_report_path(path, started_at))
        try:
            outcome = _run(path, client, sheet, dry_run, concurrency, create_samples,
                           progress, started_at)
        finally:
            client.close()
        outcome.requests = dict(client.counters.requests)
        outcome.retries = client.counters.retries
        outcome.finished = now()
        outcome.duration_s = clock() - started
        if target is not None:
            from .report import write_report

            try:
                outcome.report = write_report(outcome, target)
                log.debug("report written at %.3f s", time.perf_counter() - _T0)
            except ReportError as exc:
                outcome.report_error = str(exc)
                log.error("%s", exc)
        outcome.duration_s = clock() - started
        return outcome
    finally:
        lock.release()


def _run(path: Path, client: Any, sheet: str | None, dry_run: bool, concurrency: int,
         create_samples: bool, progress: Any, started_at: _dt.datetime) -> SyncOutcome:
    from .apply import apply_plan, dry_run_results
    from .plan import build_plan
    from .sheet import check_input_file, read_stacks

    check_input_file(path)  # a missing or wrong file fails before any request
    # The GET goes out while the sheet is read: network waiting overlaps the parsing.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fetch") as pool:
        fetching = pool.submit(client.list_target_materials)
        try:
            data = read_stacks(path, sheet)
            log.debug("sheet read in %.3f s", time.perf_counter() - _T0)
        except LayerSyncError:
            client.policy.cancel.set()  # stop the GET's retries: nobody needs the answer
            raise
        outcome = SyncOutcome(path=path, api_url=client.base_url, dry_run=dry_run,
                              started=started_at, finished=started_at, sheet=data.sheet,
                              headers=[h for h in data.headers if h],
                              ignored_columns=data.ignored_columns)
        log.info("read %d rows from %s, sheet %r (header on row %d)", len(data.rows), path.name,
                 data.sheet, data.header_row)
        if data.ignored_columns:
            log.info("columns not used: %s", ", ".join(data.ignored_columns))
        try:
            entries = fetching.result()
            log.debug("server records read: %d entries, at %.3f s", len(entries), time.perf_counter() - _T0)
        except (AuthError, ApiDownError, ApiError) as exc:
            entries = None
            failure = exc
    if entries is None:
        outcome.fatal = True
        outcome.message = (str(failure) if isinstance(failure, AuthError)
                           else f"could not read the server's records: {failure}")
        outcome.issues = data.issues
        outcome.results = [RowResult(_blank_action(row), Result.SKIPPED, message=f"not sent: {outcome.message}")
                           for row in data.rows]
        return outcome
    plan = build_plan(data, entries, create_samples=create_samples)
    outcome.remote_only = plan.remote_only
    outcome.issues = data.issues
    if dry_run:
        outcome.results = dry_run_results(plan)
        return outcome
    log.debug("plan ready at %.3f s", time.perf_counter() - _T0)
    outcome.results, fatal = apply_plan(plan, client, plan.known_samples,
                                        concurrency=concurrency, progress=progress)
    log.debug("writes done at %.3f s", time.perf_counter() - _T0)
    if fatal:
        outcome.fatal = True
        outcome.message = fatal
    return outcome


def _blank_action(row: Any) -> Any:
    from .plan import Action

    return Action(row, ActionKind.SKIPPED, layer_id=row.values.get("layer_id"))
