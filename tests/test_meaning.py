"""Values never change meaning, and what is read is what the user sees (red-team round two):
the text fold keeps meaning (a superscript is not a digit), a legacy code page is not read as
Windows-1252, a hidden sheet is not read unasked, carried-down stacks keep their row order."""

from __future__ import annotations

import unicodedata
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layer_sync.core.errors import InputFileError
from layer_sync.core.runtime import Runtime
from layer_sync.core.secrets import ApiKey
from layer_sync.read.stacks import read_stacks
from layer_sync.rules.cells import ValueProblem, name_key, plain_text
from layer_sync.rules.fold import LOOK_ALIKE_TAGS, decomposition_tag, fold
from layer_sync.rules.values import check
from layer_sync.run.sync import sync_file

from .conftest import API_KEY, write_csv


def _sync(sandbox, path, **kw):
    kw.setdefault("report", False)
    return sync_file(path, api_key=ApiKey(API_KEY, "ATOMSCALE_API_KEY"), api_url=sandbox.url,
                     runtime=Runtime(), **kw)


def _writes(sandbox) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _, _ in sandbox.stats.log if m in ("POST", "PATCH")]


# ============================================================ the fold keeps meaning

#: Every character of the BMP whose decomposition has a tag (`<super>`, `<wide>`, ...).
TAGGED = [chr(i) for i in range(0x80, 0x10000)
          if not 0xD800 <= i <= 0xDFFF and decomposition_tag(chr(i))]
SPACES = {c for c in TAGGED if unicodedata.category(c) == "Zs"}


def _kept(char: str) -> bool:
    """A character no fold may change: its compatibility mapping changes meaning."""
    return decomposition_tag(char) not in LOOK_ALIKE_TAGS and char not in SPACES


def test_the_table_covers_every_tag():
    assert len(TAGGED) > 2000
    assert {decomposition_tag(c) for c in TAGGED} >= {
        "<super>", "<sub>", "<fraction>", "<compat>", "<square>", "<circle>", "<wide>",
        "<narrow>", "<font>", "<noBreak>", "<isolated>"}


def test_a_fold_changes_a_character_only_when_it_is_a_look_alike():
    """Property over every tagged character of the BMP: a fold maps a look-alike (full-width,
    half-width, no-break, font, Arabic contextual shapes, spaces) to a character of the same
    compatibility class, and leaves every other one (superscripts, subscripts, fractions,
    ligatures, squared and circled signs, ...) as it is typed, alone or inside a word.
    (Before: NFKC read `¹⁸` as 18 and `²` as 2.)"""
    changed_meaning = []
    for char in TAGGED:
        folded = fold(char)
        if _kept(char):
            if folded != unicodedata.normalize("NFC", char) or fold(f"Ab{char}9") != f"Ab{folded}9":
                changed_meaning.append(f"U+{ord(char):04X} -> {folded!r}")
        else:
            assert unicodedata.normalize("NFKC", folded) == unicodedata.normalize("NFKC", char)
            assert all(decomposition_tag(c) not in LOOK_ALIKE_TAGS for c in folded), char
    assert changed_meaning == []


def test_a_fold_is_what_it_says_once():
    for char in TAGGED:
        once = fold(f"x{char}y")
        assert fold(once) == once, f"U+{ord(char):04X}"


@pytest.mark.parametrize("field", ["composition_string", "element_dict", "orientation",
                                   "space_group", "mp_id", "sample_id", "layer_id",
                                   "sample_name", "substrate"])
def test_no_field_reads_a_kept_character_as_a_plain_one(field):
    """Property over every tagged character that is not a look-alike, in every field: the
    cell is refused, or its value still holds the character as typed (a name). Only the
    subscript digits of a formula's counts and a space group's screw axes are read as
    digits, by the grammar of those two fields."""
    samples = {"composition_string": "SrTi{}O3", "element_dict": "Sr:1, Ti:{}", "orientation":
               "00{}", "space_group": "P2{}/c", "mp_id": "mp-50{}", "sample_id": "1{}",
               "layer_id": "1{}", "sample_name": "Run 1{}", "substrate": "MgO{}"}
    changed = []
    for char in TAGGED:
        if not _kept(char):
            continue
        raw = samples[field].format(char)
        try:
            value = check(field, raw).value
        except ValueProblem:
            continue
        counted = "\u2080" <= char <= "\u2089" and field in ("composition_string", "space_group")
        if not counted and char not in str(value):
            changed.append(f"U+{ord(char):04X}: {raw!r} -> {value!r}")
    assert changed == []


