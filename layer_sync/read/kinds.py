"""What a file is, from its content, whatever it is called.

The reader (calamine) decides the format from the bytes, trying .xls, then .xlsx, .xlsb and
.ods; the bounds must be those of the format it will read. So the kind is decided here the
same way, and a file that could be read as two kinds (a package holding both an OpenDocument
and an Office Open XML workbook) is refused:

- an OLE compound file is an .xls when it has a workbook stream (`Workbook`, `Book`), a
  password-protected (encrypted) .xlsx when it has `EncryptionInfo`/`EncryptedPackage`;
- a zip is an .xlsx (.xlsm) when its package relationships name a workbook part whose folder
  has `workbook.xml.rels`, an .xlsb when that part is binary, an .ods when its `mimetype` is
  OpenDocument's spreadsheet type;
- anything else is text (or not a spreadsheet at all, which the text reader finds out).
"""

from __future__ import annotations

import io
import zipfile
from enum import Enum

from .ole import ENCRYPTED_STREAMS, OLE_MAGIC, WORKBOOK_STREAMS, CompoundFile

ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")


class Kind(Enum):
    """The kinds of file, by content; the value is how a technician knows each."""

    TEXT = "a text (CSV) file"
    XLSX = "an .xlsx workbook"
    ODS = "an .ods workbook"
    XLS = "an .xls workbook"
    ENCRYPTED = "a password-protected (encrypted) workbook"
    XLSB = "an .xlsb (Excel binary) workbook"
    OTHER_ZIP = "a zip archive that holds no workbook"
    OTHER_OLE = "an Office file that holds no workbook (a Word document?)"

    @property
    def workbook(self) -> bool:
        return self in (Kind.XLSX, Kind.ODS, Kind.XLS)

    @property
    def suffix(self) -> str:
        return {Kind.XLSX: ".xlsx", Kind.ODS: ".ods", Kind.XLS: ".xls",
                Kind.TEXT: ".csv"}.get(self, "")


def looks_like_zip(data: bytes) -> bool:
    return data.startswith(_ZIP_MAGICS)


def detect_ole(ole: CompoundFile) -> Kind:
    """An opened compound file's kind: its directory tells an .xls from an encrypted .xlsx."""
    if any(ole.has(name) for name in WORKBOOK_STREAMS):
        return Kind.XLS  # the reader tries .xls first
    if any(ole.has(name) for name in ENCRYPTED_STREAMS):
        return Kind.ENCRYPTED
    return Kind.OTHER_OLE


def detect_zip(archive: zipfile.ZipFile) -> Kind:
    """An opened zip's kind, by its package relationships, content types and mimetype."""
    folded = {name.replace("\\", "/").lower(): name for name in archive.namelist()}
    ods = False
    if "mimetype" in archive.NameToInfo:
        info = archive.getinfo("mimetype")
        if info.file_size <= 256:
            try:
                ods = archive.read(info) == ODS_MIMETYPE  # exactly, as the reader checks
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError,
                    RuntimeError):
                ods = False
    ooxml = any(name.endswith(".rels") or name == "[content_types].xml" for name in folded)
    if ods and ooxml:
        raise ValueError("it holds both an OpenDocument and an Office Open XML workbook")
    if ods:
        return Kind.ODS
    if not ooxml:
        return Kind.OTHER_ZIP
    if any(name.endswith("workbook.bin") for name in folded):
        return Kind.XLSB
    if any(name.endswith("workbook.xml.rels") for name in folded):
        return Kind.XLSX
    return Kind.OTHER_ZIP


def detect(data: bytes) -> Kind:
    """The kind of `data` from its first bytes and structure; raises ValueError (with what
    is wrong) for a zip or compound file too damaged to tell."""
    if data.startswith(OLE_MAGIC):
        return detect_ole(CompoundFile(data))  # OleError is a ValueError
    if looks_like_zip(data):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                return detect_zip(archive)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
            raise ValueError(f"it is a damaged zip archive ({exc})") from None
    return Kind.TEXT
