"""Riding the server's capacity: the concurrency limit, the pace, the rate-limit headers, and
the run as a whole against sandboxes that play servers of a known capacity and rate.

The controller's decisions are tested on an injected clock (nothing waits); the runs against
the sandbox use the real request path, with real waits only where the server's own rate
limit runs on real time (a second or two at most).
"""

from __future__ import annotations

import json
import re
import time
from email.utils import formatdate

import pytest
from requests.structures import CaseInsensitiveDict

from layer_sync.cli import main
from layer_sync.core.control import StopReason
from layer_sync.core.errors import ApiError
from layer_sync.core.runtime import Runtime
from layer_sync.core.secrets import ApiKey
from layer_sync.remote.client import ApiClient
from layer_sync.remote.limits import (
    INITIAL_LIMIT,
    PROBE_WINDOWS,
    AdaptiveLimit,
    FixedLimit,
)
from layer_sync.remote.pacing import MARGIN, PROBE_AFTER_S, Pace
from layer_sync.remote.ratelimit import RateInfo, parse_rate_headers
from layer_sync.remote.retry import RetryPolicy
from layer_sync.run.sync import sync_file
from layer_sync.sandbox import SandboxServer

from .conftest import API_KEY, write_csv

# ---------------------------------------------------------------- the concurrency limit


def _windows(limit: AdaptiveLimit, latency_of, count: int) -> list[int]:
    """Feed `count` windows of answers whose latency is `latency_of(limit)`, every slot used."""
    seen = []
    for _ in range(count):
        current = limit.limit
        for _ in range(max(4, current)):
            limit.sample(latency_of(current), current)
        seen.append(limit.limit)
    return seen


def test_the_limit_starts_modestly_and_doubles_while_answers_stay_as_fast():
    limit = AdaptiveLimit(ceiling=32)
    assert limit.limit == INITIAL_LIMIT == 4
    assert _windows(limit, lambda n: 0.2, 5) == [8, 16, 32, 32, 32]  # and never past the ceiling


def test_the_ceiling_bounds_the_limit():
    limit = AdaptiveLimit(ceiling=12)
    assert max(_windows(limit, lambda n: 0.05, 10)) == 12


def test_rising_latency_a_queue_forming_shrinks_the_limit_to_what_the_server_serves():
    # A server that serves 6 at once and queues the rest: past 6, every answer waits longer.
    serves = 6

    def latency(in_flight: int) -> float:
        return 0.1 * max(1.0, in_flight / serves)

    limit = AdaptiveLimit(ceiling=64)
    seen = _windows(limit, latency, 40)
    assert max(seen) > serves  # it looked for more...
    assert all(serves <= n <= serves + 6 for n in seen[-20:]), seen  # ...and settled just past it
    # The server slows down (a queue forms at a lower load): the limit follows it down.
    serves = 2
    seen = _windows(limit, latency, 20)
    assert all(2 <= n <= 2 + 5 for n in seen[-10:]), seen


def test_a_refusal_cuts_the_limit_once_per_congestion():
    limit = AdaptiveLimit(ceiling=32, initial=16)
    limit.refused(epoch=0)
    assert limit.limit == 12 and limit.epoch == 1
    limit.refused(epoch=0)  # sent before the cut: the same congestion, answered already
    assert limit.limit == 12
    limit.refused(epoch=1)
    assert limit.limit == 9
    for _ in range(20):
        limit.refused(epoch=limit.epoch, taken=1)  # two in flight were too many
    assert limit.limit == 1  # never below one
    _windows(limit, lambda n: 0.1, PROBE_WINDOWS - 1)
    assert limit.limit == 1  # two are not tried again for a while...
    _windows(limit, lambda n: 0.1, 3)
    assert limit.limit == 4  # ...then one more at a time (slow start is over)


def test_a_limit_not_used_does_not_grow():
    limit = AdaptiveLimit(ceiling=32, initial=16)
    for _ in range(64):
        limit.sample(0.1, 3)  # three in flight at most: nothing learnt about sixteen
    assert limit.limit == 16


