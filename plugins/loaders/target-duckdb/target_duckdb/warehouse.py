"""The DuckDB side of the loader: connection, table evolution, atomic MERGE/INSERT loads."""

from __future__ import annotations

import re
import typing as t
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from singer_sdk.helpers.capabilities import TargetLoadMethods

from target_duckdb.typemap import DuckType, normalize, widened

if t.TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

#: Arrival-order column every staged source carries; the last row of a key wins.
SEQ = "__target_duckdb_seq"

VERSION = "_sdc_table_version"
DELETED_AT = "_sdc_deleted_at"

#: SDK metadata describing a load rather than the row: a MERGE ignores them when
#: deciding whether a row changed (`_sdc_deleted_at` counts; `_sdc_table_version` alone
#: is updated in place).
LOAD_METADATA = frozenset(
    {
        "_sdc_received_at",
        "_sdc_batched_at",
        "_sdc_extracted_at",
        "_sdc_sequence",
        "_sdc_sync_started_at",
    }
)


RANGE_CHECKED_KEYS = frozenset(
    {
        DuckType.BIGINT,
        DuckType.VARCHAR,
        DuckType.TIMESTAMPTZ,
        DuckType.DATE,
        DuckType.TIME,
        DuckType.BOOLEAN,
    }
)
"""Key types whose staged (min, max) bind back as parameters that compare exactly as
the MERGE's equality does (not DOUBLE: NaN; not JSON)."""


def quote(identifier: str) -> str:
    """A DuckDB quoted identifier (spaces, case, reserved words all safe)."""
    return '"' + identifier.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A DuckDB string literal."""
    return "'" + text.replace("'", "''") + "'"


def table_name(stream_name: str) -> str:
    """The table a stream loads into: its name with every character outside
    `[A-Za-z0-9_]` replaced by `_` (`tap-x.users` → `tap_x_users`), case kept."""
    return re.sub(r"[^A-Za-z0-9_]", "_", stream_name)


@dataclass(frozen=True)
class TableSpec:
    """What a stream's current SCHEMA message asks of its table."""

    stream: str
    schema: str
    table: str
    columns: Mapping[str, DuckType]
    keys: tuple[str, ...]

    @property
    def qualified(self) -> str:
        return f"{quote(self.schema)}.{quote(self.table)}"


@dataclass(frozen=True)
class Source:
    """A staged batch to load.

    `relation` is a FROM item aliased `src` with a `SEQ` column; `types` maps each
    column it provides to its DuckDB type; `fill` gives SQL expressions (already of
    the column's schema type) for columns the source may leave NULL.
    """

    relation: str
    types: Mapping[str, str]
    fill: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Loaded:
    """What one load did: rows it received, and rows it wrote (after deduplication on
    the key, so fewer when the source repeats a key)."""

    received: int
    written: int
    how: str = "INSERT"
    """The statement: MERGE when a key may already be in the table, else INSERT."""


