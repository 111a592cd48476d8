"""Stacks a sheet names by `sample_name` (and `substrate`) without a `sample_id`: which the
server has (matched by name: shown, so that an accidental match is seen before it writes)
and which it lacks (new: created only with --create-samples). Pure: no network, no disk."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..read.rows import SheetRow
from ..rules.cells import is_blank, name_key
from .actions import Action
from .records import ServerIndex

#: A data row, by its sheet and its row number as the spreadsheet shows it.
RowRef = tuple[str, int]


@dataclass(frozen=True)
class NamedStack:
    """A stack named without a sample_id, its rows, and the server's target materials of that
    name (and substrate): none (new), one (matched by name), or several (ambiguous)."""

    sample_name: str
    substrate: str | None
    rows: tuple[RowRef, ...]
    sample_ids: tuple[int, ...] = ()

    def __str__(self) -> str:
        """`LSMO on LAO / LaAlO3`: the name, and the substrate where the sheet gives one."""
        return f"{self.sample_name} / {self.substrate}" if self.substrate else self.sample_name

    @property
    def resolved(self) -> str:
        """`LSMO on LAO / LaAlO3 → target material 102 (rows 6–8)`, for a stack matched by name."""
        return f"{self} \u2192 target material {self.sample_ids[0]} ({row_spans(self.rows)})"

    @property
    def listed(self) -> str:
        """`LSMO on LAO / LaAlO3 (rows 6–8)`."""
        return f"{self} ({row_spans(self.rows)})"


def row_spans(rows: Sequence[RowRef]) -> str:
    """`rows 6–8, 12` (`row 6` alone); rows of several sheets are named with their sheet
    (`Stacks rows 2–4; Old row 3`)."""
    by_sheet: dict[str, list[int]] = {}
    for sheet, number in rows:
        by_sheet.setdefault(sheet, []).append(number)
    parts = []
    for sheet, numbers in by_sheet.items():
        ordered = sorted(set(numbers))
        runs: list[list[int]] = []
        for number in ordered:
            if runs and number == runs[-1][1] + 1:
                runs[-1][1] = number
            else:
                runs.append([number, number])
        shown = ", ".join(f"{a}" if a == b else f"{a}\u2013{b}" for a, b in runs)
        word = "row" if len(ordered) == 1 else "rows"
        parts.append(f"{sheet} {word} {shown}" if len(by_sheet) > 1 else f"{word} {shown}")
    return "; ".join(parts)


def named_stacks(rows: Iterable[SheetRow], index: ServerIndex) -> list[NamedStack]:
    """Every stack the rows name without a sample_id, in sheet order, with the server's
    target materials of its name (and substrate, where the sheet gives one)."""
    found: dict[tuple[str, str], tuple[str, str | None, list[RowRef]]] = {}
    for row in rows:
        name = row.values.get("sample_name")
        if not name or not is_blank(row.raw.get("sample_id")):
            continue
        substrate = row.values.get("substrate")
        key = (name_key(name), name_key(substrate))
        if key not in found:
            found[key] = (name, substrate, [])
        found[key][2].append((row.sheet, row.row))
    return [NamedStack(name, substrate, tuple(refs), tuple(index.named(name, substrate)))
            for name, substrate, refs in found.values()]


def matched_by_name(actions: Iterable[Action]) -> list[NamedStack]:
    """The target materials that rows without a sample_id were matched to by name, in sheet
    order, each with its rows (from the plan's actions: `Action.by_name`)."""
    found: dict[int, tuple[str, str | None, list[RowRef]]] = {}
    for action in actions:
        if not action.by_name or action.sample_id is None:
            continue
        row = action.row
        if action.sample_id not in found:
            found[action.sample_id] = (row.values.get("sample_name") or "",
                                       row.values.get("substrate"), [])
        found[action.sample_id][2].append((row.sheet, row.row))
    return [NamedStack(name, substrate, tuple(refs), (sample_id,))
            for sample_id, (name, substrate, refs) in found.items()]
