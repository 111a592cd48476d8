"""The plan, on its own: sheet rows + server records -> create / update / unchanged / invalid."""

from __future__ import annotations

from pathlib import Path

import pytest

from layer_sync.plan.actions import CREATE, INVALID, UNCHANGED, UPDATE
from layer_sync.plan.build import build_plan
from layer_sync.read.stacks import read_stacks


def _sheet(tmp_path: Path, text: str):
    path = tmp_path / "s.csv"
    path.write_text(text, encoding="utf-8")
    return read_stacks(path)


def plan_issues(entries, data):
    return build_plan(data, entries).issues


def _entry(sample_id, layer_id, record_id=None, name="S", substrate="SrTiO3", **fields):
    return {"id": record_id, "sample_id": sample_id, "sample_name": name, "substrate": substrate,
            "layer_id": layer_id, "composition_string": None, "element_dict": None,
            "orientation": None, "space_group": None, "mp_id": None, **fields}


SERVER = [
    _entry(1, 1, 10, composition_string="SrTiO3", element_dict={"Sr": 1, "Ti": 1, "O": 3},
           orientation="001", space_group="Pm-3m", mp_id="mp-5229"),
    _entry(1, 2, 11, composition_string="BaTiO3", orientation="001"),
    _entry(1, 3, 12, composition_string="SrRuO3"),
    _entry(2, None, None, name="Empty", substrate="MgO"),
    _entry(3, 1, 30, name="Other", composition_string="Si"),
]


def test_each_row_becomes_create_update_unchanged_or_invalid(tmp_path):
    data = _sheet(tmp_path, "sample_id,layer_id,composition_string,orientation\n"
                            "1,1,SrTiO3,001\n"      # unchanged
                            "1,2,BaTiO3,111\n"      # orientation changed
                            "1,4,LaAlO3,(0 0 1)\n"  # new
                            "2,1,MgO,\n"            # new layer in an empty target material
                            "1,5,batio3,001\n")     # invalid
    plan = build_plan(data, SERVER)
    assert [a.kind for a in plan.actions] == [UNCHANGED, UPDATE, CREATE, CREATE, INVALID]
    update = plan.actions[1]
    assert update.body == {"sample_id": 1, "layer_id": 2, "orientation": "111"}
    assert [str(c) for c in update.changes] == ["orientation: 001 \u2192 111"]
    assert plan.actions[2].body == {"sample_id": 1, "layer_id": 4, "composition_string": "LaAlO3",
                                    "orientation": "001"}
    assert plan.actions[3].body == {"sample_id": 2, "layer_id": 1, "composition_string": "MgO"}
    assert "capital" in plan.actions[4].message
    # Layer 3 of sample 1 is on the server but not in the sheet: remote-only, never deleted.
    assert [(r["sample_id"], r["layer_id"]) for r in plan.remote_only] == [(1, 3)]


def test_blank_cells_are_not_managed_and_server_enrichment_causes_no_patch(tmp_path):
    data = _sheet(tmp_path, "sample_id,layer_id,composition_string,element_dict,space_group,mp_id\n"
                            "1,1,SrTiO3,,,\n")
    (action,) = build_plan(data, SERVER).actions
    assert action.kind == UNCHANGED


def test_comparison_is_by_meaning(tmp_path):
    data = _sheet(tmp_path, "sample_id,layer_id,composition_string,element_dict,orientation,space_group,mp_id\n"
                            '1,1,Sr1Ti1O3,"O:3, Ti:1, Sr:1",(0 0 1),221,MP-5229\n')
    (action,) = build_plan(data, SERVER).actions
    assert action.kind == UNCHANGED, action.changes


def test_only_differing_fields_are_patched(tmp_path):
    data = _sheet(tmp_path, "sample_id,layer_id,composition_string,space_group,mp_id\n"
                            "1,1,SrTiO3,P4mm,mp-5229\n")
    (action,) = build_plan(data, SERVER).actions
    assert action.kind == UPDATE
    assert action.body == {"sample_id": 1, "layer_id": 1, "space_group": "P4mm"}


