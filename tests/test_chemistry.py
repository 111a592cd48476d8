"""Fields that belong together: a formula and its element counts are never sent apart, and a
row whose two halves contradict each other is an error (nothing of it is sent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from layer_sync.plan.actions import CREATE, INVALID, UNCHANGED, UPDATE
from layer_sync.plan.build import build_plan
from layer_sync.read.stacks import read_stacks
from layer_sync.rules import values
from layer_sync.tools.export import element_dict_cell


def _sheet(tmp_path: Path, text: str):
    path = tmp_path / "s.csv"
    path.write_text(text, encoding="utf-8")
    return read_stacks(path)


def _layer(layer_id: int, composition: str | None, elements=None, **fields):
    return {"id": 10 + layer_id, "sample_id": 1, "sample_name": "S", "substrate": "SrTiO3",
            "layer_id": layer_id, "composition_string": composition, "element_dict": elements,
            "orientation": None, "space_group": None, "mp_id": None, **fields}


STO = {"Sr": 1, "Ti": 1, "O": 3}
SERVER = [_layer(1, "SrTiO3", STO), _layer(2, "SrO", {"Sr": 1, "O": 1})]
HEADER = "sample_id,layer_id,composition_string,element_dict\n"


def test_a_contradiction_is_an_error_and_nothing_of_the_row_is_sent(tmp_path):
    data = _sheet(tmp_path, HEADER + '1,1,SrRuO3,"Sr:1, Ti:1, O:3"\n1,3,SrRuO3,"Sr:1, Ti:1, O:3"\n')
    plan = build_plan(data, SERVER)
    for action in plan.actions:
        assert action.kind == INVALID and action.body == {}
        assert "does not match composition_string 'SrRuO3'" in action.message
        assert "leave element_dict blank" in action.message
    # The reader reports the contradiction on its cell; the plan does not say it twice.
    errors = [i for a in plan.actions for i in a.errors]
    assert [(i.row, i.cell) for i in errors] == [(2, "D2"), (3, "D3")]


def test_counts_or_proportions_that_agree_are_not_a_contradiction(tmp_path):
    data = _sheet(tmp_path, HEADER + '1,1,SrTiO3,"Sr:1, Ti:1, O:3"\n'
                                     '1,3,SrTiO3,"{""Sr"": 0.2, ""Ti"": 0.2, ""O"": 0.6}"\n')
    plan = build_plan(data, SERVER)
    assert [a.kind for a in plan.actions] == [UNCHANGED, CREATE]
    assert plan.actions[1].body["element_dict"] == {"Sr": 0.2, "Ti": 0.2, "O": 0.6}


def test_a_changed_formula_takes_the_managed_element_dict_along(tmp_path):
    # The server holds SrO with counts {Sr: 1, O: 1}; the sheet says Sr2O2 with the same
    # counts, which agree with the formula by proportion. Were the formula sent alone, the
    # server would derive {Sr: 2, O: 2} and the next run would PATCH the counts back.
    data = _sheet(tmp_path, HEADER + '1,2,Sr2O2,"Sr:1, O:1"\n')
    (action,) = build_plan(data, SERVER).actions
    assert action.kind == UPDATE
    assert [c.field for c in action.changes] == ["composition_string"]
    assert action.body == {"sample_id": 1, "layer_id": 2, "composition_string": "Sr2O2",
                           "element_dict": {"Sr": 1, "O": 1}}


def test_a_changed_element_dict_takes_the_managed_formula_along(tmp_path):
    data = _sheet(tmp_path, HEADER + '1,1,SrTiO3,"Sr:2, Ti:2, O:6"\n')
    (action,) = build_plan(data, SERVER).actions
    assert action.kind == UPDATE
    assert action.body == {"sample_id": 1, "layer_id": 1, "composition_string": "SrTiO3",
                           "element_dict": {"Sr": 2, "Ti": 2, "O": 6}}


def test_a_changed_formula_alone_is_sent_alone(tmp_path):
    # The sheet does not manage element_dict: the server derives it from the new formula.
    data = _sheet(tmp_path, HEADER + "1,1,SrRuO3,\n")
    (action,) = build_plan(data, SERVER).actions
    assert action.body == {"sample_id": 1, "layer_id": 1, "composition_string": "SrRuO3"}


def test_an_element_dict_sent_alone_must_agree_with_the_servers_formula(tmp_path):
    data = _sheet(tmp_path, HEADER + '1,1,,"Sr:1, Ru:1, O:3"\n1,2,,"Sr:2, O:2"\n')
    plan = build_plan(data, SERVER)
    wrong, agreeing = plan.actions
    assert wrong.kind == INVALID and wrong.body == {}
    assert "the server's composition_string 'SrTiO3'" in wrong.message
    assert agreeing.kind == UPDATE
    assert agreeing.body == {"sample_id": 1, "layer_id": 2, "element_dict": {"Sr": 2, "O": 2}}


def test_the_readers_own_contradiction_error_is_not_repeated(tmp_path):
    data = _sheet(tmp_path, HEADER + '1,1,SrRuO3,"Sr:1, Ti:1, O:3"\n')
    row = data.rows[0]
    # What the reader reports once its rule says "error" (sheet.py's _check_row):
    row.add("error", "element_dict", values.composition_conflict("SrRuO3", STO))
    (action,) = build_plan(data, SERVER).actions
    assert action.kind == INVALID and action.issues == []


@pytest.mark.parametrize("record,cell,contradicts", [
    ({"composition_string": "SrTiO3", "element_dict": STO}, None, False),
    ({"composition_string": "Ba1Ti1O3", "element_dict": '{"O": 3.0, "Ba": 1, "Ti": 1}'}, None, False),
    ({"composition_string": "La0.7Sr0.3MnO3",
      "element_dict": {"La": 0.7, "Sr": 0.3, "Mn": 1, "O": 3}}, None, False),
    # Proportions, not the formula's counts: kept, so that syncing back changes nothing.
    ({"composition_string": "SrTiO3", "element_dict": {"Sr": 0.2, "Ti": 0.2, "O": 0.6}},
     {"Sr": 0.2, "Ti": 0.2, "O": 0.6}, False),
    ({"composition_string": None, "element_dict": STO}, STO, False),
    ({"composition_string": "SrRuO3", "element_dict": STO}, STO, True),
    ({"composition_string": "SrTiO3", "element_dict": None}, None, False),
])
def test_export_leaves_element_dict_blank_where_the_formula_gives_it(record, cell, contradicts):
    assert element_dict_cell(record) == (cell, contradicts)


@pytest.mark.parametrize("field,sheet,server", [
    ("composition_string", "BaTiO3", "Ba1Ti1O3"),
    ("composition_string", "(Ba0.5Sr0.5)TiO3", "Ba0.5Sr0.5TiO3"),
    ("element_dict", {"O": 3, "Ti": 1, "Ba": 1}, '{"Ba": 1.0, "Ti": 1, "O": 3}'),
    ("orientation", "001", "(0 0 1)"),
    ("space_group", "P4mm", 99),
    ("space_group", "Pm-3m", "P m -3 m"),
    ("mp_id", "mp-5229", " MP-5229 "),
])
def test_same_meaning_is_not_a_change(field, sheet, server):
    assert values.same(field, sheet, server)


@pytest.mark.parametrize("field,sheet,server", [
    ("composition_string", "BaTiO3", "SrTiO3"),
    ("composition_string", "Sr2O2", "SrO"),  # same proportions, other amounts
    ("element_dict", {"Sr": 2, "O": 2}, {"Sr": 1, "O": 1}),
    ("orientation", "001", "111"),
    ("orientation", "001", "garbage"),
    ("space_group", "P4mm", "Pm-3m"),
    ("mp_id", "mp-5229", "mp-5228"),
    ("composition_string", "SrTiO3", None),
    ("composition_string", "SrTiO3", "  "),
])
def test_different_meaning_is_a_change(field, sheet, server):
    assert not values.same(field, sheet, server)
