"""Which part of an .xlsx package holds which sheet, found exactly as the reader finds it.

The bounds must measure the part the reader will read, so this follows the reader's own path
(calamine's `Xlsx::new`), not the usual file names: the package relationships
(`_rels/.rels`) name the workbook part and so its folder; that folder's
`_rels/workbook.xml.rels` and `workbook.xml` list the sheets, each `<sheet>` naming a
relationship by its `id` attribute, whatever its namespace prefix; a sheet is the first of
its name; part names are looked up ignoring ASCII case, `\\` read as `/`. Where that path is
ambiguous (two zip entries of one name, two sheets on one part, a relationship target written
with character references, which the reader does not decode) the package is refused: no
program that saves workbooks writes one, and the bounds could not be sure of the part.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from xml.etree import ElementTree

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_TYPES = {"worksheet": "WorkSheet", "chartsheet": "ChartSheet", "dialogsheet": "DialogSheet"}
_REFERENCE_IN_TARGET = re.compile(rb"""\bTarget\s*=\s*(?:"[^"]*&|'[^']*&)""")
_UNIQUE_COUNT = re.compile(rb"""<(?:[\w.-]+:)?sst\b[^>]*?\buniqueCount\s*=\s*["']\s*(\d+)""")


class PackageError(ValueError):
    """The package cannot be followed as the reader follows it; the message says why."""


@dataclass(frozen=True)
class SheetEntry:
    name: str
    part: str | None  # the zip entry the reader reads (None: it finds none)
    kind: str         # WorkSheet, ChartSheet or DialogSheet


@dataclass(frozen=True)
class Package:
    folder: str                  # where the workbook part is ("xl/")
    sheets: list[SheetEntry]     # in the workbook's order, duplicates of a name included
    shared_strings: str | None   # the entry of the shared strings, if any

    def part_of(self, name: str) -> str | None:
        """The part the reader reads for sheet `name`: the first sheet of that name's."""
        return next((s.part for s in self.sheets if s.name == name), None)


def ascii_lower(text: str) -> str:
    return text.translate(_ASCII_LOWER)


def entry_index(names: list[str]) -> dict[str, str]:
    """Lower-case ASCII name (`\\` as `/`) -> the zip entry; two entries that the reader
    cannot tell apart make the package ambiguous."""
    index: dict[str, str] = {}
    for name in names:
        key = ascii_lower(name.replace("\\", "/"))
        if key in index:
            raise PackageError(f"it holds two parts named {name!r}")
        index[key] = name
    return index


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _parse(data: bytes, what: str) -> ElementTree.Element:
    try:
        return ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise PackageError(f"its part {what} is not well-formed XML ({exc})") from None


def resolve(names: list[str], read: Callable[[str], bytes]) -> Package:
    """The sheets and their parts, as the reader finds them (see the module's docstring).

    `read(entry)`: a (bounded) part's bytes.
    """
    index = entry_index(names)

    def find(path: str) -> str | None:
        return index.get(ascii_lower(path))

    root_rels = find("_rels/.rels")
    if root_rels is None:
        raise PackageError("it has no package relationships (_rels/.rels)")
    target = None
    for rel in _parse(read(root_rels), "_rels/.rels").iter():
        if _local(rel.tag) == "Relationship" and (rel.get("Type") or "").endswith(
                "/relationships/officeDocument") and rel.get("Target") is not None:
            target = rel.get("Target")  # the last one, as the reader takes it
    if target is None:
        raise PackageError("its package relationships name no workbook part")
    folder = target[:target.rfind("/") + 1].removeprefix("/") if "/" in target else ""
    rels_part = find(f"{folder}_rels/workbook.xml.rels")
    if rels_part is None:
        raise PackageError(f"it has no {folder}_rels/workbook.xml.rels")
    raw_rels = read(rels_part)
    relationships: dict[str, tuple[str, str]] = {}
    for rel in _parse(raw_rels, rels_part).iter():
        if _local(rel.tag) == "Relationship" and rel.get("Id") is not None:
            relationships[rel.get("Id") or ""] = (rel.get("Target") or "", rel.get("Type") or "")
    book_part = find(f"{folder}workbook.xml")
    sheets: list[SheetEntry] = []
    if book_part is not None:
        for sheet in _parse(read(book_part), book_part).iter():
            if _local(sheet.tag) != "sheet":
                continue
            rel_id = ""
            for key, value in sheet.attrib.items():
                if _local(key) == "id":
                    rel_id = value  # the last such attribute, as the reader takes it
            if rel_id not in relationships:
                raise PackageError(f"its sheet {sheet.get('name')!r} names no relationship")
            sheet_target, rel_type = relationships[rel_id]
            kind = _TYPES.get(rel_type.rsplit("/", 1)[-1])
            if kind is None:
                raise PackageError(f"its sheet {sheet.get('name')!r} is of no known type")
            path = sheet_target[1:] if sheet_target.startswith("/") else folder + sheet_target
            sheets.append(SheetEntry(sheet.get("name") or "", find(path), kind))
        if sheets and _REFERENCE_IN_TARGET.search(raw_rels):
            raise PackageError("a relationship names its part with character references")
    first: dict[str, str] = {}
    parts: dict[str, str] = {}
    for entry in sheets:
        first.setdefault(entry.name, entry.part or "")
    for name, part in first.items():
        if part and part in parts:
            raise PackageError(f"its sheets {parts[part]!r} and {name!r} are one part")
        parts[part] = name
    return Package(folder, sheets, find(f"{folder}sharedStrings.xml"))


def unique_strings(head: bytes) -> int:
    """The count of distinct strings the shared strings' first tag claims (the reader reserves
    room for that many at once), or 0."""
    match = _UNIQUE_COUNT.search(head)
    return int(match.group(1)) if match else 0
