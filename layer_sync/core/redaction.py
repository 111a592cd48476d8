"""Finding the API key in a text in any common form (`secrets.Redactor` writes it as `***`).

A server may quote the key back in a form nobody listed: upper case, split by a line break,
as HTML entities, percent-encoded byte by byte, inside base64 of `apikey:KEY`, in hex or
base32, or cut short. So the forms are not listed; the text is normalised and searched:

1. *Views* of the text: the text itself, and the text with HTML entities, percent-escapes and
   backslash escapes (JSON, Python) decoded, in any order and repeatedly (bounded). Each
   view knows, for each of its characters, the stretch of the text it came from
   (`core.textviews`).
2. Each view is case-folded and loses its whitespace (and invisible characters); any run of
   `RUN` (8) or more consecutive characters of a key found there is a leak.
3. Runs of the base64 (standard or URL-safe), base32 and hex alphabets in each view are
   decoded at every alignment (so a key inside `apikey:KEY` is found at any offset:
   `core.binarytext`), and the decoded bytes are searched as a text of their own (steps 1
   and 2).
4. The stretches of the text that a leak came from (for an encoded run: its groups that hold
   the key) become `***`.

Every line written and every report cell passes through here, so a cheap test comes first
(`KeyFinder.may_hold`): every form above of a run of 8 characters of the key holds, once
case-folded and without whitespace, 4 consecutive bytes of the key or of one of its
encodings at a position divisible by 4; a text where no such 4 bytes sit (checked by C code:
the bytes read as integers, looked up in a set) is returned untouched.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable

from .binarytext import ENCODINGS, Encoding
from .textviews import Views, bare, normal

#: Consecutive characters of a key that make a leak: a key's first characters, its last, or
#: any 8 of its middle. A key shorter than this is replaced only where it stands alone.
RUN = 8
#: The cheap test's pieces: every run of RUN characters holds one at a position divisible by
#: _PIECE, as long as _PIECE * 2 <= RUN. Four bytes: a C unsigned int ("I", four bytes on
#: every platform Python supports), as memoryview.cast reads them.
_PIECE = 4
#: Layers of base64, base32 or hex decoded: one, as the cheap test looks for the encodings
#: of the key itself (in any case), not of its encodings.
MAX_DEPTH = 1

_CHUNKS = re.compile(f".{{{_PIECE}}}", re.DOTALL)
#: Standard base64 to URL-safe base64.
_URLSAFE = str.maketrans("+/", "-_")
#: ASCII's whitespace and controls, deleted (the cheap test of an ASCII text).
_ASCII_BLANK = dict.fromkeys([*range(0x21), 0x7f])


def _runs(text: str, length: int) -> set[str]:
    return {text[i:i + length] for i in range(len(text) - length + 1)}


def _piece_numbers(text: str) -> set[int]:
    """Each _PIECE bytes in a row of `text` in UTF-8, as `memoryview.cast("I")` reads them."""
    data = text.encode("utf-8", "surrogatepass")
    return {int.from_bytes(data[i:i + _PIECE], sys.byteorder)
            for i in range(len(data) - _PIECE + 1)}


class KeyFinder:
    """Finds the stretches of a text that hold RUN or more consecutive characters of one of
    `keys` (each at least RUN characters long once normalised), in any form the module's
    docstring names. Built once per set of keys: it prepares the runs and pieces to look for."""

    def __init__(self, keys: Iterable[str]) -> None:
        #: Every run of RUN characters of a key (and of its UTF-8 bytes read as Latin-1, as a
        #: decoding of its percent-escapes or base64 gives them), normalised.
        self.runs: set[str] = set()
        #: Every piece of _PIECE characters of those, as text and as the integer its bytes
        #: make (`_numbers`): where the full test looks.
        self._key_pieces: set[str] = set()
        self._key_numbers: set[int] = set()
        #: The pieces of each encoding of the keys (any case; base64 in both alphabets), and
        #: how far either side of one the encoding of a whole key reaches.
        self._code_numbers: dict[str, set[int]] = {e.name: set() for e in ENCODINGS}
        self._reach: dict[str, int] = dict.fromkeys(self._code_numbers, 0)
        for key in keys:
            raw = key.encode("utf-8", "surrogatepass")
            for text in {key, raw.decode("latin-1")}:
                self.runs |= _runs(normal(text), RUN)
                self._key_pieces |= _runs(normal(text), _PIECE)
                self._key_numbers |= _piece_numbers(normal(text))
            for variant in {raw, key.upper().encode("utf-8", "surrogatepass"),
                            key.lower().encode("utf-8", "surrogatepass")}:
                for encoding in ENCODINGS:
                    reach = -(-8 * len(variant) * encoding.chars // (8 * encoding.size))
                    self._reach[encoding.name] = max(self._reach[encoding.name],
                                                     reach + encoding.chars)
                    for pure in encoding.pure(variant):
                        for form in {pure.casefold(), pure.casefold().translate(_URLSAFE)}:
                            self._code_numbers[encoding.name] |= _piece_numbers(form)
        #: Keys of ASCII only: a text's pieces can be read from its bytes, one per character.
        self._ascii = all(piece.isascii() for piece in self._key_pieces)
        #: The cheap test's pieces: the keys' and their encodings'.
        self._pieces = self._key_numbers.union(*self._code_numbers.values())

    def may_hold(self, text: str) -> bool:
        """False when `text` surely holds no key (the cheap test); True when it may.

        Every form of a run of RUN characters of a key holds RUN or more characters (bytes)
        in a row once case-folded and without whitespace, so one of their pieces of _PIECE
        bytes starts at a position divisible by _PIECE: the text's bytes are read as such
        pieces (integers, by C code), and looked up at once.
        """
        if len(text) < RUN or not self._pieces:
            return False
        if "&" in text or "%" in text or "\\" in text:
            return any(self._plain_may_hold(view) for view in Views(text).texts)
        return self._plain_may_hold(text)

    def _plain_may_hold(self, text: str) -> bool:
        """The cheap test of `text` as it is (not its decodings)."""
        if text.isascii():
            data = text.lower().translate(_ASCII_BLANK).encode("ascii")
        else:
            data = normal(text).encode("utf-8", "surrogatepass")
        return not self._pieces.isdisjoint(memoryview(data)[:len(data) & -_PIECE].cast("I"))

    def spans(self, text: str, depth: int = MAX_DEPTH) -> list[tuple[int, int]]:
        """The stretches [start, end) of `text` that hold a key, merged; encoded runs are
        decoded `depth` levels deep.

        Only where a piece of a key (or of its encodings) sits is looked at closely, and a
        view is mapped back to the text only when a key was found in it: a long text costs a
        few passes of C code and a loop over the pieces that were found.
        """
        if not self.may_hold(text):
            return []
        found: list[tuple[int, int]] = []
        views = Views(text)
        for index, text_of_view in enumerate(views.texts):
            runs = self._matches(normal(text_of_view))
            coded = self._encoded(bare(text_of_view), depth - 1) if depth > 0 else []
            if runs or coded:
                view = views.mapped(index)
                found += [view.normal().span(i, j) for i, j in runs]
                found += [view.bare().span(i, j) for i, j in coded]
        return merge(found)

    def _matches(self, folded: str) -> list[tuple[int, int]]:
        """[i, j) of each run of RUN or more key characters in a normalised view."""
        if self._ascii:  # a character not ASCII is "?", one byte: positions are kept
            numbers = _numbers(folded.encode("ascii", "replace"))
            if self._key_numbers.isdisjoint(numbers):
                return []
            hits = [n for n, number in enumerate(numbers) if number in self._key_numbers]
        else:
            hits = [n for n, piece in enumerate(_CHUNKS.findall(folded))
                    if piece in self._key_pieces]
        # A run of RUN characters holds a whole piece: it starts at most _PIECE before it.
        candidates = sorted({start for n in hits
                             for start in range(max(0, _PIECE * n - _PIECE), _PIECE * n + 1)})
        return merge((start, start + RUN) for start in candidates
                     if folded[start:start + RUN] in self.runs)

    def _encoded(self, text: str, depth: int) -> list[tuple[int, int]]:
        """[i, j) of the characters of encoded runs in `text` whose decoding holds a key.

        An encoded run of RUN bytes of a key holds RUN or more characters of the key's
        encoding, so a piece of it at a position divisible by _PIECE: only the run of the
        encoding's alphabet around such a piece, as far as a whole key's encoding reaches
        either side, is decoded.
        """
        found: list[tuple[int, int]] = []
        numbers = _numbers(text.encode("ascii", "replace").lower())
        for encoding in ENCODINGS:
            wanted = self._code_numbers[encoding.name]
            if wanted.isdisjoint(numbers):
                continue
            reach = self._reach[encoding.name]
            windows = merge(_run_around(text, encoding, _PIECE * n, reach)
                            for n, number in enumerate(numbers) if number in wanted)
            for first, last in windows:
                for align, data in encoding.decodings(text[first:last]):
                    for a, b in self.spans(data.decode("latin-1"), depth):
                        start, end = encoding.chars_of(align, a, b, last - first)
                        found.append((first + start, first + end))
        return found


def _numbers(data: bytes) -> list[int]:
    """`data` read as integers of _PIECE bytes, from its start (a last, shorter piece left)."""
    return memoryview(data)[:len(data) & -_PIECE].cast("I").tolist()


def _run_around(text: str, encoding: Encoding, at: int, reach: int) -> tuple[int, int]:
    """The run of `encoding`'s alphabet that holds text[at], at most `reach` either side."""
    for run in encoding.token.finditer(text, max(0, at - reach),
                                       min(len(text), at + _PIECE + reach)):
        if run.start() <= at < run.end():
            return run.span()
    return at, at


def merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """`spans` sorted, those that overlap or touch made one."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
