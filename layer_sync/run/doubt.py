"""Writes whose outcome is unknown, settled rather than guessed.

`Reconciler`: the server's records read again for the writes in doubt, one GET for all the
writes in doubt at that moment, always a GET that started after they came into doubt.
`Creates`: what a create needs besides its row: the client, the reconciler, and the journal
of writes in flight (`journal.Journal`), in which each create is noted while its outcome is
unknown. The client waits until a write in doubt was sent `settle_s` ago before it asks
(`remote.client.ApiClient._settle`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..core.errors import ApiError
from ..plan.actions import NewSample
from ..plan.records import ServerIndex
from ..remote.answers import Answer
from ..remote.client import ApiClient
from .journal import Journal


class Reconciler:
    """Reads the server's records again for the writes whose outcome is unknown.

    Every caller waits for a GET that *started after* it came into doubt, and all callers
    in doubt at that moment share one GET: one request for the lot, not one per row.
    """

    def __init__(self, fetch: Callable[[], list[dict[str, Any]]]) -> None:
        self._fetch = fetch
        self._cond = threading.Condition()
        self._fetching = False
        self._generation = 0
        self._results: dict[int, tuple[list[dict[str, Any]] | None, BaseException | None]] = {}
        self._index: tuple[list[dict[str, Any]], ServerIndex] | None = None

    def index(self) -> ServerIndex:
        """Fresh records, indexed once per GET however many rows look them up."""
        entries = self.entries()
        with self._cond:
            cached = self._index
            if cached is None or cached[0] is not entries:
                cached = self._index = (entries, ServerIndex.build(entries))
        return cached[1]

    def entries(self) -> list[dict[str, Any]]:
        """Fresh records: from a GET that starts after this call."""
        with self._cond:
            # A GET already under way may have read before our write: wait for the next one.
            wanted = self._generation + (2 if self._fetching else 1)
            while self._generation < wanted:
                if not self._fetching:
                    self._fetching = True
                    leader = True
                    break
                self._cond.wait()
            else:
                leader = False
        if leader:
            records: list[dict[str, Any]] | None = None
            error: BaseException | None = None
            try:
                records = self._fetch()
            except BaseException as exc:  # noqa: BLE001 - handed to every waiter, raised there
                error = exc
            with self._cond:
                self._generation += 1
                self._results = {self._generation: (records, error)}
                self._fetching = False
                self._cond.notify_all()
        with self._cond:
            records, error = self._results.get(self._generation, (None, None))
        if error is not None:
            raise error
        return records or []

    def layer(self, key: tuple[int, int]) -> dict[str, Any] | None:
        return self.index().find(key)

    def sample(self, group: NewSample, known: set[int]) -> dict[str, Any] | None:
        """The target material a lost POST created: named like the group, and new."""
        index = self.index()
        fresh = [i for i in index.named(group.sample_name, group.substrate) if i not in known]
        if not fresh:
            return None
        sample_id = min(fresh)
        return {"sample_id": sample_id, "layers": {k[1] for k in index.layers if k[0] == sample_id}}



class Creates:
    """What a create needs besides its row: the client, the re-read that settles a write in
    doubt, and the journal of writes in flight (None: none kept)."""

    def __init__(self, client: ApiClient, reconciler: Reconciler,
                 journal: Journal | None = None) -> None:
        self.client = client
        self.reconciler = reconciler
        self.journal = journal

    def send(self, what: str, write: Callable[[], Answer]) -> Answer:
        """Send a create, noted in the journal while its outcome is unknown: settled once
        the server answered (or the re-read found it, or it was refused); left open when
        its outcome stays unknown, so that the next run waits for it to land or not."""
        if self.journal is None:
            return write()
        settle = self.journal.begin(what)
        try:
            answer = write()
        except ApiError as exc:
            if not exc.in_doubt:  # refused, or never sent
                settle()
            raise
        settle()
        return answer
