"""The command line: parse arguments, call one library function, print.

This is the one error boundary: every LayerSyncError becomes one line on stderr and its exit
code; anything else becomes one line too (with `--traceback` for the details).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from . import __version__
from .errors import ConfigError, ExitCode, LayerSyncError

log = logging.getLogger("layer_sync")

EPILOG = """exit codes:
  0  every row is in sync (or would be, in a dry run) and none is invalid
  1  the run finished, but some rows are invalid or failed (see the report)
  2  the run could not be done in full: bad arguments, unreadable input, no header,
     key refused, API unreachable, or another run holding the lock
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own exit code is 2 as well
        self.print_usage(sys.stderr)
        self.exit(int(ExitCode.RUN_INCOMPLETE), f"layer-sync: error: {message}\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1")
    return value


def _add_logging(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log-file", metavar="PATH", help="append timestamped log lines to PATH")
    p.add_argument("-v", "--verbose", action="store_true", help="log every request")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="log warnings and errors only; no progress bar")
    p.add_argument("--traceback", action="store_true", help=argparse.SUPPRESS)


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="PATH",
                   help="a TOML file of options and [columns] (default: layer-sync.toml in "
                        "the current folder, if any); flags win")


def _add_api(p: argparse.ArgumentParser) -> None:
    p.add_argument("--api-url", metavar="URL",
                   help="API root (default: $ATOMSCALE_API_URL, else $AS_API_ENDPOINT, "
                        "else https://api.atomscale.ai/)")
    p.add_argument("--api-key-file", metavar="PATH",
                   help="read the API key from PATH (default: $ATOMSCALE_API_KEY, else $AS_API_KEY)")
    p.add_argument("--timeout", type=_positive_float, default=30.0, metavar="S",
                   help="seconds per request (default 30)")
    p.add_argument("--max-attempts", type=_positive_int, default=6, metavar="N",
                   help="attempts per request, the first included (default 6)")


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
    _add_api(p)
    p.add_argument("--sheet", metavar="NAME", help="worksheet to read (default: the first "
                                                    "with a recognisable header)")
    p.add_argument("--dry-run", action="store_true", help="plan only: no POST or PATCH")
    p.add_argument("--report", metavar="PATH", help="where the report workbook goes (default: "
                   "reports/layer-sync_<input>_<timestamp>.xlsx)")
    p.add_argument("--concurrency", type=_positive_int, default=8, metavar="N",
                   help="writes in flight at once (default 8)")
    p.add_argument("--max-consecutive-failures", type=_positive_int, default=20, metavar="N",
                   help="failed attempts in a row before the run stops as 'API down' (default 20)")
    p.add_argument("--create-samples", action="store_true",
                   help="create target materials that the server does not know (by name)")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    _add_config(p)
    _add_logging(p)

    p = sub.add_parser("check", help="check a sheet against every rule, offline: no key, "
                                     "no network; problems with their cells")
    p.add_argument("path", metavar="PATH", help=".csv .tsv .txt .xlsx .xlsm .ods .xls")
    p.add_argument("--sheet", metavar="NAME", help="worksheet to read (default: the first "
                                                    "with a recognisable header)")
    p.add_argument("--report", metavar="PATH", help="also write the Rows and Issues sheets "
                                                     "to PATH (.xlsx)")
    _add_config(p)
    _add_logging(p)

    p = sub.add_parser("sandbox", help="run a local stand-in of the Atomscale API")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    p.add_argument("--db", metavar="PATH", help="SQLite file for the records (default: in memory)")
    p.add_argument("--seed", metavar="PATH", help="JSON list shaped like GET /target-materials/, "
                                                   "loaded when the records are empty")
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
    _add_logging(p)

    p = sub.add_parser("demo", help="sync the sample workbook into a sandbox; no key, no network")
    p.add_argument("--report", metavar="PATH", help="where the report workbook goes")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    _add_logging(p)

    p = sub.add_parser("template", help="write a blank input workbook (.xlsx) or CSV")
    p.add_argument("path", metavar="PATH", help="a .xlsx or .csv file to write")
    p.add_argument("--force", action="store_true", help="overwrite PATH if it exists")
    _add_logging(p)

    p = sub.add_parser("export", help="write the server's layer stacks to a sheet (.xlsx / .csv)")
    p.add_argument("path", metavar="PATH", help="a .xlsx or .csv file to write")
    _add_api(p)
    p.add_argument("--force", action="store_true", help="overwrite PATH if it exists")
    _add_config(p)
    _add_logging(p)
    parser.commands = sub.choices  # type: ignore[attr-defined]  # for the config's defaults
    return parser


