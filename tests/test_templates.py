"""Templates: the committed files are what `layer-sync template` writes; their example stack is
refused, and written over with a real one they sync cleanly."""

from __future__ import annotations

import io
import os
from pathlib import Path

import openpyxl
import pytest

from layer_sync.cli import main
from layer_sync.read.stacks import read_stacks
from layer_sync.rules.values import ALL_FIELDS, EXAMPLE_SAMPLE_NAME
from layer_sync.run.sync import sync_file

from .conftest import API_KEY

TEMPLATES = Path(__file__).parent.parent / "templates"


def _cells(path: Path) -> dict:
    """What matters in a workbook: every sheet's values, formats of key cells, validations."""
    book = openpyxl.load_workbook(path)
    result = {}
    for ws in book.worksheets:
        result[ws.title] = {
            "values": [[c.value for c in row] for row in ws.iter_rows()],
            "formats": {c.coordinate: c.number_format for row in ws.iter_rows(max_row=50) for c in row},
            "validations": sorted((dv.type, dv.operator, dv.formula1, str(dv.sqref))
                                  for dv in ws.data_validations.dataValidation),
            "freeze": ws.freeze_panes,
        }
    return result


def test_committed_xlsx_template_matches_what_the_command_writes(tmp_path):
    out = io.StringIO()
    assert main(["template", str(tmp_path / "t.xlsx")], stdout=out, stderr=io.StringIO()) == 0
    said = out.getvalue()
    # The example stack is refused as it is (see below): never created, even so.
    assert "refused until replaced, so it never reaches the server" in said
    # The path the template is for: check, then a dry run and a sync that create new stacks
    # (a new user followed "sync --dry-run" and every row of a new stack was refused).
    assert said.index("layer-sync check") < said.index("--dry-run --create-samples") \
        < said.rindex("sync ") and "A new stack: leave sample_id blank" in said
    assert _cells(tmp_path / "t.xlsx") == _cells(TEMPLATES / "layer_stacks_template.xlsx")


def test_committed_csv_template_matches_what_the_command_writes(tmp_path):
    assert main(["template", str(tmp_path / "t.csv")], stdout=io.StringIO(), stderr=io.StringIO()) == 0
    assert (tmp_path / "t.csv").read_bytes() == (TEMPLATES / "layer_stacks_template.csv").read_bytes()


def test_xlsx_template_layout():
    book = openpyxl.load_workbook(TEMPLATES / "layer_stacks_template.xlsx")
    assert book.sheetnames == ["Layers", "Instructions"]
    ws = book["Layers"]
    assert [c.value for c in ws[1]] == list(ALL_FIELDS)
    assert ws.freeze_panes == "A2" and ws["A1"].font.bold
    # Text-like columns are text, in the example rows and in the empty rows below them.
    for letter in "GHI":  # orientation, space_group, mp_id
        assert ws[f"{letter}2"].number_format == "@" and ws[f"{letter}40"].number_format == "@"
    assert ws["G2"].value == "001" and ws["G2"].data_type == "s"
    (layer_rule,) = [dv for dv in ws.data_validations.dataValidation if "D2" in str(dv.sqref)]
    assert (layer_rule.type, layer_rule.operator, layer_rule.formula1) == ("whole", "greaterThanOrEqual", "1")
    text = " ".join(str(c.value) for row in book["Instructions"].iter_rows() for c in row if c.value)
    assert "blank cell leaves the server's value alone" in text
    for name in ALL_FIELDS:
        assert name in text


@pytest.mark.parametrize("name", ["layer_stacks_template.xlsx", "layer_stacks_template.csv"])
def test_templates_example_is_refused_and_a_renamed_one_syncs_then_converges(sandbox, name,
                                                                             tmp_path):
    data = read_stacks(TEMPLATES / name)
    assert [r.values["layer_id"] for r in data.rows] == [1, 2, 3]
    # The example stack left in a sheet is never created (found by a new-user trial); a CSV's
    # first line is the note about spreadsheet programs, a title row above the header.
    top = 2 if name.endswith(".csv") else 1
    assert data.header_row == top
    assert [(i.row, i.cell, i.severity) for i in data.issues] == [
        (r, f"B{top + 1}", "error") for r in range(top + 1, top + 4)]
    assert all("template's example stack" in i.message for i in data.issues)
    copy = tmp_path / name  # a copy: another run syncing the committed file holds its lock
    copy.write_bytes((TEMPLATES / name).read_bytes())
    refused = sync_file(copy, api_key=API_KEY, api_url=sandbox.url, report=False,
                        create_samples=True)
    assert refused.exit_code == 1 and refused.counts["invalid"] == 3
    assert refused.requests == {"GET": 1}  # nothing sent
    if name.endswith(".csv"):
        copy.write_text(copy.read_text(encoding="utf-8").replace(EXAMPLE_SAMPLE_NAME, "BTO on STO"),
                        encoding="utf-8")
    else:
        book = openpyxl.load_workbook(copy)
        book["Layers"]["B2"] = "BTO on STO"
        book.save(copy)
    assert read_stacks(copy).issues == []
    first = sync_file(copy, api_key=API_KEY, api_url=sandbox.url, report=False,
                      create_samples=True)
    assert first.exit_code == 0 and first.counts["created"] == 3
    again = sync_file(copy, api_key=API_KEY, api_url=sandbox.url, report=False,
                      create_samples=True)
    assert again.counts["unchanged"] == 3 and again.requests == {"GET": 1}


def test_template_refuses_to_overwrite_without_force(tmp_path):
    path = tmp_path / "mine.xlsx"
    path.write_text("precious")
    err = io.StringIO()
    assert main(["template", str(path)], stdout=io.StringIO(), stderr=err) == 2
    assert "--force" in err.getvalue() and path.read_text() == "precious"
    assert main(["template", str(tmp_path / "x.pdf")], stdout=io.StringIO(), stderr=err) == 2


def test_templates_have_the_users_umask(tmp_path):
    import os
    import stat

    previous = os.umask(0o002)  # this test's process setting, put back below
    try:
        for name in ("t.csv", "t.xlsx"):
            assert main(["template", str(tmp_path / name)], stdout=io.StringIO(),
                        stderr=io.StringIO()) == 0
    finally:
        os.umask(previous)
    assert {stat.S_IMODE((tmp_path / n).stat().st_mode) for n in ("t.csv", "t.xlsx")} == {0o664}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.xlsx"]  # no temporary file


def test_a_template_that_cannot_be_written_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    """A full disk: one line and exit 2, no temporary file, nothing from Python at exit."""
    import errno

    from layer_sync.report import writer as paths

    real = os.fdopen

    class Full:
        def __init__(self, handle):
            self.handle = handle

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    monkeypatch.setattr(paths.os, "fdopen", lambda fd, *a, **k: Full(real(fd, *a, **k)))
    err = io.StringIO()
    assert main(["template", str(tmp_path / "t.xlsx")], stdout=io.StringIO(), stderr=err) == 2
    assert "No space left on device" in err.getvalue() and list(tmp_path.iterdir()) == []