@pytest.mark.parametrize("cells, kept", [
    ("BaTiO3,Pm-3m,mp-5229", ["space_group Pm-3m", "mp_id mp-5229"]),  # an exported row, edited
    ("BaTiO3,,mp-5229", ["mp_id mp-5229"]),
    ("BaTiO3,P4mm,mp-5986", []),   # all three changed together: nothing to check
    ("BaTiO3,,", []),               # the sheet does not manage them
    ("SrTiO3,Pm-3m,mp-5229", []),   # the composition does not change
])
def test_a_new_composition_beside_unchanged_identifiers_is_a_warning(tmp_path, cells, kept):
    data = _sheet(tmp_path, "sample_id,layer_id,composition_string,space_group,mp_id\n"
                            f"1,1,{cells}\n")
    (action,) = build_plan(data, SERVER).actions
    warnings = [i for i in action.issues if i.severity == "warning"]
    if not kept:
        assert warnings == []
        return
    # The update goes ahead as the sheet says; the warning names the cells that stayed.
    assert action.kind == UPDATE and action.body["composition_string"] == "BaTiO3"
    (warning,) = warnings
    assert "SrTiO3 to BaTiO3" in warning.message and all(k in warning.message for k in kept)
    assert warning.column == "mp_id"  # the first cell to check


def test_samples_named_by_name_resolve_or_become_row_issues(tmp_path):
    server = SERVER + [_entry(4, 1, 40, name="Twin", substrate="Si", composition_string="Si"),
                       _entry(5, 1, 50, name="Twin", substrate="MgO")]
    data = _sheet(tmp_path, "sample_name,substrate,layer_id,composition_string\n"
                            "Other,,1,Si\n"        # unique name
                            "twin,Si,1,Si\n"       # substrate tells the twins apart (case ignored)
                            "Twin,,2,Si\n"         # ambiguous
                            "Nobody,Si,1,Si\n")    # unknown
    plan = build_plan(data, server)
    kinds = [(a.kind, a.sample_id) for a in plan.actions]
    assert kinds == [(UNCHANGED, 3), (UNCHANGED, 4), (INVALID, None), (INVALID, None)]
    assert "2 target materials are named 'Twin'" in plan.actions[2].message
    assert "--create-samples" in plan.actions[3].message
    issue = plan.actions[3].errors[0]
    assert issue.cell == "A5" and issue in plan.issues
    assert plan.actions[3].row.issues == []  # the reader's row is left as read


def test_unknown_sample_id_is_a_row_issue(tmp_path):
    data = _sheet(tmp_path, "sample_id,layer_id,composition_string\n99,1,Si\n")
    (action,) = build_plan(data, SERVER).actions
    assert action.kind == INVALID and "99 is not on the server" in action.message


def test_create_samples_groups_the_layers_of_a_new_target_material(tmp_path):
    data = _sheet(tmp_path, "sample_name,substrate,layer_id,composition_string\n"
                            "New stack,SrTiO3,1,SrTiO3\n,,2,BaTiO3\n\nAnother,Si,1,Si\n")
    plan = build_plan(data, SERVER, create_samples=True)
    assert [a.kind for a in plan.actions] == [CREATE, CREATE, CREATE]
    assert [(g.sample_name, g.substrate, [a.layer_id for a in g.actions]) for g in plan.new_samples] == [
        ("New stack", "SrTiO3", [1, 2]), ("Another", "Si", [1])]


def test_server_duplicates_warn_and_compare_with_the_lowest_id(tmp_path):
    server = [_entry(1, 1, 21, composition_string="BaTiO3"), _entry(1, 1, 20, composition_string="SrTiO3")]
    data = _sheet(tmp_path, "sample_id,layer_id,composition_string\n1,1,SrTiO3\n")
    (action,) = build_plan(data, server).actions
    assert action.kind == UNCHANGED and action.record["id"] == 20
    (warning,) = action.issues
    assert warning.severity == "warning" and "2 times" in warning.message
    assert action.row.issues == [] and plan_issues(server, data) == [warning]


def test_the_same_layer_named_by_id_and_by_name_is_a_duplicate(tmp_path):
    data = _sheet(tmp_path, "sample_id,sample_name,layer_id,composition_string\n"
                            "3,,1,Si\n\n,Other,1,Si\n")
    plan = build_plan(data, SERVER)
    assert [a.kind for a in plan.actions] == [INVALID, INVALID]


