"""Advice for an orientation a spreadsheet changed, in the words that fit where it was found
(a workbook, a CSV, a DataFrame) and what the server is known to hold.

The reader knows the file but not the server: its advice is general (what happened, what may
have become this cell, how to keep the column as text). The plan knows the server's record
of the layer, and completes it: when the server's value is one of the cell's possible
readings, it names it ("the server holds 0001: if that is what you meant, …"); it never
proposes a value that would change the server by itself.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from ..core.issues import Issue
from .crystal import Mangled

#: Where a sheet's values came from: a workbook (cells keep a text format), a CSV or other
#: text file (no cell keeps a format), or a pandas DataFrame.
Medium = Literal["workbook", "text", "frame"]

#: Said once per CSV in which a spreadsheet program changed orientations: what happens to a
#: CSV in a spreadsheet program, and the two ways out.
CSV_NOTE = (
    "a CSV keeps no cell formats, so each time Excel or LibreOffice opens and saves it, "
    "Miller indices become numbers and dates again (001 -> 1, 1-10 -> a date), even when "
    "formatted as text. Keep the sheet as .xlsx (orientation column formatted as text), or "
    "open the CSV with that column imported as text (Excel: Data > From Text/CSV; "
    "LibreOffice: Column type Text when importing) and type the indices again")


def csv_note(count: int) -> str:
    """The file's one note for `count` orientations changed in a CSV."""
    cells = "1 orientation" if count == 1 else f"{count:,} orientations"
    was = "was" if count == 1 else "were"
    return f"{cells} in this CSV {was} changed by a spreadsheet program: {CSV_NOTE}"


def _fix(medium: Medium, value: str | None) -> str:
    """How to give the indices again (`value`: the one to type, or None: the ones meant)."""
    typed = f"type {value}" if value else "type the indices you mean"
    if medium == "text":
        return (f"{typed} with the column kept as text (this is a CSV: see the note on the "
                "file about spreadsheet programs)")
    if medium == "frame":
        return (f"give {value!r} as text (str)" if value
                else "keep the orientation column as text (str) and give the indices again")
    return f"format the orientation column as text and {typed}"


def orientation_advice(mangled: Mangled, medium: Medium = "workbook") -> str:
    """The general advice, knowing nothing of the server (`layer-sync check` offline, or a
    layer the server does not hold): what happened and how to type the indices again; it
    names no single value to type, since only the technician knows which was meant."""
    fix = _fix(medium, None)
    return f"{mangled.what}{mangled.facts}. {fix[0].upper()}{fix[1:]}"


def orientation_advice_with_server(mangled: Mangled, server: str, medium: Medium = "workbook",
                                   ) -> str:
    """The advice when the server holds the layer with orientation `server` (compact form,
    or as the server holds it when the rules cannot read it)."""
    if server in mangled.readings:
        return (f"{mangled.what}; the server holds {server}: if that is what you meant, "
                f"{_fix(medium, server)}, or clear the cell to leave the server's value "
                "as it is")
    other = ", which is not one of them" if mangled.readings else ""
    return (f"{mangled.what}{mangled.facts}; the server holds {server}{other}: "
            f"{_fix(medium, None)}")


@dataclass
class OrientationIssue(Issue):
    """The reader's error for an orientation a spreadsheet changed: what it found
    (`mangled`) and where (`medium`), so that the plan can complete the advice with the
    server's value (`with_server`)."""

    mangled: Mangled | None = None
    medium: Medium = "workbook"

    def with_server(self, server: str) -> OrientationIssue:
        """The same issue, its advice knowing that the server holds `server`."""
        assert self.mangled is not None
        return dataclasses.replace(self, message=orientation_advice_with_server(
            self.mangled, server, self.medium))
