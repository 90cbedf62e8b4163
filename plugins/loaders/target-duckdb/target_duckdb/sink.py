"""The stream sink: stages each batch (records as Arrow, BATCH files as DuckDB scans)."""

from __future__ import annotations

import datetime
import typing as t
import uuid
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import msgspec
import pyarrow as pa
from singer_sdk.helpers._batch import BatchFileFormat
from singer_sdk.sinks import BatchSink
from typing_extensions import override

from target_duckdb.typemap import STRING_TYPES, DuckType, column_type, member_types
from target_duckdb.warehouse import SEQ, Loaded, Source, TableSpec, literal, quote, table_name

if t.TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from singer_sdk.helpers._batch import BaseBatchFileEncoding
    from singer_sdk.helpers.conform import DatetimeErrorTreatmentEnum
    from singer_sdk.target_base import Target

    from target_duckdb.target import TargetDuckDB

_ARROW_TYPES = {
    DuckType.BIGINT: pa.int64(),
    DuckType.DOUBLE: pa.float64(),
    DuckType.BOOLEAN: pa.bool_(),
}


def _json_text(value: object) -> str:
    """Compact JSON text, as DuckDB writes it (msgspec: several times faster than json)."""
    return msgspec.json.encode(value).decode()


def _as_text(value: object) -> str:
    """A VARCHAR value: strings as they are, other JSON values as JSON text."""
    return value if isinstance(value, str) else _json_text(value)


