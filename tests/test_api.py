"""The library's face: one meaning per name across every entry point, options declared once,
wrong values named, outcomes with the same views, frames that round-trip."""

from __future__ import annotations

import dataclasses
import inspect
import io
import json
import typing

import openpyxl
import pandas as pd
import pytest

import layer_sync
from layer_sync import (
    CheckOptions,
    CheckOutcome,
    ExportOptions,
    LayerSyncError,
    OptionError,
    ReadOptions,
    Runtime,
    SyncOptions,
    SyncOutcome,
    check_file,
    export_stacks,
    read_frame,
    read_stacks,
    sync_file,
    sync_frame,
)
from layer_sync.cli import main
from layer_sync.core import options as options_module
from layer_sync.run.sync import sync_stacks

from .conftest import API_KEY

ENTRY_POINTS = {
    sync_file: (SyncOptions, options_module.SyncChanges),
    sync_frame: (SyncOptions, options_module.SyncChanges),
    sync_stacks: (SyncOptions, options_module.SyncChanges),
    check_file: (CheckOptions, options_module.CheckChanges),
    read_stacks: (ReadOptions, options_module.ReadChanges),
    export_stacks: (ExportOptions, options_module.ExportChanges),
}
SHEET = "sample_id,layer_id,composition_string,orientation\n1,1,SrTiO3,001\n1,2,BaTiO3,111\n"


@pytest.fixture
def sheet(tmp_path):
    path = tmp_path / "lab.csv"
    path.write_text(SHEET, encoding="utf-8")
    return path


@pytest.fixture
def server(sandbox):
    sandbox.store.seed([{"id": 1, "sample_id": 1, "sample_name": "S", "substrate": "SrTiO3",
                         "layer_id": 1, "composition_string": "SrTiO3", "orientation": "001"}])
    return sandbox


# ------------------------------------------------------------------ the table

@pytest.mark.parametrize("entry", list(ENTRY_POINTS), ids=lambda f: f.__name__)
def test_every_entry_point_reads_the_same(entry):
    """options, runtime and api_key mean one thing everywhere; the keywords are the
    declaration's; no public function takes more than ~8 parameters."""
    declared, changes = ENTRY_POINTS[entry]
    signature = inspect.signature(entry)
    parameters = signature.parameters
    assert len(parameters) <= 8
    assert parameters["options"].kind is inspect.Parameter.KEYWORD_ONLY
    assert parameters["options"].default is None
    assert parameters["runtime"].kind is inspect.Parameter.KEYWORD_ONLY
    if "api_key" in parameters:
        assert parameters["api_key"].kind is inspect.Parameter.KEYWORD_ONLY
    kwargs = [p for p in parameters.values() if p.kind is inspect.Parameter.VAR_KEYWORD]
    assert len(kwargs) == 1
    # The typed keywords are exactly the declared options, with the same names.
    declared_names = {f.name for f in dataclasses.fields(declared)}
    assert set(typing.get_type_hints(changes)) == declared_names


@pytest.mark.parametrize("declared", [ReadOptions, CheckOptions, SyncOptions, ExportOptions])
def test_each_option_is_declared_once_with_a_spec(declared):
    for name, default, spec in declared.declared():
        assert spec.help and spec.group in options_module.GROUPS
        declared().replace(**{name: default})  # the default passes its own check


def test_sheet_is_keyword_only_everywhere(sheet):
    with pytest.raises(TypeError):
        read_stacks(sheet, "Stacks")  # type: ignore[misc]
    with pytest.raises(TypeError):
        check_file(sheet, "Stacks")  # type: ignore[misc]
    assert read_stacks(sheet, sheet=None).sheet == "lab.csv"


# ------------------------------------------------------------------ wrong values

BAD = [("concurrency", 0), ("concurrency", 65), ("concurrency", "8"), ("max_concurrency", 0),
       ("max_attempts", 101), ("timeout", 0), ("timeout", float("nan")), ("timeout", 1e9),
       ("max_consecutive_failures", 0), ("dry_run", "yes"), ("force", 1), ("sheet", 3),
       ("columns", ["Film"]), ("report", 3), ("report", ""), ("api_url", ""),
       ("api_key_file", 3), ("nonsense", 1)]


@pytest.mark.parametrize("name,value", BAD)
def test_a_wrong_value_is_an_option_error_naming_it(name, value, sheet):
    with pytest.raises(OptionError) as raised:
        sync_file(sheet, api_key=API_KEY, **{name: value})
    assert raised.value.option == name and str(raised.value).startswith(name)
    assert isinstance(raised.value, LayerSyncError)
    if name != "nonsense":
        with pytest.raises(OptionError):
            SyncOptions(**{name: value})


def test_library_errors_speak_of_options_the_command_line_of_flags(sheet, tmp_path):
    with pytest.raises(LayerSyncError) as raised:
        sync_file(sheet, report=tmp_path / "out.txt", runtime=Runtime(environ={}),
                  api_key=API_KEY)
    assert str(raised.value).startswith("report ") and "--report" not in str(raised.value)
    assert raised.value.for_cli().startswith("--report ")
    with pytest.raises(LayerSyncError) as raised:
        sync_frame(pd.DataFrame({"sample_id": [1], "layer_id": [1]}), runtime=Runtime(environ={}))
    assert "api_key_file" in str(raised.value) and "--api-key-file" not in str(raised.value)
    err = io.StringIO()
    code = main(["sync", str(sheet), "--timeout", "-1"], environ={}, stdout=io.StringIO(),
                stderr=err)
    assert code == 2 and "--timeout must be more than 0 seconds" in err.getvalue()


