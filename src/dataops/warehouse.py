"""Read-only views of a warehouse — a DuckDB file or a PostgreSQL database — its
tables and their rows."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import psycopg
from psycopg import sql as pgsql
from psycopg.rows import dict_row

TableCounts = dict[tuple[str, str], int]
Location = Path | str
"""A DuckDB file (a path) or a PostgreSQL database (a ``postgresql://`` URL)."""

NESTED_TYPES = frozenset({"JSON", "JSONB", "ARRAY"})
"""Column types that hold objects and lists natively (not as text)."""


def is_postgres(location: Location) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def quote_ident(name: str) -> str:
    """A DuckDB identifier, quoted (names may hold spaces, capitals or quotes)."""
    return '"' + name.replace('"', '""') + '"'


def table_counts(path: Path) -> TableCounts:
    """Rows per (schema, table) of every user table; empty if the file does not exist."""
    return _counts(path)


def rows_written_since(path: Path, since: datetime) -> TableCounts:
    """Rows per table inserted or changed by loads after `since` (by `_sdc_batched_at`)."""
    return _counts(path, "_sdc_batched_at", since)


def _counts(
    path: Path, newer_column: str | None = None, since: datetime | None = None
) -> TableCounts:
    """Rows per table; with `newer_column`, only tables having it and rows where it >= since."""
    if not path.exists():
        return {}
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "SELECT DISTINCT schema_name, table_name FROM duckdb_columns() "
            "WHERE NOT internal AND (? IS NULL OR column_name = ?) "
            "ORDER BY schema_name, table_name",
            [newer_column, newer_column],
        ).fetchall()
        where = f" WHERE {quote_ident(newer_column)} >= ?" if newer_column else ""
        counts: TableCounts = {}
        for schema, table in tables:
            sql = f"SELECT count(*) FROM {quote_ident(schema)}.{quote_ident(table)}{where}"  # noqa: S608 (quoted identifiers)
            row = con.execute(sql, [since] if newer_column else []).fetchone()
            counts[(schema, table)] = int(row[0]) if row else 0
        return counts


def rows(location: Location, schema: str, table: str) -> list[dict[str, Any]]:
    """Every row of one table as dicts (for comparisons with ground truth)."""
    if is_postgres(location):
        query = pgsql.SQL("SELECT * FROM {}.{}").format(
            pgsql.Identifier(schema), pgsql.Identifier(table)
        )
        with psycopg.connect(str(location), row_factory=dict_row) as con:
            return con.execute(query).fetchall()
    path = Path(location)
    with duckdb.connect(str(path), read_only=True) as con:
        relation = f"{quote_ident(schema)}.{quote_ident(table)}"
        cursor = con.execute(f"SELECT * FROM {relation}")  # noqa: S608 (quoted identifiers)
        names = [d[0] for d in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def column_types(location: Location, schema: str, table: str) -> dict[str, str]:
    """Database type of every column of one table, in upper case."""
    if is_postgres(location):
        with psycopg.connect(str(location)) as con:
            found = con.execute(
                "SELECT column_name, upper(data_type) FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s",
                [schema, table],
            ).fetchall()
            return dict(found)
    path = Path(location)
    with duckdb.connect(str(path), read_only=True) as con:
        found = con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() "
            "WHERE schema_name = ? AND table_name = ?",
            [schema, table],
        ).fetchall()
        return dict(found)
