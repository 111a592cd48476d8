"""Crystallography's field rules: Miller indices (with what spreadsheets do to them) and the
230 space groups (`spglib` knows them in all 530 settings, imported on first use)."""

from __future__ import annotations

import datetime as _dt
import math
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Any

from ..core.text import describe
from .cells import Checked, ValueProblem

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
            "indices such as 1-10 become dates when typed into an ordinary cell. Format this "
            "column as text and type the indices again")
    if isinstance(raw, (int, float)):
        return _orientation_from_number(raw)
    return _orientation_from_text(str(raw))


def _orientation_from_number(number: float) -> Checked:
    if not math.isfinite(number) or not float(number).is_integer():
        raise ValueProblem(f"orientation {describe(number)} is not Miller indices; format this "
                           "column as text and type the indices, e.g. 001")
    if number < 0:
        raise ValueProblem(
            f"the spreadsheet stored this orientation as the negative number {describe(number)}: "
            f"an orientation typed as ({-int(number):03d}) is read as an accounting negative. "
            "Format this column as text and type 001")
    digits = str(int(number))
    if len(digits) < 3:
        raise ValueProblem(
            f"the spreadsheet stored this orientation as the number {digits} and dropped its "
            f"leading zeros (was it {digits.zfill(3)}?). Format this column as text "
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
                f"Format this column as text and type {text_.zfill(3)}")
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
    if re.fullmatch(r"\d{1,2}[-/.]\w{1,9}([-/.]\d{2,4})?", original) and re.search(r"[A-Za-z/.]", original):
        return (f"orientation {original!r} looks like a date; format this column as "
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
        if sg is None:  # every Hall number 1-530 has a type; None would be spglib's bug
            continue
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
    if isinstance(raw, (bool, _dt.date, _dt.time)):
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