def test_remote_only_covers_samples_named_by_invalid_rows_too(tmp_path):
    data = _sheet(tmp_path, "sample_id,layer_id,orientation\n3,2,1\n")  # invalid orientation
    plan = build_plan(data, SERVER)
    assert plan.actions[0].kind == INVALID
    assert [(r["sample_id"], r["layer_id"]) for r in plan.remote_only] == [(3, 1)]


@pytest.mark.parametrize("entries,kind", [
    # Entries with no usable sample_id name no target material: sample 1 is not on the server.
    ([{"sample_id": None}, {"layer_id": 1}, {"sample_id": "x", "layer_id": 1}], INVALID),
    # A field this tool does not know: still the same layer.
    ([{**_entry(1, 1, 10), "brand_new_field": {"x": 1}}], UNCHANGED),
    # Ids sent as text or as floats are not what the API documents: not guessed at (the layer
    # is left alone), never taken for another layer and created again.
    ([{**_entry(1, 1, 10), "layer_id": "1"}], INVALID),
    ([{**_entry(1, 1, 10), "sample_id": 1.0, "layer_id": 1.0}], INVALID),
])
def test_odd_server_entries_are_handled(tmp_path, entries, kind):
    data = _sheet(tmp_path, "sample_id,layer_id\n1,1\n")
    plan = build_plan(data, entries)
    assert plan.actions[0].kind == kind
    if kind == INVALID:
        assert ("sample_id 1 is not on the server" in plan.actions[0].message
                or "shape the API documents" in plan.actions[0].message)


# ---------------------------------------------------------------- identity cross-check

IDENTITY_SERVER = [_entry(101, 1, 1, name="BTO on STO", substrate="SrTiO3", composition_string="BaTiO3"),
                   _entry(102, 1, 2, name="LSMO on LAO", substrate="LaAlO3", composition_string="SrTiO3")]


def test_a_sample_id_whose_name_is_another_target_materials_is_an_error(tmp_path):
    data = _sheet(tmp_path, "sample_id,sample_name,substrate,layer_id,composition_string\n"
                            "101,LSMO on LAO,LaAlO3,1,BaTiO3\n"
                            "101, bto ON sto ,srtio3,2,SrTiO3\n"  # case and outer spaces ignored
                            "101,,LaAlO3,3,SrTiO3\n")             # substrate alone differs
    plan = build_plan(data, IDENTITY_SERVER)
    wrong, fine, wrong_substrate = plan.actions
    assert wrong.kind == INVALID and wrong.body == {}
    assert wrong.message == ("sample_id 101 is 'BTO on STO' on SrTiO3 on the server, but this row "
                             "says 'LSMO on LAO' on LaAlO3; check the sample_id, or run with "
                             "--update-samples to rename target material 101")
    assert wrong.errors[0].cell == "B2"
    assert fine.kind == CREATE
    assert wrong_substrate.kind == INVALID and "this row says substrate LaAlO3" in wrong_substrate.message
    assert wrong_substrate.errors[0].cell == "C4"
    assert plan.sample_updates == []


def test_update_samples_renames_each_target_material_once(tmp_path):
    data = _sheet(tmp_path, "sample_id,sample_name,substrate,layer_id,composition_string\n"
                            "101,BTO on STO (2026),SrTiO3,1,BaTiO3\n"
                            "101,BTO on STO (2026),SrTiO3,2,SrTiO3\n"
                            "102,LSMO on LAO,LaAlO3,1,SrTiO3\n")
    plan = build_plan(data, IDENTITY_SERVER, update_samples=True)
    assert [a.kind for a in plan.actions] == [UNCHANGED, CREATE, UNCHANGED]
    (update,) = plan.sample_updates
    assert (update.sample_id, update.changes, update.old) == (
        101, {"sample_name": "BTO on STO (2026)"}, {"sample_name": "BTO on STO"})
    assert update.actions == plan.actions[:2]
    assert plan.actions[0].sample_update is update and plan.actions[2].sample_update is None
    assert update.describe() == "sample_name: BTO on STO \u2192 BTO on STO (2026)"
    assert plan.issues == []


