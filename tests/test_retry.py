"""The one retry policy: backoff, caps, Retry-After, the shared hold, the breaker, attempts."""

from __future__ import annotations

import logging
import signal
import threading
import time
from email.utils import formatdate

import pytest

from layer_sync.cli.streams import KeyRedactingFilter
from layer_sync.core.control import RunControl, RunStopped, StopReason
from layer_sync.core.errors import (
    ApiDownError,
    ApiError,
    AuthError,
    ConfigError,
    ExitCode,
    signal_name,
)
from layer_sync.core.secrets import ApiKey, redact
from layer_sync.remote.client import ApiClient
from layer_sync.remote.pacing import Pace
from layer_sync.remote.ratelimit import parse_retry_after
from layer_sync.remote.retry import Breaker, RetryPolicy
from layer_sync.sandbox import SandboxServer

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


def test_an_answer_that_trickles_in_is_bounded_as_a_whole(sandbox, clock):
    # Each read brings a byte, so no read ever times out: only the bound on the whole answer
    # (4 timeouts by default) ends it. A PATCH sets values, so it is simply tried again.
    sid = sandbox.store.create_target_material({"sample_name": "S"})["sample_id"]
    sandbox.store.create_layer({"sample_id": sid, "layer_id": 1, "orientation": "001"})
    client = _client(sandbox, clock, timeout=0.25)  # each read: far more than 50 ms
    assert client.max_answer_seconds == pytest.approx(1.0)
    sandbox.faults.inject("trickle", method="PATCH")
    started = time.perf_counter()
    answer = client.update_layer({"sample_id": sid, "layer_id": 1, "orientation": "111"})
    assert time.perf_counter() - started < 4.0  # the trickled answer alone would take ~8 s
    assert answer.attempts == 2 and answer.data["orientation"] == "111"
    assert client.counters.retries == 1


def test_a_post_whose_answer_trickles_is_found_on_the_server_not_sent_again(sandbox, clock):
    sid = sandbox.store.create_target_material({"sample_name": "S"})["sample_id"]
    client = ApiClient(sandbox.url, API_KEY, RetryPolicy(clock=clock.monotonic, sleep=clock.sleep),
                       max_answer_seconds=0.3)
    sandbox.faults.inject("trickle", method="POST")  # stored, then answered a byte at a time
    answer = client.create_layer(
        {"sample_id": sid, "layer_id": 1},
        in_doubt=lambda: next((l for l in sandbox.store.layers() if l["layer_id"] == 1), None))
    assert answer.recovered and len(sandbox.store.layers()) == 1
    assert sandbox.stats.by_method["POST"] == 1


def test_an_answer_that_always_trickles_fails_with_its_reason(sandbox, clock):
    sid = sandbox.store.create_target_material({"sample_name": "S"})["sample_id"]
    sandbox.store.create_layer({"sample_id": sid, "layer_id": 1})  # an answer of ~200 bytes
    client = ApiClient(sandbox.url, API_KEY, RetryPolicy(clock=clock.monotonic, sleep=clock.sleep,
                                                         timeout=1.0, max_attempts=2),
                       max_answer_seconds=0.3)
    sandbox.faults.inject("trickle", count=2, method="GET")
    with pytest.raises(ApiError, match=r"was still arriving after 0.3 s \(gave up after 2 attempts"):
        client.list_target_materials()


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


def test_the_hold_lasts_until_its_time(clock):
    pace = Pace(clock.monotonic)
    assert pace.reserve() == 0
    pace.hold(5)
    pace.hold(2)  # a shorter hold never shortens a longer one
    assert pace.reserve() == 5
    clock.sleep(5)
    assert pace.reserve() == 0


def test_breaker_trips_after_n_in_a_row_and_a_success_resets(clock):
    breaker = Breaker(3, clock.monotonic, down_after_s=0)
    breaker.failure(), breaker.failure(), breaker.success()
    assert not breaker.failure() and not breaker.failure()
    assert breaker.failure() and breaker.tripped
    breaker.success()
    assert breaker.tripped  # once down, the run stays stopped


