"""The JSON line: one object a run prints with `--json`, on every exit, failures included.

A week of `>> runs.jsonl` must answer the morning's questions: which night, which sheet,
which server, what happened and why. Every line has every field of `FIELDS` (zeros and
nulls where nothing happened); `schema` is this layout's version, raised when a field
changes meaning or goes away (fields are only ever added within a version).

    {"schema": 1, "command": "sync", "version": "0.1.0",
     "started": "2026-12-03T02:00:00.120+01:00", "finished": "2026-12-03T02:00:01.530+01:00",
     "duration_s": 1.41, "input": {"path": "lab.xlsx", "sheets": ["Stacks"]},
     "api_url": "https://api.atomscale.ai/", "dry_run": false,
     "rows": 7, "created": 3, "updated": 1, "unchanged": 2, "invalid": 1, "failed": 0,
     "skipped": 0, "remote_only": 1, "matched_by_name": 0,
     "requests": {"GET": 1, "POST": 3, "PATCH": 1},
     "retries": 0, "pacing": {"most_in_flight": 4, "limit": 8, "adaptive": true,
     "slow_downs": 0, "pace_per_s": null},
     "report": "reports/layer-sync_lab_xlsx_20261203-020000-120.xlsx",
     "exit_code": 1, "reason": {"kind": "rows_invalid", "message": "1 row is invalid: ..."}}

`check --json` prints the same fields that apply to a check (`api_url` null and `requests`
zeros unless it read the server's list) and its own counts (`valid`, `errors`, `warnings`)
beside `rows` and `invalid`.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..core.errors import ExitCode
from ..core.version import __version__

#: This layout's version.
SCHEMA = 1
#: The counts of a sync, in their order (also the top-level fields of the contract's floor).
SYNC_COUNTS = ("rows", "created", "updated", "unchanged", "invalid", "failed", "skipped",
               "remote_only", "duplicates", "matched_by_name")
#: The counts of a check.
CHECK_COUNTS = ("rows", "valid", "invalid", "errors", "warnings")
METHODS = ("GET", "POST", "PATCH")
#: The `pacing` field of a run that wrote nothing.
NO_PACING: Mapping[str, Any] = {"most_in_flight": 0, "limit": 0, "adaptive": False,
                                "slow_downs": 0, "pace_per_s": None}

#: Every field of every line, with what it holds (the docs' table is this).
FIELDS: dict[str, str] = {
    "schema": "this layout's version (1)",
    "command": "the command that ran: sync, check or demo (null when the command line does "
               "not name one)",
    "version": "layer-sync's version",
    "started": "when the run started, ISO 8601 with the time zone",
    "finished": "when it ended, ISO 8601 with the time zone",
    "duration_s": "seconds from start to end, the report's saving included",
    "input": "the sheet: {\"path\": the file as given, \"sheets\": the sheets read} (nulls "
             "when not known)",
    "api_url": "the API the run talked to, or would have (never the key; null when that "
               "cannot be told, and for a check that asked no "
               "server)",
    "dry_run": "true when nothing was to be written",
    "rows": "data rows read from the sheet",
    "created": "layers created (in a dry run: that would be)",
    "updated": "layers updated (in a dry run: that would be)",
    "unchanged": "rows already in step with the server",
    "invalid": "rows with an error of their own: nothing was sent for them",
    "failed": "rows whose write failed",
    "skipped": "rows not sent because the run stopped",
    "remote_only": "layers on the server, in a target material the sheet covers, that the "
                   "sheet lacks (never deleted)",
    "duplicates": "layers (or target materials) this run created that the server holds "
                  "twice after it (another run created them too): their rows name the records",
    "matched_by_name": "target materials found on the server by sample_name (and substrate), "
                       "for rows that give no sample_id (the summary names each, with its "
                       "rows and its sample_id)",
    "valid": "(check) rows that passed every rule",
    "errors": "(check) problems that make a row invalid",
    "warnings": "(check) problems that do not",
    "requests": "HTTP requests sent, by method, retries included",
    "retries": "requests tried again",
    "pacing": "how the writes rode the server: {\"most_in_flight\": the most writes in "
              "flight at once, \"limit\": where the limit on them ended, \"adaptive\": "
              "whether it adapted (false with --concurrency), \"slow_downs\": how often the "
              "server asked to slow down (429, 503 with Retry-After), \"pace_per_s\": the "
              "requests a second the run was paced at in the end (null: no pace)} (zeros "
              "and null where nothing was written)",
    "report": "the report workbook written for this run (null when none was)",
    "exit_code": "the process's exit code",
    "reason": "why the run ended so: {\"kind\": a short stable word (see REASONS), "
              "\"message\": the one-line message}",
}

#: The stable words of `reason.kind`, and when each is given.
REASONS: dict[str, str] = {
    "ok": "exit 0: every row is in step (or would be, in a dry run)",
    "rows_invalid": "exit 1: some rows are invalid (the report says why, cell by cell)",
    "duplicates_found": "exit 1: the server holds a layer this run created twice (another "
                        "run created it too); the rows name the records",
    "rows_failed": "exit 1: some rows' writes failed",
    "rows_skipped": "exit 1: some rows were not sent (the run stopped before them)",
    "bad_arguments": "exit 2: the command line could not be read (the message names the "
                     "option, and the nearest real one)",
    "bad_option": "exit 2: an option's value cannot be used",
    "bad_configuration": "exit 2: layer-sync.toml or another setting cannot be used",
    "no_key": "exit 2: no API key in the environment or a key file",
    "bad_key": "exit 2: the key cannot be sent (empty, or a character a header cannot hold)",
    "key_file_unreadable": "exit 2: the key file is missing or cannot be read",
    "bad_api_url": "exit 2: the API URL is not an http(s) address",
    "input_missing": "exit 2: the sheet does not exist",
    "input_unreadable": "exit 2: the sheet cannot be read (corrupt, protected, too large)",
    "input_changed": "exit 2: the sheet changed while it was read",
    "sheet_missing": "exit 2: the workbook has no sheet of the name given",
    "no_header": "exit 2: no recognisable header row",
    "output_refused": "exit 2: an output path names the input, a special file or another "
                      "file that must not be replaced",
    "locked": "exit 2: another run holds the lock",
    "key_refused": "exit 2: the server refused the key (401/403)",
    "api_down": ("exit 2: too many failed attempts in a row, or no write stored for 5 "
                 "minutes (each refused or failed): the API looks down or takes no writes"),
    "api_error": "exit 2: the server's records could not be read",
    "list_incomplete": "exit 2: the server's list could not be read whole (paged past what "
                       "can be followed, a count that does not match what came, an answer of "
                       "another shape, an entry that is not a record object); nothing was "
                       "written",
    "answer_too_large": "exit 2: a server's answer, or its whole list, would take more memory "
                        "than a run reads; nothing was written",
    "wait_too_long": "exit 2: the server asked to wait longer than a run waits",
    "report_unwritable": "exit 2: the report could not be written",
    "out_of_memory": "exit 2: the run ran out of memory",
    "internal_error": "exit 2: a bug (the line says how to report it)",
    "run_incomplete": "exit 2: the run could not be done in full (other causes)",
    "hangup": "exit 129: stopped by SIGHUP",
    "interrupted": "exit 130: stopped by Ctrl-C",
    "terminated": "exit 143: stopped by SIGTERM",
}

_SIGNAL_KINDS = {ExitCode.HANGUP: "hangup", ExitCode.INTERRUPTED: "interrupted",
                 ExitCode.TERMINATED: "terminated"}


def signal_kind(exit_code: int) -> str:
    """The reason's kind of a run stopped by a signal (its exit code, 128 + the signal)."""
    try:
        return _SIGNAL_KINDS.get(ExitCode(exit_code), "terminated")
    except ValueError:
        return "terminated"


