"""A standing defence: files made to hang, crash or exhaust the reader end like any bad input.

Each hostile file (tests/hostile.py makes them, nothing is downloaded) is synced in a child
process, as cron runs it: the run must end with exit 0, 1 or 2, the JSON line on stdout, one
line and no traceback on stderr, within a time bound and under 1 GB of peak memory. A child
process, because an abort (SIGABRT from a failed allocation in a native reader) can only be
seen from outside; its address space is capped, so a regression fails the test instead of
exhausting the machine.
"""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layer_sync.cli import main
from layer_sync.core.errors import InputFileError
from layer_sync.read.files import column_letter
from layer_sync.read.stacks import read_stacks

from . import hostile
from .conftest import API_KEY, dead_url

#: Peak resident memory a run may use, whatever the input.
MAX_RSS_BYTES = 1 << 30
#: Wall-clock seconds a run may take on a busy two-core machine; a lab sheet takes about one.
MAX_SECONDS = 30
#: The child's address-space cap: far above MAX_RSS_BYTES (a Python process maps more than
#: it touches), low enough that a runaway allocation fails in the child, not the machine.
ADDRESS_SPACE_CAP = 4 << 30

ROOT = Path(__file__).resolve().parent.parent


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_CAP, ADDRESS_SPACE_CAP))


def _sync_in_child(path: Path, url: str, tmp_path: Path) -> tuple[int, str, str, float, int]:
    """`layer-sync sync PATH --dry-run --json` in a child: exit code, stdout, stderr, seconds,
    peak resident bytes."""
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    env = {**os.environ, "ATOMSCALE_API_KEY": API_KEY, "ATOMSCALE_API_URL": url,
           "PYTHONPATH": str(ROOT)}
    env.pop("AS_API_KEY", None)
    start = time.monotonic()
    with out.open("w") as stdout, err.open("w") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-m", "layer_sync", "sync", str(path), "--dry-run", "--json",
             "--report", str(tmp_path / "report.xlsx")],
            stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, env=env, cwd=tmp_path,
            preexec_fn=_cap_memory)
        try:
            child.wait(timeout=MAX_SECONDS * 2)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            pytest.fail(f"{path.name}: still running after {MAX_SECONDS * 2} s")
    seconds = time.monotonic() - start
    # The child's own peak: wait4 is not available once Popen has reaped it, so read the
    # children's figure, which is the largest of any child so far (an upper bound: fine).
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return child.returncode, out.read_text(), err.read_text(), seconds, peak


def _assert_clean_ending(name: str, code: int, stdout: str, stderr: str) -> dict:
    assert code in (0, 1, 2), f"{name}: exit {code} (a signal is negative); stderr: {stderr[-500:]}"
    assert "Traceback" not in stderr, f"{name}: {stderr[-2000:]}"
    assert "internal error" not in stderr, f"{name}: {stderr[-500:]}"
    lines = stdout.strip().splitlines()
    assert lines, f"{name}: no JSON line on stdout; stderr: {stderr[-500:]}"
    line = json.loads(lines[-1])
    assert line["exit_code"] == code
    return line


# Each maker, and the exit code its file must end with (2: refused as a file; 1: read, with
# row errors), and a word the one line must hold.
EXPECTED = {
    "fifo": (2, "named pipe"),
    "dev_zero": (2, "device"),
    "dev_null": (2, "device"),
    "inflating_sheet": (2, "inflates"),
    "inflating_shared_strings": (2, "inflates"),
    "far_cell": (2, "XFD1048576"),
    "far_cell_other_case": (2, "GR1000000"),
    "far_cell_workbook_case": (2, "GR1000000"),
    "far_cell_ten_digits": (2, "D4294967295"),
    "sheet_part_missing": (2, "cannot be found"),
    "many_merges": (2, "merged ranges"),
    "lying_dimension": (1, ""),
    "far_ods": (2, "beyond what"),
    "huge_csv_cell": (2, "32,767"),
    "long_formula": (1, ""),
    "control_characters": (1, ""),
    "wide_sheet": (1, ""),
    "wide_xlsx": (1, ""),
    "huge_numbers": (1, ""),
    # issue 18: the bounds follow the reader's path, every format has them, every scan is linear
    "two_sheets_one_name": (2, "XFD1048576"),
    "relationships_elsewhere": (2, "XFD1048576"),
    "sheets_sharing_a_part": (2, "are one part"),
    "claimed_strings": (2, "distinct strings"),
    "overlapping_merges": (2, "overlap"),
    "error_cell_pattern": (2, "cannot be read"),
    "endless_tag": (2, "tag of over"),
    "spanned_ods": (2, "overlap"),
    "bomb_named_xls": (2, "inflates"),
    "far_cell_named_xls": (2, "XFD1048576"),
    "xls_far_cell": (2, "beyond what"),
    "xls_lying_dimensions": (2, "claims"),
    "xls_sheets_overlapping": (2, "overlap"),
    "ole_directory_loop": (2, "loop"),
    "ole_claimed_fat": (2, "claims more sectors"),
}


