"""Every option of every command, declared once: its default, its bounds, its help.

The library's entry points take these objects (`SyncOptions` for `sync_file` and
`sync_frame`, `CheckOptions` for `check_file`, `ReadOptions` for `read_stacks`,
`ExportOptions` for `export_stacks`), or the same names as keywords; the command line's
parser and the `layer-sync.toml` checks are derived from the same declarations
(`cli/arguments.py`, `cli/config.py`). Each object is validated when it is made, in one place
(`check_value`): a wrong value is an `OptionError` naming the option, which the command line shows
with the option's flag (`--timeout`).

    options = SyncOptions(dry_run=True, concurrency=4)
    options.replace(timeout=60)          # a copy, validated again
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Self, TypedDict

from .errors import OptionError

Kind = Literal["flag", "count", "seconds", "text", "names", "path", "report", "columns"]
Group = Literal["input", "server", "behaviour", "output"]

#: What each group of options is about, as the command line's help heads them.
GROUPS: dict[str, str] = {
    "input": "input",
    "server": "server",
    "behaviour": "behaviour",
    "output": "output",
}


@dataclass(frozen=True)
class Spec:
    """How an option is given and checked (kept in the dataclass field's metadata).

    `help` says what the option does; a default that is a value of the code (a number, the
    environment's variables, the API's URL, the reports' folder) is not written in it: the
    command line's help adds it from the code (`cli.arguments`), so the two cannot differ.
    """

    help: str
    kind: Kind
    group: Group
    least: float | None = None
    most: float | None = None
    metavar: str | None = None
    #: False: the option is not a command-line flag (a `layer-sync.toml` table, or the library's).
    flag: bool = True
    #: Environment variables that win over a config file's value (the command line wins over both).
    environment: tuple[str, ...] = ()
    #: None is a value of its own (the default: adaptive, keep all, beside the sheet…).
    optional: bool = False


def described(spec: Spec) -> dict[str, Spec]:
    """A dataclass field's metadata that declares it an option."""
    return {"spec": spec}


#: The most writes in flight, attempts per request, and seconds per request: far past what a
#: run needs (a million "in flight" made the connection pool alone take minutes and memory).
MAX_CONCURRENCY, MAX_ATTEMPTS, MAX_TIMEOUT_S = 64, 100, 3600.0
#: The most failed attempts in a row before a run stops as "API down".
MAX_CONSECUTIVE_FAILURES = 10_000
#: How long a run waits for another one writing to the same server (see run/lock.py): a
#: nightly run of tens of thousands of rows takes minutes; and the most it may be told to.
LOCK_WAIT_S, MAX_LOCK_WAIT_S = 600, 86_400
#: The most reports (or days of them) kept: more than a lab's lifetime of nights.
MAX_KEPT = 100_000

@dataclass(frozen=True)
class Options:
    """The base of the option objects: validation, `replace`, and the declarations."""

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            checked = check_value(item.name, spec_of(item), value)
            if checked is not value:
                object.__setattr__(self, item.name, checked)

    def replace(self, **changes: Any) -> Self:
        """A copy with `changes`, checked as a new object is (an unknown name is an
        OptionError naming it)."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = [name for name in changes if name not in known]
        if unknown:
            raise OptionError(unknown[0], f"is not an option of {type(self).__name__}; the "
                              f"options are {', '.join(sorted(known))}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def declared(cls) -> Iterator[tuple[str, Any, Spec]]:
        """(name, default, spec) of every option, in declaration order."""
        for item in dataclasses.fields(cls):
            yield item.name, item.default, spec_of(item)

    @classmethod
    def build(cls, options: Self | None, changes: Mapping[str, Any]) -> Self:
        """`options` (or the defaults) with `changes`: what an entry point's `options=` and
        keywords together mean. An `options` of another kind is an OptionError."""
        if options is None:
            options = cls()
        elif not isinstance(options, cls):
            raise OptionError("options", f"must be a {cls.__name__}, not "
                              f"{type(options).__name__}")
        return options.replace(**changes) if changes else options


def spec_of(item: dataclasses.Field[Any]) -> Spec:
    spec = item.metadata.get("spec")
    if not isinstance(spec, Spec):
        raise TypeError(f"option {item.name} has no Spec")
    return spec


# ---------------------------------------------------------------------------- the options

@dataclass(frozen=True)
class ReadOptions(Options):
    """How a sheet is read: `read_stacks`, and every command that reads one."""

    sheet: tuple[str, ...] = field(default=(), metadata=described(Spec(
        "worksheet to read, case ignored; repeat for several (default: the first with a "
        "recognisable header; the others are named in a warning)", "names", "input",
        metavar="NAME")))
    all_sheets: bool = field(default=False, metadata=described(Spec(
        "read every worksheet with a recognisable header", "flag", "input")))
    columns: Mapping[str, str] | None = field(default=None, metadata=described(Spec(
        "a lab's own header names mapped to fields ({\"Film\": \"composition_string\"}); in "
        "layer-sync.toml, the [columns] table", "columns", "input", flag=False)))


@dataclass(frozen=True)
class ServerOptions(Options):
    """Where the API is and how each request is made."""

    api_url: str | None = field(default=None, metadata=described(Spec(
        "API root", "text", "server", metavar="URL",
        environment=("ATOMSCALE_API_URL", "AS_API_ENDPOINT"))))
    api_key_file: Path | None = field(default=None, metadata=described(Spec(
        "read the API key from PATH", "path",
        "server", metavar="PATH", environment=("ATOMSCALE_API_KEY", "AS_API_KEY"))))
    timeout: float = field(default=30.0, metadata=described(Spec(
        "seconds per request", "seconds", "server", least=0, most=MAX_TIMEOUT_S, metavar="S")))
    max_attempts: int = field(default=6, metadata=described(Spec(
        "attempts per request, the first included", "count", "server", least=1,
        most=MAX_ATTEMPTS, metavar="N")))


@dataclass(frozen=True)
class ExportOptions(ServerOptions):
    """`export_stacks`: the server's stacks written to a sheet."""

    force: bool = field(default=False, metadata=described(Spec(
        "replace the file if it exists (never one that is not a regular file)", "flag",
        "output")))


@dataclass(frozen=True)
class CheckOptions(ReadOptions, ServerOptions):
    """`check_file`: every rule of the sheet; the server's options name the key it keeps out
    of the report."""

    report: Path | bool = field(default=False, metadata=described(Spec(
        "also write the report workbook (Rows and Issues) to PATH (.xlsx)", "report",
        "output", metavar="PATH")))
    force: bool = field(default=False, metadata=described(Spec(
        "replace an existing report file even if it is not a layer-sync report", "flag",
        "output")))
    report_dir: Path | None = field(default=None, metadata=described(Spec(
        "the folder of the reports layer-sync names itself", "path", "output", metavar="DIR",
        optional=True)))
    keep_reports: int | None = field(default=None, metadata=described(Spec(
        "keep the newest N of this sheet's own reports in that folder, removing older ones "
        "(never any other file; default: keep all)", "count", "output", least=1,
        most=MAX_KEPT, metavar="N", optional=True)))
    keep_days: int | None = field(default=None, metadata=described(Spec(
        "remove this sheet's own reports older than N days from that folder (never any "
        "other file; default: keep all)", "count", "output", least=1, most=MAX_KEPT,
        metavar="N", optional=True)))
    offline: bool = field(default=False, metadata=described(Spec(
        "ask no server, even with an API key known (without it, check reads the server's "
        "list, writing nothing, to tell which stacks are new)", "flag", "server")))


@dataclass(frozen=True)
class SyncOptions(CheckOptions):
    """`sync_file` and `sync_frame`: read, plan against the server, write, report."""

    report: Path | bool = field(default=True, metadata=described(Spec(
        "where the report workbook goes", "report", "output", metavar="PATH")))
    dry_run: bool = field(default=False, metadata=described(Spec(
        "plan only: no POST or PATCH", "flag", "behaviour")))
    create_samples: bool = field(default=False, metadata=described(Spec(
        "create target materials that the server does not know (by name)", "flag",
        "behaviour")))
    update_samples: bool = field(default=False, metadata=described(Spec(
        "rename a target material whose name or substrate differs from the sheet's (PATCH "
        "/target-materials/{sample_id}) instead of an error", "flag", "behaviour")))
    concurrency: int | None = field(default=None, metadata=described(Spec(
        "writes in flight at once, fixed (default: adaptive, as many as the server takes up "
        "to --max-concurrency)", "count", "server", least=1, most=MAX_CONCURRENCY,
        metavar="N", optional=True)))
    max_concurrency: int = field(default=32, metadata=described(Spec(
        "the most writes in flight when the concurrency adapts", "count", "server", least=1,
        most=MAX_CONCURRENCY, metavar="N")))
    max_consecutive_failures: int = field(default=20, metadata=described(Spec(
        "failed attempts in a row before the run stops as 'API down'",
        "count", "server",
        least=1, most=MAX_CONSECUTIVE_FAILURES, metavar="N")))
    offline: bool = field(default=False, metadata=described(Spec(
        "check's alone: a sync always reads the server's records", "flag", "server",
        flag=False)))
    lock_wait: int = field(default=LOCK_WAIT_S, metadata=described(Spec(
        "seconds to wait while another run (of any user of this machine) writes to the same "
        "server, before giving up with exit 2; 0 gives up at once", "count", "behaviour",
        least=0, most=MAX_LOCK_WAIT_S, metavar="S")))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.offline:
            raise OptionError("offline", "is an option of check alone: a sync always reads "
                              "the server's records")

    @property
    def writers(self) -> int:
        """Writes in flight at most: the fixed concurrency, else the ceiling."""
        return self.concurrency if self.concurrency is not None else self.max_concurrency


# Typed keywords: an entry point's `**changes` (`sync_file(path, dry_run=True)`). They name
# the declarations above; tests/test_api.py holds the two to the same names and types.
class ReadChanges(TypedDict, total=False):
    sheet: str | tuple[str, ...] | list[str] | None
    all_sheets: bool
    columns: Mapping[str, str] | None


class ServerChanges(TypedDict, total=False):
    api_url: str | None
    api_key_file: str | os.PathLike[str] | None
    timeout: float
    max_attempts: int


class ExportChanges(ServerChanges, total=False):
    force: bool


class CheckChanges(ReadChanges, ServerChanges, total=False):
    report: str | os.PathLike[str] | bool | None
    force: bool
    report_dir: str | os.PathLike[str] | None
    keep_reports: int | None
    keep_days: int | None
    offline: bool


class SyncChanges(CheckChanges, total=False):
    dry_run: bool
    create_samples: bool
    update_samples: bool
    concurrency: int | None
    max_concurrency: int
    max_consecutive_failures: int
    lock_wait: int


# ---------------------------------------------------------------------------- checks

def check_value(name: str, spec: Spec, value: Any) -> Any:
    """The value as the option holds it, or an OptionError naming the option."""
    kind = spec.kind
    if kind == "flag":
        if not isinstance(value, bool):
            raise OptionError(name, f"must be True or False, not {value!r}")
        return value
    if kind == "count":
        if value is None and spec.optional:
            return None  # its own meaning: adaptive, keep all…
        if isinstance(value, bool) or not isinstance(value, int):
            raise OptionError(name, f"must be a whole number, not {value!r}")
        _bounded(name, spec, value)
        return value
    if kind == "seconds":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise OptionError(name, f"must be a number of seconds, not {value!r}")
        if math.isnan(value) or not value > (spec.least or 0):
            raise OptionError(name, f"must be more than 0 seconds, not {value!r}")
        _bounded(name, spec, value)
        return float(value)
    if kind == "text":
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise OptionError(name, f"must be a text, not {value!r}")
        return value
    if kind == "names":
        if value is None:
            return ()
        names = (value,) if isinstance(value, str) else value
        if (not isinstance(names, (list, tuple)) or not all(isinstance(n, str) and n.strip()
                                                            for n in names)):
            raise OptionError(name, f"must be a name or a list of names, not {value!r}")
        return tuple(names)
    if kind == "path":
        if value is None:
            return None
        return _path(name, value)
    if kind == "report":
        if value is None or value is False:
            return False  # no report
        if value is True:
            return True  # a report of its own name in reports/
        return _path(name, value)  # the output rules: report.paths, where it is written
    if kind == "columns":
        if value is None:
            return None
        if not isinstance(value, Mapping) or not all(
                isinstance(k, str) and k.strip() and isinstance(v, str)
                for k, v in value.items()):
            raise OptionError(name, "must map header names to fields, e.g. "
                              "{'Film': 'composition_string'}")
        return dict(value)
    raise TypeError(f"unknown option kind {kind!r}")


def _bounded(name: str, spec: Spec, value: float) -> None:
    unit = " seconds" if spec.kind == "seconds" else ""
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    if spec.least is not None and spec.kind == "count" and value < spec.least:
        raise OptionError(name, f"must be {spec.least:g} or more, not {shown}")
    if spec.most is not None and value > spec.most:
        raise OptionError(name, f"must be at most {spec.most:g}{unit}, not {shown}")


def _path(name: str, value: Any) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise OptionError(name, f"must be a path, not {value!r}")
    text = os.fspath(value)
    if not isinstance(text, str) or not text.strip():
        raise OptionError(name, "is empty; give a file name")
    return Path(text)
