"""A write counts as done only when it is proven: by an answer that is the layer asked for, or
by the server's records. A server that answers success and stores nothing (a 200 whose body is
an error, `ok: false`, a 201 or 204 with no body, a 202, an id that is text, true, a fraction
or null, sample_id and layer_id as text, another layer's record, the record in a list) never
gets its row called "created" or "updated"; a create so answered stays in doubt, and the next
run stores it once. One that answers oddly but did store the write is confirmed by the records.
"""

from __future__ import annotations

import pytest

from layer_sync.core.runtime import Runtime
from layer_sync.core.secrets import ApiKey
from layer_sync.outcome.rows import Result
from layer_sync.run.sync import sync_file
from layer_sync.sandbox.faults import HOLLOW_KINDS

from .conftest import API_KEY, write_csv


def _sync(server, path, clock, **kw):
    runtime = Runtime(sleep=clock.sleep, clock=clock.monotonic,
                      environ={"LAYER_SYNC_SETTLE_SECONDS": "0"})
    return sync_file(path, api_key=ApiKey(API_KEY, "ATOMSCALE_API_KEY"), api_url=server.url,
                     runtime=runtime, report=False, **kw)


def _keys(server):
    return sorted((layer["sample_id"], layer["layer_id"]) for layer in server.store.layers()
                  if layer.get("layer_id") is not None)


@pytest.mark.parametrize("kind", HOLLOW_KINDS)
def test_a_create_answered_without_proof_is_never_counted_created(stack, tmp_path, clock, kind):
    sheet = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "composition_string"],
                      [[1, 1, "SrTiO3"], [1, 2, "BaTiO3"]])
    stack.faults.inject(kind, method="POST")
    outcome = _sync(stack, sheet, clock)
    row = outcome.results[1]
    assert row.result is Result.FAILED and outcome.exit_code == 1, row
    assert "not counted as created" in row.message and "unknown" in row.message, row.message
    assert _keys(stack) == [(1, 1)]
    # The next run stores it, once.
    again = _sync(stack, sheet, clock)
    assert again.exit_code == 0 and again.results[1].result is Result.CREATED
    assert _keys(stack) == [(1, 1), (1, 2)]


@pytest.mark.parametrize("kind", HOLLOW_KINDS)
def test_an_update_answered_without_proof_is_never_counted_updated(stack, tmp_path, clock, kind):
    sheet = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"],
                      [[1, 1, "111"]])
    stack.faults.inject(kind, method="PATCH")
    outcome = _sync(stack, sheet, clock)
    row = outcome.results[0]
    assert row.result is Result.FAILED and outcome.exit_code == 1, row
    assert "not counted as updated" in row.message, row.message
    assert stack.store.layers()[0]["orientation"] == "001"


def test_a_write_stored_but_answered_without_a_body_is_confirmed_by_the_records(
        stack, tmp_path, clock):
    sheet = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id", "orientation"],
                      [[1, 1, "111"], [1, 2, "001"]])
    stack.faults.inject("commit204", method="PATCH")
    stack.faults.inject("commit204", method="POST")
    outcome = _sync(stack, sheet, clock)
    assert [r.result for r in outcome.results] == [Result.UPDATED, Result.CREATED]
    assert outcome.exit_code == 0 and _keys(stack) == [(1, 1), (1, 2)]
    assert outcome.results[1].record_id is not None


@pytest.mark.parametrize("kind", ["hollow-error", "hollow-empty", "hollow-idbool",
                                  "hollow-keytext"])
def test_a_new_target_material_answered_without_proof_is_not_created_twice(
        sandbox, tmp_path, clock, kind):
    sheet = write_csv(tmp_path / "lab.csv", ["sample_name", "substrate", "layer_id",
                                             "composition_string"], [["New", "Si", 1, "SrTiO3"]])
    sandbox.faults.inject(kind, method="POST")
    outcome = _sync(sandbox, sheet, clock, create_samples=True)
    assert outcome.results[0].result is Result.FAILED and outcome.exit_code == 1
    assert "not counted as created" in outcome.results[0].message
    again = _sync(sandbox, sheet, clock, create_samples=True)
    assert again.exit_code == 0 and again.results[0].result is Result.CREATED
    assert len(sandbox.store.layers()) == 1
