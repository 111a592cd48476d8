"""`export`: the server's layer stacks written as an input sheet, so that a lab starts from
what the server already holds. Syncing the exported file straight back changes nothing.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .plan import ServerIndex
from .templates import check_target, write_rows

log = logging.getLogger("layer_sync")


@dataclass
class ExportResult:
    path: Path
    layers: int
    target_materials: int
    without_layers: int
    duplicates: int


def export_stacks(path: str | os.PathLike, *, api_key: str, api_url: str, force: bool = False,
                  timeout: float = 30.0, max_attempts: int = 6) -> ExportResult:
    """Write every layer on the server to `path` (.xlsx or .csv), one row per layer.

    A key the server holds twice is written once, from the record of the lowest id (the one
    `sync` compares with), so the file syncs back without duplicate-key errors. An existing
    `path` is replaced only with `force`, and never when it is not a regular file (a device,
    a FIFO, a folder); a CSV's cells that a spreadsheet would run as formulas are guarded.
    """
    from .api import ApiClient
    from .retry import RetryPolicy

    path = Path(path)
    check_target(path, force)  # before anything is sent: a file we must not replace is refused
    client = ApiClient(api_url, api_key, RetryPolicy(max_attempts=max_attempts, timeout=timeout))
    try:
        entries = client.list_target_materials()
    finally:
        client.close()
    index = ServerIndex.build(entries)
    rows: list[dict[str, Any]] = []
    for (sample_id, layer_id), records in sorted(index.layers.items()):
        record = records[0]
        sample = index.samples[sample_id]
        rows.append({"sample_id": sample_id, "sample_name": sample.get("sample_name"),
                     "substrate": sample.get("substrate"), "layer_id": layer_id,
                     **{f: record.get(f) for f in ("composition_string", "element_dict",
                                                   "orientation", "space_group", "mp_id")}})
    duplicates = sum(len(r) - 1 for r in index.layers.values())
    if duplicates:
        log.warning("%d layer record(s) are duplicates on the server; each key is exported once "
                    "(the record of the lowest id)", duplicates)
    with_layers = {k[0] for k in index.layers}
    write_rows(path, rows, force=force)
    return ExportResult(path, len(rows), len(with_layers), len(set(index.samples) - with_layers),
                        duplicates)
