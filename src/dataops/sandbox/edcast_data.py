"""The EdCast datasets in Domo: generated with DuckDB SQL, served and checked from it.

Everything is a function of (seed, scale, epoch), built from ``range()`` plus ``hash()``,
so a million events take a second or two. An :class:`Engine` is one in-memory DuckDB
database holding the datasets exactly as served ("wire" values, mess included); the
ground truth is computed from the same tables.

Events (``GlueGroupsG3GroupPerformanceDataExplorerStreams``): 2,000 x scale at epoch 0,
``Time`` in 2021; epoch ``e`` appends 200 x scale events in week ``e`` of 2022 onwards
(strictly later than every earlier event; older events never change). The option
``epoch_events_percent`` (default 10) sets that append to another share of epoch 0's
events: 1 makes epoch 1 a 1 % change (the incremental benchmark). Events are
stored in about ``Time`` order, four to a second on average. Every hundredth
event (never an epoch's first) repeats the key (``ECL ID``, ``Time``, ``Group Name``) of
one of the 50 events before it in its epoch, with its own other values.

Users (``EdCastUsers``): 200 x scale at epoch 0; epoch ``e`` adds 20 x scale users and
updates about 10% of the older ones (a later ``Updated At``, a new ``Sign-in Count`` and
``is_manager``). Event users are drawn from the users existing at the event's epoch.

Catalogue-only datasets (58): ``Date`` (DATE), ``Metric`` (STRING), ``Value`` (DOUBLE),
3 to 12 rows each. Dataset ids derive from the dataset name only (stable across seeds).

Deletions, from epoch 2 (``DELETES_FROM_EPOCH``) on. How Domo really loses rows: a
dataset changes only through its owner's uploads, which either append rows or
*replace* the whole content (Domo's DataSet API import with ``updateMethod`` APPEND or
REPLACE); the query API has no row-level delete and no change feed, and the spec is
silent on deletions. What the sandbox does: each epoch ``e >= 2`` is a replace upload
of both datasets that leaves out about 3% (``RETRACTED_PERCENT``) of the rows older
than the epoch — events retracted upstream, users removed from the HR feed — while
appending the epoch's new rows. A dropped row is drawn from ``hash(row, seed, e)``, so
the choice is deterministic, and once dropped it never returns (no later row reuses
its key: new events have later times, new users new ids). A dropped row may be one of
the rows sharing a repeated event key: the key then stays, with the other row's values.
The catalogue entry says so (``rows`` is the live count, ``updatedAt`` and
``dataCurrentAt`` five minutes after the newest row). The catalogue also loses one or
two catalogue-only datasets per epoch from epoch 2 on (deleted by their owners; never
the two datasets above), drawn from (seed, epoch). Epochs 0 and 1 are as before.

Schema drift, only when served with ``drift_at=E`` (the option is off by default): from
epoch ``E`` on, ``EdCastUsers`` serves its column ``Full Name`` as ``Display Name``
(renamed, same values) and declares ``Sign-in Count`` STRING instead of LONG (retyped:
the same wire text, blanks now kept as ``""``) — what a dataset owner's edit in Domo
does to a tap that types its streams from Domo's metadata.

Engine settings: ``default_null_order = 'nulls_first'`` (an ascending sort puts NULL
first, matching the truth's explicit ``DESC NULLS LAST`` reversal), file access off.
Columns serving ``""`` next to numbers are text in the engine, so they sort as text.
"""

# ruff: noqa: S608 - this module builds SQL, from its own constants only
from __future__ import annotations

import functools
import hashlib
import random
import re
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from dataops.sandbox.vendor import DataParams

EVENTS = "GlueGroupsG3GroupPerformanceDataExplorerStreams"
USERS = "EdCastUsers"
STREAMS = {
    "glue_groups_g3_group_performance_data_explorer": EVENTS,
    "edcast_users": USERS,
}
KEYS = {EVENTS: ("ECL ID", "Time", "Group Name"), USERS: ("User ID",)}
ORDER_FIRST = {EVENTS: "Time", USERS: "Updated At"}
"""The replication key: the tap reads ``ORDER BY <this>, <key columns>, <every other
column>``, and the last row of a key wins. Within one key the key columns are equal, so
that is the last row in the order ``<this>, <every column in order>``."""

