"""A dry run of a big sheet with nothing to change, report included, versus pandas reading it.

    python benchmarks/bench_dryrun.py [--rows 50000] [--repeat 3] [--sizes 25000,50000,100000]

1. Whole process, side by side in one run (A B C A B C ...): `layer-sync sync FILE --dry-run`
   with its report, against a sandbox seeded with the same layers (every row unchanged); the
   same dry run with no report (`sync_file(FILE, dry_run=True, report=False)`); and
   `python -c "import pandas; pandas.read_excel(FILE, engine='openpyxl')"`: pandas' default
   engine for .xlsx, named so that a pandas whose default changes is compared the same way,
   and no other option (dtype=str would make pandas' read ~10 % slower). The same workbook,
   each a fresh process. Goal: the ratio (median of the pairs' ratios) at most 1.0.
2. Where the dry run's time goes, in one fresh process: start-up (`layer-sync --version`),
   reading the sheet, the GET and the plan, the report.
3. The report alone at each of --sizes rows (linear growth) and the memory it takes beyond
   what the run already held (the process's peak is reset before the report, Linux
   /proc/self/clear_refs), each size in a fresh process and sandbox; goal: under 300 MB at
   100,000 rows. Twice: every row unchanged (the nightly run: rows in sync are gathered a
   sample to a line), and every row to be updated (each row then has a line of its own with
   its values as read: the report's most work per row).
4. With --writers: the writers compared on a 50,000 x 20 sheet of text (fresh processes,
   in turn): XlsxWriter as the report uses it (one call a cell, constant memory), XlsxWriter
   in memory, and openpyxl's write-only mode.
The machine may be shared: compare the ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from installed import compile_package

KEY = "bench-key"
COMPOSITIONS = ["BaTiO3", "SrTiO3", "LaAlO3", "La0.7Sr0.3MnO3", "SrRuO3", "MgO", "GaN", "ZnO"]
ORIENTATIONS = ["001", "110", "111", "0001"]
GROUPS = ["P4mm", "Pm-3m", "R-3c", "Fm-3m", "Pnma"]
HEADER = ["sample_id", "sample_name", "substrate", "layer_id", "composition_string",
          "orientation", "space_group", "mp_id", "Notes"]


def layers(rows: int) -> list[dict]:
    """`rows` layers, 10 to a target material, the same every time."""
    out = []
    for i in range(rows):
        sample, layer = divmod(i, 10)
        out.append({"id": i + 1, "sample_id": sample + 1, "sample_name": f"Stack {sample + 1}",
                    "substrate": "SrTiO3", "layer_id": layer + 1,
                    "composition_string": COMPOSITIONS[i % len(COMPOSITIONS)],
                    "orientation": ORIENTATIONS[i % len(ORIENTATIONS)],
                    "space_group": GROUPS[i % len(GROUPS)], "mp_id": f"mp-{1000 + i % 977}"})
    return out


def write_sheet(path: Path, records: list[dict]) -> None:
    """The same layers as a lab's sheet (.xlsx or .csv), plus a notes column."""
    table = [[r[h] for h in HEADER[:-1]] + [f"grown by AK, run {r['id']}"] for r in records]
    if path.suffix == ".csv":
        import csv

        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER)
            writer.writerows(table)
        return
    # Written by XlsxWriter (the report's writer), as in every earlier measurement: how fast
    # pandas reads a file depends on the program that wrote it (README, Speed).
    import xlsxwriter

    with xlsxwriter.Workbook(str(path), {"strings_to_numbers": False}) as book:
        ws = book.add_worksheet("Layers")
        ws.write_row(0, 0, HEADER)
        for i, row in enumerate(table, start=1):
            ws.write_row(i, 0, row)


class Sandbox:
    """`layer-sync sandbox` in a process of its own, seeded from a file."""

    def __init__(self, seed: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "layer_sync", "sandbox", "--port", "0", "--api-key", KEY,
             "--seed", str(seed), "-q"], stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        found = re.search(r"(http://\S+/)", line)
        if not found:
            raise SystemExit(f"the sandbox did not start: {line}")
        self.url = found.group(1)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{command[:4]}... failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return elapsed


