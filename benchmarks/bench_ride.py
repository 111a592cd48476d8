"""Riding the server's capacity: adaptive concurrency against fixed 8, side by side.

    python benchmarks/bench_ride.py [--repeat 3] [--servers roomy,rate,weak,fast]
                                    [--rate-headers none] [--burst B] [--today PATH]

Each sync is a whole process (`python -m layer_sync sync sheet.xlsx --json`: start-up,
reading the workbook, the GET, the writes, the report), against a sandbox playing a server of
known capacity, in a thread of this process, fresh for every run:

| server | writes | the server's limit |
|---|---|---|
| roomy: serves 24 at once (24 more wait), 200 ms a request | 1,200 | 1,200 x 0.2 s / 24 = 10 s |
| rate: admits 40 requests a second (10 at once), 100 ms a request | 600 | 601 requests / 40 = 15 s |
| weak: serves 4 at once (4 more wait), 100 ms a request | 400 | 400 x 0.1 s / 4 = 10 s |
| fast: no limit, 20 ms a request (bench_sync.py's sheet) | 1,200 | none: against fixed 8 |

The rate-limited server is a token bucket (`layer-sync sandbox --rate 40`: at most a quarter of
a second's worth at once, `--burst`); by default it says nothing of its rate but 429 with
Retry-After; `--rate-headers draft|draft-06|x` makes it state it in every answer.
Half the writes are PATCHes of layers the server holds, half POSTs of new ones. Adaptive is
the sync without `--concurrency`; fixed 8 is `--concurrency 8` (what layer-sync sent before
it adapted); `--today PATH` adds a third column, fixed 8 by the layer-sync in the source tree
at PATH (e.g. a checkout of the commit before). Shown per server, the median of `--repeat`
runs (the runs of a server alternate between the columns): the time against the server's
limit, the requests the server refused (429, 503) and their share of all it got, and the most
writes in flight (as the client counted them, or the server where the client does not say:
the server's count includes its queue).

Targets: roomy <= 1.3 x its limit and >= 2.5 x faster than fixed 8; rate <= 1.2 x with <= 5 %
refused; weak <= 1.15 x with <= 2 % refused; fast no slower than fixed 8 (the median of
paired runs' ratios <= 1.0; the machine's noise is a few per cent either way).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench_sync import seed_and_sheet

from layer_sync.sandbox import SandboxServer

KEY = "bench-key"
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Server:
    name: str
    writes: int
    latency_ms: float
    capacity: int | None = None
    rate: float | None = None

    def limit(self) -> float | None:
        """The least time the server needs for the run's requests (the GET included)."""
        if self.capacity:
            return self.writes * self.latency_ms / 1000 / self.capacity
        if self.rate:
            return (self.writes + 1) / self.rate
        return None

    def describe(self) -> str:
        what = (f"serves {self.capacity} at once ({self.capacity} more wait)" if self.capacity
                else f"admits {self.rate:g} requests a second" if self.rate else "no limit")
        return f"{self.name}: {what}, {self.latency_ms:g} ms a request; {self.writes:,} writes"


SERVERS = {
    "roomy": Server("roomy", 1200, 200, capacity=24),
    "rate": Server("rate", 600, 100, rate=40),
    "weak": Server("weak", 400, 100, capacity=4),
    "fast": Server("fast", 1200, 20),
}
TARGETS = {"roomy": (1.3, None), "rate": (1.2, 0.05), "weak": (1.15, 0.02)}


@dataclass
class Run:
    seconds: float
    refused: int
    requests: int
    most_in_flight: int
    server_in_flight: int
    pacing: dict
    failed: int

    @property
    def share(self) -> float:
        return self.refused / self.requests if self.requests else 0.0