ID_COLUMN = re.compile(r"(^|[ _])(ID|Id|id)$")
BOOLEAN_COLUMNS = frozenset(
    {"is_user_generated", "is_manager", "gitlab_internal", "is_public", "assigned_content"}
)
EVENTS_PER_SCALE, USERS_PER_SCALE, CARDS_PER_SCALE, GROUPS = 2_000, 200, 300, 40
ENGINE_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "default_null_order": "nulls_first",
    "enable_external_access": False,
}

EVENT_NAMES = [
    "card_viewed",
    "card_completed",
    "card_liked",
    "card_commented",
    "card_shared",
    "card_bookmarked",
    "user_followed",
]
GROUP_NAMES = ["Engineering", "Sales", "Marketing", "Support", "Product", "Security", "Legal"]
CARD_TOPICS = ["Git basics", "Code review", "Remote work", "Values", "Kubernetes 101", "GDPR"]
COMMENTS = ["Great course!", "Très utile 👍", 'Loved the "Values" part', "Needs an update", ""]
FIRST = ["Ana", "José", "Zoë", "Søren", "Priya", "Kwame", "Olga", "Chen", "Fatima", "Liam"]
LAST = ["García", "Müller", "O'Brien", "Nguyen", "Smith", "Kowalski", "Okafor", "Tanaka"]
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


def ident(name: str) -> str:
    """A SQL identifier in double quotes."""
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _pick(options: list[str], h: str) -> str:
    """SQL choosing one of ``options`` by the (hash) expression ``h``."""
    items = ", ".join(_lit(option) for option in options)
    return f"([{items}])[1 + (({h}) % {len(options)})::BIGINT]"


def _mess(value: str, h: str, nulls: int = 0, blanks: int = 0) -> str:
    """``value``, but NULL for ``nulls``% and ``''`` for ``blanks``% of the rows."""
    return (
        f"CASE WHEN ({h}) % 100 < {nulls} THEN NULL "
        f"WHEN ({h}) % 100 < {nulls + blanks} THEN '' ELSE {value} END"
    )


def _boolean(value: str, h: str) -> str:
    """A boolean spelled ``1``/``0``, ``t``/``f`` or ``true``/``false`` by row; 3% NULL."""
    spelled = f"([['0', '1'], ['f', 't'], ['false', 'true']])[1 + (({h}) % 3)::BIGINT]"
    return f"CASE WHEN ({h}) % 100 >= 97 THEN NULL ELSE {spelled}[1 + ({value})::INT] END"


def _stamp(start: str, seconds: str) -> str:
    """``YYYY-MM-DDTHH:MM:SS``, ``seconds`` after ``start``."""
    moment = f"TIMESTAMP '{start}' + to_seconds(({seconds})::BIGINT)"
    return f"strftime({moment}, '%Y-%m-%dT%H:%M:%S')"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    """Declared Domo type: STRING, DOUBLE, LONG, DECIMAL, DATE or DATETIME."""
    sql: str = ""
    """The generator's SQL of its wire value."""

    @property
    def clean_sql(self) -> str:
        """SQL turning the wire value into the clean typed value the warehouse should hold."""
        ref = ident(self.name)
        if self.name in BOOLEAN_COLUMNS:
            return (
                f"CASE WHEN {ref} IN ('1', 't', 'true') THEN true "
                f"WHEN {ref} IN ('0', 'f', 'false') THEN false END"
            )
        if self.type == "STRING":
            return ref
        target = {
            "LONG": "BIGINT",
            "DOUBLE": "DOUBLE",
            "DECIMAL": "DOUBLE",
            "DATE": "DATE",
            "DATETIME": "TIMESTAMP",
        }[self.type]
        if ID_COLUMN.search(self.name):
            target = "BIGINT"
        return f"CAST(NULLIF({ref}::VARCHAR, '') AS {target})"


