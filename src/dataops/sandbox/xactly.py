"""Xactly Connect stand-in: a deterministic H2 database served over JDBC (not HTTP).

Schema ``XACTLY`` holds every table of the spec (``XC_…``, upper case) plus the ``…_HIST``
tables, each a function of (seed, scale, epoch), built in Python and loaded by H2 itself
(``CREATE TABLE … AS SELECT * FROM CSVREAD(…)`` run by ``org.h2.tools.RunScript``, one JVM
start, about a second at scale 1). ``serve`` copies the built file into a fresh directory
and runs ``org.h2.tools.Server -tcp`` on a free loopback port in a child JVM, so the tap
(another process) connects with ``jdbc:h2:tcp://127.0.0.1:PORT/xactly`` as
``sandbox``/``sandbox-secret`` through the H2 driver jar (``/usr/share/java/h2.jar``,
``libh2-java``; override with ``$H2_JAR``; ``java`` from ``$JAVA_HOME`` or ``PATH``).

Data: every object has versions 1..V. At epoch 0 a history-keeping table's objects have
1 to 3 versions, the others 1. Version 1 is dated ``CREATED_DATE``
(2024-06-01 + ``i % 7`` days, 02:00), versions 2 and 3 of epoch 0 are dated by batch
(2024-12-01 02:00 and 2024-12-02 02:00): many rows share one ``MODIFIED_DATE``, and lower
keys can have later dates. Epoch ``e`` >= 1 adds 10% (at least 1) new objects and gives
about 10% of the existing ones a new version, all dated 2025-01-01 03:00 + ``e - 1`` days.
Base tables hold each object's latest version (``VERSION`` = V); ``…_HIST`` tables hold
every version, keyed by (``<PK>``, ``VERSION``), with ``OBJECT_ID`` = ``<PK>``.
Stream names are the lower-case table names. Every table has ``MODIFIED_DATE`` and
``CREATED_DATE``, never NULL (the spec's common columns), so every table gets the late
commits below; a table without the date, or rows without it, exist only in the tap's
own tests.

From epoch 2 on the data also changes as a replicated source does (epochs 0 and 1 are
exactly as before, for the tests and benchmarks that rely on them):

- Deletions. The spec documents no deleted-objects table, tombstone or delete date
  (``IS_ACTIVE`` is a flag of live objects): an object deleted in Xactly Incent is
  just gone from its base table, which only a read of that table can notice. Each
  epoch deletes about 3% of every base table's objects (those of earlier epochs), drawn
  from (seed, table, key, epoch); a deleted key never returns (new objects take new
  keys), and a deleted object gets no later version. The spec and the Xactly
  documentation reached here say nothing of what deleting does to the ``_hist``
  tables; the sandbox takes history as append-only: a ``_hist`` table keeps every
  version a deleted object had.
- Late commits. Xactly Connect reads a replica that can commit a change after later
  ones: a sync may not see a row yet while its bookmark passes that row's
  ``MODIFIED_DATE``. About 15% of the rows an epoch inserts or changes are committed
  late: dated up to 30 minutes before the table's high-water mark at the previous epoch
  (its latest ``MODIFIED_DATE`` by then, deleted rows' included: for a ``_hist`` table its
  latest row), so a sync of the previous epoch could not have read them and its bookmark
  is already past them. A late version stays later than the object's previous version
  (a change that cannot be is committed on time); a late insert's ``CREATED_DATE`` is
  its ``MODIFIED_DATE``. How late Xactly's replica can commit is not documented; 30
  minutes stays inside the tap's default look-back (``lookback_seconds`` 3600).
"""

# ruff: noqa: S608 - this module builds SQL from its own constants only
from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import os
import queue
import random
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from dataops.sandbox.vendor import DataParams, Dataset, HttpApp, Record, Vendor

SCHEMA = "XACTLY"
DATABASE = "xactly"
CREDENTIALS = {"user": "sandbox", "password": "sandbox-secret"}
DRIVER_CLASS = "org.h2.Driver"
DEFAULT_JAR = "/usr/share/java/h2.jar"

