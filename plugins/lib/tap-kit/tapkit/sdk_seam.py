"""The one place the taps reach into singer-sdk's private API (pinned: 0.54.9).

The SDK has no public hook for some of what the taps need. Each override of a private
(or final) SDK method is here, turned into a public method of ours that the rest of
tapkit and the taps use instead; so are the private members they call. The test
``plugins/lib/tap-kit/tests/test_sdk_seam.py`` fails, naming the method, when an SDK
upgrade renames one, changes its parameters or stops calling it: then read the new
SDK's code and adapt this module alone.

Overridden (why):

- ``Tap.sync_all`` — final in the SDK, and its only way to run streams is one after
  another: :meth:`SeamTap.sync_all` runs :meth:`SeamTap.sync_selected` instead
  (``tapkit.concurrency`` syncs several streams at once).
- ``PluginBase._validate_config`` — the SDK reports a settings error in JSON Schema's
  phrasing; :meth:`SeamTap._validate_config` words each one with
  :func:`tapkit.settings.setting_errors` (which setting, what it must be).
- ``Stream._increment_stream_state`` — the per-record bookmark update: taken under
  :data:`SYNC_LOCK` (streams share one state) and only when
  :meth:`SeamStream.advances_bookmark` says the record moves the bookmark (tap-edcast
  moves it per page, tap-xactly only forward).
- ``Stream._finalize_state``, ``Stream._write_starting_replication_value``,
  ``Stream._write_replication_key_signpost`` — change the shared state: under the lock.
- ``Stream._write_schema_message``, ``Stream._write_record_message`` — the SCHEMA and
  RECORD writes, as :meth:`SeamStream.schema_due` and :meth:`SeamStream.record_due`
  (tap-adaptive holds a SCHEMA back until the stream's first record).

Called (no public equivalent): ``Tap._reset_state_progress_markers``,
``Tap._set_compatible_replication_methods``, the tap's ``_state_writer`` (the SDK's
streams write STATE through it), ``Stream._write_state_message``,
``Stream._write_activate_version_message``, ``Stream._stream_version`` (the version
records carry), ``Stream._tap``, ``RESTStream._prepare_request`` and
``RESTStream._request`` (tap-zengrc's page loop, :class:`SeamRESTStream`), and
``singer_sdk.helpers._batch`` and ``singer_sdk.helpers._state`` (BATCH types, the
SDK's STATE writer).
"""

from __future__ import annotations

import threading
import typing as t

from singer_sdk import Stream, Tap
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers._batch import (
    BaseBatchFileEncoding,
    BatchConfig,
    JSONLinesEncoding,
    ParquetEncoding,
)
from singer_sdk.helpers._state import StateWriter
from singer_sdk.streams import RESTStream
from typing_extensions import override

from tapkit.settings import setting_errors

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers import types
    from singer_sdk.pagination import BaseAPIPaginator

__all__ = [
    "SYNC_LOCK",
    "BaseBatchFileEncoding",
    "BatchConfig",
    "JSONLinesEncoding",
    "LockedStateWriter",
    "ParquetEncoding",
    "SeamRESTStream",
    "SeamStream",
    "SeamTap",
]

_Token = t.TypeVar("_Token")

SYNC_LOCK = threading.RLock()
"""Held while a message is written or the tap state is read or changed."""


class LockedStateWriter(StateWriter):
    """Compares and snapshots the shared state while no stream changes it."""

    @override
    def write_state(self, state: types.TapState) -> None:
        with SYNC_LOCK:
            super().write_state(state)


