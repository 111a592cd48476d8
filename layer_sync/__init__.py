"""layer-sync: keep a lab's target layer stacks (CSV / Excel) in step with Atomscale.

    from layer_sync import sync_file, read_stacks
    outcome = sync_file("lab_stacks.xlsx", api_key=..., dry_run=True)
    print(outcome.counts, outcome.exit_code)

From a notebook (pandas): `read_stacks(path).to_frame()`, `sync_frame(df, api_key=...)`,
`read_frame(df)`, `outcome.to_frame()`. pandas is imported only by these.
"""

__version__ = "0.1.0"

from .core.errors import ExitCode, LayerSyncError  # noqa: E402
from .frames import read_frame, sync_frame  # noqa: E402
from .outcome.results import SyncOutcome  # noqa: E402
from .read.stacks import read_stacks  # noqa: E402
from .run.check import check_file  # noqa: E402
from .run.sync import sync_file  # noqa: E402

__all__ = ["ExitCode", "LayerSyncError", "SyncOutcome", "__version__", "check_file", "read_frame",
           "read_stacks", "sync_file", "sync_frame"]
