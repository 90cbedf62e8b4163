"""Retry timing for flaky HTTP APIs: exponential backoff, and `Retry-After` honoured."""

from __future__ import annotations

import email.utils
import random
from dataclasses import dataclass
from datetime import UTC, datetime

import requests

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

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        wanted = retry_after if retry_after is not None else self.base_seconds * 2**attempt
        return min(self.max_seconds, wanted) * (1 + 0.1 * random.random())
