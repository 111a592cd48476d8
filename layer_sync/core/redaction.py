"""Finding the API key in a text in any common form (`secrets.Redactor` writes it as `***`).

A server may quote the key back in a form nobody listed: upper case, split by a line break,
as HTML entities, percent-encoded byte by byte, inside base64 of `apikey:KEY`, in hex or
base32, or cut short. So the forms are not listed; the text is normalised and searched:

1. *Views* of the text: the text itself, and the text with HTML entities, percent-escapes and
   backslash escapes (JSON, Python) decoded, in any order and repeatedly (bounded). Each
   view knows, for each of its characters, the stretch of the text it came from.
2. Each view is case-folded and loses its whitespace (and invisible characters); any run of
   `RUN` (8) or more consecutive characters of a key found there is a leak.
3. Runs of the base64 (standard or URL-safe), base32 and hex alphabets in each view are
   decoded at every alignment (so a key inside `apikey:KEY` is found at any offset), and the
   decoded bytes are searched as a text of their own, once more (steps 1 to 3).
4. The stretches of the text that a leak came from (for an encoded run: its groups that hold
   the key) become `***`.

Every line written and every report cell passes through here, so a cheap test comes first
(`KeyFinder.may_hold`): every form above of a run of 8 characters of the key holds, once
case-folded and without whitespace, 4 consecutive characters of the key or of one of its
encodings at a position divisible by 4; a text where no such 4 characters sit (checked by C
code: a findall and a set test) is returned untouched.
"""

from __future__ import annotations

import base64
import binascii
import html
import html.entities
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

#: Consecutive characters of a key that make a leak: a key's first characters, its last, or
#: any 8 of its middle. A key shorter than this is replaced only where it stands alone.
RUN = 8
#: The cheap test's pieces: every run of RUN characters holds one at a position divisible by
#: _PIECE, as long as _PIECE * 2 <= RUN.
_PIECE = 4
#: Views of one text at most (each decoding of each view is one more): bounds the work on a
#: text built to make many.
MAX_VIEWS = 16
#: Encoded runs decoded inside encoded runs: base64 holding a percent-encoded key holding...
MAX_DEPTH = 2

_CHUNKS = re.compile(f".{{{_PIECE}}}", re.DOTALL)
#: Whitespace and the characters that show as nothing (Unicode's format characters: soft
#: hyphen, zero-width spaces and joiners, direction marks, BOM, tags).
_BLANK = re.compile("[\\s\u00ad\u0600-\u0605\u061c\u06dd\u070f\u180e\u200b-\u200f"
                    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
                    "\u0890\u0891\u08e2\U000110bd\U000110cd\U00013430-\U00013438"
                    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]+")
#: URL-safe base64 and standard base64 are one alphabet for the cheap test.
_UNIFY = str.maketrans("+/", "-_")


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


def _sub(pattern: re.Pattern[str], decode: Callable[[re.Match[str]], str | None],
         text: str) -> str:
    def one(match: re.Match[str]) -> str:
        made = decode(match)
        return match.group(0) if made is None else made
    return pattern.sub(one, text)


def view_texts(text: str) -> list[str]:
    """The text and its decodings (HTML entities, percent-escapes, backslash escapes, in any
    order, repeatedly), at most MAX_VIEWS: what the cheap test looks at."""
    views, seen, i = [text], {text}, 0
    while i < len(views) and len(views) < MAX_VIEWS:
        view = views[i]
        i += 1
        for trigger, pattern, decode in DECODERS:
            if trigger in view and len(views) < MAX_VIEWS:
                made = _sub(pattern, decode, view)
                if made not in seen:
                    seen.add(made)
                    views.append(made)
    return views


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
        return self.rewrite(_ANY, lambda m: m.group(0).casefold())


_ANY = re.compile(".", re.DOTALL)


def views(text: str) -> list[View]:
    """The views of `view_texts`, each with where its characters came from."""
    found, seen, i = [View(text)], {text}, 0
    while i < len(found) and len(found) < MAX_VIEWS:
        view = found[i]
        i += 1
        for trigger, pattern, decode in DECODERS:
            if trigger in view.text and len(found) < MAX_VIEWS:
                made = view.rewrite(pattern, decode)
                if made.text not in seen:
                    seen.add(made.text)
                    found.append(made)
    return found


# ------------------------------------------------------------------------------ encoded runs