@pytest.mark.parametrize("name", list(hostile.MAKERS))
def test_hostile_file_ends_cleanly_within_bounds(name, sandbox, tmp_path):
    path = hostile.MAKERS[name](tmp_path)
    code, stdout, stderr, seconds, peak = _sync_in_child(path, sandbox.url, tmp_path)
    _assert_clean_ending(name, code, stdout, stderr)
    expected, word = EXPECTED[name]
    assert code == expected, f"{name}: exit {code}; stderr: {stderr[-500:]}"
    if expected == 2:
        errors = [line for line in stderr.splitlines() if line.startswith("layer-sync: error:")]
        assert len(errors) == 1 and word in errors[0], stderr
    assert seconds < MAX_SECONDS, f"{name}: {seconds:.1f} s"
    assert peak < MAX_RSS_BYTES, f"{name}: {peak >> 20} MB"


def test_huge_numbers_are_row_errors_that_say_why(tmp_path):
    data = read_stacks(hostile.huge_numbers(tmp_path))
    messages = [e.message for row in data.rows for e in row.errors]
    assert len(messages) == 3 and all("too large" in m and "2,147,483,647" in m for m in messages)
    assert not any(row.valid for row in data.rows)


def test_control_characters_are_read_as_text(tmp_path):
    data = read_stacks(hostile.control_characters(tmp_path))
    assert data.headers[2] == "\x01bad\x1b[31m" and data.ignored_columns == ["\x01bad\x1b[31m"]
    assert [r.values.get("layer_id") for r in data.rows] == [1, 2]


def test_a_long_formula_costs_no_time(tmp_path):
    start = time.perf_counter()
    data = read_stacks(hostile.long_formula(tmp_path))
    assert time.perf_counter() - start < 2
    assert "39,996 characters" in data.rows[0].errors[0].message


def test_cell_past_a_spreadsheet_cells_limit_is_a_row_issue(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("sample_id,layer_id,sample_name,notes\n1,1," + "n" * 40_000 + ","
                    + "x" * 40_000 + "\n")
    (row,) = read_stacks(path).rows
    assert [e.column for e in row.errors] == ["sample_name"]
    assert "32,767" in row.errors[0].message
    (warning,) = [i for i in row.issues if i.severity == "warning"]
    assert warning.column == "notes" and "40,000 characters" in warning.message


@pytest.mark.parametrize("make", [hostile.fifo, hostile.dev_zero, hostile.dev_null])
def test_only_regular_files_are_read(make, tmp_path):
    path = make(tmp_path)
    start = time.monotonic()
    with pytest.raises(InputFileError, match="not a spreadsheet file"):
        read_stacks(path)
    assert time.monotonic() - start < 2  # never waits on a pipe or reads a device


def test_a_file_past_the_size_bound_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from layer_sync.read import files as inputfile

    path = tmp_path / "big.csv"
    path.write_text("sample_id,layer_id\n" + "1,1\n" * 1000)
    monkeypatch.setattr(inputfile, "MAX_TEXT_BYTES", 1000)
    with pytest.raises(InputFileError, match="too large"):
        read_stacks(path)


# --------------------------------------------------------------------------- property tests

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=600), suffix=st.sampled_from([".csv", ".xlsx", ".ods"]))
def test_random_bytes_end_with_exit_0_1_or_2_and_the_json_line(tmp_path, data, suffix):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    code = main(["sync", str(path), "--dry-run", "--json", "--api-url", dead_url("hostile")],
                environ={"ATOMSCALE_API_KEY": API_KEY}, stdout=out, stderr=err)
    _assert_clean_ending(path.name, code, out.getvalue(), err.getvalue())


cells = st.one_of(st.none(), st.integers(-2**40, 2**40),
                  st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=8),
                  st.floats(allow_nan=False, allow_infinity=False))
# Near cells (read, and cheap to read) and far ones (refused); an area just under the bound
# would be read in full (5,000,000 cells, a second each): the far cases are the point here.
addresses = st.one_of(st.tuples(st.integers(1, 3000), st.integers(0, 60)),
                      st.tuples(st.integers(1, 1_048_576), st.integers(0, 16_383)).filter(
                          lambda a: a[0] * (a[1] + 1) > 5_000_000))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(cells, max_size=6), max_size=6),
       address=addresses)
def test_random_small_sheets_with_a_stray_cell_read_or_fail_with_our_error(tmp_path, rows, address):
    """Any cell address, however far: read, or refused with our error; never an abort."""
    body = hostile._rows_xml([hostile.HEADER, *rows])
    row, col = address
    stray = f'<row r="{row}"><c r="{column_letter(col)}{row}"><v>1</v></c></row>' \
        if row > len(rows) + 1 else ""
    path = hostile.write_xlsx(tmp_path / "random.xlsx", body, stray)
    width = max([len(hostile.HEADER), *(len(r) for r in rows)])
    area = max(row, len(rows) + 1) * max(col + 1, width) if stray else (len(rows) + 1) * width
    try:
        data = read_stacks(path)
    except InputFileError as exc:
        assert area > 5_000_000, exc  # refused only for a cell far beyond the rest
        return
    assert area <= 5_000_000
    assert len(data.rows) <= len(rows) + 1
