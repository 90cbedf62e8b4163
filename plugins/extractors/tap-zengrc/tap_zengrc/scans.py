"""What one sync of a ZenGRC collection reads and sends: scans, deletions, the bookmark.

The API has no server-side `updated_at` filter, so every run scans the whole collection
(cursor paging) and sends the objects changed since the bookmark: those updated at or
after it minus `lookback_seconds`, and those with an id above the largest one the last
completed scan saw (new objects, however old their `updated_at`: one committed late
is not lost).

Deletions, at no extra request: ZenGRC simply stops listing a deleted object. The
stream state keeps, from the last completed scan, its largest id and its number of
distinct ids. When a scan finds a different number of ids at or below that largest id,
objects were deleted (or ids appeared below it, as suspicious), and the collection is
read again in the same run as a full read: every object, with a new table version, then
ACTIVATE_VERSION, so the loader removes what ZenGRC no longer has. Without that record
(first sync, `--full-refresh`), or when a run was killed while scanning (it may have
loaded objects the record does not cover), the first scan is itself the full read, with
a version newer than the killed run's (even one killed in a full read: rows it loaded
may have been deleted since, and only a newer version removes them).

The bookmark never passes an object a scan may have missed: it is capped at the earlier
of our clock at sync start and the server's clock (`Date`) when it answered the first
page of the run's last scan. An object changed during the scan after the cursor passed
it has a later `updated_at`, so the next run reads it.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from singer_sdk.exceptions import FatalAPIError
from typing_extensions import override

from tap_zengrc.client import BASE_URL_HINT, ZenGRCStream, server_clock
from tapkit.backfill import rewound
from tapkit.concurrency import SYNC_LOCK

if t.TYPE_CHECKING:
    from collections.abc import Generator, Iterable

    import requests
    from singer_sdk.helpers.types import Context

LAST_MAX_ID = "scan_max_id"
"""State key: the largest id the last completed scan saw (null: it saw none)."""
LAST_ID_COUNT = "scan_id_count"
"""State key: how many distinct ids the last completed scan saw."""


@dataclass(frozen=True)
class IdCount:
    """The ids a completed scan saw, as the state keeps them: the largest, and how many
    (all of them at or below the largest)."""

    max_id: int | None
    count: int

    @classmethod
    def of(cls, ids: set[int]) -> IdCount:
        return cls(max(ids, default=None), len(ids))

    @classmethod
    def stored(cls, state: dict[str, t.Any]) -> IdCount | None:
        if LAST_ID_COUNT not in state:
            return None
        return cls(state.get(LAST_MAX_ID), int(state[LAST_ID_COUNT]))

    def store(self, state: dict[str, t.Any]) -> None:
        state[LAST_MAX_ID] = self.max_id
        state[LAST_ID_COUNT] = self.count

    def at_or_below_max(self, ids: set[int]) -> int:
        """How many of a later scan's `ids` are at or below this scan's largest id."""
        if self.max_id is None:
            return 0
        return sum(1 for object_id in ids if object_id <= self.max_id)


def parse_instant(value: object) -> datetime | None:
    """An ISO 8601 timestamp as an aware datetime (UTC when no offset is given)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def instant_text(moment: datetime) -> str:
    """One fixed-width UTC form (microseconds, `Z`) for `updated_at` and the bookmark's
    cap: the SDK compares bookmarks as text, and in this form text order is time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class CollectionStream(ZenGRCStream):
    """A ZenGRC collection, synced as the module docstring says."""

    _first_page_pending = False

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        with SYNC_LOCK:
            state = self.get_context_state(context)
            last = IdCount.stored(state)
        full = self.begin_read(context, full=last is None)
        seen = yield from self._scan(context, full=full, last=last)
        if not full and last is not None and (found := last.at_or_below_max(seen)) != last.count:
            self.logger.info(
                "%s: %d ids at or below %s, %d at the last scan: objects were deleted "
                "(or ids appeared below it); reading the collection whole",
                self.name,
                found,
                last.max_id,
                last.count,
            )
            full = self.begin_read(context, full=True)
            seen = yield from self._scan(context, full=True, last=None)
        with SYNC_LOCK:
            IdCount.of(seen).store(state)
        self.finish_read(context)

    def _scan(
        self, context: Context | None, *, full: bool, last: IdCount | None
    ) -> Generator[dict[str, t.Any], None, set[int]]:
        """One pass over the collection: yields the objects to send (all of them in a
        full read), returns every id it saw."""
        floor = parse_instant(self.config.get("start_date"))
        since = None if full else self.get_starting_timestamp(context)
        if since is not None:
            since = rewound(
                since - timedelta(seconds=float(self.config["lookback_seconds"])), self.config
            )
        known_up_to = None if last is None else last.max_id  # above it: new since
        seen: set[int] = set()
        self._first_page_pending = True
        for record in self.request_records(context):
            self.check_cancelled()
            object_id = record.get("id")
            if not isinstance(object_id, int) or isinstance(object_id, bool):
                msg = (
                    f"ZenGRC sent a {self.name} object without an integer `id` (got "
                    f"{object_id!r}); every ZenGRC v2 object has one: check that the "
                    f"tap-zengrc `base_url` setting is a ZenGRC API v2 ({BASE_URL_HINT})."
                )
                raise FatalAPIError(msg)
            seen.add(object_id)
            updated_at = parse_instant(record.get("updated_at"))
            if updated_at is None:
                yield record  # without a parseable `updated_at`: always passed on
                continue
            record["updated_at"] = instant_text(updated_at)
            if floor is not None and updated_at < floor:
                continue
            if (
                since is None
                or updated_at >= since
                or known_up_to is None
                or object_id > known_up_to
            ):
                yield record
        return seen

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        if self._first_page_pending:
            self._first_page_pending = False
            cap = self.bookmark_cap(server_clock(response))
            self.write_bookmark_cap(instant_text(cap))
        return super().parse_response(response)

    def bookmark_cap(self, server_now: datetime | None) -> datetime:
        """The most a scan may advance the bookmark to: the earlier of our clock at sync
        start and the server's when it answered the scan's first page (ours alone when
        the server sent no `Date`)."""
        ours = self._clock_at_start()
        return ours if server_now is None else min(ours, server_now)

    @override
    def get_replication_key_signpost(self, context: Context | None = None) -> str:
        """Our clock at sync start, in the records' form (the SDK caps bookmarks at it)."""
        return instant_text(self._clock_at_start())

    def _clock_at_start(self) -> datetime:
        return datetime.fromtimestamp(self.tap.initialized_at / 1000, tz=UTC)
