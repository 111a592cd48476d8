"""`layer-sync demo`: the sandbox in-process on a free port, seeded with the sample data, and
the sample workbook synced into it. No key, no network, a few seconds. `--copy-sample DIR`
writes the sample files for the user to keep instead: they are made from code
(`tools/samples.py`), so an installed package has them without its source checkout."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ..core.errors import ConfigError
from ..core.runtime import Runtime
from ..outcome.results import SyncOutcome
from ..report.paths import REPORTS_FOLDER
from ..run.sync import sync_file
from ..sandbox import SandboxServer
from ..tools import samples

#: What `--copy-sample` writes: the lab's workbook, the same stacks as CSV, the sandbox seed.
SAMPLE_FILES = ("lab_stacks.xlsx", "lab_stacks.csv", "sandbox_seed.json")


def run_demo(report: str | Path | None = None,
             announce: Callable[[str, Path], None] | None = None,
             runtime: Runtime | None = None) -> SyncOutcome:
    """Run the demo; `announce(url, sheet)` is called once the sandbox is listening, with the
    path of the sample workbook about to be synced (a fresh copy in a temporary folder,
    removed afterwards). `report`: where the report goes (default: a name of its own in
    reports/)."""

    key = secrets.token_urlsafe(16)  # the sandbox's own, made up for this run
    # The sheet is the demo's own, written and closed here: no need to wait until it is still.
    runtime = replace(runtime or Runtime(), still_s=0.0)
    with tempfile.TemporaryDirectory(prefix="layer-sync-demo-") as folder:
        sheet = samples.write_workbook(Path(folder) / "lab_stacks.xlsx")
        with SandboxServer(api_key=key, seed=[dict(e) for e in samples.SEED]) as server:
            if announce is not None:
                announce(server.url, sheet)
            # The sample sheet is a temporary copy: the report goes in the current folder.
            outcome = sync_file(sheet, api_key=key, api_url=server.url,
                                report=True if report is None else report,
                                report_dir=Path(REPORTS_FOLDER), runtime=runtime)
    outcome.command = "demo"  # the JSON line says which command ran (docs/json-line.md)
    return outcome


def copy_sample(folder: str | os.PathLike[str]) -> list[Path]:
    """Write the sample files (`SAMPLE_FILES`) into `folder`, created if missing; the paths
    written. Never over an existing file: one that exists is a ConfigError naming it, and
    nothing is written (nor left half-written when a write fails)."""
    folder = Path(folder)
    targets = [folder / name for name in SAMPLE_FILES]
    for target in targets:
        if target.exists() or target.is_symlink():
            raise ConfigError(f"{target} already exists, and --copy-sample never writes over a "
                              "file; give another folder, or move that file away")
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder; give a folder for the sample files")
    written: list[Path] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="layer-sync-sample-") as made:
            for source in samples.write_all(Path(made)):
                target = folder / source.name
                with open(target, "xb") as handle:  # x: never over a file made meanwhile
                    written.append(target)
                    handle.write(source.read_bytes())
    except OSError as exc:
        for path in written:
            path.unlink(missing_ok=True)
        where = exc.filename or folder
        raise ConfigError(f"cannot write the sample files into {folder} ({where}: "
                          f"{exc.strerror or exc}); nothing was left there") from None
    return targets
