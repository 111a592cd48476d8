"""The report's helper process: the same workbook, a fallback when it fails, nothing left over."""

from __future__ import annotations

import runpy
import sys
import tempfile
from pathlib import Path

import openpyxl
import pytest

from layer_sync import report as report_module
from layer_sync.errors import ReportError
from layer_sync.plan import Action
from layer_sync.report import ReportWriter, helper_environment
from layer_sync.sheet import SheetRow
from layer_sync.sync import SyncOutcome, sync_file

from .conftest import API_KEY


class _Result:
    def __init__(self, action: Action, result: str, message: str = "") -> None:
        self.action, self.result, self.message = action, result, message
        self.status, self.attempts, self.record_id = 200, 1, None


def _rows(n: int) -> list[_Result]:
    results = []
    for i in range(n):
        raw = {"sample_id": 1, "layer_id": i + 1,
               "composition_string": "=1+2" if i == 3 else "BaTiO3"}
        row = SheetRow(sheet="Layers", row=i + 2, stack=1, raw=raw, cells={}, extra={},
                       columns={k: k for k in raw})
        action = Action(row, "create", layer_id=i + 1)
        action.sample_id = 1
        results.append(_Result(action, "created"))
    return results


def _outcome(path: Path, results: list) -> SyncOutcome:
    import datetime as dt

    now = dt.datetime(2026, 11, 23, 3, 0, 0)
    return SyncOutcome(path=path, api_url="http://127.0.0.1:1/", dry_run=False, started=now,
                       finished=now, sheet="Layers", headers=["sample_id", "layer_id",
                                                              "composition_string"],
                       results=results)


def _write(tmp_path: Path, helper: bool, n: int = 250, kill_helper_after: int | None = None) -> Path:
    results = _rows(n)
    target = tmp_path / f"report-{helper}.xlsx"
    writer = ReportWriter(target, ["sample_id", "layer_id", "composition_string"], n, helper=helper)
    assert writer.in_helper is helper
    for index, result in reversed(list(enumerate(results))):  # out of order: written in order
        writer.add(index, result)
        if kill_helper_after is not None and index == kill_helper_after:
            writer._sink._process.kill()
            writer._sink._process.wait()
    return writer.finish(_outcome(tmp_path / "lab.xlsx", results))


def _cells(path: Path) -> dict[str, list[tuple]]:
    book = openpyxl.load_workbook(path)
    return {ws.title: [tuple(c.value for c in row) for row in ws.iter_rows()] for ws in book}


def _temp_files() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("openpyxl.*")}


def test_the_helper_writes_the_same_workbook_as_this_process(tmp_path):
    here, there = _write(tmp_path, helper=False), _write(tmp_path, helper=True)
    mine, theirs = _cells(here), _cells(there)
    assert mine == theirs
    assert [r[1] for r in mine["Rows"][1:]] == list(range(2, 252))  # sheet order
    book = openpyxl.load_workbook(there)
    assert all(c.data_type != "f" for ws in book for row in ws.iter_rows() for c in row)


def test_a_helper_that_dies_mid_run_costs_nothing_the_report_is_written_here(tmp_path, caplog):
    path = _write(tmp_path, helper=True, kill_helper_after=120)
    rows = _cells(path)["Rows"]
    assert len(rows) == 251 and rows[-1][1] == 251
    assert "writing the report in this process" in caplog.text


