"""Streams synced in parallel threads without breaking Singer's rules.

Every message is written as one whole line under one lock, and the tap state is only
read (for a STATE message) or changed (bookmarks) under that same lock, so each STATE
message is a consistent snapshot that follows every record it covers.

A tap subclasses :class:`ConcurrentTap` and its streams :class:`LockedStateStream`.
"""

from __future__ import annotations

import sys
import threading
import typing as t
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager

from singer_sdk import Stream, Tap
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError
from singer_sdk.helpers._state import StateWriter
from singer_sdk.singerlib import SingerMessageType

from tapkit.backfill import backfill_from
from tapkit.schemas import SchemaChanged, check_schemas

if t.TYPE_CHECKING:
    from singer_sdk.helpers import types
    from singer_sdk.singerlib import Message

SYNC_LOCK = threading.RLock()


class LockedWriter(MsgSpecWriter):
    """Writes each Singer message as one whole line, whichever thread sends it.

    Serialising happens under the lock too: msgspec encodes into one shared buffer.
    Output is flushed at each STATE message rather than each record: a record still
    in the buffer when the process dies is covered by no STATE the target has seen.
    """

    def write_message(self, message: Message) -> None:
        with SYNC_LOCK:
            sys.stdout.buffer.write(self.format_message(message))
            if message.type == SingerMessageType.STATE:
                sys.stdout.flush()


class LockedStateWriter(StateWriter):
    """Compares and snapshots the shared state while no stream changes it."""

    def write_state(self, state: types.TapState) -> None:
        with SYNC_LOCK:
            super().write_state(state)


class SyncCancelled(BaseException):
    """Stops a stream because another one failed (not an error of its own).

    A BaseException, so the SDK does not log it as this stream's failure.
    """


class LockedStateStream(Stream):
    """A stream whose changes to the shared tap state happen under the lock."""

    def check_cancelled(self) -> None:
        """Raise :class:`SyncCancelled` once another stream of the tap has failed."""
        stopping = getattr(self._tap, "stopping", None)
        if stopping is not None and stopping.is_set():
            raise SyncCancelled(self.name)

    def _increment_stream_state(
        self, latest_record: types.Record, *, context: types.Context | None = None
    ) -> None:
        with SYNC_LOCK:
            super()._increment_stream_state(latest_record, context=context)

    def _finalize_state(self, state: dict | None = None) -> None:
        with SYNC_LOCK:
            super()._finalize_state(state)

    def _write_starting_replication_value(self, context: types.Context | None) -> None:
        with SYNC_LOCK:
            super()._write_starting_replication_value(context)

    def _write_replication_key_signpost(self, context: types.Context | None, value: t.Any) -> None:
        with SYNC_LOCK:
            super()._write_replication_key_signpost(context, value)

    def finalize_state_progress_markers(self, state: dict | None = None) -> None:
        with SYNC_LOCK:
            super().finalize_state_progress_markers(state)


class ConcurrentTap(Tap):
    """Syncs the selected streams several at a time (setting `max_parallel_streams`).

    When one stream fails the others stop at their next record (fail fast); a
    :class:`FatalAPIError` is reported as its clear message (:meth:`clear_failure`).
    Before any stream starts, the schemas are checked for drift (:mod:`tapkit.schemas`).
    """

    message_writer_class = LockedWriter

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._state_writer = LockedStateWriter(self.message_writer)
        self.stopping = threading.Event()
        """Set when one stream fails: the others stop instead of running on."""

    def parallel_streams(self) -> int:
        workers = int(self.config.get("max_parallel_streams", 1))
        if workers < 1:
            msg = f"{self.name} `max_parallel_streams` must be at least 1, got {workers}"
            raise ConfigValidationError(msg, errors=[msg])
        return workers

    # The SDK marks sync_all final; it has no hook for running streams concurrently.
    def sync_all(self) -> None:  # type: ignore[misc]
        """Sync the selected streams, several at a time."""
        with self.clear_failure():
            workers = self.parallel_streams()
            backfill_from(self.config)  # a bad value fails before anything is read
        self._reset_state_progress_markers()
        self._set_compatible_replication_methods()
        streams = [s for s in self.streams.values() if s.selected or s.has_selected_descendents]
        for stream in streams:
            _ = stream.stream_state  # create each stream's state entry before threads start
        with self.clear_failure():
            if not streams:
                msg = (
                    f"{self.name}: no stream is selected. A name given to `--select` (or to a "
                    f"DAG run's `streams`) that matches no stream selects nothing; the streams "
                    f"are: {', '.join(sorted(self.streams))}"
                )
                raise ConfigValidationError(msg, errors=[msg])
            check_schemas(self.name, streams, str(self.config.get("schema_policy", "evolve")))
        if self.state:
            self._state_writer.write_state(self.state)

        def sync_one(stream: Stream) -> None:
            try:
                stream.sync()
                stream.finalize_state_progress_markers()
            except BaseException:
                self.stopping.set()
                raise

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=self.name) as pool:
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
            with self.clear_failure():
                raise failures[0]

    @contextmanager
    def clear_failure(self) -> Iterator[None]:
        """A :class:`FatalAPIError`, :class:`ConfigValidationError` or
        :class:`SchemaChanged` is already a clear message (which stream or setting, what to
        check): logged, exit 1, no traceback."""
        try:
            yield
        except (FatalAPIError, ConfigValidationError, SchemaChanged) as exc:
            self.logger.error("%s failed: %s", self.name, exc)
            raise SystemExit(1) from exc