def test_a_fixed_limit_never_moves():
    limit = FixedLimit(5)
    for _ in range(50):
        limit.sample(10.0, 5)
        limit.refused(limit.epoch)
    assert limit.limit == 5 and not limit.adaptive


# ---------------------------------------------------------------- the headers


NOW = 1_800_000_000.0


@pytest.mark.parametrize("headers,expected", [
    # the IETF draft's current form (08 and later)
    ({"RateLimit-Policy": '"default";q=40;w=1', "RateLimit": '"default";r=12;t=1'},
     RateInfo(40, 1, 12, 1)),
    # several policies: the per-second one is kept, the day's counter speaks when it is lower
    ({"RateLimit-Policy": '"burst";q=100;w=10, "day";q=1000;w=86400',
      "RateLimit": '"burst";r=50;t=5, "day";r=0;t=3600'}, RateInfo(100, 10, 0, 3600)),
    # draft-07
    ({"RateLimit-Policy": "40;w=1", "RateLimit": "limit=40, remaining=12, reset=1"},
     RateInfo(40, 1, 12, 1)),
    # the earlier drafts' separate fields, with and without the policy in the Limit field
    ({"RateLimit-Limit": "40", "RateLimit-Remaining": "12", "RateLimit-Reset": "1"},
     RateInfo(40, None, 12, 1)),
    ({"RateLimit-Limit": "40, 40;w=1", "RateLimit-Remaining": "12", "RateLimit-Reset": "1"},
     RateInfo(40, 1, 12, 1)),
    # X-RateLimit-*, the reset in seconds or as a Unix time (GitHub)
    ({"X-RateLimit-Limit": "40", "X-RateLimit-Remaining": "12", "X-RateLimit-Reset": "1"},
     RateInfo(40, None, 12, 1)),
    ({"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0",
      "X-RateLimit-Reset": str(int(NOW) + 120)}, RateInfo(5000, None, 0, 120)),
    # nothing, or nothing readable: as if absent
    ({}, RateInfo()),
    ({"RateLimit": "soon", "X-RateLimit-Limit": "lots", "RateLimit-Policy": ";;,"}, RateInfo()),
])
def test_every_form_of_rate_limit_headers_is_read(headers, expected):
    assert parse_rate_headers(CaseInsensitiveDict(headers), lambda: NOW) == expected


# ---------------------------------------------------------------- the pace


def _departures(pace: Pace, clock, count: int) -> list[float]:
    """When `count` requests asked for one at once would leave (the clock's time)."""
    return [round(clock.now + pace.reserve() - 1000.0, 4) for _ in range(count)]


def test_a_stated_rate_is_followed_as_an_even_pace_not_a_burst(clock):
    pace = Pace(clock.monotonic)
    pace.state(RateInfo(quota=40, window=1, remaining=39, reset=1))
    assert pace.rate == pytest.approx(40 * MARGIN) and pace.stated
    gap = 1 / pace.rate
    leaving = _departures(pace, clock, 42)
    assert leaving[:2] == [0.0] * 2  # two at once after a pause (what the margin leaves)...
    assert leaving[2:6] == pytest.approx([gap, 2 * gap, 3 * gap, 4 * gap], abs=1e-3)
    assert sum(1 for t in leaving if t < 1.0) <= 40  # ...and never more than a window's quota


def _send(pace: Pace, clock, seconds: float, every: float) -> None:
    """Requests leaving for `seconds`, one every `every` (or as the pace lets them)."""
    end = clock.now + seconds
    while clock.now < end:
        clock.sleep(pace.reserve() or every)


def test_retry_after_holds_every_request_then_they_leave_at_the_pace(clock):
    pace = Pace(clock.monotonic)
    _send(pace, clock, 0.5, 0.02)  # fifty a second, no pace yet
    refused_at = clock.now - 1000.0
    assert pace.throttled(retry_after=2, sent_at=clock.now, reserved_at=clock.now)  # all held
    assert pace.rate == pytest.approx(0.9 * 50, rel=0.05) and not pace.stated
    leaving = _departures(pace, clock, 10)
    assert leaving[:2] == [pytest.approx(refused_at + 2)] * 2
    # Nobody before the Retry-After, then two at once, then one by one at the pace.
    assert leaving[-1] == pytest.approx(leaving[0] + 8 / pace.rate, abs=1e-3)


