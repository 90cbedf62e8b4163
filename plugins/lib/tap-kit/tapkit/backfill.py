"""Backfill: read a stream again from a date on, without reading it whole.

With the setting ``backfill_from`` (an ISO date or date-time; empty: off), an
incremental read starts at the earlier of its bookmark (less its look-back) and that
moment — never later than it would have, so a backfill cannot skip a row — and stays an
incremental read: no new table version is activated, so the loader keeps every row
older than the window, and rows read again are merged on their keys. The bookmark then
moves on as in any run. A read that is whole anyway (no bookmark yet, rows deleted at
the source, a run before that did not finish, a full-table stream) stays whole.

Used by ``dataops resync SCHEDULE --stream S --start-date D`` and the DAG parameter
``start_date``, which set ``TAP_<NAME>_BACKFILL_FROM`` for one run.
"""

from __future__ import annotations

import typing as t
from datetime import UTC, datetime

from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError

SETTING = "backfill_from"


def backfill_setting() -> th.Property:
    """The ``backfill_from`` setting every tap declares."""
    return th.Property(
        SETTING,
        th.StringType,
        description=(
            "Read the selected streams again from this ISO date or date-time on, "
            "incrementally (older rows stay); empty: off. Set for one run only."
        ),
    )


def instant(value: t.Any) -> datetime | None:
    """An ISO date or date-time (``T`` or a space between them) as a UTC datetime; None
    when it is not one."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def backfill_from(config: t.Mapping[str, t.Any]) -> datetime | None:
    """The moment a backfill starts at (None: no backfill); a clear error when the
    setting holds something else than an ISO date or date-time."""
    text = str(config.get(SETTING) or "").strip()
    if not text:
        return None
    moment = instant(text)
    if moment is None:
        msg = f"`{SETTING}` must be an ISO date or date-time such as 2024-05-01, got {text!r}"
        raise ConfigValidationError(msg, errors=[msg])
    return moment


def rewound(since: datetime, config: t.Mapping[str, t.Any]) -> datetime:
    """Where an incremental read that would start at ``since`` starts under a backfill:
    the earlier of the two (``since`` without a backfill). A naive ``since`` is UTC, and
    so is the answer then."""
    start = backfill_from(config)
    if start is None:
        return since
    if since.tzinfo is None:
        start = start.astimezone(UTC).replace(tzinfo=None)
    return min(since, start)
