"""A text as it is searched for the key (`core.redaction`): its views and their normal form.

A server may quote the key back escaped: as HTML entities, percent-escapes or backslash
escapes (JSON, Python), one inside another. The *views* of a text are the text itself and
its decodings, in any order and repeatedly (bounded: `MAX_VIEWS`); the *normal form* of a
view is its compatible form (`compatible`), case-folded, without whitespace, controls or
invisible characters (`normal`). Each view can be mapped back: for each of its characters,
the stretch of the text it came from, so that what is found in a view is hidden in the text.
"""

from __future__ import annotations

import functools
import html
import html.entities
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .text import FORMAT_CLASS

#: Views of one text at most (each decoding of each view is one more): bounds the work on a
#: text built to make many.
MAX_VIEWS = 16

#: Whitespace, control characters (a key split by NULs: UTF-16 read as bytes), U+FFFD (a key
#: split by bytes that did not decode) and the characters that show as nothing (Unicode's
#: format characters: soft hyphen, zero-width spaces and joiners, direction marks, BOM, tags).
_BLANK = re.compile(f"[\\s\x00-\x1f\x7f-\x9f\ufffd{FORMAT_CLASS}]+")
_NOT_ASCII = re.compile("[^\\x00-\\x7f]")


# ------------------------------------------------------------------------------ decoders

def _char(code: int) -> str | None:
    return chr(code) if code <= 0x10FFFF else None


def _html(match: re.Match[str]) -> str | None:
    hexa, decimal, name = match.groups()
    if hexa is not None:
        return _char(int(hexa, 16))
    if decimal is not None:
        return _char(int(decimal))
    return html.entities.html5.get(f"{name};")


def _percent(match: re.Match[str]) -> str | None:
    return chr(int(match.group(1) or match.group(2), 16))


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "f": "\f", "v": "\v", "b": "\b", "a": "\a",
            "0": "\0"}


def _backslash(match: re.Match[str]) -> str | None:
    code = match.group(1) or match.group(2) or match.group(3)
    if code is not None:
        return _char(int(code, 16))
    other = match.group(4)
    return _ESCAPES.get(other, other)


#: (a character without which the decoder changes nothing, what it finds, what it makes).
_Decoder = tuple[str, re.Pattern[str], Callable[[re.Match[str]], str | None]]
DECODERS: tuple[_Decoder, ...] = (
    ("&", re.compile(r"&(?:#[xX]([0-9A-Fa-f]{1,8})|#([0-9]{1,10})|([A-Za-z][A-Za-z0-9]{1,31}));?"),
     _html),
    ("%", re.compile(r"%([0-9A-Fa-f]{2})|%[uU]([0-9A-Fa-f]{4})"), _percent),
    ("\\", re.compile(r"\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|x([0-9A-Fa-f]{2})|(.))",
                      re.DOTALL), _backslash),
)


# ------------------------------------------------------------------------------ views

@dataclass(frozen=True)
class View:
    """A view of a text, and for each of its characters the stretch of the text
    (`starts[i]`, `ends[i]`) it came from; None for the text itself."""

    text: str
    starts: Sequence[int] | None = None
    ends: Sequence[int] | None = None

    def span(self, i: int, j: int) -> tuple[int, int]:
        """The stretch of the text that view characters [i, j) came from."""
        if self.starts is None or self.ends is None:
            return i, j
        return self.starts[i], self.ends[j - 1]

    def rewrite(self, pattern: re.Pattern[str],
                make: Callable[[re.Match[str]], str | None]) -> View:
        """This view with each match of `pattern` replaced by what `make` makes of it (None:
        left as is); each character made comes from the whole stretch of its match."""
        text, out = self.text, []
        starts: list[int] = []
        ends: list[int] = []
        own_starts = range(len(text)) if self.starts is None else self.starts
        own_ends = range(1, len(text) + 1) if self.ends is None else self.ends
        done = 0
        for match in pattern.finditer(text):
            made = make(match)
            if made is None:
                continue
            a, b = match.span()
            out.append(text[done:a])
            starts.extend(own_starts[done:a])
            ends.extend(own_ends[done:a])
            out.append(made)
            starts.extend([own_starts[a]] * len(made))
            ends.extend([own_ends[b - 1]] * len(made))
            done = b
        if not done:
            return self
        out.append(text[done:])
        starts.extend(own_starts[done:])
        ends.extend(own_ends[done:])
        return View("".join(out), starts, ends)

    def folded(self) -> View:
        """Case-folded, each character's stretch kept ("ß" is "ss" from one stretch)."""
        if self.text.isascii():
            return View(self.text.lower(), self.starts, self.ends)
        folded = self.text.casefold()
        if len(folded) == len(self.text):  # no character became two: each kept its place
            return View(folded, self.starts, self.ends)
        return self.rewrite(_NOT_ASCII, lambda m: m.group(0).casefold())

    def bare(self) -> View:
        """Without whitespace, controls or invisible characters: its text is `bare(self.text)`."""
        return self.rewrite(_BLANK, _nothing)

    def normal(self) -> View:
        """In its normal form, each character's stretch kept: its text is `normal(self.text)`."""
        return self.rewrite(_NOT_ASCII, _nfkc).folded().rewrite(_BLANK, _nothing)


class Views:
    """A text and its decodings (HTML entities, percent-escapes, backslash escapes, in any
    order, repeatedly), at most MAX_VIEWS: `texts`; each mapped back to the text only when a
    key was found in it (`mapped`), as that costs a loop over its changes."""

    def __init__(self, text: str) -> None:
        self.texts = [text]
        self._made_from: list[tuple[int, _Decoder]] = []  # of texts[1:]
        self._mapped = {0: View(text)}
        seen, i = {text}, 0
        while i < len(self.texts) and len(self.texts) < MAX_VIEWS:
            view = self.texts[i]
            for decoder in DECODERS:
                trigger, pattern, decode = decoder
                if trigger in view and len(self.texts) < MAX_VIEWS:
                    made = pattern.sub(functools.partial(_decoded, decode), view)
                    if made not in seen:
                        seen.add(made)
                        self.texts.append(made)
                        self._made_from.append((i, decoder))
            i += 1

    def mapped(self, index: int) -> View:
        """`texts[index]` with where each of its characters came from."""
        view = self._mapped.get(index)
        if view is None:
            parent, (_, pattern, decode) = self._made_from[index - 1]
            view = self._mapped[index] = self.mapped(parent).rewrite(pattern, decode)
        return view


def _decoded(decode: Callable[[re.Match[str]], str | None], match: re.Match[str]) -> str:
    made = decode(match)
    return match.group(0) if made is None else made


# ------------------------------------------------------------------------------ normal form

def compatible(text: str) -> str:
    """`text` with each character not ASCII in its NFKC form, one by one (full-width `ｋｅｙ`
    is `key`, `①` is `1`, a ligature its letters): as views are searched."""
    if text.isascii():
        return text
    return _NOT_ASCII.sub(_nfkc, text)


def _nfkc(match: re.Match[str]) -> str:
    return unicodedata.normalize("NFKC", match.group(0))


def bare(text: str) -> str:
    """`text` without whitespace, controls or invisible characters."""
    return _BLANK.sub("", text)


def normal(text: str) -> str:
    """`text` in its compatible form (`compatible`), case-folded, without whitespace, controls
    or invisible characters: as views are searched."""
    return _BLANK.sub("", compatible(text).casefold())


def _nothing(match: re.Match[str]) -> str:
    return ""
