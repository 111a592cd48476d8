"""Server records + sheet rows -> a Plan. Pure: no network, no disk.

Each row becomes create, update (only the fields that differ in meaning), unchanged or
invalid; layers on the server in a target material the sheet covers, but missing from the
sheet, are remote-only (reported, never deleted). A blank cell is not managed: it is neither
sent nor compared, so fields the server fills in itself never cause a PATCH.

The plan never writes into the reader's rows: what it finds wrong with a row is an `Issue`
on that row's `Action` (and all of them, in sheet order, on `Plan.issues`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from . import values
from .outcome import ActionKind, Issue, Severity
from .records import ServerIndex, folded

if TYPE_CHECKING:  # the plan reads rows but needs nothing of the reader at run time
    from .sheet import SheetData, SheetRow

CREATE, UPDATE = ActionKind.CREATE, ActionKind.UPDATE
UNCHANGED, INVALID = ActionKind.UNCHANGED, ActionKind.INVALID
ERROR, WARNING = Severity.ERROR, Severity.WARNING

#: Fields that describe one chemistry: when one of them is sent, the other (if the sheet
#: manages it) goes in the same request, because the server re-derives element_dict from
#: the composition and would otherwise hold a mix of old and new.
CHEMISTRY = values.CHEMISTRY_FIELDS
#: The target material's own fields that a row may give beside its sample_id.
IDENTITY = ("sample_name", "substrate")

T = TypeVar("T")


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
class SampleUpdate:
    """A target material to rename (with --update-samples).

    Send `PATCH /target-materials/{sample_id}` with `changes` as the body, once, before the
    layers of `actions` (the valid rows of this target material, whatever their kind).
    """

    sample_id: int
    changes: dict[str, str]    # only the differing fields: sample_name and/or substrate
    old: dict[str, Any]        # the server's values of those fields, for the report
    actions: list["Action"] = field(default_factory=list)

    def describe(self) -> str:
        """`sample_name: Old → New; substrate: …`, as the report shows changes."""
        return "; ".join(str(Change(f, self.old.get(f), new)) for f, new in self.changes.items())


@dataclass(slots=True)  # 50,000 of them in a big sheet: no __dict__ each
class Action:
    """What to do with one sheet row, and what the plan found wrong with it."""

    row: SheetRow
    kind: ActionKind
    sample_id: int | None = None
    layer_id: int | None = None
    body: dict[str, Any] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    record: dict[str, Any] | None = None
    message: str = ""
    new_sample: NewSample | None = None
    sample_update: SampleUpdate | None = None
    #: Problems the plan found (the reader's own are on `row.issues`).
    issues: list[Issue] = field(default_factory=list)

    @property
    def key(self) -> tuple[int, int] | None:
        if self.sample_id is None or self.layer_id is None:
            return None
        return (self.sample_id, self.layer_id)

    @property
    def errors(self) -> list[Issue]:
        """The reader's errors for the row, then the plan's."""
        return [*self.row.errors, *(i for i in self.issues if i.severity == ERROR)]

    @property
    def warnings(self) -> list[Issue]:
        """The reader's warnings for the row, then the plan's."""
        return [*(i for i in self.row.issues if i.severity == WARNING),
                *(i for i in self.issues if i.severity == WARNING)]

    @property
    def valid(self) -> bool:
        # Asked three times a row while planning: no list built to answer it.
        return self.row.valid and not any(i.severity == ERROR for i in self.issues)

    def add(self, severity: Severity, field_name: str | None, message: str) -> Issue:
        issue = row_issue(self.row, severity, field_name, message)
        self.issues.append(issue)
        return issue


@dataclass
class Plan:
    actions: list[Action]
    new_samples: list[NewSample]
    remote_only: list[dict[str, Any]]
    #: The target materials the server held when the plan was made.
    known_samples: set[int] = field(default_factory=set)
    #: Every problem the plan found, in sheet order (the reader's are on `SheetData.issues`).
    issues: list[Issue] = field(default_factory=list)
    #: Target materials to rename before their layers are written (--update-samples).
    sample_updates: list[SampleUpdate] = field(default_factory=list)


def row_issue(row: SheetRow, severity: Severity, field_name: str | None, message: str) -> Issue:
    """An issue located at a row's cell for `field_name` (the row itself is not changed)."""
    return Issue(row.sheet, row.row, row.columns.get(field_name) if field_name else None,
                 row.cells.get(field_name) if field_name else None,
                 values.describe(row.raw.get(field_name)) if field_name else "", severity, message)


def merge_issues(sheet_issues: Iterable[Issue], plan: Plan) -> list[Issue]:
    """The reader's issues and the plan's, in sheet order (file issues first; within a row,
    the reader's before the plan's)."""
    order = {(a.row.sheet, a.row.row): i for i, a in enumerate(plan.actions)}
    return sorted([*sheet_issues, *plan.issues], key=lambda i: order.get((i.sheet, i.row), -1))