def test_update_samples_refuses_rows_that_disagree_about_one_target_material(tmp_path):
    data = _sheet(tmp_path, "sample_id,sample_name,substrate,layer_id,composition_string\n"
                            "101,First name,MgO,1,BaTiO3\n"
                            "101,Second name,mgo,2,SrTiO3\n"
                            "\n101,,,3,SrTiO3\n")  # a new stack: the sample columns are not filled down
    plan = build_plan(data, IDENTITY_SERVER, update_samples=True)
    first, second, third = plan.actions
    assert first.kind == second.kind == INVALID
    assert "give different sample_names ('First name', 'Second name')" in first.message
    # The substrate they agree on is still a rename; the third row goes ahead with it.
    (update,) = plan.sample_updates
    assert update.changes == {"substrate": "MgO"} and update.actions == [third]
    assert third.kind == CREATE


# ---------------------------------------------------------------- one duplicate rule

def test_duplicate_keys_groups_items_sharing_a_key():
    from layer_sync.rules.duplicates import duplicate_keys

    found = duplicate_keys(["a1", "b1", "a2", "a3", "c1", "b2"], lambda s: s[0] if s[0] != "c" else None)
    assert found == {"a": ["a1", "a2", "a3"], "b": ["b1", "b2"]}
    assert duplicate_keys(["x", "c"], lambda s: None) == {}


def test_the_sheet_alone_finds_duplicates_as_the_sheet_names_them(tmp_path):
    from layer_sync.read.rows import sheet_duplicates

    data = _sheet(tmp_path, "sample_id,sample_name,layer_id\n"
                            "3,,1\n3,,1\n,Other,1\n,other,1\n3,,2\n")
    issues = sheet_duplicates(data.rows)
    assert [(i.row, i.cell, i.severity) for i in issues] == [
        (2, "C2", "error"), (3, "C3", "error"), (4, "C4", "error"), (5, "C5", "error")]
    assert issues[0].message == ("layer 1 of sample 3 appears on rows 2, 3; keep one row per "
                                 "layer (none of them is sent)")
    assert issues[2].message.startswith("layer 1 of sample 'Other' appears on rows 4, 5")


def test_the_plan_finds_duplicates_by_the_resolved_key_once_per_row(tmp_path):
    data = _sheet(tmp_path, "sample_id,sample_name,layer_id,composition_string\n"
                            "3,,1,Si\n\n,Other,1,Si\n\n,New one,1,Si\n\n,new one,1,Si\n")
    plan = build_plan(data, SERVER, create_samples=True)
    assert [a.kind for a in plan.actions] == [INVALID] * 4
    messages = [i.message for i in plan.issues]
    assert messages[:2] == ["layer 1 of sample 3 appears on rows 2, 4; keep one row per layer "
                            "(none of them is sent)"] * 2
    assert messages[2:] == ["layer 1 of new target material 'new one' appears on rows 6, 8; "
                            "keep one row per layer (none of them is sent)"] * 2
    assert plan.new_samples == []


def test_the_readers_and_the_plans_issues_merge_in_sheet_order(tmp_path):
    from layer_sync.plan.build import merge_issues

    data = _sheet(tmp_path, "sample_id,layer_id,orientation\n99,1,001\n1,2,1\n99,2,1120\n")
    plan = build_plan(data, SERVER)
    merged = merge_issues(data.issues, plan)
    # The file's note first (a CSV whose orientations a spreadsheet changed); row 4: the
    # reader's warning (four-index notation), then the plan's error.
    assert [(i.row, i.column, i.severity) for i in merged] == [
        (None, None, "warning"), (2, "sample_id", "error"), (3, "orientation", "error"), (4, "orientation", "warning"),
        (4, "sample_id", "error")]


def test_the_sheet_alone_lists_its_issues_in_sheet_order(tmp_path):
    from layer_sync.read.rows import sheet_issues

    data = _sheet(tmp_path, "sample_id,layer_id,orientation\n3,1,001\n3,2,1\n3,1,001\n")
    note, *issues = sheet_issues(data)  # the file's own first: a CSV's changed orientation
    assert note.row is None and "in this CSV" in note.message
    found = [(i.row, i.column) for i in issues]
    assert {(2, "layer_id"), (3, "orientation"), (4, "layer_id")} <= set(found)
    assert [row for row, _ in found] == sorted(row for row, _ in found)