def test_once_paced_a_429_slows_everyone_by_a_tenth_instead_of_holding_them(clock):
    pace = Pace(clock.monotonic)
    _send(pace, clock, 0.5, 0.02)
    pace.throttled(retry_after=1, sent_at=clock.now, reserved_at=clock.now)
    clock.sleep(1)
    _send(pace, clock, 2.0, 0.0)  # as fast as the pace lets them
    before = pace.rate
    assert before is not None
    reserved = clock.now - 0.01
    assert not pace.throttled(retry_after=1, sent_at=clock.now, reserved_at=reserved)
    assert pace.rate == pytest.approx(0.9 * before, rel=0.05)  # cut by a tenth...
    assert pace.reserve() < 0.1  # ...and nobody held for the Retry-After
    cut = pace.rate
    pace.throttled(retry_after=1, sent_at=clock.now, reserved_at=reserved)  # left before the
    assert pace.rate == cut  # cut, at the old rate: the same congestion, not cut again
    clock.sleep(PROBE_AFTER_S)
    pace.admitted(clock.now)
    assert pace.rate == pytest.approx(cut / MARGIN)  # it grows back, then probes past it
    clock.sleep(PROBE_AFTER_S)
    pace.admitted(clock.now)
    assert pace.rate > cut / MARGIN


def test_a_used_up_quota_holds_until_its_reset_a_paced_rate_does_not(clock):
    pace = Pace(clock.monotonic)
    pace.state(RateInfo(quota=5000, window=3600, remaining=0, reset=300))  # an hour's quota
    assert pace.reserve() == 300
    pace = Pace(clock.monotonic)
    pace.state(RateInfo(remaining=0, reset=3))  # no quota stated: nothing but the counter
    assert pace.reserve() == 3
    pace = Pace(clock.monotonic)
    pace.state(RateInfo(quota=40, window=1, remaining=0, reset=1))  # a rate: the pace says
    assert pace.reserve() == 0 and pace.reserve() == 0 and pace.reserve() == pytest.approx(1 / 38)


def test_a_quota_for_a_long_window_is_spent_as_needed_not_spread(clock):
    pace = Pace(clock.monotonic)
    pace.state(RateInfo(quota=5000, window=3600, remaining=4999, reset=3500))
    assert pace.rate is None and _departures(pace, clock, 10) == [0.0] * 10


def test_an_unstated_window_is_the_longest_reset_seen_in_whole_seconds(clock):
    pace = Pace(clock.monotonic)
    pace.state(RateInfo(quota=40))  # no window, no reset: nothing to pace by
    assert pace.rate is None
    pace.state(RateInfo(quota=40, remaining=30, reset=1.7))  # a Unix-time reset, up to 1 s late
    assert pace.rate == pytest.approx(40 * MARGIN)
    pace.state(RateInfo(quota=60, remaining=59, reset=59.6))  # a minute's window
    assert pace.rate == pytest.approx(60 * MARGIN / 59)


# ---------------------------------------------------------------- the retry budget


def test_waiting_for_the_pace_is_not_spent_from_the_retry_budget(sandbox, clock):
    client = ApiClient(sandbox.url, API_KEY, RetryPolicy(clock=clock.monotonic, sleep=clock.sleep))
    client.throttle.pace.hold(70)  # the server's window used up: 70 s before anything leaves
    sandbox.faults.inject("503")
    assert client.list_target_materials() == []  # retried: 70 s waited, none of it retrying
    assert sandbox.stats.by_method == {"GET": 2} and clock.sleeps[0] == 70


def _sheet(tmp_path, rows: int, start: int = 1):
    return write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "composition_string"],
                     [[1, n, "SrTiO3"] for n in range(start, start + rows)])


