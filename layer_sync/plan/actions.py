"""What the plan decides, as data: an `Action` per sheet row, the target materials to create
or rename, and the `Plan` that holds them. Made by `plan.build`, carried out by `run.apply`,
shown by the report and the terminal."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..core.issues import Issue, Severity
from ..core.text import describe
from ..read.rows import SheetRow, row_issue
from ..rules.cells import name_key


class ActionKind(StrEnum):
    """What the plan decided for a row."""

    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    INVALID = "invalid"
    SKIPPED = "skipped"  # nothing could be decided (the server's records could not be read)
    CHECKED = "checked"  # `layer-sync check`: the sheet's rules only, no server



@dataclass
class Change:
    """One field the sheet changes: the server's value and the sheet's (`orientation: 001 → 111`)."""

    field: str
    old: Any
    new: Any

    def __str__(self) -> str:
        old = describe(self.old) if self.old is not None else "(blank)"
        return f"{self.field}: {old} \u2192 {describe(self.new)}"


CREATE, UPDATE = ActionKind.CREATE, ActionKind.UPDATE



UNCHANGED, INVALID = ActionKind.UNCHANGED, ActionKind.INVALID



@dataclass(slots=True)  # 50,000 of them in a big sheet: no __dict__ each
class Action:
    """What to do with one sheet row, and what the plan found wrong with it."""

    row: SheetRow
    kind: ActionKind
    sample_id: int | None = None
    layer_id: int | None = None
    body: dict[str, Any] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    record: dict[str, Any] | None = None
    message: str = ""
    new_sample: NewSample | None = None
    sample_update: SampleUpdate | None = None
    #: Problems the plan found (the reader's own are on `row.issues`).
    issues: list[Issue] = field(default_factory=list)
    #: The row gives no sample_id: its target material was found by name (and substrate).
    by_name: bool = False

    @property
    def key(self) -> tuple[int, int] | None:
        if self.sample_id is None or self.layer_id is None:
            return None
        return (self.sample_id, self.layer_id)

    @property
    def errors(self) -> list[Issue]:
        """The reader's errors for the row, then the plan's."""
        return [*self.row.errors, *(i for i in self.issues if i.severity == Severity.ERROR)]

    @property
    def warnings(self) -> list[Issue]:
        """The reader's warnings for the row, then the plan's."""
        return [*(i for i in self.row.issues if i.severity == Severity.WARNING),
                *(i for i in self.issues if i.severity == Severity.WARNING)]

    @property
    def valid(self) -> bool:
        # Asked three times a row while planning: no list built to answer it.
        return self.row.valid and not any(i.severity == Severity.ERROR for i in self.issues)

    def add(self, severity: Severity, field_name: str | None, message: str) -> Issue:
        issue = row_issue(self.row, severity, field_name, message)
        self.issues.append(issue)
        return issue



@dataclass
class Plan:
    actions: list[Action]
    new_samples: list[NewSample]
    remote_only: list[dict[str, Any]]
    #: The target materials the server held when the plan was made.
    known_samples: set[int] = field(default_factory=set)
    #: Every problem the plan found, in sheet order (the reader's are on `SheetData.issues`).
    issues: list[Issue] = field(default_factory=list)
    #: Target materials to rename before their layers are written (--update-samples).
    sample_updates: list[SampleUpdate] = field(default_factory=list)
    #: The reader's issues the plan completed with what the server holds, by the reader's
    #: issue's id (an orientation a spreadsheet changed: `rules.advice`); `merge_issues`
    #: and each row's message use them in its place.
    advice: dict[int, Issue] = field(default_factory=dict)

    def advised(self, issue: Issue) -> Issue:
        """`issue`, or what the plan made of it knowing the server."""
        return self.advice.get(id(issue), issue)


@dataclass
class NewSample:
    """A target material to create (with --create-samples), with the rows of its layers."""

    sample_name: str
    substrate: str | None
    actions: list[Action] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str | None]:
        return (name_key(self.sample_name), name_key(self.substrate) or None)



@dataclass
class SampleUpdate:
    """A target material to rename (with --update-samples).

    Send `PATCH /target-materials/{sample_id}` with `changes` as the body, once, before the
    layers of `actions` (the valid rows of this target material, whatever their kind).
    """

    sample_id: int
    changes: dict[str, str]    # only the differing fields: sample_name and/or substrate
    old: dict[str, Any]        # the server's values of those fields, for the report
    actions: list[Action] = field(default_factory=list)

    def describe(self) -> str:
        """`sample_name: Old → New; substrate: …`, as the report shows changes."""
        return "; ".join(str(Change(f, self.old.get(f), new)) for f, new in self.changes.items())