class _Hashes:
    """``hash(row, seed, salt)`` expressions: one independent stream per salt."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def __call__(self, salt: int, row: str = "i") -> str:
        return f"hash({row}, {self.seed}, {salt})"


def _user_sql(h: _Hashes) -> dict[str, str]:
    """Wire SQL of the fixed attributes of user number ``u``."""
    name = f"{_pick(FIRST, h(2, 'u'))} || ' ' || {_pick(LAST, h(3, 'u'))}"
    hired = f"strftime(DATE '2012-01-01' + ({h(4, 'u')} % 3300)::INT, '%Y-%m-%d')"
    return {
        "User ID": f"(460000 + u * 50 + {h(1, 'u')} % 50)::DOUBLE",
        "Full Name": name,
        "hire_date": _mess(hired, h(5, "u"), 1, 4),
    }


def _event_columns(seed: int) -> list[Column]:
    h = _Hashes(seed)
    user = _user_sql(h)

    def when(event: str, value: str, otherwise: str = "NULL") -> str:
        return f"CASE WHEN ev = {EVENT_NAMES.index(event)} THEN {value} ELSE {otherwise} END"

    def by_user(options: list[str], salt: int, nulls: int, blanks: int = 0) -> str:
        return _mess(_pick(options, h(salt, "u")), h(salt + 1), nulls, blanks)

    def by_card(options: list[str], salt: int) -> str:
        return _pick(options, h(salt, "c"))

    mins = f"lpad(({h(45)} % 60)::VARCHAR, 2, '0')"
    supervisor = f"{_pick(FIRST, h(60, 'u'))} || ' ' || {_pick(LAST, h(61, 'u'))}"
    return [
        Column("Group ID", "LONG", _mess("(1000 + g * 37)::VARCHAR", h(10), 0, 5)),
        Column("Group Name", "STRING", f"{_pick(GROUP_NAMES, 'g')} || ' group ' || g"),
        Column("User ID", "DOUBLE", user["User ID"]),
        Column("Card ID", "DOUBLE", f"(7000000 + c * 13 + {h(11, 'c')} % 13)::DOUBLE"),
        Column("ECL ID", "STRING", f"md5('{seed}/ecl/' || kidx)::UUID::VARCHAR"),
        Column("Time", "DATETIME", "time"),
        Column("Card Title", "STRING", _mess(f"{_pick(CARD_TOPICS, 'c')} || ' #' || c", h(12), 2)),
        Column("Card Type", "STRING", by_card(["course", "pathway", "journey", "article"], 13)),
        Column("Card State", "STRING", by_card(["published", "draft", "archived"], 14)),
        Column("Card Subtype", "STRING", by_card(["link", "text", "video", "image", ""], 15)),
        Column("Event", "STRING", _pick(EVENT_NAMES, "ev")),
        Column("Platform", "STRING", _mess(_pick(["web", "ios", "android"], h(16)), h(17), 5)),
        Column(
            "Performance Metric",
            "DOUBLE",
            _mess(f"(({h(18)} % 10000) / 100.0)::DOUBLE::VARCHAR", h(19), 2, 4),
        ),
        Column("Comment Id", "LONG", when("card_commented", "2000000 + i")),
        Column("Comment Message", "STRING", when("card_commented", _pick(COMMENTS, h(20)))),
        Column(
            "Comment Status", "STRING", when("card_commented", _pick(["active", "deleted"], h(21)))
        ),
        Column("Shared To User", "STRING", when("card_shared", _pick(FIRST, h(22)), "''")),
        Column("Shared To Group", "STRING", when("card_shared", _pick(GROUP_NAMES, h(23)))),
        Column("Follower User Full Name", "STRING", when("user_followed", user["Full Name"])),
        Column("Following User Full Name", "STRING", when("user_followed", _pick(LAST, h(24)))),
        Column("Sign-in Count", "LONG", _mess(f"({h(25)} % 500)::VARCHAR", h(26), 0, 5)),
        Column("Supervisor", "STRING", _mess(supervisor, h(27), 5)),
        Column("Department", "STRING", by_user(["Engineering", "Sales", "Marketing"], 28, 3, 3)),
        Column("Division", "STRING", by_user(["R&D", "GTM", "Operations"], 30, 3, 3)),
        Column("Region", "STRING", by_user(["AMER", "EMEA", "APAC"], 32, 4)),
        Column("Country", "STRING", by_user(["United States", "Germany", "Japan"], 34, 2, 2)),
        Column("Job Groups", "STRING", by_user(["Individual Contributor", "Manager"], 36, 5, 5)),
        Column("Role", "STRING", _pick(["member", "admin", "curator", "group_leader"], h(38))),
        Column(
            "ECL Source Name",
            "STRING",
            _mess(by_card(["EdCast", "LinkedIn Learning", "Udemy", "YouTube"], 39), h(40), 10),
        ),
        Column("Standard Card Type", "STRING", by_card(["Course", "Article", "Video"], 41)),
        Column("Impartner Account", "STRING", _mess(f"'IMP-' || {h(42)} % 900", h(43), 80, 10)),
        Column("Duration (HH:MM)", "STRING", f"'0' || {h(44, 'c')} % 4 || ':' || {mins}"),
        Column("hire_date", "DATE", user["hire_date"]),
        Column("is_user_generated", "STRING", _boolean(f"{h(46, 'c')} % 4 = 0", h(47))),
        Column("is_manager", "STRING", _boolean(f"{h(48, 'u')} % 5 = 0", h(49))),
        Column("gitlab_internal", "STRING", _boolean(f"{h(50, 'u')} % 2 = 0", h(51))),
        Column("is_public", "STRING", _boolean(f"{h(52, 'c')} % 3 > 0", h(53))),
        Column("assigned_content", "STRING", _boolean(f"{h(54)} % 3 = 0", h(55))),
        Column(
            "Card Resource URL",
            "STRING",
            _mess("'https://gitlab.edcast.com/insights/card-' || c", h(56), 3),
        ),
    ]


def _user_columns(seed: int, *, drifted: bool = False) -> list[Column]:
    """The users' columns; ``drifted``: after the schema drift (see the module docstring)."""
    h = _Hashes(seed)
    user = _user_sql(h)
    version = "u * 1000 + v"
    ascii_name = f"lower(strip_accents(replace({user['Full Name']}, '''', '')))"
    return [
        Column("User ID", "DOUBLE", user["User ID"]),
        Column("Display Name" if drifted else "Full Name", "STRING", user["Full Name"]),
        Column("Email", "STRING", f"replace({ascii_name}, ' ', '.') || u || '@example.com'"),
        Column("is_manager", "STRING", _boolean(f"{h(70, version)} % 5 = 0", h(71, version))),
        Column("hire_date", "DATE", user["hire_date"]),
        Column(
            "Sign-in Count",
            "STRING" if drifted else "LONG",
            _mess(f"(v * 40 + {h(72, 'u')} % 40)::VARCHAR", h(73, version), 0, 5),
        ),
        Column("Updated At", "DATETIME", "updated"),
    ]


