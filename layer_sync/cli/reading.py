"""Reading the command line, and what is said when part of it cannot be read.

A mistyped option on a cron line (`--keep-report 5` for `--keep-reports 5`) ends the run
as any other early failure does: one line naming the option, with the nearest real ones of
the command (`did you mean --keep-reports?`) and the command's own help; and, since the rest
of the line can still be read, the JSON line (with `--json`) and the dated line in the
`--log-file`, as the line asked. An option argparse refuses (`--timeout abc`) is left out
and the rest read again; a line that cannot be read at all is scanned for `--json` and
`--log-file` only.

Never shown: a value that followed an unknown option (it may be a key typed after a
misspelt flag); only the names of options are.
"""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..core.text import plural, printable

#: Options whose value decides the API URL: one of them misread leaves the URL unknown.
URL_OPTIONS = ("--api-url", "--config")
#: How near a word must be to a real name to be suggested (difflib's ratio, its usual
#: cutoff), and how much less near than the nearest one another may be.
_NEAR, _ABOUT_AS_NEAR = 0.6, 0.1
#: How many readings of the rest of a line, each leaving out one more refused option.
_MAX_TRIES = 8


@dataclass
class Reading:
    """What a command line says: `args` (None when nothing could be read), `problem` (the
    error line without `error: `, None when the line was read in full), the tokens read
    (the line without the options refused), whether a JSON line was asked for (`--json`, or
    an unknown option whose nearest real one is --json: a cron job's runs.jsonl still gets
    its line), and whether the API URL can be told."""

    args: argparse.Namespace | None
    problem: str | None = None
    tokens: list[str] = field(default_factory=list)
    wants_json: bool = False
    url_known: bool = True


def read_line(parser: argparse.ArgumentParser, argv: Sequence[str]) -> Reading:
    """Parse `argv` with `parser` (whose `error` raises argparse.ArgumentError, see
    `arguments._Parser`). `--help` and `--version` still end in SystemExit(0)."""
    tokens = list(argv)
    try:
        args, extras = parser.parse_known_args(tokens)
    except argparse.ArgumentError as exc:
        return _refused(parser, tokens, exc)
    if not extras:
        return Reading(args, tokens=tokens, wants_json=bool(getattr(args, "json", False)))
    command = getattr(args, "command", None)
    options = command_options(parser, command)
    names = unknown_names(extras)
    nearest = {name: close_matches(name, options) for name in names}
    if names:
        said = ", ".join(f"{name} (it goes after the command: layer-sync {command} … {name})"
                         if nearest[name] == [name] and _before_command(argv, name, command)
                         else f"{name}{_did_you_mean(nearest[name])}" for name in names)
        problem = f"unrecognized option{'s' if len(names) > 1 else ''}: {said}"
    else:
        problem = (f"unrecognized arguments: {plural(len(extras), 'extra value')} (not shown, "
                   "in case one is a secret)")
    guessed = {match for matches in nearest.values() for match in matches[:1]}
    return Reading(args, f"{problem}; {help_pointer(command)}", tokens,
                   wants_json=bool(getattr(args, "json", False)) or "--json" in guessed,
                   url_known=not guessed & set(URL_OPTIONS))


def _refused(parser: argparse.ArgumentParser, tokens: list[str],
             exc: argparse.ArgumentError) -> Reading:
    """A line argparse refused: the reason, then the rest of the line read without the
    refused options (or scanned, when it cannot be)."""
    command = next((t for t in tokens if not t.startswith("-")), None)
    commands = _commands(parser)
    known = command if command in commands else None
    if exc.argument_name == "COMMAND" and command is not None:
        problem = (f"unknown command {printable(command)!r}"
                   f"{_did_you_mean(close_matches(command, list(commands)))}; the commands are "
                   f"{', '.join(commands)}; {help_pointer(None)}")
        return _scanned(tokens, problem, None)
    problem = f"{printable(str(exc))}; {help_pointer(known)}"
    url_known = True
    for _ in range(_MAX_TRIES):
        name = exc.argument_name or ""
        if not name.startswith("-"):  # a missing PATH, a missing option: the line as it is
            return _scanned(tokens, problem, known)
        option_strings = name.split("/")
        url_known = url_known and not set(option_strings) & set(URL_OPTIONS)
        tokens = _without(tokens, option_strings, _takes_value(parser, known, option_strings))
        try:
            args, _ = parser.parse_known_args(tokens)
        except argparse.ArgumentError as again:
            exc = again
            continue
        return Reading(args, problem, tokens, wants_json=bool(getattr(args, "json", False)),
                       url_known=url_known)
    return _scanned(tokens, problem, known)


