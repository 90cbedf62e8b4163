"""JSON Schema to DuckDB column types, and how column types widen as schemas evolve."""

from __future__ import annotations

import typing as t
from enum import StrEnum

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping


class DuckType(StrEnum):
    """The DuckDB column types this target creates."""

    BIGINT = "BIGINT"
    DOUBLE = "DOUBLE"
    BOOLEAN = "BOOLEAN"
    TIMESTAMPTZ = "TIMESTAMPTZ"
    DATE = "DATE"
    TIME = "TIME"
    VARCHAR = "VARCHAR"
    JSON = "JSON"


#: Types whose values arrive as JSON strings.
STRING_TYPES = frozenset({DuckType.VARCHAR, DuckType.TIMESTAMPTZ, DuckType.DATE, DuckType.TIME})

_BY_JSON_TYPE = {
    "integer": DuckType.BIGINT,
    "number": DuckType.DOUBLE,
    "boolean": DuckType.BOOLEAN,
    "string": DuckType.VARCHAR,
    "object": DuckType.JSON,
    "array": DuckType.JSON,
}
_BY_STRING_FORMAT = {
    "date-time": DuckType.TIMESTAMPTZ,
    "date": DuckType.DATE,
    "time": DuckType.TIME,
}
_JSON_HOLDS = frozenset({DuckType.JSON, DuckType.BIGINT, DuckType.DOUBLE, DuckType.BOOLEAN})


def member_types(schema: Mapping[str, t.Any]) -> set[DuckType]:
    """The DuckDB type of each non-null alternative a JSON Schema property allows.

    `anyOf`/`oneOf` and type lists are unions; a property without `type` may hold
    any JSON value (JSON); an unknown type name falls back to VARCHAR.
    """
    alternatives = [*schema.get("anyOf", ()), *schema.get("oneOf", ())]
    if alternatives:
        return set().union(*(member_types(alternative) for alternative in alternatives))
    if "type" not in schema:
        return {DuckType.JSON}
    json_types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    members = set()
    for json_type in json_types:
        if json_type == "string":
            members.add(_BY_STRING_FORMAT.get(schema.get("format", ""), DuckType.VARCHAR))
        elif json_type != "null":
            members.add(_BY_JSON_TYPE.get(json_type, DuckType.VARCHAR))
    return members


def narrowest(types: Iterable[DuckType]) -> DuckType:
    """The narrowest type holding every value of all `types`.

    BIGINT+DOUBLE → DOUBLE, DATE+TIMESTAMPTZ → TIMESTAMPTZ, JSON+non-string
    scalars → JSON, anything else mixed (notably anything with a string) → VARCHAR.
    """
    members = set(types)
    if len(members) == 1:
        return members.pop()
    if members and members <= {DuckType.BIGINT, DuckType.DOUBLE}:
        return DuckType.DOUBLE
    if members and members <= {DuckType.DATE, DuckType.TIMESTAMPTZ}:
        return DuckType.TIMESTAMPTZ
    if DuckType.JSON in members and members <= _JSON_HOLDS:
        return DuckType.JSON
    return DuckType.VARCHAR


def column_type(schema: Mapping[str, t.Any]) -> DuckType:
    """The DuckDB column type for a JSON Schema property (always nullable)."""
    return narrowest(member_types(schema))


def widened(existing: str, incoming: DuckType) -> DuckType | None:
    """The type an existing column must be altered to so it holds `incoming`, if any.

    Returns None when the column already holds it, or when the column has a type
    this target never creates (left as its owner made it).
    """
    if existing not in DuckType.__members__:
        return None
    wider = narrowest({DuckType(existing), incoming})
    return None if wider == existing else wider


def normalize(duckdb_type: str) -> str:
    """A type name as reported by DuckDB, spelled like `DuckType`."""
    return "TIMESTAMPTZ" if duckdb_type == "TIMESTAMP WITH TIME ZONE" else duckdb_type
