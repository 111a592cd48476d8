"""Crystallography's field rules: Miller indices (with what spreadsheets do to them) and the
230 space groups (spglib's table of them in all 530 settings, kept as data)."""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from ..core.text import describe
from .cells import Checked, ValueProblem
from .fold import fold

# --------------------------------------------------------------------------- orientation

_BRACKETS = {"(": ")", "[": "]", "{": "}", "<": ">"}
_DIGIT_TOKEN = re.compile(r"-?[0-9]")


class MangledOrientation(ValueProblem):
    """An orientation a spreadsheet changed (`mangled`): the message is the general advice;
    the reader and the plan give advice that knows the file and the server (`rules.advice`)."""

    def __init__(self, mangled: Mangled) -> None:
        super().__init__(f"{mangled.what}{mangled.facts}. Keep the orientation column as text "
                         "and give the indices again")
        self.mangled = mangled


@dataclass(frozen=True)
class Mangled:
    """What a spreadsheet made of Miller indices typed into an ordinary cell, and what they
    may have been (`readings`, in compact form: the server's value is compared with them)."""

    kind: str                    # "number", "negative" or "date"
    shown: str                   # the cell as the spreadsheet keeps it: 1, -1, 2026-01-10
    readings: tuple[str, ...]    # what it may have been typed as: 001, 0001

    @property
    def what(self) -> str:
        """What happened, in one clause."""
        if self.kind == "number":
            return (f"the spreadsheet stored this orientation as the number {self.shown} and "
                    "dropped its leading zeros")
        if self.kind == "negative":
            return (f"the spreadsheet stored this orientation as the negative number "
                    f"{self.shown}: indices typed in brackets into an ordinary cell, such as "
                    "(001), become accounting negatives")
        return (f"the spreadsheet turned this orientation into a date ({self.shown}): Miller "
                "indices such as 1-10 typed into an ordinary cell become dates")

    @property
    def facts(self) -> str:
        """` (001 and 0001 both become 1)`: what may have become this cell, as a fact, never
        as a proposal (only the technician, or the server, can tell which it was)."""
        if not self.readings:
            return ""
        shown = {"number": self.shown, "negative": self.shown}.get(self.kind, "this date")
        if len(self.readings) == 1:
            return f" ({self.readings[0]} becomes {shown})"
        listed = ", ".join(self.readings[:-1]) + f" and {self.readings[-1]}"
        return f" ({listed} {'both' if len(self.readings) == 2 else 'all'} become {shown})"


def parse_orientation(raw: Any) -> Checked:
    """Miller indices in any usual notation -> compact form (`(0 0 1)` -> `001`).

    The cell's type tells what a spreadsheet did to the value: a number of fewer than three
    digits lost its leading zeros, a negative number was an accounting `(001)`, a date was
    `1-10`; in a CSV (text), the same as text (`1`, `-1`, `2026-01-10`, `10-Jan`). Those
    raise MangledOrientation, never guessed at.
    """
    if isinstance(raw, bool):
        raise ValueProblem("orientation must be Miller indices such as 001, not a TRUE/FALSE cell")
    mangled = mangled_orientation(raw)
    if mangled is not None:
        raise MangledOrientation(mangled)
    if isinstance(raw, (_dt.date, _dt.datetime, _dt.time)):
        raise ValueProblem(f"orientation {describe(raw)!r} is a date or a time, not Miller "
                           "indices; keep the orientation column as text and type the indices")
    if isinstance(raw, (int, float)):
        return _orientation_from_number(raw)
    return _orientation_from_text(str(raw))


def _orientation_from_number(number: float) -> Checked:
    if not math.isfinite(number) or not float(number).is_integer():
        raise ValueProblem(f"orientation {describe(number)} is not Miller indices; format this "
                           "column as text and type the indices, e.g. 001")
    return _orientation_from_text(str(int(number)))


# ------------------------------------------------------------- what spreadsheets do to them

