"""A zip package's parts (.xlsx, .ods), each streamed within its bound, whatever its header says.

A part is read in chunks and refused past its own bound; every byte inflated, by the scans
and by the reader's own read of a sheet, counts towards the package's bound (a zip header can
lie, and a few kilobytes can inflate to gigabytes); a tag longer than any program writes is
refused; the read's guard is asked between chunks.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

from ..core.errors import InputFileError
from .files import MAX_PACKAGE_BYTES, unreadable
from .guard import ReadGuard

_CHUNK = 1 << 20
#: A tag (from `<` to `>`) longer than this is refused (see `Parts._whole_tags`).
_MAX_TAG = 1 << 20
_HUGE_TAG = re.compile(rb"<[^<>]{%d}" % _MAX_TAG)


class Parts:
    """The parts of an open zip package, streamed and counted as they inflate."""

    def __init__(self, archive: zipfile.ZipFile, path: Path, guard: ReadGuard) -> None:
        """`archive`: the package, opened on the file's bytes; `path`: the file, for messages."""
        self.archive, self.path, self._guard = archive, path, guard
        self._inflated = 0                    # bytes inflated so far, scans and reads

    def size(self, part: str) -> int:
        """The part's size as its header says it (what the reader inflates when it reads it)."""
        return self.archive.getinfo(part).file_size

    def count_inflated(self, size: int) -> None:
        """`size` more bytes inflated; refused once the package's bound is passed."""
        self._inflated += size
        if self._inflated > MAX_PACKAGE_BYTES:
            raise InputFileError(
                f"{self.path.name} is not a sheet layer-sync can read safely: reading it "
                f"inflates over {MAX_PACKAGE_BYTES >> 20} MB of parts, far more than a layer "
                "workbook; open it in a spreadsheet program and save it again, or check it "
                "is the right file")

    def stream(self, part: str, limit: int) -> Iterator[bytes]:
        """The part's bytes in chunks, refused past `limit` whatever its header says; every
        byte counts towards the package's bound, and the guard is asked between chunks."""
        try:
            info = self.archive.getinfo(part)
            if info.file_size > limit:
                raise self._too_big(part, info.file_size, limit)
            read = 0
            carry = b""  # an unfinished tag at the end of the chunk before
            with self.archive.open(info) as handle:
                while chunk := handle.read(_CHUNK):
                    read += len(chunk)
                    if read > limit:
                        raise self._too_big(part, read, limit)
                    self.count_inflated(len(chunk))
                    self._guard.check()
                    carry = self._whole_tags(part, carry + chunk[:_MAX_TAG] if carry else chunk,
                                             carry, chunk)
                    yield chunk
        except InputFileError:
            raise
        except (zipfile.BadZipFile, KeyError, OSError, EOFError, ValueError,
                NotImplementedError, RuntimeError) as exc:
            raise unreadable(self.path, exc,
                             f"cannot be read as a workbook (part {part})") from None

    def close(self) -> None:
        self.archive.close()

    def _whole_tags(self, part: str, head: bytes, carry: bytes, chunk: bytes) -> bytes:
        """Refuse a tag longer than `_MAX_TAG` (no program writes one, and an XML parser
        reads a long token again for every piece of it that arrives); returns what of the
        chunk is an unfinished tag, to look at with the next one."""
        if _HUGE_TAG.search(chunk) or (carry and _HUGE_TAG.search(head)):
            raise InputFileError(f"{self.path.name} is not a sheet layer-sync can read safely: "
                                 f"its part {part} holds a tag of over {_MAX_TAG >> 20} MB, "
                                 "which no spreadsheet program writes; open it in a "
                                 "spreadsheet program and save it again")
        opened = chunk.rfind(b"<")
        if opened < 0:
            return carry + chunk if carry and b">" not in chunk else b""
        return chunk[opened:] if chunk.rfind(b">") < opened else b""

    def _too_big(self, part: str, size: int, limit: int) -> InputFileError:
        return InputFileError(f"{self.path.name} is not a sheet layer-sync can read safely: its "
                              f"part {part} inflates to {size >> 20} MB or more, over the "
                              f"{limit >> 20} MB no layer sheet comes near; open it in a "
                              "spreadsheet program and save it again, or check it is the right file")
