"""The sync against the sandbox over loopback: exact writes, convergence, faults, no duplicates."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

import pytest

from layer_sync.core.errors import LockedError
from layer_sync.core.runtime import Runtime
from layer_sync.core.secrets import ApiKey
from layer_sync.run.lock import lock_path
from layer_sync.run.sync import sync_file

from .conftest import API_KEY, write_csv, dead_url


def _entry(sample_id, layer_id, record_id, name=None, substrate="SrTiO3", **fields):
    return {"id": record_id, "sample_id": sample_id, "sample_name": name or f"Stack {sample_id}",
            "substrate": substrate, "layer_id": layer_id, **fields}




RUNTIME_FIELDS = ("sleep", "clock", "now", "progress", "control", "state_dir")


def _run(sandbox, path, clock=None, **kw):
    kw.setdefault("report", False)
    if clock is not None:
        kw.setdefault("sleep", clock.sleep)
        kw.setdefault("clock", clock.monotonic)
    kw.setdefault("api_key", ApiKey(API_KEY, "ATOMSCALE_API_KEY"))
    fields = {k: kw.pop(k) for k in RUNTIME_FIELDS if k in kw}
    runtime = kw.pop("runtime", None) or Runtime(**fields)
    return sync_file(path, api_url=sandbox.url, runtime=runtime, **kw)


def _keys(sandbox) -> list[tuple[int, int]]:
    return [(l["sample_id"], l["layer_id"]) for l in sandbox.store.layers()]


def _writes(sandbox) -> list[tuple[str, int | None]]:
    return [(m, s) for m, _, s, _ in sandbox.stats.log if m in ("POST", "PATCH")]


@pytest.fixture
def seeded(sandbox):
    sandbox.store.seed([
        _entry(1, 1, 10, composition_string="SrTiO3", orientation="001", space_group="Pm-3m",
               element_dict={"Sr": 1, "Ti": 1, "O": 3}, mp_id="mp-5229"),
        _entry(1, 2, 11, composition_string="BaTiO3", orientation="001"),
        _entry(1, 3, 12, composition_string="SrRuO3"),
        {"id": None, "sample_id": 2, "sample_name": "Empty", "substrate": "MgO", "layer_id": None},
    ])
    sandbox.stats.reset()
    return sandbox


def test_clean_sync_makes_exactly_the_planned_writes_then_converges(seeded, tmp_path, clock):
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "composition_string", "orientation"],
                [[1, 1, "SrTiO3", "001"], [1, 2, "BaTiO3", "111"], [1, 4, "LaAlO3", "(0 0 1)"],
                 [2, 1, "MgO", "001"]])
    outcome = _run(seeded, path, clock)
    line = outcome.to_dict()
    assert {k: line[k] for k in ("rows", "created", "updated", "unchanged", "invalid", "failed",
                                 "skipped", "remote_only", "requests", "retries", "dry_run",
                                 "report", "exit_code")} == {
        "rows": 4, "created": 2, "updated": 1, "unchanged": 1, "invalid": 0, "failed": 0,
        "skipped": 0, "remote_only": 1, "requests": {"GET": 2, "POST": 2, "PATCH": 1},
        "retries": 0, "dry_run": False, "report": None, "exit_code": 0}
    assert line["reason"]["kind"] == "ok" and line["command"] == "sync"
    assert Counter(m for m, _ in _writes(seeded)) == {"POST": 2, "PATCH": 1}
    layers = {(l["sample_id"], l["layer_id"]): l for l in seeded.store.layers()}
    assert layers[(1, 2)]["orientation"] == "111" and layers[(1, 2)]["composition_string"] == "BaTiO3"
    assert layers[(1, 4)]["orientation"] == "001" and layers[(2, 1)]["mp_id"] == "mp-1265"
    seeded.stats.reset()
    again = _run(seeded, path, clock)
    assert again.to_dict()["requests"] == {"GET": 1, "POST": 0, "PATCH": 0}
    assert again.counts["unchanged"] == 4 and again.exit_code == 0
    assert seeded.stats.by_method == {"GET": 1}


def test_dry_run_writes_nothing_and_counts_what_would_be_done(seeded, tmp_path):
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"],
                [[1, 2, "111"], [1, 5, "001"]])
    outcome = _run(seeded, path, dry_run=True)
    assert [r.result for r in outcome.results] == ["would update", "would create"]
    assert outcome.to_dict()["created"] == 1 and outcome.to_dict()["updated"] == 1
    assert outcome.to_dict()["dry_run"] is True and outcome.exit_code == 0
    assert seeded.stats.by_method == {"GET": 1}


def test_an_update_says_its_changes_once_as_a_dry_run_does(seeded, tmp_path):
    # The report has a Changes column: the Message does not repeat it (a dry run's never did).
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"], [[1, 2, "111"]])
    planned = _run(seeded, path, dry_run=True).results[0]
    done = _run(seeded, path).results[0]
    assert done.result == "updated" and [str(c) for c in done.action.changes] == ["orientation: 001 → 111"]
    assert done.message == planned.message == ""


def test_invalid_rows_are_not_sent_and_exit_1(seeded, tmp_path):
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"],
                [[1, 2, "1"], [1, 5, "001"]])
    outcome = _run(seeded, path)
    assert [r.result for r in outcome.results] == ["invalid", "created"]
    assert outcome.exit_code == 1
    assert seeded.store.layers()[1]["orientation"] == "001"  # the good value was not overwritten


def test_create_samples_posts_a_target_material_with_its_layers(seeded, tmp_path, clock):
    path = write_csv(tmp_path / "lab.csv", ["sample_name", "substrate", "layer_id", "composition_string"],
                [["New stack", "SrTiO3", 1, "SrTiO3"], ["", "", 2, "BaTiO3"]])
    refused = _run(seeded, path, clock)
    assert refused.counts["invalid"] == 2 and refused.exit_code == 1
    outcome = _run(seeded, path, clock, create_samples=True)
    assert outcome.counts["created"] == 2 and outcome.exit_code == 0
    assert outcome.requests["POST"] == 1
    new = [t for t in seeded.store.target_materials() if t["sample_name"] == "New stack"]
    assert len(new) == 1
    assert sorted(l["layer_id"] for l in seeded.store.layers() if l["sample_id"] == new[0]["sample_id"]) == [1, 2]
    again = _run(seeded, path, clock, create_samples=True)
    assert again.counts["unchanged"] == 2 and again.requests.get("POST", 0) == 0


@pytest.mark.parametrize("kind", ["429", "500", "502", "503", "reset", "commit500", "commitreset", "slow"])
def test_every_fault_kind_is_survived_without_duplicates(seeded, tmp_path, clock, kind):
    seeded.faults.slow_seconds = 0.4
    rows = [[1, 2, "111"]] + [[1, n, "001"] for n in range(4, 10)]
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"], rows)
    seeded.faults.inject(kind, count=3, method="POST")
    seeded.faults.inject(kind, count=1, method="PATCH")
    outcome = _run(seeded, path, clock, timeout=0.2, concurrency=4)
    assert outcome.exit_code == 0, [r.message for r in outcome.results]
    assert outcome.counts["created"] == 6 and outcome.counts["updated"] == 1
    keys = _keys(seeded)
    assert len(keys) == len(set(keys)) == 9
    assert outcome.retries >= 1
    assert seeded.stats.faults[kind] == 4
    if kind in ("commit500", "commitreset", "slow"):
        # The stored-but-unanswered POSTs were found by re-reading, not sent again.
        assert outcome.requests["POST"] == 6
        assert any("answer was lost" in r.message for r in outcome.results)


def test_unknown_outcomes_are_settled_with_one_get_for_all_rows_in_doubt(seeded, tmp_path, clock):
    # All eight POSTs in flight together, and their answers come back well within one GET's
    # time even on a busy machine (the re-reads are shared by the rows in doubt at once).
    seeded.latency_ms = 100
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"],
                [[1, n, "001"] for n in range(4, 12)])
    seeded.faults.inject("commit500", count=8, method="POST")
    outcome = _run(seeded, path, clock, concurrency=8)
    assert outcome.counts["created"] == 8
    assert outcome.requests["POST"] == 8
    assert outcome.requests["GET"] <= 4, outcome.requests  # the plan, shared re-reads, read-back
    assert len(set(_keys(seeded))) == len(_keys(seeded))


def test_writes_really_overlap(seeded, tmp_path, clock):
    seeded.latency_ms = 30
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"],
                [[1, n, "001"] for n in range(4, 36)])
    outcome = _run(seeded, path, clock, concurrency=8)
    assert outcome.counts["created"] == 32
    assert seeded.stats.max_in_flight == 8


def test_retry_after_is_honoured_in_seconds_and_as_a_date(seeded, tmp_path, clock):
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"], [[1, 4, "001"]])
    seeded.faults.retry_after = "7"
    seeded.faults.inject("429", method="POST")
    outcome = _run(seeded, path, clock)
    assert outcome.exit_code == 0 and 7 in clock.sleeps
    from email.utils import formatdate

    seeded.faults.retry_after = formatdate(time.time() + 30, usegmt=True)
    seeded.faults.inject("429", method="PATCH")
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"], [[1, 4, "111"]])
    clock.sleeps.clear()
    outcome = _run(seeded, path, clock)
    assert outcome.exit_code == 0
    assert any(25 <= s <= 31 for s in clock.sleeps), clock.sleeps


def test_retry_after_holds_back_every_worker(seeded, tmp_path):
    # A real clock and a sleep that only records: every request sent after the 429 must
    # first wait for the gate, whichever worker sends it.
    sleeps: list[tuple[str, float]] = []
    seeded.latency_ms = 10
    seeded.faults.retry_after = "5"
    seeded.faults.inject("429", method="POST")
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"],
                [[1, n, "001"] for n in range(4, 24)])
    outcome = _run(seeded, path, concurrency=4,
                   runtime=Runtime(sleep=lambda s: sleeps.append((threading.current_thread().name, s))))
    assert outcome.counts["created"] == 20
    # Several workers waited, not just one (and then left at the pace, one after the other).
    held = [(name, s) for name, s in sleeps if 4 <= s]
    assert len({name for name, _ in held}) >= 3, sleeps


def test_refused_key_makes_no_writes_and_exits_2(seeded, tmp_path, clock):
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"], [[1, 4, "001"]])
    outcome = sync_file(path, api_key=ApiKey("revoked", "ATOMSCALE_API_KEY"), api_url=seeded.url,
                        report=False, runtime=Runtime(sleep=clock.sleep, clock=clock.monotonic))
    assert outcome.exit_code == 2 and "ATOMSCALE_API_KEY" in outcome.message
    assert seeded.stats.by_method == {"GET": 1}
    assert [r.result for r in outcome.results] == ["skipped"]


def test_key_revoked_mid_run_stops_every_worker_at_once(seeded, tmp_path, clock):
    seeded.latency_ms = 10
    seeded.revoke_key_after = 6  # the GET and five writes, then 401
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"],
                [[1, n, "001"] for n in range(4, 64)])
    outcome = _run(seeded, path, clock, concurrency=4)
    assert outcome.exit_code == 2 and "ATOMSCALE_API_KEY" in outcome.message
    sent = seeded.stats.by_method.get("POST", 0)
    assert sent <= 5 + 4  # what was in flight when the key was refused, nothing after
    counts = outcome.counts
    assert counts["created"] == 5 and counts["skipped"] >= 60 - sent
    assert not any(r.result == "failed" and r.status not in (401,) for r in outcome.results)


def test_api_down_stops_in_bounded_time_with_exit_2(seeded, tmp_path, clock):
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"],
                [[1, n, "001"] for n in range(4, 104)])
    seeded.faults.methods = frozenset({"POST"})
    seeded.faults.kinds = ("503",)
    seeded.faults.rate = 1.0
    started = time.perf_counter()
    outcome = _run(seeded, path, clock, concurrency=8)
    assert time.perf_counter() - started < 10
    assert outcome.exit_code == 2 and "API looks down" in outcome.message
    assert outcome.counts["skipped"] >= 80
    assert seeded.stats.by_method["POST"] <= 20 + 8
    assert _keys(seeded) == [(1, 1), (1, 2), (1, 3)]  # 503 stores nothing


def test_unreachable_api_ends_with_exit_2(tmp_path, clock):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id"], [[1, 1]])
    outcome = sync_file(path, api_key="k", api_url=f"http://127.0.0.1:{port}/", report=False,
                        runtime=Runtime(sleep=clock.sleep, clock=clock.monotonic))
    assert outcome.exit_code == 2 and "could not connect" in outcome.message
    assert outcome.requests["GET"] == 6  # --max-attempts, the first included


def test_four_faults_in_a_row_do_not_stop_the_run_twenty_do(seeded, tmp_path, clock):
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"],
                [[1, n, "001"] for n in range(4, 8)])
    seeded.faults.inject("503", count=4, method="POST")
    outcome = _run(seeded, path, clock, concurrency=1)
    assert outcome.exit_code == 0 and outcome.counts["created"] == 4
    path = write_csv(tmp_path / "lab2.csv", ["sample_id", "layer_id", "orientation"],
                [[1, n, "001"] for n in range(8, 20)])
    seeded.faults.inject("503", count=20, method="POST")
    outcome = _run(seeded, path, clock, concurrency=1)
    assert outcome.exit_code == 2 and "20 failed attempts in a row" in outcome.message


def test_other_4xx_fail_their_row_with_the_servers_message_and_are_not_retried(seeded, tmp_path, clock):
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"],
                [[1, 4, "001"], [1, 2, "111"], [1, 5, "001"]])
    seeded.faults.inject("422", method="POST")
    seeded.faults.inject("404", method="PATCH")
    outcome = _run(seeded, path, clock, concurrency=1)
    posts = sorted((r.result, r.status, r.attempts) for r in outcome.results if r.action.kind == "create")
    assert posts == [("created", 200, 1), ("failed", 422, 1)]  # which POST got it: thread order
    failed = next(r for r in outcome.results if r.result == "failed" and r.status == 422)
    assert "Unprocessable Entity" in failed.message
    patch = next(r for r in outcome.results if r.action.kind == "update")
    assert (patch.result, patch.status) == ("failed", 404)
    assert outcome.exit_code == 1 and outcome.retries == 0
    assert outcome.requests == {"GET": 2, "POST": 2, "PATCH": 1}


def test_forbidden_key_stops_the_run_and_names_the_variable(seeded, tmp_path, clock):
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"],
                [[1, n, "001"] for n in range(4, 10)])
    seeded.faults.inject("403", method="POST")
    outcome = _run(seeded, path, clock, concurrency=1)
    assert outcome.exit_code == 2 and "write" in outcome.message and "ATOMSCALE_API_KEY" in outcome.message
    assert seeded.stats.by_method["POST"] == 1
    assert outcome.counts["skipped"] == 5


def test_lock_second_run_against_the_same_server_exits_2(seeded, tmp_path):
    from layer_sync.run.lock import RunLock

    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id"], [[1, 1]])
    assert lock_path(seeded.url).parent != path.parent  # works even when the input's folder is read-only
    with RunLock.acquire(seeded.url):  # another run writes to this server (tests/test_lock.py)
        with pytest.raises(LockedError, match="another layer-sync run"):
            _run(seeded, path, lock_wait=0)
    assert _run(seeded, path, lock_wait=0).exit_code == 0  # released afterwards


def test_input_file_is_only_read(seeded, tmp_path, clock):
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"], [[1, 4, "001"]])
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    _run(seeded, path, clock, report=tmp_path / "r.xlsx")
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    # nothing else beside it (the test's own home folder, where locks live, aside)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "home") == ["lab.csv", "r.xlsx"]


def test_done_when_300_rows_under_20_percent_faults_of_every_kind(sandbox, tmp_path, clock):
    seed, rid = [], 1
    for s in range(1, 11):
        for layer in range(1, 21):
            seed.append(_entry(s, layer, rid, composition_string="BaTiO3", orientation="001"))
            rid += 1
    sandbox.store.seed(seed)
    rows = []
    for s in range(1, 11):
        rows += [[s, n, "BaTiO3", "001"] for n in range(1, 11)]        # 100 unchanged
        rows += [[s, n, "SrTiO3", "111"] for n in range(11, 21)]       # 100 changed
        rows += [[s, n, "LaAlO3", "(0 0 1)"] for n in range(21, 31)]   # 100 new
    path = write_csv(tmp_path / "s300.csv", ["sample_id", "layer_id", "composition_string", "orientation"], rows)
    sandbox.faults.slow_seconds = 0.5
    sandbox.faults.rate = 0.2
    outcome = _run(sandbox, path, clock, timeout=0.25)
    assert outcome.exit_code == 0, [r.message for r in outcome.results if r.result == "failed"]
    assert (outcome.counts["created"], outcome.counts["updated"], outcome.counts["unchanged"]) == (100, 100, 100)
    assert set(sandbox.stats.faults) == {"429", "500", "502", "503", "reset", "commit500",
                                         "commitreset", "slow"}
    keys = _keys(sandbox)
    assert len(keys) == len(set(keys)) == 300
    layers = {(l["sample_id"], l["layer_id"]): l for l in sandbox.store.layers()}
    for s, n, formula, orientation in rows:
        assert layers[(s, n)]["composition_string"] == formula
        assert layers[(s, n)]["orientation"] == ("001" if orientation.startswith("(") else orientation)
    sandbox.faults.clear()
    again = _run(sandbox, path, clock)
    assert again.requests == {"GET": 1} and again.counts["unchanged"] == 300


@pytest.mark.parametrize("kind", ["commit500", "commitreset", "slow"])
def test_create_samples_post_in_doubt_makes_no_duplicate_target_material(seeded, tmp_path, clock, kind):
    seeded.faults.slow_seconds = 0.4
    path = write_csv(tmp_path / "lab.csv", ["sample_name", "substrate", "layer_id", "composition_string"],
                [["Fresh", "Si", 1, "Si"], ["", "", 2, "SiO2"]])
    seeded.faults.inject(kind, method="POST")
    outcome = _run(seeded, path, clock, create_samples=True, timeout=0.2)
    assert outcome.exit_code == 0, [r.message for r in outcome.results]
    assert outcome.counts["created"] == 2 and outcome.requests["POST"] == 1
    fresh = [t for t in seeded.store.target_materials() if t["sample_name"] == "Fresh"]
    assert len(fresh) == 1
    assert sorted(l["layer_id"] for l in seeded.store.layers() if l["sample_id"] == fresh[0]["sample_id"]) == [1, 2]
    assert all("answer was lost" in r.message for r in outcome.results)


def test_interrupted_run_sends_nothing_more(seeded, tmp_path, clock):
    seeded.latency_ms = 20
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"],
                [[1, n, "001"] for n in range(4, 84)])

    def interrupt(phase, done, total, retries):
        if phase == "writing":
            raise KeyboardInterrupt  # Ctrl-C in a script that installed no handler

    outcome = _run(seeded, path, clock, concurrency=4, progress=interrupt)
    assert outcome.exit_code == 130 and outcome.message.startswith("interrupted by Ctrl-C")
    assert outcome.counts["created"] >= 1 and outcome.counts["skipped"] >= 80 - 9
    sent = seeded.stats.by_method.get("POST", 0)
    time.sleep(0.3)  # nothing is still trickling out
    assert seeded.stats.by_method.get("POST", 0) == sent
    assert sent <= 4 + 1 + 4  # the first write, and at most what was on the wire or in a slot


# ---------------------------------------------------------------- the key never leaks

def test_the_key_never_leaks_even_when_the_server_quotes_it(tmp_path, clock, caplog):
    import io
    import zipfile

    from layer_sync.cli import main
    from layer_sync.sandbox import SandboxServer

    key = "quoted-back-" + API_KEY
    rows = [[1, n, "001"] for n in range(2, 8)]
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"], rows)
    with SandboxServer(api_key=key, echo_key=True) as server:
        server.store.seed([_entry(1, 1, 10, composition_string="SrTiO3")])
        server.faults.inject("422", method="POST")
        server.faults.inject("redirect", method="POST")
        server.faults.inject("500", count=6, method="POST")  # retried, then given up
        caplog.set_level(logging.DEBUG)
        outcome = sync_file(path, api_key=key, api_url=server.url, report=tmp_path / "r.xlsx",
                            runtime=Runtime(sleep=clock.sleep, clock=clock.monotonic), concurrency=1)
        assert outcome.counts["failed"] == 3 and outcome.counts["created"] == 3
        # The same through the command line, its terminal output and its log file.
        server.faults.inject("422", method="POST")
        server.faults.inject("redirect", method="POST")
        stdout, stderr = io.StringIO(), io.StringIO()
        path2 = write_csv(tmp_path / "lab2.csv", ["sample_id", "layer_id", "orientation"],
                     [[1, n, "111"] for n in range(2, 8)] + [[1, 99, "001"], [1, 98, "001"]])
        code = main(["sync", str(path2), "--report", str(tmp_path / "r2.xlsx"), "--json", "-v",
                     "--log-file", str(tmp_path / "sync.log"), "--concurrency", "1"],
                    environ={"ATOMSCALE_API_KEY": key, "ATOMSCALE_API_URL": server.url},
                    stdout=stdout, stderr=stderr)
        assert code == 1
        # A refused key that the server quotes back.
        server.api_key = "another"
        refused = sync_file(path, api_key=key, api_url=server.url, report=tmp_path / "r3.xlsx",
                            runtime=Runtime(sleep=clock.sleep, clock=clock.monotonic))
        assert refused.exit_code == 2
    texts = [outcome.to_json(), refused.to_json(), outcome.message or "", refused.message or "",
             caplog.text, stdout.getvalue(), stderr.getvalue(), (tmp_path / "sync.log").read_text()]
    texts += [r.message for o in (outcome, refused) for r in o.results]
    for report in ("r.xlsx", "r2.xlsx", "r3.xlsx"):
        with zipfile.ZipFile(tmp_path / report) as book:
            texts += [book.read(name).decode("utf-8", "replace") for name in book.namelist()]
    leaks = [t for t in texts if key in t]
    assert not leaks, leaks
    assert sum("***" in t for t in texts) >= 3  # the server did quote it, and it was replaced
    assert any("***" in r.message and "422" in r.message for r in outcome.results)


# ---------------------------------------------------------------- where the key came from

@pytest.mark.parametrize("use_file", [False, True])
def test_a_refused_key_names_the_variable_or_file_it_came_from(seeded, tmp_path, clock, use_file):
    from layer_sync.remote.settings import resolve_api_key

    key_file = tmp_path / "atomscale.key"
    key_file.write_text("wrong-key\n")
    key_file.chmod(0o600)
    key = resolve_api_key({"AS_API_KEY": "wrong-key"}, key_file if use_file else None)
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id"], [[1, 4]])
    outcome = _run(seeded, path, clock, api_key=key)
    expected = f"the key file {key_file}" if use_file else "AS_API_KEY"
    assert outcome.exit_code == 2 and expected in outcome.message
    assert "ATOMSCALE_API_KEY" not in outcome.message and "wrong-key" not in outcome.message


@pytest.mark.parametrize("where", ["AS_API_KEY", "file"])
def test_a_key_a_header_cannot_carry_is_refused_before_any_request(tmp_path, where):
    from layer_sync.core.errors import ConfigError
    from layer_sync.remote.settings import resolve_api_key

    key_file = tmp_path / "k"
    key_file.write_text("s3cret€part\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        resolve_api_key({"AS_API_KEY": "s3cret€part"}, key_file if where == "file" else None)
    assert (str(key_file) if where == "file" else "AS_API_KEY") in str(caught.value)
    assert "s3cret" not in str(caught.value)


@pytest.mark.timeout(30)
def test_a_host_name_that_does_not_resolve_ends_the_run_at_once(tmp_path, clock):
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id"], [[1, 1]])
    outcome = sync_file(path, api_key="k", api_url="http://nonexistent.invalid/", report=False,
                        runtime=Runtime(sleep=clock.sleep, clock=clock.monotonic))
    assert outcome.exit_code == 2
    assert "the host name nonexistent.invalid could not be resolved" in outcome.message
    assert outcome.requests == {"GET": 1} and clock.sleeps == []


# ---------------------------------------------------------------- stopping a run

def test_an_interrupted_run_sends_nothing_more_and_still_reports(seeded, tmp_path, clock):
    import signal

    from layer_sync.core.control import RunControl

    seeded.latency_ms = 20
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"],
                [[1, n, "001"] for n in range(4, 84)])
    control = RunControl()
    sent_at_interrupt = []

    def progress(phase, done, total, retries):
        if phase == "writing" and done == 5:
            sent_at_interrupt.append(seeded.stats.by_method.get("POST", 0))
            control.interrupt(signal.SIGTERM)  # what the command line's handler calls

    outcome = _run(seeded, path, clock, concurrency=4, progress=progress, control=control,
                   report=tmp_path / "r.xlsx")
    sent = seeded.stats.by_method.get("POST", 0)
    time.sleep(0.3)
    assert seeded.stats.by_method.get("POST", 0) == sent  # nothing trickles out afterwards
    assert sent <= sent_at_interrupt[0] + 4  # at most what was already on the wire
    assert outcome.exit_code == 143 and outcome.to_dict()["exit_code"] == 143
    assert "SIGTERM" in outcome.message
    assert outcome.counts["created"] == sent and outcome.counts["skipped"] == 80 - sent
    assert (tmp_path / "r.xlsx").is_file() and outcome.report is not None
    again = _run(seeded, path, clock, concurrency=4)  # the rerun completes, no duplicates
    assert again.exit_code == 0 and again.counts["created"] == 80 - sent
    assert len(_keys(seeded)) == len(set(_keys(seeded))) == 83


def test_a_real_signal_handler_can_stop_the_run(seeded, tmp_path, clock):
    import os
    import signal

    from layer_sync.core.control import RunControl

    seeded.latency_ms = 20
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"],
                [[1, n, "001"] for n in range(4, 204)])
    control = RunControl()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: control.interrupt(signum))
    try:
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()
        started = time.perf_counter()
        outcome = _run(seeded, path, clock, concurrency=2, control=control)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert time.perf_counter() - started < 3
    assert outcome.exit_code == 143 and outcome.counts["skipped"] > 100


def test_answers_in_flight_are_awaited_only_for_the_grace_period(seeded, tmp_path, clock):
    import signal

    from layer_sync.core.control import RunControl

    seeded.faults.slow_seconds = 1.5
    seeded.faults.inject("slow", count=4, method="POST")
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"],
                [[1, n, "001"] for n in range(4, 8)])
    control = RunControl(grace_s=0.2)
    threading.Timer(0.3, control.interrupt, (signal.SIGTERM,)).start()
    started = time.perf_counter()
    outcome = _run(seeded, path, clock, concurrency=4, timeout=10, control=control)
    assert time.perf_counter() - started < 1.2
    assert outcome.exit_code == 143 and outcome.counts["failed"] == 4
    assert all("unknown" in r.message for r in outcome.results)
    time.sleep(1.6)  # the server stored them meanwhile: the next run sees it and adds nothing
    again = _run(seeded, path, clock)
    assert again.counts["unchanged"] == 4 and again.requests.get("POST", 0) == 0


def test_the_library_finds_the_key_and_the_api_url_where_the_command_line_does(
        seeded, tmp_path, monkeypatch):
    # A script run with ATOMSCALE_API_URL set talks to that server, never the public API.
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"], [[1, 4, "001"]])
    monkeypatch.setenv("ATOMSCALE_API_URL", seeded.url)
    monkeypatch.setenv("ATOMSCALE_API_KEY", API_KEY)
    outcome = sync_file(path, dry_run=True, report=False)
    assert outcome.api_url == seeded.url and outcome.counts["created"] == 1
    assert seeded.stats.by_method == {"GET": 1}


def test_rows_with_errors_stay_invalid_when_the_server_cannot_be_read(tmp_path, clock):
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"],
                [[1, 1, "001"], [1, 2, 1]])  # row 3: a mangled orientation
    outcome = sync_file(path, api_key=API_KEY, api_url=dead_url("rows-invalid"), report=False,
                        runtime=Runtime(sleep=clock.sleep, clock=clock.monotonic), max_attempts=2)
    assert outcome.exit_code == 2
    assert [r.result for r in outcome.results] == ["skipped", "invalid"]
    assert (outcome.counts["skipped"], outcome.counts["invalid"]) == (1, 1)


def test_a_signal_during_the_report_save_still_ends_the_run_as_stopped(seeded, tmp_path,
                                                                        monkeypatch):
    # SIGTERM while the report is being saved: the report is whole, the exit code is 143.
    import signal

    from layer_sync.core.control import RunControl
    from layer_sync.run import sync as sync_module

    control = RunControl()
    save = sync_module.write_report

    def signalled_during_save(outcome, path, **kw):
        control.interrupt(signal.SIGTERM)  # what the command line's handler does
        return save(outcome, path, **kw)

    monkeypatch.setattr(sync_module, "write_report", signalled_during_save)
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"], [[1, 2, "111"]])
    outcome = _run(seeded, path, dry_run=True, report=tmp_path / "r.xlsx", control=control)
    assert outcome.report == tmp_path / "r.xlsx" and outcome.report.is_file()
    assert int(outcome.exit_code) == 143


def test_the_runs_duration_counts_reading_the_sheet(seeded, tmp_path, clock):
    """duration_s (JSON line, Summary) is the whole run's: the sheet's reading included."""
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "composition_string"],
                     [[1, 1, "SrTiO3"]])

    def progress(stage, done, total, retries):
        if stage == "reading" and done == 0:
            clock.now += 7.0  # reading takes 7 s

    outcome = _run(seeded, path, clock, progress=progress)
    assert outcome.duration_s == 7.0
    assert (outcome.finished - outcome.started).total_seconds() >= 0


def test_the_key_never_reaches_the_report_or_an_export_when_a_record_or_a_cell_holds_it(
        tmp_path, clock):
    """A record on the server that holds the key (in a formula, a name, a remote-only layer),
    and a sheet cell someone pasted it into: the report and the export write `***`."""
    import zipfile

    from layer_sync.sandbox import SandboxServer
    from layer_sync.tools.export import export_stacks

    key = "Secr3t-" + API_KEY
    path = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "composition_string", "Notes"],
                     [[1, 1, "SrTiO3", f"key is {key}"], [1, 2, "BaTiO3", ""]])
    with SandboxServer(api_key=key) as server:
        server.store.seed([
            _entry(1, 1, 10, composition_string=f"SrTiO3 {key}", sample_name=f"S {key}"),
            _entry(1, 3, 11, composition_string="MgO", orientation=key),
            _entry(2, 1, 12, element_dict={key: 1}), _entry(2, 2, 13, element_dict=[key])])
        outcome = sync_file(path, api_key=key, api_url=server.url, report=tmp_path / "r.xlsx",
                            dry_run=True, runtime=Runtime(sleep=clock.sleep, clock=clock.monotonic))
        assert outcome.counts["rows"] == 2
        export_stacks(tmp_path / "ex.csv", api_key=key, api_url=server.url)
        export_stacks(tmp_path / "ex.xlsx", api_key=key, api_url=server.url)
    texts = [(tmp_path / "ex.csv").read_text(encoding="utf-8")]
    for report in ("r.xlsx", "ex.xlsx"):
        with zipfile.ZipFile(tmp_path / report) as book:
            texts += [book.read(name).decode("utf-8", "replace") for name in book.namelist()]
    assert not [t for t in texts if key in t]
    report = "".join(texts[1:-1])
    assert "key is ***" in report and "SrTiO3 ***" in report
