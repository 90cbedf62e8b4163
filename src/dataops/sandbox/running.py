"""What every running sandbox offers, however it is served (HTTP or JDBC)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol, Self


class StatsSnapshot(Protocol):
    def snapshot(self) -> dict[str, Any]:
        """The counters as JSON-ready values."""
        ...


class RunningSandbox(ABC):
    """A started sandbox; a context manager that closes it."""

    vendor: str
    host: str
    port: int
    url: str
    """Where a client connects: the API's base URL, or the JDBC URL."""
    origin: str
    credentials: dict[str, str]
    stats: StatsSnapshot

    @property
    def moved(self) -> bool:
        """Whether the data moved on to the next epoch while serving (``move_after``)."""
        return False

    @abstractmethod
    def close(self) -> None:
        """Stop serving and release what the sandbox holds."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