# ============================================================================ duplicates

def duplicate_keys(items: Iterable[T],
                   key: Callable[[T], Hashable | None]) -> dict[Hashable, list[T]]:
    """The one duplicate-key rule: the keys that more than one item holds, with those items
    (in input order). Items whose key is None name no layer and are left out."""
    # Counted first, so that the common case (every key once) builds no list per key.
    items = list(items)
    keys = [key(item) for item in items]
    counts = Counter(keys)
    by_key: dict[Hashable, list[T]] = defaultdict(list)
    for k, item in zip(keys, items):
        if k is not None and counts[k] > 1:
            by_key[k].append(item)
    return dict(by_key)


def _duplicate_message(what: str, rows: Sequence[SheetRow]) -> str:
    if len({r.sheet for r in rows}) == 1:
        where = "rows " + ", ".join(str(r.row) for r in rows)
    else:
        where = ", ".join(f"{r.sheet} row {r.row}" for r in rows)
    return f"{what} appears on {where}; keep one row per layer (none of them is sent)"


def sheet_duplicates(rows: Sequence[SheetRow]) -> list[Issue]:
    """The duplicate-key rule on the sheet alone (`layer-sync check`: no server), in row order.

    Rows are keyed by the sample as the sheet names it (sample_id, or sample_name with
    substrate) and layer_id. `build_plan` applies the same rule to the keys resolved against
    the server, which also catches one layer named once by id and once by name.
    """
    def key(row: SheetRow) -> Hashable | None:
        ref, layer_id = row.sample_ref, row.values.get("layer_id")
        return None if ref is None or layer_id is None else (ref, layer_id)

    issues: dict[int, Issue] = {}
    for (ref, layer_id), group in duplicate_keys(rows, key).items():
        sample = ref[1] if ref[0] == "id" else repr(group[0].values["sample_name"])
        what = f"layer {layer_id} of sample {sample}"
        message = _duplicate_message(what, group)
        for row in group:
            issues[id(row)] = row_issue(row, ERROR, "layer_id", message)
    return [issues[id(row)] for row in rows if id(row) in issues]


def sheet_issues(data: SheetData) -> list[Issue]:
    """Every problem the sheet alone shows, in sheet order: what `layer-sync check` reports
    (the reader's issues and the duplicate-key rule; no server needed)."""
    order = {(row.sheet, row.row): i for i, row in enumerate(data.rows)}
    return sorted([*data.issues, *sheet_duplicates(data.rows)],
                  key=lambda i: order.get((i.sheet, i.row), -1))


# ============================================================================ the plan

def build_plan(data: SheetData, entries: list[dict[str, Any]], *, create_samples: bool = False,
               update_samples: bool = False,
               progress: Callable[[str, int, int | None, int], None] | None = None) -> Plan:
    """Compare the sheet's rows with the server's records.

    `create_samples`: a row naming an unknown target material (by name) creates it.
    `update_samples`: a row whose sample_id's name or substrate differs from the sheet's
    renames the target material instead of being an error. `progress("planning", done,
    rows, 0)` is called every 1,000 rows (for a progress bar).
    The rows are not changed: problems found are on each `Action.issues` and `Plan.issues`.
    """
    index = ServerIndex.build(entries)
    actions = [Action(row, INVALID, layer_id=row.values.get("layer_id")) for row in data.rows]
    targets = [_resolve_sample(action, index, create_samples) for action in actions]

    # The duplicate rule on the resolved keys: one layer named once by sample_id and once
    # by name is a duplicate too.
    by_target = duplicate_keys(zip(actions, targets),
                               lambda pair: _target_key(pair[1], pair[0].layer_id))
    for key, group in by_target.items():
        message = _duplicate_message(_target_text(key), [action.row for action, _ in group])
        for action, _ in group:
            action.add(ERROR, "layer_id", message)

    updates = _check_identity(actions, index, update_samples)
    for action in actions:
        _check_chemistry(action)

    new_samples: dict[tuple, NewSample] = {}
    for done, (action, target) in enumerate(zip(actions, targets)):
        if progress is not None and done % 1000 == 0:
            progress("planning", done, len(actions), 0)
        if not action.valid:
            action.kind = INVALID
            action.message = action.errors[0].message
        elif isinstance(target, tuple):
            group = new_samples.get(target)
            if group is None:
                group = new_samples[target] = NewSample(action.row.values["sample_name"],
                                                        action.row.values.get("substrate"))
            group.actions.append(action)
            action.new_sample = group
            action.kind = CREATE
            action.body = {"layer_id": action.layer_id, **_managed(action.row)}
            action.message = f"new target material {group.sample_name!r}"
        else:
            _compare(action, index)
            if not action.valid:  # the comparison found a contradiction with the server
                action.kind = INVALID
                action.body, action.changes = {}, []
                action.message = action.errors[0].message
        if action.valid:
            # The row's first warning is its message (the report's Cell column points at it).
            warnings = action.warnings
            if warnings:
                action.message = "; ".join(m for m in (action.message, warnings[0].message) if m)

    sample_updates = []
    valid_by_sample: dict[int, list[Action]] = defaultdict(list)
    for action in actions:
        if action.sample_id is not None and action.kind != INVALID:
            valid_by_sample[action.sample_id].append(action)
    for update in updates:
        update.actions = valid_by_sample.get(update.sample_id, [])
        if update.actions:
            sample_updates.append(update)
            for action in update.actions:
                action.sample_update = update

    covered = {t for t in targets if isinstance(t, int)}
    named_keys = {a.key for a in actions}
    # The keys picked before they are sorted: a sheet that names every layer sorts none.
    remote_keys = sorted(k for k in index.layers if k[0] in covered and k not in named_keys)
    remote_only = [record for key in remote_keys for record in index.layers[key]]
    issues = [issue for action in actions for issue in action.issues]
    return Plan(actions, list(new_samples.values()), remote_only, set(index.samples), issues,
                sample_updates)