def mangled_orientation(raw: Any) -> Mangled | None:
    """What a spreadsheet made of an orientation, when the cell shows it did: a number of
    fewer than three digits (leading zeros dropped), a negative number (an accounting
    `(001)`, or `-110` read as a number), a date (`1-10`); in a CSV the same as text (`1`,
    `-1`, `2026-01-10`, `10-Jan`, `1/10/2026`). None for anything else."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, _dt.datetime) and raw.time() == _dt.time():
        return _mangled_date(raw.month, raw.day, raw.date().isoformat())  # a date cell
    if isinstance(raw, _dt.date):
        return _mangled_date(raw.month, raw.day, describe(raw))
    if isinstance(raw, (int, float)):
        if not math.isfinite(raw) or not float(raw).is_integer():
            return None
        number = int(raw)
        if 0 <= number < 100:
            return _mangled_number(number, str(number))
        if number < 0:
            return _mangled_negative(-number, describe(raw))
        return None
    if not isinstance(raw, str):
        return None
    text_ = raw.strip()
    if re.fullmatch(r"[0-9]{1,2}", text_):
        return _mangled_number(int(text_), text_)
    if re.fullmatch(r"-[0-9]{1,3}", text_) and len(_DIGIT_TOKEN.findall(text_)) < 3:
        return _mangled_negative(int(text_[1:]), text_)
    date = _date_text(text_)
    return None if date is None else _mangled_date(*date, text_)


def _mangled_number(number: int, shown: str) -> Mangled:
    return Mangled("number", shown, _padded(str(number)))


def _mangled_negative(number: int, shown: str) -> Mangled:
    digits = str(number)
    readings = list(_padded(digits)) if len(digits) < 3 else [digits]
    as_typed = _reading(f"-{digits}")  # -110 typed into an ordinary cell is a number too
    if as_typed is not None:
        readings.append(as_typed)
    return Mangled("negative", shown, tuple(r for r in readings if _reading(r) is not None))


def _padded(digits: str) -> tuple[str, ...]:
    """The indices a number of fewer than three digits may have been: 1 -> 001, 0001."""
    found = (_reading(digits.zfill(3)), _reading(digits.zfill(4)))
    return tuple(r for r in found if r is not None)


def _mangled_date(month: int, day: int, shown: str) -> Mangled:
    readings: list[str] = []
    for first, second in ((month, day), (day, month)):
        for lead in {str(first), str(first).zfill(2)}:
            reading = _reading(f"{lead}-{second}")
            if reading is not None and reading not in readings:
                readings.append(reading)
    return Mangled("date", shown, tuple(sorted(readings, key=lambda r: (len(r), r))))


def _reading(typed: str) -> str | None:
    """Indices typed as `typed`, in compact form, when they are valid Miller indices (4-index
    ones consistent: i = -(h+k)); else None."""
    indices = [int(t) for t in _DIGIT_TOKEN.findall(typed)]
    if len(indices) not in (3, 4) or not any(indices):
        return None
    if len(indices) == 4 and indices[2] != -(indices[0] + indices[1]):
        return None
    return compact_orientation(indices)


_MONTHS = {name: number for number, names in enumerate((
    ("jan", "january", "janv", "janvier", "januar", "jän"), ("feb", "february", "févr", "februar"),
    ("mar", "march", "mär", "mrz", "mars", "märz"), ("apr", "april", "avr", "avril"),
    ("may", "mai"), ("jun", "june", "juin", "juni"), ("jul", "july", "juil", "juillet", "juli"),
    ("aug", "august", "août"), ("sep", "sept", "september", "septembre"),
    ("oct", "october", "okt", "octobre", "oktober"), ("nov", "november", "novembre"),
    ("dec", "december", "dez", "déc", "décembre", "dezember")), start=1) for name in names}
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?",
                       re.ASCII)
_NUMERIC_DATE = re.compile(r"(\d{1,2})/(\d{1,2})(?:/(\d{2}|\d{4}))?|(\d{1,2})\.(\d{1,2})\.(\d{2}|\d{4})",
                           re.ASCII)
_NAMED_DATE = re.compile(r"([0-9]{1,2})[-\s.]+([^\W\d_]{3,9})\.?(?:[-\s.]+[0-9]{2,4})?"
                         r"|([^\W\d_]{3,9})\.?[-\s]+([0-9]{1,4})(?:,?[-\s]+[0-9]{2,4})?")


def _date_text(text_: str) -> tuple[int, int] | None:
    """(month, day) of a date as a spreadsheet writes it into a CSV (2026-01-10, 1/10/2026,
    10.01.2026, 10-Jan, Jan-10, 10-Jan-26), in either order when it cannot tell; else None."""
    pair: tuple[int, int] | None = None
    if match := _ISO_DATE.fullmatch(text_):
        pair = (int(match[2]), int(match[3]))
    elif match := _NUMERIC_DATE.fullmatch(text_):
        pair = ((int(match[1]), int(match[2])) if match[1] else (int(match[5]), int(match[4])))
    elif match := _NAMED_DATE.fullmatch(text_):
        if match[1]:
            month, day = _MONTHS.get(match[2].casefold()), int(match[1])
        else:
            month, day = _MONTHS.get(match[3].casefold()), int(match[4])
        pair = (month, day) if month else None
    if pair is None:
        return None
    first, second = pair
    if 1 <= first <= 12 and 1 <= second <= 31 or 1 <= second <= 12 and 1 <= first <= 31:
        return pair
    return None


def _orientation_from_text(source: str) -> Checked:
    original = source.strip()
    text_ = unicodedata.normalize("NFC", original)
    text_ = text_.replace("\u2212", "-").replace("\u2013", "-").replace("\u2012", "-")
    # An overbar (combining U+0305 after the digit) is crystallographers' minus sign.
    text_ = re.sub(r"([0-9])\u0305", r"-\1", text_)
    if len(text_) >= 2 and text_[0] in _BRACKETS and text_[-1] == _BRACKETS[text_[0]]:
        text_ = text_[1:-1].strip()
    if not text_:
        raise ValueProblem("orientation is empty inside its brackets")
    if re.search(r"[\s,]", text_):
        tokens = [t for t in re.split(r"[\s,]+", text_) if t]
        if not all(re.fullmatch(r"[-+]?[0-9]+", t) for t in tokens):
            raise ValueProblem(_bad_orientation(original))
        indices = [int(t) for t in tokens]
    else:
        if not re.fullmatch(r"(-?[0-9])+", text_):
            raise ValueProblem(_bad_orientation(original))
        indices = [int(t) for t in _DIGIT_TOKEN.findall(text_)]
    if len(indices) not in (3, 4):
        raise ValueProblem(f"orientation {original!r} has {len(indices)} indices; Miller indices "
                           "have 3 (hkl, e.g. 001) or 4 (hkil, e.g. 0001)")
    if not any(indices):
        raise ValueProblem(f"orientation {original!r} is all zeros, which is no direction")
    checked = Checked(compact_orientation(indices))
    if len(indices) == 4 and indices[2] != -(indices[0] + indices[1]):
        h, k, _, l_ = indices
        expected = compact_orientation([h, k, -(h + k), l_])
        checked.warnings.append(
            f"in four-index notation the third index should be -(h+k) = {-(h + k)}; "
            f"did you mean {expected}?")
    return checked


def _bad_orientation(original: str) -> str:
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
    """Every symbol of the 230 groups in all 530 settings (spglib's table, kept as data in
    `space_groups.json`: see scripts/make_space_groups.py), squeezed."""
    table = json.loads(resources.files(__package__).joinpath("space_groups.json")
                       .read_text(encoding="utf-8"))
    by_symbol: dict[str, set[int]] = {}
    short: dict[int, str] = {}
    for number, international_short, international_full, international in table["settings"]:
        short.setdefault(number, international_short)
        names = {international_short, international_full, *international.split("=")}
        full_tokens = international_full.split()
        # Monoclinic settings are also written without their 1s: P 1 2_1/n 1 -> P2_1/n.
        if len(full_tokens) == 4 and full_tokens.count("1") == 2:
            names.add("".join(t for t in full_tokens if t != "1"))
        for name in names:
            by_symbol.setdefault(_squeeze(name), set()).add(number)
    return by_symbol, short


def _squeeze(symbol: str) -> str:
    """Spaces and screw-axis underscores do not matter: `P 2_1/c` == `P21/c`."""
    symbol = fold(symbol, "space_group").replace("\u2212", "-")
    symbol = re.sub(r"[\s_]", "", symbol)
    return re.sub(r":.*$", "", symbol)  # origin / axes choice suffix (R-3m:H)


def parse_space_group(raw: Any) -> SpaceGroup:
    """A Hermann–Mauguin symbol or a number 1-230 -> its group; raises ValueProblem."""
    if isinstance(raw, (bool, _dt.date, _dt.time)):
        raise ValueProblem(f"space group {describe(raw)!r} is neither a symbol nor a number 1-230")
    by_symbol, short = _space_group_table()
    if isinstance(raw, (int, float)) or re.fullmatch(r"\s*#?\s*[0-9]+(\.0+)?\s*", str(raw)):
        source = str(raw).strip().lstrip("#").strip()
        amount = float(source)
        if not math.isfinite(amount) or not amount.is_integer():  # 99.5 is no group, nor 99
            raise ValueProblem(f"space group number {describe(raw)} is not a whole number; "
                               "numbers run 1-230")
        number = int(amount)
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
        if char in "0123456789":
            candidate = squeezed[:i] + "-" + squeezed[i:]
            found = by_symbol.get(candidate)
            if found and len(found) == 1:
                return f"; did you mean {short[next(iter(found))]}?"
    return "; write the Hermann-Mauguin symbol (P4mm, Fm-3m, P2_1/c) or the number 1-230"