def _retracted(h: _Hashes, row: str, added: str, epoch: int, salt: int) -> str:
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
    h = _Hashes(seed)
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
    h = _Hashes(params.seed)
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


@dataclass(frozen=True)
class DatasetInfo:
    """One catalogue entry and where its rows live in the engine."""

    id: str
    name: str
    description: str
    relation: str
    """The engine table or view playing the dataset's ``table``."""
    columns: tuple[Column, ...]
    rows: int
    created_at: datetime
    updated_at: datetime
    pdp_enabled: bool
    owner: tuple[int, str]

    @property
    def declared(self) -> dict[str, str]:
        return {column.name: column.type for column in self.columns}

    def to_json(self) -> dict[str, Any]:
        """The dataset object of the API."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "rows": self.rows,
            "columns": len(self.columns),
            "createdAt": _iso(self.created_at),
            "updatedAt": _iso(self.updated_at),
            "dataCurrentAt": _iso(self.updated_at),
            "pdpEnabled": self.pdp_enabled,
            "owner": {"id": self.owner[0], "name": self.owner[1]},
        }


def _deleted_catalogue_entries(names: list[str], params: DataParams) -> set[str]:
    """Catalogue-only datasets deleted by ``params.epoch``: one or two per epoch from
    ``DELETES_FROM_EPOCH`` on, drawn from (seed, epoch) among those still there."""
    deleted: set[str] = set()
    for epoch in range(DELETES_FROM_EPOCH, params.epoch + 1):
        draw = random.Random(f"{params.seed}:edcast:catalogue:{epoch}")
        remaining = [name for name in names if name not in deleted]
        deleted.update(draw.sample(remaining, min(draw.choice((1, 2)), len(remaining))))
    return deleted


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


CATALOGUE_COLUMNS = (Column("Date", "DATE"), Column("Metric", "STRING"), Column("Value", "DOUBLE"))
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
        events = _event_columns(params.seed)
        users = _user_columns(params.seed, drifted=drifted)
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
              {_pick(["views", "completions", "ratings", "searches"], f"hash(d, n, {seed})")}
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
