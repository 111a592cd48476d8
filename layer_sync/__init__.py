"""layer-sync: keep a lab's target layer stacks (CSV / Excel) in step with Atomscale.

    from layer_sync import sync_file, read_stacks
    outcome = sync_file("lab_stacks.xlsx", api_key=..., dry_run=True)
    print(outcome.counts, outcome.exit_code)
"""

__version__ = "0.1.0"

from .errors import ExitCode, LayerSyncError  # noqa: E402
from .outcome import SyncOutcome  # noqa: E402
from .sheet import read_stacks  # noqa: E402
from .sync import sync_file  # noqa: E402

__all__ = ["ExitCode", "LayerSyncError", "SyncOutcome", "__version__", "read_stacks", "sync_file"]
