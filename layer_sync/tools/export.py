"""`export`: the server's layer stacks written as an input sheet, so that a lab starts from
what the server already holds. Syncing the exported file straight back changes nothing.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Unpack

from ..core.options import ExportChanges, ExportOptions
from ..core.runtime import Runtime
from ..core.secrets import ApiKey
from ..plan.records import ServerIndex
from ..remote.client import ApiClient
from ..remote.retry import RetryPolicy
from ..remote.settings import resolve_api_key, resolve_api_url
from ..rules import cells, values
from .templates import cell_text, check_target, write_rows

log = logging.getLogger("layer_sync")


@dataclass
class ExportResult:
    path: Path
    layers: int
    target_materials: int
    without_layers: int
    duplicates: int


def export_stacks(path: str | os.PathLike[str], *, api_key: str | ApiKey | None = None,
                  options: ExportOptions | None = None, runtime: Runtime | None = None,
                  **changes: Unpack[ExportChanges]) -> ExportResult:
    """Write every layer on the server to `path` (.xlsx or .csv), one row per layer.

    `options` (an `ExportOptions`) and keywords of the same names: `api_url`, `api_key_file`,
    `timeout`, `max_attempts`, `force`; the key and URL are found as `sync_file` finds them.

    A key the server holds twice is written once, from the record of the lowest id (the one
    `sync` compares with), so the file syncs back without duplicate-key errors. An existing
    `path` is replaced only with `force`, and never when it is not a regular file (a device,
    a FIFO, a folder); a CSV's cells that a spreadsheet would run as formulas are guarded.
    """

    options = ExportOptions.build(options, changes)
    runtime = runtime or Runtime()
    path = Path(path)
    force = options.force
    check_target(path, force)  # before anything is sent: a file we must not replace is refused
    api_url = resolve_api_url(options.api_url, runtime.environ)
    if api_key is None:
        api_key = resolve_api_key(runtime.environ, options.api_key_file)
    policy = RetryPolicy(max_attempts=options.max_attempts, timeout=options.timeout,
                         clock=runtime.clock, sleep=runtime.sleep)
    client = ApiClient(api_url, api_key, policy, control=runtime.control)
    try:
        entries = client.list_target_materials()
    finally:
        client.close()
    index = ServerIndex.build(entries)
    rows: list[dict[str, Any]] = []
    contradictions = 0
    for (sample_id, layer_id), records in sorted(index.layers.items()):
        record = records[0]
        sample = index.samples[sample_id]
        elements, contradicts = element_dict_cell(record)
        contradictions += contradicts
        rows.append({"sample_id": sample_id, "sample_name": sample.get("sample_name"),
                     "substrate": sample.get("substrate"), "layer_id": layer_id,
                     **{f: record.get(f) for f in ("composition_string", "orientation",
                                                   "space_group", "mp_id")},
                     "element_dict": elements})
    if contradictions:
        log.warning("%d layer(s) on the server hold an element_dict that contradicts their "
                    "composition_string; they are exported as they are, and a sync reports "
                    "them as errors until one of the two is corrected", contradictions)
    duplicates = sum(len(r) - 1 for r in index.layers.values())
    if duplicates:
        log.warning("%d layer record(s) are duplicates on the server; each key is exported once "
                    "(the record of the lowest id)", duplicates)
    with_layers = {k[0] for k in index.layers}
    # The key never leaves the process, even when the server holds it in a record (in an
    # element_dict too: redacted in the JSON text the cell holds).
    rows = [{f: client.redact(v) if isinstance(v := cell_text(value), str) else v
             for f, value in row.items()} for row in rows]
    _blank_overlong(rows)
    write_rows(path, rows, force=force)
    return ExportResult(path, len(rows), len(with_layers), len(set(index.samples) - with_layers),
                        duplicates)


def _blank_overlong(rows: list[dict[str, Any]]) -> None:
    """Leave blank each value longer than a sheet's cell of its field may hold (an .xlsx cell
    would cut it, and a sync refuses it): a blank cell is one the sheet does not manage, so
    syncing the file back leaves that value on the server as it is. Said in a warning."""
    left: list[str] = []
    for row in rows:
        for name, value in row.items():
            if isinstance(value, str) and len(value) > values.max_chars(name):
                row[name] = None
                left.append(f"{name} of sample_id {row['sample_id']} layer {row['layer_id']} "
                            f"({len(value):,} characters)")
    if left:
        shown = "; ".join(left[:5]) + (f"; and {len(left) - 5} more" if len(left) > 5 else "")
        log.warning("%d value(s) on the server are longer than a sheet cell of their field may "
                    "hold (%s characters for a name or substrate, %s for the others): their "
                    "cells are left blank, so syncing this file leaves them as they are: %s",
                    len(left), f"{cells.MAX_CELL_CHARS:,}", f"{cells.MAX_VALUE_CHARS:,}", shown)


def element_dict_cell(record: dict[str, Any]) -> tuple[Any, bool]:
    """The element_dict cell of an exported layer, and whether it contradicts the formula.

    Blank where it is exactly what the layer's formula gives: the server derives it, and a
    sheet that leaves it blank lets a technician edit the formula alone (the server then
    derives the new counts). Written out where it differs (proportions given as fractions,
    or no formula), so that syncing the file back changes nothing.
    """
    elements = record.get("element_dict")
    formula = record.get("composition_string")
    if cells.is_blank(elements) or not isinstance(formula, str) or cells.is_blank(formula):
        return elements, False
    try:
        derived = values.element_counts(formula)
        given = values.parse_element_dict(elements)
    except cells.ValueProblem:
        return elements, False  # unreadable on the server: exported as it is
    if values.same("element_dict", derived, given):
        return None, False
    return elements, values.composition_conflict(formula, given) is not None
