"""The command line's arguments: the parser of every command, and the checks that keep a key
typed as a flag out of every message."""

from __future__ import annotations

import argparse
import functools
import re
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from ..core.errors import ExitCode, flag
from ..core.options import (
    CheckOptions,
    ExportOptions,
    Options,
    Spec,
    SyncOptions,
)
from ..core.version import __version__

EPILOG = """exit codes:
  0  every row is in sync (or would be, in a dry run) and none is invalid
  1  the run finished, but some rows are invalid or failed (see the report)
  2  the run could not be done in full: bad arguments, unreadable input, no header,
     key refused, API unreachable, another run holding the lock, an output path that
     names the input or is not a regular file, or the report could not be written
  129 / 130 / 143  stopped by SIGHUP / Ctrl-C / SIGTERM: nothing more was sent; the report
     of what was done and the JSON line are still written
"""

#: Said instead of echoing anything that may be an API key typed as a flag.
KEY_FLAG_MESSAGE = ("the API key is never given as a command-line flag (it would show in ps and "
                    "shell history); set ATOMSCALE_API_KEY (or AS_API_KEY) or use "
                    "--api-key-file PATH")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's own exit code is 2 as well
        self.print_usage(sys.stderr)
        self.exit(int(ExitCode.RUN_INCOMPLETE), f"layer-sync: error: {message}\n")


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


#: The command line's own options, beside the declared ones: how a run is logged and shown.
OUTPUT_OPTIONS: dict[str, Spec] = {
    "json": Spec("print only a JSON summary on stdout (the human summary goes to stderr)",
                 "flag", "output"),
    "log_file": Spec("append timestamped log lines to PATH", "path", "output",
                     metavar="PATH"),
    "verbose": Spec("log every request", "flag", "output"),
    "quiet": Spec("log warnings and errors only; no progress bar", "flag", "output"),
}


def _add_logging(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log-file", metavar="PATH", help=OUTPUT_OPTIONS["log_file"].help)
    p.add_argument("-v", "--verbose", action="store_true", help=OUTPUT_OPTIONS["verbose"].help)
    p.add_argument("-q", "--quiet", action="store_true", help=OUTPUT_OPTIONS["quiet"].help)
    p.add_argument("--traceback", action="store_true", help=argparse.SUPPRESS)


def _add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help=OUTPUT_OPTIONS["json"].help)


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="PATH",
                   help="a TOML file of options and [columns] (default: layer-sync.toml in "
                        "the current folder, if any); flags win")