def _managed(row: SheetRow) -> dict[str, Any]:
    """The layer fields the row manages (non-blank), as checked."""
    given = row.values
    return {f: value for f in values.LAYER_FIELDS if (value := given.get(f)) is not None}


def _resolve_sample(action: Action, index: ServerIndex, create_samples: bool) -> int | tuple | None:
    """The row's target material: a sample_id on the server, the key of a target material to
    create (`--create-samples`), or None (with an issue when the row names one that cannot be
    found). Sets `action.sample_id` when it is on the server."""
    row = action.row
    sample_id = row.values.get("sample_id")
    if sample_id is not None:
        if sample_id not in index.samples:
            action.add(ERROR, "sample_id", f"sample_id {sample_id} is not on the server; check "
                       "the number, or leave it blank and give the sample_name")
            return None
        action.sample_id = sample_id
        return sample_id
    name = row.values.get("sample_name")
    if not name:
        return None
    substrate = row.values.get("substrate")
    ids = index.named(name, substrate)
    on = f" on {substrate}" if substrate else ""
    if len(ids) == 1:
        action.sample_id = ids[0]
        return ids[0]
    if len(ids) > 1:
        action.add(ERROR, "sample_name", f"{len(ids)} target materials are named {name!r}{on} "
                   f"(sample_ids {', '.join(map(str, ids))}); give the sample_id")
        return None
    if not create_samples:
        action.add(ERROR, "sample_name", f"no target material named {name!r}{on} is on the "
                   "server; check the name, give its sample_id, or run with --create-samples")
        return None
    return (folded(name), folded(substrate) or None)


def _target_key(target: int | tuple | None, layer_id: int | None) -> Hashable | None:
    return None if target is None or layer_id is None else (target, layer_id)


def _target_text(key: Hashable) -> str:
    target, layer_id = key  # type: ignore[misc]
    if isinstance(target, int):
        return f"layer {layer_id} of sample {target}"
    return f"layer {layer_id} of new target material {target[0]!r}"


# ============================================================================ identity

def _check_identity(actions: list[Action], index: ServerIndex,
                    update_samples: bool) -> list[SampleUpdate]:
    """A row giving a sample_id and also a sample_name or substrate must agree with the
    server about that target material: a wrong id would write into someone else's stack.

    With `update_samples`, a difference is a rename instead (one per target material); rows
    of one target material that disagree with each other are errors.
    """
    # Rows of one stack repeat one name and substrate: each pair given is compared once.
    by_sample: dict[int, dict[tuple, list[Action]]] = defaultdict(lambda: defaultdict(list))
    for action in actions:
        given = action.row.values
        if given.get("sample_id") is not None and action.sample_id is not None:
            pair = (given.get("sample_name"), given.get("substrate"))  # in IDENTITY's order
            by_sample[action.sample_id][pair].append(action)
    updates: list[SampleUpdate] = []
    for sample_id, by_given in by_sample.items():
        server = index.samples[sample_id]
        if not update_samples:
            for pair, group in by_given.items():
                given = {f: v for f, v in zip(IDENTITY, pair) if v}
                differing = [f for f, v in given.items() if folded(v) != folded(server.get(f))]
                if differing:
                    message = _identity_message(sample_id, server, given)
                    for action in group:
                        action.add(ERROR, differing[0], message)
            continue
        changes: dict[str, str] = {}
        for position, name in enumerate(IDENTITY):
            said = [pair[position] for pair in by_given if pair[position]]
            if len({folded(v) for v in said}) > 1:
                listed = ", ".join(sorted({repr(v) for v in said}))
                for pair, group in by_given.items():
                    for action in group if pair[position] else ():
                        action.add(ERROR, name, f"the rows of sample_id {sample_id} give "
                                   f"different {name}s ({listed}); give one {name} for the "
                                   "target material")
            elif said and folded(said[0]) != folded(server.get(name)):
                changes[name] = said[0]
        if changes:
            updates.append(SampleUpdate(sample_id, changes, {f: server.get(f) for f in changes}))
    return updates


