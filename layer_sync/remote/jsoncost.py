"""What a JSON answer will take in memory once parsed, told from its bytes before it is parsed.

The bound on an answer's size is on its *decoded* bytes (after gzip), and that is not enough:
parsed, a list of small objects takes 20 to 40 times its text (`[[],[],…]` 24x, `[[[[]]]]`
42x: each `[]` is a 56-byte list object and a pointer, from 3 bytes of text), while a real
list of layers takes ~5x: a 254 KB gzip answer, 250 MB of JSON once inflated, took 7 GB. Here the
cost is estimated from counts that C code makes fast (0.2 to 0.7 s for 64 MB): every object the
parser can make starts at a `,` `:` `{` or `[` (or is the first in a container), and each of
them costs at most ~100 bytes; the text itself is held up to four times while it is parsed
(the bytes, the decoded text, the strings made from it and the parser's buffer for them), each
time at one, two or four bytes a character by the widest character it holds.

Measured against `tracemalloc`'s peak of `json.loads` on 18 shapes (benchmarks/
bench_json_cost.py): the estimate is at least 1.16 times the real peak for every one (empty
containers, deep nesting, unique keys, astral and escaped text) and ~2.9 times it for a real
list of layers.
"""

from __future__ import annotations

import re

#: The memory one answer may take once parsed, and the whole list, every page of it
#: together: past it the answer is refused unread. The estimate is ~2.9 times a real list's
#: cost, so a list of ~110,000 layers (41 MB of JSON) is read, and nothing that passes takes
#: more than ~550 MB to parse (docs/design.md).
MAX_PARSED_COST = 640 << 20
#: What every `,` `:` `{` `[` may cost once parsed, at most (a one-key dict: 192 bytes from
#: 8 bytes of text, two separators and a brace; an empty list: 64 bytes from 3).
PER_TOKEN = 100
#: Bytes that begin a UTF-8 character beyond U+00FF (its text is held at two bytes a
#: character) and beyond U+FFFF (four).
_WIDE = re.compile(rb"[\xc4-\xef]")
_ASTRAL = re.compile(rb"[\xf0-\xff]")


def parsed_cost(content: bytes) -> int:
    """An upper bound, in bytes, on the memory `json.loads(content)` takes at its peak,
    `content` included (see the module's docstring)."""
    if content.isascii():
        width = 1
    elif _ASTRAL.search(content):
        width = 4
    else:
        width = 2 if _WIDE.search(content) else 1
    # A \u escape can make any string four bytes a character, whatever the text around it.
    strings = 4 if b"\\u" in content else width
    tokens = (content.count(b",") + content.count(b":") + content.count(b"{")
              + content.count(b"["))
    return (1 + width + 2 * strings) * len(content) + PER_TOKEN * tokens


def megabytes(size: int) -> str:
    """`size` bytes in words: `640 MB`, `1.2 GB`, `100 bytes`."""
    if size >= 1 << 30:
        return f"{size / (1 << 30):.1f} GB"
    if size >= 1 << 20:
        return f"{size >> 20} MB"
    if size >= 1 << 10:
        return f"{size >> 10} KB"
    return f"{size} bytes"