def test_a_layer_the_server_holds_thousands_of_times_names_ten_ids_not_all(tmp_path):
    data = _sheet(tmp_path, "sample_id,layer_id,composition_string\n1,1,SrTiO3\n")
    entries = [_entry(1, 1, record_id=i, composition_string="SrTiO3") for i in range(1, 5557)]
    (issue,) = plan_issues(entries, data)
    assert "5556 times (record ids 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 5,546 more)" in issue.message
    assert len(issue.message) < 300


def test_ids_past_what_the_api_stores_name_no_record():
    """A 10**400 layer_id (or one past 2**31 - 1) is no id: it is never indexed, so neither
    the plan nor export (whose workbook it made fail) sees a layer there."""
    from layer_sync.plan.records import ServerIndex

    entries = [_entry(1, 10 ** 400, 5000), _entry(1, 2 ** 31, 5001), _entry(1, "1e400", 5002),
               _entry(10 ** 20, 1, 5003), _entry(1, 2, 5004)]
    index = ServerIndex.build(entries)
    assert list(index.layers) == [(1, 2)] and list(index.samples) == [1]


# ------------------------------------------------------------------ odd server records

ODD_FIELDS = [
    {"layer_id": "2"}, {"layer_id": 2.0}, {"layer_id": True}, {"layer_id": {"n": 2}},
    {"layer_id": [2]}, {"sample_id": "1"}, {"sample_id": 1.0}, {"id": "11"}, {"id": 1.5},
    {"composition_string": 7}, {"orientation": ["0", "0", "1"]}, {"element_dict": "Ba:1"},
    {"element_dict": {"Ba": "1"}}, {"element_dict": {"Ba": float("nan")}}, {"mp_id": False},
    {"layer_id": 2**40}, {"sample_name": 5},
]


@pytest.mark.parametrize("odd", ODD_FIELDS, ids=lambda o: repr(o)[:30])
def test_a_record_of_odd_shape_makes_its_layer_unplannable_never_new(tmp_path, odd):
    """A record whose ids or fields are not what the API documents is not guessed at: the row
    for the layer it may be is invalid (nothing sent), never a create of a second copy."""
    record = {**_entry(1, 2, 11, composition_string="BaTiO3", orientation="001"), **odd}
    entries = [_entry(1, 1, 10, composition_string="SrTiO3"), record]
    data = _sheet(tmp_path, "sample_id,layer_id,composition_string\n1,1,SrTiO3\n1,2,BaTiO3\n")
    plan = build_plan(data, entries)
    first, second = plan.actions
    assert second.kind == INVALID and second.body == {}
    assert "does not have the shape the API documents" in second.message
    assert any(i.row is None and "left alone" in i.message for i in plan.issues)
    layer = odd.get("layer_id", 2)
    if (not set(odd) & {"sample_id", "sample_name"} and type(layer) in (int, str, float)
            and 0 < int(layer) < 2**31):
        assert first.kind == UNCHANGED  # its neighbour, read whole, is planned as usual


def test_an_entry_that_is_no_object_stops_every_create_but_not_the_rest(tmp_path):
    entries = [_entry(1, 1, 10, composition_string="SrTiO3"), "garbage", 42]
    data = _sheet(tmp_path, "sample_id,layer_id,composition_string\n1,1,MgO\n1,2,BaTiO3\n")
    plan = build_plan(data, entries)
    kinds = [a.kind for a in plan.actions]
    assert kinds == [INVALID, INVALID]  # which layer a bare 42 is cannot be told
    assert all("an entry is" in a.message for a in plan.actions)


def test_an_odd_record_of_a_target_material_to_create_holds_it_back(tmp_path):
    entries = [{"id": None, "sample_id": "7", "sample_name": "New stack", "substrate": None,
                "layer_id": None}]
    data = _sheet(tmp_path, "sample_name,layer_id,composition_string\nNew stack,1,MgO\n")
    plan = build_plan(data, entries, create_samples=True)
    assert plan.actions[0].kind == INVALID and plan.new_samples == []


def test_records_of_the_documented_shape_are_all_read(tmp_path):
    from layer_sync.plan.records import ServerIndex, shape_problem

    assert all(shape_problem(e) is None for e in SERVER)
    assert ServerIndex.build(SERVER).odd == []
