"""Row order is meaningful where sample columns are carried down: a row without a sample takes
the row above's, so a sheet sorted (by layer, by formula) moves such rows under another stack's
first row, and their layers would be planned into the wrong target material. What a sort
leaves behind is seen in the layer numbers of one carried-down stack (a row with its own sample
and the rows below it that take theirs from it): a stack runs one way, strictly (1, 2, 3 from
the substrate up, or 3, 2, 1 for labs that list the top layer first), so a layer number that
repeats or turns back is the sign. Such a stack is held back as a whole: every row of it is
invalid, with one message naming its rows, and nothing of it is sent. Rows that carry their
own sample are their own evidence and are not concerned.
"""

from __future__ import annotations

from itertools import pairwise

from ..core.issues import Severity
from .rows import SheetRow


def check_carried_order(rows: list[SheetRow]) -> None:
    """Mark invalid every row of a carried-down stack whose layer numbers do not run one way
    strictly (see the module). `rows`: one sheet's rows in sheet order."""
    start = 0
    while start < len(rows):
        end = start + 1
        while (end < len(rows) and rows[end].carried and rows[end].filled_from is not None
               and rows[end].stack == rows[start].stack):
            end += 1
        if end - start > 1:
            _check_stack(rows[start:end])
        start = end


def _check_stack(stack: list[SheetRow]) -> None:
    # Rows whose layer_id is not a number have their own error; the others must run one way.
    layers = [n for n in (row.values.get("layer_id") for row in stack) if isinstance(n, int)]
    direction = 0
    for before, after in pairwise(layers):
        step = (after > before) - (after < before)
        if step != 0 and direction in (0, step):
            direction = step
            continue
        what = (f"layer {after} comes twice" if step == 0 else
                f"layer numbers go {'back' if direction > 0 else 'up'} from {before} to {after}")
        message = (f"{what} within the stack of rows {stack[0].row}-{stack[-1].row}, whose rows "
                   f"without a sample take it from row {stack[0].row}: was the sheet sorted? "
                   "A row without a sample takes it from the row above, so after a sort it "
                   "belongs to another stack. Nothing of this stack is sent: undo the sort, or "
                   "fill in the sample on each row")
        for member in stack:
            member.add(Severity.ERROR, "layer_id", message)
        return
