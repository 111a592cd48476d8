"""A text file's bytes into text, in one encoding throughout, or refused where they are not.

- A byte-order mark decides: UTF-8, UTF-16 (Excel's "Unicode Text") or UTF-32; the whole file
  must then decode, or it is refused at the first byte that does not.
- Without one, the file must be UTF-8 throughout, or Windows-1252 throughout (what Excel
  writes for "CSV"), which is read with a warning. A file is taken as Windows-1252 only when
  no valid multi-byte UTF-8 sequence appears anywhere in it: a UTF-8 file with one stray
  Windows-1252 byte (a `°` pasted into a notes column) is neither, and read as Windows-1252
  it would turn every `Ü` into `Ãœ`, so it is refused at the line and column of that byte.
- A file that decodes as Windows-1252 but is another code page (Excel's "CSV" on a Russian,
  Japanese, Polish, Korean Windows: its words read as Windows-1252 are not Western text,
  `codepage.mojibake`) is refused, showing what its names would have become; so is one whose
  bytes are mostly not UTF-8 although a few pairs happen to look like it (EUC-KR).
- Bytes no Windows-1252 text holds (0x81, 0x8D, 0x8F, 0x90, 0x9D: Latin-1 control codes) and
  NUL bytes (UTF-16 without a mark, or a binary file) are refused the same way.
"""

from __future__ import annotations

import codecs
import re

from ..core.errors import InputFileError
from .codepage import mojibake, sample

#: One valid multi-byte UTF-8 sequence (RFC 3629: no overlong forms, no surrogates).
_UTF8_MULTIBYTE = re.compile(
    rb"[\xC2-\xDF][\x80-\xBF]|\xE0[\xA0-\xBF][\x80-\xBF]|[\xE1-\xEC\xEE\xEF][\x80-\xBF]{2}"
    rb"|\xED[\x80-\x9F][\x80-\xBF]|\xF0[\x90-\xBF][\x80-\xBF]{2}|[\xF1-\xF3][\x80-\xBF]{3}"
    rb"|\xF4[\x80-\x8F][\x80-\xBF]{2}")
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))
CP1252_WARNING = ("the file is not UTF-8; it was read as Windows-1252 (cp1252). Check names "
                  "with accents, or save as 'CSV UTF-8'")


def _where(data: bytes, offset: int, encoding: str) -> str:
    """`line 3, column 17` of the byte at `offset` (lines end at CR, LF or CRLF alike)."""
    breaks = list(_LINE_BREAK.finditer(data, 0, offset))
    start = breaks[-1].end() if breaks else 0
    if encoding.startswith(("utf-16", "utf-32")):
        return f"byte {offset + 1:,}"
    column = len(data[start:offset].decode(encoding, "replace")) + 1
    return f"line {len(breaks) + 1:,}, column {column:,}"


def decode(data: bytes, name: str) -> tuple[str, str, str | None]:
    """The text, the encoding it was read in, and a warning to give (or None)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding, None
            except UnicodeDecodeError as exc:
                raise _mixed(data, name, exc.start, encoding, "the rest of the file") from None
    nul = data.find(b"\x00")
    if nul >= 0:
        raise InputFileError(f"{name} is not a text file (UTF-16 without its mark, or a binary "
                             f"file: {_where(data, nul, 'utf-8')} holds a NUL byte); save it as "
                             "'CSV UTF-8' and run again")
    try:
        return data.decode("utf-8"), "utf-8", None
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    if _UTF8_MULTIBYTE.search(data):
        words = sample(data)
        if _mostly_utf8(words):
            raise _mixed(data, name, first_bad, "utf-8", "the UTF-8 of the rest of the file")
        raise _other_code_page(name, words[0].decode("cp1252", "replace"))
    words = sample(data, first_bad)  # no UTF-8 sequence anywhere: all before it is ASCII
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise InputFileError(
            f"{name} is not text in one encoding: {_where(data, exc.start, 'latin-1')} holds "
            f"the byte 0x{data[exc.start]:02X}, a control code no sheet program writes; open "
            "the file, delete that character and save it as 'CSV UTF-8'") from None
    odd = mojibake([word.decode("cp1252") for word in words])
    if odd is not None:
        raise _other_code_page(name, odd)
    return text, "cp1252", CP1252_WARNING


def _mostly_utf8(words: list[bytes]) -> bool:
    """More of the non-ASCII words are UTF-8 than not: a UTF-8 file with a stray byte, not a
    file in a double-byte code page (EUC-KR) where a few byte pairs happen to be UTF-8."""
    good = 0
    for word in words:
        try:
            word.decode("utf-8")
            good += 1
        except UnicodeDecodeError:
            pass
    return good * 2 > len(words)


def _other_code_page(name: str, shown: str) -> InputFileError:
    return InputFileError(
        f"{name} is neither UTF-8 nor Windows-1252: read as Windows-1252 its text gives "
        f"{shown[:40]!r}, which is not what was typed (a 'CSV' saved by Excel on a Windows set "
        "to another language: Cyrillic, Central European, Greek, Japanese, Chinese, Korean, "
        "...); open it there and save it as 'CSV UTF-8', then run again")


def _mixed(data: bytes, name: str, offset: int, encoding: str, rest: str) -> InputFileError:
    return InputFileError(
        f"{name} is not in one encoding throughout: {_where(data, offset, encoding)} holds "
        f"the byte 0x{data[offset]:02X}, which is not {rest} (a character pasted from another "
        "program?); open the file, retype that character and save it as 'CSV UTF-8'")
