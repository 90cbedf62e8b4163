"""target-duckdb: a Singer target loading DuckDB with MERGE on keys and Arrow bulk loads.

ACTIVATE_VERSION ends a stream's full read: rows of the table with an older
`_sdc_table_version` (or none) are no longer in the source, and are deleted
(`hard_delete`) or marked with `_sdc_deleted_at` (the default, as the SDK's SQL targets).
"""

from __future__ import annotations

import typing as t
from functools import cached_property

import msgspec
from singer_sdk import Target
from singer_sdk import typing as th
from singer_sdk.helpers.capabilities import (
    PluginCapabilities,
    TargetCapabilities,
    TargetLoadMethods,
)
from singer_sdk.io_base import SingerReader
from singer_sdk.singerlib.exceptions import InvalidInputLine
from typing_extensions import override

from target_duckdb.sink import DuckDBSink
from target_duckdb.warehouse import Warehouse

if t.TYPE_CHECKING:
    from collections.abc import Sequence

    from singer_sdk.helpers.capabilities import CapabilitiesEnum
    from singer_sdk.sinks import Sink


class FloatJSONReader(SingerReader):
    """Reads Singer messages with msgspec, JSON numbers as floats (not the SDK's Decimals).

    Numbers land in DOUBLE columns anyway, and floats go straight into Arrow and into
    the JSON text of nested values.
    """

    @override
    def deserialize_json(self, line: str) -> dict:
        try:
            return t.cast("dict", msgspec.json.decode(line))
        except msgspec.DecodeError as exc:
            msg = f"Unable to parse line as JSON ({exc}): {line[:200]}"
            raise InvalidInputLine(msg) from exc


class TargetDuckDB(Target):
    """Singer target for DuckDB."""

    name = "target-duckdb"
    capabilities: t.ClassVar[list[CapabilitiesEnum]] = [
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
        PluginCapabilities.BATCH,
        PluginCapabilities.ACTIVATE_VERSION,
        TargetCapabilities.HARD_DELETE,
        TargetCapabilities.VALIDATE_RECORDS,
        TargetCapabilities.TARGET_SCHEMA,
    ]
    config_jsonschema = th.PropertiesList(
        th.Property(
            "path",
            th.StringType,
            required=True,
            title="Database path",
            description="DuckDB database file; missing parent directories are created.",
        ),
        th.Property(
            "default_target_schema",
            th.StringType,
            default="main",
            title="Default target schema",
            description="Schema receiving every stream's table (created if missing).",
        ),
        th.Property(
            "load_method",
            th.StringType,
            allowed_values=[method.value for method in TargetLoadMethods],
            default=TargetLoadMethods.UPSERT.value,
            title="Load method",
            description=(
                "`upsert` merges on the stream's key properties (last record of a key"
                " wins) and appends streams without keys; `append-only` always appends;"
                " `overwrite` empties each table at its first load of the run, then"
                " upserts."
            ),
        ),
        th.Property(
            "hard_delete",
            th.BooleanType,
            default=False,
            title="Hard delete",
            description=(
                "On ACTIVATE_VERSION, delete the rows the source no longer has; off: keep"
                " them with `_sdc_deleted_at` set (soft delete). Needs add_record_metadata."
            ),
        ),
        th.Property(
            "delete_batch_files",
            th.BooleanType,
            default=False,
            title="Delete BATCH files once loaded",
            description=(
                "Remove each local BATCH file after its rows are committed (a crash before"
                " that leaves the file; loading it again is harmless, the merge is idempotent)."
            ),
        ),
        th.Property(
            "memory_limit",
            th.StringType,
            default="384MB",
            title="DuckDB memory limit",
            description=(
                "DuckDB's memory_limit: it spills and evicts beyond it, so the loader's peak"
                " RSS stays flat whatever it loads. Empty: DuckDB's default (80% of RAM)."
                " Lower limits cost speed (256MB: about 25 %; docs/benchmarks.md,"
                " memory_growth)."
            ),
        ),
    ).to_dict()
    default_sink_class = DuckDBSink
    message_reader_class = FloatJSONReader

    @override
    def __init__(self, **kwargs: t.Any) -> None:
        super().__init__(**kwargs)
        # One DuckDB connection, used by one drain at a time; DuckDB parallelises
        # each statement itself.
        self.max_parallelism = 1
        self._loads_at_state = 0
        self._written_state: dict | None = None

    @cached_property
    def warehouse(self) -> Warehouse:
        return Warehouse(self.config["path"], self.config.get("memory_limit"))

    @override
    def _process_state_message(self, message_dict: dict) -> None:
        """Pass a STATE on as soon as a full batch has been committed since the last one.

        The SDK passes STATE on only when it drains every sink (end of input, or
        every 5 minutes), so a killed run would restart from the beginning. Here the
        first STATE after a sink filled and was committed drains the other sinks
        (the records before this STATE) and is passed on: a rerun resumes at most
        about one batch (`batch_size_rows`) behind.
        """
        super()._process_state_message(message_dict)
        if self.warehouse.loads != self._loads_at_state:
            self.drain_all()  # commits the rest, then writes the STATE
            self._loads_at_state = self.warehouse.loads

    @override
    def _write_state_message(self, state: dict) -> None:
        """Write a STATE unless it is the one written last (the end of input repeats it)."""
        if state != self._written_state:
            super()._write_state_message(state)
            self._written_state = state

    @override
    def get_sink(
        self,
        stream_name: str,
        *,
        record: dict | None = None,
        schema: dict | None = None,
        key_properties: Sequence[str] | None = None,
    ) -> Sink:
        """Return the stream's sink, loading a sink retired by a new SCHEMA first.

        The SDK drains a retired sink only at the next full drain, possibly after
        its successor loaded newer rows of the same keys; draining it here keeps
        loads in arrival order.
        """
        if schema is not None and self.sink_exists(stream_name):
            current = super().get_sink(stream_name)
            if current.original_schema != schema or current.key_properties != key_properties:
                self.drain_one(current)
        return super().get_sink(
            stream_name, record=record, schema=schema, key_properties=key_properties
        )

    @override
    def process_endofpipe(self) -> None:
        """Drain every sink (then STATE goes out), then checkpoint and close DuckDB."""
        super().process_endofpipe()
        self.warehouse.close()
