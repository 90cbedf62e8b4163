"""Compare a warehouse table with the sandbox's ground truth, value by value.

Warehouse values come back typed by DuckDB or PostgreSQL (timestamps as datetimes,
DATE as dates, NUMERIC as Decimal, JSON as text in DuckDB and parsed from JSONB or
ARRAY in PostgreSQL); truth values are the JSON the vendor served. Both sides are
normalised to the same plain form before comparing, so a mismatch is a real one.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from dataops import warehouse
from dataops.sandbox.registry import get_vendor
from dataops.sandbox.truth import records
from dataops.testing.singer_run import Replica


@dataclass
class TableReport:
    """What differs between one table and its truth (empty lists = exact agreement)."""

    table: str
    rows: int
    """Live rows: soft-deleted ones (`_sdc_deleted_at` set) are not counted."""
    soft_deleted: int = 0
    missing_keys: list[tuple[Any, ...]] = field(default_factory=list)
    unexpected_keys: list[tuple[Any, ...]] = field(default_factory=list)
    duplicate_keys: list[tuple[Any, ...]] = field(default_factory=list)
    mismatched_keys: list[tuple[Any, ...]] = field(default_factory=list)
    """Keys whose row holds another value than the truth (described in value_mismatches)."""
    value_mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.missing_keys
            or self.unexpected_keys
            or self.duplicate_keys
            or self.value_mismatches
        )

    def describe(self) -> str:
        parts = [
            f"{len(self.missing_keys)} missing {self.missing_keys[:5]}"
            if self.missing_keys
            else "",
            f"{len(self.unexpected_keys)} unexpected {self.unexpected_keys[:5]}"
            if self.unexpected_keys
            else "",
            f"{len(self.duplicate_keys)} duplicated {self.duplicate_keys[:5]}"
            if self.duplicate_keys
            else "",
            f"{len(self.value_mismatches)} value mismatches, e.g. {self.value_mismatches[:3]}"
            if self.value_mismatches
            else "",
        ]
        return f"{self.table}: " + ("; ".join(p for p in parts if p) or "exact")


def normalise(value: Any) -> Any:
    """One comparable form for warehouse and vendor values."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str):
        return _normalise_text(value)
    return value


def _normalise_text(value: str) -> Any:
    """Timestamps to UTC ISO form; JSON documents (objects, arrays) parsed."""
    if value[:1] in "[{":
        try:
            return normalise(json.loads(value))
        except json.JSONDecodeError:
            return value
    if len(value) >= 19 and value[4] == "-" and value[10] in "T ":
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        return normalise(parsed)
    return value


def compare_table(
    location: warehouse.Location,
    schema: str,
    table: str,
    truth_records: list[dict[str, Any]],
    key: list[str],
    dropped_fields: frozenset[str] = frozenset(),
) -> TableReport:
    """Compare one table with the records the vendor serves.

    Only live rows count: a row whose `_sdc_deleted_at` is set was soft-deleted by the
    loader and must not be in the truth. Every truth field except `dropped_fields` must
    be present with an equal value; dropped fields must be absent as columns; other
    `_sdc_*` columns are ignored.
    """
    every = warehouse.rows(location, schema, table)
    loaded = [row for row in every if row.get("_sdc_deleted_at") is None]
    types = warehouse.column_types(location, schema, table)
    report = compare_rows(f"{schema}.{table}", loaded, truth_records, key, dropped_fields, types)
    report.soft_deleted = len(every) - len(loaded)
    leaked = sorted(set(types) & dropped_fields)
    if leaked:
        report.value_mismatches.append(f"deselected columns present: {leaked}")
    return report


def compare_rows(
    table: str,
    loaded: list[dict[str, Any]],
    truth_records: list[dict[str, Any]],
    key: list[str],
    dropped_fields: frozenset[str] = frozenset(),
    types: Mapping[str, str] | None = None,
) -> TableReport:
    """Compare rows (a table's, or what a tap's messages add up to) with the truth,
    matched on `key`; with the column `types`, a nested value must sit in a column
    that holds objects natively."""
    report = TableReport(table=table, rows=len(loaded))

    def key_of(row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(normalise(row[k]) for k in key)

    counts = Counter(key_of(row) for row in loaded)
    report.duplicate_keys = sorted(k for k, n in counts.items() if n > 1)
    by_key = {key_of(row): row for row in loaded}
    truth_by_key = {key_of(rec): rec for rec in truth_records}
    report.missing_keys = sorted(set(truth_by_key) - set(by_key))
    report.unexpected_keys = sorted(set(by_key) - set(truth_by_key))
    for row_key in sorted(set(by_key) & set(truth_by_key)):
        row, expected = by_key[row_key], truth_by_key[row_key]
        wrong = False
        for name, value in expected.items():
            if name in dropped_fields:
                continue
            got = row.get(name)
            if not same(normalise(got), normalise(value)):
                report.value_mismatches.append(f"{row_key}.{name}: {got!r} != {value!r}")
                wrong = True
            elif (
                types is not None
                and isinstance(value, dict | list)
                and types.get(name) not in warehouse.NESTED_TYPES
            ):
                report.value_mismatches.append(
                    f"{name}: nested value in a {types.get(name)} column"
                )
                wrong = True
        if wrong:
            report.mismatched_keys.append(row_key)
    return report


def compare_replica(
    replica: Replica,
    vendor: str,
    *,
    seed: int,
    epoch: int = 0,
    scale: int = 1,
    streams: Iterable[str] | None = None,
    keep: Callable[[str, dict[str, Any]], bool] | None = None,
) -> list[TableReport]:
    """Compare what a tap's messages add up to with the truth, per stream the sandbox
    serves (or just `streams`); `keep(stream, row)` narrows the truth to the rows the
    runs were asked for (a start date, say)."""
    spec = get_vendor(vendor)
    truth = records(vendor, seed=seed, scale=scale, epoch=epoch)
    return [
        compare_rows(
            stream,
            replica.table(stream),
            [row for row in truth[stream] if keep is None or keep(stream, row)],
            list(spec.key_properties[stream]),
        )
        for stream in (streams if streams is not None else truth)
    ]


def compare_with_truth(
    location: warehouse.Location,
    vendor: str,
    schema: str,
    *,
    seed: int,
    epoch: int = 0,
    scale: int = 1,
    streams: Iterable[str] | None = None,
    dropped_fields: Mapping[str, frozenset[str]] | None = None,
) -> list[TableReport]:
    """Compare every stream the sandbox serves (or just `streams`) with its table,
    matching rows on the vendor's key properties."""
    spec = get_vendor(vendor)
    truth = records(vendor, seed=seed, scale=scale, epoch=epoch)
    return [
        compare_table(
            location,
            schema,
            stream,
            truth[stream],
            list(spec.key_properties[stream]),
            (dropped_fields or {}).get(stream, frozenset()),
        )
        for stream in (streams if streams is not None else truth)
    ]


def same(got: Any, expected: Any) -> bool:
    """Equal values of the same kind: unlike `==`, True is not 1 and 1 is not "1"."""
    if isinstance(got, bool) or isinstance(expected, bool):
        return type(got) is type(expected) and got == expected
    if isinstance(got, dict) and isinstance(expected, dict):
        return got.keys() == expected.keys() and all(same(got[k], expected[k]) for k in got)
    if isinstance(got, list) and isinstance(expected, list):
        return len(got) == len(expected) and all(map(same, got, expected))
    if isinstance(got, int | float) and isinstance(expected, int | float):
        return got == expected
    return type(got) is type(expected) and got == expected