@dataclass(frozen=True)
class Encoding:
    """A binary-to-text encoding: its alphabet, characters and bytes per group, decoder."""

    name: str
    token: re.Pattern[str]
    chars: int  # characters per group
    size: int  # bytes per group
    encode: Callable[[bytes], str]
    decode: Callable[[str], bytes]

    def pure(self, data: bytes) -> Iterator[str]:
        """`data` encoded at each alignment within a group, less the characters that also
        hold bits of the bytes around it: what any encoding of text holding `data` holds."""
        bits = 8 * self.size // self.chars
        for align in range(self.size):
            encoded = self.encode(bytes(align) + data).rstrip("=")
            first = -(-8 * align // bits)
            yield encoded[first:8 * (align + len(data)) // bits]

    def decodings(self, token: str) -> Iterator[tuple[int, bytes]]:
        """(alignment, bytes) of `token` decoded from each of its first `chars` positions."""
        for align in range(min(self.chars, len(token))):
            part = token[align:]
            whole = len(part) - len(part) % self.chars
            try:
                data = self.decode(part[:whole]) if whole else b""
                tail = part[whole:]
                if tail:  # a last, partial group: its whole bytes
                    for cut in range(len(tail), 1, -1):
                        try:
                            data += self.decode(tail[:cut] + "=" * (self.chars - cut))
                            break
                        except (binascii.Error, ValueError):
                            continue
            except (binascii.Error, ValueError):
                continue
            yield align, data

    def chars_of(self, align: int, first: int, last: int, length: int) -> tuple[int, int]:
        """The token characters that hold bits of decoded bytes [first, last) (from the
        token's character `align` on)."""
        bits = 8 * self.size // self.chars
        return align + 8 * first // bits, min(align + (8 * last - 1) // bits + 1, length)


def _b64(text: str) -> bytes:
    return base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)


def _b32(text: str) -> bytes:
    return base64.b32decode(text.upper())


#: What a run of RUN bytes encodes into at least (base64 10.7 characters, base32 12.8, hex 16).
ENCODINGS = (
    Encoding("base64", re.compile(r"[A-Za-z0-9+/_-]{10,}"), 4, 3,
             lambda data: base64.b64encode(data).decode("ascii"), _b64),
    Encoding("base32", re.compile(r"[A-Za-z2-7]{12,}"), 8, 5,
             lambda data: base64.b32encode(data).decode("ascii"), _b32),
    Encoding("hex", re.compile(r"[0-9A-Fa-f]{16,}"), 2, 1, bytes.hex, bytes.fromhex),
)


# ------------------------------------------------------------------------------ the keys

def normal(text: str) -> str:
    """`text` case-folded, without whitespace or invisible characters: as views are searched."""
    return _BLANK.sub("", text.casefold())


def _runs(text: str, length: int) -> set[str]:
    return {text[i:i + length] for i in range(len(text) - length + 1)}


class KeyFinder:
    """Finds the stretches of a text that hold RUN or more consecutive characters of one of
    `keys` (each at least RUN characters long once normalised), in any form this module
    decodes. Built once per set of keys: it prepares the runs and pieces to look for."""

    def __init__(self, keys: Iterable[str]) -> None:
        #: Every run of RUN characters of a key (and of its UTF-8 bytes read as Latin-1, as a
        #: decoding of its percent-escapes or base64 gives them), normalised.
        self.runs: set[str] = set()
        #: Every piece of _PIECE characters of those, for candidates of the full test.
        self._key_pieces: set[str] = set()
        #: The same of the keys and of their encodings (any case), base64's two alphabets
        #: as one: the cheap test.
        self._pieces: set[str] = set()
        for key in keys:
            raw = key.encode("utf-8", "surrogatepass")
            for text in {key, raw.decode("latin-1")}:
                self.runs |= _runs(normal(text), RUN)
                self._key_pieces |= _runs(normal(text), _PIECE)
            for variant in {raw, key.upper().encode("utf-8", "surrogatepass"),
                            key.lower().encode("utf-8", "surrogatepass")}:
                for encoding in ENCODINGS:
                    for pure in encoding.pure(variant):
                        self._pieces |= _runs(pure.casefold().translate(_UNIFY), _PIECE)
        self._pieces |= {p.translate(_UNIFY) for p in self._key_pieces}

    def may_hold(self, text: str) -> bool:
        """False when `text` surely holds no key (the cheap test); True when it may."""
        if not self._pieces:
            return False
        tricky = "&" in text or "%" in text or "\\" in text
        for view in view_texts(text) if tricky else (text,):
            folded = view.casefold()
            if not folded.isascii():
                folded = _BLANK.sub("", folded)
            folded = "".join(folded.split()).translate(_UNIFY)
            if not self._pieces.isdisjoint(_CHUNKS.findall(folded)):
                return True
        return False

    def spans(self, text: str, depth: int = MAX_DEPTH) -> list[tuple[int, int]]:
        """The stretches [start, end) of `text` that hold a key, merged; encoded runs are
        decoded `depth` levels deep."""
        if not self.may_hold(text):
            return []
        found: list[tuple[int, int]] = []
        for view in views(text):
            bare = view.rewrite(_BLANK, lambda m: "")
            folded = bare.folded()
            found += (folded.span(i, j) for i, j in self._matches(folded.text))
            if depth > 0:
                found += (bare.span(i, j) for i, j in self._encoded(bare.text, depth - 1))
        return merge(found)

    def _matches(self, folded: str) -> list[tuple[int, int]]:
        """[i, j) of each run of RUN or more key characters in a normalised view."""
        pieces = _CHUNKS.findall(folded)
        # A run of RUN characters holds a whole piece: it starts at most _PIECE before it.
        candidates = sorted({start for n, piece in enumerate(pieces) if piece in self._key_pieces
                             for start in range(max(0, _PIECE * n - _PIECE), _PIECE * n + 1)})
        return merge((start, start + RUN) for start in candidates
                      if folded[start:start + RUN] in self.runs)

    def _encoded(self, text: str, depth: int) -> list[tuple[int, int]]:
        """[i, j) of the characters of encoded runs in `text` whose decoding holds a key."""
        found: list[tuple[int, int]] = []
        for encoding in ENCODINGS:
            for token in encoding.token.finditer(text):
                value, offset = token.group(0), token.start()
                for align, data in encoding.decodings(value):
                    decoded = data.decode("latin-1")
                    spans = self.spans(decoded, depth)
                    if not spans and "\0" in decoded and self.spans(decoded.replace("\0", ""),
                                                                    depth):
                        spans = [(0, len(decoded))]  # UTF-16: the whole token
                    for first, last in spans:
                        start, end = encoding.chars_of(align, first, last, len(value))
                        found.append((offset + start, offset + end))
        return found


def merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """`spans` sorted, those that overlap or touch made one."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
