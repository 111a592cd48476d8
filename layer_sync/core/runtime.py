"""What a run is given from outside rather than deciding itself: how it reports progress."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """What a run calls as it goes (see the module's docstring)."""

    def __call__(self, phase: str, done: int, total: int | None, retries: int = 0) -> None: ...
