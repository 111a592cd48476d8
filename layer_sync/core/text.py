"""Text as users read it: a cell's value as a technician saw it, counted nouns, and text made
safe to print (no control character reaches a terminal, a log or an error line)."""

from __future__ import annotations

import datetime as _dt
import json
import re
from typing import Any


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


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`1 row`, `2 rows`, `0 rows` (`nouns`: an irregular plural)."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


#: Characters never printed as they are: C0 controls but tab and newline, DEL, C1 controls
#: (an escape sequence in a file name, a record or a cell could rewrite the screen).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")



def printable(text: str) -> str:
    """`text` with each control character shown as U+FFFD, as the report shows it."""
    return _CONTROL.sub("\ufffd", text) if _CONTROL.search(text) else text


def one_line(text: str) -> str:
    """An error line as one line, whatever it quotes (a file name with a line break in it
    would split it): control characters and line breaks shown as U+FFFD."""
    return printable(text).replace("\n", "\ufffd")
