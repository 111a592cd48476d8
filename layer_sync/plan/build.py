"""Server records + sheet rows -> a Plan. Pure: no network, no disk.

Each row becomes create, update (only the fields that differ in meaning), unchanged or
invalid; layers on the server in a target material the sheet covers, but missing from the
sheet, are remote-only (reported, never deleted). A blank cell is not managed: it is neither
sent nor compared, so fields the server fills in itself never cause a PATCH.

The plan never writes into the reader's rows: what it finds wrong with a row is an `Issue`
on that row's `Action` (and all of them, in sheet order, on `Plan.issues`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from ..core.issues import Issue, Severity
from ..core.runtime import Progress
from ..core.text import describe
from ..read.rows import SheetData, SheetRow
from ..rules import values
from ..rules.duplicates import duplicate_keys, duplicate_message
from .actions import CREATE, INVALID, UNCHANGED, UPDATE, Action, Change, NewSample, Plan
from .advice import server_advice
from .records import ServerIndex, unreadable_message
from .targets import (
    NewKey,
    check_identity,
    resolve_target,
    target_key,
    target_text,
)

ERROR, WARNING = Severity.ERROR, Severity.WARNING

#: Fields that describe one chemistry: when one of them is sent, the other (if the sheet
#: manages it) goes in the same request, because the server re-derives element_dict from
#: the composition and would otherwise hold a mix of old and new.
CHEMISTRY = values.CHEMISTRY_FIELDS


def merge_issues(sheet_issues: Iterable[Issue], plan: Plan) -> list[Issue]:
    """The reader's issues and the plan's, in sheet order (file issues first; within a row,
    the reader's before the plan's); a reader's issue the plan completed with the server's
    value (`Plan.advice`) in its completed form."""
    order: dict[tuple[str, int | None], int] = {(a.row.sheet, a.row.row): i
                                                for i, a in enumerate(plan.actions)}
    advised = plan.advised if plan.advice else None
    sheet = [advised(i) for i in sheet_issues] if advised is not None else list(sheet_issues)
    unique = {id(i): i for i in [*sheet, *plan.issues]}  # an issue given twice, once
    return sorted(unique.values(), key=lambda i: order.get((i.sheet, i.row), -1))


# ============================================================================ the plan

def build_plan(data: SheetData, entries: list[dict[str, Any]], *, create_samples: bool = False,
               update_samples: bool = False,
               progress: Progress | None = None) -> Plan:
    """Compare the sheet's rows with the server's records.

    `create_samples`: a row naming an unknown target material (by name) creates it.
    `update_samples`: a row whose sample_id's name or substrate differs from the sheet's
    renames the target material instead of being an error. `progress("planning", done,
    rows, 0)` is called every 1,000 rows (for a progress bar).
    The rows are not changed: problems found are on each `Action.issues` and `Plan.issues`.
    """
    index = ServerIndex.build(entries)
    actions = [Action(row, INVALID, layer_id=row.values.get("layer_id")) for row in data.rows]
    targets = [resolve_target(action, index, create_samples) for action in actions]

    # The duplicate rule on the resolved keys: one layer named once by sample_id and once
    # by name is a duplicate too.
    by_target = duplicate_keys(zip(actions, targets),
                               lambda pair: target_key(pair[1], pair[0].layer_id))
    for key, pairs in by_target.items():
        message = duplicate_message(target_text(key), [action.row for action, _ in pairs])
        for action, _ in pairs:
            action.add(ERROR, "layer_id", message)

    for action, target in zip(actions, targets):
        _check_unreadable(action, target, index)

    updates = check_identity(actions, index, update_samples)
    for action in actions:
        _check_chemistry(action)
    # An orientation a spreadsheet changed, said with the server's value of the layer.
    advice = server_advice(((a.row, a.sample_id) for a in actions), index)

    new_samples: dict[NewKey, NewSample] = {}
    for done, (action, target) in enumerate(zip(actions, targets)):
        if progress is not None and done % 1000 == 0:
            progress("planning", done, len(actions), 0)
        if not action.valid:
            action.kind = INVALID
            first = action.errors[0]
            action.message = advice.get(id(first), first).message
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
            elif action.by_name and action.kind in (CREATE, UPDATE):
                # A write into a target material found by name: said, so that an accidental
                # match (a "new" stack named like an existing one) is seen before it writes.
                action.message = matched_message(action)
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
    issues = [*_odd_records_issue(data, index), *(i for a in actions for i in a.issues)]
    return Plan(actions, list(new_samples.values()), remote_only, set(index.samples), issues,
                sample_updates, advice)


def matched_message(action: Action) -> str:
    """`matched by name: LSMO on LAO / LaAlO3 → target material 102`."""
    given = action.row.values
    name = f"{given.get('sample_name')}" + (f" / {given['substrate']}"
                                            if given.get("substrate") else "")
    return f"matched by name: {name} \u2192 target material {action.sample_id}"


def _check_unreadable(action: Action, target: int | NewKey | None, index: ServerIndex) -> None:
    """A row whose layer the server may hold in a record the tool cannot read is not planned:
    compared with nothing, it would be created again (a second copy of the same layer)."""
    if target is None or action.layer_id is None:
        return
    if isinstance(target, int):
        odd = index.unreadable((target, action.layer_id))
        what = f"layer {action.layer_id} of sample {target}"
    else:
        odd = index.unreadable_named(target[0])
        what = f"the target material {action.row.values.get('sample_name')!r}"
    if odd is not None:
        action.add(ERROR, "layer_id", unreadable_message(what, odd))


def _odd_records_issue(data: SheetData, index: ServerIndex) -> list[Issue]:
    """One warning about the file that names the server's records that could not be read."""
    if not index.odd:
        return []
    shown = "; ".join(f"{o.reason}" + (f" (record id {o.record_id})" if o.record_id is not None
                                        else "") for o in index.odd[:5])
    more = f"; and {len(index.odd) - 5:,} more" if len(index.odd) > 5 else ""
    return [Issue(data.sheet, None, None, None, "", WARNING,
                  f"the server's list holds {len(index.odd):,} record(s) that do not have the "
                  f"shape the API documents, left alone: {shown}{more}")]


def _managed(row: SheetRow) -> dict[str, Any]:
    """The layer fields the row manages (non-blank), as checked."""
    given = row.values
    return {f: value for f in values.LAYER_FIELDS if (value := given.get(f)) is not None}


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
        ids = ", ".join(str(r.get("id")) for r in records[:10])
        if len(records) > 10:  # thousands of copies: the first ten are enough to find them
            ids += f" and {len(records) - 10:,} more"
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
    named = " and ".join(f"{f} {describe(managed[f])}" for f in kept)
    action.add(WARNING, kept[0],
               f"composition_string changes from {describe(old) if old else '(blank)'} "
               f"to {describe(managed['composition_string'])}, but {named} "
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
    return (f"element_dict {describe(elements)} does not match the server's "
            f"composition_string {formula!r}; give the composition_string in the sheet too, "
            "or leave element_dict blank")
