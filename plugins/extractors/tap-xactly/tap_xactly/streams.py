"""One stream per Xactly table, read in keyset pages over its own JDBC connection.

Every record carries the run's table version (``tapkit.versions``). A table with
``MODIFIED_DATE`` and integer keys is read incrementally: each run starts at
``MODIFIED_DATE >= bookmark - lookback_seconds`` (rows a lagging replica committed
late, dated before the bookmark, are read then; rows read again are merged
downstream) and pages on (``MODIFIED_DATE``, key) from there, exactly. The bookmark is
the SDK's ``replication_key_value``, the latest ``MODIFIED_DATE`` sent; it only moves
forward. A STATE message follows every page.

Such a table is read whole (a full read, ending with ACTIVATE_VERSION) on its first
sync or a ``--full-refresh``, when the row count at the start of a run says rows were
deleted (``tap_xactly.deletions``), and after a run that did not finish (read again
whole, with a newer version: ``tapkit.versions``). A table without ``MODIFIED_DATE``, or with
a key that is not an integer (new rows then land anywhere in key order, so counting
keys cannot tell deletions from inserts), is read whole every run.
"""

from __future__ import annotations

import contextlib
import typing as t
from dataclasses import dataclass
from datetime import timedelta

import jpype
from singer_sdk.exceptions import FatalAPIError
from typing_extensions import override

from tap_xactly.deletions import ROW_COUNT, RowCount, count_query, last_key_query
from tap_xactly.jdbc import (
    JSON_SCHEMA,
    ConnectionPool,
    JdbcError,
    iso_instant,
    java_param,
    parse_instant,
    value_of,
)
from tap_xactly.keyset import PageQuery, page_query
from tapkit.backfill import rewound
from tapkit.concurrency import SYNC_LOCK
from tapkit.retry import Retrier
from tapkit.versions import VersionedStream

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from singer_sdk import Tap
    from singer_sdk.helpers import types
    from singer_sdk.helpers.types import Context

MODIFIED_DATE = "MODIFIED_DATE"
BOOKMARK = "replication_key_value"
"""The SDK's stream state key for the bookmark (the latest MODIFIED_DATE sent)."""
T = t.TypeVar("T")


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    """Value kind (see ``jdbc.kind_of``)."""
    sql: str
    """The name as SQL (bare, or quoted when it must be)."""
    nullable: bool = True
    """False only when the database says the column never holds NULL."""


@dataclass(frozen=True)
class Table:
    stream: str
    sql: str
    """``schema.table`` as SQL."""
    columns: tuple[Column, ...]
    primary_keys: tuple[str, ...]

    @property
    def replication_key(self) -> str | None:
        """``MODIFIED_DATE`` when the table can be read incrementally: it has the
        column, and integer keys (deletions are found by counting keys)."""
        names = {c.name for c in self.columns}
        integer_keys = all(self.column(k).kind == "integer" for k in self.primary_keys)
        return MODIFIED_DATE if MODIFIED_DATE in names and integer_keys else None

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


@dataclass
class Page:
    rows: list[dict[str, t.Any]]
    last: list[t.Any] | None
    """The last row's ordering values as the driver gave them (exact, for the next page)."""


