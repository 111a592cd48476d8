"""The journal of writes in flight: what a run that died had sent, so that the next run
waits for those writes to land (or not) before it reads the server's records."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from layer_sync.run.journal import MARKER, SETTLE_S, Journal


def test_a_write_begun_and_never_settled_is_found_by_the_next_run(tmp_path):
    now = [1000.0]
    journal = Journal(tmp_path / "j.jsonl", wall=lambda: now[0])
    settle_a = journal.begin("layer 1 of sample 5")
    journal.begin("layer 2 of sample 5")  # its answer never came: the run died here
    settle_a()
    journal.close()
    later = Journal(tmp_path / "j.jsonl", wall=lambda: now[0] + 3)
    assert [e.what for e in later.unsettled()] == ["layer 2 of sample 5"]
    assert later.settle_wait() == SETTLE_S - 3  # until a late commit would have shown
    now[0] += SETTLE_S + 1
    assert Journal(tmp_path / "j.jsonl", wall=lambda: now[0]).settle_wait() == 0
    later.clear()
    assert later.unsettled() == [] and (tmp_path / "j.jsonl").read_bytes() == MARKER


def test_a_run_killed_with_sigkill_leaves_its_writes_in_flight_behind(tmp_path):
    path = tmp_path / "j.jsonl"
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from layer_sync.run.journal import Journal
        journal = Journal(Path({str(path)!r}))
        journal.begin("layer 1 of sample 1")()
        journal.begin("layer 2 of sample 1")
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], timeout=30)
    assert proc.returncode == -9
    assert [e.what for e in Journal(path).unsettled()] == ["layer 2 of sample 1"]


def test_a_line_cut_by_a_crash_and_an_unreadable_journal_are_survived(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_bytes(MARKER + b'{"event": "begin", "token": "a", "what": "x", "sent_at": 5}\n'
                     b'{"event": "be')
    assert [e.token for e in Journal(path).unsettled()] == ["a"]
    (tmp_path / "blocker").write_text("a file where the folder should be")
    bad = Journal(tmp_path / "blocker" / "file")
    bad.begin("layer 1 of sample 1")  # cannot be written: said on the log, never raised


def test_a_file_planted_where_the_journal_goes_is_never_written(tmp_path):
    """The journal sits in the folder every user shares: a file someone put there (another
    kind of file, or one with other names) is left as it is, and the run goes on."""
    precious = tmp_path / "precious.txt"
    precious.write_text("someone's notes")
    os.link(precious, tmp_path / "linked.jsonl")
    (tmp_path / "other.jsonl").write_text("not a journal")
    os.symlink(precious, tmp_path / "symlinked.jsonl")
    for name in ("linked.jsonl", "other.jsonl", "symlinked.jsonl"):
        journal = Journal(tmp_path / name)
        journal.begin("layer 1 of sample 1")()
        journal.clear()
        assert journal.unsettled() == []
    assert precious.read_text() == "someone's notes"
    assert (tmp_path / "other.jsonl").read_text() == "not a journal"
