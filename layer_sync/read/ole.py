"""OLE compound files (an .xls, or a password-protected .xlsx), walked as the reader walks them.

The reader (calamine's `cfb` module) follows sector chains without looking for loops and
reserves memory from header fields before checking them, so a 1 KB file can make it loop
forever or abort the process on a failed allocation. This module reads the same header, DIFAT,
FAT, directory and stream chains the same way, with every step and size bounded, and refuses
the file when the reader would run away. What it finds (the directory's names, the
`Workbook` stream) is what the rest of the reading uses: nothing here trusts a length field.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from .guard import ReadGuard

OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
_RESERVED = 0xFFFF_FFFA
_DIFSECT = 0xFFFF_FFFC
_ENDOFCHAIN = 0xFFFF_FFFE
#: The reader reserves four bytes for each DIFAT entry its header claims (a field whose value
#: a real file keeps small): more than this many bytes is a file made to exhaust memory.
_MAX_RESERVE_BYTES = 64 << 20
#: The stream names the reader tries for an .xls's workbook, in its order.
WORKBOOK_STREAMS = ("Workbook", "Book", "WORKBOOK", "BOOK")
#: What an encrypted OOXML package (a password-protected .xlsx) holds instead.
ENCRYPTED_STREAMS = ("EncryptionInfo", "EncryptedPackage")


class OleError(ValueError):
    """The compound file is malformed in a way the reader would not survive; the message
    says how, for the user's error line."""


@dataclass
class _Entry:
    name: str
    start: int
    size: int


class CompoundFile:
    """A compound file's directory and streams, read within bounds (see the module)."""

    def __init__(self, data: bytes, guard: ReadGuard | None = None) -> None:
        self._data = data
        self._guard = guard
        if len(data) < 512 or not data.startswith(OLE_MAGIC):
            raise OleError("it is too short to be a compound file")
        shift = struct.unpack_from("<H", data, 30)[0]
        if shift not in (9, 12) or struct.unpack_from("<H", data, 32)[0] != 6:
            raise OleError("its header names no sector size the reader knows")
        self._size = 1 << shift
        self._base = 512 if shift == 9 else 4096
        self._maxid = len(data) // self._size
        fat_len, dir_start = struct.unpack_from("<II", data, 44)
        mini_start, mini_len, difat_start = struct.unpack_from("<III", data, 60)
        difat_len = struct.unpack_from("<I", data, 62)[0]  # what the reader takes for it
        if fat_len > self._maxid + 1 or difat_len * 4 > _MAX_RESERVE_BYTES:
            raise OleError("its header claims more sectors than the file holds")
        difat = list(struct.unpack_from("<109I", data, 76))
        sector, steps = difat_start, 0
        while sector < _RESERVED:  # the DIFAT chain: each sector's last entry is the next
            steps += 1
            if steps > self._maxid + 1:
                raise OleError("its sector chains loop")
            difat.extend(self._u32s(self._sector(sector)))
            sector = difat.pop()
        fat_sectors = [s for s in difat if s < _DIFSECT]
        if len(fat_sectors) > self._maxid + 1:
            raise OleError("its header claims more sectors than the file holds")
        self._fat: list[int] = []
        for sector in fat_sectors:
            self._fat.extend(self._u32s(self._sector(sector)))
        directory = self._chain(dir_start, self._fat, self._sector, self._maxid, None)
        self.entries = [self._entry(directory[i:i + 128]) for i in range(0, len(directory), 128)]
        if not self.entries:
            raise OleError("it has no directory")
        self._mini_fat: list[int] = []
        self._mini = b""
        if mini_len > 0:
            root = self.entries[0]
            self._mini = self._chain(root.start, self._fat, self._sector, self._maxid, root.size)
            self._mini_fat = self._u32s(self._chain(mini_start, self._fat, self._sector,
                                                    self._maxid, mini_len * self._size))

    @property
    def names(self) -> list[str]:
        return [entry.name for entry in self.entries]

    def has(self, name: str) -> bool:
        return any(entry.name == name for entry in self.entries)

    def stream(self, name: str) -> bytes | None:
        """The named stream as the reader reads it (the first entry of that name)."""
        entry = next((e for e in self.entries if e.name == name), None)
        if entry is None:
            return None
        if entry.size < 4096:
            return self._chain(entry.start, self._mini_fat, self._mini_sector,
                               self._maxid * 8, entry.size)
        return self._chain(entry.start, self._fat, self._sector, self._maxid, entry.size)

    # ------------------------------------------------------------------------------ sectors

    def _sector(self, sector: int) -> bytes:
        if sector > self._maxid:
            raise OleError("a sector chain points past the end of the file")
        start = self._base + sector * self._size
        return self._data[start:start + self._size]

    def _mini_sector(self, sector: int) -> bytes:
        return self._mini[sector * 64:sector * 64 + 64]

    def _chain(self, sector: int, fat: list[int], read: Callable[[int], bytes], most: int,
               size: int | None) -> bytes:
        """A chain's bytes, up to `size` (None: to its end), refused when it loops."""
        parts: list[bytes] = []
        total = steps = 0
        while sector != _ENDOFCHAIN:
            steps += 1
            if steps > most + 1:
                raise OleError("its sector chains loop")
            if steps % 4096 == 0 and self._guard is not None:
                self._guard.check()
            block = read(sector)
            if size is not None:
                block = block[:size - total]
            parts.append(block)
            total += len(block)
            if size is not None and total >= size:
                break
            if sector >= len(fat):
                raise OleError("a sector chain points past its table")
            sector = fat[sector]
        return b"".join(parts)

    @staticmethod
    def _u32s(data: bytes) -> list[int]:
        return list(struct.unpack_from(f"<{len(data) // 4}I", data))

    def _entry(self, raw: bytes) -> _Entry:
        if len(raw) < 128:
            raise OleError("its directory is cut short")
        name = raw[:64].decode("utf-16-le", "replace").split("\x00", 1)[0]
        start = struct.unpack_from("<I", raw, 116)[0]
        size = struct.unpack_from("<I" if self._size == 512 else "<Q", raw, 120)[0]
        return _Entry(name, start, size)
