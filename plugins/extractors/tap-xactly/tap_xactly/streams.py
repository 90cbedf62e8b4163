"""One stream per Xactly table, read in keyset pages over its own JDBC connection.

Bookmark: the SDK's ``replication_key_value`` (``MODIFIED_DATE`` of the last row
sent) plus ``last_primary_key`` (that row's key), both updated together as each
record is counted, so every STATE message names exactly the last row it covers.
A STATE message follows every page; a killed sync resumes after that row.
"""

from __future__ import annotations

import contextlib
import time
import typing as t
from dataclasses import dataclass

import jpype
from singer_sdk.exceptions import FatalAPIError

from tap_xactly.jdbc import (
    JSON_SCHEMA,
    ConnectionPool,
    error_text,
    is_permanent,
    java_param,
    value_of,
)
from tap_xactly.keyset import PageQuery, page_query
from tapkit.concurrency import SYNC_LOCK, LockedStateStream
from tapkit.retry import Backoff

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk import Tap
    from singer_sdk.helpers import types
    from singer_sdk.helpers.types import Context

LAST_KEY = "last_primary_key"
MODIFIED_DATE = "MODIFIED_DATE"


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
        return MODIFIED_DATE if any(c.name == MODIFIED_DATE for c in self.columns) else None

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


@dataclass
class Page:
    rows: list[dict[str, t.Any]]
    last: list[t.Any] | None
    """The last row's ordering values as the driver gave them (exact, for the next page)."""


class TableStream(LockedStateStream):
    """An Xactly table: INCREMENTAL on ``MODIFIED_DATE`` when it has one, else FULL_TABLE."""

    is_sorted = True

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

    # --- state ----------------------------------------------------------------------

    def _increment_stream_state(
        self, latest_record: types.Record, *, context: types.Context | None = None
    ) -> None:
        """The date bookmark and the key that breaks ties within it, changed together."""
        rk = self.replication_key
        if rk is None or latest_record.get(rk) is None:
            return  # FULL_TABLE, or a row without MODIFIED_DATE (read on first syncs only)
        with SYNC_LOCK:
            super()._increment_stream_state(latest_record, context=context)
            state = self.get_context_state(context)
            state[LAST_KEY] = [latest_record[k] for k in self.primary_keys]

    # --- records --------------------------------------------------------------------

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        try:
            rk = self.replication_key
            if rk is None:
                yield from self._pages(self.primary_keys, None, (), None)
                return
            state = self.get_context_state(context)
            bookmark = state.get("replication_key_value")
            if bookmark is None and self.table.column(rk).nullable:
                yield from self._undated_rows()
            order = [rk, *self.primary_keys]
            kinds = [self.table.column(name).kind for name in order]
            if bookmark is not None and state.get(LAST_KEY) is not None:
                point = [bookmark, *state[LAST_KEY]]
                start = [java_param(v, kind) for v, kind in zip(point, kinds, strict=True)]
                yield from self._pages(order, None, (), start)
                return
            since = bookmark if bookmark is not None else self.config.get("start_date")
            if since is None:
                yield from self._pages(order, f"{self._sql(rk)} IS NOT NULL", (), None)
            else:
                param = java_param(since, kinds[0])
                yield from self._pages(order, f"{self._sql(rk)} >= ?", (param,), None)
        finally:
            self._release_connection()

    def _undated_rows(self) -> Iterator[dict[str, t.Any]]:
        """Rows with no MODIFIED_DATE: no bookmark can cover them, so they are read
        by key on a stream's first sync (and then only by a full refresh)."""
        count = 0
        rk = self._sql(t.cast("str", self.replication_key))
        for row in self._pages(self.primary_keys, f"{rk} IS NULL", (), None):
            count += 1
            yield row
        if count:
            self.logger.warning(
                "%s: %d rows have no MODIFIED_DATE; they were read now, but later "
                "changes to them are only seen by a full refresh",
                self.name,
                count,
            )

    def _sql(self, name: str) -> str:
        return self.table.column(name).sql

    def _pages(
        self,
        order: t.Sequence[str],
        condition: str | None,
        condition_params: tuple[t.Any, ...],
        start: list[t.Any] | None,
    ) -> Iterator[dict[str, t.Any]]:
        """Every row meeting ``condition`` in ``order`` after ``start``, a page at a time,
        a STATE after each."""
        size = int(self.config["page_size"])
        columns = [c.sql for c in self.table.columns]
        order_sql = [self._sql(name) for name in order]
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
            self._write_state_message()
            if len(page.rows) < size or page.last is None:
                return
            if page.last == start:
                msg = f"tap-xactly {self.name}: paging does not advance past {page.last}"
                raise FatalAPIError(msg)
            start = page.last  # the condition stays: it may exclude rows after the point

    def _index(self, name: str) -> int:
        return next(i for i, c in enumerate(self.table.columns) if c.name == name)

    def _fetch(self, query: PageQuery, order_index: list[int]) -> Page:
        """One page, whole, with bounded retries; the connection is renewed after a failure."""
        retries = int(self.config["max_retries"])
        backoff = Backoff.from_config(self.config)
        for attempt in range(retries + 1):
            try:
                return self._read(query, order_index)
            except jpype.JException as exc:
                message = error_text(exc, self.pool.driver.password)
                self._discard_connection()
                if is_permanent(exc):
                    raise FatalAPIError(self._failure(message, attempt + 1)) from exc
                if attempt == retries:
                    raise FatalAPIError(self._failure(message, attempt + 1)) from exc
                delay = backoff.delay(attempt)
                self.logger.warning(
                    "%s: %s; reconnecting in %.1f s (retry %d of %d)",
                    self.name,
                    message,
                    delay,
                    attempt + 1,
                    retries,
                )
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _failure(self, message: str, attempts: int) -> str:
        tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
        return f"tap-xactly {self.name}: reading {self.table.sql} failed ({tries}): {message}"

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

    def _read(self, query: PageQuery, order_index: list[int]) -> Page:
        statement = self._statement(query.sql)
        for index, param in enumerate(query.params, start=1):
            statement.setObject(index, param)
        result = statement.executeQuery()
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
