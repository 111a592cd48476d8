"""Across machines no lock reaches: every run reads back what it created, and a layer the
server now holds twice makes the night exit 1 with the record ids on its row."""

from __future__ import annotations

import threading

from layer_sync import Runtime, sync_file
from layer_sync.outcome.rows import Result

from .conftest import API_KEY, write_csv


def test_two_machines_at_once_each_report_the_layers_now_stored_twice(sandbox, tmp_path):
    sandbox.store.seed([{"id": 1, "sample_id": 1, "sample_name": "S", "substrate": "SrTiO3",
                         "layer_id": 1, "composition_string": "SrTiO3"}])
    sandbox.latency_ms = 300  # both read the list before either writes
    outcomes = {}

    def machine(name: str) -> None:
        sheet = write_csv(tmp_path / f"{name}.csv", ["sample_id", "layer_id", "composition_string"],
                          [[1, 2, "BaTiO3"], [1, 3, "SrRuO3"]])
        outcomes[name] = sync_file(sheet, api_key=API_KEY, api_url=sandbox.url, report=False,
                                   runtime=Runtime(state_dir=tmp_path / f"{name}-locks"))

    threads = [threading.Thread(target=machine, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    stored = [(layer["sample_id"], layer["layer_id"]) for layer in sandbox.store.layers()]
    assert stored.count((1, 2)) == 2  # what no lock can prevent across machines...
    for outcome in outcomes.values():  # ...never passes as a good night
        assert outcome.exit_code == 1 and outcome.duplicates == 2
        line = outcome.to_dict()
        assert line["reason"]["kind"] == "duplicates_found" and line["duplicates"] == 2
        twice = [i for i in outcome.issues if "twice" in i.message or "2 times" in i.message]
        assert len(twice) == 2 and all(i.row in (2, 3) for i in twice)
        assert all("record ids" in i.message for i in twice)


def test_a_clean_night_reads_back_once_and_finds_nothing(sandbox, tmp_path):
    sheet = write_csv(tmp_path / "lab.csv", ["sample_id", "layer_id"], [[1, 1]])
    sandbox.store.seed([{"id": 1, "sample_id": 1, "sample_name": "S", "layer_id": None}])
    outcome = sync_file(sheet, api_key=API_KEY, api_url=sandbox.url, report=False)
    assert outcome.exit_code == 0 and outcome.duplicates == 0
    assert outcome.requests == {"GET": 2, "POST": 1}  # the read-back: one GET, only after writes
    again = sync_file(sheet, api_key=API_KEY, api_url=sandbox.url, report=False)
    assert again.requests == {"GET": 1} and again.results[0].result is Result.UNCHANGED
