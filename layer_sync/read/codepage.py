"""Is a file that is not UTF-8 really Windows-1252 (Excel's "CSV" on a Western Windows)?

Every byte but five decodes as Windows-1252, so a file in another legacy code page (Excel's
"CSV" on a Russian, Japanese, Polish, Korean or Greek Windows: cp1251, cp932, cp1250, cp949,
cp1253, ...) decodes too, into mojibake (`Образец` -> `Îáðàçåö`, `Łódź` -> `£ódŸ`,
`薄膜試料` -> `”––ŒŽŽ—¿`) that would be created on the server as names. So the Windows-1252
reading of the words that hold non-ASCII bytes (a bounded sample: `MAX_SAMPLE_WORDS`) must look
like Western European text (`mojibake`); else the file is refused, showing that reading.

Why not ask a detector: on what a lab sheet holds (a few names, a few hundred bytes of
non-ASCII text), detectors guess nearly at random (measured with charset_normalizer 3.5, the
best kept one: German `Müller` -> cp775, Spanish and French sheets of 3 KB -> cp1250, Polish
`Łódź` -> cp1252, Russian `Образец` -> cp932), so its verdict would refuse good Western files
and accept Polish ones, and even naming the likely code page in a message would mislead. The
signs below are what mojibake looks like whatever its size. What they cannot see: a code page
whose letters read as plausible Western letters (Czech `čistý` reads `èistý`, some Turkish and
Baltic words); such a file is read as before, with the Windows-1252 warning.
"""

from __future__ import annotations

import re
import unicodedata

#: What ends a word: spaces and CSV punctuation.
_SEPARATORS = frozenset(b" \t\r\n\v\f,;|\"'")
_SEPARATOR = re.compile(rb"[\s,;|\"']")
_NON_ASCII = re.compile(rb"[\x80-\xff]")
#: A bound on what is looked at, so a 32 MB file costs what a small one does.
MAX_SAMPLE_WORDS = 2_000
#: Punctuation that Western text puts next to letters: quotes and apostrophes, dashes, the
#: middle dot (Catalan `l·l`), the degree sign, the acute accent typed as an apostrophe, the
#: non-breaking space and the soft hyphen.
_NEXT_TO_LETTERS = frozenset("\u2018\u2019\u201a\u201c\u201d\u201e\u00ab\u00bb\u2039\u203a"
                             "\u2013\u2014\u00b7\u00b0\u00b4\u00a0\u00ad")


def sample(data: bytes, start: int = 0) -> list[bytes]:
    """The first `MAX_SAMPLE_WORDS` words of `data` from `start` on (where the caller knows
    all before is ASCII) that hold a non-ASCII byte (found from each non-ASCII byte outwards:
    a scan for words from every ASCII position costs seconds on a 32 MB file)."""
    words: list[bytes] = []
    position = start
    while len(words) < MAX_SAMPLE_WORDS:
        found = _NON_ASCII.search(data, position)
        if found is None:
            break
        start = found.start()
        while start > 0 and data[start - 1] not in _SEPARATORS:
            start -= 1
        end = _SEPARATOR.search(data, found.end())
        position = end.start() if end else len(data)
        words.append(data[start:position])
    return words


def mojibake(words: list[str]) -> str | None:
    """The first word that does not look like Western European text, or None. Signs of
    another code page read as Windows-1252 (none is found in Western words):

    - three non-ASCII characters in a row (`Îáðàçåö`, `”––Œ`): Western words hold one or two
      accented letters between plain ones;
    - a non-ASCII sign that is not punctuation, followed by a small letter or between two
      letters (`£ódŸ`, `pod³o¿u`, `Gr§e`);
    - a capital accented letter inside a word after a small letter, or between a letter and a
      small one (`ódŸ`, `CafŽ`, `MŸller`);
    - an inverted mark (`¿`, `¡`) after a letter: Spanish opens a question or an exclamation
      with it (`¿Qué`, `«¿Sí?»`); Shift-JIS `α` reads `ƒ¿`."""
    for word in words:
        if _odd(word):
            return word
    return None


def _odd(word: str) -> bool:
    run = 0
    for i, char in enumerate(word):
        if char.isascii() or char == "\u00a0":
            run = 0
            continue
        run += 1
        if run >= 3:
            return True
        before = word[i - 1] if i else ""
        after = word[i + 1] if i + 1 < len(word) else ""
        if char in "¿¡" and before.isalpha():
            return True
        if not unicodedata.category(char).startswith("L"):
            if char not in _NEXT_TO_LETTERS and (after.islower() or before.isalpha()
                                                 and after.isalpha()):
                return True
        elif char.isupper() and (before.islower() or before.isalpha() and after.islower()):
            return True
    return False
