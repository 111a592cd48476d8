"""The commands: each turns its parsed arguments into one library call and prints the
outcome. `main` (the error boundary) picks one by name from `COMMANDS`."""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import shlex
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError, ExitCode
from ..core.issues import Severity
from ..core.options import CheckOptions, ExportOptions, SyncOptions
from ..core.runtime import Progress, Runtime, Stream
from ..core.secrets import shown_url
from ..core.text import one_line, plural
from ..core.version import __version__
from ..outcome.results import CheckOutcome, SyncOutcome
from ..remote.settings import known_keys, resolve_api_key, resolve_api_url
from ..run.check import check_file
from ..run.sync import sync_file
from ..sandbox import DEFAULT_API_KEY, FAULT_KINDS, Faults, SandboxServer, parse_kinds
from ..sandbox.listing import listing_from_arguments
from ..tools import samples
from ..tools.export import export_stacks
from ..tools.templates import write_template
from .arguments import given_options
from .demo import copy_sample, run_demo
from .process import FILE_ONLY
from .progress import ProgressBar, bar_wanted
from .streams import KeyRedactingFilter, RedactingStream
from .summary import print_check
from .summary import print_summary as print_changes

log = logging.getLogger("layer_sync")


def _cmd_sandbox(args: argparse.Namespace, runtime: Runtime) -> int:
    stderr = runtime.stderr
    logging.getLogger("layer_sync.sandbox").setLevel(logging.INFO)
    try:
        kinds = parse_kinds(args.faults) if args.faults else FAULT_KINDS
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if args.seed and not Path(args.seed).is_file():
        raise ConfigError(f"the seed file {args.seed} does not exist")
    # Without --seed, the sample data (the installed package has it, wherever it runs from).
    seed: str | list[dict[str, Any]] | None = (
        None if args.empty else args.seed or [dict(e) for e in samples.SEED])
    records = ("empty" if args.empty else f"seeded from {args.seed}" if args.seed else
               "seeded with the sample data (3 target materials, 5 layers; --empty for none)")
    if args.db:
        records = f"kept in {args.db}; {records} when it holds none"
    else:
        records = f"in memory, {records}"
    faults = Faults(rate=args.fault_rate, kinds=kinds, seed=args.fault_seed,
                    slow_seconds=args.slow_ms / 1000, late_seconds=args.late_ms / 1000,
                    retry_after=args.retry_after)
    try:
        listing = listing_from_arguments(args)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    try:
        server = SandboxServer(host=args.host, port=args.port, db=args.db, seed=seed,
                               api_key=args.api_key or DEFAULT_API_KEY,
                               latency_ms=args.latency_ms, faults=faults,
                               echo_key=args.echo_key, capacity=args.capacity,
                               queue=args.queue, rate=args.rate, rate_headers=args.rate_headers,
                               burst=args.burst, idempotency=args.idempotency,
                               listing=listing)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
                          f"{_listen_hint(exc)}") from None
    except ValueError as exc:
        raise ConfigError(f"cannot load the seed {args.seed}: {exc}") from None
    key_note = "the key given with --api-key" if args.api_key else f"'{DEFAULT_API_KEY}'"
    limits = "".join([f"; serves {args.capacity} at once" if args.capacity else "",
                      f"; admits {args.rate:g} a second" if args.rate else ""])
    print(f"layer-sync sandbox listening on {server.url} (X-API-KEY: {key_note}; "
          f"records: {records}{limits}). Ctrl-C stops it.", file=stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0



def _listen_hint(exc: OSError) -> str:
    """What to do when the sandbox cannot listen: another port (one in use, or one only the
    administrator may take), or another address (one this machine does not have)."""
    if exc.errno in (errno.EADDRINUSE, errno.EACCES) or isinstance(exc, PermissionError):
        return "; choose another --port, or --port 0 for a free one"
    return "; choose another --host (127.0.0.1 is this machine alone)"


def _cmd_sync(args: argparse.Namespace, runtime: Runtime) -> int:
    options = SyncOptions(**given_options(args, SyncOptions))
    log_start("sync", args, options, resolve_api_url(options.api_url, runtime.environ))
    api_key = resolve_api_key(runtime.environ, options.api_key_file)
    _redact_logs(args, [api_key.value], runtime)
    args.signals.watching = True  # a signal stops the run through its control (StopSignals)
    with _progress_bar(runtime, args.quiet) as progress:
        outcome = sync_file(args.path, api_key=api_key, options=options,
                            runtime=replace(runtime, progress=progress))
    return _finish(outcome, args, runtime)


def _redact_logs(args: argparse.Namespace, keys: list[str], runtime: Runtime) -> None:
    """Every log line (terminal and --log-file) and all output has each key replaced,
    whatever quoted it (the key of a key file named in layer-sync.toml is known only now)."""
    for stream in (runtime.stdout, runtime.stderr):
        if isinstance(stream, RedactingStream):
            for key in keys:
                stream.add(key)
    args.keys = [*getattr(args, "keys", []), *keys]  # for the internal-error line
    for handler in logging.getLogger("layer_sync").handlers:
        for key in keys:
            handler.addFilter(KeyRedactingFilter(key))



def _finish(outcome: SyncOutcome | CheckOutcome, args: argparse.Namespace,
            runtime: Runtime) -> int:
    """Print the summary and the JSON line, and log how the run ended."""
    stdout, stderr = runtime.stdout, runtime.stderr
    # With --json, stdout carries the JSON object alone (cron appends it to a .jsonl file).
    human = stderr if getattr(args, "json", False) else stdout
    if isinstance(outcome, CheckOutcome):
        print_check(outcome, human)
    else:
        print_summary(outcome, human)
    error = getattr(human, "error", None)
    if isinstance(outcome, SyncOutcome):
        if error is not None and not outcome.fatal:  # the JSON line then says exit 2 too
            outcome.fatal, outcome.reason_kind = True, "run_incomplete"
            outcome.message = f"the summary could not be written ({error.strerror or error})"
        if outcome.fatal:
            print(f"layer-sync: error: {one_line(str(outcome.message))}", file=stderr)
    if outcome.report_error:
        print(f"layer-sync: error: {one_line(str(outcome.report_error))}", file=stderr)
    log_ending(outcome)
    if getattr(args, "json", False):
        print(outcome.to_json(), file=stdout)
    return int(outcome.exit_code)



def log_ending(outcome: SyncOutcome | CheckOutcome) -> None:
    """One dated line in the --log-file for how the run ended, at the level it deserves:
    INFO in step, WARNING rows need attention, ERROR the run could not be done or was
    stopped; the first problem's words beside it (the terminal has the summary already)."""
    code = int(outcome.exit_code)
    kind, message = outcome.reason
    level = logging.INFO if code == 0 else logging.WARNING if code == 1 else logging.ERROR
    first = next((i for i in outcome.issues if i.severity == Severity.ERROR), None)
    detail = f"; first problem: {first.location} {first.message}" if first and code == 1 else ""
    log.log(level, "exit code %d (%s): %s%s", code, kind, message, detail, extra=FILE_ONLY)


def log_start(command: str, args: argparse.Namespace, options: CheckOptions,
              api_url: str | None) -> None:
    """One dated line in the --log-file for the run's start: what, which sheet, which API,
    and which layer-sync.toml gave settings (none: no such line)."""
    server = f" -> {shown_url(api_url)}" if api_url else ""
    dry = " (dry run)" if getattr(options, "dry_run", False) else ""
    config = getattr(args, "config_file", None)
    settings = f"; settings from {config}" if config else ""
    log.info("%s %s%s%s: started (layer-sync %s%s)", command, args.path, server, dry,
             __version__, settings, extra=FILE_ONLY)


def print_summary(outcome: Any, out: Stream) -> None:
    """The human summary, printed on every run: counts, then the changes (layer_sync.summary)."""

    print_changes(outcome, out)



@contextlib.contextmanager
def _progress_bar(runtime: Runtime, quiet: bool) -> Iterator[Progress | None]:
    """A progress bar on stderr when a person watches it (reading, planning, writing); else
    None. It leaves nothing on the screen when it ends."""
    if not bar_wanted(runtime.stderr, quiet, runtime.environ):
        yield None
        return
    with ProgressBar(runtime.stderr) as bar:
        yield bar



def _cmd_demo(args: argparse.Namespace, runtime: Runtime) -> int:
    stdout, stderr = runtime.stdout, runtime.stderr
    # The human text goes to stderr with --json, so that stdout is the JSON object alone.
    human = stderr if getattr(args, "json", False) else stdout
    logging.getLogger("layer_sync.sandbox").setLevel(logging.WARNING)  # put back by main()
    if not getattr(args, "verbose", False):  # the demo shows its summary, not the log
        logging.getLogger("layer_sync").setLevel(logging.WARNING)

    if args.copy_sample is not None:
        return _copy_sample(args.copy_sample, runtime)

    def announce(url: str, sheet: Path) -> None:
        print(f"Demo: a sandbox Atomscale API is running on {url} with 3 target materials "
              f"(5 layers).\nSyncing the sample lab workbook into it: a fresh copy, {sheet}, "
              "removed afterwards ('layer-sync demo --copy-sample DIR' writes one to keep)..."
              "\n", file=human, flush=True)

    args.signals.watching = True
    with _progress_bar(runtime, args.quiet) as progress:
        outcome = run_demo(report=args.report, announce=announce,
                           runtime=replace(runtime, progress=progress))
    code = _finish(outcome, args, runtime)
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



def _copy_sample(folder: str, runtime: Runtime) -> int:
    written = copy_sample(folder)
    sheet, seed = written[0], written[2]
    print(f"Wrote {', '.join(one_line(str(p)) for p in written)}.\n"
          f"Check the sheet at the bench: layer-sync check {sheet}\n"
          f"Sync it into a sandbox of your own: layer-sync sandbox --port 8765 --api-key k "
          f"--seed {seed}\n"
          "  then, in another terminal: ATOMSCALE_API_URL=http://127.0.0.1:8765/ "
          f"ATOMSCALE_API_KEY=k layer-sync sync {sheet}", file=runtime.stdout)
    return 0


def _cmd_check(args: argparse.Namespace, runtime: Runtime) -> int:
    options = CheckOptions(**given_options(args, CheckOptions))
    log_start("check", args, options, None)
    # A check needs no key, but one the environment or a key file names is kept out of
    # everything it prints, logs and writes.
    _redact_logs(args, known_keys(None, options, runtime.environ), runtime)
    outcome = check_file(args.path, options=options, runtime=runtime)
    return _finish(outcome, args, runtime)


def _cmd_template(args: argparse.Namespace, runtime: Runtime) -> int:
    stdout = runtime.stdout
    path = write_template(args.path, force=args.force)
    shown = shlex.quote(str(path))
    if path.suffix == ".xlsx":
        fill = ("Fill in the Layers sheet over the example stack (the Instructions sheet "
                "explains each column)")
        keep = ""
    else:
        fill = "Fill it in below the header, over the example stack"
        xlsx = shlex.quote(str(path.with_suffix(".xlsx")))
        keep = ("\nA CSV keeps no cell formats: Excel and LibreOffice turn 001 into 1 and 1-10 "
                f"into a date each time they open and save it. Prefer 'layer-sync template "
                f"{xlsx}', or open the CSV with the orientation column imported as text (its "
                "first line says so; layer-sync skips it).")
    print(f"Wrote {one_line(str(path))}.\n"
          f"1. {fill}; the example's rows are refused until replaced, so it never reaches the "
          "server. A stack already on the server: give its sample_id. A new stack: leave "
          "sample_id blank and give a new sample_name and substrate.\n"
          f"2. layer-sync check {shown}\n"
          "   every problem with its cell; no key needed (with your API key set, it also says "
          "which stacks are not on the server yet).\n"
          f"3. layer-sync sync {shown} --dry-run --create-samples\n"
          "   what would be created and changed, and which stacks were matched by name to "
          "ones on the server; nothing is written (a sync needs your API key in "
          "ATOMSCALE_API_KEY).\n"
          f"4. layer-sync sync {shown} --create-samples\n"
          "   --create-samples creates the new stacks' target materials with their layers. "
          "Leave it out when the sheet should only change stacks already on the server: a "
          f"new or misspelt name is then refused instead of created.{keep}",
          file=stdout)
    return 0



def _cmd_export(args: argparse.Namespace, runtime: Runtime) -> int:
    stdout = runtime.stdout
    options = ExportOptions(**given_options(args, ExportOptions))
    api_url = resolve_api_url(options.api_url, runtime.environ)
    api_key = resolve_api_key(runtime.environ, options.api_key_file)
    _redact_logs(args, [api_key.value], runtime)
    result = export_stacks(args.path, api_key=api_key, options=options, runtime=runtime)
    print(f"Exported {plural(result.layers, 'layer')} of "
          f"{plural(result.target_materials, 'target material')} from {shown_url(api_url)} to "
          f"{one_line(str(result.path))}",
          file=stdout)
    if result.without_layers:
        print(f"  {plural(result.without_layers, 'target material')} without layers "
              f"{'is' if result.without_layers == 1 else 'are'} not listed (a row needs a layer_id)",
              file=stdout)
    if result.duplicates:
        print(f"  {plural(result.duplicates, 'duplicate layer record')} on the server "
              f"{'was' if result.duplicates == 1 else 'were'} left out", file=stdout)
    return 0



COMMANDS: dict[str, Callable[[argparse.Namespace, Runtime], int]] = {
    "sync": _cmd_sync,
    "check": _cmd_check,
    "sandbox": _cmd_sandbox,
    "demo": _cmd_demo,
    "template": _cmd_template,
    "export": _cmd_export,
}
