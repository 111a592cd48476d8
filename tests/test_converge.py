"""A sync converges: for any sheet the tool accepts, a second run against a server that
enriches layers (derives element_dict from the formula) makes no writes, and the server
never ends with a formula and element counts that contradict each other."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import layer_sync
from layer_sync.rules import values
from layer_sync.sandbox import SandboxServer
from layer_sync.sandbox.store import Store
from layer_sync.tools.export import export_stacks

from .conftest import API_KEY

HEADER = ["sample_id", "sample_name", "substrate", "layer_id", "composition_string",
          "element_dict", "orientation", "space_group", "mp_id"]
SAMPLES = {1: ("Alpha", "SrTiO3"), 2: ("Beta", "MgO"), 3: ("Gamma", "Si")}
FORMULAS = ["SrTiO3", "Sr1Ti1O3", "BaTiO3", "SrRuO3", "La0.7Sr0.3MnO3", "(Ba0.5Sr0.5)TiO3",
            "SrO", "Sr2O2", "CuSO4(H2O)5", "Al2O3", "GaN"]
ORIENTATIONS = ["", "001", "(001)", "0 0 1", "[111]", "1-10", "0001", "11-20"]
SPACE_GROUPS = ["", "P4mm", "99", "Pm-3m", "P 4 m m", "Fm-3m", "221"]
MP_IDS = ["", "mp-5229", "MP-149", "mvc-7"]


#: The server's layers: (sample_id, layer_id) -> formula, with the counts it gives.
SEEDED = {(1, 1): "SrTiO3", (1, 2): "BaTiO3", (2, 1): "SrO"}
#: The same proportions in other amounts: the formula changes, the proportions do not.
SCALED = {"SrTiO3": "Sr2Ti2O6", "BaTiO3": "Ba2Ti2O6", "SrO": "Sr2O2"}


def _seed() -> list[dict]:
    """Consistent records: every element_dict is what its formula gives."""
    entries = []
    for sample_id, (name, substrate) in SAMPLES.items():
        keys = [key for key in SEEDED if key[0] == sample_id]
        for key in keys:
            formula = SEEDED[key]
            entries.append({"id": sample_id * 10 + key[1], "sample_id": sample_id,
                            "sample_name": name, "substrate": substrate, "layer_id": key[1],
                            "composition_string": formula,
                            "element_dict": values.element_counts(formula), "orientation": "001",
                            "space_group": None, "mp_id": None})
        if not keys:
            entries.append({"id": None, "sample_id": sample_id, "sample_name": name,
                            "substrate": substrate, "layer_id": None})
    return entries


def _elements_text(amounts: dict, as_json: bool) -> str:
    if as_json:
        return json.dumps(amounts)
    return ", ".join(f"{k}:{v}" for k, v in amounts.items())


@st.composite
def rows(draw) -> tuple[list[str], str]:
    """One sheet row, and what its element_dict cell is: blank, alone (the row gives no
    formula), agreeing with the row's formula (by counts or proportions) or contradicting it."""
    sample_id = draw(st.sampled_from(sorted(SAMPLES)))
    name, substrate = SAMPLES[sample_id]
    identity = draw(st.sampled_from(["id", "id+name", "name", "name+substrate"]))
    if identity in ("id+name",):
        name = draw(st.sampled_from([name, name.upper(), f"  {name.lower()} "]))
    cells = {"sample_id": str(sample_id) if identity.startswith("id") else "",
             "sample_name": name if identity != "id" else "",
             "substrate": substrate if identity == "name+substrate" else "",
             "layer_id": str(draw(st.integers(1, 2)))}
    on_server = SEEDED.get((sample_id, int(cells["layer_id"])))
    formula = draw(st.sampled_from(["", *FORMULAS, *([SCALED[on_server]] * 4 if on_server else [])]))
    kind = draw(st.sampled_from(["blank", "counts", "proportions", "contradict", "server's"]))
    elements = ""
    if kind == "server's" and on_server:
        # The counts the server holds: with a scaled formula they agree by proportion only,
        # so the new formula alone would make the server derive other counts.
        elements = _elements_text(values.element_counts(on_server), draw(st.booleans()))
    elif kind not in ("blank", "server's"):
        base = formula or draw(st.sampled_from(FORMULAS))
        amounts = values.element_counts(base)
        if kind == "proportions":
            total = sum(amounts.values())
            amounts = {k: round(v / total, 6) for k, v in amounts.items()}
        elif kind == "contradict":
            amounts = values.element_counts(draw(st.sampled_from(
                [f for f in FORMULAS if values.composition_conflict(base, values.element_counts(f))])))
        elements = _elements_text(amounts, draw(st.booleans()))
    cells.update(composition_string=formula, element_dict=elements,
                 orientation=draw(st.sampled_from(ORIENTATIONS)),
                 space_group=draw(st.sampled_from(SPACE_GROUPS)), mp_id=draw(st.sampled_from(MP_IDS)))
    if not elements:
        kind = "blank"
    elif not formula:
        kind = "alone"  # compared with the server's formula by the plan, not with the row's
    elif values.composition_conflict(formula, values.parse_element_dict(elements)):
        kind = "contradict"
    else:
        kind = "agree"
    return [cells[h] for h in HEADER], kind


