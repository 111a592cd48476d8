"""What a cell holds, before any field's rule: blank or not, as a technician saw it, a whole
number, text. Shared by the field rules (`values`, `crystal`) and the reader."""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from typing import Any

from ..core.text import describe


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


def whole_number(raw: Any, what: str, minimum: int = 1, maximum: int | None = None) -> int:
    """`1`, `"1"`, `1.0` -> 1; `1.5`, `"two"`, dates and booleans are refused, and so is a
    number past `maximum` (the API's ids stop at `MAX_ID`)."""
    if isinstance(raw, (bool, _dt.date, _dt.time, _dt.timedelta)):
        raise ValueProblem(f"{what} must be a whole number, not {describe(raw)!r}")
    number: float | int
    if isinstance(raw, (int, float)):
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
