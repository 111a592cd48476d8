"""Field rules: parse, validate, normalise and compare the values of a layer.

Everything here is pure: no network, no disk. Chemistry comes from well-kept libraries,
imported on first use so that a run that never meets a formula does not pay for them:
`periodictable` parses formulas, `spglib` knows the 230 space groups in all 530 settings.

A cell arrives as the spreadsheet holds it: `str` for text, `float`/`int` for a number,
`datetime.date`/`datetime.datetime` for a date, `bool`, or `None`/'' when blank.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

#: The fields of a layer that the sheet may manage, in the order they are shown.
LAYER_FIELDS = ("composition_string", "element_dict", "orientation", "space_group", "mp_id")
SAMPLE_FIELDS = ("sample_id", "sample_name", "substrate")
ALL_FIELDS = ("sample_id", "sample_name", "substrate", "layer_id", *LAYER_FIELDS)

_AMOUNT_TOLERANCE = 1e-6


class ValueProblem(ValueError):
    """A value that cannot be used. The message says what to do."""


@dataclass
class Checked:
    """A cell after its rule: the value to send (None when blank) and any warnings."""

    value: Any = None
    warnings: list[str] = field(default_factory=list)


def is_blank(raw: Any) -> bool:
    """True for a cell that holds nothing: blank means the sheet does not manage the field."""
    if raw is None:
        return True
    if isinstance(raw, str):
        return raw.strip() == ""
    if isinstance(raw, float):
        return math.isnan(raw)
    return False


def describe(raw: Any) -> str:
    """The value as a technician saw it, for messages and the report."""
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "TRUE" if raw else "FALSE"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, _dt.datetime):
        return raw.isoformat(sep=" ")
    if isinstance(raw, (_dt.date, _dt.time)):
        return raw.isoformat()
    if isinstance(raw, (dict, list)):
        return json.dumps(raw, separators=(", ", ": "))
    return str(raw)


# --------------------------------------------------------------------------- integers

#: The largest id the API stores: its ids are signed 32-bit integers.
MAX_ID = 2_147_483_647
#: A spreadsheet cell holds at most 32,767 characters (Excel and LibreOffice alike).
MAX_CELL_CHARS = 32_767
#: No formula, element list, Miller index, space group or mp-id is longer; the bound keeps a
#: pathological cell from costing seconds in the chemistry parsers.
MAX_VALUE_CHARS = 1_000


def whole_number(raw: Any, what: str, minimum: int = 1, maximum: int | None = None) -> int:
    """`1`, `"1"`, `1.0` -> 1; `1.5`, `"two"`, dates and booleans are refused, and so is a
    number past `maximum` (the API's ids stop at `MAX_ID`)."""
    if isinstance(raw, bool) or isinstance(raw, (_dt.date, _dt.time, _dt.timedelta)):
        raise ValueProblem(f"{what} must be a whole number, not {describe(raw)!r}")
    number: float | int
    if isinstance(raw, int):
        number = raw
    elif isinstance(raw, float):
        number = raw
    else:
        text = str(raw).strip()
        try:
            number = int(text)
        except ValueError:
            try:
                number = float(text.replace(",", "."))
            except ValueError:
                raise ValueProblem(f"{what} must be a whole number, not {text!r}") from None
    if isinstance(number, float):
        if not math.isfinite(number) or not number.is_integer():
            raise ValueProblem(f"{what} must be a whole number, not {describe(raw)!r}")
        number = int(number)
    if number < minimum:
        raise ValueProblem(f"{what} must be {minimum} or more, not {number}")
    if maximum is not None and number > maximum:
        shown = str(number) if number < 10**30 else f"{describe(raw)[:30]}…"
        raise ValueProblem(f"{what} {shown} is too large: the API stores ids up to {maximum:,} "
                           "(check the cell)")
    return number


def text(raw: Any) -> str:
    """A text cell as text: numbers as typed (12.0 -> '12'), surrounding space trimmed."""
    return describe(raw).strip()


# --------------------------------------------------------------------------- formulas

# Parsing a formula takes ~0.5 ms (periodictable's grammar); sheets, servers and the sandbox
# repeat a few formulas many times. Measured: planning 5,000 rows that give element_dict
# takes 2.6 s without this cache, 0.26 s with it.
@lru_cache(maxsize=4096)
def _parse_formula_cached(formula: str) -> tuple[tuple[str, float], ...]:
    import periodictable  # heavy (numpy, pyparsing): only when a formula is met

    try:
        parsed = periodictable.formula(formula)
    except Exception as exc:  # pyparsing and ValueError both mean "not a formula"
        raise ValueProblem(_formula_message(formula, exc)) from None
    atoms: dict[str, float] = {}
    for atom, amount in parsed.atoms.items():
        symbol = _element_symbol(atom)
        if symbol is None:
            raise ValueProblem(f"{formula!r} is not a chemical formula: {atom} is not an element")
        atoms[symbol] = atoms.get(symbol, 0.0) + float(amount)
    if not atoms or any(amount <= 0 for amount in atoms.values()):
        raise ValueProblem(f"{formula!r} is not a chemical formula of real elements")
    return tuple(atoms.items())


def _element_symbol(atom: Any) -> str | None:
    """The element symbol of a periodictable atom (ions and isotopes fold to their element)."""
    element = getattr(atom, "element", atom)
    number = getattr(element, "number", None)
    if number is None or number < 1:  # 0 is the free neutron "n"
        return None
    symbol = getattr(element, "symbol", None)
    # Deuterium and tritium are isotopes of hydrogen; count them as H.
    return "H" if symbol in ("D", "T") else symbol


def _formula_message(formula: str, exc: Exception) -> str:
    if formula and formula == formula.lower() and any(c.isalpha() for c in formula):
        return (f"{formula!r} is not a chemical formula: element symbols start with a capital "
                f"letter (e.g. BaTiO3, not batio3)")
    detail = str(exc).split("(at char")[0].strip()
    if "unknown element" in detail:
        return f"{formula!r} is not a chemical formula: {detail}"
    return (f"{formula!r} is not a chemical formula of real elements; write it like BaTiO3, "
            f"(Ba0.5Sr0.5)TiO3 or La0.7Sr0.3MnO3")


def parse_formula(formula: str) -> dict[str, float]:
    """`"BaTiO3"` -> `{"Ba": 1.0, "O": 3.0, "Ti": 1.0}`; raises ValueProblem if not a formula."""
    text_ = unicodedata.normalize("NFKC", formula).strip()
    if not text_:
        raise ValueProblem("the formula is empty")
    return dict(_parse_formula_cached(text_))


def element_counts(formula: str) -> dict[str, int | float]:
    """The element_dict a server derives from a formula: whole amounts as integers."""
    return {symbol: _tidy_number(amount) for symbol, amount in parse_formula(formula).items()}


def _tidy_number(amount: float) -> int | float:
    return int(amount) if float(amount).is_integer() else round(float(amount), 9)


def _same_amounts(a: dict[str, float], b: dict[str, float]) -> bool:
    if set(a) != set(b):
        return False
    return all(math.isclose(a[k], b[k], rel_tol=_AMOUNT_TOLERANCE, abs_tol=_AMOUNT_TOLERANCE)
               for k in a)


def _fractions(amounts: dict[str, float]) -> dict[str, float]:
    total = sum(amounts.values())
    return {k: v / total for k, v in amounts.items()} if total else amounts


# --------------------------------------------------------------------------- element_dict

_PAIR = re.compile(r"^\s*([A-Za-z]{1,3})\s*[:=]\s*([-+0-9.eE]+)\s*$")


@cache
def _element_symbols() -> frozenset[str]:
    import periodictable

    return frozenset(el.symbol for el in periodictable.elements if el.number > 0)


def parse_element_dict(raw: Any) -> dict[str, int | float]:
    """A JSON object or `Ba:1, Ti:1, O:3` -> `{"Ba": 1, "Ti": 1, "O": 3}`."""
    if isinstance(raw, dict):
        items = list(raw.items())
    elif isinstance(raw, str):
        source = raw.strip()
        if source.startswith("{"):
            try:
                loaded = json.loads(source)
            except json.JSONDecodeError:
                raise ValueProblem(f"{source!r} is not a valid JSON object; write "
                                   '{"Ba": 1, "Ti": 1, "O": 3} or Ba:1, Ti:1, O:3') from None
            if not isinstance(loaded, dict):
                raise ValueProblem(f"{source!r} is not an object of element: amount")
            items = list(loaded.items())
        else:
            items = []
            for part in re.split(r"[,;]", source):
                if not part.strip():
                    continue
                match = _PAIR.match(part)
                if not match:
                    raise ValueProblem(f"{part.strip()!r} is not element:amount; write the "
                                       "elements like Ba:1, Ti:1, O:3")
                items.append((match.group(1), match.group(2)))
    else:
        raise ValueProblem(f"{describe(raw)!r} is not a list of elements; write Ba:1, Ti:1, O:3")
    if not items:
        raise ValueProblem("the element list is empty; write Ba:1, Ti:1, O:3")
    symbols = _element_symbols()
    result: dict[str, int | float] = {}
    for symbol, amount in items:
        symbol = str(symbol).strip()
        if symbol not in symbols:
            raise ValueProblem(f"{symbol!r} is not an element symbol")
        try:
            number = float(amount)
        except (TypeError, ValueError):
            raise ValueProblem(f"the amount of {symbol} must be a number, not {amount!r}") from None
        if isinstance(amount, bool) or not math.isfinite(number) or number <= 0:
            raise ValueProblem(f"the amount of {symbol} must be a positive number, not {amount!r}")
        if symbol in result:
            raise ValueProblem(f"{symbol} is listed twice")
        result[symbol] = _tidy_number(number)
    return result


# --------------------------------------------------------------------------- orientation

_BRACKETS = {"(": ")", "[": "]", "{": "}", "<": ">"}
_DIGIT_TOKEN = re.compile(r"-?\d")


def parse_orientation(raw: Any) -> Checked:
    """Miller indices in any usual notation -> compact form (`(0 0 1)` -> `001`).

    The cell's type tells what a spreadsheet did to the value: a number of fewer than three
    digits lost its leading zeros, a negative number was an accounting `(001)`, a date was
    `1-10`. Those are refused, never guessed at.
    """
    if isinstance(raw, bool):
        raise ValueProblem("orientation must be Miller indices such as 001, not a TRUE/FALSE cell")
    if isinstance(raw, (_dt.date, _dt.datetime, _dt.time)):
        raise ValueProblem(
            f"the spreadsheet turned this orientation into a date ({describe(raw)}); Miller "
            "indices such as 1-10 become dates when typed into an ordinary cell. Format the "
            "Orientation column as text and type the indices again")
    if isinstance(raw, (int, float)):
        return _orientation_from_number(raw)
    return _orientation_from_text(str(raw))


def _orientation_from_number(number: float) -> Checked:
    if not math.isfinite(number) or not float(number).is_integer():
        raise ValueProblem(f"orientation {describe(number)} is not Miller indices; format the "
                           "Orientation column as text and type the indices, e.g. 001")
    if number < 0:
        raise ValueProblem(
            f"the spreadsheet stored this orientation as the negative number {describe(number)}: "
            f"an orientation typed as ({-int(number):03d}) is read as an accounting negative. "
            "Format the Orientation column as text and type 001")
    digits = str(int(number))
    if len(digits) < 3:
        raise ValueProblem(
            f"the spreadsheet stored this orientation as the number {digits} and dropped its "
            f"leading zeros (was it {digits.zfill(3)}?). Format the Orientation column as text "
            f"and type {digits.zfill(3)}")
    return _orientation_from_text(digits)


def _orientation_from_text(source: str) -> Checked:
    original = source.strip()
    text_ = unicodedata.normalize("NFC", original)
    text_ = text_.replace("\u2212", "-").replace("\u2013", "-").replace("\u2012", "-")
    # An overbar (combining U+0305 after the digit) is crystallographers' minus sign.
    text_ = re.sub(r"(\d)\u0305", r"-\1", text_)
    if len(text_) >= 2 and text_[0] in _BRACKETS and text_[-1] == _BRACKETS[text_[0]]:
        text_ = text_[1:-1].strip()
    if not text_:
        raise ValueProblem("orientation is empty inside its brackets")
    if re.search(r"[\s,]", text_):
        tokens = [t for t in re.split(r"[\s,]+", text_) if t]
        if not all(re.fullmatch(r"[-+]?\d+", t) for t in tokens):
            raise ValueProblem(_bad_orientation(original))
        indices = [int(t) for t in tokens]
    else:
        if not re.fullmatch(r"(-?\d)+", text_):
            raise ValueProblem(_bad_orientation(original))
        indices = [int(t) for t in _DIGIT_TOKEN.findall(text_)]
    if len(indices) not in (3, 4):
        if len(indices) < 3 and re.fullmatch(r"\d{1,2}", text_):
            raise ValueProblem(
                f"orientation {original!r} has {len(indices)} index(es), Miller indices have 3 "
                f"or 4; if it was {text_.zfill(3)}, the spreadsheet dropped its leading zeros. "
                f"Format the Orientation column as text and type {text_.zfill(3)}")
        raise ValueProblem(f"orientation {original!r} has {len(indices)} indices; Miller indices "
                           "have 3 (hkl, e.g. 001) or 4 (hkil, e.g. 0001)")
    if not any(indices):
        raise ValueProblem(f"orientation {original!r} is all zeros, which is no direction")
    checked = Checked(compact_orientation(indices))
    if len(indices) == 4 and indices[2] != -(indices[0] + indices[1]):
        h, k, i, l_ = indices
        expected = compact_orientation([h, k, -(h + k), l_])
        checked.warnings.append(
            f"in four-index notation the third index should be -(h+k) = {-(h + k)}; "
            f"did you mean {expected}?")
    return checked


def _bad_orientation(original: str) -> str:
    if re.fullmatch(r"\d{1,2}[-/.]\w{1,9}([-/.]\d{2,4})?", original) and re.search(r"[A-Za-z/.]", original):
        return (f"orientation {original!r} looks like a date; format the Orientation column as "
                "text and type the Miller indices, e.g. 1-10")
    return (f"orientation {original!r} is not Miller indices; write them like 001, 1-10, "
            "(111) or 0001")


def compact_orientation(indices: list[int]) -> str:
    """The compact form: `[1, -1, 0]` -> `1-10`; indices of two digits keep spaces."""
    if all(abs(i) < 10 for i in indices):
        return "".join(str(i) for i in indices)
    return " ".join(str(i) for i in indices)


# --------------------------------------------------------------------------- space groups

@dataclass(frozen=True)
class SpaceGroup:
    number: int
    short: str  # international short symbol, e.g. "P2_1/c"
    given_as_number: bool = False


@cache
def _space_group_table() -> tuple[dict[str, set[int]], dict[int, str]]:
    """Every symbol spglib knows for the 230 groups (all 530 settings), squeezed."""
    import warnings

    import spglib  # only when a space group is met

    by_symbol: dict[str, set[int]] = {}
    short: dict[int, str] = {}
    with warnings.catch_warnings():  # spglib 2.x warns about its own error-handling switch
        warnings.simplefilter("ignore", DeprecationWarning)
        types = [spglib.get_spacegroup_type(hall) for hall in range(1, 531)]
    for sg in types:
        short.setdefault(sg.number, sg.international_short)
        names = {sg.international_short, sg.international_full,
                 *(part for part in sg.international.split("="))}
        full_tokens = sg.international_full.split()
        # Monoclinic settings are also written without their 1s: P 1 2_1/n 1 -> P2_1/n.
        if len(full_tokens) == 4 and full_tokens.count("1") == 2:
            names.add("".join(t for t in full_tokens if t != "1"))
        for name in names:
            by_symbol.setdefault(_squeeze(name), set()).add(sg.number)
    return by_symbol, short


def _squeeze(symbol: str) -> str:
    """Spaces and screw-axis underscores do not matter: `P 2_1/c` == `P21/c`."""
    symbol = unicodedata.normalize("NFKC", symbol).replace("\u2212", "-")
    symbol = re.sub(r"[\s_]", "", symbol)
    return re.sub(r":.*$", "", symbol)  # origin / axes choice suffix (R-3m:H)


def parse_space_group(raw: Any) -> SpaceGroup:
    """A Hermann–Mauguin symbol or a number 1-230 -> its group; raises ValueProblem."""
    if isinstance(raw, bool) or isinstance(raw, (_dt.date, _dt.time)):
        raise ValueProblem(f"space group {describe(raw)!r} is neither a symbol nor a number 1-230")
    by_symbol, short = _space_group_table()
    if isinstance(raw, (int, float)) or re.fullmatch(r"\s*#?\s*\d+(\.0+)?\s*", str(raw)):
        source = str(raw).strip().lstrip("#").strip()
        number = int(float(source))
        if not 1 <= number <= 230:
            raise ValueProblem(f"space group number {number} does not exist; numbers run 1-230")
        return SpaceGroup(number, short[number], given_as_number=True)
    source = str(raw).strip()
    squeezed = _squeeze(source)
    numbers = by_symbol.get(squeezed)
    if not numbers and squeezed[:1].islower():  # p4mm -> P4mm: the lattice letter is upper case
        numbers = by_symbol.get(squeezed[:1].upper() + squeezed[1:])
    if not numbers:
        hint = _space_group_hint(squeezed, by_symbol, short)
        raise ValueProblem(f"{source!r} is not one of the 230 space groups{hint}")
    if len(numbers) > 1:
        raise ValueProblem(f"{source!r} names more than one space group "
                           f"({', '.join(map(str, sorted(numbers)))}); write its number")
    number = next(iter(numbers))
    return SpaceGroup(number, short[number])


def _space_group_hint(squeezed: str, by_symbol: dict[str, set[int]], short: dict[int, str]) -> str:
    # Old cubic notation drops the bar: Fm3m for Fm-3m.
    for i, char in enumerate(squeezed):
        if char.isdigit():
            candidate = squeezed[:i] + "-" + squeezed[i:]
            found = by_symbol.get(candidate)
            if found and len(found) == 1:
                return f"; did you mean {short[next(iter(found))]}?"
    return "; write the Hermann-Mauguin symbol (P4mm, Fm-3m, P2_1/c) or the number 1-230"


# --------------------------------------------------------------------------- mp_id

_MP_ID = re.compile(r"^(mp|mvc)-\d+$", re.IGNORECASE)


def parse_mp_id(raw: Any) -> str:
    source = text(raw)
    if not _MP_ID.match(source):
        raise ValueProblem(f"{source!r} is not a Materials Project id; write mp-<digits>, "
                           "e.g. mp-5020")
    return source.lower()


# --------------------------------------------------------------------------- one entry point

def check(field_name: str, raw: Any) -> Checked:
    """Validate and normalise one cell of a field. Blank cells give `Checked(None)`.

    Raises ValueProblem with a message a technician can act on.
    """
    if is_blank(raw):
        return Checked(None)
    if isinstance(raw, str) and len(raw) > MAX_VALUE_CHARS:
        limit = MAX_CELL_CHARS if field_name in ("sample_name", "substrate") else MAX_VALUE_CHARS
        if len(raw) > limit:
            raise ValueProblem(f"this cell holds {len(raw):,} characters; a {field_name} is "
                               f"never longer than {limit:,}" + (
                                   " (a spreadsheet cell's limit)" if limit == MAX_CELL_CHARS else ""))
    if field_name == "layer_id":
        return Checked(whole_number(raw, "layer_id", maximum=MAX_ID))
    if field_name == "sample_id":
        return Checked(whole_number(raw, "sample_id", maximum=MAX_ID))
    if field_name in ("sample_name", "substrate"):
        return Checked(text(raw))
    if field_name == "composition_string":
        if not isinstance(raw, str):
            raise ValueProblem(f"{describe(raw)!r} is not a chemical formula; write it like BaTiO3")
        parse_formula(raw)
        return Checked(raw.strip())
    if field_name == "element_dict":
        return Checked(parse_element_dict(raw))
    if field_name == "orientation":
        return parse_orientation(raw)
    if field_name == "space_group":
        group = parse_space_group(raw)
        return Checked(group.short if group.given_as_number else str(raw).strip())
    if field_name == "mp_id":
        return Checked(parse_mp_id(raw))
    raise KeyError(field_name)


#: The two fields that describe one chemistry: compared as amounts, sent together.
CHEMISTRY_FIELDS = ("composition_string", "element_dict")


def composition_conflict(formula: str, elements: dict[str, int | float]) -> str | None:
    """The error when a formula and an element_dict contradict each other, else None.

    They agree when they hold the same elements in the same amounts, or in the same
    proportions (`SrTiO3` and `Sr:0.2, Ti:0.2, O:0.6`).
    """
    try:
        atoms = parse_formula(formula)
    except ValueProblem:
        return None  # the formula's own rule reports it
    given = {k: float(v) for k, v in elements.items()}
    if _same_amounts(atoms, given) or _same_amounts(_fractions(atoms), _fractions(given)):
        return None
    return (f"element_dict {describe(elements)} does not match composition_string "
            f"{formula!r} ({describe(element_counts(formula))}); correct one of them, or "
            "leave element_dict blank: the server derives it from the formula")


def meaning(field_name: str, value: Any) -> Any:
    """What a value means, in a form that compares: a formula or an element_dict as its
    amounts (sorted (symbol, amount) pairs), an orientation in compact form, a space group as
    its number, an mp_id in lower case. Raises ValueProblem for a value the rules cannot read.
    """
    if isinstance(value, str):
        return _meaning_of_text(field_name, value)
    return _meaning(field_name, value)


# A big sheet holds the same few formulas, orientations and groups again and again, as does
# the server: each text is read once. Measured on 50,000 rows: planning takes 1.3-1.9x as
# long without this cache.
@lru_cache(maxsize=4096)
def _meaning_of_text(field_name: str, value: str) -> Any:
    return _meaning(field_name, value)


def _meaning(field_name: str, value: Any) -> Any:
    if field_name == "composition_string":
        return tuple(sorted(parse_formula(text(value)).items()))
    if field_name == "element_dict":
        return tuple(sorted((k, float(v)) for k, v in parse_element_dict(value).items()))
    if field_name == "orientation":
        return parse_orientation(value).value
    if field_name == "space_group":
        return parse_space_group(value).number
    if field_name == "mp_id":
        return text(value).lower()
    if field_name in ("layer_id", "sample_id"):
        return whole_number(value, field_name, minimum=0)
    return text(value)


def same(field_name: str, sheet_value: Any, server_value: Any) -> bool:
    """Do a sheet's (already checked) value and a server's value mean the same thing?"""
    if sheet_value == server_value:  # a checked value means what it means: nothing to read
        return True
    if is_blank(server_value):
        return False
    try:
        mine, theirs = meaning(field_name, sheet_value), meaning(field_name, server_value)
    except ValueProblem:
        # The server holds something the rules cannot read: it differs from a good value.
        return False
    if field_name in CHEMISTRY_FIELDS:
        return _same_amounts(dict(mine), dict(theirs))
    return mine == theirs
