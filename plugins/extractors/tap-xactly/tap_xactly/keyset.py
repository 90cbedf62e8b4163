"""Keyset paging SQL: each page starts strictly after the last row of the one before.

Rows are ordered by a tuple of columns that is unique per row (``MODIFIED_DATE``
then the primary key), and a page is "the first ``n`` rows after (d, k)":

    MODIFIED_DATE > ? OR (MODIFIED_DATE = ? AND PK > ?)  ORDER BY MODIFIED_DATE, PK

Unlike the original tap's ``MODIFIED_DATE >= d AND PK > k``, this skips no row with a
lower key but a later date, and it stays correct when thousands of rows share one
``MODIFIED_DATE``. Its complement, :func:`at_or_before`, counts the rows up to a key
(``tap_xactly.deletions``). Values are always bound parameters; only identifiers (from
the database's own metadata, checked or quoted) and the integer page size are SQL text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_$#]*")


def identifier(name: str, quote: str = '"') -> str:
    """``name`` as SQL: bare when it is a plain identifier (the Xactly dialect's form),
    else quoted with the driver's quote string."""
    if _PLAIN.fullmatch(name):
        return name
    if not quote.strip():
        msg = f"column or table name {name!r} needs quoting and the driver has no quote string"
        raise ValueError(msg)
    return quote + name.replace(quote, quote * 2) + quote


def _compare(columns: Sequence[str], strict: str, last: str) -> str:
    first, *rest = columns
    if not rest:
        return f"{first} {last} ?"
    return f"({first} {strict} ? OR ({first} = ? AND {_compare(rest, strict, last)}))"


def after(columns: Sequence[str]) -> str:
    """SQL true for rows after a point in the lexicographic order of ``columns``.

    Takes ``2 * len(columns) - 1`` parameters, from :func:`point_params`.
    """
    return _compare(columns, ">", ">")


def at_or_before(columns: Sequence[str]) -> str:
    """SQL true for rows at or before a point (the rows :func:`after` leaves out);
    its parameters are the same."""
    return _compare(columns, "<", "<=")


def point_params(values: Sequence[Any]) -> list[Any]:
    """The parameters of :func:`after` for the point ``values``: v1, v1, v2, v2, …, vn."""
    params: list[Any] = []
    for value in values[:-1]:
        params += [value, value]
    return [*params, values[-1]]


@dataclass(frozen=True)
class PageQuery:
    """One page: SQL text and its parameters."""

    sql: str
    params: list[Any]


def page_query(
    table: str,
    columns: Sequence[str],
    order: Sequence[str],
    limit: int,
    *,
    condition: str | None = None,
    condition_params: Sequence[Any] = (),
    start_after: Sequence[Any] | None = None,
) -> PageQuery:
    """``SELECT columns FROM table WHERE condition AND after(order) ORDER BY order LIMIT n``.

    ``table``, ``columns`` and ``order`` are SQL identifiers already (see
    :func:`identifier`); ``condition`` is SQL with ``?`` for ``condition_params``.
    """
    if limit < 1:
        raise ValueError(f"page size must be at least 1, got {limit}")
    where: list[str] = []
    params: list[Any] = []
    if condition:
        where.append(f"({condition})")
        params += condition_params
    if start_after is not None:
        where.append(after(order))
        params += point_params(start_after)
    sql = f"SELECT {', '.join(columns)} FROM {table}"  # noqa: S608 - identifiers only
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {', '.join(order)} LIMIT {int(limit)}"
    return PageQuery(sql, params)