def _seed(server: SandboxServer) -> None:
    server.store.seed([{"id": None, "sample_id": 1, "sample_name": "S", "substrate": "Si",
                        "layer_id": None}])


def _sync(server, path, **kw):
    kw.setdefault("report", False)
    runtime = Runtime(**{k: kw.pop(k) for k in ("sleep", "clock") if k in kw})
    return sync_file(path, api_key=ApiKey(API_KEY, "ATOMSCALE_API_KEY"), api_url=server.url,
                     runtime=runtime, **kw)


def _no_duplicates(server: SandboxServer, expected: int) -> None:
    keys = [(l["sample_id"], l["layer_id"]) for l in server.store.layers()]
    assert len(keys) == len(set(keys)) == expected


def test_refusals_while_the_server_serves_others_spend_no_attempt(tmp_path, clock):
    # Two at a time, no queue: the first writes in flight are refused. With one attempt
    # each, a refusal that spent it would fail its row; the pace answers them instead.
    with SandboxServer(api_key=API_KEY, capacity=2, queue=0, latency_ms=5) as server:
        _seed(server)
        outcome = _sync(server, _sheet(tmp_path, 24), max_attempts=1, max_concurrency=8,
                        sleep=clock.sleep, clock=clock.monotonic)
        assert outcome.exit_code == 0, [r.message for r in outcome.results]
        assert server.stats.by_status.get(503, 0) >= 1 and outcome.riding is not None
        assert outcome.riding.slow_downs == server.stats.by_status[503]
        assert outcome.riding.limit <= 2  # the refusals cut the limit to what the server takes
        _no_duplicates(server, 24)


def test_a_server_that_refuses_everything_still_stops_the_run(tmp_path, clock):
    with SandboxServer(api_key=API_KEY, capacity=1, queue=0) as server:
        _seed(server)
        server.stats.reset()
        assert server.capacity is not None and server.capacity.enter()  # its one place taken
        try:
            outcome = _sync(server, _sheet(tmp_path, 40), max_consecutive_failures=5,
                            sleep=clock.sleep, clock=clock.monotonic)
        finally:
            server.capacity.leave()
        assert server.store.layers() == []
    # The records' GET is refused too: it gives up after its attempts (or the breaker trips).
    assert outcome.exit_code == 2 and outcome.reason_kind in ("api_down", "api_error")
    assert server.stats.by_status.get(503, 0) <= 6 + 4  # its attempts, and those in flight


def test_a_refused_key_still_stops_every_worker_at_once(tmp_path, clock):
    with SandboxServer(api_key=API_KEY, capacity=2) as server:
        _seed(server)
        server.revoke_key_after = 4  # the GET and three writes
        outcome = _sync(server, _sheet(tmp_path, 60), sleep=clock.sleep, clock=clock.monotonic)
        assert outcome.exit_code == 2 and outcome.fatal
        assert server.store.layers().__len__() == 3
        assert server.stats.by_method.get("POST", 0) <= 3 + 4 + 1  # nothing after the 401s
        assert outcome.counts["skipped"] >= 60 - 8


# ---------------------------------------------------------------- against servers of a capacity


def test_adaptive_concurrency_grows_past_eight_on_a_roomy_server(tmp_path):
    with SandboxServer(api_key=API_KEY, latency_ms=40) as server:
        _seed(server)
        outcome = _sync(server, _sheet(tmp_path, 120))
        assert outcome.exit_code == 0
        assert outcome.riding is not None and outcome.riding.adaptive
        assert 8 < server.stats.max_in_flight <= 32  # more than a fixed 8, never past 32
        assert outcome.riding.most_in_flight > 8
        _no_duplicates(server, 120)


def test_the_ceiling_is_max_concurrency(tmp_path):
    with SandboxServer(api_key=API_KEY, latency_ms=40) as server:
        _seed(server)
        outcome = _sync(server, _sheet(tmp_path, 60), max_concurrency=6)
        assert outcome.exit_code == 0 and server.stats.max_in_flight <= 6
        assert outcome.riding is not None and outcome.riding.most_in_flight == 6


