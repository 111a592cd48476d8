"""layer-sync: keep a lab's target layer stacks (CSV / Excel) in step with Atomscale.

    from layer_sync import sync_file, check_file, read_stacks
    outcome = sync_file("lab_stacks.xlsx", api_key=..., dry_run=True)
    print(outcome.counts, outcome.exit_code, outcome.to_json())

Every entry point takes its options as keywords or as one object (`SyncOptions`,
`CheckOptions`, `ReadOptions`, `ExportOptions`), and what it takes from its surroundings
(clock, sleep, progress, stop switch, environment) as a `Runtime`. From a notebook (pandas):
`read_stacks(path).to_frame()`, `sync_frame(df, api_key=...)`, `read_frame(df)`,
`outcome.to_frame()`; pandas is imported only by these.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .core.version import __version__

if TYPE_CHECKING:  # the names, for type checkers and readers; loaded on first use below
    from .core.control import RunControl
    from .core.errors import ExitCode, LayerSyncError, OptionError
    from .core.options import CheckOptions, ExportOptions, ReadOptions, SyncOptions
    from .core.runtime import Runtime
    from .frames import read_frame, sync_frame
    from .outcome.results import CheckOutcome, SyncOutcome
    from .read.stacks import read_stacks
    from .run.check import check_file
    from .run.sync import sync_file
    from .tools.export import ExportResult, export_stacks

#: Where each public name lives. They load on first use (PEP 562), so that the console
#: script's first code runs before the package's parts load (see `entry`).
_WHERE = {
    "RunControl": "core.control", "ExitCode": "core.errors", "LayerSyncError": "core.errors",
    "OptionError": "core.errors", "CheckOptions": "core.options",
    "ExportOptions": "core.options", "ReadOptions": "core.options",
    "SyncOptions": "core.options", "Runtime": "core.runtime", "read_frame": "frames",
    "sync_frame": "frames", "CheckOutcome": "outcome.results",
    "SyncOutcome": "outcome.results", "read_stacks": "read.stacks",
    "check_file": "run.check", "sync_file": "run.sync", "ExportResult": "tools.export",
    "export_stacks": "tools.export",
}

__all__ = ["CheckOptions", "CheckOutcome", "ExitCode", "ExportOptions", "ExportResult",
           "LayerSyncError", "OptionError", "ReadOptions", "RunControl", "Runtime",
           "SyncOptions", "SyncOutcome", "__version__", "check_file", "export_stacks",
           "read_frame", "read_stacks", "sync_file", "sync_frame"]


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'layer_sync' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{where}", __name__), name)
    globals()[name] = value  # once loaded, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