class _SheetNames(argparse.Action):
    """--sheet NAME, repeatable; names given on the command line replace a config file's."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 value: Any, option_string: str | None = None) -> None:
        given = namespace.__dict__.setdefault("_sheets_given", [])
        given.append(value)
        setattr(namespace, self.dest, list(given))


def add_options(p: argparse.ArgumentParser, declared: type[Options]) -> None:
    """A flag for every option `declared` (`SyncOptions`…) offers on the command line, in
    its group, with its help and its default from the declaration. An option not given is
    left out of the namespace (its default is the declaration's, or the config file's)."""
    groups: dict[str, Any] = {}
    for name, default, spec in declared.declared():
        if not spec.flag:
            continue
        group = groups.get(spec.group)
        if group is None:
            group = groups[spec.group] = p.add_argument_group(f"{spec.group} options")
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


def _default_text(name: str, default: Any, spec: Spec) -> str:
    if spec.kind in ("count", "seconds") and default is not None:
        return f" (default {default:g})"
    return ""


def given_options(args: argparse.Namespace, declared: type[Options]) -> dict[str, Any]:
    """The declared options the command line (or the config file) gave."""
    names = {name for name, _, _ in declared.declared()}
    return {name: value for name, value in vars(args).items() if name in names}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="layer-sync", epilog=EPILOG, allow_abbrev=False,
                     formatter_class=argparse.RawDescriptionHelpFormatter,
                     description="Keep a lab's target layer stacks (CSV / Excel) in step with "
                                 "the Atomscale platform.")
    parser.add_argument("--version", action="version", version=f"layer-sync {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.add_parser = functools.partial(sub.add_parser, allow_abbrev=False)  # type: ignore[method-assign]

    p = sub.add_parser("sync", help="read the sheet, plan against the server, write, report",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", metavar="PATH", help=".csv .tsv .txt .xlsx .xlsm .ods .xls")
    add_options(p, SyncOptions)
    _add_json(p)
    _add_config(p)
    _add_logging(p)

    p = sub.add_parser("check", help="check a sheet against every rule, offline: no key, "
                                     "no network; problems with their cells")
    p.add_argument("path", metavar="PATH", help=".csv .tsv .txt .xlsx .xlsm .ods .xls")
    add_options(p, CheckOptions)
    _add_config(p)
    _add_logging(p)

    p = sub.add_parser("sandbox", help="run a local stand-in of the Atomscale API")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    p.add_argument("--db", metavar="PATH", help="SQLite file for the records (default: in memory)")
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seed", metavar="PATH",
                       help="JSON list shaped like GET /target-materials/, loaded when the "
                            "records are empty (default: the sample data, as the demo's)")
    seeds.add_argument("--empty", action="store_true",
                       help="start with no records instead of the sample data")
    p.add_argument("--api-key", default=None, metavar="KEY",
                   help="the key clients must send as X-API-KEY (default 'sandbox')")
    p.add_argument("--latency-ms", type=float, default=0.0, metavar="N",
                   help="added to every request")
    p.add_argument("--fault-rate", type=_rate, default=0.0, metavar="P",
                   help="share of requests that fail (0-1)")
    p.add_argument("--faults", default=None, metavar="KINDS",
                   help="429,500,502,503,reset,commit500,commitreset,slow (default: all)")
    p.add_argument("--fault-seed", type=int, default=None, metavar="N", help="repeatable faults")
    p.add_argument("--slow-ms", type=float, default=35000.0, metavar="N",
                   help="how late a 'slow' answer comes (default 35000, past a 30 s timeout)")
    p.add_argument("--retry-after", default="1", metavar="S",
                   help="the Retry-After of a 429 (seconds or an HTTP date; default 1)")
    p.add_argument("--echo-key", action="store_true",
                   help="quote the client's key back in error answers (to test that clients "
                        "never leak it)")
    _add_logging(p)

    p = sub.add_parser("demo", help="sync the sample workbook into a sandbox; no key, no network")
    p.add_argument("--report", metavar="PATH", help="where the report workbook goes")
    p.add_argument("--json", action="store_true",
                   help="print only a JSON summary on stdout (the human summary goes to stderr)")
    p.add_argument("--copy-sample", metavar="DIR",
                   help="instead of the demo, write the sample sheet (lab_stacks.xlsx, "
                        "lab_stacks.csv) and the sandbox seed (sandbox_seed.json) into DIR, "
                        "never over an existing file")
    _add_logging(p)

    p = sub.add_parser("template", help="write a blank input workbook (.xlsx) or CSV")
    p.add_argument("path", metavar="PATH", help="a .xlsx or .csv file to write")
    p.add_argument("--force", action="store_true", help="overwrite PATH if it exists")
    _add_logging(p)

    p = sub.add_parser("export", help="write the server's layer stacks to a sheet (.xlsx / .csv)")
    p.add_argument("path", metavar="PATH", help="a .xlsx or .csv file to write")
    add_options(p, ExportOptions)
    _add_config(p)
    _add_logging(p)
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


def unknown_names(extras: list[str]) -> list[str]:
    """The names of unrecognised options, never their values (a value may be a secret)."""
    names = []
    for arg in extras:
        name = arg.split("=", 1)[0]
        if re.fullmatch(r"--?[A-Za-z][A-Za-z0-9_-]{0,40}", name) and name not in names:
            names.append(name)
    return names
