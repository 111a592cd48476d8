"""The human summary on the terminal: the counts, then what was (or would be) done, Terraform-style.

    layer-sync (dry run: nothing written): lab.xlsx, sheet 'Stacks' -> https://api.atomscale.ai/
      7 rows: would create 3, would update 1, 2 unchanged, 1 invalid, 0 failed, 0 skipped
      ...
      + 105/2 BaTiO3 001
      ~ 101 sample_name: BTO on STO → BTO on STO (2026)
      ~ 101/1 orientation: 001 → 111
      ! Stacks!F10 [error] the orientation 1 is a number ...

Each group lists its first 20 lines, then "… and N more in the report". On a terminal the
marks are coloured (green +, yellow ~, red !) with rich; anywhere else, and with NO_COLOR set,
the text is plain and rich is not even imported. This module only writes to the stream it is
given; the command line decides which stream that is.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any, cast

from ..core.issues import Severity
from ..core.runtime import Stream
from ..core.secrets import NO_KEYS, Redactor
from ..core.text import describe, one_line, plural
from ..outcome.rows import Result
from ..plan.named import NamedStack
from .grouping import IssueGroup, group_issues

#: Lines shown per group before "… and N more".
MAX_PER_GROUP = 20
#: Characters of one line's text on the terminal: a value of thousands of characters (a name
#: pasted into a cell, a server's odd record) is cut, and the line says how much is left out.
MAX_LINE = 500

_CREATED = (Result.CREATED, Result.WOULD_CREATE)
_UPDATED = (Result.UPDATED, Result.WOULD_UPDATE)
#: The fields a create line shows after its key, in this order (element_dict only without a formula).
_SHOWN_FIELDS = ("composition_string", "orientation", "space_group", "mp_id")
_STYLES = {"+": "green", "~": "yellow", "!": "red"}



def use_color(stream: Stream, environ: Mapping[str, str] | None = None) -> bool:
    """Colour only on a terminal, and never with NO_COLOR set (https://no-color.org) or TERM=dumb."""
    environ = os.environ if environ is None else environ
    if "NO_COLOR" in environ or environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@dataclass
class Line:
    """One line of a group: its mark (+ ~ !), and the text after it."""

    mark: str
    text: str
    style: str | None = None  # the mark's colour, when not the group's (a warning is yellow)


class _Writer:
    """Writes marked lines plainly, or coloured through rich on a terminal."""

    def __init__(self, out: Stream, color: bool, redactor: Redactor = NO_KEYS) -> None:
        self.out = out
        self.redactor = redactor  # the key replaced before a long line is cut, never after
        self.console: Any = None
        if color:
            from rich.console import Console

            # markup and highlighting off: sheet text like "[error]" or "001" is shown as is.
            self.console = Console(file=cast(IO[str], out), force_terminal=True, color_system="standard",
                                   markup=False, highlight=False, emoji=False, soft_wrap=True)
        # "→", "…" and "–" where the stream can take them (a cron mail in ASCII cannot).
        self.ascii = not _can_encode(out, "\u2192\u2026\u2013")

    def text(self, text: str) -> str:
        # A value from the sheet or the server never reaches the terminal as a control
        # character or a line break (an escape sequence could rewrite the screen, a line
        # break forge a line of its own): each line is one line (`core.text.one_line`).
        # The key replaced on every line (print_summary and print_check may be given a stream
        # that does not replace it), and before a long line is cut: a cut through it would
        # leave its first characters.
        text = self.redactor.redact(one_line(text))
        if len(text) > MAX_LINE:
            text = f"{text[:MAX_LINE]}\u2026 ({len(text) - MAX_LINE:,} more characters)"
        if self.ascii:
            return (text.replace("\ufffd", "?").replace("\u2192", "->")
                    .replace("\u2026", "...").replace("\u2013", "-"))
        return text

    def plain(self, text: str) -> None:
        if self.console is not None:
            self.console.print(self.text(text))
        else:
            print(self.text(text), file=self.out)

    def marked(self, line: Line, indent: str = "  ") -> None:
        if self.console is not None:
            from rich.text import Text

            self.console.print(Text.assemble(indent, (line.mark, f"bold {line.style or _STYLES[line.mark]}"),
                                             " ", self.text(line.text)))
        else:
            print(self.text(f"{indent}{line.mark} {line.text}"), file=self.out)


    def problem(self, issue: Any) -> None:
        """`Stacks!F12 [error] …`, the severity red (an error) or yellow (a warning) on a terminal."""
        tag = f"[{issue.severity}]"
        if self.console is not None:
            from rich.text import Text

            colour = "red" if issue.severity == Severity.ERROR else "yellow"
            self.console.print(Text.assemble(f"{self.text(issue.location)} ", (tag, f"bold {colour}"),
                                             f" {self.text(issue.message)}"))
        else:
            print(self.text(f"{issue.location} {tag} {issue.message}"), file=self.out)


def _can_encode(out: Stream, sample: str) -> bool:
    encoding = getattr(out, "encoding", None)
    if not encoding:
        return True  # a StringIO: text, no bytes
    try:
        sample.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


# ------------------------------------------------------------------------------ the lines

def _key(result: Any) -> str:
    """`105/2`: sample_id/layer_id, or the sample's name where it has no id yet."""
    action = result.action
    sample: Any = action.sample_id
    if sample is None:
        new_sample = getattr(action, "new_sample", None)
        name = new_sample.sample_name if new_sample is not None else action.row.values.get("sample_name")
        sample = repr(name) if name else "?"
    layer = action.layer_id if action.layer_id is not None else action.row.values.get("layer_id", "?")
    return f"{sample}/{layer}"


def _shown(value: Any) -> str:

    return describe(value)


def create_line(result: Any) -> Line:
    """`+ 105/2 BaTiO3 001`: the key, then the layer's managed fields as they will be stored."""
    body = result.action.body or {}
    shown = [_shown(body[f]) for f in _SHOWN_FIELDS if body.get(f) not in (None, "")]
    if not body.get("composition_string") and body.get("element_dict"):
        shown.insert(0, _shown(body["element_dict"]))
    return Line("+", " ".join([_key(result), *shown]))


def update_line(result: Any) -> Line:
    """`~ 101/1 orientation: 001 → 111`, the changes joined with "; "."""
    changes = "; ".join(str(c) for c in result.action.changes)
    return Line("~", f"{_key(result)} {changes}".rstrip())


def issue_line(issue: Any) -> Line:
    """`! Stacks!F10 [error] …` (a warning's mark is yellow, an error's red)."""
    style = None if issue.severity == Severity.ERROR else "yellow"
    return Line("!", f"{issue.location} [{issue.severity}] {issue.message}", style)


def group_line(group: IssueGroup) -> Line:
    """`! Stacks!B2 [error] no target material named … (rows 2–4)`: a problem once."""
    style = None if group.severity == Severity.ERROR else "yellow"
    return Line("!", f"{group.location} [{group.severity}] {group.message}", style)


def failed_line(result: Any) -> Line:
    row = result.action.row
    return Line("!", f"{row.sheet} row {row.row} [failed] {result.message}")


def in_sheet_order(outcome: Any) -> list[Any]:
    """The results in the order of the sheet's rows (sheet by sheet, as read), not in the
    order the server answered: a technician reads the lines beside the sheet."""
    sheets = {name: index for index, name in enumerate(getattr(outcome, "sheets", []))}

    def place(result: Any) -> tuple[int, int]:
        row = result.action.row
        return sheets.get(row.sheet, len(sheets)), row.row

    return sorted(outcome.results, key=place)


def change_groups(outcome: Any) -> list[list[Line]]:
    """The groups, in the order shown: creates, updates, problems (errors, failed rows, warnings)."""
    creates: list[Line] = []
    updates: list[Line] = []
    failed: list[Line] = []
    renames: dict[int, Line] = {}  # once per target material, before the layers' updates
    for result in in_sheet_order(outcome):
        rename = getattr(result.action, "sample_update", None)
        # Shown once per target material, unless its rows all failed or were skipped (a
        # failed rename fails them all; their messages say why).
        if rename is not None and result.result not in (Result.FAILED, Result.SKIPPED):
            renames.setdefault(rename.sample_id, Line("~", f"{rename.sample_id} {rename.describe()}"))
        if result.result in _CREATED:
            creates.append(create_line(result))
        elif result.result in _UPDATED:
            updates.append(update_line(result))
        elif result.result == Result.FAILED:
            failed.append(failed_line(result))
    groups = group_issues(outcome.issues)
    errors = [group_line(g) for g in groups if g.severity == Severity.ERROR]
    warnings = [group_line(g) for g in groups if g.severity != Severity.ERROR]
    return [creates, [*renames.values(), *updates], errors + failed + warnings]


def print_groups(groups: Iterable[list[Line]], writer: _Writer, *, in_report: bool,
                 max_per_group: int = MAX_PER_GROUP) -> None:
    for lines in groups:
        if not lines:
            continue
        writer.plain("")
        for line in lines[:max_per_group]:
            writer.marked(line)
        rest = len(lines) - max_per_group
        if rest > 0:
            writer.plain(f"    \u2026 and {rest} more" + (" in the report" if in_report else ""))


# ------------------------------------------------------------------------------ the summary

def count_line(counts: Mapping[str, int], dry_run: bool) -> str:
    """`7 rows: 3 created, 1 updated, …` or, in a dry run, `7 rows: would create 3, would update 1, …`."""
    if dry_run:
        done = f"would create {counts['created']}, would update {counts['updated']}"
    else:
        done = f"{counts['created']} created, {counts['updated']} updated"
    return (f"{plural(counts['rows'], 'row')}: {done}, {counts['unchanged']} unchanged, "
            f"{counts['invalid']} invalid, {counts['failed']} failed, {counts['skipped']} skipped")


def print_summary(outcome: Any, out: Stream, *, color: bool | None = None,
                  max_per_group: int = MAX_PER_GROUP) -> None:
    """The human summary of a sync: the counts, then the changes and problems, grouped.

    `color`: None decides by the stream (a terminal, and NO_COLOR not set).
    """
    writer = _Writer(out, use_color(out) if color is None else color,
                     getattr(outcome, "redactor", NO_KEYS))
    c = outcome.counts
    title = "layer-sync (dry run: nothing written)" if outcome.dry_run else "layer-sync"
    writer.plain(f"{title}: {outcome.path.name}"
                 + (f", sheet {outcome.sheet!r}" if outcome.sheet else "") + f" -> {outcome.api_url}")
    writer.plain(f"  {count_line(c, outcome.dry_run)}")
    if c["remote_only"]:
        are = "is" if c["remote_only"] == 1 else "are"
        writer.plain(f"  {plural(c['remote_only'], 'layer')} on the server {are} not in the sheet "
                     "(listed in the report; nothing is deleted)")
    for line in matched_lines(getattr(outcome, "matched_by_name", []), max_per_group,
                              in_report=bool(outcome.report)):
        writer.plain(f"  {line}")
    if outcome.ignored_columns:
        writer.plain(f"  columns not used: {', '.join(outcome.ignored_columns)}")
    requests_text = ", ".join(f"{m} {n}" for m, n in outcome.requests.items()) or "none"
    writer.plain(f"  requests: {requests_text}; {plural(outcome.retries, 'retry', 'retries')}; "
                 f"{outcome.duration_s:.2f} s")
    if getattr(outcome, "riding", None) is not None:  # how the writes rode the server
        writer.plain(f"  server: {outcome.riding.text}")
    print_groups(change_groups(outcome), writer, in_report=bool(outcome.report),
                 max_per_group=max_per_group)
    if outcome.report:
        writer.plain("")
        writer.plain(f"  Report: {outcome.report}")
    elif outcome.report_error:
        writer.plain("")
        writer.plain(f"  Report not written: {outcome.report_error}")


def matched_lines(stacks: Sequence[NamedStack], max_per_group: int = MAX_PER_GROUP, *,
                  in_report: bool = False) -> list[str]:
    """`1 stack matched by name (no sample_id in the sheet): LSMO on LAO / LaAlO3 → target
    material 102 (rows 6–8)`; several: a line each below the first."""
    if not stacks:
        return []
    head = (f"{plural(len(stacks), 'stack')} matched by name (no sample_id in the sheet; check "
            "that each is the one meant)")
    if len(stacks) == 1:
        return [f"{head}: {stacks[0].resolved}"]
    lines = [f"{head}:", *(f"  {stack.resolved}" for stack in stacks[:max_per_group])]
    if len(stacks) > max_per_group:
        lines.append(f"  \u2026 and {len(stacks) - max_per_group} more"
                     + (" in the report" if in_report else ""))
    return lines


def stack_lines(outcome: Any, max_per_group: int = MAX_PER_GROUP) -> list[str]:
    """What `check` says about the stacks named without a sample_id: which the server does
    not have yet (created only with --create-samples), which were matched by name, which
    name several; or, when the server was not asked, that it cannot tell."""
    stacks: list[NamedStack] = list(getattr(outcome, "named_stacks", []))
    if not stacks:
        return []
    if not outcome.server_answered:
        listed = ", ".join(stack.listed for stack in stacks[:max_per_group])
        if len(stacks) > max_per_group:
            listed += f", \u2026 and {len(stacks) - max_per_group} more"
        note = outcome.server_note or "the server was not asked"
        why = f"offline ({note})" if outcome.api_url is None else f"({note})"
        line = (f"{plural(len(stacks), 'stack')} named without a sample_id: {listed}. Whether "
                f"the server has {'it' if len(stacks) == 1 else 'them'} cannot be told {why}; "
                "a stack it does not have yet is created only with --create-samples "
                f"(layer-sync sync {outcome.path.name} --dry-run --create-samples shows what "
                "would be made)")
        return [line]
    lines: list[str] = []
    new = [stack for stack in stacks if not stack.sample_ids]
    if new:
        are = "is" if len(new) == 1 else "are"
        lines.append(f"{plural(len(new), 'stack')} {are} not on the server yet: "
                     f"{'it' if len(new) == 1 else 'they'} would be created with "
                     f"--create-samples (without it, sync refuses {'its' if len(new) == 1 else 'their'} "
                     "rows):")
        lines += [f"  + {stack.listed}" for stack in new[:max_per_group]]
        if len(new) > max_per_group:
            lines.append(f"  \u2026 and {len(new) - max_per_group} more")
    lines += matched_lines([s for s in stacks if len(s.sample_ids) == 1], max_per_group)
    several = [stack for stack in stacks if len(stack.sample_ids) > 1]
    for stack in several[:max_per_group]:
        lines.append(f"{stack.listed}: {len(stack.sample_ids)} target materials on the "
                     f"server have this name (sample_ids {', '.join(map(str, stack.sample_ids))}"
                     "); give the sample_id")
    return lines


def print_check(outcome: Any, out: Stream, *, color: bool | None = None) -> None:
    """What `layer-sync check` prints: every problem with its cell (a problem several rows
    share, once, naming its cells or rows), what the server has of the stacks named without
    a sample_id, then one line of counts."""
    writer = _Writer(out, use_color(out) if color is None else color,
                     getattr(outcome, "redactor", NO_KEYS))
    for group in group_issues(outcome.issues):
        writer.problem(group)
    if outcome.issues:
        writer.plain("")
    lines = stack_lines(outcome)
    for line in lines:
        writer.plain(line)
    if lines:
        writer.plain("")
    if outcome.ignored_columns:
        writer.plain(f"columns not used: {', '.join(outcome.ignored_columns)}")
    errors, warnings = len(outcome.errors), len(outcome.issues) - len(outcome.errors)
    sheet = f", sheet {outcome.sheet!r}" if outcome.sheet else ""
    sent = ("nothing was written; the server's list was read" if outcome.server_answered
            else "nothing was sent")
    writer.plain(f"{outcome.path.name}{sheet}: {plural(len(outcome.results), 'row')}, "
                 f"{outcome.valid_rows} valid, {outcome.invalid_rows} invalid; "
                 f"{plural(errors, 'error')}, {plural(warnings, 'warning')} ({sent})")
    if outcome.report:
        writer.plain(f"Report: {outcome.report}")
    elif outcome.report_error:
        writer.plain(f"Report not written: {outcome.report_error}")
