"""The sync's speed, start to finish as a process, against the sandbox at 20 ms per request.

    python benchmarks/bench_sync.py [--writes 1200] [--latency-ms 20] [--concurrency 8]
                                    [--repeat 3] [--no-loop] [--floor]

1. `layer-sync sync` making 1,200 writes (600 PATCH, 600 POST) with 8 in flight: the target is
   at most 1.25 x the ideal (writes x latency / concurrency = 3 s), process start-up, reading
   the workbook, the GET and the report included. The best and the median of the runs are
   shown: on a shared machine the best is the one least disturbed by others.
2. A plain sequential loop over the same rows with requests (one Session, keep-alive): the
   sync must be at least 7 x faster (`--no-loop` leaves it out: it takes ~25 s).
3. A second run right after the first: one GET and no writes.
4. With --floor: the same writes with requests alone, in as many threads sharing one Session,
   timed inside an already started process (no start-up, sheet, plan or report): what
   requests itself takes at this concurrency, the floor under any client built on it.
Each run gets a fresh sandbox process with the same seed.
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


def seed_and_sheet(folder: Path, writes: int) -> tuple[Path, Path, list[dict]]:
    from openpyxl import Workbook

    half = writes // 2
    samples = max(1, half // 5)
    seed, rows = [], []
    record = 1
    for s in range(1, samples + 1):
        for layer in range(1, 6):
            seed.append({"id": record, "sample_id": s, "sample_name": f"Stack {s}", "substrate": "SrTiO3",
                         "layer_id": layer, "composition_string": "BaTiO3", "orientation": "001"})
            record += 1
            rows.append({"sample_id": s, "layer_id": layer, "composition_string": "BaTiO3",
                         "orientation": "111"})  # a PATCH
        for layer in range(6, 11):
            rows.append({"sample_id": s, "layer_id": layer, "composition_string": "SrTiO3",
                         "orientation": "001"})  # a POST
    seed_path = folder / "seed.json"
    seed_path.write_text(json.dumps(seed))
    book = Workbook(write_only=True)
    ws = book.create_sheet("Layers")
    ws.append(["sample_id", "layer_id", "composition_string", "orientation"])
    for row in rows:
        ws.append([row["sample_id"], row["layer_id"], row["composition_string"], row["orientation"]])
    sheet = folder / "bench.xlsx"
    book.save(sheet)
    return seed_path, sheet, rows


class Sandbox:
    def __init__(self, seed: Path, latency_ms: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "layer_sync", "sandbox", "--port", "0", "--api-key", KEY,
             "--seed", str(seed), "--latency-ms", str(latency_ms), "-q"],
            stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        self.url = re.search(r"(http://\S+/)", line).group(1)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def run_sync(sheet: Path, url: str, concurrency: int, report: Path) -> tuple[float, dict]:
    env = {**os.environ, "ATOMSCALE_API_KEY": KEY, "ATOMSCALE_API_URL": url}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "layer_sync", "sync", str(sheet), "--json", "-q",
                           "--concurrency", str(concurrency), "--report", str(report)],
                          env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"sync failed ({proc.returncode}): {proc.stderr}")
    return elapsed, json.loads(proc.stdout.strip().splitlines()[-1])


def sequential(rows: list[dict], url: str, seed: list) -> float:
    import requests

    existing = {(e["sample_id"], e["layer_id"]) for e in seed}
    session = requests.Session()
    headers = {"X-API-KEY": KEY}
    start = time.perf_counter()
    session.get(url + "target-materials/", headers=headers).raise_for_status()
    for row in rows:
        method = "PATCH" if (row["sample_id"], row["layer_id"]) in existing else "POST"
        session.request(method, url + "target-materials/layers/", json=row,
                        headers=headers).raise_for_status()
    return time.perf_counter() - start


def concurrent_floor(rows: list[dict], url: str, seed: list, concurrency: int) -> float:
    """The same writes with requests alone: `concurrency` threads sharing one Session, no
    retry policy, no sheet, no report, in this already started process. What requests itself
    takes at this concurrency: no client built on it can be faster."""
    from concurrent.futures import ThreadPoolExecutor

    import requests
    from requests.adapters import HTTPAdapter

    existing = {(e["sample_id"], e["layer_id"]) for e in seed}
    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_maxsize=concurrency))
    session.headers["X-API-KEY"] = KEY

    def write(row: dict) -> None:
        method = "PATCH" if (row["sample_id"], row["layer_id"]) in existing else "POST"
        session.request(method, url + "target-materials/layers/", json=row,
                        timeout=30).raise_for_status()

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(write, rows))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writes", type=int, default=1200)
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-loop", action="store_true", help="skip the sequential loop")
    parser.add_argument("--floor", action="store_true",
                        help="also time the same writes with requests alone in threads")
    args = parser.parse_args()
    compile_package()  # as installed (installed.py)
    ideal = args.writes * args.latency_ms / 1000 / args.concurrency
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        seed_path, sheet, rows = seed_and_sheet(folder, args.writes)
        runs = []
        for _ in range(args.repeat):
            sandbox = Sandbox(seed_path, args.latency_ms)
            try:
                elapsed, first = run_sync(sheet, sandbox.url, args.concurrency, folder / "r1.xlsx")
                again_elapsed, again = run_sync(sheet, sandbox.url, args.concurrency, folder / "r2.xlsx")
            finally:
                sandbox.stop()
            runs.append((elapsed, first, again_elapsed, again))
        elapsed, first, again_elapsed, again = min(runs, key=lambda r: r[0])
        median = statistics.median(r[0] for r in runs)
        floors = []
        for _ in range(args.repeat if args.floor else 0):
            sandbox = Sandbox(seed_path, args.latency_ms)
            try:
                floors.append(concurrent_floor(rows, sandbox.url, json.loads(seed_path.read_text()),
                                               args.concurrency))
            finally:
                sandbox.stop()
        loop = None
        if not args.no_loop:
            sandbox = Sandbox(seed_path, args.latency_ms)
            try:
                loop = sequential(rows, sandbox.url, json.loads(seed_path.read_text()))
            finally:
                sandbox.stop()
    writes = first["requests"]["POST"] + first["requests"]["PATCH"]
    print(f"{writes} writes at {args.latency_ms:g} ms per request, {args.concurrency} in flight "
          f"(ideal {ideal:.2f} s), best of {args.repeat}:")
    print(f"  layer-sync sync, whole process:   {elapsed:6.2f} s = {elapsed / ideal:.2f} x ideal "
          f"(target <= 1.25); median {median:.2f} s = {median / ideal:.2f} x")
    if floors:
        floor = min(floors)
        print(f"  requests alone in {args.concurrency} threads (no start-up, sheet or report): "
              f"{floor:6.2f} s = {floor / ideal:.2f} x ideal (best of {len(floors)})")
    if loop is not None:
        print(f"  plain sequential requests loop:   {loop:6.2f} s = {loop / elapsed:.1f} x slower "
              f"(target >= 7)")
        per_request = loop / (len(rows) + 1) * 1000 - args.latency_ms
        print(f"  sandbox + client time per request beyond --latency-ms (sequential loop): "
              f"{per_request:.2f} ms")
    print(f"  second run, nothing to change:    {again_elapsed:6.2f} s, requests {again['requests']}")
    ok = (elapsed <= 1.25 * ideal and (loop is None or loop >= 7 * elapsed)
          and again["requests"] == {"GET": 1, "POST": 0, "PATCH": 0}
          and first["created"] + first["updated"] == args.writes)
    if not ok:
        raise SystemExit("FAIL: a target was missed")


if __name__ == "__main__":
    main()
