"""Shared fixtures: the sandbox over loopback (empty, or with one layer), a clock whose sleep
does not wait, and a home folder of each test's own (the server's lock is the machine's, named
after the sandbox's URL, whose port is each test's own)."""

from __future__ import annotations

import csv
import logging
import uuid
from pathlib import Path

import pytest

from layer_sync.sandbox import Faults, SandboxServer

API_KEY = "test-key-7f3a9c"
#: This test process's own part of a URL nothing listens on: the machine-wide lock belongs to
#: the server's URL, so two checkouts' suites running at once never wait on each other's.
_OWN = uuid.uuid4().hex[:12]


def key_file_line(folder: Path) -> str:
    """A key file holding the tests' key in `folder`, as a layer-sync.toml line naming it: a
    file that names an api_url brings its own key (the environment's is not sent there)."""
    path = folder / ".atomscale-key"
    path.write_text(API_KEY + "\n", encoding="utf-8")
    path.chmod(0o600)
    return 'api_key_file = ".atomscale-key"\n'


def dead_url(tag: str = "") -> str:
    """A URL nothing answers on (port 9, discard), this process's own (see `_OWN`)."""
    return f"http://127.0.0.1:9/{_OWN}/{tag + '/' if tag else ''}"


class FakeClock:
    """A monotonic clock and a sleep that records waits and advances the clock instead."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox():
    """A sandbox on 127.0.0.1, port 0, in a thread: `.url`, `.store`, `.stats`, `.faults`."""
    logging.getLogger("layer_sync.sandbox").setLevel(logging.WARNING)
    server = SandboxServer(api_key=API_KEY, faults=Faults(seed=1, slow_seconds=1.0)).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def stack(sandbox):
    """The sandbox holding one layer: target material 1 ("S" on Si), layer 1, SrTiO3 001."""
    sandbox.store.seed([{"id": 1, "sample_id": 1, "sample_name": "S", "substrate": "Si",
                         "layer_id": 1, "composition_string": "SrTiO3", "orientation": "001"}])
    sandbox.stats.reset()
    return sandbox


@pytest.fixture(autouse=True)
def _own_home(tmp_path, monkeypatch):
    """Every test's runs have a home of their own, never the user's."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # The sheets tests write are whole when read: no waiting for them to be still (the
    # reader's own tests of that wait pass still_s, or set the variable themselves).
    monkeypatch.setenv("LAYER_SYNC_STILL_SECONDS", "0")
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    """A CSV sheet with `header` and `rows`, written as a spreadsheet program would."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path
