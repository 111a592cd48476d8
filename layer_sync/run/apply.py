"""Run a Plan: writes go out concurrently, as many at once as the server takes (the client's
throttle: a fixed number, or a limit found as the run goes, and the server's stated pace);
unknown outcomes are settled by reading the server's records again (`doubt.py`: one GET for all the rows
in doubt at that moment), so that nothing is ever created twice. A target material to rename
(`--update-samples`) is renamed first; its rows' layers are written after the rename succeeded.

The run's `RunControl` (`client.control`) decides whether writes go on: once it is stopped
(key refused, API down, interrupted) nothing more is sent, the rows left are skipped, and
after an interruption the answers in flight are awaited for its grace period.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from ..core.control import RunControl, RunStopped, StopReason
from ..core.errors import ApiDownError, ApiError, AuthError
from ..outcome.rows import Result, RowResult
from ..plan.actions import (
    CREATE,
    INVALID,
    UNCHANGED,
    UPDATE,
    Action,
    NewSample,
    Plan,
    SampleUpdate,
)
from ..remote.answers import Answer
from ..remote.client import ApiClient
from .doubt import Creates, Reconciler
from .journal import Journal
from .proof import proven_layer, proven_rename, proven_sample

log = logging.getLogger("layer_sync.apply")

CREATED, UPDATED, FAILED, SKIPPED = Result.CREATED, Result.UPDATED, Result.FAILED, Result.SKIPPED
WOULD_CREATE, WOULD_UPDATE = Result.WOULD_CREATE, Result.WOULD_UPDATE

Progress = Callable[[int, int, int], None]
#: A write to run, and the rows it writes.
Task = tuple[Callable[[], list[RowResult]], list[Action]]


def dry_run_results(plan: Plan) -> list[RowResult]:
    """What a run would do with each row; a rename shows on the rows of its target material."""
    kinds = {CREATE: WOULD_CREATE, UPDATE: WOULD_UPDATE, UNCHANGED: Result.UNCHANGED,
             INVALID: Result.INVALID}
    results = []
    for action in plan.actions:
        message = action.message
        if action.sample_update is not None:
            message = _joined(f"would rename {_renaming(action.sample_update)}", message)
        results.append(RowResult(action, kinds[action.kind], record_id=_server_id(action),
                                 message=message))
    return results


def _server_id(action: Action) -> int | None:
    """The id of the server's record the row was compared with (an unchanged row, a row to
    update), for the report's Record id column; None for a row with no record."""
    value = action.record.get("id") if action.record is not None else None
    return value if type(value) is int else None


def apply_plan(plan: Plan, client: ApiClient, known_samples: set[int], *,
               concurrency: int | None = None, max_concurrency: int = 32,
               progress: Progress | None = None,
               on_result: Callable[[int, RowResult], None] | None = None,
               journal: Journal | None = None) -> tuple[list[RowResult], str | None]:
    """Send the plan's writes. Returns a result per row (plan order) and, when the run had to
    stop (key refused, API down, interrupted: see `client.control`), the reason.
    `concurrency`: the writes in flight at once; None: as many as the server takes, found as
    the run goes, up to `max_concurrency` (the client's throttle decides, and should have
    been made with the same two). `on_result(index, result)` is called from the calling
    thread as each row's result is known (the report streams them). `journal`: where each
    create is noted before it is sent and settled once its outcome is known, so that a run
    after this one, if it dies, knows which writes may still land (`journal.Journal`)."""
    position = {id(a): i for i, a in enumerate(plan.actions)}
    results: dict[int, RowResult] = {}

    def record(result: RowResult) -> None:
        results[id(result.action)] = result
        if on_result is not None:
            on_result(position[id(result.action)], result)

    # The rows of a target material to rename are written by its rename's task, after it.
    renamed = {id(a) for update in plan.sample_updates for a in update.actions}
    for action in plan.actions:
        if action.kind in (INVALID, UNCHANGED) and id(action) not in renamed:
            record(RowResult(action, Result(action.kind.value), record_id=_server_id(action),
                             message=action.message))
    tasks: list[Task] = []
    creates = Creates(client, Reconciler(client.list_target_materials), journal)
    for update in plan.sample_updates:
        tasks.append((partial(_rename_then_write, creates, update), update.actions))
    for group in plan.new_samples:
        tasks.append((partial(_create_sample, creates, group, known_samples), group.actions))
    for action in plan.actions:
        if id(action) in renamed:
            continue
        if action.kind == CREATE and action.new_sample is None:
            tasks.append((partial(_one, _create_layer, creates, action), [action]))
        elif action.kind == UPDATE:
            tasks.append((partial(_one, _update_layer, creates, action), [action]))

    if tasks:
        workers = concurrency if concurrency is not None else max_concurrency
        _run_tasks(client, tasks, workers, record, progress)
    control = client.control
    fatal = control.message if control.reason in _FATAL else None
    return [results[id(a)] for a in plan.actions], fatal


