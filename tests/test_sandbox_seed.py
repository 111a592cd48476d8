"""`layer-sync sandbox` starts with the sample data, from any folder: an installed package
carries its seed (tools/samples.py), so no path into the source checkout is needed."""

from __future__ import annotations

import re
import subprocess
import sys

import requests

from layer_sync.tools import samples


def _sandbox(tmp_path, *args: str) -> tuple[str, list[dict], str]:
    """Start `layer-sync sandbox` in `tmp_path` (not the checkout); its first line and the
    records it serves."""
    proc = subprocess.Popen([sys.executable, "-m", "layer_sync", "sandbox", "--port", "0",
                             "--api-key", "k", *args], cwd=tmp_path, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        assert match, line + proc.stderr.read()
        records = requests.get(match[1] + "target-materials/", headers={"X-API-KEY": "k"},
                               timeout=10).json()
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    return line, records, match[1]


def _layers(records: list[dict]) -> set[tuple[int, int]]:
    """(sample_id, layer_id) of each layer the list holds (one entry per layer, as the API's)."""
    return {(e["sample_id"], e["layer_id"]) for e in records if e["layer_id"] is not None}


def test_without_seed_the_sandbox_serves_the_sample_data(tmp_path):
    line, records, _ = _sandbox(tmp_path)
    assert "seeded with the sample data (3 target materials, 5 layers; --empty for none)" in line
    assert {e["sample_id"] for e in records} == {101, 102, 103}
    assert _layers(records) == _layers(samples.SEED) and len(_layers(records)) == 5


def test_empty_starts_with_no_records_and_seed_still_reads_a_file(tmp_path):
    line, records, _ = _sandbox(tmp_path, "--empty")
    assert "records: in memory, empty" in line and records == []
    seed = samples.write_seed(tmp_path / "mine.json")
    line, records, _ = _sandbox(tmp_path, "--seed", str(seed))
    assert f"seeded from {seed}" in line and _layers(records) == _layers(samples.SEED)
