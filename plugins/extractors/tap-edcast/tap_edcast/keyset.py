"""The order a dataset is read in, and its keyset conditions, as Domo SQL text.

Rows are read ``ORDER BY`` the replication key, the key columns (each once), then every
other column. A *point* is one row's values of the replication key and key columns, in
that order, as JSON-compatible values (they are kept in the state); the rows sharing a
point form a *key group* (the spec says the key is not always unique), whose order by
the other columns decides which row the loader's merge keeps.

The query API takes SQL text, not parameters: values are written as escaped literals
of their column's type. Key columns must hold no NULL (a comparison with NULL is never
true; the loaders reject null keys anyway) and cannot be boolean columns (their
spellings vary, so no literal is certain to compare equal).
"""

from __future__ import annotations

import math
import typing as t
from dataclasses import dataclass
from datetime import UTC, date, datetime

from singer_sdk.exceptions import ConfigValidationError, FatalAPIError
from singer_sdk.helpers._typing import to_json_compatible

from tap_edcast.normalise import Column, sql_literal

if t.TYPE_CHECKING:
    from collections.abc import Sequence

Point = tuple[t.Any, ...]


def backticked(name: str) -> str:
    """A Domo SQL identifier (MySQL style)."""
    return "`" + name.replace("`", "``") + "`"


def domo_datetime(value: t.Any) -> str:
    """A bookmark or setting as Domo's DATETIME text, UTC (validated: it goes into SQL)."""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed.isoformat()


def json_value(value: t.Any) -> t.Any:
    """A typed value as the state keeps it (datetimes as UTC ISO text, dates as ISO)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    return to_json_compatible(value)


@dataclass(frozen=True)
class KeyOrder:
    key: tuple[Column, ...]
    """The point's columns: the replication key, then the key columns not already in."""
    rest: tuple[Column, ...]
    """Every other column, in the dataset's order."""

    @classmethod
    def of(cls, columns: Sequence[Column], replication_key: str, keys: Sequence[str]) -> KeyOrder:
        by_name = {column.name: column for column in columns}
        names = list(dict.fromkeys([replication_key, *keys]))
        booleans = [name for name in names if by_name[name].kind == "boolean"]
        if booleans:
            msg = (
                f"tap-edcast: {booleans} are boolean columns, which cannot order a keyset "
                "read; choose other replication_key / primary_keys (or drop them from "
                "boolean_columns)"
            )
            raise ConfigValidationError(msg, errors=[msg])
        key = tuple(by_name[name] for name in names)
        return cls(key, tuple(column for column in columns if column.name not in names))

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.key]

    def order_by(self, *, every_column: bool = True) -> str:
        columns = [*self.key, *self.rest] if every_column else list(self.key)
        return ", ".join(backticked(column.name) for column in columns)

    def after(self, point: Point) -> str:
        """SQL true for the rows after ``point`` (not its key group)."""
        return self._compare(self._pairs(point), ">", ">")

    def at_or_before(self, point: Point) -> str:
        """SQL true for the rows up to ``point``, its key group included."""
        return self._compare(self._pairs(point), "<", "<=")

    def equal(self, point: Point) -> str:
        """SQL true for the rows of ``point``'s key group."""
        return "(" + " AND ".join(f"{c} = {v}" for c, v in self._pairs(point)) + ")"

    def _pairs(self, point: Point) -> list[tuple[str, str]]:
        return [
            (backticked(column.name), _literal(column, value))
            for column, value in zip(self.key, point, strict=True)
        ]

    def _compare(self, pairs: list[tuple[str, str]], strict: str, last: str) -> str:
        """Lexicographic comparison: ``(a > x OR (a = x AND (b > y OR …)))``."""
        (column, value), *rest = pairs
        if not rest:
            return f"{column} {last} {value}"
        then = self._compare(rest, strict, last)
        return f"({column} {strict} {value} OR ({column} = {value} AND {then}))"


def _literal(column: Column, value: t.Any) -> str:
    """``value`` (as the state keeps it) as a Domo SQL literal of ``column``'s type."""
    if value is None:
        msg = f"key column {column.name!r} is null in a row: a keyset read needs non-null keys"
        raise FatalAPIError(msg)
    if column.kind == "integer":
        return str(int(value))
    if column.kind == "number":
        number = float(value)
        if not math.isfinite(number):
            raise FatalAPIError(f"key column {column.name!r} holds {value!r}")
        return repr(number)
    if column.kind == "date-time":
        return sql_literal(domo_datetime(value))
    if column.kind == "date":
        return sql_literal(date.fromisoformat(str(value)).isoformat())
    return sql_literal(str(value))
