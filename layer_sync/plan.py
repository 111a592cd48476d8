"""Server records + sheet rows -> a Plan. Pure: no network, no disk.

Each row becomes create, update (only the fields that differ in meaning), unchanged or
invalid; layers on the server in a target material the sheet covers, but missing from the
sheet, are remote-only (reported, never deleted). A blank cell is not managed: it is neither
sent nor compared, so fields the server fills in itself never cause a PATCH.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from . import values
from .outcome import ActionKind, Severity
from .sheet import SheetData, SheetRow

CREATE, UPDATE = ActionKind.CREATE, ActionKind.UPDATE
UNCHANGED, INVALID = ActionKind.UNCHANGED, ActionKind.INVALID
ERROR, WARNING = Severity.ERROR, Severity.WARNING


@dataclass
class Change:
    field: str
    old: Any
    new: Any

    def __str__(self) -> str:
        old = values.describe(self.old) if self.old is not None else "(blank)"
        return f"{self.field}: {old} \u2192 {values.describe(self.new)}"


@dataclass
class NewSample:
    """A target material to create (with --create-samples), with the rows of its layers."""

    sample_name: str
    substrate: str | None
    actions: list["Action"] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.sample_name.casefold(), self.substrate.casefold() if self.substrate else None)


@dataclass
class Action:
    """What to do with one sheet row."""

    row: SheetRow
    kind: ActionKind
    sample_id: int | None = None
    layer_id: int | None = None
    body: dict[str, Any] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    record: dict[str, Any] | None = None
    message: str = ""
    new_sample: NewSample | None = None

    @property
    def key(self) -> tuple[int, int] | None:
        if self.sample_id is None or self.layer_id is None:
            return None
        return (self.sample_id, self.layer_id)


@dataclass
class Plan:
    actions: list[Action]
    new_samples: list[NewSample]
    remote_only: list[dict[str, Any]]
    #: The target materials the server held when the plan was made.
    known_samples: set[int] = field(default_factory=set)


@dataclass
class ServerIndex:
    """The list endpoint's answer, indexed: layers by (sample_id, layer_id), samples by id and name."""

    layers: dict[tuple[int, int], list[dict[str, Any]]]
    samples: dict[int, dict[str, Any]]
    by_name: dict[str, set[int]]

    @classmethod
    def build(cls, entries: list[dict[str, Any]]) -> "ServerIndex":
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
                    by_name[name.strip().casefold()].add(sample_id)
            layer_id = _int_or_none(entry.get("layer_id"))
            if layer_id is not None:
                layers[(sample_id, layer_id)].append(entry)
        for records in layers.values():
            records.sort(key=lambda r: (_int_or_none(r.get("id")) is None, _int_or_none(r.get("id")) or 0))
        return cls(dict(layers), samples, dict(by_name))

    def find(self, key: tuple[int, int]) -> dict[str, Any] | None:
        records = self.layers.get(key)
        return records[0] if records else None

    def named(self, name: str, substrate: str | None) -> list[int]:
        ids = sorted(self.by_name.get(name.strip().casefold(), ()))
        if substrate:
            ids = [i for i in ids
                   if str(self.samples[i].get("substrate") or "").strip().casefold() == substrate.casefold()]
        return ids