def test_concurrency_n_fixes_the_writes_in_flight_at_n(tmp_path):
    with SandboxServer(api_key=API_KEY, latency_ms=40) as server:
        _seed(server)
        outcome = _sync(server, _sheet(tmp_path, 40), concurrency=3)
        assert outcome.exit_code == 0 and server.stats.max_in_flight == 3
        riding = outcome.riding
        assert riding is not None and not riding.adaptive and riding.limit == 3
    with SandboxServer(api_key=API_KEY, capacity=1, queue=0, latency_ms=20) as server:
        _seed(server)  # a weak server: still 3 at once, however often it refuses
        outcome = _sync(server, _sheet(tmp_path, 12), concurrency=3)
        assert outcome.exit_code == 0 and outcome.riding is not None
        assert outcome.riding.limit == 3 and server.stats.by_status.get(503, 0) > 0
        _no_duplicates(server, 12)


def test_a_weak_server_is_ridden_without_duplicates_and_few_refusals(tmp_path):
    with SandboxServer(api_key=API_KEY, capacity=2, queue=2, latency_ms=30) as server:
        _seed(server)
        server.stats.reset()
        outcome = _sync(server, _sheet(tmp_path, 60))
        assert outcome.exit_code == 0, [r.message for r in outcome.results]
        refused = server.stats.by_status.get(503, 0)
        assert refused <= 8, server.stats.by_status  # it learnt the server's size at once
        assert outcome.riding is not None and 1 <= outcome.riding.limit <= 5
        _no_duplicates(server, 60)


# ---------------------------------------------------------------- against servers of a rate


@pytest.mark.parametrize("form", ["draft", "draft-06", "x"])
def test_a_stated_rate_is_kept_from_the_first_answer_with_no_refusal(tmp_path, form):
    with SandboxServer(api_key=API_KEY, rate=40, rate_headers=form) as server:
        _seed(server)
        started = time.perf_counter()
        outcome = _sync(server, _sheet(tmp_path, 40))
        assert outcome.exit_code == 0 and server.stats.by_status.get(429, 0) == 0
        assert time.perf_counter() - started >= 41 / 40 / MARGIN - 0.35  # paced, not at once
        assert outcome.riding is not None and outcome.riding.pace_stated
        assert outcome.riding.pace_per_s == pytest.approx(40 * MARGIN)


def test_a_rate_found_only_by_429s_is_followed_as_a_pace(tmp_path):
    # The pace's decisions are tested on a clock above; here, the real path against a
    # token bucket that says nothing but 429: a few refusals while the run finds the rate
    # (a machine busy enough to delay the client's threads makes it a few more), then a
    # pace near it.
    with SandboxServer(api_key=API_KEY, rate=30, latency_ms=20) as server:
        _seed(server)
        outcome = _sync(server, _sheet(tmp_path, 90))
        assert outcome.exit_code == 0
        assert outcome.riding is not None and not outcome.riding.pace_stated
        assert 12 <= (outcome.riding.pace_per_s or 0) <= 40  # the server's rate, give or take
        refused = server.stats.by_status.get(429, 0)
        assert 1 <= refused <= 30, server.stats.by_status  # not one request in two
        assert outcome.riding.slow_downs == refused
        _no_duplicates(server, 90)


def test_retry_after_as_a_date_is_honoured(sandbox, clock):
    client = ApiClient(sandbox.url, API_KEY, RetryPolicy(clock=clock.monotonic, sleep=clock.sleep))
    sandbox.faults.retry_after = formatdate(time.time() + 30, usegmt=True)
    sandbox.faults.inject("429", count=2)
    assert client.list_target_materials() == []
    assert sum(s for s in clock.sleeps if s > 1) == pytest.approx(58, abs=3)  # twice ~29 s


