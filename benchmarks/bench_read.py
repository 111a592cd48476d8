"""Reading and checking a 50,000-row, 9-column .xlsx versus pandas.read_excel(engine="openpyxl").

    python benchmarks/bench_read.py [--rows 50000] [--repeat 3]

Each measurement runs in a fresh process (no warm caches, imports included), best of --repeat.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from installed import compile_package

COMPOSITIONS = ["BaTiO3", "SrTiO3", "LaAlO3", "La0.7Sr0.3MnO3", "(Ba0.5Sr0.5)TiO3", "SrRuO3",
                "MgO", "Al2O3", "GaN", "ZnO", "TiO2", "BiFeO3", "PbZr0.52Ti0.48O3", "NdNiO3"]
ORIENTATIONS = ["001", "110", "111", "0001", "1-10", "11-20"]
GROUPS = ["P4mm", "Pm-3m", "R-3c", "Fm-3m", "P6_3mc", "P4_2/mnm", "R3c", "Pnma"]


def make_workbook(path: Path, rows: int) -> None:
    from openpyxl import Workbook

    rng = random.Random(1)
    book = Workbook(write_only=True)
    ws = book.create_sheet("Layers")
    ws.append(["sample_id", "sample_name", "substrate", "layer_id", "composition_string",
               "element_dict", "orientation", "space_group", "mp_id"])
    for i in range(rows):
        sample, layer = divmod(i, 10)
        formula = rng.choice(COMPOSITIONS)
        ws.append([sample + 1, f"Stack {sample + 1}", "SrTiO3", layer + 1, formula, None,
                   rng.choice(ORIENTATIONS), rng.choice(GROUPS), f"mp-{rng.randint(1, 99999)}"])
    book.save(path)


def timed(code: str, path: Path, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, str(path)], check=True)
        runs.append(time.perf_counter() - start)
    return min(runs)


PANDAS = "import sys, pandas; pandas.read_excel(sys.argv[1], engine='openpyxl')"
OURS = ("import sys; from layer_sync.sheet import read_stacks; d = read_stacks(sys.argv[1]); "
        "assert len(d.rows) > 0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    compile_package()  # as installed (installed.py)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stacks.xlsx"
        make_workbook(path, args.rows)
        ours = timed(OURS, path, args.repeat)
        pandas = timed(PANDAS, path, args.repeat)
    print(f"{args.rows} rows x 9 columns, best of {args.repeat}, each in a fresh process:")
    print(f"  pandas.read_excel(engine='openpyxl'):      {pandas:6.2f} s (read only)")
    print(f"  layer_sync.read_stacks (read + check):     {ours:6.2f} s")
    print(f"  ratio: {pandas / ours:.1f}x faster")
    if ours >= pandas:
        raise SystemExit("FAIL: reading and checking is not faster than pandas alone")


if __name__ == "__main__":
    main()
