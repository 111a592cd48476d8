"""The command line's own output checks, before anything is sent: the log file is never an
input, the report, the file export or template writes, or the standard output's file."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from ..report.paths import check_output, is_layer_sync_report, same_file


def check_command_outputs(args: Any) -> None:
    """Before anything is sent: --log-file (appended to) must not be an input (the sheet, the
    key file), the report, the file export or template writes, or the standard output's file,
    and must be a regular file if it exists; --report and those files must not be the key
    file. The library checks --report against the sheet itself."""
    sheet = [args.path] if args.command in ("sync", "check") and getattr(args, "path", None) else []
    key_file = [args.api_key_file] if getattr(args, "api_key_file", None) else []
    report = getattr(args, "report", None)
    written = [("--report", report)] if report else []
    if args.command in ("export", "template"):
        written.append(("the file to write", args.path))
    for what, target in written:
        for source in key_file:
            if same_file(target, source):
                raise ConfigError(f"{what} {target} is the key file {source}; choose another name", kind="output_refused")
    log_file = getattr(args, "log_file", None)
    if not log_file:
        return
    check_output(log_file, "--log-file", inputs=sheet + key_file, exists_ok=_may_append_log,
                 exists_hint="it is a sheet, a report or a configuration file, not a log: "
                             "give --log-file a log's name (layer-sync.log)")
    if _is_standard_output(log_file):
        raise ConfigError(f"--log-file {log_file} is where the standard output goes (the JSON "
                          "line's file under cron); give the log a file of its own", kind="output_refused")
    for what, target in written:  # the report, or the file export and template write
        if same_file(target, log_file) or os.path.abspath(target) == os.path.abspath(log_file):
            name = "--report" if what == "--report" else f"{args.command}'s file"
            raise ConfigError(f"--log-file and {name} name the same file {log_file}; "
                              "give them different names", kind="output_refused")



def _is_standard_output(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is the file the process's standard output goes to (`--log-file
    /dev/stdout` under `>> runs.jsonl`: log lines would land among the JSON lines)."""
    try:
        out, target = os.fstat(sys.stdout.fileno()), os.stat(path)
    except (OSError, ValueError, AttributeError):  # no stdout, or no such file yet
        return False
    return stat.S_ISREG(out.st_mode) and (out.st_dev, out.st_ino) == (target.st_dev, target.st_ino)



def _may_append_log(path: Path) -> bool:
    """Log lines are appended only to a file that may be a log: never to a spreadsheet, a CSV,
    a layer-sync report or a TOML configuration (they would be damaged for good)."""
    never = (".xlsx", ".xlsm", ".xls", ".ods", ".csv", ".tsv", ".toml")
    return path.suffix.lower() not in never and not is_layer_sync_report(path)
