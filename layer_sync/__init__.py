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

from .core.control import RunControl
from .core.errors import ExitCode, LayerSyncError, OptionError
from .core.options import CheckOptions, ExportOptions, ReadOptions, SyncOptions
from .core.runtime import Runtime
from .core.version import __version__
from .frames import read_frame, sync_frame
from .outcome.results import CheckOutcome, SyncOutcome
from .read.stacks import read_stacks
from .run.check import check_file
from .run.sync import sync_file
from .tools.export import ExportResult, export_stacks

__all__ = ["CheckOptions", "CheckOutcome", "ExitCode", "ExportOptions", "ExportResult",
           "LayerSyncError", "OptionError", "ReadOptions", "RunControl", "Runtime",
           "SyncOptions", "SyncOutcome", "__version__", "check_file", "export_stacks",
           "read_frame", "read_stacks", "sync_file", "sync_frame"]
