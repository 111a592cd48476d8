"""The progress bar: phases, the time left, log lines above it, and nothing left on screen."""

from __future__ import annotations

import io
import logging
import os
import pty
import select
import subprocess
import sys
import time

import pyte
import pytest
from rich.console import Console

from layer_sync.cli.progress import ProgressBar, bar_wanted
from layer_sync.core.runtime import Runtime

from .conftest import API_KEY

BAR_MARKS = ("\u2501", "writing", "reading", "planning", " rows ")


def _screen(raw: str, width: int = 100, height: int = 30) -> list[str]:
    """What a terminal shows after `raw` (cursor moves and erasures applied)."""
    screen = pyte.Screen(width, height)
    screen.set_mode(pyte.modes.LNM)  # "\n" also returns the carriage, as a tty does
    pyte.Stream(screen).feed(raw)
    return [line.rstrip() for line in screen.display if line.strip()]


@pytest.fixture
def logger():
    log = logging.getLogger("layer_sync.test_progress")
    log.setLevel(logging.INFO)
    log.propagate = False
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)


def test_a_log_line_during_the_bar_stays_and_the_bar_leaves_nothing(logger):
    raw = io.StringIO()
    logger.addHandler(logging.StreamHandler(raw))
    console = Console(file=raw, force_terminal=True, width=100, color_system=None)
    with ProgressBar(raw, console=console, logger=logger) as bar:
        bar("reading", 100, None)
        logger.info("read 300 rows from lab.csv")
        for done in range(0, 301, 50):
            bar("writing", done, 300, 1)
        console.file.flush()
    assert "\u2501" in raw.getvalue()  # the bar was drawn...
    assert _screen(raw.getvalue()) == ["read 300 rows from lab.csv"]  # ...and is gone


def test_phases_and_the_time_left(logger):
    raw = io.StringIO()
    console = Console(file=raw, force_terminal=True, width=120, color_system=None)
    now = [0.0]
    with ProgressBar(raw, console=console, logger=logger) as bar:
        bar._progress.get_time = lambda: now[0]  # a clock the test moves
        bar("reading", 0, None)
        now[0] = 1.0
        bar("reading", 5000, None)
        bar._progress.refresh()
        reading = _screen(raw.getvalue(), 120)[-1]
        bar("planning", 0, 5000)
        now[0] = 2.0
        bar("planning", 2500, 5000)
        bar._progress.refresh()
        planning = _screen(raw.getvalue(), 120)[-1]
        bar("writing", 0, 400)
        for step in range(1, 5):
            now[0] = 2.0 + step
            bar("writing", 50 * step, 400, 2)
        bar._progress.refresh()
        writing = _screen(raw.getvalue(), 120)[-1]
    assert "reading the sheet" in reading and "5000 rows" in reading
    assert "planning" in planning and "2500/5000 rows" in planning
    assert "writing" in writing and "200/400 rows, 2 retries" in writing
    assert "about 0:00:0" in writing and "left" in writing
    assert _screen(raw.getvalue(), 120) == []


def test_a_bar_only_for_a_person_at_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert bar_wanted(Terminal(), environ={}) is True
    assert bar_wanted(Terminal(), quiet=True, environ={}) is False
    assert bar_wanted(Terminal(), environ={"TERM": "dumb"}) is False
    assert bar_wanted(io.StringIO(), environ={}) is False


@pytest.mark.skipif(not hasattr(pty, "openpty"), reason="needs a pseudo-terminal")
def test_a_sync_at_a_terminal_leaves_only_its_summary(sandbox, tmp_path):
    sandbox.store.seed([{"id": 1, "sample_id": 1, "sample_name": "S", "layer_id": 1}])
    sheet = tmp_path / "lab.csv"
    sheet.write_text("sample_id,layer_id,composition_string\n"
                     + "".join(f"1,{n},SrTiO3\n" for n in range(2, 302)), encoding="utf-8")
    sandbox.latency_ms = 2
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATOMSCALE", "AS_", "NO_COLOR"))}
    env.update(ATOMSCALE_API_KEY=API_KEY, TERM="xterm", COLUMNS="100", LINES="40",
               no_proxy="127.0.0.1", NO_PROXY="127.0.0.1")
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "layer_sync", "sync", str(sheet), "--api-url",
                             sandbox.url, "--report", str(tmp_path / "r.xlsx")],
                            stdin=follower, stdout=follower, stderr=follower, env=env, cwd=tmp_path)
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(leader)
    assert proc.wait(timeout=10) == 0
    raw = b"".join(chunks).decode("utf-8", errors="replace")
    assert "\u2501" in raw  # the bar was drawn
    shown = _screen(raw, 100, 60)
    assert any("300 rows: 300 created" in line for line in shown), shown
    assert not [line for line in shown if "\u2501" in line or "writing" in line
                or "reading and planning" in line], shown


def test_a_sync_reports_reading_and_planning_with_their_totals(stack, tmp_path):
    # The bar can show an estimate of the time left only if each phase says how far it is.
    from layer_sync.run.sync import sync_file

    path = tmp_path / "big.csv"
    path.write_text("sample_id,layer_id\n" + "".join(f"1,{n}\n" for n in range(2, 2502)),
                    encoding="utf-8")
    calls = []
    outcome = sync_file(path, api_key=API_KEY, api_url=stack.url, report=False, dry_run=True,
                        runtime=Runtime(progress=lambda *a: calls.append(a)))
    assert outcome.exit_code == 0 and outcome.counts["created"] == 2500
    assert [c[0] for c in calls][0] == "reading"
    assert ("reading", 1000, 2500, 0) in calls and ("reading", 2000, 2500, 0) in calls
    assert ("planning", 0, 2500, 0) in calls and ("planning", 2000, 2500, 0) in calls