class TableStream(VersionedStream):
    """An Xactly table: INCREMENTAL on ``MODIFIED_DATE`` where it can be, else
    FULL_TABLE (see the module docstring)."""

    is_sorted = True

    @override
    def __init__(self, tap: Tap, table: Table, pool: ConnectionPool) -> None:
        schema = {
            "type": "object",
            "properties": {c.name: dict(JSON_SCHEMA[c.kind]) for c in table.columns},
        }
        super().__init__(tap, schema=schema, name=table.stream)
        self.table = table
        self.pool = pool
        self.primary_keys = list(table.primary_keys)
        self.replication_key = table.replication_key
        self._connection: t.Any = None
        self._statements: dict[str, t.Any] = {}
        self._retrier = Retrier.from_config(
            "Xactly",
            self.config,
            self.logger,
            failures=(JdbcError,),  # raw Java exceptions never reach it (_retrying)
            is_permanent=lambda exc: isinstance(exc, JdbcError) and exc.permanent,
            retry_action="reconnecting",
        )

    # --- state ----------------------------------------------------------------------

    @override
    def advances_bookmark(self, record: types.Record, context: types.Context | None) -> bool:
        """The bookmark moves forward only: rows read again within the look-back, dated
        before it, leave it where it is (called under the sync lock)."""
        rk = self.replication_key
        if rk is None or record.get(rk) is None:
            return False  # FULL_TABLE, or a row without MODIFIED_DATE (read by full reads only)
        bookmark = self.get_context_state(context).get(BOOKMARK)
        # iso_instant texts, all of one length: they sort as the instants do
        return bookmark is None or record[rk] >= bookmark

    # --- records --------------------------------------------------------------------

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        try:
            if self.replication_key is None:
                yield from self._whole_table(context)
            else:
                yield from self._incremental(context)
        finally:
            self._release_connection()

    def _whole_table(self, context: Context | None) -> Iterator[dict[str, t.Any]]:
        """Every row, by key: a full read each run."""
        self.begin_read(context, full=True)
        yield from self._pages(self.primary_keys)
        self.finish_read(context)

    def _incremental(self, context: Context | None) -> Iterator[dict[str, t.Any]]:
        """The rows modified since the bookmark, less the look-back; the whole table
        when there is no bookmark or count yet, when rows were deleted, or when a full
        read was killed (it starts over). Ends by counting the rows for the next run."""
        state = self.get_context_state(context)
        full = self.begin_read(context, full=self._needs_full_read(context, state))
        if full:
            with SYNC_LOCK:
                # From the start: the bookmark is how far this full read got. Set to
                # null, not removed: Meltano merges a partial state (--full-refresh,
                # --state-strategy merge) onto the stored one, where it would live on.
                state[BOOKMARK] = None
        if full and self.table.column(MODIFIED_DATE).nullable:
            yield from self._undated_rows()
        yield from self._dated_rows(state.get(BOOKMARK))
        counted = self._count_rows()
        with SYNC_LOCK:
            state[ROW_COUNT] = counted.to_state()
        self.finish_read(context)

    def _needs_full_read(self, context: Context | None, state: dict[str, t.Any]) -> bool:
        """Whether this run must read the table whole: no bookmark (first sync, full
        refresh), no count from a completed run, or fewer rows at or below the last
        counted key than then (some were deleted). (A run before that did not finish
        makes it a full read too: ``VersionedStream.begin_read``.)"""
        counted = RowCount.from_state(state.get(ROW_COUNT))
        if state.get(BOOKMARK) is None or counted is None:
            return True
        if counted.last_key is None:
            return False  # the table was empty: every row it has now is new
        kinds = [self.table.column(k).kind for k in self.primary_keys]
        last_key = [java_param(v, kind) for v, kind in zip(counted.last_key, kinds, strict=True)]
        rows = self._count_at_or_before(last_key)
        if rows < counted.rows:
            self.logger.info(
                "%s: %d rows have a key at or below %s, %d did after the last run: "
                "rows were deleted, reading the table whole",
                self.name,
                rows,
                counted.last_key,
                counted.rows,
            )
            return True
        return False

    def _count_rows(self) -> RowCount:
        """The largest key now and the rows at or below it (for the next run)."""
        keys_sql = [self._sql(k) for k in self.primary_keys]
        last = self._query_row(last_key_query(self.table.sql, keys_sql))
        if last is None:
            return RowCount(None, 0)
        kinds = [self.table.column(k).kind for k in self.primary_keys]
        last_key = [value_of(v, kind) for v, kind in zip(last, kinds, strict=True)]
        return RowCount(last_key, self._count_at_or_before(last))

    def _count_at_or_before(self, last_key: list[t.Any]) -> int:
        keys_sql = [self._sql(k) for k in self.primary_keys]
        row = self._query_row(count_query(self.table.sql, keys_sql, last_key))
        return int(row[0]) if row else 0

    def _dated_rows(self, bookmark: str | None) -> Iterator[dict[str, t.Any]]:
        """Rows with a MODIFIED_DATE from the start point on, in (date, key) order."""
        rk = self.table.column(MODIFIED_DATE)
        order = [MODIFIED_DATE, *self.primary_keys]
        since = self._since(bookmark)
        if since is None:
            yield from self._pages(order, f"{rk.sql} IS NOT NULL")
        else:
            param = java_param(since, rk.kind)
            yield from self._pages(order, f"{rk.sql} >= ?", (param,))

    def _since(self, bookmark: str | None) -> str | None:
        """Where reading starts: the bookmark less ``lookback_seconds``, or earlier under
        a backfill (``tapkit.backfill``), never before ``start_date``; ``start_date``
        without a bookmark (None: every row)."""
        start = self.config.get("start_date")
        if bookmark is None:
            return start
        lookback = timedelta(seconds=int(self.config["lookback_seconds"]))
        since = rewound(parse_instant(bookmark) - lookback, self.config)
        if start is not None:
            since = max(since, parse_instant(start))
        return iso_instant(since)

    def _undated_rows(self) -> Iterator[dict[str, t.Any]]:
        """Rows with no MODIFIED_DATE: no bookmark can cover them, so every full read
        reads them, by key, first."""
        count = 0
        rk = self._sql(MODIFIED_DATE)
        for row in self._pages(self.primary_keys, f"{rk} IS NULL"):
            count += 1
            yield row
        if count:
            self.logger.warning(
                "%s: %d rows have no MODIFIED_DATE; they were read now, but later "
                "changes to them are only seen by a full read (after deletions, or a "
                "--full-refresh)",
                self.name,
                count,
            )

    def _sql(self, name: str) -> str:
        return self.table.column(name).sql

    def _pages(
        self,
        order: t.Sequence[str],
        condition: str | None = None,
        condition_params: tuple[t.Any, ...] = (),
    ) -> Iterator[dict[str, t.Any]]:
        """Every row meeting ``condition``, in ``order``, a page at a time (each from
        just after the last row of the page before), a STATE after each."""
        size = int(self.config["page_size"])
        columns = [c.sql for c in self.table.columns]
        order_sql = [self._sql(name) for name in order]
        start: list[t.Any] | None = None
        number = 0
        while True:
            self.check_cancelled()
            query = page_query(
                self.table.sql,
                columns,
                order_sql,
                size,
                condition=condition,
                condition_params=condition_params,
                start_after=start,
            )
            page = self._fetch(query, [self._index(name) for name in order])
            number += 1
            if page.rows:
                self.logger.info("%s: page %d, %d rows", self.name, number, len(page.rows))
            yield from page.rows
            self.write_state()
            if len(page.rows) < size or page.last is None:
                return
            if page.last == start:
                msg = f"tap-xactly {self.name}: paging does not advance past {page.last}"
                raise FatalAPIError(msg)
            start = page.last  # the condition stays: it may exclude rows after the point

    def _index(self, name: str) -> int:
        return next(i for i, c in enumerate(self.table.columns) if c.name == name)

    def _fetch(self, query: PageQuery, order_index: list[int]) -> Page:
        """One page, whole (with bounded retries)."""
        return self._retrying(lambda: self._read(query, order_index))

    def _query_row(self, query: PageQuery) -> list[t.Any] | None:
        """The first row of ``query`` as the driver gives it (with bounded retries)."""
        return self._retrying(lambda: self._first_row(query))

    def _retrying(self, read: Callable[[], T]) -> T:
        """``read()``, retried a bounded number of times, each on a new connection; a
        permanent error (``jdbc.is_permanent``) fails at once. A Java exception goes on
        as a :class:`JdbcError` (its text fit for logs), without it."""

        def attempt() -> T:
            try:
                return read()
            except jpype.JException as exc:
                self._discard_connection()
                raise self.pool.driver.failure(exc) from None

        return self._retrier.run(f"{self.name}: reading {self.table.sql}", attempt)

    def _statement(self, sql: str) -> t.Any:
        """The prepared statement for ``sql``, prepared once per table: every page after
        the first has the same SQL, so a page costs one execution, not a prepare too."""
        if self._connection is None:
            self._connection = self.pool.acquire()
        if sql not in self._statements:
            statement = self._connection.prepareStatement(sql)
            statement.setFetchSize(int(self.config["page_size"]))
            timeout = int(self.config["query_timeout_seconds"])
            if timeout:
                statement.setQueryTimeout(timeout)
            self._statements[sql] = statement
        return self._statements[sql]

    def _execute(self, query: PageQuery) -> t.Any:
        """The ``java.sql.ResultSet`` of ``query``, its parameters bound."""
        statement = self._statement(query.sql)
        for index, param in enumerate(query.params, start=1):
            statement.setObject(index, param)
        return statement.executeQuery()

    def _first_row(self, query: PageQuery) -> list[t.Any] | None:
        result = self._execute(query)
        try:
            if not result.next():
                return None
            width = result.getMetaData().getColumnCount()
            return [result.getObject(i) for i in range(1, width + 1)]
        finally:
            result.close()

    def _read(self, query: PageQuery, order_index: list[int]) -> Page:
        result = self._execute(query)
        try:
            # Some drivers (H2) take the fetch size from the result set only: without
            # it each 100 rows would cost a round trip.
            with contextlib.suppress(jpype.JException):
                result.setFetchSize(int(self.config["page_size"]))
            names = [c.name for c in self.table.columns]
            kinds = [c.kind for c in self.table.columns]
            positions = range(1, len(names) + 1)
            rows: list[dict[str, t.Any]] = []
            raw: list[t.Any] = []
            while result.next():
                raw = [result.getObject(i) for i in positions]
                rows.append({n: value_of(v, k) for n, v, k in zip(names, raw, kinds, strict=True)})
            return Page(rows, [raw[i] for i in order_index] if rows else None)
        finally:
            result.close()

    def _release_connection(self) -> None:
        """Close this table's statements and give its connection back to the pool."""
        if self._connection is not None:
            try:
                for statement in self._statements.values():
                    statement.close()
            except jpype.JException:
                self._discard_connection()
                return
            self._statements.clear()
            self.pool.release(self._connection)
            self._connection = None

    def _discard_connection(self) -> None:
        self._statements.clear()  # closed with their connection
        if self._connection is not None:
            self.pool.discard(self._connection)
            self._connection = None
