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
stream's last version when the clock has not moved on. Every read marks the stream
state as unfinished before its first record and clears the mark at its end. A run
that finds the mark — the one before was killed or failed — does a full read, from the
start, with a newer version: the loader may hold rows that run sent after its last
STATE, and a later deletion at the source would leave them behind; a full read
activated with a newer version removes them. (Resuming a killed full read with its
own version would keep them too.)
"""

from __future__ import annotations

import time
import typing as t

from singer_sdk.exceptions import ConfigValidationError
from typing_extensions import override

from tapkit.concurrency import SYNC_LOCK, LockedStateStream

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tapkit.sdk_seam import BatchConfig

UNFINISHED = "unfinished_read"
"""State key: the version of a read that has begun and not ended (None: none)."""
LAST_VERSION = "table_version"
"""State key: the last version this stream sent records with."""


class VersionedStream(LockedStateStream):
    """A stream whose records carry a table version, and whose full reads end with
    ``ACTIVATE_VERSION`` (see the module docstring)."""

    _full_read = False

    def last_read_unfinished(self, context: Context | None) -> bool:
        """Whether the run before was killed or failed in the middle of this stream."""
        return self.get_context_state(context).get(UNFINISHED) is not None

    def begin_read(self, context: Context | None, *, full: bool) -> bool:
        """Start this run's read: every record from now on carries its version. Writes
        a STATE marking the read unfinished before any record.

        Returns whether it is a full read: ``full`` as asked, or True anyway when the
        run before did not finish. A full read sends every row from the start,
        whatever bookmark the state holds.
        """
        with SYNC_LOCK:
            state = self.get_context_state(context)
            version = max(int(time.time()), int(state.get(LAST_VERSION, 0)) + 1)
            full = full or state.get(UNFINISHED) is not None
            state[UNFINISHED] = version
            state[LAST_VERSION] = version
            self.state_manager.is_flushed = False
        self.records_version = version
        self._full_read = full
        self.write_state()
        if full:
            self.logger.info("%s: full read, table version %d", self.name, version)
        return full

    @override
    def get_batches(self, batch_config: BatchConfig, context: Context | None = None) -> t.Any:
        """The SDK's BATCH files would carry no table version, so a full read's
        activation would delete their rows downstream: a stream writes BATCH files only
        if it stamps them itself (tap-edcast's dataset streams do)."""
        msg = (
            f"{self.tap_name} stream {self.name!r} does not write BATCH files (their rows "
            "would carry no table version): remove `batch_config` from the tap's settings"
        )
        raise ConfigValidationError(msg, errors=[msg])

    @property
    def table_version(self) -> int:
        """The version this run's records carry (after :meth:`begin_read`)."""
        if self.records_version is None:
            msg = f"{self.name}: begin_read() must come before any record"
            raise RuntimeError(msg)
        return self.records_version

    def finish_read(self, context: Context | None) -> None:
        """The read sent everything it meant to. A full read is then activated: every
        row the source has was sent with this version, so the loader may remove the
        older ones. The unfinished mark is cleared (set to None, not removed: Meltano
        merges a partial state onto the stored one, where a removed key would live on)."""
        if self._full_read:
            self.write_activate_version(self.table_version)
        with SYNC_LOCK:
            self.get_context_state(context)[UNFINISHED] = None
            self.state_manager.is_flushed = False
