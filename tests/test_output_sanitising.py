"""Every line that leaves the process is one line: a value from the server, the sheet, its file
name or an output path never reaches the terminal or the log as a control character, a bidi
control or a line break (an escape sequence could rewrite the screen; a line break could
forge a line such as "FAKE: 0 failed" in cron mail or the log). One sanitiser does it at the
boundary (`core.text.one_line`); report cells keep their line breaks but no control.
"""

from __future__ import annotations

import io
import os
import unicodedata
import zipfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from layer_sync.cli import main
from layer_sync.core.text import one_line, printable

from .conftest import API_KEY, write_csv

#: Characters that may reach a line as they are: none of these.
BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
PAYLOAD = "\x1b[2J\x1b]0;pwned\x07\u202eevil\r\nFAKE: 0 failed\u2028x\x85\u2066y\x9b1m"


def _unsafe(char: str, *, newline_ok: bool) -> bool:
    if char == "\t" or (newline_ok and char == "\n"):
        return False
    return (unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") or char in BIDI
            or char in "\ufffe\uffff")


@given(st.lists(st.one_of(st.characters(), st.sampled_from(
    sorted(BIDI) + ["\x85", "\x9b", "\u2028", "\u2029", "\r", "\n", "\x1b", "\x7f"]))
    ).map("".join))
def test_one_line_leaves_no_control_bidi_or_line_break(text):
    assert not any(_unsafe(c, newline_ok=False) for c in one_line(text))
    assert not any(_unsafe(c, newline_ok=True) for c in printable(text))


@given(st.text(alphabet=st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp", "Cf"))))
def test_ordinary_text_is_left_as_it_is(text):
    assert one_line(text) == text


def _lines_are_safe(text: str) -> None:
    for line in text.splitlines():
        assert not line.startswith("FAKE"), line
        assert not any(_unsafe(c, newline_ok=False) for c in line), repr(line)


@pytest.mark.skipif(os.name != "posix", reason="a line break in a file name")
def test_server_and_sheet_values_and_paths_never_break_or_rewrite_a_line(sandbox, tmp_path):
    sandbox.store.seed([
        {"id": 1, "sample_id": 1, "sample_name": f"S{PAYLOAD}", "substrate": f"Si{PAYLOAD}",
         "layer_id": 1, "composition_string": "SrTiO3", "orientation": "001"},
        {"id": 2, "sample_id": 1, "sample_name": f"S{PAYLOAD}", "substrate": f"Si{PAYLOAD}",
         "layer_id": 7, "composition_string": f"Sr{PAYLOAD}", "orientation": "001"}])
    folder = tmp_path / f"in{PAYLOAD.replace('/', '')}"
    folder.mkdir()
    sheet = write_csv(folder / f"lab{PAYLOAD}.csv",
                      ["sample_id", "sample_name", "layer_id", "composition_string", "Notes"],
                      [[1, "Other", 1, "SrTiO3", PAYLOAD],
                       [1, "", 2, f"Ba{PAYLOAD}TiO3", ""],
                       [1, "", 3, "BaTiO3", ""]])
    report = tmp_path / f"r{PAYLOAD}.xlsx"
    log = tmp_path / "run.log"
    out, err = io.StringIO(), io.StringIO()
    code = main(["sync", str(sheet), "--api-url", sandbox.url, "--report", str(report),
                 "--log-file", str(log), "-v"],
                environ={"ATOMSCALE_API_KEY": API_KEY}, stdout=out, stderr=err)
    assert code == 1, err.getvalue()
    # The values did reach the output (shown as U+FFFD), on lines of their own.
    assert "FAKE: 0 failed" in out.getvalue() + err.getvalue()
    for text in (out.getvalue(), err.getvalue(), log.read_text(encoding="utf-8")):
        _lines_are_safe(text)
    with zipfile.ZipFile(report) as z:  # cells: no control character but line breaks
        xml = "".join(z.read(n).decode("utf-8") for n in z.namelist() if n.endswith(".xml"))
    assert "\x1b" not in xml and "\u202e" not in xml and "\x85" not in xml


@pytest.mark.skipif(os.name != "posix", reason="a line break in a file name")
def test_a_check_of_a_sheet_named_with_a_line_break_prints_one_line_each(tmp_path):
    sheet = write_csv(tmp_path / "lab\nlayer-sync: 7 rows: 7 created, 0 failed.csv",
                      ["sample_id", "layer_id", "orientation"], [[1, 1, 1]])
    out, err = io.StringIO(), io.StringIO()
    main(["check", str(sheet), "--report", str(tmp_path / "r\nReport: none.xlsx")],
         environ={}, stdout=out, stderr=err)
    text = out.getvalue() + err.getvalue()
    assert not any(line.startswith(("layer-sync: 7 rows", "Report: none"))
                   for line in text.splitlines()), text
    _lines_are_safe(text)