@pytest.mark.parametrize("typed,plain", [
    ("Fe₂O₃", "Fe2O3"), ("(Ba₀.₅Sr₀.₅)TiO₃", "(Ba0.5Sr0.5)TiO3"), ("ＳｒＴｉＯ３", "SrTiO3"),
    ("La₀.₇Sr₀.₃MnO₃", "La0.7Sr0.3MnO3"), ("𝐒𝐫TiO3", "SrTiO3"),
])
def test_a_formulas_counts_may_be_subscripts(typed, plain):
    """A subscript after an element, a bracket or a decimal point is a count: the grammar
    writes counts as subscripts, so reading them as digits keeps the meaning."""
    checked = check("composition_string", typed)
    assert checked.value == plain
    assert checked.warnings[0].startswith(f"read as {plain!r}")


@pytest.mark.parametrize("typed,says", [
    ("SrTi¹⁸O₃", ("'¹⁸' is a superscript (isotope labels and charges are not supported); "
                 "write the formula of the elements (SrTiO3)")),
    ("⁵⁷Fe₂O₃", "'⁵⁷' is a superscript"),
    ("²H₂O", "'²' is a superscript"),
    ("Fe³⁺", "'³⁺' is a superscript"),
    ("₂H₂O", "'₂' is a subscript"),
    ("Nd½NiO3", "'½' is a fraction"),
    ("Nd0,5Sm0,5NiO3", "decimal point, not a comma (Nd0.5Sm0.5NiO3)"),
    ("(La0,7Sr0,3)MnO3", "decimal point, not a comma ((La0.7Sr0.3)MnO3)"),
    ("La0,7Sr,3MnO3", "decimal point, not a comma (La0.7Sr.3MnO3)"),
])
def test_a_formula_that_would_change_meaning_is_refused_saying_why(typed, says):
    with pytest.raises(ValueProblem) as caught:
        check("composition_string", typed)
    assert says in str(caught.value)


@pytest.mark.parametrize("field,typed", [
    ("layer_id", "1²"), ("sample_id", "①"), ("orientation", "00¹"), ("space_group", "Pm³m"),
    ("mp_id", "mp-５⁰"), ("element_dict", "O:₃"),
])
def test_a_kept_character_in_an_id_or_index_is_named(field, typed):
    with pytest.raises(ValueProblem, match="is a (superscript|subscript|circled).*plain"):
        check(field, typed)


def test_a_decimal_comma_in_an_element_list_says_so():
    with pytest.raises(ValueProblem, match="decimal point"):
        check("element_dict", "Nd:0,5, Ni:1, O:3")


def test_a_screw_axis_subscript_is_read_in_a_space_group():
    assert check("space_group", "P2₁/c").value == "P21/c"
    assert check("space_group", "P6₃/mmc").value == "P63/mmc"


# ============================================================ names: look-alikes only

@pytest.mark.parametrize("word", ["Run 1", "film", "Fe", "MgO 10"])
def test_a_name_key_never_merges_names_that_differ_in_a_kept_character(word):
    """Property over every tagged character of the BMP: two names that differ in one
    character that is not a look-alike (`Run 1²` and `Run 12`, `ﬁlm` and `film`, `㎏` and
    `kg`) have two keys, whatever the case; two that differ in a look-alike have one."""
    merged = []
    for char in TAGGED:
        compat = unicodedata.normalize("NFKC", char)
        name, other = f"{word}{char}", f"{word}{compat}"
        if compat == char:
            continue
        same = name_key(name) == name_key(other) or name_key(name) == name_key(other.upper())
        if _kept(char) and same:
            merged.append(f"U+{ord(char):04X} {name!r} ~ {other!r}")
        if not _kept(char):
            mapped = "".join(chr(int(h, 16)) for h in unicodedata.decomposition(char).split()[1:])
            assert name_key(name) == name_key(f"{word}{mapped}"), f"U+{ord(char):04X}"
    assert merged == []