def stamp(when: _dt.datetime | None) -> str | None:
    """ISO 8601 to the millisecond, with the zone (the local one when `when` has none)."""
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.astimezone()
    return when.isoformat(timespec="milliseconds")


@dataclass(frozen=True, kw_only=True)
class Line:
    """What a JSON line says, by name: `Line(...).fields()` gives its fields in the
    documented order (`extra`: fields a run adds at the end; `pacing`:
    `outcome.results.Riding.to_dict()`, zeros when None)."""

    command: str | None
    started: _dt.datetime | None
    finished: _dt.datetime | None
    duration_s: float
    input_path: str | None
    sheets: Sequence[str]
    api_url: str | None
    dry_run: bool
    counts: Mapping[str, int]
    requests: Mapping[str, int]
    retries: int
    report: str | None
    exit_code: int
    kind: str
    message: str
    pacing: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] | None = None

    def fields(self) -> dict[str, Any]:
        """The line's fields, in the documented order."""
        names = CHECK_COUNTS if self.command == "check" else SYNC_COUNTS
        fields: dict[str, Any] = {
            "schema": SCHEMA, "command": self.command, "version": __version__,
            "started": stamp(self.started), "finished": stamp(self.finished),
            "duration_s": round(self.duration_s, 2),
            "input": {"path": self.input_path, "sheets": list(self.sheets)},
            "api_url": self.api_url, "dry_run": self.dry_run,
            **{name: int(self.counts.get(name, 0)) for name in names},
            "requests": {m: int(self.requests.get(m, 0)) for m in METHODS},
            "retries": self.retries,
            "pacing": dict(self.pacing) if self.pacing is not None else dict(NO_PACING),
            "report": self.report, "exit_code": self.exit_code,
            "reason": {"kind": self.kind, "message": self.message},
        }
        if self.extra:
            fields.update(self.extra)
        return fields


def dumps(fields: Mapping[str, Any]) -> str:
    """One line of JSON, in ASCII (a cron job's output may not take anything else)."""
    return json.dumps(fields)
