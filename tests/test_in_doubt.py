"""Writes whose outcome is unknown, settled rather than guessed (issue 18, point 2).

- A server that commits late: a POST whose answer is lost lands seconds later; the re-read
  waits until a late commit would show (`settle_s` after the write was sent) and finds it.
- A run killed with `kill -9` and rerun at once: the creates in flight are in the journal
  beside the server's lock; the rerun waits for them to land before it reads the records.
- Every write carries an Idempotency-Key, the same on each attempt of it: decisive where the
  server honours it (the sandbox's `idempotency`).
- A Retry-After longer than a run waits stops the run (exit 2, `wait_too_long`).

These tests wait for real (the sandbox's late commits are real time): seconds, not minutes.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from layer_sync.cli import main
from layer_sync.core.options import SyncOptions
from layer_sync.core.runtime import Runtime
from layer_sync.run.journal import Journal
from layer_sync.run.lock import lock_path
from layer_sync.run.sync import sync_file

from .conftest import API_KEY, write_csv

ROWS = 13


def _sheet(tmp_path: Path, rows: int = ROWS) -> Path:
    """`rows` new layers of target material 1 (the `stack` fixture's), saved long ago."""
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "composition_string", "orientation"],
                     [[1, n, "SrTiO3", "001"] for n in range(2, rows + 2)])
    os.utime(path, (time.time() - 3600,) * 2)
    return path


def _stored_once(server, rows: int = ROWS) -> None:
    """Every layer of the sheet is on the server exactly once (and the seeded one)."""
    keys = Counter((layer["sample_id"], layer["layer_id"]) for layer in server.store.layers())
    twice = {key: n for key, n in keys.items() if n > 1}
    assert not twice, f"stored more than once: {twice}"
    assert len(keys) == rows + 1


def _landed(server, within: float = 30) -> None:
    """Wait until every request the server took has been handled (late commits landed)."""
    deadline = time.monotonic() + within
    while server.stats.in_flight and time.monotonic() < deadline:
        time.sleep(0.05)


def _runtime(settle_s: float, **env: str) -> Runtime:
    return Runtime(environ={"LAYER_SYNC_SETTLE_SECONDS": str(settle_s),
                            "LAYER_SYNC_STILL_SECONDS": "0", **env})


# ---------------------------------------------------------------- a server that commits late
def test_a_server_that_commits_late_stores_nothing_twice(stack, tmp_path):
    # The issue's night: with --timeout 2 the POSTs' answers were lost and the writes landed
    # seconds later; the re-read came too early, found nothing, and 8 of 13 were sent again.
    # Here every POST lands 2.5 s after it arrived, its answer lost, the client's timeout 1 s;
    # each write is looked for 4 s after it was sent, and found.
    stack.faults.late_seconds = 2.5
    stack.faults.inject("late", count=ROWS, method="POST")
    outcome = sync_file(_sheet(tmp_path), api_key=API_KEY, runtime=_runtime(4),
                        options=SyncOptions(api_url=stack.url, timeout=1, report=False,
                                            concurrency=ROWS))
    _landed(stack)
    _stored_once(stack)
    assert outcome.exit_code == 0, outcome.message
    assert outcome.counts["created"] == ROWS
    assert stack.stats.by_method["POST"] == ROWS  # none was sent a second time
    assert all("not sent again" in r.message for r in outcome.results if r.attempts)


def test_the_re_read_in_doubt_waits_for_the_settle_window_from_the_send(stack, clock):
    # Without a real server's lateness: the re-read of a write in doubt starts only once the
    # write was sent `settle_s` ago; the backoff already waited counts towards it.
    from layer_sync.remote.client import ApiClient
    from layer_sync.remote.retry import RetryPolicy

    reads: list[float] = []
    client = ApiClient(stack.url, API_KEY, RetryPolicy(clock=clock.monotonic, sleep=clock.sleep,
                                                         settle_s=10, jitter=0))
    stack.faults.inject("500", method="POST")  # answered 500 before it was handled
    sent = clock.monotonic()

    def in_doubt():
        reads.append(clock.monotonic())
        return None

    client.create_layer({"sample_id": 1, "layer_id": 2}, in_doubt=in_doubt)
    assert reads and reads[0] - sent >= 10  # looked for only 10 s after the send
    assert sum(clock.sleeps) == pytest.approx(10, abs=0.01)  # backoff 0.5 s + the rest of it


