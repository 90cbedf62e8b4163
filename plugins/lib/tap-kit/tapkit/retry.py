"""Retries for flaky HTTP APIs: exponential backoff, `Retry-After` honoured, bounded."""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
import typing as t
from dataclasses import dataclass
from datetime import UTC, datetime

import requests
from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError

if t.TYPE_CHECKING:
    from collections.abc import Callable, Mapping

T = t.TypeVar("T")

# HTTP statuses worth another attempt: timeouts, rate limits, server and gateway errors.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def retry_after_seconds(
    response: requests.Response | None, now: float | None = None
) -> float | None:
    """Seconds the server asked us to wait (`Retry-After`: delta-seconds or HTTP date)."""
    if response is None:
        return None
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = datetime.now(UTC).timestamp() if now is None else now
    return max(0.0, when.timestamp() - current)


@dataclass(frozen=True)
class Backoff:
    """Delay before retry number `attempt` (0-based): base * 2**attempt, capped.

    A `Retry-After` from the server replaces the computed delay (still capped), and
    up to 10% jitter keeps parallel workers from retrying in lockstep.
    """

    base_seconds: float = 1.0
    max_seconds: float = 60.0

    @classmethod
    def from_config(cls, config: Mapping[str, t.Any]) -> Backoff:
        """From the settings of :func:`retry_settings`."""
        return cls(float(config["backoff_base_seconds"]), float(config["backoff_max_seconds"]))

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        wanted = retry_after if retry_after is not None else self.base_seconds * 2**attempt
        return min(self.max_seconds, wanted) * (1 + 0.1 * random.random())


def retry_settings(
    retries: int = 8, base_seconds: float = 1.0, what: str = "request"
) -> list[th.Property]:
    """The taps' retry settings: ``max_retries``, ``backoff_base_seconds``,
    ``backoff_max_seconds`` (read back by :meth:`Backoff.from_config`)."""
    return [
        th.Property(
            "max_retries",
            th.IntegerType,
            default=retries,
            description=f"Retries per {what} after a transient failure.",
        ),
        th.Property(
            "backoff_base_seconds",
            th.NumberType,
            default=base_seconds,
            description="First retry delay; doubles on each retry (Retry-After wins).",
        ),
        th.Property(
            "backoff_max_seconds",
            th.NumberType,
            default=60.0,
            description="Longest single retry delay, Retry-After included.",
        ),
    ]


class ThreadSessions:
    """One ``requests.Session`` per thread (a session is not safe to share)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def get(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session


class RetryableError(Exception):
    """A failure worth another attempt (also raised by response checks)."""

    def __init__(self, message: str, response: requests.Response | None = None) -> None:
        super().__init__(message)
        self.response = response


# Failures of the transport itself: always worth another attempt.
TRANSPORT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


@dataclass(frozen=True)
class Retrier:
    """Runs an attempt until it succeeds, at most ``max_tries`` times, then fails with a
    :class:`FatalAPIError` naming ``vendor``, what was tried and the last error."""

    vendor: str
    max_tries: int
    backoff: Backoff
    logger: logging.Logger

    def run(self, what: str, attempt: Callable[[], T]) -> T:
        for tries in range(1, self.max_tries + 1):
            try:
                return attempt()
            except RetryableError as exc:
                error: Exception = exc
                response = exc.response
            except TRANSPORT_ERRORS as exc:
                error, response = exc, None
            if tries == self.max_tries:
                break
            delay = self.backoff.delay(tries - 1, retry_after_seconds(response))
            self.logger.warning(
                "%s: attempt %d failed (%s); retrying in %.2fs", what, tries, error, delay
            )
            time.sleep(delay)
        msg = f"{self.vendor} {what}: gave up after {self.max_tries} attempts: {error}"
        raise FatalAPIError(msg)
