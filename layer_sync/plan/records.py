"""The server's records (the list endpoint's answer), checked against the shape the API
documents and indexed for the plan, the writer's re-reads and `export`. Pure: no network,
no disk.

Every entry is checked before anything is planned (`shape_problem`): ids are whole numbers
(not text, not floats, not booleans), names and layer fields are text or null, element_dict
an object of numbers. An entry that does not fit is not guessed at: it becomes an
`OddRecord`, and every layer it could be is *unplannable* (`ServerIndex.unreadable`): a row
for it is compared with nothing and never created, so a record the tool cannot read never
turns into a second copy of the same layer.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..rules.cells import MAX_ID, name_key

#: The layer's text fields and the target material's, as the API documents them (or null).
TEXT_FIELDS = ("sample_name", "substrate", "composition_string", "orientation", "space_group",
               "mp_id")
#: Ids: whole numbers (or null, for a target material listed without layers).
ID_FIELDS = ("id", "sample_id", "layer_id")
SAMPLE_TEXT = ("sample_name", "substrate")


@dataclass(frozen=True, slots=True)
class OddRecord:
    """An entry of the server's list that does not have the documented shape.

    `sample_id` and `layer_id` are what it seems to name, as far as that can be told (None:
    it cannot), so that the layers it could be are left alone; `sample_name` likewise.
    """

    reason: str
    sample_id: int | None
    layer_id: int | None
    sample_name: str | None
    record_id: Any = None


class _OddPlaces:
    """The odd records indexed by what they may be, so that looking one up for every row of
    a sheet is one dict lookup, not a pass over them all (100,000 rows against 100,000 odd
    records took minutes). Each place keeps the first odd record (in the list's order)."""

    def __init__(self, odd: list[OddRecord]) -> None:
        self.anything: tuple[int, OddRecord] | None = None  # its target material unknown
        self.sample: dict[int, tuple[int, OddRecord]] = {}  # any layer of a target material
        self.layer: dict[tuple[int, int], tuple[int, OddRecord]] = {}
        self.unnamed: tuple[int, OddRecord] | None = None  # neither name nor id known
        self.named: dict[str, tuple[int, OddRecord]] = {}
        for place, record in enumerate(odd):
            found = (place, record)
            if record.sample_id is None:
                self.anything = self.anything or found
            elif record.layer_id is None:
                self.sample.setdefault(record.sample_id, found)
            else:
                self.layer.setdefault((record.sample_id, record.layer_id), found)
            if record.sample_name is None and record.sample_id is None:
                self.unnamed = self.unnamed or found
            if record.sample_name is not None:
                self.named.setdefault(name_key(record.sample_name), found)


def _first(*found: tuple[int, OddRecord] | None) -> OddRecord | None:
    """The odd record that came first in the list, of those found."""
    places = [f for f in found if f is not None]
    return min(places, key=lambda f: f[0])[1] if places else None


@dataclass
class ServerIndex:
    """The list endpoint's answer, indexed: layers by (sample_id, layer_id), samples by id and
    name; the entries that do not fit the documented shape in `odd`."""

    layers: dict[tuple[int, int], list[dict[str, Any]]]
    samples: dict[int, dict[str, Any]]
    by_name: dict[str, set[int]]
    odd: list[OddRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._odd = _OddPlaces(self.odd)

    @classmethod
    def build(cls, entries: Iterable[Any]) -> ServerIndex:
        layers: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
        samples: dict[int, dict[str, Any]] = {}
        by_name: dict[str, set[int]] = defaultdict(set)
        odd: list[OddRecord] = []
        # Odd records alike are one object (a list of bare values would otherwise cost the
        # plan hundreds of bytes each).
        alike: dict[OddRecord, OddRecord] = {}
        for entry in entries:
            problem = shape_problem(entry)
            if problem is not None:
                record = _odd(entry, problem)
                odd.append(alike.setdefault(record, record))
                if not _sample_part_fits(entry):
                    continue
                # The target material's part fits: it is on the server, whatever its layer.
            sample_id: int = entry["sample_id"]
            if sample_id not in samples:
                samples[sample_id] = {"sample_name": entry.get("sample_name"),
                                      "substrate": entry.get("substrate")}
                name = entry.get("sample_name")
                if isinstance(name, str) and name.strip():
                    by_name[name_key(name)].add(sample_id)
            layer_id = entry.get("layer_id")
            if problem is None and layer_id is not None:
                layers[(sample_id, layer_id)].append(entry)
        for records in layers.values():
            if len(records) > 1:  # the lowest id first: the record a row is compared with
                records.sort(key=lambda r: (r.get("id") is None, r.get("id") or 0))
        return cls(dict(layers), samples, dict(by_name), odd)

    def find(self, key: tuple[int, int]) -> dict[str, Any] | None:
        records = self.layers.get(key)
        return records[0] if records else None

    def named(self, name: str, substrate: str | None) -> list[int]:
        ids = sorted(self.by_name.get(name_key(name), ()))
        if substrate:
            ids = [i for i in ids if name_key(self.samples[i].get("substrate")) == name_key(substrate)]
        return ids

    def unreadable(self, key: tuple[int, int | None]) -> OddRecord | None:
        """An odd record that may be the layer `key` (sample_id, layer_id): one that names it,
        one of its target material whose layer cannot be told, or one whose target material
        cannot be told. None when every record that could be it was read."""
        places = self._odd
        layer = places.layer.get((key[0], key[1])) if key[1] is not None else None
        return _first(places.anything, places.sample.get(key[0]), layer)

    def unreadable_named(self, name: str) -> OddRecord | None:
        """An odd record that may be a target material named `name` (to create): one of that
        name, or one whose name cannot be told."""
        places = self._odd
        return _first(places.unnamed, places.named.get(name_key(name)))


def unreadable_message(what: str, odd: OddRecord) -> str:
    """The error of a row whose layer (`what`: `layer 2 of sample 1`) the server may hold in
    the odd record `odd`."""
    record = f", record id {odd.record_id}" if odd.record_id is not None else ""
    return (f"the server holds a record that may be {what} but does not have the shape the "
            f"API documents ({odd.reason}{record}); nothing is sent for this row, so that no "
            "second copy is made: have the record corrected on the server, then run again")


def shape_problem(entry: Any) -> str | None:
    """What keeps `entry` from being a record of the documented shape, in words; None when it
    fits. Ids are whole numbers up to what the API stores; text is text; element_dict is an
    object of finite numbers."""
    if not isinstance(entry, dict):
        return f"an entry is {'null' if entry is None else _kind(entry)}, not an object"
    for name in ID_FIELDS:
        value = entry.get(name)
        if value is None and name != "sample_id":
            continue
        if type(value) is not int:
            return f"{name} is {_kind(value)}, not a whole number"
        if not 0 <= value <= MAX_ID:
            return f"{name} {value} is beyond the ids the API stores"
    for name in TEXT_FIELDS:
        value = entry.get(name)
        if value is not None and not isinstance(value, str):
            return f"{name} is {_kind(value)}, not text"
    elements = entry.get("element_dict")
    if elements is not None and not (
            isinstance(elements, dict) and all(
                isinstance(k, str) and type(v) in (int, float) and math.isfinite(v)
                for k, v in elements.items())):
        return f"element_dict is {_kind(elements)}, not an object of element: number"
    if entry.get("layer_id") is None and any(
            entry.get(name) is not None for name in TEXT_FIELDS if name not in SAMPLE_TEXT):
        return "it holds a layer's fields but no layer_id"
    return None


def _sample_part_fits(entry: Any) -> bool:
    """Whether an odd entry's target material (sample_id, name, substrate) has the shape."""
    if not isinstance(entry, dict):
        return False
    sample_id = entry.get("sample_id")
    if type(sample_id) is not int or not 0 <= sample_id <= MAX_ID:
        return False
    return all(entry.get(n) is None or isinstance(entry.get(n), str) for n in SAMPLE_TEXT)


def _odd(entry: Any, reason: str) -> OddRecord:
    """What an odd entry seems to name, read leniently (only to leave those layers alone)."""
    if not isinstance(entry, dict):
        return OddRecord(reason, None, None, None)
    name = entry.get("sample_name")
    record_id = entry.get("id")
    # The id as the messages show it: a plain number, or short text; anything else, none.
    if (type(record_id) is not int or not 0 <= record_id <= MAX_ID) and not isinstance(
            record_id, str):
        record_id = None
    elif isinstance(record_id, str):
        record_id = repr(record_id[:40])
    return OddRecord(reason, _int_or_none(entry.get("sample_id")),
                     _int_or_none(entry.get("layer_id")),
                     name if isinstance(name, str) else None, record_id)


def _kind(value: Any) -> str:
    """`value` described by its kind, briefly: `the text '3'`, `the number 3.0`, `an object`."""
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return f"the boolean {'true' if value else 'false'}"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"[:60]
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _int_or_none(value: Any) -> int | None:
    """A whole number however it is written (3, "3", 3.0), or None: for telling which layer an
    odd record may be, never for planning."""
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
    # can (a 10**400 layer_id made export's workbook fail); nor is a negative one (the ids
    # count from 0 and layers from 1): which record it was cannot be told.
    return number if 0 <= number <= MAX_ID else None


