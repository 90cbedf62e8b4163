"""tap-zengrc: Singer tap for the ZenGRC API v2.

Collections are independent cursors, so they are synced concurrently (one thread per
collection, at most `max_parallel_streams` at a time); tap-kit keeps Singer's
message order intact (`tapkit.concurrency`). What each run reads and sends, and how
deletions reach the loader: `tap_zengrc.scans`.
"""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th

from tap_zengrc.streams import COLLECTIONS, collection_stream
from tapkit.backfill import backfill_setting
from tapkit.concurrency import ConcurrentTap
from tapkit.retry import retry_settings
from tapkit.schemas import schema_policy_setting

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream


class TapZenGRC(ConcurrentTap):
    """Singer tap for ZenGRC (GRC records: audits, controls, issues, risks, …)."""

    name = "tap-zengrc"

    config_jsonschema = th.PropertiesList(
        th.Property(
            "base_url",
            th.StringType,
            required=True,
            title="Base URL",
            description="API root, e.g. https://<tenant>.api.zengrc.com/api/v2",
        ),
        th.Property("username", th.StringType, required=True, title="API key id", secret=True),
        th.Property("password", th.StringType, required=True, title="API key secret", secret=True),
        th.Property(
            "start_date",
            th.DateTimeType,
            description="Ignore objects last updated before this instant (first sync only).",
        ),
        th.Property(
            "request_timeout",
            th.IntegerType,
            default=60,
            description="Seconds to wait for one HTTP response before retrying.",
        ),
        *retry_settings(),
        schema_policy_setting(),
        backfill_setting(),
        th.Property(
            "lookback_seconds",
            th.IntegerType,
            default=300,
            description="Also send objects updated this long before the bookmark (updates "
            "committed late).",
        ),
        th.Property(
            "max_parallel_streams",
            th.IntegerType,
            default=6,
            description="Collections fetched at once (1 = one after another).",
        ),
    ).to_dict()

    def discover_streams(self) -> list[Stream]:
        return [collection_stream(name)(tap=self) for name in COLLECTIONS]


if __name__ == "__main__":
    TapZenGRC.cli()
