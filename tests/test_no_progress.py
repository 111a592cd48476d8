"""A run whose writes make no progress ends: when no write has been answered but with a
refusal (429, 503) or a failure for five minutes, it stops (api_down, exit 2, the rows left
skipped), whatever its size; per-request budgets no longer add up row after row (40 rows
against a server answering 429 to every write ran for more than ten minutes). The clock is
injected: nothing here really waits."""

from __future__ import annotations

import pytest

from layer_sync.core.runtime import Runtime
from layer_sync.core.secrets import ApiKey
from layer_sync.outcome.rows import Result
from layer_sync.remote.retry import NO_PROGRESS_S
from layer_sync.run.sync import sync_file

from .conftest import API_KEY, write_csv


def _run(server, tmp_path, clock, rows, **kw):
    sheet = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"],
                      [[1, n, "001"] for n in range(2, rows + 2)])
    runtime = Runtime(sleep=clock.sleep, clock=clock.monotonic)
    return sync_file(sheet, api_key=ApiKey(API_KEY, "ATOMSCALE_API_KEY"), api_url=server.url,
                     runtime=runtime, report=False, **kw)


@pytest.mark.parametrize("rows", [4, 40, 120])
@pytest.mark.parametrize("refusal,retry_after", [("429", "1"), ("429", "0"), ("429", "30"),
                                                 ("503", "1")])
def test_writes_refused_forever_end_the_run_in_bounded_time(stack, tmp_path, clock, rows,
                                                            refusal, retry_after):
    stack.faults.retry_after = retry_after
    stack.faults.inject(refusal, count=100_000, method="POST")
    started = clock.now
    outcome = _run(stack, tmp_path, clock, rows)
    elapsed = clock.now - started
    assert outcome.exit_code in (1, 2)
    # Bounded by the run's bound (and a request's last wait), not by the rows' budgets.
    assert elapsed <= NO_PROGRESS_S + 2 * 60, elapsed
    assert all(r.result in (Result.FAILED, Result.SKIPPED) for r in outcome.results)
    assert stack.store.layers()[0]["layer_id"] == 1 and len(stack.store.layers()) == 1
    if elapsed >= NO_PROGRESS_S:
        kind, message = outcome.reason
        assert outcome.exit_code == 2 and kind == "api_down", message
        assert "takes no writes" in message


def test_a_rate_limit_that_lifts_within_the_bound_is_ridden(stack, tmp_path, clock):
    stack.faults.retry_after = "1"
    stack.faults.inject("429", count=60, method="POST")
    outcome = _run(stack, tmp_path, clock, 10)
    assert outcome.exit_code == 0, outcome.reason
    assert all(r.result is Result.CREATED for r in outcome.results)


def test_a_server_that_serves_now_and_then_is_not_stalled(stack, tmp_path, clock):
    """Refusals between writes served are progress: the bound counts only time with none."""
    stack.faults.retry_after = "20"
    for _ in range(12):
        stack.faults.inject("429", count=3, method="POST")
        stack.faults.inject("commit204", method="POST")  # stored: one write served
    outcome = _run(stack, tmp_path, clock, 14, concurrency=1)
    kind, message = outcome.reason
    assert kind != "api_down", message