CREATED_AT = datetime(2024, 6, 1, 2, 0, 0)
BATCH_AT = datetime(2024, 12, 1, 2, 0, 0)
EPOCH_AT = datetime(2025, 1, 1, 3, 0, 0)
UPDATE_RATE = 0.1
DELETES_FROM_EPOCH, DELETE_RATE = 2, 0.03
"""From this epoch on, each epoch deletes this share of every base table's objects."""
LATE_FROM_EPOCH, LATE_RATE, LATE_BY = 2, 0.15, timedelta(minutes=30)
"""From this epoch on, this share of an epoch's inserts and changes is committed late:
dated up to ``LATE_BY`` before the table's high-water mark at the previous epoch."""
USERS = [
    (101, "Integration User"),
    (102, "Ana García"),
    (103, "Søren Müller"),
    (104, "Priya O'Brien"),
    (105, "ADMIN"),
]
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]

SQL_TYPES = {
    "id": "BIGINT",
    "skey": "VARCHAR(64)",
    "fk": "BIGINT",
    "sfk": "VARCHAR(64)",
    "name": "VARCHAR(255)",
    "text": "VARCHAR(255)",
    "code": "VARCHAR(64)",
    "money": "DECIMAL(18,2)",
    "int": "INTEGER",
    "bool": "BOOLEAN",
    "date": "DATE",
    "ts": "TIMESTAMP",
    "pname": "VARCHAR(32)",
    "pstart": "DATE",
    "pend": "DATE",
    "pparent": "BIGINT",
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    arg: Any = None
    versioned: bool = False
    """Whether the value changes from one version to the next."""


@dataclass(frozen=True)
class Table:
    name: str
    """Stream name (lower case); the H2 table is its upper-case form."""
    pk: str
    count: int
    """Objects per scale unit at epoch 0."""
    columns: tuple[Column, ...]
    history: bool = True
    string_key: bool = False

    @property
    def sql_name(self) -> str:
        return self.name.upper()


def _c(name: str, kind: str, arg: Any = None, v: bool = False) -> Column:
    return Column(name, kind, arg, v)


CURRENCIES = ["USD", "EUR", "GBP", "JPY"]
STATUSES = ["OPEN", "APPROVED", "PAID", "REVERSED"]
REGIONS = ["AMER", "EMEA", "APAC", "PUBSEC"]

_CREDIT_COLUMNS = (
    _c("NAME", "name", "Credit"),
    _c("AMOUNT", "money", None, True),
    _c("AMOUNT_UNIT_TYPE_ID", "int"),
    _c("AMOUNT_UNIT_TYPE_NAME", "text", CURRENCIES),
    _c("AMOUNT_DISPLAY_SYMBOL", "text", ["$", "€", "£", "¥"]),
    _c("PERIOD_ID", "fk", "xc_period"),
    _c("PERIOD_NAME", "text", ["JAN-2025", "FEB-2025", "MAR-2025"]),
    _c("PARTICIPANT_ID", "fk", "xc_participant"),
    _c("PARTICIPANT_NAME", "text", [name for _, name in USERS]),
    _c("EFF_PARTICIPANT_ID", "fk", "xc_participant"),
    _c("POSITION_ID", "fk", "xc_position"),
    _c("POSITION_NAME", "name", "Account Executive"),
    _c("EFF_POSITION_ID", "fk", "xc_position"),
    _c("PLAN_ID", "fk", "xc_plan"),
    _c("PLAN_NAME", "name", "FY25 Sales Plan"),
    _c("RULE_ID", "int"),
    _c("RULE_NAME", "name", "Bookings Rule"),
    _c("CREDIT_TYPE_ID", "fk", "xc_credit_type"),
    _c("CREDIT_TYPE_NAME", "text", ["Bookings", "Renewal", "Services", "SPIFF"]),
    _c("ORDER_ITEM_ID", "int"),
    _c("ORDER_CODE", "code", "ORD"),
    _c("ITEM_CODE", "code", "ITM"),
    _c("CUSTOMER_ID", "int"),
    _c("CUSTOMER_NAME", "name", "Customer"),
    _c("PRODUCT_ID", "int"),
    _c("PRODUCT_NAME", "text", ["Premium", "Ultimate", "Dedicated", "Services"]),
    _c("GEOGRAPHY_ID", "int"),
    _c("GEOGRAPHY_NAME", "text", REGIONS),
    _c("INCENTIVE_DATE", "date"),
    _c("IS_HELD", "bool", None, True),
    _c("RELEASE_DATE", "date"),
    _c("EST_RELEASE_DATE", "date"),
    _c("IS_PROCESSED", "bool", None, True),
    _c("DUPLICATE_CREDIT", "bool"),
    _c("REASON_ID", "int"),
    _c("REASON_CODE_NAME", "text", ["", "Split", "Manual", "Clawback"]),
    _c("TRANS_ID", "int"),
    _c("BATCH_NUMBER", "int"),
    _c("BATCH_NAME", "code", "BATCH"),
    _c("SOURCE_CREDIT_ID", "int"),
    _c("SOURCE_TYPE", "text", ["ORDER", "ADJUSTMENT", "ROLLUP"]),
    _c("ROLLUP_LEVEL", "int"),
    _c("SPLIT_PERCENT", "money"),
    _c("STATUS", "text", STATUSES, True),
    _c("DESCRIPTION", "text", ["Closed won", "Upsell", "Renewal uplift", "Multi-year"], True),
    _c("BUSINESS_GROUP_ID", "int"),
    _c("BUSINESS_GROUP_NAME", "text", ["Enterprise", "Mid-Market", "SMB"]),
    _c("OPPORTUNITY_ID__C", "code", "006"),
    _c("DEAL_TYPE__C", "text", ["New", "Expansion", "Renewal"]),
)
_NAMED = (_c("NAME", "name", "Item"), _c("DESCRIPTION", "text", ["", "Default", "Legacy"], True))


def _t(
    name: str, pk: str, count: int, *cols: Column, history: bool = True, sk: bool = False
) -> Table:
    return Table(name, pk, count, cols, history, sk)


TABLES: tuple[Table, ...] = (
    _t(
        "xc_attainment_measure",
        "ATTAINMENT_MEASURE_ID",
        20,
        *_NAMED,
        _c("PERIOD_TYPE_ID", "fk", "xc_period_type"),
        _c("FORMULA", "text", ["SUM(AMOUNT)", "AVG(AMOUNT)", "COUNT(*)"], True),
        history=False,
        sk=True,
    ),
    _t(
        "xc_attainment_measure_criteria",
        "ATTAINMENT_MEASURE_CRITERIA_ID",
        40,
        _c("ATTAINMENT_MEASURE_ID", "sfk", "xc_attainment_measure"),
        _c("CREDIT_TYPE_ID", "fk", "xc_credit_type"),
        _c("CRITERIA", "text", ["Credit Type = Bookings", "Region = EMEA"], True),
        history=False,
    ),
    _t("xc_credit", "CREDIT_ID", 300, *_CREDIT_COLUMNS, history=False),
    _t(
        "xc_credit_adjustment",
        "CREDIT_ADJUSTMENT_ID",
        60,
        _c("CREDIT_ID", "fk", "xc_credit"),
        _c("AMOUNT", "money", None, True),
        _c("PERIOD_ID", "fk", "xc_period"),
        _c("PARTICIPANT_ID", "fk", "xc_participant"),
        _c("REASON", "text", ["Split correction", "Late order", "Clawback"], True),
        history=False,
    ),
    _t(
        "xc_credit_held",
        "CREDIT_HELD_ID",
        60,
        _c("CREDIT_ID", "fk", "xc_credit"),
        _c("AMOUNT", "money", None, True),
        _c("RELEASE_DATE", "date"),
        _c("IS_RELEASED", "bool", None, True),
        history=False,
    ),
    _t(
        "xc_credit_totals",
        "CREDIT_TOTALS_ID",
        120,
        _c("PARTICIPANT_ID", "fk", "xc_participant"),
        _c("POSITION_ID", "fk", "xc_position"),
        _c("PERIOD_ID", "fk", "xc_period"),
        _c("CREDIT_TYPE_ID", "fk", "xc_credit_type"),
        _c("AMOUNT", "money", None, True),
        history=False,
    ),
    _t(
        "xc_credit_type",
        "CREDIT_TYPE_ID",
        8,
        *_NAMED,
        _c("CREDIT_TYPE_CODE", "code", "CT"),
        history=False,
    ),
    _t(
        "xc_position",
        "POSITION_ID",
        60,
        *_NAMED,
        _c("TITLE_ID", "int"),
        _c("TITLE_NAME", "text", ["Account Executive", "Sales Manager", "SDR", "VP Sales"]),
        _c("PARENT_POSITION_ID", "fk", "xc_position"),
        _c("BUSINESS_GROUP_NAME", "text", ["Enterprise", "Mid-Market", "SMB"], True),
        _c("EFFECTIVE_START_DATE", "date"),
        _c("EFFECTIVE_END_DATE", "date"),
    ),
    _t(
        "xc_pos_hierarchy",
        "POS_HIERARCHY_ID",
        60,
        _c("POS_HIERARCHY_TYPE_ID", "fk", "xc_pos_hierarchy_type"),
        _c("FROM_POS_ID", "fk", "xc_position"),
        _c("TO_POS_ID", "fk", "xc_position"),
        _c("EFFECTIVE_START_DATE", "date"),
        _c("EFFECTIVE_END_DATE", "date", None, True),
    ),
    _t("xc_pos_hierarchy_type", "POS_HIERARCHY_TYPE_ID", 4, *_NAMED),
    _t(
        "xc_pos_part_assignment",
        "POS_PART_ASSIGNMENT_ID",
        60,
        _c("POSITION_ID", "fk", "xc_position"),
        _c("PARTICIPANT_ID", "fk", "xc_participant"),
        _c("EFFECTIVE_START_DATE", "date"),
        _c("EFFECTIVE_END_DATE", "date", None, True),
    ),
    _t(
        "xc_pos_relations",
        "ID",
        40,
        _c("POS_REL_TYPE_ID", "fk", "xc_pos_rel_type"),
        _c("FROM_POS_ID", "fk", "xc_position"),
        _c("TO_POS_ID", "fk", "xc_position"),
        _c("EFFECTIVE_END_DATE", "date", None, True),
    ),
    _t("xc_pos_rel_type", "POS_REL_TYPE_ID", 4, *_NAMED),
    _t(
        "xc_pos_title_assignment",
        "POS_TITLE_ASSIGNMENT_ID",
        60,
        _c("POSITION_ID", "fk", "xc_position"),
        _c("TITLE_ID", "int"),
        _c("TITLE_NAME", "text", ["Account Executive", "Sales Manager", "SDR"], True),
        _c("EFFECTIVE_START_DATE", "date"),
    ),
    _t(
        "xc_quota",
        "QUOTA_ID",
        30,
        *_NAMED,
        _c("PERIOD_TYPE_ID", "fk", "xc_period_type"),
        _c("QUOTA_VALUE", "money", None, True),
        _c("UNIT_TYPE_NAME", "text", CURRENCIES),
    ),
    _t(
        "xc_quota_assignment",
        "QUOTA_ASSIGNMENT_ID",
        60,
        _c("QUOTA_ID", "fk", "xc_quota"),
        _c("POSITION_ID", "fk", "xc_position"),
        _c("PERIOD_ID", "fk", "xc_period"),
        _c("AMOUNT", "money", None, True),
    ),
    _t(
        "xc_quota_relationship",
        "QUOTA_RELATIONSHIP_ID",
        30,
        _c("QUOTA_ID", "fk", "xc_quota"),
        _c("ATTAINMENT_MEASURE_ID", "sfk", "xc_attainment_measure"),
        _c("RELATIONSHIP_TYPE", "text", ["PRIMARY", "SECONDARY"], True),
        history=False,
        sk=True,
    ),
    _t(
        "xc_quota_totals",
        "QUOTA_TOTALS_ID",
        60,
        _c("QUOTA_ID", "fk", "xc_quota"),
        _c("PARTICIPANT_ID", "fk", "xc_participant"),
        _c("PERIOD_ID", "fk", "xc_period"),
        _c("AMOUNT", "money", None, True),
        history=False,
    ),
    _t("xc_role", "ROLE_ID", 6, *_NAMED, history=False),
    _t(
        "xc_participant",
        "PARTICIPANT_ID",
        60,
        _c("EMPLOYEE_ID", "code", "E"),
        _c("FIRST_NAME", "text", ["Ana", "José", "Zoë", "Søren", "Priya", "Kwame", "Chen"]),
        _c("LAST_NAME", "text", ["García", "Müller", "O'Brien", "Nguyen", "Okafor"]),
        _c("PREFIX", "text", ["", "Dr.", "Ms.", "Mr."]),
        _c("HIRE_DATE", "date"),
        _c("TERMINATION_DATE", "date", "nullable", True),
        _c("EFFECTIVE_START_DATE", "date"),
        _c("EFFECTIVE_END_DATE", "date", None, True),
        _c("IS_MASTER", "bool"),
        _c("REGION", "text", REGIONS, True),
        _c("PERSONAL_CURRENCY_NAME", "text", CURRENCIES),
        _c("SALARY__LOCAL", "money", None, True),
        _c("SALARY__CURRENCY", "text", CURRENCIES),
        _c("EMPLOYEE_STATUS__C", "text", ["Active", "Leave", "Terminated"], True),
    ),
    _t(
        "xc_period",
        "PERIOD_ID",
        24,
        _c("NAME", "pname"),
        _c("START_DATE", "pstart"),
        _c("END_DATE", "pend"),
        _c("PERIOD_TYPE_ID_FK", "int", 1),
        _c("PARENT_PERIOD_ID", "pparent"),
        _c("IS_OPEN", "bool", None, True),
    ),
    _t("xc_period_type", "PERIOD_TYPE_ID", 4, *_NAMED),
    _t(
        "xc_plan",
        "PLAN_ID",
        10,
        *_NAMED,
        _c("PERIOD_ID", "fk", "xc_period"),
        _c("EFFECTIVE_START_DATE", "date"),
    ),
    _t(
        "xc_plan_assignment",
        "PLAN_ASSIGNMENT_ID",
        60,
        _c("PLAN_ID", "fk", "xc_plan"),
        _c("POSITION_ID", "fk", "xc_position"),
        _c("PERIOD_ID", "fk", "xc_period"),
        _c("APPROVAL_STATUS", "text", STATUSES, True),
    ),
    _t(
        "xc_user",
        "USER_ID",
        40,
        _c("NAME", "name", "user"),
        _c("EMAIL", "code", "user"),
        _c("LOCALE", "text", ["en_US", "de_DE", "fr_FR", "ja_JP"], True),
        _c("IS_ENABLED", "bool", None, True),
    ),
)
BY_NAME = {table.name: table for table in TABLES}
COMMON = (
    ("VERSION", "INTEGER"),
    ("IS_ACTIVE", "BOOLEAN"),
    ("CREATED_DATE", "TIMESTAMP NOT NULL"),
    ("CREATED_BY_ID", "BIGINT"),
    ("CREATED_BY_NAME", "VARCHAR(255)"),
    ("MODIFIED_DATE", "TIMESTAMP NOT NULL"),
    ("MODIFIED_BY_ID", "BIGINT"),
    ("MODIFIED_BY_NAME", "VARCHAR(255)"),
)


def streams() -> dict[str, tuple[str, ...]]:
    """Every stream (base and ``_hist``) with its key."""
    result: dict[str, tuple[str, ...]] = {}
    for table in TABLES:
        result[table.name] = (table.pk,)
        if table.history:
            result[f"{table.name}_hist"] = (table.pk, "VERSION")
    return result


KEY_PROPERTIES = streams()


def columns(stream: str) -> list[tuple[str, str]]:
    """(name, H2 type) of a stream's table, in table order."""
    history = stream.endswith("_hist")
    table = BY_NAME[stream.removesuffix("_hist")]
    key_type = SQL_TYPES["skey" if table.string_key else "id"]
    result = [(table.pk, key_type)]
    if history:
        result.append(("OBJECT_ID", key_type))
    result += [(column.name, SQL_TYPES[column.kind]) for column in table.columns]
    return result + list(COMMON)


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
    kind, arg = column.kind, column.arg
    if kind == "fk":
        return rng.randint(1, _count(BY_NAME[arg], scale))
    if kind == "sfk":
        return _string_key(seed, arg, rng.randint(1, _count(BY_NAME[arg], scale)))
    if kind == "name":
        return f"{arg} {i}"
    if kind == "text":
        return rng.choice(arg)
    if kind == "code":
        return f"{arg}-{i:06d}"
    if kind == "money":
        return Decimal(rng.randint(0, 5_000_000)) / 100
    if kind == "int":
        return arg if arg is not None else rng.randint(1, 10_000)
    if kind == "bool":
        return rng.random() < 0.3
    if kind == "date":
        if arg == "nullable" and rng.random() < 0.8:
            return None
        return date(2023, 1, 1) + timedelta(days=rng.randint(0, 900))
    month = i - 1  # xc_period: one month each, from JAN-2024
    year, index = 2024 + month // 12, month % 12
    if kind == "pname":
        return f"{MONTHS[index]}-{year}"
    if kind == "pstart":
        return date(year, index + 1, 1)
    if kind == "pend":
        return date(year + (index + 1) // 12, (index + 1) % 12 + 1, 1) - timedelta(days=1)
    if kind == "pparent":
        return None
    raise ValueError(f"unknown column kind {kind!r}")


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
    record: Record = {table.pk: obj.key}
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
def _generate(params: DataParams) -> Dataset:
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
                    history.append({table.pk: obj.key, "OBJECT_ID": obj.key, **row})
            dataset[f"{table.name}_hist"] = history
    return dataset


def generate(params: DataParams) -> Dataset:
    """Every stream's live rows (column name -> Python value), sorted by key; shared,
    read-only. A deleted object's versions stay in its ``_hist`` table."""
    return _generate(params)


# --- H2 ------------------------------------------------------------------------------------


def h2_jar() -> str:
    jar = os.environ.get("H2_JAR", DEFAULT_JAR)
    if not Path(jar).is_file():
        raise OSError(f"H2 driver jar not found at {jar} (apt-get install libh2-java, or $H2_JAR)")
    return jar


def java() -> str:
    home = os.environ.get("JAVA_HOME")
    candidate = str(Path(home, "bin", "java")) if home else shutil.which("java")
    if not candidate or not Path(candidate).exists():
        raise OSError("java not found (set JAVA_HOME or put java on PATH)")
    return candidate


def _csv_field(value: Any) -> str:
    """H2's CSVREAD: an unquoted empty field is NULL, a quoted one a string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | Decimal):
        return str(value)
    return '"' + str(value).replace('"', '""') + '"'


def build(params: DataParams, directory: Path) -> Path:
    """Write the database ``<directory>/xactly.mv.db``; returns the file."""
    directory.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="xactly-csv-"))
    try:
        # The database stays open while the server runs, as a vendor's does: without
        # this H2 closes it when its last session ends (after `abort_sessions`, say),
        # and a reconnect racing that close finds the file "already in use".
        script = ["SET DB_CLOSE_DELAY -1;", f"CREATE SCHEMA {SCHEMA};"]
        for stream, rows in generate(params).items():
            cols = columns(stream)
            path = work / f"{stream}.csv"
            lines = [",".join(f'"{name}"' for name, _ in cols)]
            lines += [",".join(_csv_field(row[name]) for name, _ in cols) for row in rows]
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            definition = ", ".join(f"{name} {sql_type}" for name, sql_type in cols)
            key = ", ".join(KEY_PROPERTIES[stream])
            table = f"{SCHEMA}.{stream.upper()}"
            script.append(
                f"CREATE TABLE {table} ({definition}, PRIMARY KEY ({key})) AS SELECT * FROM "
                f"CSVREAD('{path}', NULL, 'charset=UTF-8');"
            )
            pk = KEY_PROPERTIES[stream][0]
            script.append(
                f"CREATE INDEX {SCHEMA}.{stream.upper()}_MODIFIED ON {table} (MODIFIED_DATE, {pk});"
            )
        (work / "build.sql").write_text("\n".join(script) + "\n", encoding="utf-8")
        target = directory / DATABASE
        command = [
            java(),
            "-cp",
            h2_jar(),
            "org.h2.tools.RunScript",
            "-url",
            f"jdbc:h2:file:{target}",
            "-user",
            CREDENTIALS["user"],
            "-password",
            CREDENTIALS["password"],
            "-script",
            str(work / "build.sql"),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise OSError(f"building the xactly H2 database failed: {done.stderr or done.stdout}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return directory / f"{DATABASE}.mv.db"


_cache_lock = threading.Lock()
_cache: dict[DataParams, Path] = {}
_cache_root: list[Path] = []


def _cleanup() -> None:
    for root in _cache_root:
        shutil.rmtree(root, ignore_errors=True)


def built(params: DataParams) -> Path:
    """The database file for ``params``, built once per process (do not modify it)."""
    with _cache_lock:
        if params not in _cache:
            if not _cache_root:
                _cache_root.append(Path(tempfile.mkdtemp(prefix="xactly-h2-")))
                atexit.register(_cleanup)
            name = f"s{params.seed}-x{params.scale}-e{params.epoch}"
            _cache[params] = build(params, _cache_root[0] / name)
        return _cache[params]


class Stats:
    def __init__(self) -> None:
        self.sessions_aborted = 0

    def snapshot(self) -> dict[str, Any]:
        return {"sessions_aborted": self.sessions_aborted}


SERVER_LINE = re.compile(r"TCP server running at tcp://[^:]+:(\d+)")


class LatencyProxy:
    """A TCP relay that delivers the server's bytes ``delay`` seconds late: each JDBC
    round trip (login, query, fetch of the next rows) costs what it would over a WAN,
    while throughput stays that of the loopback."""

    def __init__(self, host: str, target_port: int, delay: float) -> None:
        self._target = (host, target_port)
        self._delay = delay
        self._listener = socket.create_server((host, 0))
        self.port = int(self._listener.getsockname()[1])
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True, name="xactly-latency").start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # listener closed
            try:
                server = socket.create_connection(self._target)
            except OSError:
                client.close()
                continue
            self._relay(client, server, 0.0)
            self._relay(server, client, self._delay)

    def _relay(self, source: socket.socket, sink: socket.socket, delay: float) -> None:
        """Copy ``source`` to ``sink``, each chunk sent ``delay`` s after it arrived."""
        chunks: queue.Queue[tuple[float, bytes]] = queue.Queue()

        def receive() -> None:
            while True:
                try:
                    data = source.recv(65536)
                except OSError:
                    data = b""
                chunks.put((time.monotonic() + delay, data))
                if not data:
                    return

        def send() -> None:
            try:
                while True:
                    due, data = chunks.get()
                    time.sleep(max(0.0, due - time.monotonic()))
                    if not data:
                        break
                    sink.sendall(data)
            except OSError:
                pass  # the other end went away: pass that on
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
            source.close()  # this direction is done; the other one ends on its own

        threading.Thread(target=receive, daemon=True).start()
        threading.Thread(target=send, daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()


class XactlySandbox:
    """A running H2 TCP server holding one generated database (see :func:`serve`)."""

    driver_class = DRIVER_CLASS
    moved = False
    """As ``Sandbox.moved``: the database never moves on to the next epoch while served
    (xactly has no ``move_after``)."""

    def __init__(
        self, params: DataParams, host: str = "127.0.0.1", port: int = 0, latency_ms: int = 0
    ) -> None:
        self.vendor = "xactly"
        self._proxy: LatencyProxy | None = None
        self.params = params
        self.driver_jar = h2_jar()
        self.directory = Path(tempfile.mkdtemp(prefix="xactly-serve-"))
        shutil.copyfile(built(params), self.directory / f"{DATABASE}.mv.db")
        command = [java(), "-cp", self.driver_jar, "org.h2.tools.Server", "-tcp"]
        command += ["-tcpPort", str(port), "-baseDir", str(self.directory), "-ifExists"]
        if host not in ("127.0.0.1", "localhost", "::1"):
            command.append("-tcpAllowOthers")
        self._process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        match = SERVER_LINE.search(line)
        if match is None:
            output = (
                line + self._process.stdout.read() if self._process.poll() is not None else line
            )
            self.close()
            raise OSError(f"H2 server did not start: {output.strip()}")
        self.host, self.port = host, int(match.group(1))
        self._server_port = self.port
        if latency_ms:
            self._proxy = LatencyProxy(host, self.port, latency_ms / 1000)
            self.port = self._proxy.port
        self.url = f"jdbc:h2:tcp://{host}:{self.port}/{DATABASE}"
        """The JDBC URL; tables are ``XACTLY.XC_…``."""
        self.origin = self.url
        self.credentials = dict(CREDENTIALS)
        self.stats = Stats()
        atexit.register(self.close)  # no H2 server outlives the process that started it

    def abort_sessions(self) -> int:
        """Fault: abort every open session (their next call fails); returns how many."""
        sql = (
            "SELECT COUNT(ABORT_SESSION(SESSION_ID)) FROM INFORMATION_SCHEMA.SESSIONS "
            "WHERE SESSION_ID <> SESSION_ID()"
        )
        direct = f"jdbc:h2:tcp://{self.host}:{self._server_port}/{DATABASE}"
        command = [java(), "-cp", self.driver_jar, "org.h2.tools.Shell", "-url", direct]
        command += ["-user", CREDENTIALS["user"], "-password", CREDENTIALS["password"]]
        command += ["-sql", sql]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        numbers = re.findall(r"^\s*(\d+)\s*$", done.stdout, re.MULTILINE)
        aborted = int(numbers[0]) if numbers else 0
        self.stats.sessions_aborted += aborted
        return aborted

    def close(self) -> None:
        atexit.unregister(self.close)
        if self._proxy is not None:
            self._proxy.close()
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> XactlySandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def serve(
    params: DataParams,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    faults: str = "",
    latency_ms: int = 0,
    page_size: int | None = None,
    **_: Any,
) -> XactlySandbox:
    """Start the H2 server (behind a latency proxy when ``latency_ms``); the HTTP-only
    options (faults spec, page size) are refused."""
    for name, value in (("faults", faults), ("page_size", page_size)):
        if value:
            raise ValueError(
                f"vendor 'xactly' (JDBC) has no {name} option; use XactlySandbox.abort_sessions()"
            )
    return XactlySandbox(params, host, port, latency_ms)


def _no_http(params: DataParams, page_size: int | None, **options: Any) -> HttpApp:
    raise ValueError("vendor 'xactly' is served over JDBC (H2), not HTTP")


VENDOR = Vendor(
    name="xactly",
    summary="Xactly Connect (xSQL over JDBC): an H2 database, schema XACTLY, XC_* tables",
    key_properties=KEY_PROPERTIES,
    generate=generate,
    make_app=_no_http,
    serve=serve,
)