# ---------------------------------------------------------------- kill -9, then at once again
def _cli_env(url: str, settle_s: float) -> dict[str, str]:
    return {**os.environ, "ATOMSCALE_API_KEY": API_KEY, "ATOMSCALE_API_URL": url,
            "LAYER_SYNC_STILL_SECONDS": "0", "LAYER_SYNC_SETTLE_SECONDS": str(settle_s)}


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_run_killed_with_writes_in_flight_and_rerun_at_once_stores_nothing_twice(stack, tmp_path):
    rows = 20
    sheet = _sheet(tmp_path, rows)
    stack.faults.late_seconds = 2.0  # every POST lands 2 s after it arrived
    stack.faults.kinds, stack.faults.methods, stack.faults.rate = ("late",), frozenset({"POST"}), 1.0
    env = _cli_env(stack.url, settle_s=4)
    killed = subprocess.Popen([sys.executable, "-m", "layer_sync", "sync", str(sheet), "--json",
                               "--report", str(tmp_path / "killed.xlsx"), "--concurrency", "4"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while stack.stats.by_method.get("POST", 0) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=30)
    in_flight = stack.stats.by_method["POST"]
    assert in_flight >= 4
    journal = Journal(lock_path(stack.url).with_suffix(".journal"))
    assert len(journal.unsettled()) >= 4  # the dead run's writes, still landing
    journal.close()
    stack.faults.rate = 0.0  # the rerun's own writes are answered at once

    rerun = subprocess.run([sys.executable, "-m", "layer_sync", "sync", str(sheet), "--json",
                            "--report", str(tmp_path / "rerun.xlsx")], env=env,
                           capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    payload = json.loads(rerun.stdout.strip().splitlines()[-1])
    _landed(stack)
    _stored_once(stack, rows)
    # The dead run's writes that reached the server were found, not sent again (a POST cut
    # off mid-body by the kill stores nothing and is created by the rerun).
    assert rows - in_flight <= payload["created"] < rows
    assert "write(s) in flight" in rerun.stderr  # it said why it waited
    assert not lock_path(stack.url).with_suffix(".journal").exists()  # all settled: removed


def test_a_clean_run_leaves_no_journal_and_a_write_in_doubt_keeps_it(stack, tmp_path):
    journal = lock_path(stack.url).with_suffix(".journal")
    outcome = sync_file(_sheet(tmp_path, 3), api_key=API_KEY, runtime=_runtime(0),
                        options=SyncOptions(api_url=stack.url, report=False))
    assert outcome.exit_code == 0 and not journal.exists()
    # A write whose outcome stays unknown (stored, its answer lost, then the key refused
    # on the re-read) is left in the journal: the next run waits for it.
    path = write_csv(tmp_path / "more.csv", ["sample_id", "layer_id", "composition_string"],
                     [[1, 9, "SrTiO3"]])
    stack.faults.inject("slow", method="POST")  # stored, answered after 1 s
    stack.revoke_key_after = 2  # the records' GET and the POST, then the key is refused
    outcome = sync_file(path, api_key=API_KEY, runtime=_runtime(0),
                        options=SyncOptions(api_url=stack.url, report=False, timeout=0.3))
    assert outcome.exit_code == 2 and outcome.reason_kind == "key_refused"
    assert "unknown" in outcome.results[0].message
    assert [e.what for e in Journal(journal).unsettled()] == ["layer 1/9"]
    # The next run finds it, waits for it (no time at all here), and starts afresh.
    stack.revoke_key_after = None
    outcome = sync_file(path, api_key=API_KEY, runtime=_runtime(0),
                        options=SyncOptions(api_url=stack.url, report=False))
    assert outcome.exit_code == 0 and outcome.counts["unchanged"] == 1
    assert not journal.exists()


# ---------------------------------------------------------------- Idempotency-Key
def test_every_write_carries_an_idempotency_key_the_same_on_each_attempt(stack, tmp_path):
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "composition_string", "orientation"],
                     [[1, 1, "SrTiO3", "111"], [1, 2, "SrTiO3", "001"], [1, 3, "BaTiO3", "001"]])
    stack.faults.inject("503", count=2, method="POST")  # refused before handling: sent again
    stack.faults.inject("500", method="PATCH")
    outcome = sync_file(path, api_key=API_KEY, runtime=_runtime(0),
                        options=SyncOptions(api_url=stack.url, report=False, concurrency=1))
    assert outcome.exit_code == 0, outcome.message
    posts, patches = stack.idempotency.keys("POST"), stack.idempotency.keys("PATCH")
    assert len(posts) == 4 and len(set(posts)) == 2 and None not in posts  # 2 writes, 4 attempts
    assert len(patches) == 2 and len(set(patches)) == 1 and None not in patches
    assert set(stack.idempotency.keys("GET")) == {None}  # a read needs none
    assert not set(posts) & set(patches)