def test_breaker_needs_the_failures_to_last_as_well(clock):
    breaker = Breaker(3, clock.monotonic, down_after_s=30)
    assert not any(breaker.failure() for _ in range(50))  # a burst within a moment: a blip
    clock.sleep(29)
    assert not breaker.failure() and breaker.failing_for == 29
    clock.sleep(1)
    assert breaker.failure() and breaker.tripped
    fresh = Breaker(3, clock.monotonic, down_after_s=30)
    fresh.failure(), clock.sleep(40), fresh.success()  # a success starts the time again
    assert not fresh.failure() and not fresh.failure() and not fresh.failure()


def test_breaker_stops_retries_across_requests(sandbox, clock):
    client = _client(sandbox, clock, max_consecutive_failures=3, max_attempts=6, down_after_s=0)
    sandbox.faults.inject("500", count=10)
    with pytest.raises(ApiDownError):
        client.list_target_materials()
    assert sandbox.stats.by_method == {"GET": 3}


@pytest.mark.parametrize("value,expected", [("7", 7.0), ("0", 0.0), ("  3 ", 3.0), (None, None),
                                            ("soon", None), ("-5", None)])
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


# ---------------------------------------------------------------- the plain request path

def test_a_redirect_is_an_error_and_a_post_is_never_turned_into_a_get(sandbox, clock):
    sid = sandbox.store.create_target_material({"sample_name": "S"})["sample_id"]
    client = _client(sandbox, clock)
    sandbox.faults.inject("redirect", method="POST")
    with pytest.raises(ApiError, match=r"redirect \(307\).*set --api-url") as caught:
        client.create_layer({"sample_id": sid, "layer_id": 1}, in_doubt=lambda: None)
    assert caught.value.status == 307
    assert [(m, p) for m, p, _, _ in sandbox.stats.log] == [("POST", "/target-materials/layers/")]
    assert sandbox.store.layers() == [] and clock.sleeps == []


def test_tls_is_verified():
    client = ApiClient("https://api.example.org/", API_KEY)
    assert client.session.verify not in (False, None, "")


@pytest.mark.timeout(30)  # a slow resolver must not hang the suite
def test_a_host_name_that_does_not_resolve_is_not_retried(clock):
    # `.invalid` never resolves (RFC 6761): no network is needed to see it fail.
    client = ApiClient("http://nonexistent.invalid/", API_KEY,
                       RetryPolicy(clock=clock.monotonic, sleep=clock.sleep))
    with pytest.raises(ApiError, match="the host name nonexistent.invalid could not be resolved"):
        client.list_target_materials()
    assert client.counters.requests == {"GET": 1} and clock.sleeps == []


# ---------------------------------------------------------------- run control

def test_run_control_first_reason_wins_and_names_the_signal():
    control = RunControl()
    assert not control.stopped and control.signal is None
    assert control.stop(StopReason.API_DOWN, "down")
    assert not control.stop(StopReason.KEY_REFUSED, "refused")
    control.interrupt(signal.SIGTERM)
    assert (control.reason, control.message, control.interrupted) == (StopReason.API_DOWN, "down",
                                                                      False)
    for signum, code in ((signal.SIGTERM, ExitCode.TERMINATED), (signal.SIGINT, ExitCode.INTERRUPTED),
                         (signal.SIGHUP, 129)):
        control = RunControl()
        control.interrupt(signum)
        assert control.stopped and control.interrupted and control.signal == signum
        assert ExitCode.for_signal(control.signal) == code  # the one way to the exit code
        assert signal_name(signum) in control.message  # "Ctrl-C" for SIGINT