@pytest.fixture(scope="module")
def server():
    logging.getLogger("layer_sync.sandbox").setLevel(logging.WARNING)
    with SandboxServer(api_key=API_KEY) as sandbox:
        yield sandbox


def _fresh(sandbox: SandboxServer) -> None:
    old, sandbox.store = sandbox.store, Store()
    old.close()
    sandbox.store.seed(_seed())


def _sync(path: Path, sandbox: SandboxServer):
    return layer_sync.sync_file(path, api_key=API_KEY, api_url=sandbox.url, report=False)


def _writes(outcome) -> tuple[int, int]:
    return outcome.requests.get("POST", 0), outcome.requests.get("PATCH", 0)


def _assert_consistent_chemistry(sandbox: SandboxServer) -> None:
    for layer in sandbox.store.layers():
        formula, elements = layer["composition_string"], layer["element_dict"]
        if formula and elements:
            assert values.composition_conflict(formula, elements) is None, layer


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sheet=st.lists(rows(), min_size=1, max_size=6))
def test_a_second_run_makes_no_writes(server, tmp_path, sheet):
    _fresh(server)
    path = tmp_path / "generated.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(cells for cells, _ in sheet)
    first = _sync(path, server)
    assert first.counts["failed"] == 0, [r.message for r in first.results]
    for (_, kind), result in zip(sheet, first.results):
        if kind == "contradict":  # nothing of a contradicting row is sent
            assert result.result == "invalid" and result.action.body == {}
    _assert_consistent_chemistry(server)
    second = _sync(path, server)
    assert _writes(second) == (0, 0), [(r.action.row.row, r.result, r.action.body)
                                       for r in second.results if r.action.body]
    assert second.counts["created"] == second.counts["updated"] == 0


# ---------------------------------------------------------------- export, edit, sync, sync

def _edit_formula(path: Path, layer: tuple[int, int], formula: str) -> None:
    """Change one composition_string cell, as a technician would."""
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as handle:
            table = list(csv.reader(handle))
        # The export's first line is its note about spreadsheet programs; the header follows.
        column, header = table[1].index("composition_string"), table[1]
        for line in table[2:]:
            if (int(line[header.index("sample_id")]), int(line[header.index("layer_id")])) == layer:
                line[column] = formula
        with path.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(table)
        return
    book = openpyxl.load_workbook(path)
    ws = book["Layers"]
    header = [c.value for c in ws[1]]
    for line in ws.iter_rows(min_row=2):
        if (line[header.index("sample_id")].value, line[header.index("layer_id")].value) == layer:
            line[header.index("composition_string")].value = formula
    book.save(path)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_export_edit_one_formula_sync_twice(server, tmp_path, suffix):
    _fresh(server)
    path = tmp_path / f"export{suffix}"
    export_stacks(path, api_key=API_KEY, api_url=server.url)
    _edit_formula(path, (1, 1), "SrRuO3")
    first = _sync(path, server)
    assert first.exit_code == 0, [i.message for i in first.issues]
    assert _writes(first) == (0, 1) and first.counts["updated"] == 1
    second = _sync(path, server)
    assert second.exit_code == 0 and _writes(second) == (0, 0)
    (layer,) = [r for r in server.store.layers() if (r["sample_id"], r["layer_id"]) == (1, 1)]
    assert layer["composition_string"] == "SrRuO3"
    assert layer["element_dict"] == {"Sr": 1, "Ru": 1, "O": 3}


def test_an_old_export_with_element_counts_stops_the_edited_row(server, tmp_path):
    """Files exported before element_dict was left blank carry the old counts: the edited row
    is an error that says what to do, and the server keeps consistent chemistry."""
    _fresh(server)
    path = tmp_path / "old.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([HEADER, ["1", "Alpha", "SrTiO3", "1", "SrRuO3",
                                               '{"Sr": 1, "Ti": 1, "O": 3}', "001", "", ""]])
    outcome = _sync(path, server)
    assert outcome.exit_code == 1 and _writes(outcome) == (0, 0)
    (error,) = [i for i in outcome.issues if i.severity == "error"]
    assert error.cell == "F2" and "leave element_dict blank" in error.message
    _assert_consistent_chemistry(server)


def test_a_wrong_sample_id_is_stopped_and_shown(server, tmp_path):
    _fresh(server)
    path = tmp_path / "wrong.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([HEADER, ["1", "Beta", "", "3", "SrTiO3", "", "", "", ""]])
    outcome = _sync(path, server)
    assert outcome.exit_code == 1 and _writes(outcome) == (0, 0)
    (error,) = outcome.issues
    assert error.cell == "B2" and "sample_id 1 is 'Alpha' on SrTiO3 on the server" in error.message
