"""Data that moves on to the next epoch while a sync reads it (the ``move_after`` option)."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class MovingData(Generic[T]):
    """``current`` answers the first ``move_after`` requests, ``following`` every later one
    (``None`` ``move_after``: ``current`` answers all); as a live tenant changes under a
    long scan."""

    def __init__(self, current: T, following: T | None, move_after: int | None) -> None:
        if move_after is not None and move_after < 1:
            raise ValueError(f"move_after must be >= 1, got {move_after}")
        self._current, self._following = current, following
        self._move_after = move_after
        self._answered = 0
        self._lock = threading.Lock()
        self.moved = False
        """Whether a request was answered from ``following``."""

    def for_request(self) -> T:
        """The data this request is answered from (counting it towards ``move_after``)."""
        if self._following is None or self._move_after is None:
            return self._current
        with self._lock:
            self.moved = self.moved or self._answered == self._move_after
            self._answered += 1
        return self._following if self.moved else self._current
