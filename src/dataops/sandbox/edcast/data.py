"""The EdCast datasets in Domo: generated with DuckDB SQL, served and checked from it.

Everything is a function of (seed, scale, epoch), built from ``range()`` plus ``hash()``,
so a million events take a second or two. An :class:`Engine` is one in-memory DuckDB
database holding the datasets exactly as served ("wire" values, mess included); the
ground truth is computed from the same tables. Events: 2,000 x scale at epoch 0, each
epoch appends ``epoch_events_percent`` (default 10) % more, later than every earlier
one; every hundredth event repeats the key of a recent one. Users: 200 x scale, each
epoch adds 10 % and updates about 10 %. From epoch 2 on each epoch is a replace upload
that leaves out about 3 % of the older rows, and one or two catalogue-only datasets
are deleted; with ``drift_at=E`` the users' schema drifts from epoch E on
(docs/vendors/edcast.md).

Engine settings: ``default_null_order = 'nulls_first'`` (an ascending sort puts NULL
first, matching the truth's explicit ``DESC NULLS LAST`` reversal), file access off.
Columns serving ``""`` next to numbers are text in the engine, so they sort as text.
"""

# ruff: noqa: S608 - this module builds SQL, from its own constants only
from __future__ import annotations

import functools
import hashlib
import random
import threading
import uuid
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from dataops.sandbox.edcast.spec import (
    CATALOGUE_COLUMNS,
    DATASETS_STREAM,
    EVENT_NAMES,
    EVENTS,
    KEY_PROPERTIES,
    KEYS,
    ORDER_FIRST,
    STREAMS,
    USERS,
    Column,
    DatasetInfo,
    Hashes,
    event_columns,
    ident,
    pick,
    user_columns,
)
from dataops.sandbox.vendor import DataParams, Dataset

EVENTS_PER_SCALE, USERS_PER_SCALE, CARDS_PER_SCALE, GROUPS = 2_000, 200, 300, 40
ENGINE_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "default_null_order": "nulls_first",
    "enable_external_access": False,
}
CATALOGUE_PREFIXES = ["GlueGroups", "Learning", "Content", "Skills", "Pathways", "Channels"]
CATALOGUE_SUBJECTS = [
    "Engagement",
    "Completions",
    "Assignments",
    "Ratings",
    "Searches",
    "Bookmarks",
    "Enrollments",
    "Leaderboard",
    "Badges",
    "Feedback",
]
CATALOGUE_SIZE = 58
EPOCH_EVENTS_PERCENT = 10
"""Events each epoch appends, in percent of epoch 0's (the ``epoch_events_percent`` default)."""
DELETES_FROM_EPOCH, RETRACTED_PERCENT = 2, 3
"""From this epoch on, each epoch's replace upload leaves out this share of the older rows."""


def _stamp(start: str, seconds: str) -> str:
    """``YYYY-MM-DDTHH:MM:SS``, ``seconds`` after ``start``."""
    moment = f"TIMESTAMP '{start}' + to_seconds(({seconds})::BIGINT)"
    return f"strftime({moment}, '%Y-%m-%dT%H:%M:%S')"


def _retracted(h: Hashes, row: str, added: str, epoch: int, salt: int) -> str:
    """SQL true for a row (number ``row``, added at epoch ``added``) that a replace upload
    of an epoch up to ``epoch`` left out: each one drops about ``RETRACTED_PERCENT``% of
    the rows older than it. ``false`` before ``DELETES_FROM_EPOCH``."""
    drops = [
        f"({added} < {e} AND {h(salt, f'{row}, {e}')} % 100 < {RETRACTED_PERCENT})"
        for e in range(DELETES_FROM_EPOCH, epoch + 1)
    ]
    return " OR ".join(drops) or "false"


def _window(epoch: str) -> tuple[str, str]:
    """SQL of (days after 2021-01-01 where epoch ``epoch`` starts, its length in seconds)."""
    start = f"CASE WHEN {epoch} = 0 THEN 0 ELSE 365 + ({epoch} - 1) * 7 END"
    return start, f"CASE WHEN {epoch} = 0 THEN 365 ELSE 7 END * 86400"


