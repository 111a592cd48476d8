"""`--update-samples`: a sheet that renames a target material, against the sandbox over loopback.

Without the flag a row whose sample_id's name differs from the server's is an error and nothing
is sent for it; with it the target material is renamed with one PATCH /target-materials/{id},
before any of its layers, and a second run sends nothing.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import openpyxl
import pytest

from layer_sync.cli import main
from layer_sync.core.runtime import Runtime
from layer_sync.run.sync import sync_file

from .conftest import API_KEY

OLD, NEW = "BTO on STO", "BTO on STO (2026)"
RENAME = f"target material 101: sample_name: {OLD} \u2192 {NEW}"
SEED = [
    {"id": 10, "sample_id": 101, "sample_name": OLD, "substrate": "SrTiO3", "layer_id": 1,
     "composition_string": "BaTiO3", "orientation": "001"},
    {"id": 20, "sample_id": 102, "sample_name": "LSMO on LAO", "substrate": "LaAlO3",
     "layer_id": 1, "composition_string": "SrTiO3", "orientation": "001"},
]
HEADER = "sample_id,sample_name,substrate,layer_id,composition_string,orientation\n"
#: 101 is renamed, its layer 1 updated (orientation) and its layer 2 created; a layer is
#: created in 102, which keeps its name.
SHEET = (HEADER
         + f"101,{NEW},SrTiO3,1,BaTiO3,111\n"
         + f"101,{NEW},SrTiO3,2,SrTiO3,001\n"
         + "102,LSMO on LAO,LaAlO3,2,MgO,001\n")


@pytest.fixture(autouse=True)
def _own_home(tmp_path, monkeypatch):
    """Runs have a home of their own, inside the test's folder."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)


@pytest.fixture
def server(sandbox):
    sandbox.store.seed([dict(e) for e in SEED])
    sandbox.stats.reset()
    return sandbox


@pytest.fixture
def sheet(tmp_path) -> Path:
    path = tmp_path / "lab.csv"
    path.write_text(SHEET, encoding="utf-8")
    return path


def _sync(server, path, clock=None, **kw):
    kw.setdefault("report", False)
    runtime = Runtime(sleep=clock.sleep, clock=clock.monotonic) if clock is not None else None
    return sync_file(path, api_key=API_KEY, api_url=server.url, runtime=runtime, **kw)


def _writes(server) -> list[tuple[str, str]]:
    """The writes the sandbox received, in order: (method, path)."""
    return [(m, p) for m, p, _, _ in server.stats.log if m in ("POST", "PATCH")]


def _names(server) -> dict[int, tuple[str, str]]:
    return {t["sample_id"]: (t["sample_name"], t["substrate"]) for t in server.store.target_materials()}


def _keys(server) -> set[tuple[int, int]]:
    return {(l["sample_id"], l["layer_id"]) for l in server.store.layers()}


