"""Retry-After in every form a server may send: each gives a bounded wait (0 <= wait, and at
most the run's minute, or the run stops with wait_too_long), never a NaN, an infinity, a
negative wait or a wait read from "1_0", "nan", "-5", "1e400" or another script's digits."""

from __future__ import annotations

import datetime as dt
import email.utils
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from layer_sync.core.runtime import Runtime
from layer_sync.core.secrets import ApiKey
from layer_sync.outcome.rows import Result
from layer_sync.remote.ratelimit import MAX_RETRY_AFTER_S, parse_retry_after
from layer_sync.run.sync import sync_file

from .conftest import API_KEY, write_csv

NOW = 1_800_000_000.0


def _bounded(wait: float | None) -> bool:
    return wait is None or (math.isfinite(wait) and 0.0 <= wait <= MAX_RETRY_AFTER_S)


@given(st.text())
def test_any_text_is_a_bounded_wait_or_none(text):
    assert _bounded(parse_retry_after(text, lambda: NOW))


@given(st.from_regex(r"\s*[-+]?[0-9_.eE]{0,30}(nan|inf|infinity)?\s*(,\s*[0-9]+)?\s*",
                     fullmatch=True))
def test_number_like_text_is_a_bounded_wait_or_none(text):
    assert _bounded(parse_retry_after(text, lambda: NOW))


@given(st.integers(min_value=0, max_value=10**30), st.sampled_from(["", " ", "\t", "  "]))
def test_whole_seconds_are_read_as_written_up_to_the_bound(seconds, space):
    wait = parse_retry_after(f"{space}{seconds}{space}", lambda: NOW)
    assert wait == min(float(seconds), MAX_RETRY_AFTER_S)


@given(st.datetimes(min_value=dt.datetime(1000, 1, 2), max_value=dt.datetime(9999, 12, 30)))
def test_any_http_date_is_a_bounded_wait(when):
    text = email.utils.format_datetime(when.replace(tzinfo=dt.UTC), usegmt=True)
    wait = parse_retry_after(text, lambda: NOW)
    assert wait is not None and _bounded(wait)
    expected = when.replace(tzinfo=dt.UTC).timestamp() - NOW
    assert wait == pytest.approx(min(max(0.0, expected), MAX_RETRY_AFTER_S))


@pytest.mark.parametrize("text", ["nan", "NaN", "-5", "-0", "+5", "1e400", "1e1", "inf", "-inf",
                                  "Infinity", "1_0", "\uff15", "\u0665", "1, 2", "0x10", "5s",
                                  "", "   ", "Thu, 32 Jan 2026 00:00:00 GMT"])
def test_garbled_forms_are_as_if_absent(text):
    assert parse_retry_after(text, lambda: NOW) is None


# ------------------------------------------------------------------ through the sandbox

FORMS = ["nan", "-5", "1e400", "0.000001", "Thu, 01 Jan 1970 00:00:00 GMT",
         "Fri, 31 Dec 9999 23:59:59 GMT", "2", " 3 ", "1, 2", "inf", "-inf", "9" * 400,
         "\uff13", "59.5", "61", "3600"]


@pytest.mark.parametrize("form", FORMS)
def test_every_form_on_refused_writes_gives_bounded_waits_and_an_end(stack, tmp_path, clock,
                                                                     form):
    stack.faults.retry_after = form
    stack.faults.inject("429", count=3, method="POST")
    sheet = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"],
                      [[1, n, "001"] for n in range(2, 6)])
    started = clock.now
    runtime = Runtime(sleep=clock.sleep, clock=clock.monotonic)
    outcome = sync_file(sheet, api_key=ApiKey(API_KEY, "ATOMSCALE_API_KEY"),
                        api_url=stack.url, runtime=runtime, report=False)
    assert all(0.0 <= s <= 60.0 for s in clock.sleeps), clock.sleeps
    assert clock.now - started < 600
    wait = parse_retry_after(form)
    if wait is not None and wait > 60:
        kind, message = outcome.reason
        assert outcome.exit_code == 2 and kind == "wait_too_long", message
        assert "more than a day" in message or "s, longer" in message
    else:  # honoured: stored, or (a wait near the minute uses up a request's budget) failed
        assert outcome.exit_code in (0, 1)
        assert all(r.result is Result.CREATED or "rate limited" in r.message
                   for r in outcome.results)
        keys = [(x["sample_id"], x["layer_id"]) for x in stack.store.layers()]
        assert len(keys) == len(set(keys))
