"""From Domo's columnar answers to clean typed columns, in DuckDB (no per-record Python).

Domo answers a query with `columns`, `metadata` (STRING, DOUBLE, LONG, DECIMAL, DATE,
DATETIME) and row-major `rows` whose values do not always match their declared type.
Each page is read by DuckDB's JSON reader and typed by one SELECT, used by both the
record and the batch (Parquet) path, so both load the same values. Normalisations:

- `""` in a LONG, DOUBLE, DECIMAL, DATE or DATETIME column is null (the schema stays
  typed: no `anyOf` with an empty string downstream). In STRING columns `""` stays.
- In ID columns (name ending in ` ID`, `_id`, …) integral floats such as `460679.0`
  become integers; a fractional value there fails the sync rather than being rounded.
- In boolean columns (configured) `1/0`, `t/f`, `true/false`, `y/n`, `yes/no` (any
  case) become booleans; anything else fails the sync naming the column and value.
- DATETIME values (`2021-12-14T00:11:39`, no offset) are UTC timestamps; DATE are dates.

Original column names are kept.
"""

from __future__ import annotations

import os
import re
import typing as t
from dataclasses import dataclass

TRUE_SPELLINGS = ("true", "t", "1", "1.0", "yes", "y")
FALSE_SPELLINGS = ("false", "f", "0", "0.0", "no", "n")
NUMERIC_TYPES = frozenset({"LONG", "DOUBLE", "DECIMAL"})
KNOWN_TYPES = NUMERIC_TYPES | {"STRING", "DATE", "DATETIME"}

Kind = t.Literal["string", "integer", "number", "boolean", "date", "date-time"]


@dataclass(frozen=True)
class Column:
    name: str
    domo_type: str
    kind: Kind

    @property
    def json_schema(self) -> dict[str, t.Any]:
        if self.kind in ("date", "date-time"):
            return {"type": ["string", "null"], "format": self.kind}
        return {"type": [self.kind, "null"]}


def classify(
    names: list[str],
    metadata: list[dict[str, t.Any]],
    boolean_columns: frozenset[str],
    id_pattern: re.Pattern[str],
) -> list[Column]:
    """The typed columns of a dataset, from a query answer's `columns` and `metadata`."""
    columns = []
    for name, meta in zip(names, metadata, strict=True):
        domo_type = str(meta.get("type", "STRING")).upper()
        kind: Kind
        if name in boolean_columns:
            kind = "boolean"
        elif (domo_type in NUMERIC_TYPES and id_pattern.search(name)) or domo_type == "LONG":
            kind = "integer"
        elif domo_type in NUMERIC_TYPES:
            kind = "number"
        elif domo_type == "DATE":
            kind = "date"
        elif domo_type == "DATETIME":
            kind = "date-time"
        else:  # STRING, and types Domo may add later: kept as text, nothing lost
            kind = "string"
        columns.append(Column(name, domo_type, kind))
    return columns


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _typed(value: str, column: Column) -> str:
    """The SQL expression that turns one wire value (VARCHAR) into the column's type."""
    if column.kind == "string":
        return value
    blank_is_null = f"NULLIF({value}, '')"
    what = sql_literal(f"column {column.name!r}: ")
    if column.kind == "integer":
        return (
            f"CASE WHEN {blank_is_null} IS NULL THEN NULL"
            rf" WHEN regexp_full_match({value}, '\s*-?\d+(\.0*)?\s*') THEN CAST({value} AS BIGINT)"
            f" ELSE error({what} || {value} || ' is not an integer') END"
        )
    if column.kind == "boolean":
        spelled = f"lower(trim({blank_is_null}))"
        trues = ", ".join(map(sql_literal, TRUE_SPELLINGS))
        falses = ", ".join(map(sql_literal, FALSE_SPELLINGS))
        return (
            f"CASE WHEN {blank_is_null} IS NULL THEN NULL"
            f" WHEN {spelled} IN ({trues}) THEN true WHEN {spelled} IN ({falses}) THEN false"
            f" ELSE error({what} || {value} || ' is not a boolean') END"
        )
    target = {"number": "DOUBLE", "date": "DATE", "date-time": "TIMESTAMP"}[column.kind]
    return (
        f"CASE WHEN {blank_is_null} IS NULL THEN NULL"
        f" WHEN TRY_CAST({value} AS {target}) IS NULL"
        f" THEN error({what} || {value} || ' is not a {column.kind}')"
        f" ELSE CAST({value} AS {target}) END"
    )


ROW_NUMBER = "__answer_row"
"""Column of ``typed_page_sql``: the row's position in the answer, from 1."""


def typed_page_sql(page_file: str, columns: list[Column], *, rows_only: bool = False) -> str:
    """SELECT of one saved query answer as typed, named columns, with each row's position
    in the answer (column ``ROW_NUMBER``).

    ``rows_only``: the file holds the answer's ``rows`` array alone, which DuckDB reads
    as a stream of rows (several times faster than one object of any size, and its
    memory does not grow with the answer).
    """
    selected = ", ".join(
        f"{_typed(f'r[{i}]', column)} AS {sql_ident(column.name)}"
        for i, column in enumerate(columns, start=1)
    )
    if rows_only:
        source = (
            f"read_json({sql_literal(page_file)}, format = 'array', records = false,"
            f" columns = {{r: 'VARCHAR[]'}}) WITH ORDINALITY AS answer_rows(r, {ROW_NUMBER})"
        )
    else:  # one object: DuckDB's reader needs its size (and allocates buffers for it)
        source = (
            f"(SELECT unnest(rows) AS r, generate_subscripts(rows, 1) AS {ROW_NUMBER}"  # noqa: S608
            f" FROM read_json({sql_literal(page_file)}, columns = {{rows: 'VARCHAR[][]'}},"
            f" maximum_object_size = {max(os.path.getsize(page_file), 1)}))"
        )
    return f"SELECT {selected}, {ROW_NUMBER} FROM {source}"  # noqa: S608