def _rows(report: Path) -> list[dict]:
    rows = list(openpyxl.load_workbook(report)["Rows"].iter_rows(values_only=True))
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def _cli(args):
    out, err = io.StringIO(), io.StringIO()
    code = main(args, environ={"ATOMSCALE_API_KEY": API_KEY}, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_without_the_flag_a_mismatched_name_is_an_error_and_nothing_is_sent_for_it(server, sheet):
    outcome = _sync(server, sheet)
    assert [r.result for r in outcome.results] == ["invalid", "invalid", "created"]
    assert "run with --update-samples to rename target material 101" in outcome.results[0].message
    assert _writes(server) == [("POST", "/target-materials/layers/")]  # 102's layer alone
    assert _keys(server) == {(101, 1), (102, 1), (102, 2)}
    assert _names(server)[101] == (OLD, "SrTiO3")
    assert outcome.exit_code == 1


def test_the_rename_is_one_patch_before_its_layers_then_a_second_run_sends_nothing(server, sheet,
                                                                                    tmp_path):
    report = tmp_path / "report.xlsx"
    outcome = _sync(server, sheet, update_samples=True, report=report)
    assert outcome.exit_code == 0, [r.message for r in outcome.results]
    assert [r.result for r in outcome.results] == ["updated", "created", "created"]
    assert _names(server) == {101: (NEW, "SrTiO3"), 102: ("LSMO on LAO", "LaAlO3")}
    writes = _writes(server)
    assert writes.count(("PATCH", "/target-materials/101")) == 1
    # Of 101's writes, the rename came first (102's POST may run beside it).
    assert writes.index(("PATCH", "/target-materials/101")) < writes.index(
        ("PATCH", "/target-materials/layers/"))
    assert writes.count(("POST", "/target-materials/layers/")) == 2
    assert _keys(server) == {(101, 1), (101, 2), (102, 1), (102, 2)}
    assert outcome.to_dict()["requests"] == {"GET": 2, "POST": 2, "PATCH": 2}
    # The rows of 101 say so, in the result and the report; 102's row does not.
    assert [RENAME in r.message for r in outcome.results] == [True, True, False]
    assert outcome.results[0].message.startswith(f"renamed {RENAME}")
    messages = [row["Message"] or "" for row in _rows(report)]
    assert [f"renamed {RENAME}" in m for m in messages] == [True, True, False]

    server.stats.reset()
    again = _sync(server, sheet, update_samples=True)
    assert again.to_dict()["requests"] == {"GET": 1, "POST": 0, "PATCH": 0}
    assert again.counts["unchanged"] == 3 and again.exit_code == 0
    assert not any("rename" in r.message for r in again.results)


@pytest.mark.parametrize("fault", ["404", "422"])
def test_a_rename_that_fails_fails_its_rows_and_sends_none_of_their_layers(server, sheet, fault):
    # Only the rename is a PATCH until it has succeeded: 102's write is a POST.
    server.faults.inject(fault, method="PATCH")
    outcome = _sync(server, sheet, update_samples=True)
    first, second, other = outcome.results
    assert (first.result, second.result, other.result) == ("failed", "failed", "created")
    assert first.status == int(fault) and first.attempts == 1
    assert first.message.startswith(f"could not rename target material 101 ({fault}: ")
    assert first.message.endswith("none of its layers was sent")
    assert second.message == first.message
    assert sorted(_writes(server)) == [("PATCH", "/target-materials/101"),
                                       ("POST", "/target-materials/layers/")]  # 102's layer
    assert _keys(server) == {(101, 1), (102, 1), (102, 2)}
    assert _names(server)[101] == (OLD, "SrTiO3")
    assert outcome.exit_code == 1 and outcome.to_dict()["requests"]["PATCH"] == 1


def test_a_rename_answered_503_is_retried_then_its_layers_are_written(server, sheet, clock):
    server.faults.inject("503", method="PATCH")
    outcome = _sync(server, sheet, clock, update_samples=True)
    assert outcome.exit_code == 0 and outcome.retries == 1
    assert _writes(server).count(("PATCH", "/target-materials/101")) == 2
    assert outcome.to_dict()["requests"]["PATCH"] == 3  # the rename twice, then layer 1
    assert _names(server)[101][0] == NEW and (101, 2) in _keys(server)


def test_a_dry_run_sends_nothing_and_says_would_rename(server, sheet):
    outcome = _sync(server, sheet, update_samples=True, dry_run=True)
    assert _writes(server) == [] and outcome.to_dict()["requests"] == {"GET": 1, "POST": 0, "PATCH": 0}
    assert [r.result for r in outcome.results] == ["would update", "would create", "would create"]
    assert [r.message.startswith(f"would rename {RENAME}") for r in outcome.results] == [True, True, False]
    assert _names(server)[101] == (OLD, "SrTiO3")


def test_cli_renames_once_counts_it_and_lists_it_once_in_the_summary(server, tmp_path):
    server.store.seed([{**SEED[0], "id": 11, "layer_id": 2, "composition_string": "SrTiO3"}])
    # Only the target material's name and substrate differ: its layers are in sync.
    path = tmp_path / "lab.csv"
    path.write_text(HEADER + f"101,{NEW},MgO,1,BaTiO3,001\n"
                    + f"101, {NEW.upper()} ,mgo,2,SrTiO3,001\n"
                    + "102,LSMO on LAO,LaAlO3,1,SrTiO3,001\n", encoding="utf-8")
    report = tmp_path / "r.xlsx"
    args = ["sync", str(path), "--api-url", server.url, "--update-samples", "--json",
            "--report", str(report)]
    code, out, err = _cli(args)
    assert code == 0, err
    payload = json.loads(out)
    assert payload["requests"] == {"GET": 1, "POST": 0, "PATCH": 1}
    assert (payload["unchanged"], payload["updated"], payload["created"]) == (3, 0, 0)
    assert _writes(server) == [("PATCH", "/target-materials/101")]
    assert _names(server)[101] == (NEW, "MgO")
    changes = f"sample_name: {OLD} \u2192 {NEW}; substrate: SrTiO3 \u2192 MgO"
    assert err.count(f"~ 101 {changes}") == 1, err
    messages = [row["Message"] or "" for row in _rows(report)]
    assert messages[:2] == [f"renamed target material 101: {changes}"] * 2
    assert "rename" not in messages[2]

    server.stats.reset()
    code, out, err = _cli(args)
    assert code == 0 and json.loads(out)["requests"] == {"GET": 1, "POST": 0, "PATCH": 0}
    assert "~ 101" not in err and _writes(server) == []


def test_cli_without_the_flag_refuses_the_rename_and_says_how(server, sheet, tmp_path):
    code, out, err = _cli(["sync", str(sheet), "--api-url", server.url, "--json",
                           "--report", str(tmp_path / "r.xlsx")])
    assert code == 1
    assert json.loads(out)["requests"] == {"GET": 2, "POST": 1, "PATCH": 0}
    assert "--update-samples" in err and "~ 101" not in err
    assert _names(server)[101] == (OLD, "SrTiO3")