def test_a_wait_between_attempts_ends_when_the_run_is_stopped(sandbox):
    # The real sleep: a 20 s Retry-After, cut short by an interruption 0.2 s later.
    sandbox.faults.retry_after = "20"
    sandbox.faults.inject("429")
    control = RunControl()
    client = ApiClient(sandbox.url, API_KEY, RetryPolicy(), control=control)
    threading.Timer(0.2, control.interrupt, (signal.SIGTERM,)).start()
    started = time.perf_counter()
    with pytest.raises(RunStopped, match="interrupted by SIGTERM"):
        client.list_target_materials()
    assert time.perf_counter() - started < 5
    assert sandbox.stats.by_method == {"GET": 1}


def test_nothing_is_sent_once_the_run_is_stopped(sandbox, clock):
    client = _client(sandbox, clock)
    client.control.cancel()
    with pytest.raises(RunStopped) as caught:
        client.list_target_materials()
    assert caught.value.attempts == 0 and sandbox.stats.total == 0


def test_the_breaker_stops_the_run_as_api_down(sandbox, clock):
    client = _client(sandbox, clock, max_consecutive_failures=2, down_after_s=0)
    sandbox.faults.inject("503", count=5)
    with pytest.raises(ApiDownError, match="2 failed attempts in a row"):
        client.list_target_materials()
    assert client.control.reason is StopReason.API_DOWN


# ---------------------------------------------------------------- the key

@pytest.mark.parametrize("source", ["AS_API_KEY", "the key file /home/lab/atomscale.key"])
def test_a_refused_key_names_where_it_came_from_and_stops_the_run(sandbox, clock, source):
    client = ApiClient(sandbox.url, ApiKey("not-the-key", source),
                       RetryPolicy(clock=clock.monotonic, sleep=clock.sleep))
    with pytest.raises(AuthError) as caught:
        client.list_target_materials()
    assert source in str(caught.value) and "not-the-key" not in str(caught.value)
    assert client.control.reason is StopReason.KEY_REFUSED
    assert client.control.message == str(caught.value)  # one message, said once
    with pytest.raises(AuthError):  # nothing more is sent
        client.update_layer({"sample_id": 1, "layer_id": 1})
    assert sandbox.stats.total == 1


@pytest.mark.parametrize("value", ["abc€def", "abc\ndef", "abc\tdef", "abcédef", "abc\x00def"])
def test_a_key_a_header_cannot_carry_is_a_config_error_naming_its_source(sandbox, value):
    with pytest.raises(ConfigError, match="the API key in AS_API_KEY holds a character") as caught:
        ApiClient(sandbox.url, ApiKey(value, "AS_API_KEY"))
    assert "abc" not in str(caught.value) and sandbox.stats.total == 0


def test_an_api_key_never_shows_in_its_repr():
    key = ApiKey("s3cret-value", "AS_API_KEY")
    assert "s3cret" not in repr(key) + str(key) + f"{key}" and "AS_API_KEY" in repr(key)


def test_every_text_built_from_a_servers_answer_has_the_key_replaced(clock):
    key = "k3y/with+odd=chars&more"
    with SandboxServer(api_key=key, echo_key=True) as server:
        sid = server.store.create_target_material({"sample_name": "S"})["sample_id"]
        client = ApiClient(server.url, key, RetryPolicy(clock=clock.monotonic, sleep=clock.sleep,
                                                        max_attempts=2))
        failures = []
        for fault, body in (("500", {"sample_id": sid, "layer_id": 1}),   # an HTML error page
                            (None, {"sample_id": sid}),                      # 422 detail
                            (None, {"sample_id": 999, "layer_id": 1}),       # 404 detail
                            ("redirect", {"sample_id": sid, "layer_id": 1})):  # Location
            if fault:
                server.faults.inject(fault, count=2)
            with pytest.raises(ApiError) as caught:
                client.update_layer(body)
            failures.append(str(caught.value))
    quoted = ("k3y%2Fwith%2Bodd%3Dchars%26more", "k3y%2Fwith%2Bodd%3Dchars%26more")
    for text in failures:
        assert key not in text and not any(q in text for q in quoted), text
        assert "***" in text, text  # the server did quote it: the client replaced it