def test_the_red_teams_names_stay_apart():
    for a, b in [("Run 1²", "Run 12"), ("Sample ½", "Sample 1⁄2"), ("5 ㎏ run", "5 kg run"),
                 ("Ⅻ", "XII"), ("ﬁlm", "film"), ("ﬁlm", "FILM"), ("µ-film", "μ-film"),
                 ("Fe₂O₃ on STO", "Fe2O3 on STO")]:
        assert name_key(a) != name_key(b), (a, b)
    assert name_key("ＲＵＮ　１２") == name_key("run 12")


def test_a_name_with_a_superscript_is_a_new_stack_not_the_look_alike_one(sandbox, tmp_path):
    """The red team's repro: the server holds 'Run 12'; the sheet names a new stack 'Run 1²'
    with --create-samples. Before: its layers were written into 'Run 12' (NFKC made them one
    name). Now: a new target material named as typed."""
    sandbox.store.seed([{"id": 1, "sample_id": 50, "sample_name": "Run 12", "substrate": "MgO",
                         "layer_id": 1, "composition_string": "Fe2O3", "orientation": "001"}])
    path = write_csv(tmp_path / "s.csv",
                     ["sample_name", "substrate", "layer_id", "composition_string"],
                     [["Run 1²", "MgO", 1, "Fe2O3"], ["Run 1²", "MgO", 2, "CoFe2O4"]])
    outcome = _sync(sandbox, path, create_samples=True)
    assert outcome.exit_code == 0
    by_sample: dict[int, list[int]] = {}
    for layer in sandbox.store.layers():
        by_sample.setdefault(layer["sample_id"], []).append(layer["layer_id"])
    names = {r["sample_id"]: r["sample_name"] for r in sandbox.store.target_materials()}
    new = [i for i, name in names.items() if name == "Run 1²"]
    assert by_sample[50] == [1] and len(new) == 1 and by_sample[new[0]] == [1, 2]


def test_a_formula_with_superscripts_sends_nothing(sandbox, tmp_path):
    """The red team's repro: `SrTi¹⁸O₃` was PATCHed as SrTi18O3 (18 Ti atoms) and `⁵⁷Fe₂O₃` as
    57Fe2O3. Now each is an error at its cell, the server keeps its formula, and Fe₂O₃ on a
    third row is read as Fe2O3 with a warning."""
    sandbox.store.seed([
        {"id": 1, "sample_id": 7, "sample_name": "M", "substrate": "MgO", "layer_id": 1,
         "composition_string": "Fe2O3", "orientation": "001"},
        {"id": 2, "sample_id": 7, "sample_name": "M", "substrate": "MgO", "layer_id": 2,
         "composition_string": "SrTiO3", "orientation": "001"}])
    sandbox.stats.reset()
    path = write_csv(tmp_path / "s.csv", ["sample_id", "layer_id", "composition_string"],
                     [[7, 1, "⁵⁷Fe₂O₃"], [7, 2, "SrTi¹⁸O₃"], [7, 3, "Fe₂O₃"]])
    outcome = _sync(sandbox, path)
    assert outcome.counts["invalid"] == 2 and outcome.exit_code == 1
    assert {i.cell for i in outcome.errors} == {"C2", "C3"}
    assert [m for m, _ in _writes(sandbox)] == ["POST"]
    assert [l["composition_string"] for l in sandbox.store.layers()] == [
        "Fe2O3", "SrTiO3", "Fe2O3"]


def test_plain_text_says_what_it_did():
    assert plain_text("BTO\u2003on STO") == ("BTO on STO", ("read as 'BTO on STO': special "
                                                          "spaces read as plain ones"))
    assert plain_text("Run 1²") == ("Run 1²", None)
    assert plain_text("Fe₂O₃")[0] == "Fe₂O₃"  # subscripts are counts only in a formula
    assert plain_text("Fe₂O₃", "composition_string")[0] == "Fe2O3"



