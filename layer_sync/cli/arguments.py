"""The command line's arguments: the parser of every command, and the checks that keep a key
typed as a flag out of every message."""

from __future__ import annotations

import argparse
import os
import re
import textwrap
from collections.abc import Callable
from typing import Any, NoReturn

from ..core.errors import flag
from ..core.options import (
    CheckOptions,
    ExportOptions,
    Options,
    ServerOptions,
    Spec,
    SyncOptions,
)
from ..core.version import __version__
from ..remote.retry import DOWN_AFTER_S
from ..remote.settings import DEFAULT_API_URL
from ..report.paths import REPORTS_FOLDER
from ..sandbox import DEFAULT_API_KEY, FAULT_KINDS
from ..sandbox.listing import add_listing_arguments
from .helptext import COMMANDS, ENVIRONMENT, SYNC_EXIT, epilog

#: Said instead of echoing anything that may be an API key typed as a flag.
KEY_FLAG_MESSAGE = ("the API key is never given as a command-line flag (it would show in ps and "
                    "shell history); set ATOMSCALE_API_KEY (or AS_API_KEY) or use "
                    "--api-key-file PATH")


class _Parser(argparse.ArgumentParser):
    """A parser that prints nothing of its own when a line cannot be read: every mistake
    is an `argparse.ArgumentError`, which `cli.reading` turns into one line naming the option
    (with the nearest real one) and the command's --help; the rest of the line is still read,
    for the JSON line and the log file."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("exit_on_error", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:  # what argparse says without an ArgumentError
        raise argparse.ArgumentError(None, message)


def _converter(name: str, spec: Spec) -> Callable[[str], Any]:
    """The `type=` of an option's flag: the text as its kind's value (a number for a count or
    seconds). The declaration checks it when the options object is made (one line naming the
    flag, through the command line's error boundary), as it checks the library's values."""
    def convert(text: str) -> Any:
        if spec.kind == "count":
            try:
                return int(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if spec.kind == "seconds":
            try:
                return float(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        return text
    return convert


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _rate(text: str) -> float:
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1")
    return value


def _per_second(text: str) -> float:
    value = _number(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0")
    return value


def _how_many(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


#: The command line's own options, beside the declared ones: how a run is logged and shown.
OUTPUT_OPTIONS: dict[str, Spec] = {
    "json": Spec("print only a JSON summary on stdout (the human summary goes to stderr)",
                 "flag", "output"),
    "log_file": Spec("append timestamped log lines to PATH", "path", "output",
                     metavar="PATH"),
    "verbose": Spec("log every request", "flag", "output"),
    "quiet": Spec("on the terminal, warnings and errors only, no progress bar (the log file "
                  "keeps all its lines)", "flag", "output"),
}


def _add_output(g: Any, *, json: bool = False, log_file: bool = False, verbose: bool = False,
                quiet: bool = False) -> None:
    """The command line's own output options that mean something for the command."""
    if json:
        g.add_argument("--json", action="store_true", help=OUTPUT_OPTIONS["json"].help)
    if log_file:
        g.add_argument("--log-file", metavar="PATH", help=OUTPUT_OPTIONS["log_file"].help)
    if verbose:
        g.add_argument("-v", "--verbose", action="store_true",
                       help=OUTPUT_OPTIONS["verbose"].help)
    if quiet:
        g.add_argument("-q", "--quiet", action="store_true", help=OUTPUT_OPTIONS["quiet"].help)


def _add_config(g: Any) -> None:
    g.add_argument("--config", metavar="PATH",
                   help="a TOML file of options and [columns] (default: layer-sync.toml beside "
                        "the sheet, else in the current folder, if any); flags win")


class _SheetNames(argparse.Action):
    """--sheet NAME, repeatable; names given on the command line replace a config file's."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 value: Any, option_string: str | None = None) -> None:
        given = namespace.__dict__.setdefault("_sheets_given", [])
        given.append(value)
        setattr(namespace, self.dest, list(given))


def add_options(p: argparse.ArgumentParser, declared: type[Options]) -> dict[str, Any]:
    """A flag for every option `declared` (`SyncOptions`…) offers on the command line, in
    its group, with its help and its default from the declaration. An option not given is
    left out of the namespace (its default is the declaration's, or the config file's).
    Returns the groups (input, server, behaviour, output), for the command's own flags."""
    groups = {name: p.add_argument_group(f"{name} options")
              for name in ("input", "server", "behaviour", "output")}
    for name, default, spec in declared.declared():
        if not spec.flag:
            continue
        group = groups[spec.group]
        shown = _default_text(name, default, spec)
        help_text = f"{spec.help}{shown}"
        if spec.kind == "flag":
            group.add_argument(flag(name), action="store_true", default=argparse.SUPPRESS,
                               help=help_text)
        elif spec.kind == "names":
            group.add_argument(flag(name), action=_SheetNames, default=argparse.SUPPRESS,
                               metavar=spec.metavar, help=help_text)
        else:
            group.add_argument(flag(name), type=_converter(name, spec),
                               default=argparse.SUPPRESS, metavar=spec.metavar,
                               help=help_text)
    return groups


def _default_text(name: str, default: Any, spec: Spec) -> str:
    """` (default …)` from the code itself: the declared number, the environment's
    variables, the API's URL, the reports' folder (the declaration's help names none of
    them, so that the help cannot say another default than the one a run uses)."""
    if name == "max_consecutive_failures":
        return f" (and over at least {DOWN_AFTER_S:g} s; default {default:g})"
    if spec.kind in ("count", "seconds") and default is not None:
        return f" (default {default:g})"
    shown = [f"${variable}" for variable in spec.environment]
    if name == "api_url":
        shown.append(DEFAULT_API_URL)
    elif name == "report_dir":
        shown.append(f"{REPORTS_FOLDER} beside the sheet")
    elif name == "report" and default is True:
        shown.append(f"a new file in {REPORTS_FOLDER}{os.sep} beside the sheet, named after "
                     "the sheet and the time; never an existing file")
    return f" (default: {', else '.join(shown)})" if shown else ""


def given_options(args: argparse.Namespace, declared: type[Options]) -> dict[str, Any]:
    """The declared options the command line (or the config file) gave."""
    names = {name for name, _, _ in declared.declared()}
    return {name: value for name, value in vars(args).items() if name in names}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="layer-sync", allow_abbrev=False,
                     formatter_class=argparse.RawDescriptionHelpFormatter,
                     description="Keep a lab's target layer stacks (CSV / Excel) in step with "
                                 "the Atomscale platform.",
                     epilog=f"{SYNC_EXIT}\n\n{ENVIRONMENT}\n\nlayer-sync COMMAND --help "
                            "says what each command does, with examples.")
    parser.add_argument("--version", action="version", version=f"layer-sync {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(name: str) -> argparse.ArgumentParser:
        help_line, description = COMMANDS[name].line, COMMANDS[name].description
        made: argparse.ArgumentParser = sub.add_parser(
            name, help=help_line, description=f"{help_line[0].upper()}{help_line[1:]}.\n\n"
            f"{textwrap.fill(description, 79)}", epilog=epilog(name), allow_abbrev=False,
            formatter_class=argparse.RawDescriptionHelpFormatter)
        made.add_argument("--traceback", action="store_true", help=argparse.SUPPRESS)
        return made

    p = command("sync")
    p.add_argument("path", metavar="PATH", help="the sheet: .csv .tsv .txt .xlsx .xlsm .ods .xls")
    groups = add_options(p, SyncOptions)
    _add_output(groups["output"], json=True, log_file=True, verbose=True, quiet=True)
    _add_config(groups["input"])

    p = command("check")
    p.add_argument("path", metavar="PATH", help="the sheet: .csv .tsv .txt .xlsx .xlsm .ods .xls")
    groups = add_options(p, CheckOptions)
    _add_output(groups["output"], json=True, log_file=True, quiet=True)
    _add_config(groups["input"])

    p = command("sandbox")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=int, default=8765,
                   help="port (default %(default)s; 0 picks a free one)")
    p.add_argument("--db", metavar="PATH", help="SQLite file for the records (default: in memory)")
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seed", metavar="PATH",
                       help="JSON list shaped like GET /target-materials/, loaded when the "
                            "records are empty (default: the sample data, as the demo's)")
    seeds.add_argument("--empty", action="store_true",
                       help="start with no records instead of the sample data")
    p.add_argument("--api-key", default=None, metavar="KEY",
                   help=f"the key clients must send as X-API-KEY (default '{DEFAULT_API_KEY}')")
    p.add_argument("--latency-ms", type=float, default=0.0, metavar="N",
                   help="added to every request")
    p.add_argument("--fault-rate", type=_rate, default=0.0, metavar="P",
                   help="share of requests that fail (0-1)")
    p.add_argument("--faults", default=None, metavar="KINDS",
                   help=f"{','.join(FAULT_KINDS)} (default: all of "
                        "these), or late (a write stored --late-ms after it arrived, its "
                        "answer lost: only when named)")
    p.add_argument("--fault-seed", type=int, default=None, metavar="N", help="repeatable faults")
    p.add_argument("--slow-ms", type=float, default=35000.0, metavar="N",
                   help="how late a 'slow' answer comes (default %(default)g, past a "
                        f"{ServerOptions().timeout:g} s timeout)")
    p.add_argument("--late-ms", type=float, default=3000.0, metavar="N",
                   help="how late a 'late' write is stored (default %(default)g)")
    p.add_argument("--idempotency", action="store_true",
                   help="honour Idempotency-Key: a write whose key was seen before is "
                        "answered as the first time, not done again")
    p.add_argument("--retry-after", default="1", metavar="S",
                   help="the Retry-After of a 429 (seconds or an HTTP date; default %(default)s)")
    p.add_argument("--echo-key", action="store_true",
                   help="quote the client's key back in error answers (to test that clients "
                        "never leak it)")
    p.add_argument("--capacity", type=_how_many, default=None, metavar="N",
                   help="serve N requests at once; more wait in a queue, and past it the "
                        "answer is 503 with Retry-After (default: no limit)")
    p.add_argument("--queue", type=int, default=None, metavar="N",
                   help="how many may wait for --capacity (default: as many as --capacity)")
    p.add_argument("--rate", type=_per_second, default=None, metavar="R",
                   help="admit R requests a second; past it the answer is 429 with "
                        "Retry-After (default: no limit)")
    p.add_argument("--burst", type=_how_many, default=None, metavar="B",
                   help="with --rate, admit at most B at once (default: a quarter of a "
                        "second's worth)")
    p.add_argument("--rate-headers", choices=("draft", "draft-06", "x", "none"), default="none",
                   help="with --rate, state the limit in every answer: the IETF draft's "
                        "RateLimit-Policy and RateLimit, its earlier RateLimit-Limit/-Remaining/"
                        "-Reset, X-RateLimit-*, or none (default)")
    add_listing_arguments(p)
    _add_output(p, log_file=True, quiet=True)

    p = command("demo")
    p.add_argument("--report", metavar="PATH", help="where the report workbook goes")
    p.add_argument("--copy-sample", metavar="DIR",
                   help="instead of the demo, write the sample sheet (lab_stacks.xlsx, "
                        "lab_stacks.csv) and the sandbox seed (sandbox_seed.json) into DIR, "
                        "never over an existing file")
    _add_output(p, json=True, log_file=True, verbose=True, quiet=True)

    p = command("template")
    p.add_argument("path", metavar="PATH", help="a .xlsx or .csv file to write")
    p.add_argument("--force", action="store_true", help="overwrite PATH if it exists")

    p = command("export")
    p.add_argument("path", metavar="PATH", help="a .xlsx or .csv file to write")
    groups = add_options(p, ExportOptions)
    _add_output(groups["output"], log_file=True, verbose=True, quiet=True)
    _add_config(groups["input"])
    parser.commands = sub.choices  # type: ignore[attr-defined]  # for the config's defaults
    return parser


def looks_like_key_flag(argv: list[str]) -> bool:
    """An option meant to carry the key (`--api-key`, `--apikey`, `--api-ke`, `--key=…`,
    `--token`, `--secret`…): refused without showing what follows it."""
    if not argv or argv[0] == "sandbox":  # the sandbox's own --api-key is a made-up key
        return False
    for arg in argv:
        if arg == "--":
            break
        if not arg.startswith("-") or arg.startswith("---"):
            continue
        name = re.sub(r"[-_]", "", arg.split("=", 1)[0].lower())
        if name in ("apikeyfile", "sheet"):  # real options
            continue
        if name.startswith("apik") or any(w in name for w in ("key", "token", "secret", "passw")):
            return True
    return False

