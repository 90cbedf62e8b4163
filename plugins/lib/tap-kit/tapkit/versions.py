"""Table versions: how a tap tells the loader which rows the source no longer has.

Every record a stream sends carries this run's table version (Singer's RECORD
``version``; loaders store it as ``_sdc_table_version``). A *full read* — one that
sends every row the source has, such as a first sync, a ``--full-refresh``, a small
stream read whole each run, or a reload after deletions were detected — ends with
``ACTIVATE_VERSION``: the loader then deletes, or marks with ``_sdc_deleted_at``, every
row of the table with an older version (or none). Incremental runs stamp their records
too, so that rows they loaded are older than the next full read's version in every
loader (target-snowflake never deletes a row without a version).

Versions only grow: a run's version is the clock in seconds, or one more than the
stream's last version when the clock has not moved on. A full read marks the stream
state; a run killed before the end leaves the mark, and the next run reads the stream
whole again, from the start, with a newer version. (Resuming the killed read with its
own version would keep any row it loaded that the source deleted before the rerun.)
"""

from __future__ import annotations

import time
import typing as t

from singer_sdk.exceptions import ConfigValidationError

from tapkit.concurrency import SYNC_LOCK, LockedStateStream

if t.TYPE_CHECKING:
    from singer_sdk.helpers._batch import BatchConfig
    from singer_sdk.helpers.types import Context

FULL_READ = "full_read_version"
"""State key: the version of a full read that has begun and not yet been activated."""
LAST_VERSION = "table_version"
"""State key: the last version this stream sent records with."""


class VersionedStream(LockedStateStream):
    """A stream whose records carry a table version, and whose full reads end with
    ``ACTIVATE_VERSION`` (see the module docstring)."""

    def begin_read(self, context: Context | None, *, full: bool) -> bool:
        """Start this run's read: every record from now on carries its version.

        Returns whether it is a full read: ``full`` as asked, or True anyway when a
        killed run left a full read unfinished. A full read sends every row from the
        start, whatever bookmark the state holds.
        """
        with SYNC_LOCK:
            state = self.get_context_state(context)
            version = max(int(time.time()), int(state.get(LAST_VERSION, 0)) + 1)
            full = full or state.get(FULL_READ) is not None
            if full:
                state[FULL_READ] = version
            state[LAST_VERSION] = version
            self.state_manager.is_flushed = False
        self._stream_version = version
        if full:
            self.logger.info("%s: full read, table version %d", self.name, version)
        return full

    def get_batches(self, batch_config: BatchConfig, context: Context | None = None) -> t.Any:
        """The SDK's BATCH files would carry no table version, so a full read's
        activation would delete their rows downstream: a stream writes BATCH files only
        if it stamps them itself (tap-edcast's datasets do)."""
        msg = (
            f"{self._tap.name} stream {self.name!r} does not write BATCH files (their rows "
            "would carry no table version): remove `batch_config` from the tap's settings"
        )
        raise ConfigValidationError(msg, errors=[msg])

    @property
    def table_version(self) -> int:
        """The version this run's records carry (after :meth:`begin_read`)."""
        if self._stream_version is None:
            msg = f"{self.name}: begin_read() must come before any record"
            raise RuntimeError(msg)
        return self._stream_version

    def finish_full_read(self, context: Context | None) -> None:
        """Every row the source has was sent with this version: let the loader remove
        the older ones, then clear the stream's unfinished-full-read mark."""
        # The SDK's own writer for this message (it honours stream maps' aliases).
        self._write_activate_version_message(self.table_version)
        with SYNC_LOCK:
            self.get_context_state(context).pop(FULL_READ, None)
            self.state_manager.is_flushed = False
