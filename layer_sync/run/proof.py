"""A write counts as done only when it is proven: by its answer, or by the server's records.

A server (or a proxy in front of it) may answer a write with success and not store it: a 200
whose body is an error, `ok: false`, a 201 or 204 with no body, a 202 "queued", an id that is
text, true or a fraction, the record of another layer. Counted as created, such a row would
say the night went well while the server holds nothing. So each success answer is checked
(`remote.answers.layer_answer_problem`); one that does not prove the write is confirmed by
reading the server's records again (the shared re-read, `doubt.Reconciler`): the layer with
every field as sent, the target material under its name. Neither: the write is an error
(`Unproven`), in doubt when it was a create (it may still land: the journal keeps it open, so
the next run waits for it before it plans), never "created" or "updated".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from ..core.errors import ApiError
from ..plan.actions import NewSample
from ..remote.answers import Answer, layer_answer_problem, sample_answer_problem
from ..rules.values import same
from .doubt import Reconciler

log = logging.getLogger("layer_sync.apply")

_KEY_FIELDS = ("sample_id", "layer_id")


class Unproven(ApiError):
    """A write answered with success whose answer does not show it stored, and the server's
    records do not show it either."""


def _reread(read: Callable[[], Any]) -> Any:
    """A re-read for a proof; one that fails proves nothing (None)."""
    try:
        return read()
    except ApiError as exc:
        log.warning("could not read the server's records to confirm a write (%s)", exc)
        return None


def proven_layer(answer: Answer, reconciler: Reconciler, body: Mapping[str, Any], *,
                 new: bool, clean: Callable[[str], str]) -> Answer:
    """`answer` when it proves the layer write `body` (a POST when `new`, else a PATCH);
    else the answer the server's records give (the layer holding every field as sent);
    else `Unproven`."""
    sample_id, layer_id = body["sample_id"], body["layer_id"]
    if answer.recovered:  # found on the server by the re-read of a write in doubt
        return answer
    problem = layer_answer_problem(answer.data, sample_id, layer_id)
    if problem is None:
        return answer
    index = _reread(reconciler.index)
    record = index.find((sample_id, layer_id)) if index is not None else None
    if record is not None and all(same(name, value, record.get(name))
                                  for name, value in body.items() if name not in _KEY_FIELDS):
        log.info("layer %s/%s: the server answered %s but %s; its records hold the layer as "
                 "sent", sample_id, layer_id, answer.status, problem)
        return Answer(record, answer.status, answer.attempts, headers=answer.headers)
    what = "created" if new else "updated"
    raise Unproven(clean(
        f"the server answered {answer.status} but {problem}, and its records do not hold the "
        f"layer as sent: not counted as {what}"
        + ("; whether it will be stored is unknown (the next run will see)" if new else
           "; the next run will compare it again")), answer.status, answer.attempts,
        in_doubt=new)


def proven_sample(answer: Answer, reconciler: Reconciler, group: NewSample, known: set[int],
                  *, clean: Callable[[str], str]) -> Answer:
    """`answer` when it proves the target material `group` created; else the one the
    server's records give (new, under its name); else `Unproven` (in doubt)."""
    if answer.recovered or sample_answer_problem(answer.data) is None:
        return answer
    problem = sample_answer_problem(answer.data)
    found = _reread(lambda: reconciler.sample(group, known))
    if found is not None:
        return Answer(found, answer.status, answer.attempts, recovered=True,
                      headers=answer.headers)
    raise Unproven(clean(
        f"the server answered {answer.status} but {problem}, and its records hold no new "
        f"target material {group.sample_name!r}: not counted as created; whether it will be "
        "stored is unknown (the next run will see)"), answer.status, answer.attempts,
        in_doubt=True)


def proven_rename(answer: Answer, reconciler: Reconciler, sample_id: int,
                  changes: Mapping[str, Any], *, clean: Callable[[str], str]) -> None:
    """Nothing when `answer` proves the rename of target material `sample_id` (or the
    server's records show its new name); else `Unproven`."""
    problem = sample_answer_problem(answer.data, sample_id)
    if problem is None:
        return
    index = _reread(reconciler.index)
    held = index.samples.get(sample_id) if index is not None else None
    if held is not None and all(
            isinstance(held.get(name), str) and isinstance(value, str)
            and held[name].strip().casefold() == value.strip().casefold()
            for name, value in changes.items()):
        return
    raise Unproven(clean(f"the server answered {answer.status} but {problem}, and its records "
                         f"do not show target material {sample_id} renamed"),
                   answer.status, answer.attempts)
