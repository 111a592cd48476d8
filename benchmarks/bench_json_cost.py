"""What the server's list takes in memory: the estimate against the truth, and whole runs.

    python benchmarks/bench_json_cost.py [--mb 4] [--layers 99999] [--skip-runs]

1. Shapes: for each JSON shape (empty containers, deep nesting, unique keys, astral and
   escaped text, a real list of layers) of about --mb MB, `jsoncost.parsed_cost` against
   the peak `tracemalloc` sees while `json.loads` parses it (the text included). The
   estimate must never be below it (the lowest ratio is printed; goal: at least 1.1).
2. Whole runs, each a fresh process (its peak resident memory, from the kernel):
   `layer-sync sync SHEET --dry-run` of a sheet of --layers rows against a sandbox holding the
   same layers (every row unchanged: the largest accepted list, as a real server writes it);
   the same against lists a hostile server writes at the bounds (the most small records a
   run reads, each a minimal record or an odd one; a list of bare `[]` and one object of
   unique keys just under what they may take once parsed), each with a sheet of one row and
   with the big sheet (their memory adds up), and a gzip bomb of 48 MB of `[]`. Goal: every run under 1 GB, the bomb
   refused (exit 2) in under a second or two.
The machine may be shared: peaks are steady, times are not (compare medians).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from layer_sync.remote.jsoncost import MAX_PARSED_COST, parsed_cost
from layer_sync.remote.paging import MAX_ENTRIES

KEY = "bench-key"
PEAK = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:], "
        "capture_output=True, text=True); print(done.returncode, "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
        "sys.stderr.write(done.stderr[-600:])")


def real_entries(count: int) -> list[dict]:
    """`count` layers as the real list gives them (every field), 10 to a target material."""
    return [{"id": i + 1, "sample_id": i // 10 + 1, "sample_name": f"Stack {i // 10 + 1} BTO/STO",
             "substrate": "SrTiO3", "layer_id": i % 10 + 1, "composition_string": "BaTiO3",
             "element_dict": {"Ba": 1, "Ti": 1, "O": 3}, "orientation": "001",
             "space_group": "P4mm", "mp_id": "mp-5020", "detail_notes_id": None,
             "detail_note_content": None, "sample_metadata": None, "user_id": "user-12",
             "user_name": "Lab User", "version": 1, "last_updated": "2026-01-02T03:04:05+00:00"}
            for i in range(count)]


def shapes(size: int) -> dict[str, bytes]:
    def repeat(unit: bytes) -> bytes:
        return b"[" + b",".join([unit] * (size // (len(unit) + 1))) + b"]"

    found = {u.decode(): repeat(u) for u in (
        b"{}", b"[]", b'{"a":0}', b"[0]", b'{"a":{}}', b"[[]]", b"[[[[[[[[]]]]]]]]", b'"ab"',
        b"-9", b"1.5", b'{"a":"xy"}', '"\u0100\u0100"'.encode(), '"\U0001F600"'.encode(),
        b'"\\ud83d\\ude00"')}
    found["unique keys"] = b"{" + b",".join(b'"k%07d":"v%07d"' % (i, i)
                                            for i in range(size // 22)) + b"}"
    found["long astral text"] = ('["' + "a" * size + '\U0001F600"]').encode()
    found["long escaped text"] = ('["' + "a" * size + '\\ud83d\\ude00"]').encode()
    found["real list"] = json.dumps(real_entries(size // 440)).encode()
    return found


def peak_of_parse(text: bytes) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        parsed = json.loads(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del parsed
    return peak + len(text)


def section_shapes(mb: float) -> None:
    print(f"1. The estimate against json.loads' peak, {mb:g} MB a shape")
    lowest = None
    for name, text in shapes(int(mb * (1 << 20))).items():
        truth, estimate = peak_of_parse(text), parsed_cost(text)
        ratio = estimate / truth
        lowest = ratio if lowest is None else min(lowest, ratio)
        print(f"   {name:22} parsed {truth / len(text):5.1f} x its text, estimated "
              f"{estimate / len(text):5.1f} x: {ratio:4.2f}")
    print(f"   lowest estimate / truth: {lowest:.2f} (goal: at least 1.1)")


class FixedList:
    """A server answering every GET with the same bytes (a hostile list)."""

    def __init__(self, body: bytes) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()


def fill(unit, budget: int = MAX_PARSED_COST, most: int | None = None) -> bytes:
    """A list of `unit(i)` just under `budget` once parsed (and at most `most` of them)."""
    probe = b"[" + b",".join(unit(i) for i in range(1000)) + b"]"
    count = int(budget / (parsed_cost(probe) / 1000) * 0.98)
    if most is not None:
        count = min(count, most)
    return b"[" + b",".join(unit(i) for i in range(count)) + b"]"


def run(url: str, sheet: Path, folder: Path) -> tuple[int, int, float, str]:
    env = {**os.environ, "ATOMSCALE_API_KEY": KEY, "ATOMSCALE_API_URL": url,
           "LAYER_SYNC_STILL_SECONDS": "0", "HOME": str(folder)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK, sys.executable, "-m", "layer_sync",
                           "sync", str(sheet), "--dry-run", "--json", "-q", "--report",
                           str(folder / "r.xlsx"), "--force"],
                          env=env, capture_output=True, text=True, cwd=folder, check=False)
    took = time.perf_counter() - started
    code, peak_kb = done.stdout.split()[-2:]
    return int(code), int(peak_kb) >> 10, took, done.stderr.strip().splitlines()[-1:][0] \
        if done.stderr.strip() else ""


def section_runs(layers: int) -> None:
    from layer_sync.sandbox import Listing, SandboxServer

    print("2. Whole dry runs, peak resident memory (goal: under 1 GB)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sheet = folder / "lab.csv"
        entries = real_entries(layers)
        sheet.write_text("sample_id,layer_id,composition_string,orientation\n" + "".join(
            f"{e['sample_id']},{e['layer_id']},BaTiO3,001\n" for e in entries), encoding="utf-8")
        small = folder / "small.csv"
        small.write_text("sample_id,layer_id,composition_string\n1,1,BaTiO3\n", encoding="utf-8")
        with SandboxServer(api_key=KEY, seed=entries) as server:
            code, peak, took, _ = run(server.url, sheet, folder)
            size = len(server.store.list_json())
            print(f"   a real list of {layers:,} layers ({size >> 20} MB, estimated "
                  f"{parsed_cost(server.store.list_json()) >> 20} MB), a sheet of as many "
                  f"rows: exit {code}, {peak} MB, {took:.1f} s")
            server.listing = Listing(bomb_mb=48)
            code, peak, took, said = run(server.url, small, folder)
            print(f"   a gzip bomb of 48 MB of []: exit {code}, {peak} MB, {took:.1f} s: {said}")
        hostile = {
            f"{MAX_ENTRIES:,} minimal records": fill(
                lambda i: b'{"id":%d,"sample_id":%d,"layer_id":1}' % (i + 1, i + 1),
                most=MAX_ENTRIES),
            f"{MAX_ENTRIES:,} odd records": fill(lambda i: b'{"layer_id":"3","sample_id":1}',
                                                most=MAX_ENTRIES),
            f"{MAX_ENTRIES:,} bare []": fill(lambda i: b"[]", most=MAX_ENTRIES),
            "[] under the parsed bound": fill(lambda i: b"[]"),
            "an object of unique keys under the parsed bound": b"[" + fill(
                lambda i: b'"k%08d":"v%08d"' % (i, i))[1:-1].join((b"{", b"}")) + b"]",
        }
        for name, body in hostile.items():
            server_ = FixedList(body)
            try:
                for against in (small, sheet):  # the sheet's memory adds to the list's
                    code, peak, took, said = run(server_.url, against, folder)
                    print(f"   {name} ({len(body) >> 20} MB, estimated "
                          f"{parsed_cost(body) >> 20} MB), {against.name}: exit {code}, "
                          f"{peak} MB, {took:.1f} s{': ' + said if code == 2 else ''}")
            finally:
                server_.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=4.0)
    parser.add_argument("--layers", type=int, default=99_999)  # the header is a row
    parser.add_argument("--skip-runs", action="store_true")
    parser.add_argument("--skip-shapes", action="store_true")
    args = parser.parse_args()
    if not args.skip_shapes:
        section_shapes(args.mb)
    if not args.skip_runs:
        section_runs(args.layers)


if __name__ == "__main__":
    main()