def test_the_logging_filter_replaces_the_key_in_messages_arguments_and_tracebacks():
    import io

    key = "s3cret-key-123"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(KeyRedactingFilter(ApiKey(key, "AS_API_KEY")))
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("server said %s", f"bad key {key}")
        logger.warning(f"inline {key}")
        try:
            raise ValueError(f"boom {key}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert key not in text and text.count("***") == 3 and "ValueError" in text
    assert redact(f"x{key}y", key) == "x***y"



def test_a_long_error_page_is_cut_after_the_key_is_replaced_never_inside_it(clock):
    key = "".join(chr(ord("a") + i % 26) for i in range(400))  # runs past the 300-character cut
    with SandboxServer(api_key=key, echo_key=True) as server:
        server.faults.inject("500", count=2)
        client = ApiClient(server.url, key, RetryPolicy(clock=clock.monotonic, sleep=clock.sleep,
                                                        max_attempts=2))
        with pytest.raises(ApiError) as caught:
            client.list_target_materials()
    text = str(caught.value)
    assert "***" in text and key[:26] not in text and key[-26:] not in text


def test_a_number_the_api_cannot_store_fails_its_request_once_with_422(sandbox, clock):
    sid = sandbox.store.create_target_material({"sample_name": "S"})["sample_id"]
    client = _client(sandbox, clock)
    with pytest.raises(ApiError, match="out of range") as caught:
        client.create_layer({"sample_id": sid, "layer_id": 99999999999999999999},
                            in_doubt=lambda: None)
    assert (caught.value.status, caught.value.attempts) == (422, 1)
    assert sandbox.stats.by_status == {422: 1} and clock.sleeps == []


def test_a_short_made_up_key_is_replaced_only_where_it_stands_alone():
    from layer_sync.core.secrets import redact

    assert redact("0 skipped from lab_stacks.xlsx; key k; k=1", "k") == \
        "0 skipped from lab_stacks.xlsx; key ***; ***=1"
    assert redact("abc-secret-key-123 in a word: xabc-secret-key-123y", "abc-secret-key-123") == \
        "*** in a word: x***y"  # a real key is replaced wherever it stands


def test_an_answer_past_the_size_bound_is_refused_not_read_whole(stack):
    # A server gone wrong (or a URL that is not the API) could stream gigabytes.
    from layer_sync.remote.client import ApiClient

    client = ApiClient(stack.url, API_KEY, max_answer_bytes=100)
    with pytest.raises(ApiError, match="larger than 100 bytes; it was not read"):
        client.list_target_materials()
    assert stack.stats.by_method == {"GET": 1}  # refused once, not retried
    roomy = ApiClient(stack.url, API_KEY)
    assert roomy.list_target_materials()[0]["layer_id"] == 1  # the usual answer is read



@pytest.mark.parametrize("key", ["Zq9x+b*(c%2F'x\"y<&>z\\w", "plain-key-1234", "it's-a-key-5678"])
def test_the_key_is_redacted_as_our_messages_quote_it(key):
    for message in (f"value {key!r} is bad", f"value {('pre ' + key)!r}", f"{[key]}", key):
        assert key not in redact(message, key) and "***" in redact(message, key), message


def test_the_key_is_redacted_encoded_twice_or_in_base64():
    """A proxy that percent-encodes a URL it forwards again, a server that echoes base64:
    still the whole key, still replaced."""
    import base64
    from urllib.parse import quote

    key = "S3cr3t+/=Zq9xK-7f3a"
    twice = quote(quote(key, safe=""), safe="")
    for shown in (twice, twice.lower(), base64.b64encode(key.encode()).decode(),
                  base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")):
        text = redact(f"redirected to https://x/?api_key={shown} (detail)", key)
        assert shown not in text and "***" in text, shown
