"""`layer-sync export`: the server's stacks as an input sheet that syncs back with no writes."""

from __future__ import annotations

import io

import openpyxl
import pytest

from layer_sync.cli import main
from layer_sync.samples import SEED
from layer_sync.sync import sync_file

from .conftest import API_KEY

ENV = {"ATOMSCALE_API_KEY": API_KEY}


@pytest.fixture
def stocked(sandbox):
    sandbox.store.seed([dict(e) for e in SEED])
    # A value a spreadsheet would take for a formula, and a duplicate record on the server.
    sandbox.store.seed([{"id": 2001, "sample_id": 104, "sample_name": "=1+2", "substrate": "Si",
                         "layer_id": 1, "composition_string": "Si", "orientation": "0 0 1"}])
    sandbox.store.seed([{"id": 2002, "sample_id": 104, "sample_name": "=1+2", "substrate": "Si",
                         "layer_id": 1, "composition_string": "Si", "orientation": "111"}])
    sandbox.stats.reset()
    return sandbox


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_export_then_sync_back_makes_no_writes(stocked, tmp_path, suffix):
    path = tmp_path / f"export{suffix}"
    out = io.StringIO()
    code = main(["export", str(path), "--api-url", stocked.url], environ=ENV, stdout=out,
                stderr=io.StringIO())
    assert code == 0
    assert "Exported 6 layers of 3 target materials" in out.getvalue()
    assert "1 target material(s) without layers" in out.getvalue()
    assert "1 duplicate layer record" in out.getvalue()
    stocked.stats.reset()
    outcome = sync_file(path, api_key=API_KEY, api_url=stocked.url, report=False)
    assert outcome.exit_code == 0, [i.message for i in outcome.issues]
    assert outcome.counts["unchanged"] == 6 and outcome.requests == {"GET": 1}


def test_exported_workbook_keeps_text_as_text(stocked, tmp_path):
    path = tmp_path / "export.xlsx"
    assert main(["export", str(path), "--api-url", stocked.url], environ=ENV,
                stdout=io.StringIO(), stderr=io.StringIO()) == 0
    ws = openpyxl.load_workbook(path)["Layers"]
    rows = {(r[0].value, r[3].value): r for r in ws.iter_rows(min_row=2)}
    assert rows[(101, 1)][6].value == "001" and rows[(101, 1)][6].data_type == "s"
    assert rows[(101, 1)][6].number_format == "@"
    assert rows[(101, 1)][5].value is None  # element_dict: what the formula gives, left blank
    formula_like = rows[(104, 1)][1]
    assert formula_like.value == "=1+2" and formula_like.data_type == "s"  # never a formula
    assert rows[(104, 1)][6].value == "0 0 1"  # the lowest id's record, as the server has it


def test_export_refuses_to_overwrite_and_needs_a_key(stocked, tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("precious")
    err = io.StringIO()
    assert main(["export", str(path), "--api-url", stocked.url], environ=ENV,
                stdout=io.StringIO(), stderr=err) == 2
    assert path.read_text() == "precious" and "--force" in err.getvalue()
    err = io.StringIO()
    assert main(["export", str(tmp_path / "n.csv"), "--api-url", stocked.url], environ={},
                stdout=io.StringIO(), stderr=err) == 2
    assert "ATOMSCALE_API_KEY" in err.getvalue()
