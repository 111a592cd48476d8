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


#: Characters never shown as they are, in a terminal, a log line or a report cell: C0
#: controls but tab and newline (CR would let a value overwrite its own line), DEL, C1
#: controls (an escape sequence in a file name, a record or a cell could rewrite the screen),
#: the bidirectional controls and marks (U+202E shows the rest of a line reversed: a file
#: name could pass for another, a count for another), the line and paragraph separators (a
#: line break to many editors and terminals), lone surrogates (undecodable bytes) and the two
#: non-characters.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e"
                     "\u2066-\u2069\ud800-\udfff\ufffe\uffff]")
#: What an unsafe character is shown as: visible, and not mistaken for a real value.
REPLACEMENT = "\ufffd"


def printable(text: str) -> str:
    """`text` with each unsafe character (see `_UNSAFE`) shown as U+FFFD; tab and newline
    kept: for a text that may span lines (a report cell)."""
    return _UNSAFE.sub(REPLACEMENT, text) if _UNSAFE.search(text) else text


def one_line(text: str) -> str:
    """`text` as one line of a terminal or a log, whatever it quotes (a file name, a server's
    record or reason, a cell): unsafe characters and line breaks shown as U+FFFD, so that no
    value can start a line of its own (a forged "0 failed") or rewrite the screen. The one
    sanitiser of every line that leaves the process."""
    return printable(text).replace("\n", REPLACEMENT)
