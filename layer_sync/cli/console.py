"""The command line: parse arguments, call one library function, print.

This is the one error boundary: every LayerSyncError becomes one line on stderr and its exit
code; anything else becomes one line too (with `--traceback` for the details).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from ..core.errors import ExitCode, LayerSyncError, signal_name
from ..core.runtime import Runtime, Stream, local_now
from ..core.secrets import Redactor
from ..core.text import one_line, plural
from ..outcome import jsonline
from ..remote.settings import resolve_api_url
from .arguments import (
    KEY_FLAG_MESSAGE,
    build_parser,
    looks_like_key_flag,
    unknown_names,
)
from .commands import COMMANDS
from .config import COMMAND_OPTIONS, apply_config, find_config, load_config
from .outputs import check_command_outputs
from .process import FILE_ONLY, LoggingSetup, StopSignals, collecting_less_often
from .streams import KeyRedactingFilter, RedactingStream, keys_known_early

log = logging.getLogger("layer_sync")

class _Ending:
    """How a run that ends without an outcome (bad arguments, no key, a locked server, a
    signal before anything was sent, a bug) is told: one line on stderr, a dated line in the
    --log-file, and with --json the JSON line, each naming the reason."""

    def __init__(self, argv: list[str], environ: dict[str, str], stdout: Stream,
                 stderr: Stream) -> None:
        self.argv, self.environ, self.stdout, self.stderr = argv, environ, stdout, stderr
        self.started = local_now()
        self.args: argparse.Namespace | None = None
        self.logging = False  # the --log-file is open: the line goes there too

    def __call__(self, code: int, kind: str, line: str) -> int:
        """Say it; `line` is what follows `layer-sync: ` (`error: …`, `interrupted …`)."""
        print(f"layer-sync: {line}", file=self.stderr)
        if self.logging:
            log.error("exit code %d (%s): %s", code, kind, line.removeprefix("error: "),
                      extra=FILE_ONLY)
        args, argv = self.args, self.argv
        if getattr(args, "json", False) if args is not None else "--json" in argv:
            print(jsonline.dumps(self._fields(code, kind, line.removeprefix("error: "))),
                  file=self.stdout)
        return code

    def _fields(self, code: int, kind: str, message: str) -> dict[str, Any]:
        args, argv = self.args, self.argv
        if args is not None:
            command = getattr(args, "command", None)
            path = getattr(args, "path", None) if command in ("sync", "check") else None
            sheets = list(getattr(args, "sheet", ()) or ())
            given_url = getattr(args, "api_url", None)
            dry_run = bool(getattr(args, "dry_run", False)) or command == "check"
        else:  # the command line could not be read: what it seems to say
            command = argv[0] if argv and argv[0] in COMMANDS else None
            path = (argv[1] if command in ("sync", "check") and len(argv) > 1
                    and not argv[1].startswith("-") else None)
            sheets, given_url, dry_run = [], None, "--dry-run" in argv or command == "check"
        api_url = None
        if command in ("sync", "demo", "export"):
            with contextlib.suppress(LayerSyncError):
                api_url = resolve_api_url(given_url, self.environ)
        finished = local_now()
        return jsonline.line(
            command=command, started=self.started, finished=finished,
            duration_s=(finished - self.started).total_seconds(), input_path=path,
            sheets=sheets, api_url=api_url, dry_run=dry_run, counts={}, requests={},
            retries=0, report=None, exit_code=code, kind=kind, message=message)


def main(argv: Sequence[str] | None = None, *, environ: dict[str, str] | None = None,
         stdout: Stream | None = None, stderr: Stream | None = None) -> int:
    """Run the command line; returns the exit code. Streams and environment are injectable.

    Leaves the process as it found it: the `layer_sync` logger and the signal handlers it
    sets for the run are put back before it returns, so it can be called again.
    """
    environ = dict(os.environ) if environ is None else environ
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything printed goes out with the key as `***`, also a key pasted into another flag
    # (`--timeout KEY`, `--report KEY`) and echoed in its error: the keys known before the
    # arguments are read are those of the environment and of a key file named on the line.
    known = keys_known_early(argv, environ)
    # A stream closed before the run (`>&-`: Python's is None) takes nothing, as a reader that
    # went away: the run goes on to its own exit code.
    stdout = RedactingStream(stdout or sys.stdout or io.StringIO(), known)
    stderr = RedactingStream(stderr or sys.stderr or io.StringIO(), known)
    logging_setup = LoggingSetup([KeyRedactingFilter(key) for key in known])
    try:
        with StopSignals(stderr) as signals:
            code = _main(argv, environ, stdout, stderr, logging_setup, signals)
    finally:
        logging_setup.restore()
    return _output_failed(code, stdout, stderr)


def _output_failed(code: int, stdout: RedactingStream, stderr: RedactingStream) -> int:
    """Exit 2 when the output could not be written (a full disk under `>> runs.jsonl`), said on
    the other stream if it can take it; a reader that went away (`| head`) is not a failure."""
    stdout.flush()  # what is still buffered is written now, so that a failure is known
    stderr.flush()
    for stream, name, other in ((stdout, "standard output", stderr),
                                (stderr, "standard error", stdout)):
        error = stream.error
        if error is not None:
            itself = f"; the run itself ended with exit code {code}" if code < 2 else ""
            other.write(f"layer-sync: error: could not write to the {name} "
                        f"({error.strerror or type(error).__name__}){itself}\n")
            other.flush()
            return max(code, int(ExitCode.RUN_INCOMPLETE))
    return code


def _main(argv: list[str], environ: dict[str, str], stdout: Stream, stderr: Stream,
          logging_setup: LoggingSetup, signals: StopSignals) -> int:
    parser = build_parser()
    args: argparse.Namespace | None = None
    end = _Ending(argv, environ, stdout, stderr)
    incomplete = int(ExitCode.RUN_INCOMPLETE)
    if looks_like_key_flag(argv):
        # Never echo what follows: it is a secret, and it would end up in logs.
        return end(incomplete, "bad_arguments", f"error: {KEY_FLAG_MESSAGE}")
    try:
        try:
            # argparse writes usage, help and errors to sys.stdout / sys.stderr: point them here.
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                args, extras = parser.parse_known_args(argv)
                if extras:
                    # argparse would print every unrecognised word, values included (a key
                    # typed after a misspelt flag): name the options only.
                    names = unknown_names(extras)
                    parser.error((f"unrecognized option{'s' if len(names) > 1 else ''}: "
                                  f"{', '.join(names)}" if names else
                                  f"unrecognized arguments: {plural(len(extras), 'extra value')} "
                                  "(not shown, in case one is a secret)") + "; see layer-sync --help")
        except SystemExit as exc:  # argparse has printed its line (and the usage)
            code = int(exc.code or 0)
            if code and ("--json" in argv):
                print(jsonline.dumps(end._fields(code, "bad_arguments",
                                                 "the command line could not be read")),
                      file=stdout)
            return code
        if not args.command:
            parser.print_help(stdout)
            return int(ExitCode.RUN_INCOMPLETE)
        end.args = args
        args = _with_config(parser, argv, args, environ)
        end.args = args
        check_command_outputs(args)
        logging_setup.configure(args, stderr)
        end.logging = True
        args.signals = signals  # for the commands that run long: see StopSignals.watching
        runtime = Runtime(environ=environ, stdout=stdout, stderr=stderr,
                          control=signals.control)
        return int(COMMANDS[args.command](args, runtime))
    except LayerSyncError as exc:
        return end(int(exc.exit_code), exc.kind, f"error: {one_line(exc.for_cli())}")
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM / SIGHUP (errors.Interrupted)
        signum = int(getattr(exc, "signum", signal.SIGINT))
        code = int(ExitCode.for_signal(signum))
        return end(code, jsonline.signal_kind(code),
                   f"interrupted by {signal_name(signum)} before anything was written")
    except MemoryError:
        # The bounds keep every accepted sheet under 1 GB; a machine with less to give (or a
        # cap on the process) still ends in one line, exit 2 and the JSON line.
        return end(incomplete, "out_of_memory", "error: the machine ran out of memory for "
                   "this run; close other programs, or split the sheet, and run again")
    except Exception as exc:  # the one place a bug becomes a line, not a traceback
        if getattr(args, "traceback", False):
            raise
        text = Redactor(getattr(args, "keys", [])).redact(f"{type(exc).__name__}: {exc}")
        return end(incomplete, "internal_error", f"internal error: {one_line(text)} (run "
                   "again with --traceback and report it)")


def _with_config(parser: argparse.ArgumentParser, argv: list[str], args: argparse.Namespace,
                 environ: dict[str, str]) -> argparse.Namespace:
    """The arguments again, with the config file's options as defaults (flags win)."""

    args.columns = {}
    if args.command not in COMMAND_OPTIONS:
        return args
    path = find_config(getattr(args, "config", None))
    if path is None:
        return args
    config = load_config(path)
    apply_config(config, parser.commands[args.command], args.command,  # type: ignore[attr-defined]
                 environ=environ)
    args = parser.parse_known_args(argv)[0]
    args.columns = config.columns
    return args


def run() -> None:
    """The `layer-sync` console script."""
    with collecting_less_often():  # its own process: see process.collecting_less_often
        code = main()
    for stream in (sys.stdout, sys.stderr):
        if stream is None:  # closed before the run
            continue
        try:
            stream.flush()
        except (BrokenPipeError, OSError):  # a reader that went away (| head): nothing to say
            # What is left in its buffer goes nowhere, instead of to Python's own "Exception
            # ignored" at exit (this is the console script's own process).
            try:
                os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
            except (OSError, ValueError):
                pass
    raise SystemExit(code)


# ---------------------------------------------------------------------------- commands


