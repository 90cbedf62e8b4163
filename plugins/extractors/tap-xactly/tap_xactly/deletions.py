"""Deletions seen by counting rows: one COUNT per table and run, no list of keys kept.

Keys are stable, and a new row gets a larger key than the rows before it (integer ids
from a sequence). So the number of rows with a key at or below a key K changes only
when rows are deleted (fewer) or a row with a smaller key is committed late (more);
an update never changes it. At the end of a completed run a stream keeps K, its
largest key, and N, the rows at or below K, counted right after reading; the next run
counts at or below K again and, finding fewer than N, reads the table whole: a full
read that ends with ACTIVATE_VERSION (``tapkit.versions``), so the loader drops the
rows the table no longer has.

What the count cannot see: a deletion and a late insert below K between two runs (the
count stays N), and a row deleted after the run read it but before the count (N lacks
it already). ``meltano run --full-refresh`` reconciles both.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from tap_xactly.keyset import PageQuery, at_or_before, point_params

if t.TYPE_CHECKING:
    from collections.abc import Sequence

ROW_COUNT = "row_count"
"""Stream state key of the last completed run's :class:`RowCount`."""


@dataclass(frozen=True)
class RowCount:
    """The table's largest key (JSON values; None when it was empty) and how many rows
    had a key at or below it."""

    last_key: list[t.Any] | None
    rows: int

    def to_state(self) -> dict[str, t.Any]:
        return {"last_key": self.last_key, "rows": self.rows}

    @classmethod
    def from_state(cls, value: t.Any) -> RowCount | None:
        """The count a state holds; None when it holds none (or a hand-edited one that
        is not a count): then the table must be read whole to count it afresh."""
        try:
            return cls(value["last_key"], int(value["rows"]))
        except (KeyError, TypeError, ValueError):
            return None


def last_key_query(table: str, key: Sequence[str]) -> PageQuery:
    """The row with the largest key (its key columns only)."""
    descending = ", ".join(f"{column} DESC" for column in key)
    sql = f"SELECT {', '.join(key)} FROM {table} ORDER BY {descending} LIMIT 1"  # noqa: S608
    return PageQuery(sql, [])


def count_query(table: str, key: Sequence[str], last_key: Sequence[t.Any]) -> PageQuery:
    """How many rows have a key at or below ``last_key`` (bound parameters)."""
    sql = f"SELECT COUNT(*) FROM {table} WHERE {at_or_before(key)}"  # noqa: S608
    return PageQuery(sql, point_params(last_key))
