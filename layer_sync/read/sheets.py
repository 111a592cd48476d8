"""Which sheets of a workbook are read, each with its header: the sheets named (`--sheet`),
or the first visible one with a layer header (every sheet with one, with `--all-sheets`); a
hidden sheet only when named, and a sheet with a header that is not read is named in a warning,
so that no sheet goes unread without a word. A layer-sync report given as input is refused.
"""

from __future__ import annotations

from pathlib import Path

from ..core.errors import InputFileError, option
from ..core.issues import Issue, Severity
from .files import Grid
from .guard import ReadGuard
from .headers import Header, find_header, no_header_message
from .source import Source
from .workbook import Workbook

WARNING = Severity.WARNING


def read_sheets(source: Source, suffix: str, wanted: list[str], all_sheets: bool,
                file_issues: list[Issue], lab: dict[str, str],
                guard: ReadGuard) -> list[tuple[Grid, Header]]:
    """The sheets of the workbook `source` to read, each as a grid with its header: those
    `wanted` (names, case ignored), else the first visible sheet with a layer header, or with
    `all_sheets` every such sheet. Warnings about the sheets not read go to `file_issues`;
    `lab`: the lab's own header names (`headers.lab_names`). Raises InputFileError when no
    sheet can be read (see `read_stacks`)."""
    path = source.path
    book = Workbook(source, suffix, guard, file_issues)
    source.take()  # the reader holds its own copy
    try:
        report_of = book.report_input()
        if report_of is not None:
            raise InputFileError(f"{path.name} is a layer-sync report, not a layer sheet; sync "
                                 f"the original sheet ({report_of})")
        hidden: list[str] = []
        if wanted:
            by_name = {n.casefold(): n for n in book.all_names}
            missing = [n for n in wanted if n.casefold() not in by_name]
            if missing:
                raise InputFileError(f"{path.name} has no sheet {missing[0]!r} (named by "
                                     f"{option('sheet')}); its sheets are "
                                     f"{', '.join(map(repr, book.all_names))}", kind="sheet_missing")
            names = list(dict.fromkeys(by_name[n.casefold()] for n in wanted))
        else:
            # A hidden sheet is not what the technician sees: never chosen, only named
            # (`--sheet`); one with a layer header is said, so it never goes unread unsaid.
            names = [n for n in book.names if n not in book.hidden]
            hidden = [n for n in book.names if n in book.hidden and _has_header(book, n, path, lab)]
            for name in hidden:
                file_issues.append(Issue(name, None, None, None, "", WARNING,
                                         f"sheet {name!r} is hidden: not read; name it with "
                                         "--sheet NAME to read it"))
        if not names and hidden:
            raise _only_hidden(path, hidden)
        if not names:
            raise InputFileError(f"{path.name} has no worksheets")
        found: list[tuple[Grid, Header]] = []
        tried: list[Grid] = []
        others: list[str] = []
        for name in names:
            if found and not wanted and not all_sheets:
                # Only to say that it is there: a sheet never goes unread without a word.
                if _has_header(book, name, path, lab):
                    others.append(name)
                continue
            grid = book.load(name)
            header = find_header(grid, path, lab)
            if header is not None:
                found.append((grid, header))
            elif wanted:
                raise InputFileError(no_header_message(path, [grid], lab), kind="no_header")
            else:
                tried.append(grid)
        if not found:
            if hidden:
                raise _only_hidden(path, hidden)
            raise InputFileError(no_header_message(path, tried, lab), kind="no_header")
        if others:
            listed = ", ".join(map(repr, others))
            file_issues.append(Issue(
                found[0][0].name, None, None, None, "", WARNING,
                f"only sheet {found[0][0].name!r} was read; {listed} "
                f"{'has' if len(others) == 1 else 'have'} a layer header too: read "
                f"{'it' if len(others) == 1 else 'them'} with --sheet NAME (once per sheet), "
                "or every such sheet with --all-sheets"))
        return found
    finally:
        book.close()


def _only_hidden(path: Path, hidden: list[str]) -> InputFileError:
    listed = ", ".join(map(repr, hidden))
    one = len(hidden) == 1
    return InputFileError(
        f"{path.name}: the only {'sheet' if one else 'sheets'} with a layer header "
        f"{'is' if one else 'are'} hidden ({listed}), and a hidden sheet is read only when "
        f"named: unhide it in the workbook, or name it with {option('sheet')}",
        kind="no_header")


def _has_header(book: Workbook, name: str, path: Path, lab: dict[str, str]) -> bool:
    try:
        return find_header(book.load(name), path, lab) is not None
    except InputFileError:
        return False  # unreadable as a layer sheet: nothing to point the technician to

