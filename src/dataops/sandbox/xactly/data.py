"""The Xactly Connect data: every table's rows at (seed, scale, epoch).

Every object has versions 1..V. At epoch 0 a history-keeping table's objects have 1 to
3 versions, the others 1. Version 1 is dated ``CREATED_DATE`` (2024-06-01 + ``i % 7``
days, 02:00), versions 2 and 3 of epoch 0 are dated by batch (2024-12-01 02:00 and
2024-12-02 02:00): many rows share one ``MODIFIED_DATE``, and lower keys can have later
dates. Epoch ``e`` >= 1 adds 10% (at least 1) new objects and gives about 10% of the
existing ones a new version, all dated 2025-01-01 03:00 + ``e - 1`` days. Base tables
hold each object's latest version (``VERSION`` = V); ``…_HIST`` tables hold every
version, keyed by (``<PK>``, ``VERSION``), with ``OBJECT_ID`` = ``<PK>``. From epoch 2 on
objects are also deleted and some changes are committed late (docs/vendors/xactly.md).
"""

from __future__ import annotations

import functools
import hashlib
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from dataops.sandbox.vendor import DataParams, Dataset, Record
from dataops.sandbox.xactly.spec import TABLE_BY_NAME, TABLES, USERS, Column, ColumnKind, Table

CREATED_AT = datetime(2024, 6, 1, 2, 0, 0)
BATCH_AT = datetime(2024, 12, 1, 2, 0, 0)
EPOCH_AT = datetime(2025, 1, 1, 3, 0, 0)
UPDATE_RATE = 0.1
DELETES_FROM_EPOCH, DELETE_RATE = 2, 0.03
"""From this epoch on, each epoch deletes this share of every base table's objects."""
LATE_FROM_EPOCH, LATE_RATE, LATE_BY = 2, 0.15, timedelta(minutes=30)
"""From this epoch on, this share of an epoch's inserts and changes is committed late:
dated up to ``LATE_BY`` before the table's high-water mark at the previous epoch."""
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]


def _count(table: Table, scale: int) -> int:
    return table.count * scale


