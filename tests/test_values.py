"""The value rules of the contract, one rule at a time."""

from __future__ import annotations

import datetime as dt

import pytest

from layer_sync.rules import cells, crystal, values
from layer_sync.rules.cells import ValueProblem
from layer_sync.rules.values import check, same


@pytest.mark.parametrize("raw,expected", [(1, 1), ("1", 1), (1.0, 1), (" 2 ", 2), ("3.0", 3)])
def test_layer_id_accepts_whole_numbers(raw, expected):
    assert check("layer_id", raw).value == expected


@pytest.mark.parametrize("raw", [1.5, "two", 0, -1, True, dt.date(2026, 1, 1), "1.5"])
def test_layer_id_refuses_the_rest(raw):
    with pytest.raises(ValueProblem, match="layer_id"):
        check("layer_id", raw)


@pytest.mark.parametrize("raw", [None, "", "   ", float("nan")])
def test_blank_means_unmanaged(raw):
    for name in values.ALL_FIELDS:
        assert check(name, raw).value is None


@pytest.mark.parametrize("formula", ["BaTiO3", "Ba1Ti1O3", "(Ba0.5Sr0.5)TiO3", "La0.7Sr0.3MnO3",
                                     "Si", "Al2O3", "CuSO4(H2O)5"])
def test_formulas_of_real_elements(formula):
    assert check("composition_string", f" {formula} ").value == formula


@pytest.mark.parametrize("formula,hint", [("batio3", "capital"), ("Xx2", "unknown element"),
                                          ("BaTiO3!", "not a chemical formula"),
                                          ("=HYPERLINK(\"x\")", "not a chemical formula")])
def test_bad_formulas_say_why(formula, hint):
    with pytest.raises(ValueProblem, match=hint):
        check("composition_string", formula)


def test_formula_number_cell_is_refused():
    with pytest.raises(ValueProblem):
        check("composition_string", 3.0)


def test_formulas_compare_by_meaning():
    assert same("composition_string", "BaTiO3", "Ba1Ti1O3")
    assert same("composition_string", "BaTiO3", "TiBaO3")
    assert not same("composition_string", "BaTiO3", "BaTiO2")
    assert not same("composition_string", "BaTiO3", None)
    assert not same("composition_string", "BaTiO3", "garbage!")


@pytest.mark.parametrize("sheet,server", [
    ("La0.705Sr0.3MnO3", "La0.70Sr0.3MnO3"),   # a real change in doping, half a percent
    ("La0.7Sr0.301MnO3", "La0.7Sr0.3MnO3"),
    ("Ba0.999Sr0.001TiO3", "BaTiO3"),
])
def test_a_small_real_change_in_an_amount_is_a_change(sheet, server):
    """Amounts compare within a rounding error (1e-6), never within a chemist's tolerance."""
    assert not same("composition_string", sheet, server)
    assert not same("element_dict", {"La": 0.705, "Sr": 0.3, "Mn": 1, "O": 3},
                    {"La": 0.70, "Sr": 0.3, "Mn": 1, "O": 3})
    assert same("composition_string", "La0.7Sr0.3MnO3", "La0.70000000Sr0.3MnO3")


@pytest.mark.parametrize("raw", ['{"Ba": 1, "Ti": 1, "O": 3}', "Ba:1, Ti:1, O:3", "Ba=1; Ti=1; O=3",
                                 {"Ba": 1, "Ti": 1, "O": 3}])
def test_element_dict_forms(raw):
    assert check("element_dict", raw).value == {"Ba": 1, "Ti": 1, "O": 3}


@pytest.mark.parametrize("raw,hint", [("Ba:1, Xy:2", "not an element"), ("Ba:one", "element:amount"),
                                      ('{"Ba": -1}', "positive"), ("{bad json", "JSON"),
                                      ("Ba:1, Ba:2", "twice"), ("[1, 2]", "element:amount")])
def test_element_dict_refusals(raw, hint):
    with pytest.raises(ValueProblem, match=hint):
        check("element_dict", raw)


def test_element_dict_compares_ignoring_order_and_number_type():
    assert same("element_dict", {"Ba": 1, "Ti": 1, "O": 3}, {"O": 3.0, "Ti": 1, "Ba": 1})
    assert not same("element_dict", {"Ba": 1, "Ti": 1, "O": 3}, {"Ba": 1, "Ti": 1, "O": 2})


def test_composition_conflict_is_detected_counts_or_fractions():
    assert values.composition_conflict("BaTiO3", {"Ba": 1, "Ti": 1, "O": 3}) is None
    assert values.composition_conflict("BaTiO3", {"Ba": 0.2, "Ti": 0.2, "O": 0.6}) is None
    assert "does not match" in values.composition_conflict("BaTiO3", {"Sr": 1, "Ti": 1, "O": 3})


@pytest.mark.parametrize("raw,expected", [
    ("001", "001"), ("(001)", "001"), ("[001]", "001"), ("{001}", "001"), ("<001>", "001"),
    ("0 0 1", "001"), ("0,0,1", "001"), ("1-10", "1-10"), ("(1 -1 0)", "1-10"), ("0001", "0001"),
    ("11-20", "11-20"), ("1\u0305 0 0", "-100"), ("\u22121 1 0", "-110"), (111, "111"), (110.0, "110"),
    ("(10 0 1)", "10 0 1"),
])
def test_orientation_notations_normalise(raw, expected):
    assert check("orientation", raw).value == expected


