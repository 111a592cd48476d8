"""Binary-to-text encodings a server may quote the key back in: base64 (standard or URL-safe),
base32 and hex, as `core.redaction` searches them.

A key inside an encoded run (`apikey:KEY` in base64, say) starts at any byte, so a run is
decoded at every alignment within a group (`Encoding.decodings`), and what holds bits of the
key's bytes is told back as the run's characters (`Encoding.chars_of`); `Encoding.pure` gives
what every encoding of a text holding some bytes holds, whatever surrounds them.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Encoding:
    """A binary-to-text encoding: its alphabet, characters and bytes per group, decoder."""

    name: str
    token: re.Pattern[str]  # a run of its alphabet
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


ENCODINGS = (
    Encoding("base64", re.compile(r"[A-Za-z0-9+/_-]+"), 4, 3,
             lambda data: base64.b64encode(data).decode("ascii"), _b64),
    Encoding("base32", re.compile(r"[A-Za-z2-7]+"), 8, 5,
             lambda data: base64.b32encode(data).decode("ascii"), _b32),
    Encoding("hex", re.compile(r"[0-9A-Fa-f]+"), 2, 1, bytes.hex, bytes.fromhex),
)