def _identity_message(sample_id: int, server: dict[str, Any], given: dict[str, str]) -> str:
    theirs = repr(server.get("sample_name") or "(no name)")
    if server.get("substrate"):
        theirs += f" on {server['substrate']}"
    if "sample_name" in given:
        ours = repr(given["sample_name"])
        if "substrate" in given:
            ours += f" on {given['substrate']}"
    else:
        ours = f"substrate {given['substrate']}"
    return (f"sample_id {sample_id} is {theirs} on the server, but this row says {ours}; check "
            f"the sample_id, or run with --update-samples to rename target material {sample_id}")


# ============================================================================ chemistry

def _check_chemistry(action: Action) -> None:
    """A formula and an element_dict that contradict each other: whichever half were sent,
    the server would hold wrong chemistry, so the row is an error."""
    row = action.row
    formula, elements = row.values.get("composition_string"), row.values.get("element_dict")
    if not formula or not elements:
        return
    conflict = values.composition_conflict(formula, elements)
    if conflict and not any(i.message == conflict for i in row.errors):  # the reader's own check
        action.add(ERROR, "element_dict", conflict)


def _compare(action: Action, index: ServerIndex) -> None:
    """create or update or unchanged, for a valid row of a target material on the server."""
    assert action.key is not None
    managed = _managed(action.row)
    records = index.layers.get(action.key)
    if not records:
        action.kind = CREATE
        action.body = {"sample_id": action.sample_id, "layer_id": action.layer_id, **managed}
        return
    record = action.record = records[0]
    if len(records) > 1:
        ids = ", ".join(str(r.get("id")) for r in records)
        action.add(WARNING, "layer_id", f"the server holds layer {action.layer_id} of sample "
                   f"{action.sample_id} {len(records)} times (record ids {ids}); this row is "
                   f"compared with record {record.get('id')} and no copy is added")
    # Equality first, as in values.same: most values are the server's as they stand.
    action.changes = [Change(f, old, v) for f, v in managed.items()
                      if (old := record.get(f)) != v and not values.same(f, v, old)]
    if not action.changes:
        action.kind = UNCHANGED
        return
    body = {c.field: c.new for c in action.changes}
    _warn_of_stale_identifiers(action, managed, body)
    if any(f in body for f in CHEMISTRY):
        body.update({f: managed[f] for f in CHEMISTRY if f in managed})
        if "element_dict" in body and "composition_string" not in body:
            conflict = _server_chemistry_conflict(body["element_dict"], record)
            if conflict:
                action.add(ERROR, "element_dict", conflict)
                return
    action.kind = UPDATE
    action.body = {"sample_id": action.sample_id, "layer_id": action.layer_id, **body}


#: Fields that name one material: right for the old composition, wrong for a new one.
MATERIAL_IDENTIFIERS = ("mp_id", "space_group")


def _warn_of_stale_identifiers(action: Action, managed: dict[str, Any],
                               body: dict[str, Any]) -> None:
    """A new composition_string beside an mp_id or space_group that stays as it was (an
    exported sheet whose formula was edited): they describe the old material. The update
    goes ahead as the sheet says; the warning points at the cells to check."""
    if "composition_string" not in body:
        return
    kept = [f for f in MATERIAL_IDENTIFIERS if f in managed and f not in body]
    if not kept:
        return
    old = action.record.get("composition_string") if action.record else None
    named = " and ".join(f"{f} {values.describe(managed[f])}" for f in kept)
    action.add(WARNING, kept[0],
               f"composition_string changes from {values.describe(old) if old else '(blank)'} "
               f"to {values.describe(managed['composition_string'])}, but {named} "
               f"{'stay' if len(kept) > 1 else 'stays'} as before and may describe the old "
               f"material: check {'them' if len(kept) > 1 else 'it'}")


def _server_chemistry_conflict(elements: dict[str, Any], record: dict[str, Any]) -> str | None:
    """An element_dict sent alone must agree with the formula the server keeps."""
    formula = record.get("composition_string")
    if not isinstance(formula, str) or not formula.strip():
        return None
    conflict = values.composition_conflict(formula, elements)
    if conflict is None:
        return None
    return (f"element_dict {values.describe(elements)} does not match the server's "
            f"composition_string {formula!r}; give the composition_string in the sheet too, "
            "or leave element_dict blank")
