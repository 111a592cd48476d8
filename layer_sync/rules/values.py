"""Field rules: parse, validate, normalise and compare the values of a layer.

Everything here is pure: no network, no disk. Chemistry comes from a well-kept library,
imported on first use so that a run that never meets a formula does not pay for it:
`periodictable` parses formulas. Miller indices and space groups are in `crystal`, what a
cell holds before any rule in `cells`.

A cell arrives as the spreadsheet holds it: `str` for text, `float`/`int` for a number,
`datetime.date`/`datetime.datetime` for a date, `bool`, or `None`/'' when blank.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from functools import cache, lru_cache
from typing import Any

from ..core.text import describe
from .cells import (
    MAX_CELL_CHARS,
    MAX_ID,
    MAX_VALUE_CHARS,
    Checked,
    ValueProblem,
    is_blank,
    plain_text,
    text,
    whole_number,
)
from .crystal import parse_orientation, parse_space_group
from .fold import decomposition_tag, fold, special_character

#: The fields of a layer that the sheet may manage, in the order they are shown.
LAYER_FIELDS = ("composition_string", "element_dict", "orientation", "space_group", "mp_id")
SAMPLE_FIELDS = ("sample_id", "sample_name", "substrate")
ALL_FIELDS = ("sample_id", "sample_name", "substrate", "layer_id", *LAYER_FIELDS)

#: The target material of the templates' example stack (`layer-sync template`): a row naming
#: it is an error, so that an example left in a sheet is never created on the server.
EXAMPLE_SAMPLE_NAME = "Example: BTO on STO"

_AMOUNT_TOLERANCE = 1e-6


# --------------------------------------------------------------------------- formulas

# Parsing a formula takes ~0.5 ms (periodictable's grammar); sheets, servers and the sandbox
# repeat a few formulas many times. Measured: planning 5,000 rows that give element_dict
# takes 2.6 s without this cache, 0.26 s with it.
@lru_cache(maxsize=4096)
def _parse_formula_cached(formula: str) -> tuple[tuple[str, float], ...]:
    import periodictable  # heavy (numpy, pyparsing): only when a formula is met

    try:
        parsed = periodictable.formula(formula)
    except Exception as exc:  # noqa: BLE001 - pyparsing's and ValueError: "not a formula"
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


#: A decimal comma inside a formula's amount: `Nd0,5Sm0,5NiO3`.
_DECIMAL_COMMA = re.compile(r"(?<=[A-Za-z)\]])([0-9]*),([0-9]+)", re.ASCII)


def _formula_message(formula: str, exc: Exception) -> str:
    if formula and formula == formula.lower() and any(c.isalpha() for c in formula):
        return (f"{formula!r} is not a chemical formula: element symbols start with a capital "
                f"letter (e.g. BaTiO3, not batio3)")
    detail = str(exc).split("(at char")[0].strip()
    if "unknown element" in detail:
        return f"{formula!r} is not a chemical formula: {detail}"
    if _DECIMAL_COMMA.search(formula):
        pointed = _DECIMAL_COMMA.sub(r"\1.\2", formula)
        return (f"{formula!r} is not a chemical formula: amounts are written with a decimal "
                f"point, not a comma ({pointed})")
    return (f"{formula!r} is not a chemical formula of real elements; write it like BaTiO3, "
            f"(Ba0.5Sr0.5)TiO3 or La0.7Sr0.3MnO3")


def parse_formula(formula: str) -> dict[str, float]:
    """`"BaTiO3"` -> `{"Ba": 1.0, "O": 3.0, "Ti": 1.0}`; raises ValueProblem if not a formula."""
    text_ = fold(formula, "composition_string").strip()
    if not text_:
        raise ValueProblem("the formula is empty")
    if not text_.isascii():
        _refuse_special_characters(text_)
    return dict(_parse_formula_cached(text_))


def _refuse_special_characters(formula: str) -> None:
    """A formula holding a superscript (`SrTi¹⁸O₃`, `⁵⁷Fe₂O₃`, `Fe³⁺`) or another character
    that is not a plain letter or digit (`½`, a subscript at the start) is refused saying
    why: read as plain digits, it would be another chemistry (18 Ti atoms)."""
    why = special_character(formula)
    if why is None:
        return
    if "superscript" in why:
        without = "".join(c for c in formula if decomposition_tag(c) != "<super>")
        hint = "write the formula of the elements"
        try:
            if without and without.isascii() and _parse_formula_cached(without):
                hint += f" ({without})"
        except ValueProblem:
            pass
        raise ValueProblem(f"{formula!r} is not a formula that can be sent: {why} (isotope "
                           f"labels and charges are not supported); {hint}")
    raise ValueProblem(f"{formula!r} is not a chemical formula: {why}, not a plain letter or "
                       "digit; write it like BaTiO3 or La0.7Sr0.3MnO3 (a count follows its "
                       "element)")


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

_PAIR = re.compile(r"^\s*([A-Za-z]{1,3})\s*[:=]\s*([-+0-9.eE]+)\s*$", re.ASCII)
#: An amount as text: a decimal number in the digits 0-9 (`0.5`, `3`, `1e-3`).
_AMOUNT_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


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
                    comma = (" (amounts are written with a decimal point: Nd:0.5, not Nd:0,5)"
                             if re.fullmatch(r"\s*[0-9]+\s*", part) else "")
                    raise ValueProblem(f"{part.strip()!r} is not element:amount; write the "
                                       f"elements like Ba:1, Ti:1, O:3{comma}")
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
            if isinstance(amount, str) and not _AMOUNT_TEXT.fullmatch(amount.strip()):
                raise ValueError(amount)  # `1_0`, `1,5`, other scripts' digits: not read
            number = float(amount)
        except (TypeError, ValueError):
            raise ValueProblem(f"the amount of {symbol} must be a number, not {amount!r}") from None
        if isinstance(amount, bool) or not math.isfinite(number) or number <= 0:
            raise ValueProblem(f"the amount of {symbol} must be a positive number, not {amount!r}")
        if symbol in result:
            raise ValueProblem(f"{symbol} is listed twice")
        result[symbol] = _tidy_number(number)
    return result


# --------------------------------------------------------------------------- mp_id

_MP_ID = re.compile(r"^(mp|mvc)-[0-9]+$", re.IGNORECASE | re.ASCII)


def parse_mp_id(raw: Any) -> str:
    source = text(raw)
    if not _MP_ID.match(source):
        raise ValueProblem(f"{source!r} is not a Materials Project id; write mp-<digits>, "
                           "e.g. mp-5020")
    return source.lower()


# --------------------------------------------------------------------------- one entry point

def max_chars(field_name: str) -> int:
    """The most characters a cell of `field_name` may hold: a name or substrate, a spreadsheet
    cell's limit; any other value, MAX_VALUE_CHARS."""
    return MAX_CELL_CHARS if field_name in ("sample_name", "substrate") else MAX_VALUE_CHARS