def _events_sql(
    params: DataParams, columns: list[Column], epoch_percent: int = EPOCH_EVENTS_PERCENT
) -> str:
    seed, scale = params.seed, params.scale
    n0 = EVENTS_PER_SCALE * scale
    step = max(1, n0 * epoch_percent // 100)
    u0, ustep = USERS_PER_SCALE * scale, USERS_PER_SCALE * scale // 10
    repeat_slot = hashlib.blake2b(str(seed).encode(), digest_size=1).digest()[0] % 100
    h = Hashes(seed)
    start, seconds = _window("ep")
    slots = f"(CASE WHEN ep = 0 THEN {n0} ELSE {step} END // 4 + 1)"
    slot = f"(kidx - first_i + ({h(5, 'kidx')} % 4)::BIGINT) // 4"
    offset = f"({start}) * 86400 + {slot} * (({seconds}) // {slots})"
    select = ",\n  ".join(f"{column.sql} AS {ident(column.name)}" for column in columns)
    return f"""
WITH epochs AS (
  SELECT i, CASE WHEN i < {n0} THEN 0 ELSE 1 + (i - {n0}) // {step} END AS ep
  FROM range({n0 + params.epoch * step}) r(i)
), firsts AS (
  SELECT *, CASE WHEN ep = 0 THEN 0 ELSE {n0} + (ep - 1) * {step} END AS first_i FROM epochs
), keyed AS (
  SELECT i, ep, first_i,
    CASE WHEN i % 100 = {repeat_slot} AND i > first_i
      THEN greatest(first_i, i - 1 - ({h(1)} % 50)::BIGINT) ELSE i END AS kidx,
    ({h(2)} % ({u0} + ep * {ustep})::UBIGINT)::BIGINT AS u,
    ({h(3)} % {CARDS_PER_SCALE * scale})::BIGINT AS c,
    ({h(4)} % {len(EVENT_NAMES)})::BIGINT AS ev
  FROM firsts
), timed AS (
  SELECT *, ({h(6, "kidx")} % {GROUPS})::BIGINT AS g, {_stamp("2021-01-01", offset)} AS time
  FROM keyed
)
SELECT {select}
FROM timed
WHERE NOT ({_retracted(h, "i", "ep", params.epoch, 90)})"""


def _users_sql(params: DataParams, columns: list[Column]) -> str:
    u0, ustep = USERS_PER_SCALE * params.scale, USERS_PER_SCALE * params.scale // 10
    h = Hashes(params.seed)
    start, seconds = _window("v")
    offset = f"({start}) * 86400 + {h(74, 'u * 1000 + v')} % ({seconds})"
    select = ",\n  ".join(f"{column.sql} AS {ident(column.name)}" for column in columns)
    return f"""
WITH born AS (
  SELECT u, CASE WHEN u < {u0} THEN 0 ELSE 1 + (u - {u0}) // {ustep} END AS born
  FROM range({u0 + params.epoch * ustep}) r(u)
), updates AS (
  SELECT u, max(e) AS v FROM born, range(1, {params.epoch + 1}) r(e)
  WHERE e > born AND {h(75, "u * 1000 + e")} % 10 = 0 GROUP BY u
), versions AS (
  SELECT u, born.born, coalesce(updates.v, born.born) AS v FROM born LEFT JOIN updates USING (u)
)
SELECT {select}
FROM (SELECT *, {_stamp("2021-01-01", offset)} AS updated FROM versions)
WHERE NOT ({_retracted(h, "u", "born", params.epoch, 91)})
ORDER BY u"""


def _dataset_id(name: str) -> str:
    return str(uuid.UUID(hashlib.md5(name.encode()).hexdigest()))  # noqa: S324 - an id, not a secret


def _deleted_catalogue_entries(names: list[str], params: DataParams) -> set[str]:
    """Catalogue-only datasets deleted by ``params.epoch``: one or two per epoch from
    ``DELETES_FROM_EPOCH`` on, drawn from (seed, epoch) among those still there."""
    deleted: set[str] = set()
    for epoch in range(DELETES_FROM_EPOCH, params.epoch + 1):
        draw = random.Random(f"{params.seed}:edcast:catalogue:{epoch}")
        remaining = [name for name in names if name not in deleted]
        deleted.update(draw.sample(remaining, min(draw.choice((1, 2)), len(remaining))))
    return deleted


OWNERS = [(1, "Domo Admin"), (27, "EdCast Integration"), (311, "People Analytics")]


class Engine:
    """One DuckDB database with every dataset of (seed, scale, epoch); thread-safe reads.
    ``drift_at``: the epoch the users' schema drifts from (None: never);
    ``epoch_events_percent``: events each epoch appends, in percent of epoch 0's."""

    def __init__(
        self,
        params: DataParams,
        drift_at: int | None = None,
        epoch_events_percent: int = EPOCH_EVENTS_PERCENT,
    ) -> None:
        self.params = params
        self._con = duckdb.connect(config=ENGINE_CONFIG)
        drifted = drift_at is not None and params.epoch >= drift_at
        events = event_columns(params.seed)
        users = user_columns(params.seed, drifted=drifted)
        events_sql = _events_sql(params, events, epoch_events_percent)
        self._con.execute(f"CREATE TABLE events AS {events_sql}")
        self._con.execute(f"CREATE TABLE users AS {_users_sql(params, users)}")
        self.datasets = [
            self._real(
                EVENTS,
                "300121_Glue_ Groups [G][3] Group Performance Data Explorer",
                "events",
                events,
            ),
            self._real(USERS, "EdCast users with their HR attributes", "users", users),
            *self._catalogue(),
        ]
        self.by_id = {dataset.id: dataset for dataset in self.datasets}
        self.by_name = {dataset.name: dataset for dataset in self.datasets}
        self._ordered: OrderedDict[str, str] = OrderedDict()
        self._ordered_lock = threading.Lock()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection of its own for one thread (same database and settings)."""
        return self._con.cursor()

    def ordered_result(self, select: str) -> str:
        """A table holding the rows of an ORDER BY query, in order (the last two are kept).

        Paging a big dataset with LIMIT/OFFSET would sort it again for every page; an
        engine's data never change (another epoch is another engine), so each page of
        the same ordered query is a slice of this.
        """
        with self._ordered_lock:
            if select in self._ordered:
                self._ordered.move_to_end(select)
                return self._ordered[select]
            table = f"ordered_{hashlib.blake2b(select.encode(), digest_size=8).hexdigest()}"
            self._con.execute(f"CREATE TABLE {table} AS {select}\n")
            self._ordered[select] = table
            while len(self._ordered) > 2:
                self._con.execute(f"DROP TABLE {self._ordered.popitem(last=False)[1]}")
            return table

    def _real(self, name: str, description: str, table: str, columns: list[Column]) -> DatasetInfo:
        last = ORDER_FIRST[name]
        query = f"SELECT count(*), max({ident(last)}) FROM {table}"
        rows, newest = self._con.execute(query).fetchall()[0]
        updated = datetime.fromisoformat(newest).replace(tzinfo=UTC) + timedelta(minutes=5)
        return DatasetInfo(
            _dataset_id(name),
            name,
            description,
            table,
            tuple(columns),
            rows,
            datetime(2020, 11, 3, 9, 30, tzinfo=UTC),
            updated,
            False,
            OWNERS[1],
        )

    def _catalogue(self) -> list[DatasetInfo]:
        """The catalogue-only datasets: a small generic table each (fixed per seed)."""
        names = [p + s for s in CATALOGUE_SUBJECTS for p in CATALOGUE_PREFIXES][:CATALOGUE_SIZE]
        seed = self.params.seed
        self._con.execute(f"""
            CREATE TABLE catalogue AS
            SELECT d, strftime(DATE '2021-01-01' + n::INT * 7, '%Y-%m-%d') AS "Date",
              {pick(["views", "completions", "ratings", "searches"], f"hash(d, n, {seed})")}
                AS "Metric",
              (hash(d, n, {seed}, 1) % 100000 / 10.0)::DOUBLE AS "Value"
            FROM range({len(names)}) a(d), range(12) b(n)
            WHERE n < 3 + hash(d, {seed}) % 10
            ORDER BY d, n""")
        counts = dict(self._con.sql("SELECT d, count(*) FROM catalogue GROUP BY d").fetchall())
        deleted = _deleted_catalogue_entries(names, self.params)
        datasets = []
        for number, name in enumerate(names):
            if name in deleted:
                continue
            view = f"catalogue_{number}"
            self._con.execute(
                f'CREATE VIEW {view} AS SELECT "Date", "Metric", "Value" '
                f"FROM catalogue WHERE d = {number}"
            )
            created = datetime(2019, 1, 1, tzinfo=UTC) + timedelta(days=number * 11, hours=number)
            datasets.append(
                DatasetInfo(
                    _dataset_id(name),
                    name,
                    f"EdCast analytics: {name}",
                    view,
                    CATALOGUE_COLUMNS,
                    counts[number],
                    created,
                    created + timedelta(days=30 + number),
                    number % 5 == 0,
                    OWNERS[number % len(OWNERS)],
                )
            )
        return datasets

    def wire_table(self, name: str) -> pa.Table:
        """A dataset as served (wire values, in the engine's text/number storage)."""
        dataset = self.by_name[name]
        return self.cursor().sql(f"SELECT * FROM {dataset.relation}").to_arrow_table()

    def truth_table(self, name: str) -> pa.Table:
        """The clean rows of a dataset: one per key, the last under the tap's read order."""
        dataset = self.by_name[name]
        key = ", ".join(ident(name) for name in KEYS[name])
        reversed_order = ", ".join(
            f"{ident(column)} DESC NULLS LAST"
            for column in [ORDER_FIRST[name], *(c.name for c in dataset.columns)]
        )
        clean = ", ".join(f"{c.clean_sql} AS {ident(c.name)}" for c in dataset.columns)
        table = (
            self.cursor()
            .sql(f"""
                SELECT {clean} FROM {dataset.relation}
                QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {reversed_order}) = 1
                ORDER BY {key}""")
            .to_arrow_table()
        )
        return _utc(table)


def _utc(table: pa.Table) -> pa.Table:
    """Label naive timestamp columns as UTC (the wire carries no offset)."""
    fields = [
        field.with_type(pa.timestamp(field.type.unit, "UTC"))
        if pa.types.is_timestamp(field.type)
        else field
        for field in table.schema
    ]
    return table.cast(pa.schema(fields))


def engine(
    params: DataParams,
    drift_at: int | None = None,
    epoch_events_percent: int = EPOCH_EVENTS_PERCENT,
) -> Engine:
    """The engine of ``params`` (cached: built once per process)."""
    return _engine(params, drift_at, epoch_events_percent)


@functools.lru_cache(maxsize=2)
def _engine(params: DataParams, drift_at: int | None, epoch_events_percent: int) -> Engine:
    return Engine(params, drift_at, epoch_events_percent)


def _dataset_name(name: str) -> str:
    """The Domo dataset behind a stream name (dataset names pass through)."""
    return STREAMS.get(name, name)


def wire_table(params: DataParams, dataset: str = EVENTS) -> pa.Table:
    """A dataset (or stream) exactly as served: wire values, stored as text or numbers."""
    return engine(params).wire_table(_dataset_name(dataset))


def truth_table(
    params: DataParams,
    stream: str,
    drift_at: int | None = None,
    epoch_events_percent: int = EPOCH_EVENTS_PERCENT,
) -> pa.Table:
    """A stream's clean rows (one per key, the tap-order winner), sorted by key, as
    served with ``drift_at`` and ``epoch_events_percent``.

    Types: int64, float64, bool, string, date32, timestamp[us, UTC].
    """
    if stream == DATASETS_STREAM:
        catalogue = sorted(
            engine(params, drift_at, epoch_events_percent).datasets, key=lambda d: d.id
        )
        rows = []
        for dataset in catalogue:
            row: dict[str, Any] = dataset.to_json()
            for name in ("createdAt", "updatedAt", "dataCurrentAt"):
                row[name] = datetime.fromisoformat(row[name])
            rows.append(row)
        return pa.Table.from_pylist(rows)
    return engine(params, drift_at, epoch_events_percent).truth_table(_dataset_name(stream))


def generate(params: DataParams) -> Dataset:
    """Every stream's clean rows as dicts, sorted by key (fine for small scales)."""
    return {stream: truth_table(params, stream).to_pylist() for stream in KEY_PROPERTIES}


def truth(params: DataParams) -> dict[str, dict[str, Any]]:
    """Per stream ``{"rows", "key", "keys"}``, without building row dicts."""
    result: dict[str, dict[str, Any]] = {}
    for stream, key in KEY_PROPERTIES.items():
        table = truth_table(params, stream)
        columns = [table.column(name).to_pylist() for name in key]
        keys = sorted(map(list, zip(*columns, strict=True)))
        result[stream] = {"rows": table.num_rows, "key": list(key), "keys": keys}
    return result
