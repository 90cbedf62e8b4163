"""Bounded retries for flaky sources: exponential backoff, `Retry-After` honoured.

One :class:`Retrier` serves every tap: the HTTP clients (:mod:`tapkit.http` decides
which responses are worth another attempt) and tap-xactly's JDBC reads (which pass
their own test of a permanent error).
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
import typing as t
from dataclasses import dataclass
from datetime import UTC, datetime

import requests
from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError
from typing_extensions import override

if t.TYPE_CHECKING:
    from collections.abc import Callable, Mapping

T = t.TypeVar("T")


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
            th.IntegerType(minimum=0),
            default=retries,
            description=f"Retries per {what} after a transient failure.",
        ),
        th.Property(
            "backoff_base_seconds",
            th.NumberType(minimum=0),
            default=base_seconds,
            description="First retry delay; doubles on each retry (Retry-After wins).",
        ),
        th.Property(
            "backoff_max_seconds",
            th.NumberType(minimum=0),
            default=60.0,
            description="Longest single retry delay, Retry-After included.",
        ),
    ]


class RetryableError(Exception):
    """A failure worth another attempt (also raised by response checks)."""

    @override
    def __init__(self, message: str, response: requests.Response | None = None) -> None:
        super().__init__(message)
        self.response = response


TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
"""Failures of the transport itself: always worth another attempt."""
TRANSIENT: tuple[type[BaseException], ...] = (RetryableError, *TRANSPORT_ERRORS)
"""What an HTTP attempt may fail with and still be tried again."""


def never_permanent(error: BaseException) -> bool:
    """The default test of a :class:`Retrier`: every caught failure is worth a retry."""
    return False


@dataclass(frozen=True)
class Retrier:
    """Runs an attempt until it succeeds, at most ``max_tries`` times.

    It catches ``failures`` only (anything else, such as a :class:`FatalAPIError` with
    its clear message, goes straight through). A caught failure ``is_permanent`` says
    would fail again, or the last one allowed, ends in a :class:`FatalAPIError` naming
    ``vendor``, what was tried and the failure as ``describe`` words it (secrets left
    out); the others are logged and retried after :class:`Backoff`'s delay.
    """

    vendor: str
    max_tries: int
    backoff: Backoff
    logger: logging.Logger
    failures: tuple[type[BaseException], ...] = TRANSIENT
    is_permanent: Callable[[BaseException], bool] = never_permanent
    describe: Callable[[BaseException], str] = str
    retry_action: str = "retrying"
    """What a retry does, in the warning: "retrying", "reconnecting"."""
    hint: str = ""
    """What to check once the retries are used up."""

    @classmethod
    def from_config(
        cls, vendor: str, config: Mapping[str, t.Any], logger: logging.Logger, **options: t.Any
    ) -> Retrier:
        """From the settings of :func:`retry_settings` (``max_retries`` after the first try)."""
        tries = int(config["max_retries"]) + 1
        return cls(vendor, tries, Backoff.from_config(config), logger, **options)

    def run(self, what: str, attempt: Callable[[], T]) -> T:
        tries = 0
        while True:
            tries += 1
            try:
                return attempt()
            except self.failures as exc:
                error = self.describe(exc)
                if self.is_permanent(exc):
                    msg = f"{self.vendor} {what}: {error} (an error no retry can fix)"
                    raise FatalAPIError(msg) from exc
                if tries >= self.max_tries:
                    hint = f"; {self.hint}" if self.hint else ""
                    msg = f"{self.vendor} {what}: gave up after {tries} attempts: {error}{hint}"
                    raise FatalAPIError(msg) from exc
                delay = self.backoff.delay(
                    tries - 1, retry_after_seconds(getattr(exc, "response", None))
                )
                self.logger.warning(
                    "%s %s: attempt %d of %d failed (%s); %s in %.2f s",
                    self.vendor,
                    what,
                    tries,
                    self.max_tries,
                    error,
                    self.retry_action,
                    delay,
                )
                time.sleep(delay)