def check(field_name: str, raw: Any) -> Checked:
    """Validate and normalise one cell of a field. Blank cells give `Checked(None)`.

    This is where a cell becomes a value: text is first put in its plain form
    (`cells.plain_text`: look-alikes made plain, invisible characters removed, with a warning
    when that changed it; what is not a look-alike, like a superscript, is kept for the rule
    to refuse), so that every rule checks the very text that is compared and sent.
    Raises ValueProblem with a message a technician can act on.
    """
    if is_blank(raw):
        return Checked(None)
    note = None
    typed = raw
    if isinstance(raw, str):
        raw, note = plain_text(raw, field_name)
        if is_blank(raw):
            return Checked(None, [note] if note else [])
    try:
        checked = _check(field_name, raw)
    except ValueProblem as exc:
        if type(exc) is not ValueProblem or not isinstance(raw, str):
            raise
        raise ValueProblem(_explained(str(exc), typed, raw)) from None
    if note:
        checked.warnings.insert(0, note)
    return checked


def _explained(message: str, typed: str, read: str) -> str:
    """A rule's message about the cell `read` (its plain form), naming the cell as typed, with
    why characters in it are not read when they are the reason."""
    if typed != read:  # the technician looks for what they typed
        message = message.replace(repr(read.strip()), repr(typed.strip()), 1)
    if _foreign_digits(read):
        return (f"{message} (its digits are not the digits 0-9: type them again with a Latin "
                "keyboard layout)")
    why = special_character(read)
    if why and why not in message:  # the formula's rule says it already
        return f"{message} ({why}: type plain letters and digits)"
    return message


def _foreign_digits(text_: str) -> bool:
    """Digits of another script (Arabic-Indic, Devanagari, …): no fold makes them 0-9,
    and no rule here reads them."""
    return any(not c.isascii() and unicodedata.category(c) == "Nd" for c in text_)


def _check(field_name: str, raw: Any) -> Checked:
    if isinstance(raw, str) and len(raw) > MAX_VALUE_CHARS:
        limit = max_chars(field_name)
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
    return bool(mine == theirs)