# ============================================================ a legacy code page is not Windows-1252

#: What Excel's "CSV" holds on a Western Windows: every word must be read, with the warning.
WESTERN = [
    "Müller-Straße", "Größe", "Überstruktur", "Wärmebehandlung", "Échantillon", "épitaxié",
    "à", "Orsay l’été", "«mot»", "créée", "Muestra", "año", "niño", "¿Qué?", "Óxido",
    "ação", "Prøve", "Æble", "Ångström", "Þórður", "sýni", "Col·lecció", "25°C", "±5",
    "µm", "m²", "n°5", "Kapton®", "5€", "–", "naïve", "Zoë", "Œuvre", "façade", "L’HAŸ",
    "São Paulo", "Ærø", "Fußnote", "½", "§3", "©2024", "Ü", "ÉCOLE", "DÉPÔT",
    "¡Hola!", "«¿Sí?»",
]
#: Words in another language, saved in the code page a Windows set to it writes for "CSV".
FOREIGN = [
    ("cp1251", "Образец"), ("cp1251", "Образец плёнки на подложке"), ("cp1253", "Δείγμα"),
    ("cp932", "薄膜試料"), ("cp932", "サンプル"), ("gbk", "薄膜样品"), ("big5", "薄膜樣品"),
    ("cp949", "박막 시료"), ("euc-kr", "박막 시료"), ("cp1250", "Próbka Łódź"),
    ("cp1250", "podłożu"), ("cp1250", "żelazo"), ("cp1254", "ışık"), ("cp1255", "דגימה"),
    ("cp1256", "عينة"), ("cp874", "ตัวอย่าง"), ("mac_roman", "Müller"), ("mac_roman", "Café"),
    ("cp932", "α-Al2O3 film"), ("cp932", "β-Ga2O3"),
]


def _csv(tmp_path, data: bytes):
    path = tmp_path / "s.csv"
    path.write_bytes(b"sample_name,substrate,layer_id,composition_string\n" + data)
    return path


@pytest.mark.parametrize("word", WESTERN)
def test_a_western_windows_csv_is_read_with_its_warning(tmp_path, word):
    path = _csv(tmp_path, f"{word},MgO,1,Fe2O3\nCafé,MgO,1,Fe2O3\n".encode("cp1252"))
    data = read_stacks(path)
    assert data.encoding == "cp1252"
    assert any("cp1252" in i.message for i in data.file_issues)


@pytest.mark.parametrize("encoding,words", FOREIGN)
def test_another_code_page_is_refused_showing_what_it_would_become(tmp_path, encoding, words):
    """The class: every code page a Windows set to another language writes for 'CSV' decodes
    as Windows-1252 too (or nearly: EUC-KR got 'one stray byte'). Before: read, and names
    created as mojibake ('Îáðàçåö'). Now: refused (exit 2), showing the mojibake."""
    path = _csv(tmp_path, f"{words} 1,MgO,1,Fe2O3\n".encode(encoding))
    with pytest.raises(InputFileError, match="neither UTF-8 nor Windows-1252.*'CSV UTF-8'"):
        read_stacks(path)


def test_a_utf8_file_with_one_stray_byte_is_still_said_to_be_one(tmp_path):
    rows = "".join(f"Müller {i},MgO,1,Fe2O3\n" for i in range(5)).encode()
    with pytest.raises(InputFileError, match="not in one encoding throughout.*0xB0"):
        read_stacks(_csv(tmp_path, rows + "25°C,MgO,1,Fe2O3\n".encode("cp1252")))


def test_a_code_page_refused_sends_nothing(sandbox, tmp_path):
    path = _csv(tmp_path, "Образец 1,MgO,1,Fe2O3\n".encode("cp1251"))
    sandbox.stats.reset()
    with pytest.raises(InputFileError):
        _sync(sandbox, path, create_samples=True)
    assert _writes(sandbox) == [] and sandbox.store.target_materials() == []


# ============================================================ a hidden sheet is not read unasked

