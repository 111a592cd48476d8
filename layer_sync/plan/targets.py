"""Which target material each row belongs to, and whether the row agrees with the server
about it: a sample_id on the server, a unique name (and substrate), or a target material to
create (--create-samples); a row whose name or substrate contradicts its sample_id is an
error (a wrong id would write into someone else's stack), or a rename (--update-samples)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..core.issues import Severity
from ..rules.cells import name_key
from .actions import Action, SampleUpdate
from .records import ServerIndex, unreadable_message

ERROR = Severity.ERROR
#: A target material to create, by the key of its name and substrate (`cells.name_key`).
NewKey = tuple[str, str | None]
#: A row's target material: a sample_id on the server, one to create, or none.
Target = int | NewKey | None
#: A layer of a target material: (target, layer_id).
TargetLayer = tuple[int | NewKey, int]
#: The target material's own fields that a row may give beside its sample_id.
IDENTITY = ("sample_name", "substrate")


def resolve_target(action: Action, index: ServerIndex, create_samples: bool) -> Target:
    """The row's target material: a sample_id on the server, the key of a target material to
    create (`--create-samples`), or None (with an issue when the row names one that cannot be
    found). Sets `action.sample_id` when it is on the server."""
    row = action.row
    sample_id = row.values.get("sample_id")
    if sample_id is not None:
        if sample_id not in index.samples:
            odd = index.unreadable((sample_id, action.layer_id))
            if odd is not None:  # it may be on the server, in a record that cannot be read
                action.add(ERROR, "layer_id", unreadable_message(
                    f"layer {action.layer_id} of sample {sample_id}", odd))
                return None
            action.add(ERROR, "sample_id", f"sample_id {sample_id} is not on the server; check "
                       "the number, or leave it blank and give the sample_name")
            return None
        action.sample_id = int(sample_id)
        return action.sample_id
    name = row.values.get("sample_name")
    if not name:
        return None
    substrate = row.values.get("substrate")
    ids = index.named(name, substrate)
    on = f" on {substrate}" if substrate else ""
    if len(ids) == 1:
        action.sample_id, action.by_name = ids[0], True
        return ids[0]
    if len(ids) > 1:
        action.add(ERROR, "sample_name", f"{len(ids)} target materials are named {name!r}{on} "
                   f"(sample_ids {', '.join(map(str, ids))}); give the sample_id")
        return None
    if not create_samples:
        action.add(ERROR, "sample_name", new_stack_message(name, substrate))
        return None
    return (name_key(name), name_key(substrate) or None)


def new_stack_message(name: str, substrate: str | None) -> str:
    """The error of a row naming a target material the server does not have (said once per
    stack on the terminal, which names its rows)."""
    on = f" on {substrate}" if substrate else ""
    return (f"no target material named {name!r}{on} is on the server: to create it with "
            "these layers, run with --create-samples; if it exists, check the name or give "
            "its sample_id")


def target_key(target: Target, layer_id: int | None) -> TargetLayer | None:
    return None if target is None or layer_id is None else (target, layer_id)


def target_text(key: TargetLayer) -> str:
    target, layer_id = key
    if isinstance(target, int):
        return f"layer {layer_id} of sample {target}"
    return f"layer {layer_id} of new target material {target[0]!r}"


def check_identity(actions: list[Action], index: ServerIndex,
                    update_samples: bool) -> list[SampleUpdate]:
    """A row giving a sample_id and also a sample_name or substrate must agree with the
    server about that target material: a wrong id would write into someone else's stack.

    With `update_samples`, a difference is a rename instead (one per target material); rows
    of one target material that disagree with each other are errors.
    """
    # Rows of one stack repeat one name and substrate: each pair given is compared once.
    by_sample: dict[int, dict[tuple[str | None, str | None], list[Action]]] = defaultdict(
        lambda: defaultdict(list))
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
                differing = [f for f, v in given.items() if name_key(v) != name_key(server.get(f))]
                if differing:
                    message = _identity_message(sample_id, server, given)
                    for action in group:
                        action.add(ERROR, differing[0], message)
            continue
        changes: dict[str, str] = {}
        for position, name in enumerate(IDENTITY):
            said = [value for pair in by_given if (value := pair[position])]
            if len({name_key(v) for v in said}) > 1:
                listed = ", ".join(sorted({repr(v) for v in said}))
                for pair, group in by_given.items():
                    for action in group if pair[position] else ():
                        action.add(ERROR, name, f"the rows of sample_id {sample_id} give "
                                   f"different {name}s ({listed}); give one {name} for the "
                                   "target material")
            elif said and name_key(said[0]) != name_key(server.get(name)):
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