def test_a_server_that_honours_the_key_stores_a_write_once_even_when_sent_again(stack, tmp_path):
    # With no settle window the re-read comes before the late commit and the write is sent
    # again; a server that honours Idempotency-Key answers it as the first, storing nothing.
    stack.idempotency.honour = True
    stack.faults.late_seconds = 2.0
    stack.faults.inject("late", count=3, method="POST")
    outcome = sync_file(_sheet(tmp_path, 3), api_key=API_KEY, runtime=_runtime(0),
                        options=SyncOptions(api_url=stack.url, timeout=0.3, report=False))
    _landed(stack)
    _stored_once(stack, 3)
    assert outcome.counts["created"] == 3


# ---------------------------------------------------------------- Retry-After past the bound
def _cli(args, url):
    out, err = io.StringIO(), io.StringIO()
    code = main(args, environ={"ATOMSCALE_API_KEY": API_KEY, "ATOMSCALE_API_URL": url,
                               "LAYER_SYNC_STILL_SECONDS": "0"}, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_retry_after_past_a_minute_stops_the_run_at_once(stack, tmp_path, method):
    stack.faults.retry_after = "290"  # the issue's: on every request, for many minutes
    stack.faults.inject("429", count=100, method=method)
    started = time.monotonic()
    code, out, err = _cli(["sync", str(_sheet(tmp_path)), "--json", "--concurrency", "1",
                           "--report", str(tmp_path / "r.xlsx")], stack.url)
    assert time.monotonic() - started < 20
    payload = json.loads(out.strip().splitlines()[-1])
    assert code == 2 and payload["reason"]["kind"] == "wait_too_long"
    assert "wait 290 s" in err and "Traceback" not in err
    assert stack.stats.by_method.get("POST", 0) <= 1  # nothing more was sent
    if method == "POST":
        assert payload["skipped"] == ROWS - 1 and payload["failed"] == 1  # the one refused


# ---------------------------------------------------------------- the shared re-read
def test_a_write_in_doubt_waits_for_a_read_that_started_after_it():
    # A GET already under way when a write came into doubt may have read the records before
    # the write landed: its answer must not settle that write. The second caller waits for
    # the next GET; callers in doubt at the same moment share it (one GET for the lot).
    import threading

    from layer_sync.run.doubt import Reconciler

    calls: list[int] = []
    first_started, release_first = threading.Event(), threading.Event()

    def fetch():
        calls.append(len(calls) + 1)
        if len(calls) == 1:
            first_started.set()
            assert release_first.wait(10)
        return [{"read": len(calls)}]

    reconciler = Reconciler(fetch)
    seen: dict[str, list] = {}
    early = threading.Thread(target=lambda: seen.setdefault("early", reconciler.entries()))
    early.start()
    assert first_started.wait(10)
    late = [threading.Thread(target=lambda n=n: seen.setdefault(f"late{n}", reconciler.entries()))
            for n in range(3)]
    for thread in late:
        thread.start()
    time.sleep(0.2)  # the late callers are waiting on the GET under way
    release_first.set()
    for thread in (early, *late):
        thread.join(10)
    assert seen["early"] == [{"read": 1}]
    assert all(seen[f"late{n}"] == [{"read": 2}] for n in range(3))  # a GET after them, shared
    assert calls == [1, 2]


# ---------------------------------------------------------------- a blip is not an outage
def test_a_burst_of_failures_within_seconds_does_not_stop_the_run(stack, tmp_path):
    # The new user's night: the API restarted for a second while eight writes were in
    # flight; twenty attempts failed within a tenth of a second and the run stopped as
    # "API down". The API is down only after failing for 30 s as well; until then each
    # request retries with its own backoff.
    rows = 40
    stack.faults.inject("reset", count=24, method="POST")  # dropped before handling
    outcome = sync_file(_sheet(tmp_path, rows), api_key=API_KEY, runtime=_runtime(0.2),
                        options=SyncOptions(api_url=stack.url, report=False, concurrency=8))
    assert outcome.exit_code == 0, outcome.message
    assert outcome.counts["created"] == rows
    _stored_once(stack, rows)
