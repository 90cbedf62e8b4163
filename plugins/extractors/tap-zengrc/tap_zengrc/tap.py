"""tap-zengrc: Singer tap for the ZenGRC API v2.

Collections are independent cursors, so they are synced concurrently (one thread per
collection, at most `max_parallel_streams` at a time); `concurrency.py` keeps Singer's
message order intact.
"""

from __future__ import annotations

import threading
import typing as t
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError

from tap_zengrc.client import SyncCancelled
from tap_zengrc.concurrency import LockedStateWriter, LockedWriter
from tap_zengrc.streams import COLLECTIONS, collection_stream

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream


class TapZenGRC(Tap):
    """Singer tap for ZenGRC (GRC records: audits, controls, issues, risks, …)."""

    name = "tap-zengrc"
    message_writer_class = LockedWriter

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
        th.Property(
            "max_retries",
            th.IntegerType,
            default=8,
            description="Retries per request on 429, 5xx, timeouts and broken bodies.",
        ),
        th.Property(
            "backoff_base_seconds",
            th.NumberType,
            default=1.0,
            description="First retry delay; doubles on each retry (Retry-After wins).",
        ),
        th.Property(
            "backoff_max_seconds",
            th.NumberType,
            default=60.0,
            description="Longest single retry delay, Retry-After included.",
        ),
        th.Property(
            "lookback_seconds",
            th.IntegerType,
            default=300,
            description="Re-read objects updated this long before the bookmark (clock skew).",
        ),
        th.Property(
            "max_parallel_streams",
            th.IntegerType,
            default=6,
            description="Collections fetched at once (1 = one after another).",
        ),
    ).to_dict()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._state_writer = LockedStateWriter(self.message_writer)
        self.stopping = threading.Event()
        """Set when one collection fails: the others stop instead of running on."""

    def discover_streams(self) -> list[Stream]:
        return [collection_stream(name)(tap=self) for name in COLLECTIONS]

    # The SDK marks sync_all final; it has no hook for running streams concurrently.
    def sync_all(self) -> None:  # type: ignore[misc]
        """Sync the selected collections, several at a time."""
        self._reset_state_progress_markers()
        self._set_compatible_replication_methods()
        if self.state:
            self._state_writer.write_state(self.state)
        streams = [s for s in self.streams.values() if s.selected or s.has_selected_descendents]
        for stream in streams:
            _ = stream.stream_state  # create each stream's state entry before threads start
        workers = max(1, int(self.config["max_parallel_streams"]))

        def sync_one(stream: Stream) -> None:
            try:
                stream.sync()
                stream.finalize_state_progress_markers()
            except BaseException:
                self.stopping.set()  # the other collections stop at their next record
                raise

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="zengrc") as pool:
            futures = [pool.submit(sync_one, stream) for stream in streams]
            wait(futures, return_when=FIRST_EXCEPTION)
            for future in futures:
                future.cancel()  # those not started yet
        failures = [
            error
            for future in futures
            if not future.cancelled()
            and (error := future.exception()) is not None
            and not isinstance(error, SyncCancelled)
        ]
        for stream in self.streams.values():
            stream.log_sync_costs()
        if failures:
            if isinstance(failures[0], FatalAPIError):
                # Already a clear message (which collection, what to check): no traceback.
                self.logger.error("tap-zengrc failed: %s", failures[0])
                raise SystemExit(1)
            raise failures[0]


if __name__ == "__main__":
    TapZenGRC.cli()