DATA = Path(__file__).parent / "data"


def _hidden_book(tmp_path, suffix: str) -> Path:
    """The red team's workbook in each format: 'Old' hidden and 'Older' very hidden (each with
    an old layer 7/1), 'Stacks' visible and active; an .xlsm is an .xlsx by its content."""
    source = DATA / f"hidden_sheets{'.xlsx' if suffix == '.xlsm' else suffix}"
    path = tmp_path / f"book{suffix}"
    path.write_bytes(source.read_bytes())
    return path


FORMATS = [".xlsx", ".xlsm", ".ods", ".xls"]


@pytest.mark.parametrize("suffix", FORMATS)
@pytest.mark.parametrize("all_sheets", [False, True])
def test_a_hidden_sheet_is_never_chosen_and_is_named(tmp_path, suffix, all_sheets):
    """Before: the hidden first sheet was read and its old values sent over the server's; now
    the visible sheet is read, and each hidden sheet with a layer header is named."""
    data = read_stacks(_hidden_book(tmp_path, suffix), all_sheets=all_sheets)
    assert data.sheets == ["Stacks"]
    assert [r.values["composition_string"] for r in data.rows] == ["Fe2O3"]
    said = [i.message for i in data.file_issues if "hidden" in i.message]
    assert said == [f"sheet {n!r} is hidden: not read; name it with --sheet NAME to read it"
                    for n in ("Old", "Older")]


@pytest.mark.parametrize("suffix", FORMATS)
def test_a_hidden_sheet_named_is_read(tmp_path, suffix):
    data = read_stacks(_hidden_book(tmp_path, suffix), sheet=["old"])
    assert data.sheets == ["Old"]
    assert [r.values["composition_string"] for r in data.rows] == ["SrTiO3"]
    assert not [i for i in data.file_issues if "hidden" in i.message]


def test_a_workbook_whose_layer_sheets_are_all_hidden_says_so(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = "Notes"
    book.active.append(["nothing here"])
    old = book.create_sheet("Old")
    old.append(["sample_id", "layer_id", "composition_string"])
    old.append([7, 1, "SrTiO3"])
    old.sheet_state = "veryHidden"
    book.save(tmp_path / "b.xlsx")
    with pytest.raises(InputFileError, match=r"hidden \('Old'\).*unhide it"):
        read_stacks(tmp_path / "b.xlsx")


def test_a_hidden_sheet_sends_nothing_over_the_server(sandbox, tmp_path):
    """The red team's repro through the sandbox: the server holds what the visible sheet
    says; nothing is written."""
    sandbox.store.seed([{"id": 1, "sample_id": 7, "sample_name": "M", "substrate": "MgO",
                         "layer_id": 1, "composition_string": "Fe2O3", "orientation": "001"}])
    sandbox.stats.reset()
    outcome = _sync(sandbox, _hidden_book(tmp_path, ".xlsx"))
    assert _writes(sandbox) == [] and outcome.counts["unchanged"] == 1
    assert sandbox.store.layers()[0]["composition_string"] == "Fe2O3"


# ============================================================ carried-down stacks keep their order



def _sheet_rows(stacks: list[tuple[int, list[int]]]) -> list[list]:
    """Rows as a technician writes them: the sample on each stack's first row only."""
    rows = []
    for sample, layers in stacks:
        for i, layer in enumerate(layers):
            rows.append([sample if i == 0 else "", layer, "SrTiO3"])
    return rows


def _read(tmp_path, rows):
    return read_stacks(write_csv(tmp_path / "s.csv", ["sample_id", "layer_id",
                                                      "composition_string"], rows))


@pytest.mark.parametrize("layers", [[1, 2, 3], [3, 2, 1], [1, 3, 4], [5], [2, 1], [1, 2]])
def test_a_stack_that_runs_one_way_is_read(tmp_path, layers):
    data = _read(tmp_path, _sheet_rows([(7, layers), (8, [1, 2])]))
    assert all(r.valid for r in data.rows)


@pytest.mark.parametrize("layers,says", [
    ([1, 2, 2, 3], "layer 2 comes twice"), ([1, 3, 2], "layer numbers go back from 3 to 2"),
    ([3, 2, 4], "layer numbers go up from 2 to 4"), ([1, 2, 1], "go back from 2 to 1"),
])
def test_a_stack_that_turns_back_is_held_as_a_whole(tmp_path, layers, says):
    data = _read(tmp_path, _sheet_rows([(9, [1, 2]), (7, layers), (8, [1, 2])]))
    held = [r for r in data.rows if not r.valid]
    assert [r.row for r in held] == list(range(4, 4 + len(layers)))
    messages = {i.message for r in held for i in r.errors if "sorted" in i.message}
    assert len(messages) == 1 and says in messages.pop()
    assert all(r.valid for r in data.rows if r not in held)


def test_rows_with_their_own_sample_are_their_own_evidence(tmp_path):
    rows = [[7, 1, "A"], [7, 3, "B"], [7, 2, "C"], [8, 2, "D"], [8, 1, "E"]]
    data = _read(tmp_path, [[s, n, "SrTiO3"] for s, n, _ in rows])
    assert all(r.valid for r in data.rows)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(1, 6), min_size=1, max_size=5), st.randoms(use_true_random=False),
       st.booleans())
