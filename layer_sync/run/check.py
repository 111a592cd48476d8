"""`check_file`: what `layer-sync check` does. Every sheet rule, with no key and no network.

The sheet is read exactly as `sync_file` reads it (formats, headers, values, duplicate keys,
gaps in a stack); no lock is taken and nothing is ever written to a server. The outcome lists
every row and every problem with its cell; `exit_code` is 0 when no problem is an error, 1
otherwise (a file that cannot be read at all raises InputFileError, exit code 2).

What the server holds tells more, so when an API key is known (and not `offline`) and the
sheet has something to ask about (stacks named without a sample_id; orientations a
spreadsheet changed), the server's list is read once (one GET): the outcome then says which
stacks the server does not have yet (created only with --create-samples) and which were
matched by name, and an orientation's advice names the server's value. A server that cannot
be asked changes nothing else: `server_note` says why, and the exit code is the sheet's.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Unpack

from ..core.errors import LayerSyncError, ReportError
from ..core.issues import Issue
from ..core.options import CheckChanges, CheckOptions
from ..core.runtime import Runtime
from ..core.secrets import ApiKey, Redactor, shown_url
from ..outcome.results import CheckOutcome
from ..outcome.rows import Result, RowResult
from ..plan.actions import Action, ActionKind
from ..plan.advice import server_advice
from ..plan.named import named_stacks
from ..plan.records import ServerIndex
from ..plan.targets import resolve_target
from ..read.rows import SheetRow, sheet_issues
from ..read.stacks import read_stacks
from ..remote.client import ApiClient
from ..remote.retry import RetryPolicy
from ..remote.settings import known_keys, resolve_api_key, resolve_api_url
from ..report.paths import check_report_path, report_folder, reserve_report_name
from ..report.writer import write_report
from ..rules.advice import OrientationIssue

log = logging.getLogger("layer_sync")

#: The message of a row that passed every rule.
VALID_MESSAGE = "every rule passed (checked offline, not compared with the server)"
#: Attempts at reading the server's list: a check at the bench does not wait a minute for a
#: server that cannot be reached (a sync's default is 6).
CHECK_ATTEMPTS = 2


def check_file(path: str | os.PathLike[str], *, api_key: str | ApiKey | None = None,
               options: CheckOptions | None = None, runtime: Runtime | None = None,
               **changes: Unpack[CheckChanges]) -> CheckOutcome:
    """Check a sheet against every rule, offline; write the report if `report` says so.

    `options` (a `CheckOptions`) and keywords of the same names: `sheet`, `all_sheets`,
    `columns` as for `read_stacks`; `report` a path for the report workbook (Rows and
    Issues), False/None for none (the default), True for one of its own name in `reports/`;
    `force` to replace an existing file that is not a layer-sync report; `offline` to ask no
    server. No key is needed and nothing is ever written to a server; a key that is known
    (`api_key`, `api_key_file`, or the environment's) is written as `***` wherever the sheet
    holds it, and lets the check read the server's list (see the module's doc: `api_url`,
    `timeout`, at most `CHECK_ATTEMPTS` attempts). Raises InputFileError (exit code 2) for a
    file that cannot be read or has no header. A report that cannot be written is not raised:
    `report_error` says why (exit code 2).
    """
    options = CheckOptions.build(options, changes)
    runtime = runtime or Runtime()
    path = Path(path)
    if isinstance(options.report, Path):
        check_report_path(options.report, inputs=[path], force=options.force)
    started_at, started = runtime.now(), runtime.clock()
    data = read_stacks(path, options=options, runtime=runtime)
    issues = sheet_issues(data)
    stacks = named_stacks(data.rows, ServerIndex.build([]))
    asking = bool(stacks) or any(isinstance(i, OrientationIssue) for i in issues)
    lookup = _server_list(api_key, options, runtime) if asking else _Lookup()
    entries = lookup.entries
    if entries is not None:
        index = ServerIndex.build(entries)
        stacks = named_stacks(data.rows, index)
        advised = server_advice(((row, _target(row, index)) for row in data.rows), index)
        issues = [advised.get(id(issue), issue) for issue in issues]
    outcome = CheckOutcome(path=path, sheet=data.sheet, sheets=list(data.sheets or [data.sheet]),
                           header_row=data.header_row,
                           headers=[h for h in data.headers if h],
                           ignored_columns=list(data.ignored_columns),
                           results=_results(data.rows, issues), issues=issues,
                           started=started_at, finished=runtime.now(),
                           duration_s=runtime.clock() - started,
                           redactor=Redactor(known_keys(api_key, options, runtime.environ)),
                           named_stacks=stacks,
                           api_url=shown_url(lookup.api_url) if lookup.api_url else None,
                           server_answered=entries is not None, server_note=lookup.note,
                           requests=lookup.requests)
    if options.report is not False:
        reserved = (reserve_report_name(path, started_at, report_folder(path, options.report_dir),
                                        outcome.redactor)
                    if options.report is True else None)
        target = reserved.path if reserved is not None else options.report
        assert isinstance(target, Path)
        try:
            outcome.report = write_report(outcome, target,
                                          force=options.force or reserved is not None)
        except ReportError as exc:
            outcome.report_error = str(exc)
        finally:
            if reserved is not None:
                reserved.release()
        outcome.finished, outcome.duration_s = runtime.now(), runtime.clock() - started
    return outcome


@dataclass
class _Lookup:
    """What asking the server gave a check: its list (None: not had), the API asked, why the
    list was not had, and the requests sent."""

    entries: list[dict[str, Any]] | None = None
    api_url: str | None = None
    note: str | None = None
    requests: dict[str, int] = field(default_factory=dict)


def _server_list(api_key: str | ApiKey | None, options: CheckOptions,
                 runtime: Runtime) -> _Lookup:
    """The server's list, or why it could not be had: offline, no key, or what went wrong
    (never raised: a check's exit code is the sheet's)."""
    if options.offline:
        return _Lookup(note="--offline")
    if api_key is None and not known_keys(None, options, runtime.environ):
        return _Lookup(note="no API key: set ATOMSCALE_API_KEY, or give api_key_file, to let "
                            "check ask the server")
    lookup = _Lookup()
    try:
        lookup.api_url = resolve_api_url(options.api_url, runtime.environ)
        key = api_key if api_key is not None else resolve_api_key(
            runtime.environ, options.api_key_file)
        policy = RetryPolicy(max_attempts=min(options.max_attempts, CHECK_ATTEMPTS),
                             timeout=options.timeout, clock=runtime.clock, sleep=runtime.sleep)
        client = ApiClient(lookup.api_url, key, policy, control=runtime.control)
        try:
            lookup.entries = client.list_target_materials()
        finally:
            lookup.requests = dict(client.counters.requests)
            client.close()
    except LayerSyncError as exc:
        log.warning("check could not read the server's list: %s", exc)
        lookup.note = f"the server's list could not be read: {exc}"
    return lookup


def _target(row: SheetRow, index: ServerIndex) -> int | None:
    """The target material on the server a row belongs to (by sample_id, or by a name only
    one target material has), or None; as the plan resolves it, its issues left aside."""
    action = Action(row, ActionKind.CHECKED, layer_id=row.values.get("layer_id"))
    target = resolve_target(action, index, create_samples=True)
    return target if isinstance(target, int) else None


def _results(rows: list[SheetRow], issues: list[Issue]) -> list[RowResult]:
    """Each row valid, or invalid with its errors (its cells' and the duplicate-key rule's)."""
    # Grouped once: going over every issue for every row took 158 s for 10,000 invalid rows.
    by_row: dict[tuple[str, int | None], list[Issue]] = {}
    for issue in issues:
        if issue.severity == "error":
            by_row.setdefault((issue.sheet, issue.row), []).append(issue)
    results = []
    for row in rows:
        action = Action(row, ActionKind.CHECKED, layer_id=row.values.get("layer_id"),
                        sample_id=row.values.get("sample_id"))
        errors = by_row.get((row.sheet, row.row))
        if errors:
            results.append(RowResult(action, Result.INVALID,
                                     message="; ".join(i.message for i in errors)))
        else:
            results.append(RowResult(action, Result.VALID, message=VALID_MESSAGE))
    return results