class DuckDBSink(BatchSink):
    """Loads one stream into `<default_target_schema>.<stream table>`."""

    @override
    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: Sequence[str] | None,
    ) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        self.warehouse = t.cast("TargetDuckDB", target).warehouse
        properties: dict[str, dict] = self.schema["properties"]
        self.spec = TableSpec(
            stream=stream_name,
            schema=self.config["default_target_schema"],
            table=table_name(stream_name),
            columns={name: column_type(prop) for name, prop in properties.items()},
            keys=tuple(self.key_properties),
        )
        # Records stage with Arrow types; date-like strings and JSON are cast in DuckDB.
        self._arrow_schema = pa.schema(
            [
                (name, _ARROW_TYPES.get(ctype, pa.string()))
                for name, ctype in self.spec.columns.items()
            ]
        )
        self._converters: dict[str, Callable[[t.Any], str]] = {}
        for name, prop in properties.items():
            ctype = self.spec.columns[name]
            if ctype == DuckType.JSON:
                self._converters[name] = _json_text
            elif ctype == DuckType.VARCHAR and not member_types(prop) <= STRING_TYPES:
                self._converters[name] = _as_text

    @override
    def setup(self) -> None:
        """Create or evolve the stream's table for this SCHEMA message."""
        super().setup()
        self.warehouse.ensure_table(self.spec)

    @override
    def _parse_timestamps_in_record(
        self,
        record: dict,
        schema: dict,
        treatment: DatetimeErrorTreatmentEnum,
    ) -> None:
        """Keep date-like strings as sent: DuckDB casts them in bulk at load time.

        Skips the SDK's per-value Python parsing; a value DuckDB cannot read fails
        the batch with an error naming stream, column and value (see `Warehouse`).
        """

    @override
    def process_batch(self, context: dict) -> None:
        """Stage the batch's records as an Arrow table and load it in one transaction."""
        records: list[dict] = context.get("records", [])
        if not records:
            return
        for record in records:
            for name, convert in self._converters.items():
                value = record.get(name)
                if value is not None:
                    record[name] = convert(value)
        table = self._to_arrow(records).append_column(SEQ, pa.array(range(len(records))))
        view = f"stage_{uuid.uuid4().hex}"
        self.warehouse.connection.register(view, table)
        try:
            source = Source(
                relation=f"{quote(view)} AS src",
                types={
                    name: ctype if ctype in _ARROW_TYPES else DuckType.VARCHAR
                    for name, ctype in self.spec.columns.items()
                },
            )
            self._load(source)
        finally:
            self.warehouse.connection.unregister(view)

    @override
    def process_batch_files(
        self,
        encoding: BaseBatchFileEncoding,
        files: Sequence[str],
    ) -> None:
        """Load SDK BATCH files (jsonl, gzip or not; parquet) straight into DuckDB.

        Records received earlier for this stream are loaded first, so arrival order
        (and last-wins on keys) holds across RECORD and BATCH messages. The files of
        one BATCH message are read as one scan, in manifest order, and loaded in one
        transaction: one MERGE however many files.
        """
        if self.current_size:
            self.process_batch(self.start_drain())
            self.mark_drained()
        if not files:
            return
        paths = [_local_path(url) for url in files]
        if encoding.format == BatchFileFormat.JSONL:
            source = self._jsonl_source(paths, encoding.compression)
        elif encoding.format == BatchFileFormat.PARQUET:
            source = self._parquet_source(paths)
        else:
            msg = f"Unsupported batch encoding format: {encoding.format}"
            raise NotImplementedError(msg)
        # Records received, as the SDK counts those of RECORD messages: the run ledger
        # compares them with what the tap sent.
        self.record_counter_metric.increment(self._load(source).received)
        if self.config.get("delete_batch_files"):
            for path in paths:
                Path(path).unlink(missing_ok=True)

    def _to_arrow(self, records: list[dict]) -> pa.Table:
        try:
            return pa.Table.from_pylist(records, schema=self._arrow_schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            # Find the column at fault, to name it (and the stream) in the error.
            for field in self._arrow_schema:
                try:
                    pa.array([record.get(field.name) for record in records], type=field.type)
                except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as column_exc:
                    problem = (
                        "an integer does not fit in 64 bits"
                        if isinstance(column_exc, OverflowError)
                        else str(column_exc)
                    )
                    msg = (
                        f"Stream '{self.stream_name}': column '{field.name}': {problem};"
                        " nothing of this batch was loaded"
                    )
                    raise ValueError(msg) from exc
            raise

    def _jsonl_source(self, paths: list[str], compression: str | None) -> Source:
        # Date-like columns are read as text and cast like records; JSON stays JSON.
        types = {
            name: DuckType.VARCHAR if ctype in STRING_TYPES else ctype
            for name, ctype in self.spec.columns.items()
        }
        spec = ", ".join(f"{literal(name)}: {literal(ctype)}" for name, ctype in types.items())
        aliases = ", ".join(quote(name) for name in [*types, SEQ])
        relation = (
            f"read_json({_path_list(paths)}, format = 'newline_delimited',"
            f" compression = {literal('gzip' if compression == 'gzip' else 'auto_detect')},"
            f" columns = {{{spec}}}) WITH ORDINALITY AS src({aliases})"
        )
        return Source(relation=relation, types=types, fill=self._metadata_fill())

    def _parquet_source(self, paths: list[str]) -> Source:
        scan = f"read_parquet({_path_list(paths)})"
        described = self.warehouse.connection.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()
        file_types = {row[0]: row[1] for row in described}
        aliases = ", ".join(quote(name) for name in [*file_types, SEQ])
        return Source(
            relation=f"{scan} WITH ORDINALITY AS src({aliases})",
            types={name: ctype for name, ctype in file_types.items() if name in self.spec.columns},
            fill=self._metadata_fill(),
        )

    def _metadata_fill(self) -> dict[str, str]:
        """Load-time values for `_sdc_*` columns, when record metadata is on."""
        if not self.include_sdc_metadata_properties:
            return {}
        now = literal(datetime.datetime.now(tz=datetime.UTC).isoformat())
        return {
            "_sdc_received_at": f"CAST({now} AS TIMESTAMPTZ)",
            "_sdc_batched_at": f"CAST({now} AS TIMESTAMPTZ)",
            "_sdc_sync_started_at": f"CAST({int(self.sync_started_at)} AS BIGINT)",
        }

    @override
    def activate_version(self, new_version: int) -> None:
        """Delete (or soft-delete) the rows older than `new_version`: the tap has sent
        every row the source still has with this version or a newer one.

        Records of this stream still buffered are loaded first, so the deletion sees
        every row sent before the message.
        """
        if self.current_size:
            self.process_batch(self.start_drain())
            self.mark_drained()
        if not self.include_sdc_metadata_properties:
            msg = (
                f"Stream '{self.stream_name}': ACTIVATE_VERSION needs the _sdc_table_version"
                " and _sdc_deleted_at columns: set add_record_metadata to true (or"
                " process_activate_version_messages to false to ignore deletions)"
            )
            raise ValueError(msg)
        hard = bool(self.config.get("hard_delete"))
        removed = self.warehouse.activate_version(self.spec, new_version, hard=hard)
        self.logger.info(
            "Activated version %d of %s: %d rows %s",
            new_version,
            self.spec.qualified,
            removed,
            "deleted" if hard else "marked deleted (_sdc_deleted_at)",
        )

    def _load(self, source: Source) -> Loaded:
        loaded = self.warehouse.load(self.spec, source, self.config["load_method"])
        self.logger.info(
            "Loaded %d rows into %s (%s)", loaded.written, self.spec.qualified, loaded.how
        )
        return loaded


def _path_list(paths: list[str]) -> str:
    """A DuckDB list literal of file paths."""
    return "[" + ", ".join(map(literal, paths)) + "]"


def _local_path(url: str) -> str:
    """The local path of a manifest entry (`file://` URL or plain path)."""
    parsed = urlparse(url)
    if parsed.scheme not in {"", "file"}:
        msg = f"Only local BATCH files are supported, got {url!r}"
        raise NotImplementedError(msg)
    return url2pathname(parsed.path) if parsed.scheme else url
