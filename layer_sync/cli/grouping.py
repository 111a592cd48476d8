"""A problem said word for word for several rows, said once on the terminal, naming its
cells or its rows: a stack's target material that the server does not have is an error on
each of the stack's rows (the report's Issues sheet keeps a line per row, which its Rows
sheet points to), but a person reading the terminal reads it once."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..core.issues import Issue, Severity
from ..plan.named import row_spans

#: Cells named on one line for a problem said once for several rows; the rest are counted.
MAX_CELLS = 8


@dataclass
class IssueGroup:
    """One problem said once for every row that has it, word for word (a stack's target
    material that the server lacks: said for each of its rows by the plan; the same mangled
    orientation in ten rows): where, what, and the rows."""

    first: Issue
    issues: list[Issue] = field(default_factory=list)

    @property
    def severity(self) -> Severity:
        return self.first.severity

    @property
    def location(self) -> str:
        """`Stacks!B2`, `Stacks!G2:G4, G9`, or the locations one after the other."""
        cells = list(dict.fromkeys(i.cell for i in self.issues if i.cell))
        sheet = self.first.sheet
        if (len(self.issues) == 1 or any(c.startswith("[") for c in cells)
                or any(i.sheet != sheet or not i.cell for i in self.issues)):
            shown = list(dict.fromkeys(i.location for i in self.issues))
            more = len(shown) - MAX_CELLS
            return ", ".join(shown[:MAX_CELLS]) + (f", \u2026 ({len(shown)} cells)"
                                                   if more > 0 else "")
        return f"{sheet}!{_ranges(cells)}"

    @property
    def message(self) -> str:
        """The message, with the rows it was said for when the cells do not tell them (a
        stack's name, typed once for all its rows)."""
        rows = [(i.sheet, i.row) for i in self.issues if i.row is not None]
        cells = {i.cell for i in self.issues if i.cell}
        if len(rows) > 1 and len(cells) < len(set(rows)):
            return f"{self.first.message} ({row_spans(rows)})"
        return self.first.message


def group_issues(issues: Iterable[Issue]) -> list[IssueGroup]:
    """Problems said word for word for several rows of one sheet, each once, in the order
    of their first row; a file's own problems stay as they are."""
    groups: list[IssueGroup] = []
    by_key: dict[tuple[str, str, str], IssueGroup] = {}
    for issue in issues:
        key = None if issue.row is None else (issue.sheet, str(issue.severity), issue.message)
        group = by_key.get(key) if key is not None else None
        if group is None:
            group = IssueGroup(issue)
            groups.append(group)
            if key is not None:
                by_key[key] = group
        group.issues.append(issue)
    return groups


_CELL = re.compile(r"([A-Z]+)(\d+)")


def _ranges(cells: Sequence[str]) -> str:
    """`G2`, `G3`, `G4`, `G9` -> `G2:G4, G9` (a column's consecutive cells as a range, as a
    spreadsheet names them); past MAX_CELLS ranges, the cells are counted."""
    runs: list[tuple[str, int, int] | str] = []
    for cell in cells:
        match = _CELL.fullmatch(cell)
        if match is None:
            runs.append(cell)
            continue
        column, number = match[1], int(match[2])
        last = runs[-1] if runs else None
        if isinstance(last, tuple) and last[0] == column and last[2] + 1 == number:
            runs[-1] = (column, last[1], number)
        else:
            runs.append((column, number, number))
    shown = [run if isinstance(run, str) else
             f"{run[0]}{run[1]}" if run[1] == run[2] else f"{run[0]}{run[1]}:{run[0]}{run[2]}"
             for run in runs]
    more = len(shown) - MAX_CELLS
    return ", ".join(shown[:MAX_CELLS]) + (f", \u2026 ({len(cells)} cells)" if more > 0 else "")
