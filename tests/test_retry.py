"""The one retry policy: backoff, caps, Retry-After, the shared gate, the breaker, attempts."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest

from layer_sync.api import ApiClient, parse_retry_after
from layer_sync.errors import ApiDownError, ApiError
from layer_sync.retry import BackoffGate, Breaker, RetryPolicy

from .conftest import API_KEY


def _client(sandbox, clock, **kw) -> ApiClient:
    policy = RetryPolicy(clock=clock.monotonic, sleep=clock.sleep, **kw)
    return ApiClient(sandbox.url, API_KEY, policy)


def test_backoff_is_exponential_with_jitter_and_capped(sandbox, clock):
    client = _client(sandbox, clock, max_attempts=8, max_backoff=4.0, jitter=0.5)
    sandbox.faults.inject("503", count=7)
    assert client.list_target_materials() == []
    assert client.counters.requests == {"GET": 8} and client.counters.retries == 7
    bases = [0.5, 1, 2, 4, 4, 4, 4]
    assert len(clock.sleeps) == 7
    for base, slept in zip(bases, clock.sleeps):
        assert base <= slept <= base + 0.5


def test_max_attempts_counts_the_first(sandbox, clock):
    client = _client(sandbox, clock, max_attempts=3)
    sandbox.faults.inject("502", count=5)
    with pytest.raises(ApiError, match="gave up after 3 attempts") as caught:
        client.list_target_materials()
    assert caught.value.status == 502
    assert sandbox.stats.by_method == {"GET": 3}


def test_timeout_per_request(sandbox, clock):
    sandbox.faults.slow_seconds = 0.5
    sandbox.faults.inject("slow", count=1)
    client = _client(sandbox, clock, timeout=0.1)
    started = time.perf_counter()
    assert client.list_target_materials() == []
    assert time.perf_counter() - started < 0.5
    assert client.counters.requests == {"GET": 2}


def test_a_post_with_unknown_outcome_is_re_read_before_it_is_sent_again(sandbox, clock):
    sid = sandbox.store.create_target_material({"sample_name": "S"})["sample_id"]
    client = _client(sandbox, clock)
    calls = []

    def in_doubt():
        calls.append(1)
        return next((l for l in sandbox.store.layers() if l["layer_id"] == 1), None)

    sandbox.faults.inject("503", method="POST")      # not stored: re-read finds nothing, resend
    sandbox.faults.inject("commit500", method="POST")  # stored: re-read finds it, no resend
    answer = client.create_layer({"sample_id": sid, "layer_id": 1}, in_doubt=in_doubt)
    assert answer.recovered and answer.attempts == 2
    assert len(calls) == 2 and len(sandbox.store.layers()) == 1
    assert sandbox.stats.by_method["POST"] == 2


def test_a_post_is_never_sent_without_an_in_doubt_check(sandbox, clock):
    with pytest.raises(ValueError):
        _client(sandbox, clock).send("POST", "target-materials/layers/", {})


def test_gate_holds_until_its_time(clock):
    gate = BackoffGate(clock.monotonic)
    assert gate.wait(clock.sleep) == 0
    gate.hold(5)
    gate.hold(2)  # a shorter hold never shortens a longer one
    assert gate.wait(clock.sleep) == 5 and clock.sleeps == [5]
    assert gate.wait(clock.sleep) == 0


def test_breaker_trips_after_n_in_a_row_and_a_success_resets():
    breaker = Breaker(3)
    breaker.failure(), breaker.failure(), breaker.success()
    assert not breaker.failure() and not breaker.failure()
    assert breaker.failure() and breaker.tripped
    breaker.success()
    assert breaker.tripped  # once down, the run stays stopped


def test_breaker_stops_retries_across_requests(sandbox, clock):
    client = _client(sandbox, clock, max_consecutive_failures=3, max_attempts=6)
    sandbox.faults.inject("500", count=10)
    with pytest.raises(ApiDownError):
        client.list_target_materials()
    assert sandbox.stats.by_method == {"GET": 3}


@pytest.mark.parametrize("value,expected", [("7", 7.0), ("0", 0.0), ("  3 ", 3.0), (None, None),
                                            ("soon", None), ("-5", 0.0)])
def test_parse_retry_after_seconds(value, expected):
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date():
    now = 1_800_000_000.0
    assert parse_retry_after(formatdate(now + 42, usegmt=True), now=lambda: now) == pytest.approx(42)
    assert parse_retry_after(formatdate(now - 42, usegmt=True), now=lambda: now) == 0.0


def test_retry_after_beyond_the_limit_fails_the_request(sandbox, clock):
    sandbox.faults.retry_after = "3600"
    sandbox.faults.inject("429")
    client = _client(sandbox, clock, max_retry_after=300)
    with pytest.raises(ApiError, match="wait 3600 s"):
        client.list_target_materials()
    assert clock.sleeps == []


def test_per_request_retrying_stops_after_its_time_budget(sandbox, clock):
    # Each wait "takes" 40 s more on the injected clock: after the third attempt (t = 81 s)
    # the 60 s budget is spent, though three attempts of six are left.
    client = _client(sandbox, clock, max_attempts=6, timeout=30)
    original = clock.sleep

    def slow_sleep(seconds):
        original(seconds + 40)

    client.policy.sleep = slow_sleep
    sandbox.faults.inject("503", count=6)
    with pytest.raises(ApiError):
        client.list_target_materials()
    assert sandbox.stats.by_method["GET"] == 3


def test_504_and_every_retryable_status_is_retried(sandbox, clock):
    client = _client(sandbox, clock)
    for status in ("504", "502", "500", "503", "429"):
        sandbox.faults.inject(status)
    assert client.list_target_materials() == []
    assert client.counters.requests == {"GET": 6} and client.counters.retries == 5


def test_the_first_attempts_own_time_counts_in_the_budget(sandbox, clock):
    # Every attempt, the first included, runs in tenacity's loop: an answer that took 61 s
    # of the 60 s budget leaves no time for a retry.
    client = _client(sandbox, clock, max_attempts=6, timeout=30)
    original = client._once

    def slow_first(*args, **kwargs):
        if client.counters.requests == {}:
            clock.now += 61
        return original(*args, **kwargs)

    client._once = slow_first
    sandbox.faults.inject("503", count=1)
    with pytest.raises(ApiError, match="gave up after 1 attempt"):
        client.list_target_materials()
    assert sandbox.stats.by_method == {"GET": 1} and clock.sleeps == []


def test_a_request_that_succeeds_at_once_never_waits(sandbox, clock):
    client = _client(sandbox, clock)
    assert client.list_target_materials() == []
    assert client.counters.requests == {"GET": 1} and client.counters.retries == 0
    assert clock.sleeps == []