def _key_given_as_flag(argv: list[str]) -> bool:
    if not argv or argv[0] == "sandbox":  # the sandbox's own --api-key is a made-up key
        return False
    return any(a in ("--api-key", "--key", "--token") or a.startswith(("--api-key=", "--key=", "--token="))
               for a in argv)


def setup_logging(args: argparse.Namespace, stderr: IO[str]) -> None:
    root = logging.getLogger("layer_sync")
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    root.setLevel(logging.DEBUG if args.log_file else level)
    root.propagate = False
    console = logging.StreamHandler(stderr)
    console.setLevel(level)
    console.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(console)
    if args.log_file:
        try:
            file_handler = logging.FileHandler(args.log_file, mode="a", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot open the log file {args.log_file}: {exc.strerror}") from None
        file_handler.setLevel(logging.DEBUG if args.verbose else logging.INFO)
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        root.addHandler(file_handler)


def main(argv: Sequence[str] | None = None, *, environ: dict[str, str] | None = None,
         stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    """Run the command line; returns the exit code. Streams and environment are injectable."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    environ = dict(os.environ) if environ is None else environ
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if _key_given_as_flag(argv):
        # Never echo what follows: it is a secret, and it would end up in logs.
        print("layer-sync: error: the API key is never given as a command-line flag (it would "
              "show in ps and shell history); set ATOMSCALE_API_KEY (or AS_API_KEY) or use "
              "--api-key-file PATH", file=stderr)
        if "--json" in argv:
            from .outcome import empty_json

            print(empty_json(), file=stdout)
        return int(ExitCode.RUN_INCOMPLETE)
    try:
        # argparse writes usage, help and errors to sys.stdout / sys.stderr: point them here.
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            args = parser.parse_args(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
        if code and "--json" in argv:
            from .outcome import empty_json

            print(empty_json(exit_code=code), file=stdout)
        return code
    if not args.command:
        parser.print_help(stdout)
        return int(ExitCode.RUN_INCOMPLETE)
    try:
        args = _with_config(parser, argv, args, environ)
        setup_logging(args, stderr)
        handler = _COMMANDS[args.command]
        return int(handler(args, environ, stdout, stderr))
    except LayerSyncError as exc:
        print(f"layer-sync: error: {exc}", file=stderr)
        if getattr(args, "json", False):
            from .outcome import empty_json

            print(empty_json(getattr(args, "dry_run", False), int(exc.exit_code)), file=stdout)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("layer-sync: interrupted", file=stderr)
        return 130
    except Exception as exc:  # the one place a bug becomes a line, not a traceback
        if getattr(args, "traceback", False):
            raise
        print(f"layer-sync: internal error: {type(exc).__name__}: {exc} "
              "(run again with --traceback and report it)", file=stderr)
        return int(ExitCode.RUN_INCOMPLETE)


def _with_config(parser: argparse.ArgumentParser, argv: list[str], args: argparse.Namespace,
                 environ: dict[str, str]) -> argparse.Namespace:
    """The arguments again, with the config file's options as defaults (flags win)."""
    from .config import COMMAND_OPTIONS, apply_config, find_config, load_config

    args.columns = {}
    if args.command not in COMMAND_OPTIONS:
        return args
    path = find_config(getattr(args, "config", None))
    if path is None:
        return args
    config = load_config(path)
    apply_config(config, parser.commands[args.command], args.command,  # type: ignore[attr-defined]
                 environ=environ)
    args = parser.parse_args(argv)
    args.columns = config.columns
    return args


def run() -> None:
    """The `layer-sync` console script: main(), then a fast exit.

    Everything is flushed and closed first (streams, log files; the report and the lock are
    closed by then), so the interpreter's teardown, ~0.1 s of freeing module state, is
    skipped: it is a tenth of a run that has nothing to change.
    """
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        logging.shutdown()
        os._exit(code)


# ---------------------------------------------------------------------------- commands

def _cmd_sandbox(args: argparse.Namespace, environ: dict[str, str], stdout: IO[str],
                 stderr: IO[str]) -> int:
    from .sandbox import DEFAULT_API_KEY, FAULT_KINDS, Faults, SandboxServer, parse_kinds

    logging.getLogger("layer_sync.sandbox").setLevel(logging.INFO)
    try:
        kinds = parse_kinds(args.faults) if args.faults else FAULT_KINDS
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if args.seed and not Path(args.seed).is_file():
        raise ConfigError(f"the seed file {args.seed} does not exist")
    faults = Faults(rate=args.fault_rate, kinds=kinds, seed=args.fault_seed,
                    slow_seconds=args.slow_ms / 1000, retry_after=args.retry_after)
    try:
        server = SandboxServer(host=args.host, port=args.port, db=args.db, seed=args.seed,
                               api_key=args.api_key or DEFAULT_API_KEY,
                               latency_ms=args.latency_ms, faults=faults)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"cannot load the seed {args.seed}: {exc}") from None
    key_note = "the key given with --api-key" if args.api_key else f"'{DEFAULT_API_KEY}'"
    print(f"layer-sync sandbox listening on {server.url} (X-API-KEY: {key_note}; "
          f"records: {args.db or 'in memory'}). Ctrl-C stops it.", file=stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _cmd_sync(args: argparse.Namespace, environ: dict[str, str], stdout: IO[str],
              stderr: IO[str]) -> int:
    from .sync import resolve_api_key, resolve_api_url, sync_file

    api_url = resolve_api_url(args.api_url, environ)
    api_key = resolve_api_key(environ, args.api_key_file)
    with _progress_bar(stdout, stderr, args.quiet) as progress:
        outcome = sync_file(args.path, api_key=api_key, api_url=api_url, sheet=args.sheet,
                            dry_run=args.dry_run, report=args.report,
                            concurrency=args.concurrency, max_attempts=args.max_attempts,
                            timeout=args.timeout,
                            max_consecutive_failures=args.max_consecutive_failures,
                            create_samples=args.create_samples, columns=args.columns,
                            progress=progress)
    return _finish(outcome, args, stdout, stderr)


def _finish(outcome: Any, args: argparse.Namespace, stdout: IO[str], stderr: IO[str],
            log_exit: bool = True) -> int:
    print_summary(outcome, stdout)
    if outcome.fatal:
        print(f"layer-sync: error: {outcome.message}", file=stderr)
    if log_exit:
        log.info("exit code %d: %s", int(outcome.exit_code), outcome.headline)
    if getattr(args, "json", False):
        print(outcome.json_line(), file=stdout)
    return int(outcome.exit_code)


def print_summary(outcome: Any, out: IO[str]) -> None:
    """The human summary, printed on every run: counts, then the changes (layer_sync.summary)."""
    from .summary import print_summary as print_changes

    print_changes(outcome, out)


@contextlib.contextmanager
def _progress_bar(stdout: IO[str], stderr: IO[str], quiet: bool) -> Any:
    """The write callback of a progress bar on stderr when a person watches it; else None.

    (layer_sync.progress; once sync_file reports its phases, pass the bar itself.)
    """
    from .progress import ProgressBar, bar_wanted

    if not bar_wanted(stderr, quiet):
        yield None
        return
    with ProgressBar(stderr) as bar:
        yield bar.writes


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _cmd_demo(args: argparse.Namespace, environ: dict[str, str], stdout: IO[str],
              stderr: IO[str]) -> int:
    from .demo import run_demo

    def announce(url: str) -> None:
        print(f"Demo: a sandbox Atomscale API is running on {url} with 3 target materials "
              "(5 layers).\nSyncing the sample lab workbook (sample_data/lab_stacks.xlsx) "
              "into it...\n", file=stdout, flush=True)

    with _progress_bar(stdout, stderr, args.quiet) as progress:
        outcome = run_demo(report=args.report, progress=progress, announce=announce)
    code = _finish(outcome, args, stdout, stderr, log_exit=False)
    if code == ExitCode.ROWS_NEED_ATTENTION:
        # The sample sheet has an invalid row on purpose: the demo itself went as designed.
        code = int(ExitCode.OK)
        if not getattr(args, "json", False):
            print("\n(The sample sheet has one invalid row on purpose: a real run would exit "
                  "with code 1 and the report would show the cell to fix.)", file=stdout)
    if not getattr(args, "json", False):
        print("\nOpen the report to see what happened to every row. Start your own sheet with "
              "'layer-sync template my_stacks.xlsx', or export what the server holds with "
              "'layer-sync export my_stacks.xlsx'; check it at the bench, with no key and no "
              "network, with 'layer-sync check my_stacks.xlsx'.", file=stdout)
    return code


def _cmd_check(args: argparse.Namespace, environ: dict[str, str], stdout: IO[str],
               stderr: IO[str]) -> int:
    from .check import check_file
    from .summary import print_check

    outcome = check_file(args.path, args.sheet, columns=args.columns, report=args.report)
    print_check(outcome, stdout)
    if outcome.report_error:
        print(f"layer-sync: error: {outcome.report_error}", file=stderr)
        return int(ExitCode.RUN_INCOMPLETE)
    return int(outcome.exit_code)


def _cmd_template(args: argparse.Namespace, environ: dict[str, str], stdout: IO[str],
                  stderr: IO[str]) -> int:
    from .templates import write_template

    path = write_template(args.path, force=args.force)
    print(f"Wrote {path}: fill in the Layers sheet (the Instructions sheet explains each column)"
          f", then check it with: layer-sync check {path} (no key needed), and see what would "
          f"change with: layer-sync sync {path} --dry-run" if path.suffix == ".xlsx" else
          f"Wrote {path}: one example stack under the canonical headers; check it with: "
          f"layer-sync check {path} (no key needed), then: layer-sync sync {path} --dry-run",
          file=stdout)
    return 0


def _cmd_export(args: argparse.Namespace, environ: dict[str, str], stdout: IO[str],
                stderr: IO[str]) -> int:
    from .export import export_stacks
    from .sync import resolve_api_key, resolve_api_url

    api_url = resolve_api_url(args.api_url, environ)
    api_key = resolve_api_key(environ, args.api_key_file)
    result = export_stacks(args.path, api_key=api_key, api_url=api_url, force=args.force,
                           timeout=args.timeout, max_attempts=args.max_attempts)
    print(f"Exported {result.layers} layers of {result.target_materials} target materials from "
          f"{api_url} to {result.path}", file=stdout)
    if result.without_layers:
        print(f"  {result.without_layers} target material(s) without layers are not listed "
              "(a row needs a layer_id)", file=stdout)
    if result.duplicates:
        print(f"  {result.duplicates} duplicate layer record(s) on the server were left out",
              file=stdout)
    return 0


_COMMANDS: dict[str, Any] = {
    "sync": _cmd_sync,
    "check": _cmd_check,
    "sandbox": _cmd_sandbox,
    "demo": _cmd_demo,
    "template": _cmd_template,
    "export": _cmd_export,
}