def test_any_order_of_rows_holds_every_stack_a_sort_broke(tmp_path, sizes, rnd, top_first):
    """Property: whatever order the rows of a sheet end up in (a sort by layer, by formula, a
    shuffle), no valid row's layer repeats or turns back within the stack it is read into, and
    every row of a stack that does is invalid; written in order, every row is valid."""
    stacks = [(100 + i, list(range(n, 0, -1)) if top_first else list(range(1, n + 1)))
              for i, n in enumerate(sizes)]
    in_order = _sheet_rows(stacks)
    assert all(r.valid for r in _read(tmp_path, in_order).rows)
    shuffled = list(in_order)
    if rnd.random() < 0.5:
        shuffled.sort(key=lambda r: r[1])  # the new user's sort by Layer #
    else:
        rnd.shuffle(shuffled)
    data = _read(tmp_path, shuffled)
    assert len(data.rows) == len(shuffled)
    groups: list[list] = []
    for row in data.rows:  # a row with its own sample, and the rows below that take it
        if row.carried and groups:
            groups[-1].append(row)
        else:
            groups.append([row])
    for group in groups:
        layers = [r.values["layer_id"] for r in group]
        one_way = all(a < b for a, b in pairwise(layers)) or all(
            a > b for a, b in pairwise(layers))
        if one_way:  # valid, or invalid for a reason of its own (no sample on the top row)
            assert not any("was the sheet sorted?" in i.message for r in group
                           for i in r.errors), layers
        else:
            assert not any(r.valid for r in group), layers
            assert all(any("was the sheet sorted?" in i.message for i in r.errors)
                       for r in group)


def test_a_sorted_sheet_sends_nothing_for_the_stacks_it_broke(sandbox, tmp_path):
    """The new user's sort by Layer #: before, the rows without a sample went into whichever
    stack landed above them, and only the repeated layer was stopped. Now the broken stack is
    held as a whole and the server is not touched for it."""
    sandbox.store.seed([
        {"id": 1, "sample_id": 7, "sample_name": "A", "substrate": "MgO", "layer_id": 1,
         "composition_string": "SrTiO3"},
        {"id": 2, "sample_id": 8, "sample_name": "B", "substrate": "MgO", "layer_id": 1,
         "composition_string": "LaAlO3"}])
    sandbox.stats.reset()
    rows = _sheet_rows([(7, [1, 2, 3]), (8, [1, 2, 3])])
    rows.sort(key=lambda r: r[1])
    outcome = _sync(sandbox, write_csv(tmp_path / "s.csv", ["sample_id", "layer_id",
                                                            "composition_string"], rows))
    assert _writes(sandbox) == []
    assert outcome.counts["invalid"] == 5 and outcome.counts["unchanged"] == 1
    assert sorted((l["sample_id"], l["layer_id"]) for l in sandbox.store.layers()) == [
        (7, 1), (8, 1)]