def _int_or_none(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


def build_plan(data: SheetData, entries: list[dict[str, Any]], *, create_samples: bool = False) -> Plan:
    """Compare the sheet's rows with the server's records. Adds row issues it finds."""
    index = ServerIndex.build(entries)
    actions: list[Action] = []
    new_samples: dict[tuple, NewSample] = {}
    covered: set[int] = set()
    named_keys: set[tuple[int, int]] = set()

    for row in data.rows:
        action = Action(row, INVALID, layer_id=row.values.get("layer_id"))
        actions.append(action)
        sample_id = _resolve_sample(row, index, create_samples, new_samples, action)
        if sample_id is not None:
            covered.add(sample_id)
            action.sample_id = sample_id
            if action.layer_id is not None:
                named_keys.add((sample_id, action.layer_id))

    _invalidate_duplicate_keys(actions)

    for action in actions:
        row = action.row
        if not row.valid:
            action.kind = INVALID
            action.message = row.errors[0].message
            continue
        managed = {f: row.values[f] for f in values.LAYER_FIELDS if row.values.get(f) is not None}
        if action.new_sample is not None:
            action.kind = CREATE
            action.body = {"layer_id": action.layer_id, **managed}
            action.message = f"new target material {action.new_sample.sample_name!r}"
            continue
        assert action.key is not None
        records = index.layers.get(action.key, [])
        if not records:
            action.kind = CREATE
            action.body = {"sample_id": action.sample_id, "layer_id": action.layer_id, **managed}
            continue
        record = records[0]
        action.record = record
        if len(records) > 1:
            ids = ", ".join(str(r.get("id")) for r in records)
            row.add(WARNING, "layer_id", f"the server holds layer {action.layer_id} of sample "
                    f"{action.sample_id} {len(records)} times (record ids {ids}); this row is "
                    f"compared with record {record.get('id')} and no copy is added")
        action.changes = [Change(f, record.get(f), v) for f, v in managed.items()
                          if not values.same(f, v, record.get(f))]
        if action.changes:
            action.kind = UPDATE
            action.body = {"sample_id": action.sample_id, "layer_id": action.layer_id,
                           **{c.field: c.new for c in action.changes}}
        else:
            action.kind = UNCHANGED

    remote_only = [record for key, records in sorted(index.layers.items())
                   if key[0] in covered and key not in named_keys for record in records]
    return Plan(actions, list(new_samples.values()), remote_only, set(index.samples))


def _resolve_sample(row: SheetRow, index: ServerIndex, create_samples: bool,
                    new_samples: dict[tuple, NewSample], action: Action) -> int | None:
    """The row's target material on the server; adds a row issue when it cannot be found."""
    sample_id = row.values.get("sample_id")
    if sample_id is not None:
        if sample_id not in index.samples:
            row.add(ERROR, "sample_id", f"sample_id {sample_id} is not on the server; check the "
                    "number, or leave it blank and give the sample_name")
            return None
        return sample_id
    name = row.values.get("sample_name")
    if not name:
        return None
    substrate = row.values.get("substrate")
    ids = index.named(name, substrate)
    on = f" on {substrate}" if substrate else ""
    if len(ids) == 1:
        return ids[0]
    if len(ids) > 1:
        row.add(ERROR, "sample_name", f"{len(ids)} target materials are named {name!r}{on} "
                f"(sample_ids {', '.join(map(str, ids))}); give the sample_id")
        return None
    if not create_samples:
        row.add(ERROR, "sample_name", f"no target material named {name!r}{on} is on the "
                "server; check the name, give its sample_id, or run with --create-samples")
        return None
    if row.valid:
        key = (name.casefold(), substrate.casefold() if substrate else None)
        group = new_samples.setdefault(key, NewSample(name, substrate))
        group.actions.append(action)
        action.new_sample = group
    return None


def _invalidate_duplicate_keys(actions: list[Action]) -> None:
    """Rows naming the same layer in different ways (sample_id vs name) are duplicates too."""
    by_key: dict[tuple[int, int], list[Action]] = defaultdict(list)
    for action in actions:
        if action.key is not None:
            by_key[action.key].append(action)
    for (sample_id, layer_id), group in by_key.items():
        fresh = [a for a in group if a.row.valid]
        if len(group) > 1 and fresh:
            rows = ", ".join(str(a.row.row) for a in group)
            for action in fresh:
                action.row.add(ERROR, "layer_id", f"layer {layer_id} of sample {sample_id} "
                               f"appears on rows {rows}; keep one row per layer (none of them is sent)")
    for group in _new_sample_groups(actions):
        seen: dict[int, list[Action]] = defaultdict(list)
        for action in group:
            seen[action.layer_id].append(action)
        for layer_id, same in seen.items():
            if len(same) > 1:
                for action in same:
                    if action.row.valid:
                        action.row.add(ERROR, "layer_id", f"layer {layer_id} appears on rows "
                                       f"{', '.join(str(a.row.row) for a in same)}")


def _new_sample_groups(actions: list[Action]) -> list[list[Action]]:
    groups: dict[int, list[Action]] = {}
    for action in actions:
        if action.new_sample is not None:
            groups.setdefault(id(action.new_sample), []).append(action)
    return list(groups.values())
