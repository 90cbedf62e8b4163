"""tap-zengrc: Singer tap for the ZenGRC API v2.

Collections are independent cursors, so they are synced concurrently (one thread per
collection, at most `max_parallel_streams` at a time); tap-kit keeps Singer's
message order intact (`tapkit.concurrency`). What each run reads and sends, and how
deletions reach the loader: `tap_zengrc.scans`.
"""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th
from typing_extensions import override

from tap_zengrc.streams import COLLECTIONS, collection_stream
from tapkit.concurrency import ConcurrentTap, parallel_streams_setting, sync_settings
from tapkit.http import api_url_setting, http_settings

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream


class TapZenGRC(ConcurrentTap):
    """Singer tap for ZenGRC (GRC records: audits, controls, issues, risks, …)."""

    name = "tap-zengrc"

    config_jsonschema = th.PropertiesList(
        api_url_setting(
            "base_url", description="API root, e.g. https://<tenant>.api.zengrc.com/api/v2."
        ),
        th.Property("username", th.StringType, required=True, title="API key id", secret=True),
        th.Property("password", th.StringType, required=True, title="API key secret", secret=True),
        th.Property(
            "start_date",
            th.DateTimeType,
            description="Ignore objects last updated before this instant (first sync only).",
        ),
        *http_settings(60),
        *sync_settings(),
        th.Property(
            "lookback_seconds",
            th.IntegerType,
            default=300,
            description="Also send objects updated this long before the bookmark (updates "
            "committed late).",
        ),
        parallel_streams_setting(6, "Collections fetched at once (1 = one after another)."),
    ).to_dict()

    @override
    def discover_streams(self) -> list[Stream]:
        return [collection_stream(name)(tap=self) for name in COLLECTIONS]


if __name__ == "__main__":
    TapZenGRC.cli()
