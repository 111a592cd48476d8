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
from typing import IO, Any

from .errors import ConfigError, ExitCode, LayerSyncError, signal_name
from .paths import check_command_outputs
from .outcome import plural
from .arguments import KEY_FLAG_MESSAGE, build_parser, looks_like_key_flag, unknown_names
from .process import LoggingSetup, StopSignals, collecting_less_often
from .redaction import RedactingStream, printable

log = logging.getLogger("layer_sync")

def _json_zeros(args: Any, argv: list[str], code: int, stdout: IO[str]) -> None:
    """The JSON line of a run that never started, when --json was asked for."""
    if getattr(args, "json", False) if args is not None else "--json" in argv:
        from .outcome import empty_json

        print(empty_json(getattr(args, "dry_run", False), int(code)), file=stdout)


def main(argv: Sequence[str] | None = None, *, environ: dict[str, str] | None = None,
         stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    """Run the command line; returns the exit code. Streams and environment are injectable.

    Leaves the process as it found it: the `layer_sync` logger and the signal handlers it
    sets for the run are put back before it returns, so it can be called again.
    """
    environ = dict(os.environ) if environ is None else environ
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything printed goes out with the key as `***`, also a key pasted into another flag
    # (`--timeout KEY`, `--report KEY`) and echoed in its error: the keys known before the
    # arguments are read are those of the environment and of a key file named on the line.
    known = _keys_known_early(argv, environ)
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


def one_line(text: str) -> str:
    """An error line as one line, whatever it quotes (a file name with a line break in it
    would split it): control characters and line breaks shown as U+FFFD."""
    return printable(text).replace("\n", "\ufffd")


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


def _keys_known_early(argv: list[str], environ: dict[str, str]) -> list[str]:
    """The keys in the environment and in a key file given as `--api-key-file PATH`, read
    as resolve_api_key reads them; a file that cannot be read is left to that function."""
    from .settings import KEY_VARIABLES, read_key_file_key

    keys = [environ.get(name, "").strip() for name in KEY_VARIABLES]
    for i, word in enumerate(argv):
        path = (argv[i + 1] if word == "--api-key-file" and i + 1 < len(argv) else
                word.partition("=")[2] if word.startswith("--api-key-file=") else None)
        if path:
            keys.append(read_key_file_key(path) or "")
    return [key for key in keys if key]


def _main(argv: list[str], environ: dict[str, str], stdout: IO[str], stderr: IO[str],
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
        args.signals = signals  # for the commands that run long: see _stop_check
        handler = _COMMANDS[args.command]
        return int(handler(args, environ, stdout, stderr))
    except LayerSyncError as exc:
        print(f"layer-sync: error: {one_line(str(exc))}", file=stderr)
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
        from .api import redact

        text = redact(f"{type(exc).__name__}: {exc}", getattr(args, "key", None))
        print(f"layer-sync: internal error: {printable(text)} (run again with --traceback and report it)",
              file=stderr)
        _json_zeros(args, argv, ExitCode.RUN_INCOMPLETE, stdout)
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
                               latency_ms=args.latency_ms, faults=faults,
                               echo_key=args.echo_key)
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
    from .lock import lock_folder
    from .settings import resolve_api_key, resolve_api_url
    from .sync import sync_file

    api_url = resolve_api_url(args.api_url, environ)
    api_key = resolve_api_key(environ, args.api_key_file)
    _redact_logs(args, api_key, stdout, stderr)
    signals = args.signals
    signals.watching = True  # a signal stops the run through its control (see StopSignals)
    with _progress_bar(stdout, stderr, args.quiet) as progress:
        outcome = sync_file(args.path, api_key=api_key, api_url=api_url, sheet=args.sheet,
                            all_sheets=args.all_sheets, columns=args.columns,
                            dry_run=args.dry_run, report=args.report, force=args.force,
                            concurrency=args.concurrency, max_attempts=args.max_attempts,
                            timeout=args.timeout,
                            max_consecutive_failures=args.max_consecutive_failures,
                            create_samples=args.create_samples,
                            update_samples=args.update_samples, progress=progress,
                            lock_dir=lock_folder(environ), control=signals.control)
    return _finish(outcome, args, stdout, stderr)


def _redact_logs(args: argparse.Namespace, key: Any, *streams: IO[str]) -> None:
    """Every log line (terminal and --log-file) and all output has the key replaced, whatever
    quoted it (the key of a key file named in layer-sync.toml is known only now)."""
    for stream in streams:
        if isinstance(stream, RedactingStream):
            stream.add(key)
    from .api import KeyRedactingFilter

    args.key = key  # for the internal-error line
    for handler in logging.getLogger("layer_sync").handlers:
        handler.addFilter(KeyRedactingFilter(key))


def _finish(outcome: Any, args: argparse.Namespace, stdout: IO[str], stderr: IO[str],
            log_exit: bool = True) -> int:
    # With --json, stdout carries the JSON object alone (cron appends it to a .jsonl file).
    human = stderr if getattr(args, "json", False) else stdout
    print_summary(outcome, human)
    error = getattr(human, "error", None)
    if error is not None and not outcome.fatal:  # the JSON line then says exit 2 too
        outcome.fatal = True
        outcome.message = f"the summary could not be written ({error.strerror or error})"
    if outcome.fatal:
        print(f"layer-sync: error: {one_line(str(outcome.message))}", file=stderr)
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
    """A progress bar on stderr when a person watches it (reading, planning, writing); else
    None. It leaves nothing on the screen when it ends."""
    from .progress import ProgressBar, bar_wanted

    if not bar_wanted(stderr, quiet):
        yield None
        return
    with ProgressBar(stderr) as bar:
        yield bar


def _cmd_demo(args: argparse.Namespace, environ: dict[str, str], stdout: IO[str],
              stderr: IO[str]) -> int:
    from .demo import run_demo

    # The human text goes to stderr with --json, so that stdout is the JSON object alone.
    human = stderr if getattr(args, "json", False) else stdout
    logging.getLogger("layer_sync.sandbox").setLevel(logging.WARNING)  # put back by main()
    if not getattr(args, "verbose", False):  # the demo shows its summary, not the log
        logging.getLogger("layer_sync").setLevel(logging.WARNING)

    def announce(url: str) -> None:
        print(f"Demo: a sandbox Atomscale API is running on {url} with 3 target materials "
              "(5 layers).\nSyncing the sample lab workbook (sample_data/lab_stacks.xlsx) "
              "into it...\n", file=human, flush=True)

    args.signals.watching = True
    with _progress_bar(stdout, stderr, args.quiet) as progress:
        outcome = run_demo(report=args.report, progress=progress, announce=announce,
                           control=args.signals.control)
    code = _finish(outcome, args, stdout, stderr, log_exit=False)
    if code == ExitCode.ROWS_NEED_ATTENTION:
        # The sample sheet has an invalid row on purpose: the demo itself went as designed.
        code = int(ExitCode.OK)
        if not getattr(args, "json", False):
            print("\n(The sample sheet has one invalid row on purpose: a real run would exit "
                  "with code 1 and the report would show the cell to fix.)", file=human)
    if not getattr(args, "json", False):
        print("\nOpen the report to see what happened to every row. Start your own sheet with "
              "'layer-sync template my_stacks.xlsx', or export what the server holds with "
              "'layer-sync export my_stacks.xlsx'; check it at the bench, with no key and no "
              "network, with 'layer-sync check my_stacks.xlsx'.", file=human)
    return code


def _cmd_check(args: argparse.Namespace, environ: dict[str, str], stdout: IO[str],
               stderr: IO[str]) -> int:
    from .check import check_file
    from .summary import print_check

    outcome = check_file(args.path, args.sheet, all_sheets=args.all_sheets, columns=args.columns,
                         report=args.report, secrets=_keys_known_early([], environ))
    print_check(outcome, stdout)
    if outcome.report_error:
        print(f"layer-sync: error: {one_line(str(outcome.report_error))}", file=stderr)
        return int(ExitCode.RUN_INCOMPLETE)
    return int(outcome.exit_code)


def _cmd_template(args: argparse.Namespace, environ: dict[str, str], stdout: IO[str],
                  stderr: IO[str]) -> int:
    from .templates import write_template

    path = write_template(args.path, force=args.force)
    where = "fill in the Layers sheet (the Instructions sheet explains each column)" \
        if path.suffix == ".xlsx" else "fill it in under the canonical headers"
    print(f"Wrote {path}: {where}, replacing the example stack (its rows are refused until "
          "they are replaced, so the example is never sent to the server). Then check it with: "
          f"layer-sync check {path} (no key needed), and see what would change with: "
          f"layer-sync sync {path} --dry-run",
          file=stdout)
    return 0


def _cmd_export(args: argparse.Namespace, environ: dict[str, str], stdout: IO[str],
                stderr: IO[str]) -> int:
    from .export import export_stacks
    from .settings import resolve_api_key, resolve_api_url

    api_url = resolve_api_url(args.api_url, environ)
    api_key = resolve_api_key(environ, args.api_key_file)
    _redact_logs(args, api_key, stdout, stderr)
    result = export_stacks(args.path, api_key=api_key, api_url=api_url, force=args.force,
                           timeout=args.timeout, max_attempts=args.max_attempts)
    print(f"Exported {plural(result.layers, 'layer')} of "
          f"{plural(result.target_materials, 'target material')} from {api_url} to {result.path}",
          file=stdout)
    if result.without_layers:
        print(f"  {plural(result.without_layers, 'target material')} without layers "
              f"{'is' if result.without_layers == 1 else 'are'} not listed (a row needs a layer_id)",
              file=stdout)
    if result.duplicates:
        print(f"  {plural(result.duplicates, 'duplicate layer record')} on the server "
              f"{'was' if result.duplicates == 1 else 'were'} left out", file=stdout)
    return 0


_COMMANDS: dict[str, Any] = {
    "sync": _cmd_sync,
    "check": _cmd_check,
    "sandbox": _cmd_sandbox,
    "demo": _cmd_demo,
    "template": _cmd_template,
    "export": _cmd_export,
}
