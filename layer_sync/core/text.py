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


#: Unicode's format characters (category Cf: soft hyphen, zero-width spaces and joiners, the
#: bidirectional controls, marks and isolates, BOM, invisible operators, tags...), as a
#: character class's body. Written out (building it from `unicodedata` at start would cost a
#: scan of every code point); tests/test_names.py checks it against this Python's Unicode.
FORMAT_CLASS = ("\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
                "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
                "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
                "\U000e0020-\U000e007f")
#: Characters never shown as they are, in a terminal, a log line, a report cell or a report's
#: file name (one class for all): controls (C0, DEL, C1: an escape sequence in a file name, a
#: record or a cell could rewrite the screen; CR would let a value overwrite its own line),
#: format characters (U+202E shows the rest of a line reversed: a file name could pass for
#: another, a count for another; the others show as nothing), the line and paragraph
#: separators (a line break to many editors and terminals), lone surrogates (bytes of a file
#: name that do not decode: Python hands them over as U+DC80-U+DCFF) and the two
#: non-characters. `printable` keeps tab and newline, which a cell may hold.
UNSAFE_CLASS = f"\x00-\x1f\x7f-\x9f{FORMAT_CLASS}\u2028\u2029\ud800-\udfff\ufffe\uffff"
_UNSAFE = re.compile(f"[{UNSAFE_CLASS}]")
_UNSAFE_IN_CELL = re.compile(f"(?![\t\n])[{UNSAFE_CLASS}]")
_UNSAFE_IN_LINE = re.compile(f"(?!\t)[{UNSAFE_CLASS}]")
#: What an unsafe character is shown as: visible, and not mistaken for a real value.
REPLACEMENT = "\ufffd"


def printable(text: str) -> str:
    """`text` with each unsafe character (see `UNSAFE_CLASS`) shown as U+FFFD; tab and newline
    kept: for a text that may span lines (a report cell)."""
    return _UNSAFE_IN_CELL.sub(REPLACEMENT, text) if _UNSAFE.search(text) else text


def one_line(text: str) -> str:
    """`text` as one line of a terminal or a log, whatever it quotes (a file name, a server's
    record or reason, a cell): unsafe characters and line breaks shown as U+FFFD, so that no
    value can start a line of its own (a forged "0 failed") or rewrite the screen. The one
    sanitiser of every line that leaves the process."""
    return _UNSAFE_IN_LINE.sub(REPLACEMENT, text) if _UNSAFE.search(text) else text


def name_part(text: str) -> str:
    """`text` (a file's name, or part of one) as a name layer-sync gives a file may hold it:
    each unsafe character (see `UNSAFE_CLASS`: controls, format characters such as U+202E,
    bytes that did not decode) as "_", so that a folder listing shows what the file is."""
    return _UNSAFE.sub("_", text) if _UNSAFE.search(text) else text