def _added(table: Table, scale: int) -> int:
    return max(1, table.count * scale // 10)


def _string_key(seed: int, table: str, i: int) -> str:
    digest = hashlib.blake2b(f"{seed}:{table}:{i}".encode(), digest_size=6).hexdigest()
    return f"{digest}{i:05d}"


def _epoch_at(epoch: int) -> datetime:
    return EPOCH_AT + timedelta(days=epoch - 1)


def _value(column: Column, seed: int, rng: random.Random, i: int, scale: int) -> Any:
    """Object ``i``'s value in ``column``; ``rng`` draws what the kind leaves open."""
    kind = column.kind
    if kind is ColumnKind.REFERENCE:
        return rng.randint(1, _count(TABLE_BY_NAME[column.references], scale))
    if kind is ColumnKind.STRING_REFERENCE:
        referenced = TABLE_BY_NAME[column.references]
        return _string_key(seed, column.references, rng.randint(1, _count(referenced, scale)))
    if kind is ColumnKind.NUMBERED_NAME:
        return f"{column.prefix} {i}"
    if kind is ColumnKind.CHOICE:
        return rng.choice(column.choices)
    if kind is ColumnKind.NUMBERED_CODE:
        return f"{column.prefix}-{i:06d}"
    if kind is ColumnKind.MONEY:
        return Decimal(rng.randint(0, 5_000_000)) / 100
    if kind is ColumnKind.INTEGER:
        return column.constant if column.constant is not None else rng.randint(1, 10_000)
    if kind is ColumnKind.BOOLEAN:
        return rng.random() < 0.3
    if kind is ColumnKind.DATE:
        if column.mostly_null and rng.random() < 0.8:
            return None
        return date(2023, 1, 1) + timedelta(days=rng.randint(0, 900))
    month = i - 1  # xc_period: one month each, from JAN-2024
    year, index = 2024 + month // 12, month % 12
    if kind is ColumnKind.PERIOD_NAME:
        return f"{MONTHS[index]}-{year}"
    if kind is ColumnKind.PERIOD_START:
        return date(year, index + 1, 1)
    if kind is ColumnKind.PERIOD_END:
        return date(year + (index + 1) // 12, (index + 1) % 12 + 1, 1) - timedelta(days=1)
    return None  # PERIOD_PARENT


@dataclass(frozen=True)
class _Object:
    index: int
    key: int | str
    versions: tuple[datetime, ...]
    """MODIFIED_DATE of versions 1..V; version 1's is also the CREATED_DATE."""
    deleted: bool
    """Gone from the base table (its ``_hist`` rows stay)."""


def _objects(table: Table, params: DataParams) -> list[_Object]:
    """Every object the table has had by ``params.epoch``, deleted ones included, built
    epoch by epoch (each epoch's late commits depend on the one before)."""
    seed, scale = params.seed, params.scale
    base, added = _count(table, scale), _added(table, scale)
    versions: dict[int, list[datetime]] = {}
    for i in range(1, base + 1):
        created = CREATED_AT + timedelta(days=i % 7)
        rng = random.Random(f"{seed}:{table.name}:{i}:versions")
        extra = rng.randint(0, 2) if table.history else 0
        versions[i] = [created] + [BATCH_AT + timedelta(days=v) for v in range(extra)]
    deleted: set[int] = set()
    for epoch in range(1, params.epoch + 1):
        high_water = max(dates[-1] for dates in versions.values())
        for i, dates in versions.items():
            if i in deleted:
                continue
            if epoch >= DELETES_FROM_EPOCH and _drawn(
                seed, table, i, f"delete:{epoch}", DELETE_RATE
            ):
                deleted.add(i)
            elif _drawn(seed, table, i, f"update:{epoch}", UPDATE_RATE):
                dates.append(_commit_date(seed, table, i, epoch, high_water, dates[-1]))
        first = base + added * (epoch - 1) + 1
        for i in range(first, first + added):
            versions[i] = [_commit_date(seed, table, i, epoch, high_water, None)]
    return [
        _Object(
            i,
            _string_key(seed, table.name, i) if table.string_key else i,
            tuple(dates),
            i in deleted,
        )
        for i, dates in versions.items()
    ]


def _drawn(seed: int, table: Table, i: int, event: str, rate: float) -> bool:
    """Whether ``event`` happens to object ``i`` (its own draw: no other decision moves it)."""
    return random.Random(f"{seed}:{table.name}:{i}:{event}").random() < rate


def _commit_date(
    seed: int, table: Table, i: int, epoch: int, high_water: datetime, previous: datetime | None
) -> datetime:
    """MODIFIED_DATE of the version object ``i`` gets at ``epoch``: the epoch's date, or,
    committed late, up to ``LATE_BY`` before the table's ``high_water`` mark — never at
    or before the object's ``previous`` version."""
    on_time = _epoch_at(epoch)
    if epoch < LATE_FROM_EPOCH:
        return on_time
    rng = random.Random(f"{seed}:{table.name}:{i}:late:{epoch}")
    if rng.random() >= LATE_RATE:
        return on_time
    late = high_water - timedelta(seconds=rng.randint(1, int(LATE_BY.total_seconds())))
    return late if previous is None or late > previous else on_time


def _row(table: Table, obj: _Object, version: int, params: DataParams) -> Record:
    seed = params.seed
    stable = random.Random(f"{seed}:{table.name}:{obj.index}")
    varying = random.Random(f"{seed}:{table.name}:{obj.index}:v{version}")
    record: Record = {table.key_column: obj.key}
    for column in table.columns:
        rng = varying if column.versioned else stable
        record[column.name] = _value(column, seed, rng, obj.index, params.scale)
    creator = USERS[obj.index % len(USERS)]
    modifier = USERS[(obj.index + version) % len(USERS)]
    record.update(
        VERSION=version,
        IS_ACTIVE=varying.random() < 0.9,
        CREATED_DATE=obj.versions[0],
        CREATED_BY_ID=creator[0],
        CREATED_BY_NAME=creator[1],
        MODIFIED_DATE=obj.versions[version - 1],
        MODIFIED_BY_ID=modifier[0],
        MODIFIED_BY_NAME=modifier[1],
    )
    return record


@functools.lru_cache(maxsize=8)
def generate(params: DataParams) -> Dataset:
    """Every stream's live rows (column name -> Python value), sorted by key; cached and
    shared: do not mutate. A deleted object's versions stay in its ``_hist`` table."""
    dataset: Dataset = {}
    for table in TABLES:
        objects = sorted(_objects(table, params), key=lambda o: o.key)
        dataset[table.name] = [
            _row(table, o, len(o.versions), params) for o in objects if not o.deleted
        ]
        if table.history:
            history = []
            for obj in objects:
                for version in range(1, len(obj.versions) + 1):
                    row = _row(table, obj, version, params)
                    history.append({table.key_column: obj.key, "OBJECT_ID": obj.key, **row})
            dataset[f"{table.name}_hist"] = history
    return dataset
