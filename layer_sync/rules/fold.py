"""Which spellings of a text are the same text: the one fold that keeps meaning.

Unicode gives many characters a *compatibility* mapping to plainer ones, and NFKC applies them
all, but only some are pure look-alikes: a full-width `Ｓ` is `S` typed on a Japanese
keyboard, whereas a superscript `¹⁸` (an isotope), `²` (`Run 1²`), `½`, `①` or `㎏` means
something else than the plain characters NFKC writes for it (`SrTi¹⁸O₃` is not `SrTi18O3`,
eighteen titanium atoms). So text is folded here one character at a time, by the tag of its
decomposition (`unicodedata.decomposition`):

- canonical equivalents are one character (Unicode NFC: `é` typed as e + accent is `é`);
- `LOOK_ALIKE_TAGS` fold: full-width and half-width forms, a non-breaking space or hyphen,
  styled mathematical letters, and the contextual shapes of Arabic letters;
- every space (category Zs) is a plain space, and invisible format characters (category Cf:
  zero-width spaces, direction marks, soft hyphens) are removed;
- everything else (`<super>`, `<sub>`, `<fraction>`, `<circle>`, `<square>`, `<compat>`
  ligatures and symbols, ...) is left as typed, so that a field's rule refuses it with a
  message (`special_character`) and a name that holds one stays a different name.

Subscript digits are the one exception a field may ask for (`subscript_counts`): in a formula
a subscript after an element is its count (`Fe₂O₃` is `Fe2O3`), in a space group a subscript
after a digit is a screw axis (`P2₁/c` is `P2_1/c`).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

#: The decomposition tags of pure look-alikes: the same character drawn otherwise.
LOOK_ALIKE_TAGS = frozenset({
    "<wide>", "<narrow>",   # full-width `Ｓｒ１` and half-width `ｶ` (East Asian keyboards)
    "<noBreak>",            # a non-breaking space or hyphen: a line-breaking hint
    "<font>",               # styled letters (`𝐒`, `ℝ`, `ℎ`): a typeface, not a letter
    # Arabic letters' contextual shapes (what a PDF holds after copy and paste): the same
    # letter in the shape its place in the word gives it.
    "<initial>", "<medial>", "<final>", "<isolated>",
})

#: What the other tags are, for a message that says why a character was not read.
_KIND = {
    "<super>": "a superscript", "<sub>": "a subscript", "<fraction>": "a fraction",
    "<circle>": "a circled character", "<square>": "a squared abbreviation",
    "<vertical>": "a vertical form", "<small>": "a small form",
    "<compat>": "a special character",
}

_SUBSCRIPT_DIGITS = {chr(0x2080 + i): str(i) for i in range(10)}
#: Where a subscript digit is a number in the field's grammar, by field: what must precede it.
_SUBSCRIPT_COUNTS = {
    # An element's or a bracket's count, or the decimals of one: Fe₂O₃, (Ba₀.₅Sr₀.₅)TiO₃.
    # Not at the start or after a space (`₂H₂O` is not 2 H2O): left for the rule to refuse.
    "composition_string": re.compile(r"(?<=[A-Za-z)\]\u2080-\u2089.])[\u2080-\u2089]"),
    # A screw axis: P2₁/c, P6₃/mmc (written P2_1/c in the tables).
    "space_group": re.compile(r"(?<=[0-9\u2080-\u2089])[\u2080-\u2089]"),
}


def decomposition_tag(char: str) -> str | None:
    """The tag of a character's compatibility mapping (`'<super>'`), or None when it has none
    (no mapping, or a canonical one)."""
    decomposition = unicodedata.decomposition(char)
    return decomposition.split(" ", 1)[0] if decomposition.startswith("<") else None


@lru_cache(maxsize=8192)
def _fold_char(char: str) -> str:
    if unicodedata.category(char) == "Zs":
        return " "
    if unicodedata.category(char) == "Cf":
        return ""
    decomposition = unicodedata.decomposition(char)
    tag, _, codes = decomposition.partition(" ")
    if tag not in LOOK_ALIKE_TAGS:
        return char
    return "".join(_fold_char(chr(int(code, 16))) for code in codes.split())


def fold(text: str, field: str | None = None) -> str:
    """`text` with its look-alike characters made plain (see the module): `ＳｒＴｉＯ３` ->
    `SrTiO3`, `BTO\\u200b on\\u00a0STO` -> `BTO on STO`; `SrTi¹⁸O₃` keeps `¹⁸`. With `field`,
    subscript digits that field's grammar reads as numbers are digits too (`subscript_counts`).
    ASCII text is returned as it is."""
    if text.isascii():
        return text
    plain = "".join(_fold_char(c) for c in unicodedata.normalize("NFC", text))
    plain = unicodedata.normalize("NFC", plain)
    return subscript_counts(plain, field) if field else plain


def subscript_counts(text: str, field: str) -> str:
    """Subscript digits made digits where `field`'s grammar reads them as numbers (a formula's
    counts, a space group's screw axes); elsewhere, and in other fields, left as they are."""
    pattern = _SUBSCRIPT_COUNTS.get(field)
    if pattern is None:
        return text
    return pattern.sub(lambda m: _SUBSCRIPT_DIGITS[m.group()], text)


def case_fold(text: str) -> str:
    """Case folded, except characters `fold` keeps (a superscript, a ligature): their case
    folding would make them plain letters (`ﬁ` -> `fi`, `ſ` -> `s`), so they stay themselves."""
    if text.isascii():
        return text.casefold()
    return unicodedata.normalize(
        "NFC", "".join(c if decomposition_tag(c) else c.casefold() for c in text))


def special_character(text: str) -> str | None:
    """Why `text` holds characters no rule reads as letters or digits (what `fold` kept), in
    words: `"'²' is a superscript"`, or None when it holds none."""
    for char in text:
        tag = decomposition_tag(char)
        if tag is not None and tag not in LOOK_ALIKE_TAGS:
            run = _run_of(text, char, tag)
            return f"{run!r} is {_KIND.get(tag, 'a special character')}"
    return None


def _run_of(text: str, char: str, tag: str) -> str:
    """The run of characters of `tag` that starts at the first `char` (`¹⁸`, not `¹`)."""
    start = text.index(char)
    end = start
    while end < len(text) and decomposition_tag(text[end]) == tag:
        end += 1
    return text[start:end]
