"""Streams synced in parallel threads without breaking Singer's rules.

Every message is written as one whole line under one lock, and the tap state is only
read (for a STATE message) or changed (bookmarks) under that same lock, so each STATE
message is a consistent snapshot that follows every record it covers.

A tap subclasses :class:`ConcurrentTap` and its streams :class:`LockedStateStream`.
``ConcurrentTap`` is also where every tap fails clearly (:meth:`ConcurrentTap.clear_failure`).
"""

from __future__ import annotations

import sys
import threading
import typing as t
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager

from singer_sdk import typing as th
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError
from singer_sdk.singerlib import SingerMessageType
from typing_extensions import override

from tapkit.backfill import backfill_from, backfill_setting
from tapkit.schemas import SchemaChanged, check_schemas, schema_policy_setting
from tapkit.sdk_seam import SYNC_LOCK, SeamStream, SeamTap

if t.TYPE_CHECKING:
    from singer_sdk import Stream
    from singer_sdk.singerlib import Message

__all__ = ["SYNC_LOCK", "ConcurrentTap", "LockedStateStream", "LockedWriter", "SyncCancelled"]


class LockedWriter(MsgSpecWriter):
    """Writes each Singer message as one whole line, whichever thread sends it.

    Serialising happens under the lock too: msgspec encodes into one shared buffer.
    Output is flushed at each STATE message rather than each record: a record still
    in the buffer when the process dies is covered by no STATE the target has seen.
    """

    @override
    def write_message(self, message: Message) -> None:
        with SYNC_LOCK:
            sys.stdout.buffer.write(self.format_message(message))
            if message.type == SingerMessageType.STATE:
                sys.stdout.flush()


class SyncCancelled(BaseException):
    """Stops a stream because another one failed (not an error of its own).

    A BaseException, so the SDK does not log it as this stream's failure.
    """


class LockedStateStream(SeamStream):
    """A stream whose changes to the shared tap state happen under the lock (the
    SDK's private ones: :class:`tapkit.sdk_seam.SeamStream`)."""

    def check_cancelled(self) -> None:
        """Raise :class:`SyncCancelled` once another stream of the tap has failed."""
        stopping = getattr(self.tap, "stopping", None)
        if stopping is not None and stopping.is_set():
            raise SyncCancelled(self.name)

    @override
    def finalize_state_progress_markers(self, state: dict | None = None) -> None:
        with SYNC_LOCK:
            super().finalize_state_progress_markers(state)


def sync_settings() -> list[th.Property]:
    """The settings every tap declares, read by :meth:`ConcurrentTap.sync_selected`:
    ``schema_policy`` and ``backfill_from``."""
    return [schema_policy_setting(), backfill_setting()]


def parallel_streams_setting(default: int, description: str) -> th.Property:
    """The ``max_parallel_streams`` setting, for a tap whose streams may run at once."""
    return th.Property(
        "max_parallel_streams",
        th.IntegerType(minimum=1),
        default=default,
        description=description,
    )


class ConcurrentTap(SeamTap):
    """Syncs the selected streams several at a time (:func:`parallel_streams_setting`).

    When one stream fails the others stop at their next record (fail fast). Before
    any stream starts, the schemas are checked for drift (:mod:`tapkit.schemas`). A
    failure with a clear message, in discovery or in the sync, ends the tap as
    :meth:`clear_failure` says.
    """

    message_writer_class = LockedWriter

    @override
    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        self.stopping = threading.Event()
        """Set when one stream fails: the others stop instead of running on."""
        super().__init__(*args, **kwargs)

    @property
    @override
    def streams(self) -> dict[str, Stream]:
        """The streams, discovered (or catalogued) at the first ask; a discovery that
        fails clearly ends the tap clearly."""
        with self.clear_failure():
            return super().streams

    @override
    def sync_selected(self) -> None:
        """Sync the selected streams, several at a time."""
        with self.clear_failure():
            backfill_from(self.config)  # a bad value fails before anything is read
        self.prepare_sync()
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
        self.write_state()

        def sync_one(stream: Stream) -> None:
            try:
                stream.sync()
                stream.finalize_state_progress_markers()
            except BaseException:
                self.stopping.set()
                raise

        workers = int(self.config.get("max_parallel_streams", 1))
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
        """How every tap fails: a :class:`FatalAPIError`, :class:`ConfigValidationError`
        or :class:`SchemaChanged` is already a clear message (which stream or setting,
        what to check, no secret): it is logged as one line, ``<tap> failed: <message>``,
        and the tap exits with status 1, without a traceback. Any other error is a bug:
        its traceback is kept."""
        try:
            yield
        except (FatalAPIError, ConfigValidationError, SchemaChanged) as exc:
            self.logger.error("%s failed: %s", self.name, exc)
            raise SystemExit(1) from exc
