"""What a cell becomes, whatever was typed into it (red-team findings on the input side):
an id is one whole number in the digits 0-9 or an error at its cell, never another number;
text is checked in the very form that is compared and sent (look-alikes made plain,
invisible characters removed, with a warning); one key is one key however it is spelled."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layer_sync.core.runtime import Runtime
from layer_sync.core.secrets import ApiKey
from layer_sync.plan.named import named_stacks
from layer_sync.plan.records import ServerIndex
from layer_sync.read.stacks import read_stacks
from layer_sync.rules.cells import ValueProblem, name_key
from layer_sync.rules.fold import fold
from layer_sync.rules.values import check
from layer_sync.run.check import check_file
from layer_sync.run.sync import sync_file

from .conftest import API_KEY, write_csv

HEADER = ["Sample ID", "Layer #", "Chemical Formula", "Miller Index", "MP ID", "SG"]


def _sync(sandbox, path, **kw):
    kw.setdefault("report", False)
    return sync_file(path, api_key=ApiKey(API_KEY, "ATOMSCALE_API_KEY"), api_url=sandbox.url,
                     runtime=Runtime(), **kw)


def _writes(sandbox) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _, _ in sandbox.stats.log if m in ("POST", "PATCH")]


# ============================================================ integer cells: one number or an error

@pytest.mark.parametrize("text,number", [
    ("1", 1), (" 7 ", 7), ("+3", 3), ("10.0", 10), ("10.", 10), ("12.000", 12), ("0042", 42),
    ("１０", 10),  # full-width digits: read as plain ones, with a warning (below)
])
def test_an_id_written_as_one_whole_number_is_read(text, number):
    assert check("sample_id", text).value == number
    assert check("layer_id", text).value == number


@pytest.mark.parametrize("text", [
    "10,000", "10.000.000", "1,0", "1 000", "1\u00a0000", "1'000", "1_0", "1_000", "1e1",
    "1E+01", "1e0", "10.5", "0x10", "0b1", "٣", "١٠", "५", "๑", "1٠", "⅓", "Ⅻ",
    "inf", "nan", "1-2", "#1", "1/2", "--1", "", "1 2",
])
def test_an_id_cell_that_is_not_plainly_one_whole_number_is_an_error(text):
    if not text:
        assert check("layer_id", text).value is None  # blank: not managed
        return
    for field in ("sample_id", "layer_id"):
        with pytest.raises(ValueProblem, match=field):
            check(field, text)


def test_thousands_separator_says_what_to_write():
    with pytest.raises(ValueProblem, match="write 10000 if that is the number"):
        check("sample_id", "10,000")


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.text(alphabet=st.sampled_from(
    list("0123456789+-.,_ eE'x") + ["\u00a0", "\u200b", "１", "٣", "₂", "²", "\u3000"]),
    max_size=8))
def test_any_text_read_as_an_id_is_the_digits_typed(text):
    """Property: whatever a cell holds, an id read from it is exactly its digits 0-9 (after
    full-width forms became plain ones), never a number made up of a part of it."""
    try:
        number = check("layer_id", text).value
    except ValueProblem:
        return
    if number is None:
        assert not text.strip(" \u00a0\u3000\u200b")
        return
    plain = fold(text).strip()
    assert re.fullmatch(r"\+?0*([0-9]+)(\.0*)?", plain, re.ASCII), plain
    assert number == int(plain.lstrip("+").split(".")[0])


@pytest.mark.parametrize("raw", [99.5, "99.5", "٩٩", float("inf")])
def test_a_space_group_number_is_a_whole_number_0_9(raw):
    with pytest.raises(ValueProblem):
        check("space_group", raw)


def test_a_thousands_separator_in_an_id_sends_nothing(sandbox, tmp_path):
    """The red team's repro: "10,000" was read as 10, and target material 10's good layer was
    patched. It is an error at its cell, and nothing is sent."""
    sandbox.store.seed([{"id": 1, "sample_id": 10, "sample_name": "Ten", "substrate": "Si",
                         "layer_id": 1, "composition_string": "BaTiO3", "orientation": "111"}])
    sandbox.stats.reset()
    path = write_csv(tmp_path / "s.csv", HEADER[:4],
                     [["10,000", 1, "SrTiO3", "001"], ["1_0", 1, "SrTiO3", "001"],
                      ["10", "1e0", "SrTiO3", "001"]])
    outcome = _sync(sandbox, path)
    assert _writes(sandbox) == []
    assert outcome.counts["invalid"] == 3 and outcome.exit_code == 1
    cells = {i.cell for i in outcome.errors}
    assert {"A2", "A3", "B4"} <= cells
    assert [l["composition_string"] for l in sandbox.store.layers()] == ["BaTiO3"]


# ============================================================ text is checked as it is sent

#: Fields whose values have a form the rules check.
FORMED = ("sample_id", "layer_id", "composition_string", "element_dict", "orientation",
          "space_group", "mp_id")

#: What a cell may be made of: ASCII pieces of good values, and their look-alikes.
PIECES = ["mp-", "mvc-", "5020", "0", "1", "-", "Sr", "Ti", "O3", "Ba", "(", ")", "P", "m",
          "-3", "4mm", ":", ",", " ", "ｍｐ-", "５０２０", "٥٢٢٩", "०", "₃", "²", "\u200b",
          "\u200f", "\u00a0", "Ｐｍ-3ｍ", "ＳｒＴｉＯ３", "00１", "Fe₂O₃", "\u0301", "Ⅻ", "ﬁ"]


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.sampled_from(FORMED), st.lists(st.sampled_from(PIECES), max_size=6).map("".join))
def test_every_value_sent_passes_its_own_rule_unchanged(field, text):
    """Property: a value the rules accept is the value sent, in the form they checked: text
    in it is plain ASCII where the field is ASCII (ids, indices, symbols, formulas, mp-ids),
    and checking it again gives it back, with nothing to normalise. (Before: 'mp-５０２０' passed `\\d`
    and was sent as written; 'ＳｒＴｉＯ３' was created as typed.)"""
    try:
        checked = check(field, text)
    except ValueProblem:
        return
    value = checked.value
    if value is None:
        return
    if isinstance(value, str):
        assert value.isascii(), (field, text, value)
        again = check(field, value)
        assert again.value == value
        assert not [w for w in again.warnings if w.startswith("read as ")]
    elif isinstance(value, dict):
        assert all(k.isascii() for k in value)


@pytest.mark.parametrize("field,text,value", [
    ("mp_id", "mp-５０２０", "mp-5020"),
    ("composition_string", "ＳｒＴｉＯ３", "SrTiO3"),
    ("composition_string", "Fe₂O₃", "Fe2O3"),
    ("orientation", "00１", "001"),
    ("space_group", "Ｐｍ-3ｍ", "Pm-3m"),
    ("sample_name", "ＢＴＯ on STO", "BTO on STO"),
    ("sample_name", "BTO\u200b on STO\u200f", "BTO on STO"),
    ("element_dict", "Ｓｒ:1, Ti:1, O:３", {"Sr": 1, "Ti": 1, "O": 3}),
])
def test_look_alike_text_is_read_as_its_plain_form_with_a_warning(field, text, value):
    checked = check(field, text)
    assert checked.value == value
    assert checked.warnings and checked.warnings[0].startswith("read as ")


@pytest.mark.parametrize("field,text", [
    ("mp_id", "mp-٥٢٢٩"), ("orientation", "٠٠١"), ("layer_id", "٣"), ("space_group", "२२१"),
])
def test_digits_of_other_scripts_are_an_error_that_says_so(field, text):
    with pytest.raises(ValueProblem, match="digits 0-9"):
        check(field, text)


def test_an_accented_name_in_either_unicode_form_needs_no_warning():
    assert check("sample_name", unicodedata.normalize("NFD", "Café")).warnings == []


def test_look_alike_cells_are_sent_plain_and_compare_with_the_server(sandbox, tmp_path):
    """The red team's repro: 'mp-５０２０' patched over the server's good 'mp-5020', and a
    full-width formula was created as typed. Now the first is unchanged (the same id), the
    new layer is created in plain ASCII, and digits of another script are an error."""
    sandbox.store.seed([{"id": 1, "sample_id": 1, "sample_name": "S", "substrate": "Si",
                         "layer_id": 1, "composition_string": "BaTiO3", "orientation": "001",
                         "mp_id": "mp-5020"}])
    sandbox.stats.reset()
    path = write_csv(tmp_path / "s.csv", HEADER, [
        [1, 1, "BaTiO3", "001", "mp-５０２０", ""],
        [1, 2, "ＳｒＴｉＯ３", "00１", "mp-5229", "Ｐｍ-3ｍ"],
        [1, 3, "SrRuO3", "001", "mp-٥٢٢٩", ""],
    ])
    outcome = _sync(sandbox, path)
    layers = {l["layer_id"]: l for l in sandbox.store.layers()}
    assert layers[1]["mp_id"] == "mp-5020"
    assert (layers[2]["composition_string"], layers[2]["orientation"],
            layers[2]["space_group"]) == ("SrTiO3", "001", "Pm-3m")
    assert 3 not in layers
    assert [m for m, _ in _writes(sandbox)] == ["POST"]
    assert outcome.counts["unchanged"] == 1 and outcome.counts["invalid"] == 1
    assert any(i.cell == "E2" and i.message.startswith("read as 'mp-5020'")
               for i in outcome.warnings)


# ============================================================ one name, however it is spelled

NAMES = ["Café BTO on STO", "LSMO on LAO", "Ångström film #2", "ZnO／sapphire", "Müller-Straße 5"]
#: Ways a name is typed or pasted that look the same, or differ only in case and spacing.
SPELLINGS = {
    "NFD": lambda s: unicodedata.normalize("NFD", s),
    "NFC": lambda s: unicodedata.normalize("NFC", s),
    "zero-width space": lambda s: s.replace(" ", "\u200b ", 1),
    "word joiner": lambda s: "\u2060" + s,
    "soft hyphen": lambda s: s[:2] + "\u00ad" + s[2:],
    "NBSP": lambda s: s.replace(" ", "\u00a0"),
    "ideographic space": lambda s: s.replace(" ", "\u3000", 1),
    "two spaces": lambda s: s.replace(" ", "  "),
    "outer spaces": lambda s: f"  {s}\t",
    "full-width": lambda s: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s),
    "RLM": lambda s: s + "\u200f",
    "LRM inside": lambda s: s.replace(" ", " \u200e", 1),
    "upper case": str.upper,
    "BOM": lambda s: "\ufeff" + s,
}


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(NAMES), st.lists(st.sampled_from(sorted(SPELLINGS)), min_size=1,
                                        max_size=4))
def test_every_spelling_of_a_name_has_one_key(name, ways):
    spelled = name
    for way in ways:
        spelled = SPELLINGS[way](spelled)
    assert name_key(spelled) == name_key(name), (ways, spelled)


def test_different_names_keep_different_keys():
    keys = {name_key(n) for n in [*NAMES, "Cafe BTO on STO", "BTO on STO", "LSMO on LAO 2"]}
    assert len(keys) == len(NAMES) + 3


@pytest.mark.parametrize("odd", ["sheet", "server"])
@pytest.mark.parametrize("way", sorted(SPELLINGS))
def test_a_name_spelled_otherwise_matches_the_servers_and_creates_nothing(sandbox, tmp_path,
                                                                           way, odd):
    """The red team's repro: a name in another spelling (NFD, a zero-width space, NBSP,
    full-width letters, a bidi mark) matched nothing, and --create-samples made a second,
    identical-looking target material. Now it is matched by name, whichever side (the sheet
    or the server) holds the odd spelling."""
    plain, spelled = NAMES[0], SPELLINGS[way](NAMES[0])
    theirs, ours = (plain, spelled) if odd == "sheet" else (spelled, plain)
    substrates = ("SrTiO3", SPELLINGS[way]("SrTiO3"))
    sub_theirs, sub_ours = substrates if odd == "sheet" else substrates[::-1]
    sandbox.store.seed([{"id": 1, "sample_id": 5, "sample_name": theirs, "substrate": sub_theirs,
                         "layer_id": 1, "composition_string": "BaTiO3", "orientation": "001"}])
    sandbox.stats.reset()
    path = write_csv(tmp_path / "s.csv", ["Sample", "Substrate", "Layer #", "Chemical Formula",
                                          "Miller Index"],
                     [[ours, sub_ours, 1, "BaTiO3", "001"]])
    outcome = _sync(sandbox, path, create_samples=True)
    assert len(sandbox.store.target_materials()) == 1
    assert _writes(sandbox) == [] and outcome.counts["unchanged"] == 1


def test_one_new_stack_in_two_spellings_is_created_once(sandbox, tmp_path):
    """The red team's repro: one sheet naming a new stack in NFC and in NFD (or with a
    zero-width space) made two target materials of the same visible name."""
    name = "Café LSMO"
    path = write_csv(tmp_path / "s.csv", ["Sample", "Substrate", "Layer #", "Chemical Formula",
                                          "Miller Index"], [
        [unicodedata.normalize("NFC", name), "SrTiO3", 1, "SrTiO3", "001"],
        [unicodedata.normalize("NFD", name), "SrTiO3", 2, "BaTiO3", "001"],
        [name + "\u200b", "SrTiO3\u00a0", 3, "SrRuO3", "001"],
    ])
    outcome = _sync(sandbox, path, create_samples=True)
    (created,) = sandbox.store.target_materials()
    assert unicodedata.normalize("NFC", created["sample_name"]) == name
    assert sorted(l["layer_id"] for l in sandbox.store.layers()) == [1, 2, 3]
    assert outcome.exit_code == 0
    sandbox.stats.reset()
    assert _sync(sandbox, path, create_samples=True).counts["unchanged"] == 3
    assert _writes(sandbox) == []


def test_one_layer_under_two_spellings_of_its_name_is_a_duplicate(tmp_path):
    path = write_csv(tmp_path / "s.csv", ["Sample", "Layer #", "Chemical Formula"], [
        ["Café LSMO", 1, "SrTiO3"], [], [unicodedata.normalize("NFD", "CAFÉ  LSMO"), 1, "BaTiO3"],
    ])
    outcome = check_file(path, report=False)
    duplicates = [i for i in outcome.errors if "appears on rows 2, 4" in i.message]
    assert [i.cell for i in duplicates] == ["B2", "B4"]


def test_a_named_stack_is_one_stack_in_check_whatever_the_spelling(tmp_path):
    path = write_csv(tmp_path / "s.csv", ["Sample", "Substrate", "Layer #", "Chemical Formula"], [
        ["ＬＳＭＯ on LAO", "LaAlO3", 1, "SrTiO3"], [],
        ["LSMO\u00a0on LAO", "laalo3", 2, "BaTiO3"],
    ])
    index = ServerIndex.build([{"id": 1, "sample_id": 102, "sample_name": "LSMO on LAO",
                                "substrate": "LaAlO3", "layer_id": 1}])
    (stack,) = named_stacks(read_stacks(path).rows, index)
    assert stack.sample_ids == (102,) and len(stack.rows) == 2


# ============================================================ one key, one row: sheets, headers, spellings

H = ["Sample ID", "Layer #", "Chemical Formula", "Miller Index"]


def _book(path, sheets):
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


@pytest.mark.parametrize("how", [{"all_sheets": True}, {"sheet": ["A", "B"]}])
def test_one_key_on_two_sheets_is_one_duplicate_naming_both_cells(sandbox, tmp_path, how):
    sandbox.store.seed([{"sample_id": 1, "sample_name": "S", "substrate": "Si"}])
    sandbox.stats.reset()
    path = _book(tmp_path / "b.xlsx", {"A": [H, [1, 1, "SrTiO3", "001"]],
                                       "B": [H, [1, 1, "BaTiO3", "111"]]})
    outcome = _sync(sandbox, path, **how)
    assert _writes(sandbox) == [] and outcome.counts["invalid"] == 2
    assert {(i.sheet, i.cell) for i in outcome.errors} == {("A", "B2"), ("B", "B2")}
    assert all("A row 2, B row 2" in i.message for i in outcome.errors)


@pytest.mark.parametrize("spelling", ["1", "１", "1.0", "+1", "01", 1.0, " 1 "])
def test_one_key_in_two_spellings_is_one_duplicate(sandbox, tmp_path, spelling):
    sandbox.store.seed([{"sample_id": 1, "sample_name": "S", "substrate": "Si"}])
    sandbox.stats.reset()
    path = _book(tmp_path / "b.xlsx", {"A": [H, [1, 1, "SrTiO3", "001"],
                                             ["1", spelling, "BaTiO3", "001"]]})
    outcome = _sync(sandbox, path)
    assert _writes(sandbox) == []
    assert [i.cell for i in outcome.errors] == ["B2", "B3"]
    assert "appears on rows 2, 3" in outcome.errors[0].message


@pytest.mark.parametrize("spelling", ["1e0", "1,0", "1_0", "١"])
def test_an_unreadable_spelling_of_a_key_is_its_own_error_and_never_a_second_write(
        sandbox, tmp_path, spelling):
    sandbox.store.seed([{"sample_id": 1, "sample_name": "S", "substrate": "Si"}])
    sandbox.stats.reset()
    path = _book(tmp_path / "b.xlsx", {"A": [H, [1, 1, "SrTiO3", "001"],
                                             ["1", spelling, "BaTiO3", "001"]]})
    outcome = _sync(sandbox, path)
    assert [l["layer_id"] for l in sandbox.store.layers()] == [1]
    assert [i.cell for i in outcome.errors] == ["B3"] and "layer_id" in outcome.errors[0].message


def test_a_header_repeated_below_is_skipped_with_one_warning(sandbox, tmp_path):
    """Two tables pasted one under the other: the second header is no layer (before: four
    errors on one invalid row), and the rows below it are read under its columns."""
    sandbox.store.seed([{"sample_id": 1, "sample_name": "S", "substrate": "Si"}])
    sandbox.stats.reset()
    path = _book(tmp_path / "b.xlsx", {"A": [H, [1, 1, "SrTiO3", "001"],
                                             [h.upper() for h in H], [1, 2, "BaTiO3", "001"]]})
    outcome = _sync(sandbox, path)
    assert outcome.exit_code == 0 and outcome.counts["created"] == 2 and outcome.counts["rows"] == 2
    (warning,) = outcome.warnings
    assert warning.row == 3 and "repeats the header of row 1" in warning.message


@pytest.mark.parametrize("second", [
    ["Layer #", "Sample ID", "Chemical Formula", "Miller Index"],   # two columns swapped
    ["Sample ID", "Layer #", "Miller Index", "Chemical Formula"],
    ["Sample ID", "Layer #", "Chemical Formula", "Miller Index", "SG"],  # one more
    ["Sample ID", "Layer #", "Chemical Formula"],                   # one fewer
    ["Sample", "Layer #", "Chemical Formula", "Miller Index"],      # another field
    [None, "Sample ID", "Layer #", "Chemical Formula", "Miller Index"],  # moved right
])
def test_a_second_header_with_other_columns_stops_before_anything_is_sent(sandbox, tmp_path,
                                                                          second):
    """The rows below a header of other columns would be read under the wrong ones (a
    layer_id taken for a sample_id): the file is refused, naming the row."""
    from layer_sync.core.errors import InputFileError

    sandbox.store.seed([{"sample_id": 1, "sample_name": "S", "substrate": "Si"},
                        {"sample_id": 2, "sample_name": "T", "substrate": "Si"}])
    sandbox.stats.reset()
    path = _book(tmp_path / "b.xlsx", {"A": [H, [1, 1, "SrTiO3", "001"], second,
                                             [2, 1, "BaTiO3", "001"]]})
    with pytest.raises(InputFileError, match="second header on row 3"):
        _sync(sandbox, path)
    assert sandbox.stats.total == 0
    with pytest.raises(InputFileError, match="second header on row 3"):
        check_file(path, report=False)


def test_a_header_typed_full_width_is_recognised(tmp_path):
    path = write_csv(tmp_path / "s.csv", ["Ｓａｍｐｌｅ ＩＤ", "Ｌａｙｅｒ ＃", "Formula"],
                     [[1, 1, "SrTiO3"]])
    data = read_stacks(path)
    assert set(data.columns) == {"sample_id", "layer_id", "composition_string"}


# ============================================================ untrusted text meets a regex-heavy library

@pytest.mark.parametrize("line", [',"' * 32768, ';"' * 32768, '\t"' * 32768, '"",' * 21000,
                                  "'" + ",'" * 32768])
def test_a_hostile_first_line_costs_the_delimiter_sniffer_no_time(tmp_path, line):
    """The red team's repro: a 64 kB first line of `,",",...` made csv.Sniffer take 16 s
    (its regexes are quadratic). The sniffer gets a bounded sample; the whole check of the
    file takes well under a second (3 s here: a loaded machine)."""
    import time

    path = tmp_path / "slow.csv"
    path.write_text(line + "\nSample ID,Layer #,Chemical Formula\n1,1,SrTiO3\n")
    start = time.perf_counter()
    try:
        check_file(path, report=False)
    except Exception as exc:  # noqa: BLE001 (only the time matters: unreadable is fine)
        assert "LayerSyncError" in [c.__name__ for c in type(exc).__mro__]
    assert time.perf_counter() - start < 3


def test_the_sniffer_still_finds_the_delimiter_after_a_long_title_row(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("x" * 10_000 + "\nSample ID;Layer #;Chemical Formula\n1;1;SrTiO3\n2;1;BaTiO3\n")
    assert read_stacks(path).delimiter == ";"