# One sheet of 50,000 x 20 cells, by one writer (argv: writer, path): section 4. Each writer
# is used the way the report would use it: one call per cell (XlsxWriter), one row at a time
# (openpyxl).
WRITER = r"""
import sys
from pathlib import Path
rows = [[f"Layers", i + 2, str(i // 10 + 1), f"Stack {i // 10 + 1}", str(i % 10 + 1), "unchanged",
         "unchanged"] + [f"value {i % 97} {j}" for j in range(13)] for i in range(50_000)]
writer, path = sys.argv[1:3]
if writer == "openpyxl":
    from openpyxl import Workbook
    book = Workbook(write_only=True)
    ws = book.create_sheet("Rows")
    for row in rows:
        ws.append(row)
    book.save(path)
else:
    import xlsxwriter
    book = xlsxwriter.Workbook(path, {"strings_to_formulas": False, "strings_to_numbers": False,
                                      "strings_to_urls": False, "tmpdir": str(Path(path).parent),
                                      "constant_memory": writer == "xlsxwriter"})
    ws = book.add_worksheet("Rows")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if type(value) is str:
                ws.write_string(r, c, value)
            else:
                ws.write_number(r, c, value)
    book.close()
"""
#: The writers compared, the report's first.
WRITERS = ("xlsxwriter", "xlsxwriter (in memory)", "openpyxl")


def writers(folder: Path, repeat: int) -> None:
    times: dict[str, list[float]] = {name: [] for name in WRITERS}
    for _ in range(repeat):
        for i, name in enumerate(WRITERS):
            mode = "xlsxwriter-memory" if name == "xlsxwriter (in memory)" else name
            times[name].append(timed([sys.executable, "-c", WRITER, mode,
                                      str(folder / f"writer{i}.xlsx")], dict(os.environ)))
    print("4. one sheet of 50,000 x 20 cells, written and saved (fresh processes, in turn; "
          "ratios to XlsxWriter as the report uses it):")
    for name, runs in times.items():
        ratio = statistics.median(a / b for a, b in zip(runs, times["xlsxwriter"]))
        print(f"   {name:24s} {statistics.median(runs):6.2f} s  {ratio:4.2f}x")


# The breakdown and the report alone run in a fresh process each: this is its code.
STAGES = r"""
import json, resource, sys, time
from pathlib import Path
def clocks():
    return time.perf_counter(), time.process_time()
def since(start):
    now = clocks()
    return [now[0] - start[0], now[1] - start[1]]  # wall, CPU seconds
t = clocks()
import gc
from layer_sync.cli.process import GC_THRESHOLDS
gc.set_threshold(*GC_THRESHOLDS)  # as the console script runs
from layer_sync import read_stacks, sync_file
from layer_sync.report.writer import write_report
imported = since(t)
sheet, url, key, report, mode = sys.argv[1:6]
if mode == "read":  # alone, in a process of its own: no warm caches from a sync
    t = clocks(); read_stacks(sheet); print(json.dumps({"read": since(t)})); sys.exit()
t = clocks()
outcome = sync_file(sheet, api_key=key, api_url=url, dry_run=True, report=False)
run = since(t)
expected = {"sync": "unchanged", "changed": "updated"}[mode]  # what every row is
assert outcome.counts[expected] == outcome.counts["rows"], outcome.counts
def status_mb(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field)) / 1024
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the run's, so far
before = status_mb("VmRSS:")
with open("/proc/self/clear_refs", "w") as f:  # Linux: the peak (VmHWM) starts again here
    f.write("5")
t = clocks(); write_report(outcome, report); written = since(t)
report_peak = status_mb("VmHWM:")
peak = max(peak, report_peak)
print(json.dumps({"import": imported, "read_get_plan": run, "report": written,
                  "rss_before_report_mb": before, "peak_mb": peak, "report_peak_mb": report_peak,
                  "rows": outcome.counts["rows"]}))
"""


