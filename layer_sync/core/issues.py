"""A problem found in the input, tied to where the technician can fix it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """How bad a problem is: an error makes its row invalid, a warning does not."""

    ERROR = "error"
    WARNING = "warning"



@dataclass
class Issue:
    """One problem, tied to where the technician can fix it."""

    sheet: str
    row: int | None
    column: str | None
    cell: str | None
    value: str
    severity: Severity
    message: str

    @property
    def location(self) -> str:
        """`Stacks!F12` for a sheet's cell; `DataFrame[3, 'orientation']` for a frame's (whose
        cell is its `[index, column]` subscript, see `frames.read_frame`)."""
        if self.cell and self.cell.startswith("["):
            return f"{self.sheet}{self.cell}"
        where = f"{self.sheet}!{self.cell}" if self.cell else (
            f"{self.sheet} row {self.row}" if self.row else self.sheet)
        return where