def test_no_helper_when_no_python_to_start_it_with(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such" / "python3"))
    writer = ReportWriter(tmp_path / "r.xlsx", ["layer_id"], 1, helper=True)
    assert not writer.in_helper
    monkeypatch.setattr(sys, "executable", "/usr/bin/blender")  # an embedding program
    assert not ReportWriter(tmp_path / "r.xlsx", ["layer_id"], 1, helper=True).in_helper


def test_a_report_that_cannot_be_saved_is_a_clear_error_from_the_helper(tmp_path):
    target = tmp_path / "taken.xlsx"
    target.mkdir()  # a folder where the workbook should go: the rename fails
    results = _rows(3)
    writer = ReportWriter(target, ["sample_id"], 3, helper=True)
    for index, result in enumerate(results):
        writer.add(index, result)
    with pytest.raises(ReportError, match="cannot write the report"):
        writer.finish(_outcome(tmp_path / "lab.xlsx", results))
    assert [p.name for p in tmp_path.iterdir()] == ["taken.xlsx"]  # no temporary file left


@pytest.mark.parametrize("helper", [False, True])
def test_a_report_given_up_leaves_nothing_behind(tmp_path, helper):
    before = _temp_files()
    writer = ReportWriter(tmp_path / "r.xlsx", ["sample_id"], 600, helper=helper)
    for index, result in enumerate(_rows(600)):
        writer.add(index, result)
    writer.close()
    if helper:
        assert writer._sink._process.poll() is not None  # the helper has ended
    assert not (tmp_path / "r.xlsx").exists()
    assert _temp_files() <= before


def test_the_helper_never_gets_the_api_key():
    env = helper_environment({"ATOMSCALE_API_KEY": "k1", "AS_API_KEY": "k2", "PATH": "/bin"})
    assert env == {"PATH": "/bin"}


def test_a_sync_with_many_writes_uses_the_helper_and_a_small_one_does_not(sandbox, tmp_path,
                                                                           monkeypatch):
    started = []
    real_start = report_module._Helper.start

    def spy(*args, **kwargs):
        started.append(args[2])
        return real_start(*args, **kwargs)

    monkeypatch.setattr(report_module._Helper, "start", spy)
    sandbox.store.seed([{"id": s, "sample_id": s, "sample_name": f"S{s}", "layer_id": 1,
                         "composition_string": "BaTiO3"} for s in (1, 2)])
    for sample, rows in ((1, report_module.HELPER_MIN_ROWS - 1), (2, report_module.HELPER_MIN_ROWS)):
        path = tmp_path / f"lab{rows}.csv"
        path.write_text("sample_id,layer_id,composition_string\n" + "".join(
            f"{sample},{n},SrTiO3\n" for n in range(2, rows + 2)), encoding="utf-8")
        outcome = sync_file(path, api_key=API_KEY, api_url=sandbox.url,
                            report=tmp_path / f"r{rows}.xlsx")
        assert outcome.exit_code == 0 and outcome.report is not None
        assert len(_cells(outcome.report)["Rows"]) == rows + 1
    assert started == [report_module.HELPER_MIN_ROWS]


def test_running_the_package_main_as_a_module_of_another_name_does_nothing():
    # A helper process that imports the parent's main module must not start a second run.
    runpy.run_module("layer_sync.__main__", run_name="__mp_main__")


def test_an_interrupted_run_ends_its_helper_and_writes_what_was_done_in_process(sandbox, tmp_path, monkeypatch):
    helpers = []
    real_start = report_module._Helper.start

    def spy(*args, **kwargs):
        helpers.append(real_start(*args, **kwargs))
        return helpers[-1]

    monkeypatch.setattr(report_module._Helper, "start", spy)
    sandbox.store.seed([{"id": 1, "sample_id": 1, "sample_name": "S", "layer_id": 1}])
    sandbox.latency_ms = 5
    path = tmp_path / "lab.csv"
    path.write_text("sample_id,layer_id,composition_string\n" + "".join(
        f"1,{n},SrTiO3\n" for n in range(2, 252)), encoding="utf-8")
    before = _temp_files()

    def interrupt(done, total, retries):
        if done >= 30:
            raise KeyboardInterrupt

    outcome = sync_file(path, api_key=API_KEY, api_url=sandbox.url, report=tmp_path / "r.xlsx",
                        progress=interrupt)
    assert outcome.exit_code == 130
    (helper,) = helpers
    assert helper is not None and helper._process.poll() is not None
    # The report of what was done is written (in this process) and nothing else is left.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab.csv", "r.xlsx"]
    assert _temp_files() <= before