#: The stop reasons that end a run early (exit 2, or 128 + the signal).
_FATAL = (StopReason.KEY_REFUSED, StopReason.API_DOWN, StopReason.INTERRUPTED,
          StopReason.WAIT_TOO_LONG)
#: How often the calling thread looks at the run control while it waits for writes.
_POLL_S = 0.25


def _run_tasks(client: ApiClient, tasks: list[Task], workers: int,
               record: Callable[[RowResult], None], progress: Progress | None) -> None:
    """Run the writes on `workers` threads: at most one request on the wire per worker, and
    no more in flight than the client's throttle allows (it holds the others back).

    Finished writes come back through a queue, so that the calling thread can also watch the
    run control while it waits (after an interruption it waits only `grace_s`). The workers
    are daemon threads: a write still waiting for its answer when the run gives up on it must
    not keep the process alive, whatever the server does (one that trickles its answer byte by
    byte defeats any per-read timeout).
    """
    control = client.control
    total = sum(len(actions) for _, actions in tasks)
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in range(len(tasks)):
        todo.put(index)
    finished: queue.SimpleQueue[tuple[int, list[RowResult]]] = queue.SimpleQueue()
    lock = threading.Lock()
    taken: set[int] = set()
    closed = threading.Event()  # the run stopped waiting: take no more tasks

    def work() -> None:
        while not control.interrupted:
            with lock:
                if closed.is_set():
                    return
                try:
                    index = todo.get_nowait()
                except queue.Empty:
                    return
                taken.add(index)
            task, actions = tasks[index]
            finished.put((index, _guarded(client, task, actions)))

    for n in range(min(max(1, workers), len(tasks))):
        threading.Thread(target=work, name=f"write-{n}", daemon=True).start()
    pending = set(range(len(tasks)))
    done = 0

    def collect(show: bool = True) -> None:
        nonlocal done
        deadline: float | None = None
        while pending:
            if control.interrupted:
                if deadline is None:
                    deadline = time.monotonic() + control.grace_s
                    with lock:
                        closed.set()  # no worker starts another write
                if not pending & taken:
                    return  # every write that was sent has its answer
            timeout = _POLL_S if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                index, results = finished.get(timeout=timeout)
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    return
                continue
            pending.discard(index)
            for result in results:
                record(result)
                done += 1
            if show and progress is not None:
                progress(done, total, client.counters.retries)

    try:
        collect()
    except KeyboardInterrupt:
        # Ctrl-C with no handler (a script or notebook calling the library): stop as the
        # command line's signal handler would, and wait out the grace period as it would.
        control.interrupt(signal.SIGINT)
        collect(show=False)  # the progress callback is where a script's Ctrl-C may come from
    except BaseException:
        control.cancel()  # a bug here: send nothing more
        closed.set()
        raise
    with lock:  # left when the grace period ended: settle them, and let no worker start one
        closed.set()
        started = set(taken)
    for index in sorted(pending):
        actions = tasks[index][1]
        if index not in started:
            results = [RowResult(a, SKIPPED, message=control.skip_note()) for a in actions]
        else:  # still waiting for its answer: lost
            results = [RowResult(a, FAILED, message="interrupted before the server answered: "
                                 "whether it stored this is unknown (the next run will see)")
                       for a in actions]
        for result in results:
            record(result)


def _guarded(client: ApiClient, task: Callable[[], list[RowResult]], actions: list[Action]) -> list[RowResult]:
    """Run one write; turn every outcome into row results, never an exception."""
    control: RunControl = client.control
    if control.stopped:
        return [RowResult(a, SKIPPED, message=control.skip_note()) for a in actions]
    try:
        return task()
    except (AuthError, ApiDownError, RunStopped) as exc:
        if exc.attempts == 0:  # stopped before it was sent
            return [RowResult(a, SKIPPED, message=control.skip_note()) for a in actions]
        return [RowResult(a, FAILED, exc.status, exc.attempts, message=_failure(exc))
                for a in actions]
    except ApiError as exc:
        return [RowResult(a, FAILED, exc.status, exc.attempts, message=_failure(exc))
                for a in actions]
    except Exception as exc:  # a bug must fail its row, not the run
        log.exception("unexpected error while writing")
        return [RowResult(a, FAILED, None, 0, message=f"unexpected error: {client.redact(str(exc))}")
                for a in actions]


