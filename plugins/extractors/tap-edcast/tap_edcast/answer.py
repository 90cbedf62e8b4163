"""One query answer, typed and numbered in DuckDB.

An answer is saved (its ``rows`` array alone when its layout allows), then read by
DuckDB's JSON reader into a table of typed columns
(``normalise.typed_page_sql``) with each row's position in the answer, so that a page
can be inspected (its trailing key group), cut (the group held back) and converted
(Arrow for records, a BATCH file) without a Python object per row. Each answer has a
connection of its own (a cursor of one in-memory database: opening a database costs
about 20 ms, a cursor well under 1 ms) and its table is a temporary one of that
connection.
"""

from __future__ import annotations

import typing as t
import uuid

import duckdb

from tap_edcast.keyset import json_value
from tap_edcast.normalise import ROW_NUMBER, sql_ident, sql_literal, typed_page_sql

if t.TYPE_CHECKING:
    from pathlib import Path

    from duckdb import DuckDBPyConnection

    from tap_edcast.client import AnswerLayout
    from tap_edcast.keyset import Point
    from tap_edcast.normalise import Column


MALFORMED = "Malformed JSON"
"""DuckDB's error for a file that is not the JSON it was told to read."""


class Answer:
    """The rows of one query answer (close it, or use it as a context manager)."""

    def __init__(
        self,
        body: bytes,
        layout: AnswerLayout,
        columns: list[Column],
        workdir: Path,
        connection: DuckDBPyConnection,
    ) -> None:
        self.columns = columns
        self.connection = connection
        self._extra: list[str] = []
        try:
            if layout.rows is None:
                self._create(body, workdir, rows_only=False)
            else:
                try:
                    self._create(memoryview(body)[layout.rows], workdir, rows_only=True)
                except duckdb.InvalidInputException as exc:
                    if MALFORMED not in str(exc):
                        raise
                    # Not one JSON array after all (an unforeseen layout): read it whole.
                    self._create(body, workdir, rows_only=False)
            self.rows = self._count()
        except BaseException:
            self.connection.close()
            raise

    def _create(self, data: bytes | memoryview, workdir: Path, *, rows_only: bool) -> None:
        """The table ``answer`` from the saved ``data``."""
        path = workdir / f"{uuid.uuid4().hex}.json"
        path.write_bytes(data)
        try:
            typed = typed_page_sql(str(path), self.columns, rows_only=rows_only)
            self._run(f"CREATE TEMP TABLE answer AS {typed}")
        finally:
            path.unlink(missing_ok=True)

    def __enter__(self) -> Answer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.connection.close()

    def _run(self, sql: str, params: list[t.Any] | None = None) -> list[t.Any]:
        """Run one statement to its end (DuckDB keeps a connection busy until then)."""
        return self.connection.execute(sql, params).fetchall()

    def _count(self) -> int:
        return int(self._run("SELECT count(*) FROM answer")[0][0])

    def points(self, names: list[str]) -> list[Point]:
        """Every row's values of the columns ``names``, in answer order."""
        selected = ", ".join(map(sql_ident, names))
        found = self._run(f"SELECT {selected} FROM answer ORDER BY {ROW_NUMBER}")  # noqa: S608
        return [tuple(json_value(value) for value in row) for row in found]

    def last_point(self, names: list[str]) -> Point:
        """The last row's values of the columns ``names``."""
        selected = ", ".join(map(sql_ident, names))
        found = self._run(
            f"SELECT {selected} FROM answer WHERE {ROW_NUMBER} = ?",  # noqa: S608 - identifiers
            [self.rows],
        )
        if not found:
            raise ValueError("an empty answer has no last row")
        return tuple(json_value(value) for value in found[0])

    def trailing_group(self, names: list[str]) -> int:
        """How many rows at the end share the last row's values of ``names`` (the
        answer is sorted on them, so they are together)."""
        same = " AND ".join(f"a.{c} IS NOT DISTINCT FROM l.{c}" for c in map(sql_ident, names))
        found = self._run(
            f"SELECT count(*) FROM answer a, (SELECT * FROM answer WHERE {ROW_NUMBER} = ?) l"  # noqa: S608
            f" WHERE {same}",
            [self.rows],
        )
        return int(found[0][0])

    def keep(self, rows: int) -> None:
        """Drop every row after the first ``rows``."""
        self._run(f"DELETE FROM answer WHERE {ROW_NUMBER} > ?", [rows])  # noqa: S608
        self.rows = self._count()

    def add_constant(self, name: str, value: int) -> None:
        """A column holding ``value`` in every row, selected after the answer's own."""
        self._run(f"ALTER TABLE answer ADD COLUMN {sql_ident(name)} BIGINT")
        self._run(f"UPDATE answer SET {sql_ident(name)} = ?", [value])  # noqa: S608
        self._extra.append(name)

    def write(self, target: Path, options: str) -> None:
        """Write the rows to a file (``options``: DuckDB's COPY options)."""
        self._run(f"COPY ({self.select()}) TO {sql_literal(str(target))} ({options})")

    def select(self) -> str:
        """SQL of the rows, typed, in answer order."""
        names = [column.name for column in self.columns] + self._extra
        selected = ", ".join(map(sql_ident, names))
        return f"SELECT {selected} FROM answer ORDER BY {ROW_NUMBER}"  # noqa: S608 - identifiers
