"""Planning time (CPU seconds) for a big sheet whose rows are all unchanged (the nightly case).

    python benchmarks/bench_plan.py [--rows 50000] [--repeat 5] [--element-dict]

Reads a generated CSV once (not timed), then times `build_plan` --repeat times in one process
and prints the CPU seconds of the first (cold) run and the best and median of the rest.
Compare two versions of the code by running this script with each on PYTHONPATH,
alternately, on the same machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

COMPOSITIONS = ["BaTiO3", "SrTiO3", "LaAlO3", "La0.7Sr0.3MnO3", "(Ba0.5Sr0.5)TiO3", "SrRuO3",
                "MgO", "Al2O3", "GaN", "ZnO", "TiO2", "BiFeO3", "PbZr0.52Ti0.48O3", "NdNiO3"]
ORIENTATIONS = ["001", "110", "111", "0001", "1-10", "11-20"]
GROUPS = ["P4mm", "Pm-3m", "R-3c", "Fm-3m", "P6_3mc", "P4_2/mnm", "R3c", "Pnma"]
HEADER = ["sample_id", "sample_name", "substrate", "layer_id", "composition_string",
          "element_dict", "orientation", "space_group", "mp_id"]


def make_case(folder: Path, rows: int, element_dict: bool = False) -> tuple[Path, list[dict]]:
    """A sheet of `rows` layers (10 per target material) and the server entries it matches."""
    from layer_sync.rules import values

    rng = random.Random(1)
    path = folder / "stacks.csv"
    entries = []
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(rows):
            sample, layer = divmod(i, 10)
            formula = rng.choice(COMPOSITIONS)
            orientation, group = rng.choice(ORIENTATIONS), rng.choice(GROUPS)
            mp_id = f"mp-{rng.randint(1, 99999)}"
            elements = values.element_counts(formula)
            writer.writerow([sample + 1, f"Stack {sample + 1}", "SrTiO3", layer + 1, formula,
                             json.dumps(elements) if element_dict else "", orientation, group, mp_id])
            entries.append({"id": i + 1, "sample_id": sample + 1, "sample_name": f"Stack {sample + 1}",
                            "substrate": "SrTiO3", "layer_id": layer + 1,
                            "composition_string": formula,
                            "element_dict": elements,
                            "orientation": orientation, "space_group": group, "mp_id": mp_id})
    return path, entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--element-dict", action="store_true",
                        help="the sheet manages element_dict too (checked against each formula)")
    args = parser.parse_args()
    from layer_sync.plan.actions import UNCHANGED
    from layer_sync.plan.build import build_plan
    from layer_sync.read.stacks import read_stacks

    with tempfile.TemporaryDirectory() as tmp:
        path, entries = make_case(Path(tmp), args.rows, args.element_dict)
        data = read_stacks(path)
    times = []
    for _ in range(args.repeat):
        # CPU time, not wall time: on a shared machine it is far less disturbed by others.
        start = time.process_time()
        plan = build_plan(data, entries)
        times.append(time.process_time() - start)
        assert all(a.kind == UNCHANGED for a in plan.actions), "every row should be unchanged"
    print(f"build_plan, {args.rows} unchanged rows: first (cold caches) {times[0]:.3f} s, "
          f"then best {min(times[1:] or times):.3f} s, median {statistics.median(times[1:] or times):.3f} s "
          f"over {len(times[1:] or times)} runs")


if __name__ == "__main__":
    main()
