"""The server's records (the list endpoint's answer), indexed for the plan, the writer's
re-reads and `export`. Pure: no network, no disk."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from ..rules.cells import MAX_ID


@dataclass
class ServerIndex:
    """The list endpoint's answer, indexed: layers by (sample_id, layer_id), samples by id and name."""

    layers: dict[tuple[int, int], list[dict[str, Any]]]
    samples: dict[int, dict[str, Any]]
    by_name: dict[str, set[int]]

    @classmethod
    def build(cls, entries: list[dict[str, Any]]) -> ServerIndex:
        layers: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
        samples: dict[int, dict[str, Any]] = {}
        by_name: dict[str, set[int]] = defaultdict(set)
        for entry in entries:
            sample_id = _int_or_none(entry.get("sample_id"))
            if sample_id is None:
                continue
            if sample_id not in samples:
                samples[sample_id] = {"sample_name": entry.get("sample_name"),
                                      "substrate": entry.get("substrate")}
                name = entry.get("sample_name")
                if isinstance(name, str) and name.strip():
                    by_name[folded(name)].add(sample_id)
            layer_id = _int_or_none(entry.get("layer_id"))
            if layer_id is not None:
                layers[(sample_id, layer_id)].append(entry)
        for records in layers.values():
            if len(records) > 1:  # the lowest id first: the record a row is compared with
                records.sort(key=lambda r: (_int_or_none(r.get("id")) is None,
                                            _int_or_none(r.get("id")) or 0))
        return cls(dict(layers), samples, dict(by_name))

    def find(self, key: tuple[int, int]) -> dict[str, Any] | None:
        records = self.layers.get(key)
        return records[0] if records else None

    def named(self, name: str, substrate: str | None) -> list[int]:
        ids = sorted(self.by_name.get(folded(name), ()))
        if substrate:
            ids = [i for i in ids if folded(self.samples[i].get("substrate")) == folded(substrate)]
        return ids


def _int_or_none(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    else:
        try:
            amount = float(value)
        except (TypeError, ValueError, OverflowError):  # a 400-digit id is no id
            return None
        if not amount.is_integer():
            return None
        number = int(amount)
    # Past what the API stores (signed 32-bit) is no id either: it names no record a sheet
    # can (a 10**400 layer_id made export's workbook fail).
    return number if abs(number) <= MAX_ID else None


def folded(text: Any) -> str:
    """Names compare ignoring case and surrounding spaces."""
    return text.strip().casefold() if isinstance(text, str) else ""
