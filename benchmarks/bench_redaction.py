"""What writing the key as `***` costs: the report of 50,000 rows and the terminal summary,
with a key known against none, in one process, in turn (A B A B ...), medians.

    python benchmarks/bench_redaction.py [--rows 50000] [--repeat 5]

1. A dry run of a sheet of --rows rows against an in-process sandbox seeded with the same
   layers, a third of them changed (so the Rows sheet holds changes and messages); its
   outcome is kept.
2. The report (`write_report`) and the terminal summary (`print_summary` into memory),
   each timed with the run's key known and with no key, in turn; the ratio key/no key.
3. Every distinct text of the Rows table (and every row's message) as a report cell makes it
   (`CellText.text`), with the key known and without: microseconds a text; how many texts
   the cheap test lets through untouched.
Run it on two checkouts (PYTHONPATH=... for the other) to compare them; the machine may be
shared: compare ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_dryrun import layers, write_sheet

from layer_sync import sync_file
from layer_sync.cli.summary import print_summary
from layer_sync.report.writer import write_report
from layer_sync.sandbox import SandboxServer

KEY = "sk-live-9fQ2x7LmP0aZ3bN8cV1dR6eT4gY5hU"  # a realistic key: 36 characters


def _without_key(outcome):
    """The same outcome with no key known (either version of the outcome's field)."""
    import copy

    bare = copy.copy(outcome)
    if hasattr(outcome, "redactor"):
        from layer_sync.core.secrets import NO_KEYS

        bare.redactor = NO_KEYS
    else:
        bare.key_forms = ()
    return bare


def _time(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-redaction-"))
    records = layers(args.rows)
    sheet_rows = [dict(r, orientation="111") if i % 3 == 0 else r for i, r in enumerate(records)]
    sheet = folder / "lab.csv"
    write_sheet(sheet, sheet_rows)
    with SandboxServer(api_key=KEY) as server:
        server.store.seed(records)
        outcome = sync_file(sheet, api_key=KEY, api_url=server.url, dry_run=True, report=False)
    bare = _without_key(outcome)
    print(f"{args.rows:,} rows: {outcome.counts}", file=sys.stderr)

    report = folder / "report.xlsx"
    timings: dict[str, list[float]] = {"report key": [], "report none": [],
                                       "summary key": [], "summary none": []}
    for _ in range(args.repeat):
        for name, which in (("key", outcome), ("none", bare)):
            timings[f"report {name}"].append(
                _time(lambda w=which: write_report(w, report, force=True)))
            timings[f"summary {name}"].append(
                _time(lambda w=which: print_summary(w, io.StringIO(), color=False)))
    for what in ("report", "summary"):
        key, none = timings[f"{what} key"], timings[f"{what} none"]
        ratios = [a / b for a, b in zip(key, none)]
        print(f"{what}: key known {statistics.median(key):.3f} s, no key "
              f"{statistics.median(none):.3f} s, ratio (median of pairs) "
              f"{statistics.median(ratios):.3f} [{min(ratios):.3f}-{max(ratios):.3f}]")

    # Per text, as the report's cells go (CellText.text: made showable, then the key replaced),
    # with the key known and without; the least of --repeat rounds.
    table, plain = outcome.rows_table(), bare.rows_table()
    texts = list({str(v) for row in table.rows() for v in row if isinstance(v, str)})
    texts += [r.message or "" for r in outcome.results]  # each row's, as the report redacts it
    costs = {}
    for name, cells in (("key", table), ("none", plain)):
        costs[name] = min(_time(lambda c=cells: [c.text(t) for t in texts])
                          for _ in range(args.repeat)) / len(texts) * 1e6
    print(f"a report cell: {costs['key']:.2f} us with the key known, {costs['none']:.2f} us "
          f"without ({costs['key'] - costs['none']:.2f} us for the key), over {len(texts):,} "
          "texts")
    redactor = getattr(outcome, "redactor", None)
    if redactor is not None:
        slow = [t for t in texts if redactor.may_contain(t)]
        print(f"the cheap test let {len(texts) - len(slow):,} of {len(texts):,} through "
              f"untouched; e.g. searched: {slow[:3]}")

if __name__ == "__main__":
    main()
