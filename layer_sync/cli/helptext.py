"""What each command's --help says besides its options: one line, what it does, examples,
exit codes and the environment (the parser is built in `arguments`)."""

from __future__ import annotations

from dataclasses import dataclass

ENVIRONMENT = """environment:
  ATOMSCALE_API_KEY, AS_API_KEY        the API key (or --api-key-file PATH; never a flag)
  ATOMSCALE_API_URL, AS_API_ENDPOINT   the API root (or --api-url)
  NO_COLOR                             plain text, no colours, on a terminal too"""

SYNC_EXIT = """exit codes:
  0    every row is in step with the server (in a dry run: would be)
  1    the run finished, but some rows need you: invalid, failed, not sent, or stored
       twice by another run (the report says which cell)
  2    the run could not be done in full: bad arguments or configuration, no key, an
       unreadable sheet, another run holding the lock, the key refused, the API down, the
       report not written
  129, 130, 143  stopped by SIGHUP, Ctrl-C, SIGTERM: nothing more was sent; the report
       and the JSON line say what was done"""

@dataclass(frozen=True)
class Help:
    """A command's help: one line, what it does, examples, exit codes, the environment."""

    line: str
    description: str
    examples: str
    exit_codes: str
    environment: str = ""


COMMANDS: dict[str, Help] = {
    "sync": Help(
        "read the sheet, plan against the server, write, report",
        "Read a lab's layer stacks (CSV or workbook), compare them with the server's, create "
        "the new layers and update the changed ones, then write a report workbook of what "
        "happened to every row. Nothing is ever deleted; a second run changes nothing.",
        "  layer-sync sync lab_stacks.xlsx --dry-run     # what would change; writes nothing\n"
        "  layer-sync sync lab_stacks.xlsx\n"
        "  layer-sync sync lab_stacks.xlsx --json --log-file ~/layer-sync.log >> ~/runs.jsonl",
        SYNC_EXIT, ENVIRONMENT),
    "check": Help(
        "check a sheet against every rule; needs no key and no network",
        "Every rule of the sheet (formats, headers, values, chemistry, duplicate layers, "
        "gaps), with each problem's cell. Needs no key and writes nothing. With an API key "
        "set, it also reads the server's list (one GET, at most 2 attempts) when the sheet "
        "names stacks without a sample_id or has orientations a spreadsheet changed: it then "
        "says which stacks the server does not have yet (created only with sync --create-"
        "samples), which were matched by name, and what the server holds for a changed "
        "orientation. --offline asks nothing.",
        "  layer-sync check lab_stacks.xlsx\n"
        "  layer-sync check lab_stacks.xlsx --offline\n"
        "  layer-sync check lab_stacks.xlsx --report checked.xlsx --json",
        "exit codes:\n  0    no errors (warnings allowed)\n  1    some rows have errors\n"
        "  2    the file cannot be read, bad arguments, or the report not written", ""),
    "export": Help(
        "write the server's layer stacks to a sheet (.xlsx / .csv)",
        "Write every layer the server holds to a sheet in the input format: a lab starts from "
        "what is already there, and syncing the file straight back changes nothing.",
        "  layer-sync export our_stacks.xlsx",
        "exit codes:\n  0    written\n  2    not written: a bad name, a file that exists "
        "(add --force), no key, the key refused, the API unreachable", ENVIRONMENT),
    "template": Help(
        "write a blank input workbook (.xlsx) or CSV",
        "Write a blank input sheet with the canonical columns and an example stack (refused "
        "until replaced); the .xlsx explains each column on its Instructions sheet.",
        "  layer-sync template my_stacks.xlsx",
        "exit codes:\n  0    written\n  2    not written (a bad name, or a file that exists: "
        "add --force)", ""),
    "demo": Help(
        "sync the sample workbook into a local sandbox; no key, no network",
        "Start a local stand-in of the API seeded with sample stacks, sync the sample lab "
        "workbook into it, and print what happened: every outcome in a few seconds.",
        "  layer-sync demo\n"
        "  layer-sync demo --copy-sample lab    # the sample sheet and seed, to keep",
        "exit codes:\n  0    the demo ran\n  2    it could not", ""),
    "sandbox": Help(
        "run a local stand-in of the Atomscale API",
        "A local stand-in of the target-materials API (SQLite), with faults on demand, to try "
        "runs against before the real one; it starts with the sample data (--seed FILE for "
        "your own, --empty for none). Ctrl-C stops it.",
        "  layer-sync sandbox --port 8765 --api-key k\n"
        "  ATOMSCALE_API_URL=http://127.0.0.1:8765/ ATOMSCALE_API_KEY=k layer-sync sync lab.xlsx",
        "exit codes:\n  0    stopped (Ctrl-C)\n  2    could not start", ""),
}


def epilog(command: str) -> str:
    about = COMMANDS[command]
    parts = (f"examples:\n{about.examples}", about.exit_codes, about.environment)
    return "\n\n".join(part for part in parts if part)