class SeamTap(Tap):
    """A tap whose sync is :meth:`sync_selected`, with settings errors in words."""

    @override
    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._state_writer = LockedStateWriter(self.message_writer)

    @override  # type: ignore[misc]  # final in the SDK (see the module docstring)
    def sync_all(self) -> None:
        self.sync_selected()

    def sync_selected(self) -> None:
        """Sync the selected streams (what the SDK's ``sync_all`` does)."""
        raise NotImplementedError

    def prepare_sync(self) -> None:
        """What the SDK's ``sync_all`` does before its first stream."""
        self._reset_state_progress_markers()
        self._set_compatible_replication_methods()

    def write_state(self) -> None:
        """Write the tap's whole state as a STATE message (when it has one)."""
        if self.state:
            self._state_writer.write_state(self.state)

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        try:
            return super()._validate_config(raise_errors=raise_errors)
        except ConfigValidationError as exc:
            worded = setting_errors(self.name, self.config_jsonschema, dict(self.config))
            raise ConfigValidationError(
                str(exc), errors=worded or exc.errors, schema=exc.schema
            ) from None


class SeamStream(Stream):
    """A stream whose state changes are taken under :data:`SYNC_LOCK`, with public
    names for the SDK's private message writes."""

    @property
    def tap(self) -> Tap:
        """The tap this stream belongs to."""
        return self._tap

    def advances_bookmark(self, record: types.Record, context: types.Context | None) -> bool:
        """Whether a record just sent moves the bookmark by the SDK's rules (here: yes)."""
        return True

    @override
    def _increment_stream_state(
        self, latest_record: types.Record, *, context: types.Context | None = None
    ) -> None:
        with SYNC_LOCK:
            if self.advances_bookmark(latest_record, context):
                super()._increment_stream_state(latest_record, context=context)

    @override
    def _finalize_state(self, state: dict | None = None) -> None:
        with SYNC_LOCK:
            super()._finalize_state(state)

    @override
    def _write_starting_replication_value(self, context: types.Context | None) -> None:
        with SYNC_LOCK:
            super()._write_starting_replication_value(context)

    @override
    def _write_replication_key_signpost(self, context: types.Context | None, value: t.Any) -> None:
        with SYNC_LOCK:
            super()._write_replication_key_signpost(context, value)

    def write_bookmark_cap(self, value: t.Any) -> None:
        """Cap the bookmark this sync may reach at ``value`` (the SDK's signpost)."""
        self._write_replication_key_signpost(self.context, value)

    @override
    def _write_schema_message(self) -> None:
        self.schema_due()

    def schema_due(self) -> None:
        """The SDK asks for the stream's SCHEMA message: written now."""
        self.write_schema()

    def write_schema(self) -> None:
        """Write the stream's SCHEMA message."""
        super()._write_schema_message()

    @override
    def _write_record_message(self, record: types.Record) -> None:
        self.record_due(record)

    def record_due(self, record: types.Record) -> None:
        """The SDK sends a record: written now."""
        self.write_record(record)

    def write_record(self, record: types.Record) -> None:
        """Write one RECORD message (stamped with :attr:`records_version`)."""
        super()._write_record_message(record)

    def write_state(self) -> None:
        """Write the tap's state, when it changed since the last STATE message."""
        self._write_state_message()

    def write_activate_version(self, version: int) -> None:
        """Write ACTIVATE_VERSION (the SDK's writer: it honours stream maps' aliases)."""
        self._write_activate_version_message(version)

    @property
    def records_version(self) -> int | None:
        """The table version the stream's RECORD messages carry (None: none)."""
        return self._stream_version

    @records_version.setter
    def records_version(self, version: int) -> None:
        self._stream_version = version


class SeamRESTStream(RESTStream[_Token]):
    """The SDK's request steps by public names, for a page loop of one's own."""

    def prepare_page_request(
        self, context: types.Context | None, paginator: BaseAPIPaginator
    ) -> requests.PreparedRequest:
        """The request of the paginator's current page."""
        return self._prepare_request(context=context, page=paginator)

    def send_request(
        self, prepared: requests.PreparedRequest, context: types.Context | None
    ) -> requests.Response:
        """Send it once, the response checked by ``validate_response``."""
        return self._request(prepared, context)
