"""Each row's values checked: every cell by its field's rule (`rules.values`; a value seen
before is checked once), then the rules of the row as a whole (its position in the stack, its
sample, the template's example, a formula against its element counts) and, across rows, the
gaps in a sample's layer numbers. Each problem is tied to its cell.
"""

from __future__ import annotations

import math
from collections import defaultdict
from functools import lru_cache
from itertools import pairwise
from typing import Any

from ..core.issues import Severity
from ..core.text import describe
from ..rules import values
from ..rules.advice import Medium, OrientationIssue, orientation_advice
from ..rules.cells import Checked, ValueProblem
from ..rules.crystal import Mangled, MangledOrientation
from .rows import SheetRow

ERROR, WARNING = Severity.ERROR, Severity.WARNING


def _check_uncached(field_name: str, raw: Any) -> Checked | str | Mangled:
    """The cell's checked value, or the problem's message (what a spreadsheet made of an
    orientation, for advice that fits the file)."""
    try:
        return values.check(field_name, raw)
    except MangledOrientation as exc:
        return exc.mangled
    except ValueProblem as exc:
        return str(exc)


#: A sheet repeats its values: each (field, value) is checked once.
_check_cached = lru_cache(maxsize=65536, typed=True)(_check_uncached)  # typed: TRUE is not 1.0


def blank(value: Any) -> bool:
    """is_blank, for the loop over every cell: the common kinds first."""
    if value is None or value == "":
        return True
    if isinstance(value, str):
        return value.isspace()
    if isinstance(value, float):
        return math.isnan(value)
    return False


def check_row(row: SheetRow, unusable: dict[str, str | None], headers: list[str],
              colmap: dict[str, int], checked_columns: list[tuple[str, str]],
              medium: Medium = "workbook",
              after_blank: tuple[int, int, int] | None = None,
              formulas: dict[str, str | None] | None = None) -> None:
    """Check each field of the row; `unusable`: its fields whose cell shows no usable value
    (field -> the error the cell shows, or None for a formula with no stored result);
    `medium`: where the sheet came from, for the advice on a changed orientation;
    `after_blank`: the blank rows (first, last) that ended the stack above this row's, and
    its stack's first row, when the stack gives no sample of its own; `formulas`: the text
    of its formulas without a result, by field (shown as the issue's value)."""
    raw, checked = row.raw, row.values
    for field_name, column in checked_columns:
        if unusable and field_name in unusable:
            error = unusable[field_name]
            row.add(ERROR, field_name, "this cell holds a formula with no stored result; open the "
                    "file in Excel or LibreOffice, let it calculate and save, or type the value"
                    if error is None else
                    f"this cell shows {error}: its formula failed; correct the formula (or "
                    "type the value) and save", column,
                    error if error is not None or formulas is None else formulas.get(field_name))
            continue
        try:
            outcome = _check_cached(field_name, raw[field_name])
        except TypeError:  # an unhashable value: checked without the cache
            outcome = _check_uncached(field_name, raw[field_name])
        if isinstance(outcome, Mangled):
            # The plan completes this advice with the server's value (`rules.advice`).
            row.issues.append(OrientationIssue(
                row.sheet, row.row, column, row.cells.get(field_name),
                describe(raw[field_name]), ERROR, orientation_advice(outcome, medium),
                mangled=outcome, medium=medium))
            continue
        if isinstance(outcome, str):
            if row.filled_from is not None and field_name in values.SAMPLE_FIELDS:
                outcome = f"{outcome} (taken from row {row.filled_from}, which carries the stack's sample)"
            row.add(ERROR, field_name, outcome, column)
            continue
        checked[field_name] = outcome.value
        for warning in outcome.warnings:
            row.add(WARNING, field_name, warning, column)
    if "layer_id" not in unusable and blank(raw.get("layer_id")):
        row.add(ERROR, "layer_id", "layer_id is blank; every row needs its position in the stack "
                "(1 = on the substrate)", headers[colmap["layer_id"]])
    if blank(raw.get("sample_id")) and blank(raw.get("sample_name")):
        field_name = "sample_id" if "sample_id" in colmap else "sample_name"
        if after_blank is None:
            why = "the row does not say which target material it belongs to"
        else:
            first, last, start = after_blank
            blank_rows = (f"row {first} above is blank: it" if first == last else
                          f"rows {first}-{last} above are blank: they")
            why = (f"{blank_rows} ended the stack, and the sample columns are carried down "
                   f"only within a stack; fill in sample_id (or sample_name) on row {start}, "
                   f"or remove the blank {'row' if first == last else 'rows'} if it is the "
                   "same stack")
        row.add(ERROR, field_name, f"no sample_id or sample_name: {why}",
                headers[colmap[field_name]])
    if checked.get("sample_name") == values.EXAMPLE_SAMPLE_NAME:
        row.add(ERROR, "sample_name", "this is the template's example stack: delete its rows "
                "(or give the target material its real name) before syncing",
                headers[colmap["sample_name"]])
    formula = checked.get("composition_string")
    elements = checked.get("element_dict")
    if formula and elements:
        conflict = values.composition_conflict(formula, elements)
        if conflict:
            row.add(ERROR, "element_dict", conflict, headers[colmap["element_dict"]])


def check_gaps(rows: list[SheetRow]) -> None:
    """A warning on the row after each gap in a sample's layer numbers (1, 2, 4: is layer 3
    missing?), across every sheet read."""
    by_sample: dict[tuple[Any, ...], list[SheetRow]] = defaultdict(list)
    for row in rows:
        if row.sample_ref is not None and row.values.get("layer_id") is not None:
            by_sample[row.sample_ref].append(row)
    for ref, group in by_sample.items():
        ordered = sorted(group, key=lambda r: r.values["layer_id"])
        for before, after in pairwise(ordered):
            low, high = before.values["layer_id"], after.values["layer_id"]
            if high - low > 1:
                missing = f"layer {low + 1}" if high - low == 2 else f"layers {low + 1}-{high - 1}"
                name = ref[1] if ref[0] == "id" else after.values.get("sample_name")
                after.add(WARNING, "layer_id", f"the layer_ids of sample {name!r} jump from "
                          f"{low} to {high}: {'is' if high - low == 2 else 'are'} {missing} missing?")
