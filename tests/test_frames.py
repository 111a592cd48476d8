"""pandas for notebook users: to_frame, read_frame, sync_frame against the sandbox, and a
command line that never imports pandas."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import openpyxl
import pandas as pd
import pytest

import layer_sync
from layer_sync import ExitCode, read_frame, read_stacks, sync_file, sync_frame
from layer_sync.core.issues import Issue, Severity
from layer_sync.outcome.table import ROW_COLUMNS
from layer_sync.report.content import REPORT_ROW_COLUMNS
from layer_sync.rules.values import ALL_FIELDS
from layer_sync.sandbox import Faults, SandboxServer

from .conftest import API_KEY, write_csv

MANGLED = "stored this orientation as the number 1"

#: Sample 1 on the server with layers 1 (BaTiO3, 001) and 2 (SrTiO3).
SEED = [
    {"id": 10, "sample_id": 1, "sample_name": "Stack 1", "substrate": "SrTiO3", "layer_id": 1,
     "composition_string": "BaTiO3", "orientation": "001"},
    {"id": 11, "sample_id": 1, "sample_name": "Stack 1", "substrate": "SrTiO3", "layer_id": 2,
     "composition_string": "SrTiO3"},
]

#: The same stacks as a sheet would hold them: layer 1 unchanged, 2 updated, 3 and 4 created,
#: 5 invalid (a mangled orientation).
HEADER = ["sample_id", "layer_id", "composition_string", "orientation"]
ROWS = [[1, 1, "BaTiO3", "001"], [1, 2, "SrTiO3", "111"], [1, 3, "SrRuO3", "(001)"],
        [1, 4, "LaAlO3", ""], [1, 5, "MgO", "1"]]


def _frame() -> pd.DataFrame:
    df = pd.DataFrame(ROWS, columns=HEADER)
    df["orientation"] = df["orientation"].astype(object)
    df.loc[3, "orientation"] = None
    df.loc[4, "orientation"] = 1.0  # what a float column of a notebook holds
    return df


@pytest.fixture
def seeded(sandbox):
    sandbox.store.seed(SEED)
    sandbox.stats.reset()
    return sandbox


def _sync(sandbox, df, **kw):
    kw.setdefault("api_key", API_KEY)
    return sync_frame(df, api_url=sandbox.url, **kw)


def _writes(sandbox) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _, _ in sandbox.stats.log if m in ("POST", "PATCH")]


def _records(sandbox) -> list[tuple]:
    return [(l["sample_id"], l["layer_id"], l["composition_string"], l["orientation"])
            for l in sandbox.store.layers()]




# ------------------------------------------------------------------ SheetData.to_frame

def test_read_stacks_to_frame_keeps_leading_zeros_and_the_source(tmp_path):
    path = write_csv(tmp_path / "lab.csv", [*HEADER, "Notes"],
                [[1, 1, "BaTiO3", "001", "x"], ["", 2, "SrTiO3", "(110)", ""],
                 [1, 3, "", "", ""]])
    df = read_stacks(path).to_frame()
    assert list(df.columns) == ["sheet", "row", "valid", *ALL_FIELDS]
    assert len(df) == 3
    assert df["orientation"].tolist() == ["001", "110", None]
    assert df["row"].tolist() == [2, 3, 4]  # the sheet's row numbers, under the header
    assert df["sheet"].tolist() == ["lab.csv"] * 3
    assert df["layer_id"].tolist() == [1, 2, 3] and str(df["layer_id"].dtype) == "Int64"
    assert df["sample_id"].tolist() == [1, 1, 1]  # filled down within the stack, as read
    assert df["composition_string"].tolist()[2] is None  # blank is None, not NaN or ""
    assert df["valid"].tolist() == [True, True, True]


def test_to_frame_blank_and_invalid_are_missing(tmp_path):
    path = write_csv(tmp_path / "lab.csv", HEADER, [[1, 1, "BaTiO3", "001"], [1, "two", "", ""]])
    df = read_stacks(path).to_frame()
    assert df["valid"].tolist() == [True, False]
    assert pd.isna(df.loc[1, "layer_id"]) and df.loc[1, "orientation"] is None


def test_to_frame_marks_a_duplicated_layer_invalid_as_check_does(tmp_path):
    from layer_sync import check_file

    path = write_csv(tmp_path / "lab.csv", HEADER, [[1, 1, "BaTiO3", "001"],
                                                    [1, 2, "SrTiO3", "001"],
                                                    [1, 2, "SrRuO3", "001"]])
    assert read_stacks(path).to_frame()["valid"].tolist() == [True, False, False]
    assert check_file(path).invalid_rows == 2


# ------------------------------------------------------------------ read_frame

def test_float_orientation_is_the_mangled_miller_error_at_its_index_and_column():
    df = _frame().set_axis([10, 11, 12, 13, 14])
    data = read_frame(df)
    errors = data.errors
    assert len(errors) == 1
    issue = errors[0]
    assert MANGLED in issue.message
    assert (issue.sheet, issue.row, issue.column) == ("DataFrame", 14, "orientation")
    assert issue.location == "DataFrame[14, 'orientation']"
    assert [r.valid for r in data.rows] == [True, True, True, True, False]


def test_a_float_orientation_row_is_not_sent_and_the_exit_code_is_1(seeded):
    outcome = _sync(seeded, _frame())
    assert outcome.exit_code == ExitCode.ROWS_NEED_ATTENTION
    assert outcome.counts["invalid"] == 1
    assert (1, 5) not in [(s, l) for s, l, _, _ in _records(seeded)]
    assert not any("MgO" in json.dumps(r) for r in seeded.store.layers())


def test_float_layer_ids_are_whole_numbers(sandbox):
    sandbox.store.seed(SEED)
    df = pd.DataFrame({"sample_id": [1.0, 1.0], "layer_id": [3.0, 4.0],
                       "composition_string": ["SrRuO3", "LaAlO3"]})
    assert df["layer_id"].dtype == np.float64
    outcome = _sync(sandbox, df)
    assert outcome.exit_code == ExitCode.OK, outcome.issues
    assert outcome.counts["created"] == 2
    assert [(s, l) for s, l, _, _ in _records(sandbox)] == [(1, 1), (1, 2), (1, 3), (1, 4)]


def test_string_index_labels_name_the_cell_and_rows_count_positions():
    df = _frame().set_axis(list("abcde"))
    data = read_frame(df, name="stacks")
    issue = data.errors[0]
    assert issue.location == "stacks['e', 'orientation']"
    assert issue.row == 4  # the position: the labels are not whole numbers
    assert [r.row for r in data.rows] == [0, 1, 2, 3, 4]


def test_nan_is_a_blank_cell(seeded):
    df = pd.DataFrame({"sample_id": [1, 1], "layer_id": [3, 4],
                       "composition_string": ["SrRuO3", np.nan], "orientation": [np.nan, "001"]})
    outcome = _sync(seeded, df, dry_run=True)
    assert outcome.exit_code == ExitCode.OK, outcome.issues
    rows = outcome.to_frame()
    assert rows["composition_string (as read)"].tolist() == ["SrRuO3", None]  # not "nan"
    assert rows["orientation (as read)"].tolist() == [None, "001"]


def test_numpy_values_read_as_plain_ones():
    # An object column may hold numpy scalars; np.True_ is a boolean cell, as in a sheet.
    df = pd.DataFrame({"sample_id": [1, 1], "layer_id": pd.Series([np.int64(3), np.True_],
                                                                    dtype=object)})
    data = read_frame(df)
    assert data.rows[0].values["layer_id"] == 3
    assert [i.message for i in data.errors] == ["layer_id must be a whole number, not 'TRUE'"]


def test_a_frame_without_layer_columns_is_refused():
    with pytest.raises(layer_sync.LayerSyncError, match="no column naming layer_id"):
        read_frame(pd.DataFrame({"name": ["x"], "formula": ["BaTiO3"]}))


def test_sheet_locations_keep_their_form():
    issue = Issue("Stacks", 12, "orientation", "F12", "1", Severity.ERROR, "m")
    assert issue.location == "Stacks!F12"


# ------------------------------------------------------------------ sync_frame = sync_file

def test_sync_frame_does_what_sync_file_does_with_the_same_stacks(seeded, tmp_path):
    path = write_csv(tmp_path / "lab.csv", HEADER, ROWS)
    other = SandboxServer(api_key=API_KEY, faults=Faults(seed=1)).start()
    try:
        other.store.seed(SEED)
        by_file = sync_file(path, api_key=API_KEY, api_url=other.url, report=False)
        by_frame = _sync(seeded, _frame())
        assert by_frame.counts == by_file.counts
        assert by_frame.counts["created"] == 2 and by_frame.counts["updated"] == 1
        assert by_frame.exit_code == by_file.exit_code == ExitCode.ROWS_NEED_ATTENTION
        assert _records(seeded) == _records(other)
        assert sorted(_writes(seeded)) == sorted(_writes(other))
    finally:
        other.stop()
    again = _sync(seeded, _frame())  # in sync now: nothing more to send
    assert again.counts["created"] == again.counts["updated"] == 0


def test_columns_maps_a_labs_own_names(seeded):
    df = _frame().rename(columns={"sample_id": "Run", "layer_id": "Slot",
                                  "composition_string": "Film", "orientation": "Cut"})
    df["Comment"] = "ok"
    outcome = _sync(seeded, df, columns={"Run": "sample_id", "Slot": "layer_id",
                                         "Film": "composition_string", "Cut": "orientation"})
    assert (outcome.counts["created"], outcome.counts["updated"], outcome.counts["invalid"]) == (2, 1, 1)
    assert "Comment" in outcome.ignored_columns
    invalid = [i for i in outcome.issues if i.severity == "error"]
    assert invalid[0].location == "DataFrame[4, 'Cut']"
    assert (1, 3, "SrRuO3", "001") in _records(seeded)


def test_dry_run_sends_nothing(seeded):
    before = _records(seeded)
    outcome = _sync(seeded, _frame(), dry_run=True)
    assert outcome.counts["created"] == 2 and outcome.counts["updated"] == 1
    assert _writes(seeded) == []
    assert _records(seeded) == before


# ------------------------------------------------------------------ SyncOutcome.to_frame

def test_outcome_to_frame_is_the_reports_rows_sheet(seeded, tmp_path):
    report = tmp_path / "report.xlsx"
    df = _frame()
    df["Notes"] = ["a", "b", "c", "d", "e"]
    outcome = _sync(seeded, df, report=report)
    assert outcome.report == report and report.exists()
    rows = outcome.to_frame()
    sheet = openpyxl.load_workbook(report, read_only=True)["Rows"]
    written = [list(r) for r in sheet.iter_rows(values_only=True)]
    # Every column for every row (the report's Rows sheet says what happened once, and gives
    # the columns as read only where a row has something to say): the same columns as read.
    assert list(rows.columns) == [*ROW_COLUMNS, *written[0][len(REPORT_ROW_COLUMNS):]]
    assert len(rows) == len(df) == len(written) - 1
    assert rows["Result"].tolist() == ["unchanged", "updated", "created", "created", "invalid"]
    assert rows["Row"].tolist() == [0, 1, 2, 3, 4]
    assert rows["Notes (as read)"].tolist() == ["a", "b", "c", "d", "e"]
    assert rows.loc[4, "Cell"] == "[4, 'orientation']"
    assert pd.isna(rows.loc[0, "HTTP status"])  # unchanged: nothing sent
    assert rows.loc[2, "HTTP status"] == outcome.results[2].status == 200
    assert str(rows["HTTP status"].dtype) == "Int64"


def test_no_report_unless_asked(seeded, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    outcome = _sync(seeded, _frame())
    assert outcome.report is None and not (tmp_path / "reports").exists()


# ------------------------------------------------------------------ the command line

def test_the_command_line_never_imports_pandas(seeded, tmp_path):
    path = write_csv(tmp_path / "lab.csv", HEADER, ROWS)
    script = (
        "import sys\n"
        "from layer_sync import cli\n"
        f"code = cli.main(['sync', {str(path)!r}, '--api-url', {seeded.url!r}, '-q',"
        f" '--report', {str(tmp_path / 'r.xlsx')!r}])\n"
        "print('RESULT', code, 'pandas' in sys.modules)\n")
    env = {**os.environ, "ATOMSCALE_API_KEY": API_KEY}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.stdout.splitlines()[-1] == "RESULT 1 False", proc.stderr
    assert seeded.store.layers()[-1]["layer_id"] == 4  # the sync really ran


def test_version_imports_no_pandas():
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "layer_sync", "--version"],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0 and "layer_sync" in proc.stderr
    assert "pandas" not in proc.stderr.lower()
