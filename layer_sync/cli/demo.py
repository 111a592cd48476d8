"""`layer-sync demo`: the sandbox in-process on a free port, seeded with the sample data, and
the sample workbook synced into it. No key, no network, a few seconds."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..core.runtime import Runtime
from ..outcome.results import SyncOutcome
from ..report.paths import REPORTS_FOLDER
from ..run.sync import sync_file
from ..sandbox import SandboxServer
from ..tools import samples


def run_demo(report: str | Path | None = None,
             announce: Callable[[str], None] | None = None,
             runtime: Runtime | None = None) -> SyncOutcome:
    """Run the demo; `announce(url)` is called once the sandbox is listening. `report`: where
    the report goes (default: a name of its own in reports/)."""

    key = secrets.token_urlsafe(16)  # the sandbox's own, made up for this run
    with tempfile.TemporaryDirectory(prefix="layer-sync-demo-") as folder:
        sheet = samples.write_workbook(Path(folder) / "lab_stacks.xlsx")
        with SandboxServer(api_key=key, seed=[dict(e) for e in samples.SEED]) as server:
            if announce is not None:
                announce(server.url)
            # The sample sheet is a temporary copy: the report goes in the current folder.
            return sync_file(sheet, api_key=key, api_url=server.url,
                             report=True if report is None else report,
                             report_dir=Path(REPORTS_FOLDER), runtime=runtime)