def _scanned(tokens: list[str], problem: str, command: str | None) -> Reading:
    """What a line that argparse cannot read still says plainly: the command, --json, -q,
    --log-file PATH. The API URL is not told."""
    log_file = None
    for index, token in enumerate(tokens):
        if token == "--":
            break
        if token.startswith("--log-file="):
            log_file = token.split("=", 1)[1] or None
        elif token == "--log-file" and index + 1 < len(tokens):
            following = tokens[index + 1]
            log_file = None if following.startswith("-") else following
    quiet = any(t == "--quiet" or re.fullmatch(r"-[a-z]*q[a-z]*", t) for t in tokens)
    path = (tokens[1] if command in ("sync", "check") and len(tokens) > 1
            and not tokens[1].startswith("-") else None)
    args = argparse.Namespace(command=command, path=path, json="--json" in tokens,
                              log_file=log_file, quiet=quiet, verbose=False)
    return Reading(args, problem, tokens, wants_json=args.json, url_known=False)


def command_options(parser: argparse.ArgumentParser, command: str | None) -> list[str]:
    """The long options `command` takes (the top level's without one), hidden ones left out."""
    chosen = _commands(parser).get(command or "", parser)
    return [option for action in chosen._actions if action.help != argparse.SUPPRESS
            for option in action.option_strings if option.startswith("--")]


def close_matches(word: str, candidates: Sequence[str]) -> list[str]:
    """The candidates nearest to `word`, nearest first (at most 3, and only those about as
    near as the nearest: `--keep-report` is `--keep-reports`, not also `--report`), compared
    without their leading dashes (which every option shares); when none is near, those
    that `word` begins."""
    bare = word.lstrip("-").casefold()
    if not bare:
        return []
    by_bare = {candidate.lstrip("-").casefold(): candidate for candidate in candidates}
    if bare in by_bare:
        return [by_bare[bare]]
    matcher = difflib.SequenceMatcher(b=bare)
    scored = []
    for name in by_bare:
        matcher.set_seq1(name)
        ratio = matcher.ratio()
        if ratio >= _NEAR:
            scored.append((ratio, name))
    scored.sort(key=lambda pair: -pair[0])
    near = [name for ratio, name in scored if ratio >= scored[0][0] - _ABOUT_AS_NEAR][:3]
    if not near:
        near = [name for name in by_bare if name.startswith(bare)][:3]
    return [by_bare[name] for name in near]


def help_pointer(command: str | None) -> str:
    """`see layer-sync sync --help`: the help of the command, else the tool's."""
    return f"see layer-sync {command} --help" if command else "see layer-sync --help"


def unknown_names(extras: list[str]) -> list[str]:
    """The names of unrecognised options, never their values (a value may be a secret)."""
    names = []
    for arg in extras:
        name = arg.split("=", 1)[0]
        if re.fullmatch(r"--?[A-Za-z][A-Za-z0-9_-]{0,40}", name) and name not in names:
            names.append(name)
    return names


def _did_you_mean(matches: Sequence[str]) -> str:
    if not matches:
        return ""
    listed = matches[0] if len(matches) == 1 else f"{', '.join(matches[:-1])} or {matches[-1]}"
    return f" (did you mean {listed}?)"


def _before_command(argv: Sequence[str], name: str, command: str | None) -> bool:
    """Whether the option `name` came before the command's word (`layer-sync --json sync`)."""
    if command is None or command not in argv:
        return False
    place = argv.index(command)
    return any(t.split("=", 1)[0] == name for t in argv[:place])


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _takes_value(parser: argparse.ArgumentParser, command: str | None,
                 option_strings: Sequence[str]) -> bool:
    chosen = _commands(parser).get(command or "", parser)
    for option in option_strings:
        action = chosen._option_string_actions.get(option)
        if action is not None:
            return action.nargs != 0
    return True


def _without(tokens: list[str], option_strings: Sequence[str], takes_value: bool) -> list[str]:
    """`tokens` without the first use of the option (and the value after it)."""
    for index, token in enumerate(tokens):
        if token == "--":
            break
        name, has_value = token.split("=", 1)[0], "=" in token
        if name in option_strings:
            end = index + 1
            if (takes_value and not has_value and end < len(tokens)
                    and not tokens[end].startswith("-")):
                end += 1
            return tokens[:index] + tokens[end:]
    return tokens