def test_a_servers_wait_past_the_limit_stops_the_run(clock):
    with SandboxServer(api_key=API_KEY) as server:
        server.faults.retry_after = "600"
        server.faults.inject("429")
        client = ApiClient(server.url, API_KEY, RetryPolicy(clock=clock.monotonic,
                                                            sleep=clock.sleep))
        with pytest.raises(ApiError, match="wait 600 s") as caught:
            client.list_target_materials()
        assert caught.value.kind == "wait_too_long"
        assert client.control.reason is StopReason.WAIT_TOO_LONG
        assert clock.sleeps == []  # it did not sleep a moment of it


# ---------------------------------------------------------------- what the run says


def test_the_summary_the_json_line_and_the_report_say_how_the_run_rode_the_server(tmp_path):
    import openpyxl

    with SandboxServer(api_key=API_KEY, rate=200, rate_headers="draft", latency_ms=5) as server:
        _seed(server)
        import io

        out, err = io.StringIO(), io.StringIO()
        code = main(["sync", str(_sheet(tmp_path, 6)), "--api-url", server.url, "--json",
                     "--report", str(tmp_path / "r.xlsx")],
                    environ={"ATOMSCALE_API_KEY": API_KEY}, stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    pacing = json.loads(out.getvalue())["pacing"]
    assert pacing["adaptive"] is True and pacing["slow_downs"] == 0
    assert 1 <= pacing["most_in_flight"] <= 6 and pacing["pace_per_s"] == 190.0
    line = next(l for l in err.getvalue().splitlines() if l.startswith("  server: "))
    assert re.search(r"server: took (1 write at a time|up to \d writes at once); never asked "
                     r"us to slow down; we then kept to 190\.0 requests a second, the pace it "
                     r"stated$", line), line
    summary = {row[0].value: row[1].value for row in openpyxl.load_workbook(tmp_path / "r.xlsx")["Summary"].iter_rows()}
    assert summary["Server"] == line.removeprefix("  server: ")


def test_a_dry_run_says_nothing_about_riding(tmp_path):
    with SandboxServer(api_key=API_KEY) as server:
        _seed(server)
        outcome = _sync(server, _sheet(tmp_path, 3), dry_run=True)
    assert outcome.riding is None
    assert outcome.to_dict()["pacing"] == {"most_in_flight": 0, "limit": 0, "adaptive": False,
                                           "slow_downs": 0, "pace_per_s": None}


def test_stop_reasons_are_unchanged_by_pacing(sandbox, clock):
    client = ApiClient(sandbox.url, ApiKey("wrong", "AS_API_KEY"),
                       RetryPolicy(clock=clock.monotonic, sleep=clock.sleep))
    with pytest.raises(ApiError):
        client.list_target_materials()
    assert client.control.reason is StopReason.KEY_REFUSED


# ---------------------------------------------------------------- stopping an adaptive run


def test_sigterm_stops_an_adaptive_run_within_the_grace_period_and_a_rerun_adds_no_duplicate(
        tmp_path):
    import signal
    import subprocess
    import sys

    with SandboxServer(api_key=API_KEY, latency_ms=30) as server:
        _seed(server)
        sheet = _sheet(tmp_path, 400)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home"),
               "ATOMSCALE_API_KEY": API_KEY, "ATOMSCALE_API_URL": server.url}
        proc = subprocess.Popen([sys.executable, "-m", "layer_sync", "sync", str(sheet), "--json",
                                 "--report", str(tmp_path / "r.xlsx")], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while server.stats.by_method.get("POST", 0) < 40:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        out, err = proc.communicate(timeout=30)
        assert time.monotonic() - stopped < 5  # the grace period, at most
        assert proc.returncode == 143 and "Traceback" not in err
        payload = json.loads(out)
        assert payload["skipped"] > 0 and payload["created"] + payload["skipped"] <= 400
        sent = server.stats.by_method["POST"]
        time.sleep(0.2)
        assert server.stats.by_method["POST"] == sent  # nothing more was sent
        again = _sync(server, sheet)
        assert again.exit_code == 0
        _no_duplicates(server, 400)
