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
from pathlib import Path
from typing import Any

from ..core.errors import ExitCode, Interrupted, LayerSyncError, signal_name
from ..core.runtime import Runtime, Stream, local_now
from ..core.secrets import Redactor
from ..core.text import one_line
from ..outcome import jsonline
from ..read.files import TEXT_SUFFIXES
from ..remote.settings import resolve_api_url
from .arguments import KEY_FLAG_MESSAGE, build_parser, looks_like_key_flag
from .commands import COMMANDS
from .config import COMMAND_OPTIONS, apply_config, find_config, key_goes_with_url, load_config
from .outputs import check_command_outputs
from .process import FILE_ONLY, LoggingSetup, StopSignals, collecting_less_often
from .reading import Reading, read_line
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
        self.wants_json = False  # a JSON line asked for by a misspelt --json (--jsn)
        # The API URL is told only once the config file (if any) is read, or a flag names it:
        # never a default the run would not have used.
        self.url_known = False

    def __call__(self, code: int, kind: str, line: str) -> int:
        """Say it; `line` is what follows `layer-sync: ` (`error: …`, `interrupted …`)."""
        print(f"layer-sync: {line}", file=self.stderr)
        if self.logging:
            log.error("exit code %d (%s): %s", code, kind, line.removeprefix("error: "),
                      extra=FILE_ONLY)
        args, argv = self.args, self.argv
        if self.wants_json or (getattr(args, "json", False) if args is not None
                               else "--json" in argv):
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
        api_url = None  # the demo's is a sandbox of its own, not yet started
        if command in ("sync", "export") and (given_url or self.url_known):
            with contextlib.suppress(LayerSyncError):
                api_url = resolve_api_url(given_url, self.environ)
        finished = local_now()
        return jsonline.Line(
            command=command, started=self.started, finished=finished,
            duration_s=(finished - self.started).total_seconds(), input_path=path,
            sheets=sheets, api_url=api_url, dry_run=dry_run, counts={}, requests={},
            retries=0, report=None, exit_code=code, kind=kind, message=message).fields()


def main(argv: Sequence[str] | None = None, *, environ: dict[str, str] | None = None,
         stdout: Stream | None = None, stderr: Stream | None = None,
         early_signals: list[int] | None = None) -> int:
    """Run the command line; returns the exit code. Streams and environment are injectable.

    Leaves the process as it found it: the `layer_sync` logger and the signal handlers it
    sets for the run are put back before it returns, so it can be called again.
    `early_signals`: stop signals that came before the run's handlers were in place (the
    console script notes them from its first line, see `layer_sync.entry`); the run takes
    them over and ends as stopped before anything is written.
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
        with StopSignals(stderr, early=early_signals) as signals:
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
            # argparse writes help and the version to sys.stdout: point it here.
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                reading = read_line(parser, argv)
        except SystemExit as exc:  # --help, --version: argparse has printed them
            return int(exc.code or 0)
        if reading.problem is not None:
            return _unreadable(reading, parser, environ, stderr, logging_setup, end)
        args = reading.args
        assert args is not None  # a line read in full
        if not args.command:
            parser.print_help(stdout)
            return int(ExitCode.RUN_INCOMPLETE)
        end.args = args
        try:
            args = _with_config(parser, argv, args, environ)
        except LayerSyncError:  # layer-sync.toml unusable: the line's own --log-file says so
            _open_log(args, stderr, logging_setup, end)
            raise
        end.args, end.url_known = args, True
        check_command_outputs(args)
        logging_setup.configure(args, stderr)
        end.logging = True
        args.signals = signals  # for the commands that run long: see StopSignals.watching
        runtime = Runtime(environ=environ, stdout=stdout, stderr=stderr,
                          control=signals.control)
        if signals.received is not None:  # a stop signal while the line was being read
            raise Interrupted(signals.received)
        return int(COMMANDS[args.command](args, runtime))
    except LayerSyncError as exc:
        named = getattr(args, "from_config", None) or {}
        return end(int(exc.exit_code), exc.kind, f"error: {one_line(exc.for_cli(named))}")
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


def _unreadable(reading: Reading, parser: argparse.ArgumentParser, environ: dict[str, str],
                stderr: Stream, logging_setup: LoggingSetup, end: _Ending) -> int:
    """A command line not read in full ends as any early failure: its line on stderr, and
    from the rest of the line, the JSON line and the --log-file's line as it asks, with the
    API URL the run would have used (flags, the config file, the environment) where that
    can be told."""
    args = end.args = reading.args
    end.wants_json = reading.wants_json
    if args is not None and reading.url_known and getattr(args, "command", None):
        with contextlib.suppress(LayerSyncError, argparse.ArgumentError):
            end.args = args = _with_config(parser, reading.tokens, args, environ)
            end.url_known = True
    _open_log(args, stderr, logging_setup, end)
    return end(int(ExitCode.RUN_INCOMPLETE), "bad_arguments", f"error: {reading.problem}")


def _open_log(args: argparse.Namespace | None, stderr: Stream, logging_setup: LoggingSetup,
              end: _Ending) -> None:
    """Before a run ends early: the --log-file the line names, if it may be written, for
    the ending's line (a file it may not be is said by the run that would use it)."""
    if args is not None and getattr(args, "log_file", None) and not end.logging:
        with contextlib.suppress(LayerSyncError):
            check_command_outputs(args)
            logging_setup.configure(args, stderr)
            end.logging = True


def _with_config(parser: argparse.ArgumentParser, argv: list[str], args: argparse.Namespace,
                 environ: dict[str, str]) -> argparse.Namespace:
    """The arguments again, with the config file's options as defaults (flags win).

    `args.config_file` is the file used (None: none), and `args.from_config` maps each option
    whose value came from it to how a message names it (`sheet` in /lab/layer-sync.toml), so
    that an error points at the line to change, not at a flag nobody typed."""

    args.columns, args.config_file, args.from_config = {}, None, {}
    if args.command not in COMMAND_OPTIONS:
        return args
    path = find_config(getattr(args, "config", None), getattr(args, "path", None))
    if path is None:
        return args
    config = load_config(path)
    given = set(vars(args))  # options not given on the line are left out of the namespace
    applied = apply_config(config, parser.commands[args.command],  # type: ignore[attr-defined]
                           args.command, environ=environ)
    args = parser.parse_known_args(argv)[0]
    args.columns, args.config_file = config.columns, path
    args.from_config = {name: f"`{name}` in {path}" for name in applied - given}
    key_goes_with_url(args, config, given, environ)
    if "sheet" in args.from_config and Path(args.path).suffix.lower() in TEXT_SUFFIXES:
        # The lab's workbook setting; a CSV beside it has no sheets to choose from.
        del args.sheet, args.from_config["sheet"]
    return args


def run(early_signals: list[int] | None = None) -> None:
    """The `layer-sync` console script (its first code is `layer_sync.entry.run`, which
    notes the stop signals that come while the package loads: `early_signals`)."""
    with collecting_less_often():  # its own process: see process.collecting_less_often
        code = main(early_signals=early_signals)
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


