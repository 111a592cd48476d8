"""The sheet that is planned is the sheet that was read, whole (issue 18, item 4): a file being
saved is waited for, a file that changes while it is read is refused, and reading stops when
the run is asked to stop. Clock and sleep are injected: nothing here really waits."""

from __future__ import annotations

from collections.abc import Callable

import logging
import os
import signal
import threading
from pathlib import Path

import pytest

from layer_sync.core.control import RunControl
from layer_sync.core.runtime import Runtime

from layer_sync.core.errors import InputFileError, Interrupted
from layer_sync.read.stacks import read_stacks

from . import hostile


class Asking(RunControl):
    """A run control that asks `ask()` whether the run was interrupted, each time the reader
    looks (the moment of a signal, chosen by the test); a number is the signal."""

    def __init__(self, ask: Callable[[], object]) -> None:
        super().__init__()
        self._ask = ask

    @property
    def interrupted(self) -> bool:  # type: ignore[override]
        answer = self._ask()
        if answer and answer is not True:
            self.signal = int(answer)  # type: ignore[call-overload]
        return bool(answer)


HEADER = "sample_name,substrate,layer_id,composition_string,orientation\n"


def _rows(count: int) -> str:
    return "".join(f"Stack {i // 5},SrTiO3,{i % 5 + 1},La0.7Sr0.3MnO3,001\n" for i in range(count))


class SavingWriter:
    """A program saving a CSV in place, in pieces, pausing between them: each pause ends when
    the reader sleeps (so the test is exact, and nothing really waits)."""

    def __init__(self, path: Path, text: str, pieces: int) -> None:
        size = -(-len(text) // pieces)
        self.path, self.pieces = path, [text[i:i + size].encode() for i in range(0, len(text), size)]
        self.resume, self.wrote = threading.Event(), threading.Semaphore(0)
        self.done = False
        self.thread = threading.Thread(target=self._save, daemon=True)

    def _save(self) -> None:
        with self.path.open("r+b") as handle:
            handle.truncate(0)
            for number, piece in enumerate(self.pieces, start=1):
                handle.write(piece)
                handle.flush()
                os.fsync(handle.fileno())
                if number == len(self.pieces):
                    self.done = True
                self.wrote.release()
                if not self.done:
                    self.resume.wait(5)
                    self.resume.clear()

    def start(self) -> None:
        self.thread.start()
        assert self.wrote.acquire(timeout=5)  # the first piece is on disk

    def pause_ends(self) -> None:
        """What the reader's sleep does: the writer goes on with its next piece."""
        if not self.done:
            self.resume.set()
            assert self.wrote.acquire(timeout=5)


def test_a_sheet_being_saved_in_pieces_is_read_once_it_is_whole(tmp_path, clock, caplog):
    path = tmp_path / "lab.csv"
    path.write_text(HEADER + _rows(10))  # the version before the save
    writer = SavingWriter(path, HEADER + _rows(400), pieces=5)
    writer.start()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        writer.pause_ends()

    with caplog.at_level(logging.INFO, logger="layer_sync"):
        data = read_stacks(path, runtime=Runtime(clock=clock.monotonic, sleep=sleep, still_s=2.0))
    assert len(data.rows) == 400  # whole: not the first piece, nor the version before
    assert data.rows[-1].raw["composition_string"] == "La0.7Sr0.3MnO3"
    assert writer.done and clock.sleeps  # it waited, in fake time
    assert sum(clock.sleeps) >= 2.0
    assert any("may still be being written" in r.getMessage() for r in caplog.records)


def test_a_sheet_saved_a_while_ago_is_read_without_waiting(tmp_path, clock):
    path = tmp_path / "lab.csv"
    path.write_text(HEADER + _rows(10))
    os.utime(path, (os.path.getmtime(path) - 60,) * 2)
    assert len(read_stacks(path, runtime=Runtime(clock=clock.monotonic, sleep=clock.sleep, still_s=2.0)).rows) == 10
    assert clock.sleeps == []


def test_a_sheet_that_keeps_changing_is_refused_within_a_bound(tmp_path, clock):
    path = tmp_path / "lab.csv"
    path.write_text(HEADER + _rows(10))

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        with path.open("a") as handle:  # a program that never stops writing
            handle.write(_rows(1))

    with pytest.raises(InputFileError, match="still being written"):
        read_stacks(path, runtime=Runtime(clock=clock.monotonic, sleep=sleep, still_s=2.0))
    assert 10 <= sum(clock.sleeps) <= 11  # MAX_WAIT_S, not forever


@pytest.mark.parametrize("how", ["appended", "replaced"])
def test_a_sheet_that_changes_while_it_is_read_is_refused(tmp_path, how):
    path = tmp_path / "lab.csv"
    path.write_text(HEADER + _rows(20))
    calls = []

    def should_stop() -> bool:
        # Asked between the chunks of the read: the moment another program saves.
        if not calls:
            if how == "appended":
                with path.open("a") as handle:
                    handle.write("Stack 9,SrTiO3,1,La0.7Sr")
            else:
                other = tmp_path / "saved.csv"
                other.write_text(HEADER + _rows(21))
                os.replace(other, path)
        calls.append(1)
        return False

    with pytest.raises(InputFileError, match="the sheet changed while it was read"):
        read_stacks(path, runtime=Runtime(control=Asking(should_stop)))


@pytest.mark.parametrize("make", [
    lambda folder: _csv(folder, 5000),
    lambda folder: hostile.write_xlsx(folder / "big.xlsx", hostile._rows_xml(
        [hostile.HEADER] + [[1, i, "Si", "001"] for i in range(1, 5000)])),
])
def test_reading_stops_when_the_run_is_asked_to_stop(tmp_path, make):
    path = make(tmp_path)
    asked = []

    def should_stop() -> int | None:
        asked.append(1)
        return signal.SIGTERM if len(asked) >= 3 else None

    with pytest.raises(Interrupted) as stopped:
        read_stacks(path, runtime=Runtime(control=Asking(should_stop)))
    assert stopped.value.signum == signal.SIGTERM
    assert len(asked) == 3  # stopped at once when asked, not at the end


def test_a_plain_true_from_should_stop_is_ctrl_c(tmp_path):
    with pytest.raises(Interrupted) as stopped:
        read_stacks(_csv(tmp_path, 10), runtime=Runtime(control=Asking(lambda: True)))
    assert stopped.value.signum == signal.SIGINT


def test_a_read_that_takes_too_long_is_refused(tmp_path):
    ticks = iter(range(0, 10_000, 7))  # a clock that jumps 7 s at every look
    with pytest.raises(InputFileError, match="took longer than 30 s"):
        read_stacks(_csv(tmp_path, 5000), runtime=Runtime(clock=lambda: float(next(ticks))))


def _csv(folder: Path, rows: int) -> Path:
    path = folder / "lab.csv"
    path.write_text(HEADER + _rows(rows))
    return path