class Warehouse:
    """One DuckDB database file, written through a single connection."""

    def __init__(self, path: str, memory_limit: str | None = None) -> None:
        db_file = Path(path).expanduser()
        db_file.parent.mkdir(parents=True, exist_ok=True)
        self.connection = duckdb.connect(str(db_file))
        if memory_limit:  # set, not a connect option: other connections may open the file
            self.connection.execute("SET memory_limit = ?", [memory_limit])
        # Date-times without an offset are UTC, whatever the machine's time zone.
        self.connection.execute("SET TimeZone = 'UTC'")
        # Rows committed but not yet checkpointed stay in memory: a checkpoint every
        # 256 MB of WAL keeps that bounded (4 GB let a 1M-row load reach 830 MiB), while
        # DuckDB's default 16 MB would rewrite the growing table after nearly every
        # batch (docs/benchmarks.md, memory_growth).
        self.connection.execute("SET checkpoint_threshold = '256MB'")
        self._overwritten: set[tuple[str, str]] = set()
        self.loads = 0
        """Loads committed so far (the target passes STATE on after new ones)."""

    def close(self) -> None:
        """Checkpoint and close, so the file is complete when the process exits."""
        self.connection.execute("CHECKPOINT")
        self.connection.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.connection.begin()
        try:
            yield
        except BaseException:
            self.connection.rollback()
            raise
        self.connection.commit()

    def table_columns(self, spec: TableSpec) -> dict[str, tuple[str, str]]:
        """The table's columns as {lowercased name: (name, type)}; empty if no table.

        DuckDB matches identifiers case-insensitively, hence the lowercased keys.
        """
        rows = self.connection.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE lower(table_schema) = lower(?) AND lower(table_name) = lower(?)"
            " ORDER BY ordinal_position",
            [spec.schema, spec.table],
        ).fetchall()
        return {name.lower(): (name, normalize(data_type)) for name, data_type in rows}

    def ensure_table(self, spec: TableSpec) -> None:
        """Create the schema and table, or evolve the table to hold the stream.

        New columns are added, columns whose type cannot hold the stream's are
        widened in place; columns are never dropped.
        """
        with self.transaction():
            self.connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(spec.schema)}")
            existing = self.table_columns(spec)
            if not existing:
                columns = ", ".join(f"{quote(c)} {ctype}" for c, ctype in spec.columns.items())
                self.connection.execute(f"CREATE TABLE {spec.qualified} ({columns})")
                return
            for column, incoming in spec.columns.items():
                if column.lower() not in existing:
                    self.connection.execute(
                        f"ALTER TABLE {spec.qualified} ADD COLUMN {quote(column)} {incoming}"
                    )
                    continue
                name, current = existing[column.lower()]
                wider = widened(current, incoming)
                if wider is not None:
                    self.connection.execute(
                        f"ALTER TABLE {spec.qualified} ALTER COLUMN {quote(name)} TYPE {wider}"
                    )

    def load(self, spec: TableSpec, source: Source, method: str) -> Loaded:
        """Load `source` into the table in one transaction.

        `upsert` with key properties MERGEs the source, deduplicated on the key
        keeping its last row by arrival; without keys, or with `append-only`, rows
        are appended. `overwrite` first empties the table, once per run, inside the
        same transaction as its first load.
        """
        lowered = {key: ctype for key, (_, ctype) in self.table_columns(spec).items()}
        exprs = {
            column: self._expression(column, incoming, source, lowered[column.lower()])
            for column, incoming in spec.columns.items()
        }
        staged = ", ".join(f"{expr} AS {quote(column)}" for column, expr in exprs.items())
        staged = f"SELECT {staged}, src.{SEQ} AS {SEQ} FROM {source.relation}"
        columns = ", ".join(quote(column) for column in spec.columns)
        append = f"INSERT INTO {spec.qualified} ({columns}) SELECT {columns} FROM"
        merge = bool(spec.keys) and method != TargetLoadMethods.APPEND_ONLY
        overwrite = method == TargetLoadMethods.OVERWRITE
        try:
            with self.transaction():
                if overwrite and (spec.schema, spec.table) not in self._overwritten:
                    self.connection.execute(f"DELETE FROM {spec.qualified}")
                received, how = None, "INSERT"
                if not merge:
                    statement = f"{append} ({staged})"
                else:
                    received, bounds = self._check_keys(spec, staged)
                    if self._may_match(spec, staged, lowered, bounds):
                        statement, how = self._merge(spec, staged), "MERGE"
                    else:  # every key is new: no join needed
                        statement = f"{append} ({self._last_per_key(spec, staged)})"
                written = self.connection.execute(statement).fetchall()
        except duckdb.ConversionException as exc:
            raise self._bad_value(spec, source, exprs) from exc
        except duckdb.OutOfMemoryException as exc:
            msg = (
                f"Stream '{spec.stream}': {exc}; nothing of this batch was loaded."
                " Raise target-duckdb's memory_limit setting"
            )
            raise MemoryError(msg) from exc
        self.loads += 1
        if overwrite:
            self._overwritten.add((spec.schema, spec.table))
        rows = int(written[0][0]) if written else 0
        return Loaded(rows if received is None else received, rows, how)

    @staticmethod
    def _expression(column: str, incoming: DuckType, source: Source, table_type: str) -> str:
        """SQL turning the source's value into the stream's type, then the table's."""
        provided = source.types.get(column)
        expr = f"src.{quote(column)}"
        if provided is None:
            expr = f"CAST(NULL AS {incoming})"
        elif provided != incoming:
            nested = incoming == DuckType.JSON and provided != DuckType.VARCHAR
            expr = f"to_json({expr})" if nested else f"CAST({expr} AS {incoming})"
        if column in source.fill:
            fill = source.fill[column]
            expr = fill if provided is None else f"COALESCE({expr}, {fill})"
        if table_type == incoming:
            return expr
        if table_type == DuckType.JSON:
            return f"to_json({expr})"
        return f"CAST({expr} AS {table_type})"

    @staticmethod
    def _last_per_key(spec: TableSpec, staged: str) -> str:
        """The staged rows, one per key: the last to arrive."""
        keys = ", ".join(quote(key) for key in spec.keys)
        return (
            f"SELECT * EXCLUDE ({SEQ}) FROM ({staged})"
            f" QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {SEQ} DESC) = 1"
        )

    def _may_match(
        self,
        spec: TableSpec,
        staged: str,
        types: Mapping[str, str],
        bounds: list[tuple[object, object]],
    ) -> bool:
        """Whether a staged key is in the table already. False lets a load INSERT
        instead of MERGE: a first load, and the pages of newer keys a tap reads in key
        order, touch no existing row. The table's rows are first narrowed to those with
        every key value within the staged rows' range (DuckDB skips the row groups
        whose min/max fall outside), then joined with the staged keys. Keys of other
        types than ``RANGE_CHECKED_KEYS`` are always merged."""
        if any(types.get(key.lower()) not in RANGE_CHECKED_KEYS for key in spec.keys):
            return True
        within = " AND ".join(f"tgt.{quote(key)} BETWEEN ? AND ?" for key in spec.keys)
        on = " AND ".join(f"tgt.{quote(key)} = src.{quote(key)}" for key in spec.keys)
        found = self.connection.execute(
            f"SELECT EXISTS (SELECT 1 FROM {spec.qualified} AS tgt JOIN ({staged}) AS src"
            f" ON {on} WHERE {within})",
            [value for bound in bounds for value in bound],
        ).fetchone()
        return bool(found and found[0])

    @classmethod
    def _merge(cls, spec: TableSpec, staged: str) -> str:
        last_per_key = cls._last_per_key(spec, staged)
        on = " AND ".join(
            f"tgt.{quote(key)} IS NOT DISTINCT FROM src.{quote(key)}" for key in spec.keys
        )
        columns = [quote(column) for column in spec.columns]
        non_keys = [quote(column) for column in spec.columns if column not in spec.keys]
        update = ", ".join(f"{column} = src.{column}" for column in non_keys)
        # A row whose data is unchanged is left alone, metadata included: a re-read
        # record (e.g. one at the bookmark) changes nothing in the warehouse. Only its
        # table version moves on (a full read saw it), so no activation deletes it.
        data = [
            quote(c)
            for c in spec.columns
            if c not in spec.keys and c not in LOAD_METADATA and c != VERSION
        ]
        changed = " OR ".join(f"tgt.{column} IS DISTINCT FROM src.{column}" for column in data)
        condition = f" AND ({changed})" if changed else ""
        matched = f" WHEN MATCHED{condition} THEN UPDATE SET {update}" if non_keys else ""
        if VERSION in spec.columns and changed:
            version = quote(VERSION)
            matched += (
                f" WHEN MATCHED AND tgt.{version} IS DISTINCT FROM src.{version}"
                f" THEN UPDATE SET {version} = src.{version}"
            )
        values = ", ".join(f"src.{column}" for column in columns)
        return (
            f"MERGE INTO {spec.qualified} AS tgt USING ({last_per_key}) AS src ON {on}"
            f"{matched} WHEN NOT MATCHED THEN INSERT ({', '.join(columns)}) VALUES ({values})"
        )

    def activate_version(self, spec: TableSpec, version: int, *, hard: bool) -> int:
        """Delete, or mark with `_sdc_deleted_at`, the rows older than `version` (or
        with none); return how many. One transaction; counts as a load."""
        stale = f"({quote(VERSION)} IS NULL OR {quote(VERSION)} < ?)"
        if hard:
            statement = f"DELETE FROM {spec.qualified} WHERE {stale}"
            params: list[object] = [version]
        else:
            statement = (
                f"UPDATE {spec.qualified} SET {quote(DELETED_AT)} = now()"
                f" WHERE {stale} AND {quote(DELETED_AT)} IS NULL"
            )
            params = [version]
        with self.transaction():
            done = self.connection.execute(statement, params).fetchall()
        self.loads += 1
        return int(done[0][0]) if done else 0

    def _check_keys(self, spec: TableSpec, staged: str) -> tuple[int, list[tuple[object, object]]]:
        """Fail the load if a staged row has a NULL key; return how many rows are staged
        and each key column's (min, max) among them.

        Deduplication and `IS NOT DISTINCT FROM` would treat all NULL keys as one
        key, silently collapsing distinct rows into one.
        """
        nulls = [f"count(*) FILTER (WHERE {quote(key)} IS NULL)" for key in spec.keys]
        ranges = [f"min({quote(key)}), max({quote(key)})" for key in spec.keys]
        row = self.connection.execute(
            f"SELECT count(*), {', '.join(nulls + ranges)} FROM ({staged})"
        ).fetchone()
        assert row is not None  # an aggregate always has a row
        width = len(spec.keys)
        for key, null_count in zip(spec.keys, row[1 : 1 + width], strict=True):
            if null_count:
                msg = (
                    f"Stream '{spec.stream}' (table {spec.qualified}): key property '{key}'"
                    f" is null in {null_count} record(s); nothing of this batch was loaded."
                    " Fix the tap's key_properties or use load_method append-only"
                )
                raise ValueError(msg)
        values = row[1 + width :]
        return int(row[0]), [(values[2 * i], values[2 * i + 1]) for i in range(width)]

    def _bad_value(self, spec: TableSpec, source: Source, exprs: Mapping[str, str]) -> ValueError:
        """Name the stream, column and first value that failed to convert."""
        for column, expr in exprs.items():
            if column not in source.types:
                continue
            value = f"src.{quote(column)}"
            bad = self.connection.execute(
                f"SELECT CAST({value} AS VARCHAR) FROM {source.relation}"
                f" WHERE {value} IS NOT NULL AND TRY({expr}) IS NULL LIMIT 1"
            ).fetchall()
            if bad:
                return ValueError(
                    f"Stream '{spec.stream}': value {bad[0][0]!r} of column '{column}' is not a"
                    f" valid {spec.columns[column]}; nothing of this batch was loaded"
                )
        return ValueError(f"Stream '{spec.stream}': a value could not be converted")