def run_once(server: Server, seed: list, sheet: Path, folder: Path, source: Path,
             concurrency: int | None, rate_headers: str, burst: int | None) -> Run:
    with SandboxServer(api_key=KEY, seed=seed, latency_ms=server.latency_ms,
                       capacity=server.capacity, rate=server.rate,
                       rate_headers=rate_headers, burst=burst) as sandbox:
        env = {**os.environ, "ATOMSCALE_API_KEY": KEY, "ATOMSCALE_API_URL": sandbox.url,
               "PYTHONPATH": str(source)}
        command = [sys.executable, "-m", "layer_sync", "sync", str(sheet), "--json", "-q",
                   "--report", str(folder / "r.xlsx"), "--force"]
        if concurrency is not None:
            command += ["--concurrency", str(concurrency)]
        start = time.perf_counter()
        proc = subprocess.run(command, env=env, cwd=folder, capture_output=True, text=True,
                              check=False)
        seconds = time.perf_counter() - start
        stats = sandbox.stats
        refused = stats.by_status.get(429, 0) + stats.by_status.get(503, 0)
        requests, server_in_flight = stats.total, stats.max_in_flight
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        raise SystemExit(f"sync failed ({proc.returncode}): {proc.stderr[-2000:]}")
    payload = json.loads(proc.stdout.strip().splitlines()[-1])
    failed = server.writes - (payload["created"] + payload["updated"])  # gave up on them
    pacing = payload.get("pacing") or {}
    return Run(seconds, refused, requests, pacing.get("most_in_flight", 0), server_in_flight,
               pacing, failed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--servers", default="roomy,rate,weak,fast")
    parser.add_argument("--rate-headers", default="none", choices=("draft", "draft-06", "x", "none"),
                        help="how the rate-limited server states its limit (default: it does "
                             "not, it only answers 429 with Retry-After)")
    parser.add_argument("--burst", type=int, default=None, metavar="B",
                        help="how many at once the rate-limited server admits (default: the "
                             "sandbox's, a quarter of a second's worth: 10)")
    parser.add_argument("--today", type=Path, default=None, metavar="PATH",
                        help="also run fixed 8 with the layer-sync of the source tree at PATH")
    parser.add_argument("--only", choices=("adaptive", "fixed"), default=None,
                        help="run one column only")
    args = parser.parse_args()
    logging.getLogger("layer_sync.sandbox").setLevel(logging.WARNING)
    columns: list[tuple[str, Path, int | None]] = [("adaptive", ROOT, None), ("fixed 8", ROOT, 8)]
    if args.only:
        columns = [c for c in columns if c[0].startswith(args.only)]
    if args.today is not None:
        columns.append(("today, fixed 8", args.today.resolve(), 8))
    for _, source, _ in columns:  # as installed (see installed.py)
        code = f"import compileall; compileall.compile_dir({str(source / 'layer_sync')!r}, quiet=1)"
        subprocess.run([sys.executable, "-c", code], check=True)
    failures: list[str] = []
    table: list[str] = []
    for name in args.servers.split(","):
        server = SERVERS[name]
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            seed_path, sheet, _ = seed_and_sheet(folder, server.writes)
            seed = json.loads(seed_path.read_text())
            hour_ago = time.time() - 3600  # saved long ago: no wait for it to be still
            os.utime(sheet, (hour_ago, hour_ago))
            runs: dict[str, list[Run]] = {label: [] for label, _, _ in columns}
            for _ in range(args.repeat):
                for label, source, concurrency in columns:
                    runs[label].append(run_once(server, seed, sheet, folder, source, concurrency,
                                                args.rate_headers, args.burst))
        limit = server.limit()
        headers = (f" (rate headers: {args.rate_headers}, burst {args.burst or 'default'})"
                   if server.rate else "")
        print(f"\n{server.describe()}{headers}; the server's limit "
              + (f"{limit:.1f} s" if limit else "none") + f"; median of {args.repeat}:")
        for label, _, _ in columns:
            results = runs[label]
            seconds = statistics.median(r.seconds for r in results)
            refused = statistics.median(r.refused for r in results)
            share = statistics.median(r.share for r in results)
            ratio = f"{seconds / limit:5.2f}x the limit" if limit else ""
            last = results[-1].pacing
            pace = f", paced at {last['pace_per_s']:g}/s" if last.get("pace_per_s") else ""
            failed = max(r.failed for r in results)
            pace += f"; {failed} rows FAILED (gave up)" if failed else ""
            print(f"  {label:15s} {seconds:6.2f} s {ratio:17s} (runs {min(r.seconds for r in results):.2f}"
                  f"-{max(r.seconds for r in results):.2f} s); refused {refused:g} "
                  f"({share:.1%}); most in flight {max(r.most_in_flight for r in results)} "
                  f"(server's count {max(r.server_in_flight for r in results)}; limit at the end "
                  f"{last.get('limit')}{pace})")
        table.append(_table_row(server, runs))
        if "adaptive" not in runs or "fixed 8" not in runs:
            continue
        adaptive = statistics.median(r.seconds for r in runs["adaptive"])
        fixed = statistics.median(r.seconds for r in runs["fixed 8"])
        pairs = [a.seconds / f.seconds for a, f in zip(runs["adaptive"], runs["fixed 8"])]
        print(f"  adaptive / fixed 8: {statistics.median(pairs):.2f} (median of paired runs; "
              f"{fixed / adaptive:.2f}x faster)")
        met = [("every row written", not any(r.failed for r in runs["adaptive"]))]
        if name in TARGETS:
            most, share_most = TARGETS[name]
            met.append((f"<= {most}x the limit", adaptive <= most * limit))
            if share_most is not None:
                share = statistics.median(r.share for r in runs["adaptive"])
                met.append((f"<= {share_most:.0%} refused", share <= share_most))
            if name == "roomy":
                met.append((">= 2.5x faster than fixed 8", fixed >= 2.5 * adaptive))
        else:
            met.append(("no slower than fixed 8", statistics.median(pairs) <= 1.0))
        print("  targets: " + "; ".join(f"{what}: {'met' if ok else 'NOT MET'}" for what, ok in met))
        failures += [f"{name}: {what}" for what, ok in met if not ok]
    labels = list(runs)
    print("\n| server | writes | the server's limit | "
          + " | ".join(f"{label}: time, refused, most in flight" for label in labels) + " |")
    print("|---|---|---|" + "---|" * len(labels))
    print("\n".join(table))
    if failures:
        raise SystemExit("FAIL: " + ", ".join(failures))


def _table_row(server: Server, runs: dict[str, list[Run]]) -> str:
    """One line of the README's table: each column's median time (and its ratio to the
    server's limit), requests refused, most in flight."""
    limit = server.limit()
    cells = []
    for results in runs.values():
        seconds = statistics.median(r.seconds for r in results)
        ratio = f" ({seconds / limit:.2f}x)" if limit else ""
        refused = statistics.median(r.refused for r in results)
        share = statistics.median(r.share for r in results)
        failed = max(r.failed for r in results)
        cells.append(f"{seconds:.1f} s{ratio}, {refused:g} ({share:.0%}), "
                     f"{max(r.most_in_flight or r.server_in_flight for r in results)}"
                     + (f", {failed} rows failed" if failed else ""))
    what = server.describe().split(";")[0]
    return (f"| {what} | {server.writes:,} | " + (f"{limit:.0f} s" if limit else "none")
            + " | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