def test_a_config_value_is_checked_by_the_same_declaration(sheet, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("max_concurrency = 65\n", encoding="utf-8")
    err = io.StringIO()
    code = main(["sync", str(sheet), "--config", str(config)], environ={}, stdout=io.StringIO(),
                stderr=err)
    assert code == 2 and "max_concurrency must be at most 64" in err.getvalue()


# ------------------------------------------------------------------ report, force

def test_report_means_one_thing_everywhere(server, sheet, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    frame = read_stacks(sheet).to_frame()
    common = {"api_key": API_KEY, "api_url": server.url, "dry_run": True}
    for report in (False, None):  # no report
        sync_file(sheet, report=report, **common)
        sync_frame(frame, report=report, **common)
        check_file(sheet, report=report)
        assert not (tmp_path / "layer-sync-reports").exists()
    written = [sync_file(sheet, report=True, **common).report,
               sync_frame(frame, report=True, **common).report,
               check_file(sheet, report=True).report]
    # Beside the sheet (the sheet is in tmp_path); a frame's in the current folder (tmp_path).
    assert all(p is not None and p.parent.resolve() == tmp_path / "layer-sync-reports"
               for p in written), written
    assert len({p.name for p in written}) == 3
    for path in written:
        assert openpyxl.load_workbook(path).sheetnames[0] == "Summary"
    # The defaults: a sync writes one, a frame's sync and a check do not.
    assert sync_frame(frame, **common).report is None and check_file(sheet).report is None


@pytest.mark.parametrize("entry", ["sync_file", "sync_frame", "sync_stacks", "check_file"])
def test_no_entry_point_overwrites_a_file_that_is_not_a_report(server, sheet, tmp_path, entry):
    precious = tmp_path / "precious.xlsx"
    precious.write_bytes(b"PK\x03\x04 the lab's own workbook")
    server.stats.reset()
    common = {"api_key": API_KEY, "api_url": server.url, "report": precious}
    with pytest.raises(LayerSyncError, match="not a layer-sync report") as raised:
        if entry == "sync_file":
            sync_file(sheet, **common)
        elif entry == "sync_frame":
            sync_frame(read_stacks(sheet).to_frame(), **common)
        elif entry == "sync_stacks":
            sync_stacks(read_stacks(sheet), **common)
        else:
            check_file(sheet, report=precious)
    assert "force" in str(raised.value)
    assert precious.read_bytes() == b"PK\x03\x04 the lab's own workbook"
    assert server.stats.total == 0  # refused before anything was sent
    outcome = check_file(sheet, report=precious, force=True)
    assert outcome.report == precious and precious.read_bytes()[:2] == b"PK"


def test_check_has_force_on_the_command_line(sheet, tmp_path):
    other = tmp_path / "other.xlsx"
    other.write_bytes(b"not a report")
    for extra, code_wanted in (([], 2), (["--force"], 0)):
        err = io.StringIO()
        code = main(["check", str(sheet), "--report", str(other), *extra], environ={},
                    stdout=io.StringIO(), stderr=err)
        assert code == code_wanted, err.getvalue()
    assert "--force" in _check_help()


def _check_help() -> str:
    out = io.StringIO()
    main(["check", "--help"], environ={}, stdout=out, stderr=io.StringIO())
    return out.getvalue()


# ------------------------------------------------------------------ outcomes

def test_both_outcomes_offer_the_same_views(server, sheet):
    synced = sync_file(sheet, api_key=API_KEY, api_url=server.url, dry_run=True, report=False)
    checked = check_file(sheet)
    assert isinstance(synced, SyncOutcome) and isinstance(checked, CheckOutcome)
    for outcome in (synced, checked):
        counts = outcome.counts
        assert counts["rows"] == 2
        as_dict = outcome.to_dict()
        assert isinstance(outcome.to_json(), str) and json.loads(outcome.to_json()) == as_dict
        assert as_dict["exit_code"] == int(outcome.exit_code)
        frame = outcome.to_frame()
        assert len(frame) == 2 and list(frame.columns)[:2] == ["Sheet", "Row"]
    assert checked.counts == {"rows": 2, "valid": 2, "invalid": 0, "errors": 0, "warnings": 0}


def test_a_frame_round_trips_without_foreign_columns(server, sheet):
    frame = read_stacks(sheet).to_frame()
    frame.loc[1, "orientation"] = "001"  # edit, then sync the frame back
    again = read_frame(frame)
    assert again.ignored_columns == [] and again.headers == list(frame.columns[3:])
    outcome = sync_frame(frame, api_key=API_KEY, api_url=server.url, dry_run=True)
    assert outcome.ignored_columns == [] and outcome.exit_code == 0
    rows = outcome.to_frame()
    assert not any(c.startswith(("sheet (as read)", "row (as read)", "valid (as read)"))
                   for c in rows.columns)
    assert str(rows["sample_id"].dtype) == "Int64" and str(rows["layer_id"].dtype) == "Int64"
    assert rows["layer_id"].tolist() == [1, 2]


def test_the_package_exports_every_outcome_and_options_type():
    for name in ("SyncOutcome", "CheckOutcome", "SyncOptions", "CheckOptions", "ReadOptions",
                 "ExportOptions", "Runtime", "OptionError"):
        assert name in layer_sync.__all__ and hasattr(layer_sync, name)
