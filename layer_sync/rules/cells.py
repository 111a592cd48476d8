"""What a cell holds, before any field's rule: blank or not, as a technician saw it, a whole
number, text. Shared by the field rules (`values`, `crystal`) and the reader."""

from __future__ import annotations

import datetime as _dt
import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from ..core.text import describe
from .fold import case_fold, fold, subscript_counts


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


# --------------------------------------------------------------------------- integers

#: The largest id the API stores: its ids are signed 32-bit integers.
MAX_ID = 2_147_483_647
#: A spreadsheet cell holds at most 32,767 characters (Excel and LibreOffice alike).
MAX_CELL_CHARS = 32_767
#: No formula, element list, Miller index, space group or mp-id is longer; the bound keeps a
#: pathological cell from costing seconds in the chemistry parsers.
MAX_VALUE_CHARS = 1_000


#: A whole number as text: ASCII digits, an optional sign, and `.0` (what a CSV written from a
#: number column holds). Nothing else: `10,000` (a thousands separator, or a decimal comma?),
#: `1_0`, `1e1` and `1 000` are refused, never read as some number.
_WHOLE_TEXT = re.compile(r"[+-]?[0-9]+(?:\.0*)?", re.ASCII)
#: Digits in groups: `10,000`, `10.000.000`, `1 000`, `1'000`, `1_000`, `10,5`.
#: A number with an exponent: `1e1`, `1.5E+03`.
_EXPONENT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][+-]?[0-9]{1,4}", re.ASCII)
_GROUPED = re.compile(r"[+-]?[0-9]+(?:[,._' \u00a0\u202f][0-9]+)+", re.ASCII)


def whole_number(raw: Any, what: str, minimum: int = 1, maximum: int | None = None) -> int:
    """`1`, `"1"`, `1.0`, `"1.0"` -> 1; `1.5`, `"two"`, dates and booleans are refused, and
    so is a number past `maximum` (the API's ids stop at `MAX_ID`).

    Text must be one whole number in the digits 0-9 (`_WHOLE_TEXT`): `"10,000"` is refused,
    never read as 10 or 10000 (a thousands separator and a decimal comma cannot be told
    apart), and so are `"1_0"`, `"1e1"` and digits of other scripts."""
    if isinstance(raw, (bool, _dt.date, _dt.time, _dt.timedelta)):
        raise ValueProblem(f"{what} must be a whole number, not {describe(raw)!r}")
    number: float | int
    if isinstance(raw, (int, float)):
        number = raw
    else:
        text = str(raw).strip()
        if not _WHOLE_TEXT.fullmatch(text):
            if maximum is not None and _EXPONENT.fullmatch(text) and float(text) > maximum:
                raise ValueProblem(_too_large(what, text[:30], maximum))
            raise ValueProblem(_not_whole(what, text))
        try:
            number = int(text.split(".")[0])
        except ValueError:  # more digits than Python reads at once: far past any id
            raise ValueProblem(_not_whole(what, text[:30] + "…")) from None
    if isinstance(number, float):
        if not math.isfinite(number) or not number.is_integer():
            raise ValueProblem(f"{what} must be a whole number, not {describe(raw)!r}")
        number = int(number)
    if number < minimum:
        raise ValueProblem(f"{what} must be {minimum} or more, not {number}")
    if maximum is not None and number > maximum:
        shown = str(number) if number < 10**30 else f"{describe(raw)[:30]}…"
        raise ValueProblem(_too_large(what, shown, maximum))
    return number


def _too_large(what: str, shown: str, maximum: int) -> str:
    return (f"{what} {shown} is too large: the API stores ids up to {maximum:,} "
            "(check the cell)")


def _not_whole(what: str, text: str) -> str:
    """Why `text` is not a whole number, with what to write instead."""
    if _GROUPED.fullmatch(text):
        digits = re.sub(r"[^0-9]", "", text)
        return (f"{what} must be a whole number written with the digits 0-9 alone, not "
                f"{text!r}: a thousands separator and a decimal comma cannot be told apart; "
                f"write {digits} if that is the number")
    if _EXPONENT.fullmatch(text):
        return (f"{what} must be a whole number written out in the digits 0-9, not {text!r}; "
                "format the column as a number without exponent")
    return f"{what} must be a whole number, not {text!r}"


# --------------------------------------------------------------------------- plain text

def plain_text(raw: str, field: str | None = None) -> tuple[str, str | None]:
    """A text cell in the form the rules check and the API is sent (`fold.fold`): full-width
    letters and digits, styled letters and odd spaces become their plain forms (`ＳｒＴｉＯ３`
    -> `SrTiO3`, `mp-５０２０` -> `mp-5020`), invisible format characters (zero-width spaces,
    bidi marks, soft hyphens) are removed, and with `field` the subscript digits its grammar
    reads as numbers become digits (`Fe₂O₃` -> `Fe2O3` in a formula). Characters that mean
    something else than plain ones (`¹⁸`, `½`, `ﬁ`) are kept, for the rule to refuse. Returns
    the text and, when that changed what a technician would see or not see, a warning saying
    what it was read as (NFC composition alone says nothing: `é` typed as e + accent is the
    same letter)."""
    if raw.isascii():  # the common case: nothing to do
        return raw, None
    composed = unicodedata.normalize("NFC", raw)
    plain = fold(raw)
    counted = subscript_counts(plain, field) if field else plain
    if counted == composed:
        return counted, None
    changed = [c for c in composed if not c.isascii() and fold(c) != c]
    dropped = sorted({f"U+{ord(c):04X}" for c in changed if unicodedata.category(c) == "Cf"})
    why = []
    if any(unicodedata.category(c) not in ("Cf", "Zs") for c in changed):
        why.append("full-width or other look-alike characters replaced by their plain forms")
    elif any(unicodedata.category(c) == "Zs" for c in changed):
        why.append("special spaces read as plain ones")
    if counted != plain:
        why.append("subscript digits read as digits")
    if dropped:
        why.append(f"invisible characters ({', '.join(dropped[:4])}) removed")
    return counted, f"read as {counted.strip()!r}: {' and '.join(why)}"


def name_key(name: Any) -> str:
    """The one key by which names (`sample_name`, `substrate`) are compared, the sheet's with
    each other and with the server's: two spellings that look alike are one name, and two
    that differ in any character that is not a look-alike (`Run 1²` and `Run 12`, `ﬁ` and
    `fi`) are two. Folded (`fold.fold`: NFD and NFC alike, full-width letters as plain ones,
    invisible format characters removed), each run of whitespace (a non-breaking space too)
    as one space, outer spaces dropped, case folded (`fold.case_fold`). Not a string: ''."""
    if not isinstance(name, str):
        return ""
    return case_fold(" ".join(fold(name).split()))


def text(raw: Any) -> str:
    """A text cell as text: numbers as typed (12.0 -> '12'), surrounding space trimmed."""
    return describe(raw).strip()