def _failure(exc: ApiError) -> str:
    """A failed write's message; one whose outcome is unknown says so."""
    message = str(exc)
    if exc.in_doubt and "unknown" not in message and "not confirm" not in message:
        message += "; whether the server stored it is unknown (the next run will see)"
    return message


def _one(write: Callable[..., RowResult], *args: Any) -> list[RowResult]:
    """A write of one row, as a task's list of results."""
    return [write(*args)]


def _record_id(answer: Answer) -> int | None:
    data = answer.data
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, int) else None


def _create_layer(creates: Creates, action: Action) -> RowResult:
    key = action.key
    assert key is not None
    client, reconciler = creates.client, creates.reconciler
    # Proven inside the journaled write: a create whose success is not proven stays in the
    # journal, as one whose answer was lost (it may still land).
    answer = creates.send(f"layer {key[0]}/{key[1]}", lambda: proven_layer(
        client.create_layer(action.body, in_doubt=lambda: reconciler.layer(key)),
        reconciler, action.body, new=True, clean=client.redact))
    message = ("the server stored it although its answer was lost; not sent again"
               if answer.recovered else "")
    return RowResult(action, CREATED, answer.status, answer.attempts, _record_id(answer),
                     _joined(message, action.message))


def _update_layer(creates: Creates, action: Action) -> RowResult:
    client = creates.client
    answer = proven_layer(client.update_layer(action.body), creates.reconciler, action.body,
                          new=False, clean=client.redact)
    # The changes are in their own column of the report: the message says only what else
    # there is to say, as in a dry run.
    return RowResult(action, UPDATED, answer.status, answer.attempts, _record_id(answer),
                     action.message)


def _renaming(update: SampleUpdate) -> str:
    """`target material 101: sample_name: Old → New`."""
    return f"target material {update.sample_id}: {update.describe()}"


def _joined(*parts: str) -> str:
    return "; ".join(part for part in parts if part)


def _rename_then_write(creates: Creates, update: SampleUpdate) -> list[RowResult]:
    """Rename a target material (one PATCH), then write its rows' layers one after another.

    No layer is sent before the rename has succeeded: the rows say the new name, and a layer
    written under the old one would land in a stack the sheet does not describe. If the
    rename fails, every row of the target material fails with its reason.
    """
    client = creates.client
    try:
        proven_rename(client.update_target_material(update.sample_id, dict(update.changes)),
                      creates.reconciler, update.sample_id, update.changes, clean=client.redact)
    except (AuthError, ApiDownError, RunStopped):
        raise  # the run is stopping: `_guarded` marks the rows as for any other write
    except ApiError as exc:
        raise ApiError(f"could not rename target material {update.sample_id} ({exc}); none of "
                       "its layers was sent", exc.status, exc.attempts) from None
    note = f"renamed {_renaming(update)}"
    results = []
    for action in update.actions:
        if action.kind == UPDATE:
            result = _guarded(client, partial(_one, _update_layer, creates, action), [action])[0]
        elif action.kind == CREATE:
            result = _guarded(client, partial(_one, _create_layer, creates, action), [action])[0]
        else:
            result = RowResult(action, Result.UNCHANGED, message=action.message)
        result.message = _joined(note, result.message)
        results.append(result)
    return results


def _create_sample(creates: Creates, group: NewSample, known: set[int]) -> list[RowResult]:
    body = {"sample": {"sample_name": group.sample_name, "substrate": group.substrate},
            "layers": [dict(a.body) for a in group.actions]}
    client, reconciler = creates.client, creates.reconciler
    rows = f"{group.actions[0].row.row}" if group.actions else "?"
    answer = creates.send(f"target material of row {rows}", lambda: proven_sample(
        client.create_target_material(body, in_doubt=lambda: reconciler.sample(group, known)),
        reconciler, group, known, clean=client.redact))
    data = answer.data if isinstance(answer.data, dict) else {}
    sample_id = data.get("sample_id")
    if type(sample_id) is not int:
        raise ApiError("the server created the target material but did not give its sample_id",
                       answer.status, answer.attempts)
    results = []
    present = data.get("layers", set()) if answer.recovered else None
    for action in group.actions:
        action.sample_id = sample_id
        if present is not None and action.layer_id not in present:
            # The lost POST created the target material without this layer: add it alone.
            action.body = {"sample_id": sample_id, **action.body}
            results.append(_create_layer(creates, action))
            continue
        note = f"created target material {sample_id} ({group.sample_name})"
        if answer.recovered:
            note += "; the server stored it although its answer was lost"
        results.append(RowResult(action, CREATED, answer.status, answer.attempts, None, note))
    return results
