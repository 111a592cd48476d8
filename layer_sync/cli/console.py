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
from ..core.runtime import Runtime, Stream
from ..core.secrets import forms_of, replace_forms
from ..core.text import one_line, plural, printable
from ..outcome.results import empty_json
from .arguments import (
    KEY_FLAG_MESSAGE,
    build_parser,
    looks_like_key_flag,
    unknown_names,
)
from .commands import COMMANDS
from .config import COMMAND_OPTIONS, apply_config, find_config, load_config
from .outputs import check_command_outputs
from .process import LoggingSetup, StopSignals, collecting_less_often
from .streams import RedactingStream, keys_known_early

log = logging.getLogger("layer_sync")

def _json_zeros(args: Any, argv: list[str], code: int, stdout: Stream) -> None:
    """The JSON line of a run that never started, when --json was asked for."""
    if getattr(args, "json", False) if args is not None else "--json" in argv:

        print(empty_json(getattr(args, "dry_run", False), int(code)), file=stdout)


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
    logging_setup = LoggingSetup()
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
    if looks_like_key_flag(argv):
        # Never echo what follows: it is a secret, and it would end up in logs.
        print(f"layer-sync: error: {KEY_FLAG_MESSAGE}", file=stderr)
        _json_zeros(None, argv, ExitCode.RUN_INCOMPLETE, stdout)
        return int(ExitCode.RUN_INCOMPLETE)
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
        except SystemExit as exc:
            code = int(exc.code or 0)
            if code:
                _json_zeros(None, argv, code, stdout)
            return code
        if not args.command:
            parser.print_help(stdout)
            return int(ExitCode.RUN_INCOMPLETE)
        args = _with_config(parser, argv, args, environ)
        check_command_outputs(args)
        logging_setup.configure(args, stderr)
        args.signals = signals  # for the commands that run long: see StopSignals.watching
        runtime = Runtime(environ=environ, stdout=stdout, stderr=stderr,
                          control=signals.control)
        return int(COMMANDS[args.command](args, runtime))
    except LayerSyncError as exc:
        print(f"layer-sync: error: {one_line(exc.for_cli())}", file=stderr)
        _json_zeros(args, argv, int(exc.exit_code), stdout)
        return int(exc.exit_code)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM / SIGHUP (errors.Interrupted)
        signum = int(getattr(exc, "signum", signal.SIGINT))
        code = int(ExitCode.for_signal(signum))
        print(f"layer-sync: interrupted by {signal_name(signum)} before anything was written",
              file=stderr)
        _json_zeros(args, argv, code, stdout)
        return code
    except Exception as exc:  # the one place a bug becomes a line, not a traceback
        if getattr(args, "traceback", False):
            raise

        text = replace_forms(f"{type(exc).__name__}: {exc}",
                             forms_of(getattr(args, "keys", [])))
        print(f"layer-sync: internal error: {printable(text)} (run again with --traceback and report it)",
              file=stderr)
        _json_zeros(args, argv, ExitCode.RUN_INCOMPLETE, stdout)
        return int(ExitCode.RUN_INCOMPLETE)


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