def test_lost_leading_zeros_number_is_an_error_naming_what_it_may_have_been():
    # Never "type 001": 0001 becomes 1 as well, and only the technician (or the server's
    # value, see tests/test_advice.py) can tell which it was.
    with pytest.raises(ValueProblem, match=r"leading zeros \(001 and 0001 both become 1\)"):
        check("orientation", 1.0)
    with pytest.raises(ValueProblem, match=r"\(010 becomes 10\)"):
        check("orientation", 10)


def test_accounting_negative_is_an_error():
    with pytest.raises(ValueProblem, match="accounting negative"):
        check("orientation", -1.0)


@pytest.mark.parametrize("raw", [dt.date(2026, 1, 10), dt.datetime(2026, 1, 10, 0, 0)])
def test_date_in_orientation_is_an_error(raw):
    with pytest.raises(ValueProblem, match="date"):
        check("orientation", raw)


@pytest.mark.parametrize("raw,hint", [("1", "leading zeros"), ("10-Jan", "date"), ("000", "zeros"),
                                      ("12345", "indices"), ("abc", "Miller"), ("()", "empty")])
def test_orientation_text_refusals(raw, hint):
    with pytest.raises(ValueProblem, match=hint):
        check("orientation", raw)


def test_four_index_inconsistency_is_a_warning():
    checked = check("orientation", "1120")
    assert checked.value == "1120"
    assert "11-20" in checked.warnings[0]
    assert check("orientation", "10-10").warnings == []


@pytest.mark.parametrize("raw,number", [("P4mm", 99), ("P 4 m m", 99), (99, 99), ("99", 99),
                                        ("P2_1/c", 14), ("P21/c", 14), ("P 1 21/c 1", 14),
                                        ("P2_1/n", 14), ("Fm-3m", 225), ("R-3m:H", 166),
                                        ("p4mm", 99), (1.0, 1), ("P6_3mc", 186)])
def test_space_groups(raw, number):
    sent = check("space_group", raw).value
    assert values.parse_space_group(sent).number == number


def test_space_group_number_is_sent_as_its_short_symbol():
    assert check("space_group", 99).value == "P4mm"
    assert check("space_group", " P 4 m m ").value == "P 4 m m"  # a symbol as written, trimmed


@pytest.mark.parametrize("raw,hint", [("Fm3m", "did you mean Fm-3m"), ("231", "1-230"),
                                      (0, "1-230"), ("Q4mm", "230 space groups")])
def test_space_group_refusals(raw, hint):
    with pytest.raises(ValueProblem, match=hint):
        check("space_group", raw)


def test_all_230_groups_are_known():
    by_symbol, short = crystal._space_group_table()
    assert sorted(short) == list(range(1, 231))
    for number, symbol in short.items():
        assert values.parse_space_group(symbol).number == number


def test_space_groups_compare_by_group():
    assert same("space_group", "P4mm", "P 4 m m")
    assert same("space_group", "P4mm", "99")
    assert not same("space_group", "P4mm", "Pm-3m")


@pytest.mark.parametrize("raw,expected", [("mp-5020", "mp-5020"), ("MP-5020", "mp-5020"),
                                          (" mvc-12 ", "mvc-12")])
def test_mp_ids(raw, expected):
    assert check("mp_id", raw).value == expected


@pytest.mark.parametrize("raw", ["5020", "mp5020", "mp-", "mp-12a", 5020.0])
def test_mp_id_refusals(raw):
    with pytest.raises(ValueProblem, match="Materials Project"):
        check("mp_id", raw)


def test_names_keep_their_text():
    assert check("sample_name", 2024.0).value == "2024"
    assert check("sample_name", " BTO/STO ").value == "BTO/STO"


@pytest.mark.parametrize("field", ["layer_id", "sample_id"])
@pytest.mark.parametrize("raw", [2_147_483_648, "99999999999999999999", 1e308, "2147483648.0"])
def test_ids_past_what_the_api_stores_are_refused(field, raw):
    with pytest.raises(cells.ValueProblem, match="too large: the API stores ids up to 2,147,483,647"):
        values.check(field, raw)


def test_the_largest_id_the_api_stores_is_accepted():
    assert values.check("sample_id", 2_147_483_647).value == 2_147_483_647
    assert values.check("layer_id", "2147483647").value == 2_147_483_647


@pytest.mark.parametrize("field,size", [("composition_string", 1_001), ("orientation", 1_001),
                                        ("space_group", 1_001), ("mp_id", 1_001),
                                        ("element_dict", 1_001), ("sample_name", 32_768)])
def test_cells_longer_than_any_value_of_their_field_are_refused_at_once(field, size):
    import time

    start = time.perf_counter()
    with pytest.raises(cells.ValueProblem, match=f"{size:,} characters"):
        values.check(field, "SrTiO3" * (size // 6) + "O" * (size % 6))
    assert time.perf_counter() - start < 0.1



def test_the_space_group_table_is_spglibs():
    """The 530 settings kept as data are spglib's own (when spglib is installed to compare)."""
    import json
    import warnings
    from importlib import resources

    spglib = pytest.importorskip("spglib")
    table = json.loads(resources.files("layer_sync.rules").joinpath("space_groups.json")
                       .read_text(encoding="utf-8"))["settings"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for hall, (number, short, full, international) in enumerate(table, start=1):
            sg = spglib.get_spacegroup_type(hall)
            assert (sg.number, sg.international_short, sg.international_full,
                    sg.international) == (number, short, full, international), hall
    assert len(table) == 530 and {row[0] for row in table} == set(range(1, 231))