def stages(sheet: Path, url: str, report: Path, mode: str = "sync") -> dict:
    proc = subprocess.run([sys.executable, "-c", STAGES, str(sheet), url, KEY, str(report), mode],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"stages failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report_alone(folder: Path, records: list[dict], sizes: list[int]) -> None:
    print("3. the report alone (.csv input; fresh process and sandbox per size):")
    for label, mode in (("every row unchanged", "sync"),
                        ("every row would be updated (its orientation)", "changed")):
        print(f"   {label}:")
        for rows in sizes:
            seed = folder / f"seed-{rows}-{mode}.json"
            # The sheet's layers (nothing "Not in sheet"), or each with another orientation.
            seed.write_text(json.dumps(records[:rows] if mode == "sync" else
                                       [{**r, "orientation": "100"} for r in records[:rows]]))
            sheet = folder / f"stacks-{rows}.csv"
            write_sheet(sheet, records[:rows])
            sandbox = Sandbox(seed)
            try:
                part = stages(sheet, sandbox.url, folder / f"report-{rows}.xlsx", mode)
            finally:
                sandbox.stop()
            wall, cpu = part["report"]
            print(f"   {rows:>7,} rows: {wall:5.2f} s wall, {cpu:5.2f} s CPU "
                  f"({cpu / rows * 1e6:5.1f} us a row); the report's peak "
                  f"+{part['report_peak_mb'] - part['rss_before_report_mb']:3.0f} MB over the "
                  f"{part['rss_before_report_mb']:4.0f} MB the process held before it "
                  f"(process peak {part['peak_mb']:4.0f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="25000,50000,100000",
                        help="rows for the report alone (comma-separated; empty: skip)")
    parser.add_argument("--writers", action="store_true", help="also compare the writers")
    args = parser.parse_args()
    compile_package()  # as installed (installed.py)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        records = layers(max([args.rows, *sizes]))
        seed = folder / "seed.json"
        seed.write_text(json.dumps(records[:args.rows]))  # the sheet's layers, no more
        sheet = folder / "stacks.xlsx"
        write_sheet(sheet, records[:args.rows])
        sandbox = Sandbox(seed)
        try:
            env = {**os.environ, "ATOMSCALE_API_KEY": KEY, "ATOMSCALE_API_URL": sandbox.url}
            ours_cmd = [sys.executable, "-m", "layer_sync", "sync", str(sheet), "--dry-run",
                        "--json", "-q", "--report", str(folder / "report.xlsx")]
            pandas_cmd = [sys.executable, "-c", ("import sys, pandas; pandas.read_excel("
                                                 "sys.argv[1], engine='openpyxl')"), str(sheet)]
            # The floor: the same dry run with no report (the library call), so the report's
            # share is plain to see: what is left of pandas' time is all a report may take.
            # The collector set as the console script sets it for its own process.
            floor_cmd = [sys.executable, "-c", ("import gc, sys; from layer_sync import sync_file; "
                                                "from layer_sync.cli.process import GC_THRESHOLDS; "
                                                "gc.set_threshold(*GC_THRESHOLDS); "
                                                "sync_file(sys.argv[1], dry_run=True, "
                                                "report=False)"), str(sheet)]
            timed(ours_cmd, env)  # warm-up: the file cache, the sandbox's first answer
            ours, floor, theirs = [], [], []
            for _ in range(args.repeat):
                ours.append(timed(ours_cmd, env))
                floor.append(timed(floor_cmd, env))
                theirs.append(timed(pandas_cmd, env))
            ratios = [a / b for a, b in zip(ours, theirs)]
            floor_ratios = [a / b for a, b in zip(floor, theirs)]
            print(f"1. {args.rows:,} rows x {len(HEADER)} columns (.xlsx), every row unchanged; "
                  f"median of {args.repeat}, in turn, each a fresh process:")
            print(f"   layer-sync sync --dry-run, report included: {statistics.median(ours):6.2f} s")
            print(f"   the same dry run without its report:        {statistics.median(floor):6.2f} s")
            print(f"   pandas.read_excel(engine='openpyxl'):       "
                  f"{statistics.median(theirs):6.2f} s")
            print(f"   ratio (median of pairs): {statistics.median(ratios):.2f}x (goal <= 1.0x); "
                  f"without the report {statistics.median(floor_ratios):.2f}x")

            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "layer_sync", "--version"], check=True,
                           capture_output=True)
            startup = time.perf_counter() - start
            part = stages(sheet, sandbox.url, folder / "stages.xlsx")
            part.update(stages(sheet, sandbox.url, folder / "unused.xlsx", "read"))
            print("2. where the dry run's time goes (one fresh process; wall / CPU seconds):")
            print(f"   start-up (layer-sync --version as a process): {startup:5.2f}")
            for label, figure in (
                    ("import layer_sync", part["import"]),
                    ("read and check the sheet", part["read"]),
                    ("plus the GET and the plan (sync, no report)",
                     [a - b for a, b in zip(part["read_get_plan"], part["read"])]),
                    ("the report", part["report"])):
                print(f"   {label + ':':46s} {figure[0]:5.2f} / {figure[1]:5.2f}")

        finally:
            sandbox.stop()
        if sizes:
            report_alone(folder, records, sizes)
        if args.writers:
            writers(folder, args.repeat)


if __name__ == "__main__":
    main()
