"""Read-only views of a DuckDB warehouse: its tables and their rows."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

TableCounts = dict[tuple[str, str], int]


def quote_ident(name: str) -> str:
    """A DuckDB identifier, quoted (names may hold spaces, capitals or quotes)."""
    return '"' + name.replace('"', '""') + '"'


def table_counts(path: Path) -> TableCounts:
    """Rows per (schema, table) of every user table; empty if the file does not exist."""
    if not path.exists():
        return {}
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() "
            "WHERE NOT internal ORDER BY schema_name, table_name"
        ).fetchall()
        return {
            (schema, table): _scalar(
                con,
                f"SELECT count(*) FROM {quote_ident(schema)}.{quote_ident(table)}",  # noqa: S608 (quoted identifiers)
            )
            for schema, table in tables
        }


def rows_written_since(path: Path, since: datetime) -> TableCounts:
    """Rows per table inserted or changed by loads after `since` (by `_sdc_batched_at`)."""
    if not path.exists():
        return {}
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "SELECT schema_name, table_name FROM duckdb_columns() "
            "WHERE NOT internal AND column_name = '_sdc_batched_at'"
        ).fetchall()
        return {
            (schema, table): _scalar(
                con,
                f"SELECT count(*) FROM {quote_ident(schema)}.{quote_ident(table)} "  # noqa: S608 (quoted identifiers)
                "WHERE _sdc_batched_at >= ?",
                [since],
            )
            for schema, table in tables
        }


def rows(path: Path, schema: str, table: str) -> list[dict[str, Any]]:
    """Every row of one table as dicts (for comparisons with ground truth)."""
    with duckdb.connect(str(path), read_only=True) as con:
        relation = f"{quote_ident(schema)}.{quote_ident(table)}"
        cursor = con.execute(f"SELECT * FROM {relation}")  # noqa: S608 (quoted identifiers)
        names = [d[0] for d in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, parameters: list[Any] | None = None) -> int:
    row = con.execute(sql, parameters or []).fetchone()
    return int(row[0]) if row else 0
