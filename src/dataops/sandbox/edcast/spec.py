"""EdCast's datasets in the Domo Platform API as the sandbox serves them: the API's
constants, the datasets' names, keys and columns (docs/vendors/edcast.md).

A :class:`Column` is a declared Domo column together with the DuckDB SQL of its wire
value (``data.py`` runs it; values as Domo sends them, mess included) and of its clean
typed value (the ground truth).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

CREDENTIALS = {"username": "sandbox-client", "password": "sandbox-client-secret"}
DEFAULT_TOKEN_TTL_SECONDS = 3599
DEFAULT_MAX_RESULT_ROWS = 1_000_000
MAX_LIST_LIMIT = 50
QUERY_PATH = "/v1/datasets/query/execute/"
NUMERIC_TYPES = frozenset({"LONG", "DOUBLE", "DECIMAL"})
DATASETS_STREAM = "datasets"

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

KEY_PROPERTIES: dict[str, tuple[str, ...]] = {
    DATASETS_STREAM: ("id",),
    **{stream: KEYS[dataset] for stream, dataset in STREAMS.items()},
}

ID_COLUMN = re.compile(r"(^|[ _])(ID|Id|id)$")
BOOLEAN_COLUMNS = frozenset(
    {"is_user_generated", "is_manager", "gitlab_internal", "is_public", "assigned_content"}
)
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


def ident(name: str) -> str:
    """A SQL identifier in double quotes."""
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def pick(options: list[str], h: str) -> str:
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


class Hashes:
    """``hash(row, seed, salt)`` expressions: one independent stream per salt."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def __call__(self, salt: int, row: str = "i") -> str:
        return f"hash({row}, {self.seed}, {salt})"


def _user_sql(h: Hashes) -> dict[str, str]:
    """Wire SQL of the fixed attributes of user number ``u``."""
    name = f"{pick(FIRST, h(2, 'u'))} || ' ' || {pick(LAST, h(3, 'u'))}"
    hired = f"strftime(DATE '2012-01-01' + ({h(4, 'u')} % 3300)::INT, '%Y-%m-%d')"
    return {
        "User ID": f"(460000 + u * 50 + {h(1, 'u')} % 50)::DOUBLE",
        "Full Name": name,
        "hire_date": _mess(hired, h(5, "u"), 1, 4),
    }


def event_columns(seed: int) -> list[Column]:
    h = Hashes(seed)
    user = _user_sql(h)

    def when(event: str, value: str, otherwise: str = "NULL") -> str:
        return f"CASE WHEN ev = {EVENT_NAMES.index(event)} THEN {value} ELSE {otherwise} END"

    def by_user(options: list[str], salt: int, nulls: int, blanks: int = 0) -> str:
        return _mess(pick(options, h(salt, "u")), h(salt + 1), nulls, blanks)

    def by_card(options: list[str], salt: int) -> str:
        return pick(options, h(salt, "c"))

    mins = f"lpad(({h(45)} % 60)::VARCHAR, 2, '0')"
    supervisor = f"{pick(FIRST, h(60, 'u'))} || ' ' || {pick(LAST, h(61, 'u'))}"
    return [
        Column("Group ID", "LONG", _mess("(1000 + g * 37)::VARCHAR", h(10), 0, 5)),
        Column("Group Name", "STRING", f"{pick(GROUP_NAMES, 'g')} || ' group ' || g"),
        Column("User ID", "DOUBLE", user["User ID"]),
        Column("Card ID", "DOUBLE", f"(7000000 + c * 13 + {h(11, 'c')} % 13)::DOUBLE"),
        Column("ECL ID", "STRING", f"md5('{seed}/ecl/' || kidx)::UUID::VARCHAR"),
        Column("Time", "DATETIME", "time"),
        Column("Card Title", "STRING", _mess(f"{pick(CARD_TOPICS, 'c')} || ' #' || c", h(12), 2)),
        Column("Card Type", "STRING", by_card(["course", "pathway", "journey", "article"], 13)),
        Column("Card State", "STRING", by_card(["published", "draft", "archived"], 14)),
        Column("Card Subtype", "STRING", by_card(["link", "text", "video", "image", ""], 15)),
        Column("Event", "STRING", pick(EVENT_NAMES, "ev")),
        Column("Platform", "STRING", _mess(pick(["web", "ios", "android"], h(16)), h(17), 5)),
        Column(
            "Performance Metric",
            "DOUBLE",
            _mess(f"(({h(18)} % 10000) / 100.0)::DOUBLE::VARCHAR", h(19), 2, 4),
        ),
        Column("Comment Id", "LONG", when("card_commented", "2000000 + i")),
        Column("Comment Message", "STRING", when("card_commented", pick(COMMENTS, h(20)))),
        Column(
            "Comment Status", "STRING", when("card_commented", pick(["active", "deleted"], h(21)))
        ),
        Column("Shared To User", "STRING", when("card_shared", pick(FIRST, h(22)), "''")),
        Column("Shared To Group", "STRING", when("card_shared", pick(GROUP_NAMES, h(23)))),
        Column("Follower User Full Name", "STRING", when("user_followed", user["Full Name"])),
        Column("Following User Full Name", "STRING", when("user_followed", pick(LAST, h(24)))),
        Column("Sign-in Count", "LONG", _mess(f"({h(25)} % 500)::VARCHAR", h(26), 0, 5)),
        Column("Supervisor", "STRING", _mess(supervisor, h(27), 5)),
        Column("Department", "STRING", by_user(["Engineering", "Sales", "Marketing"], 28, 3, 3)),
        Column("Division", "STRING", by_user(["R&D", "GTM", "Operations"], 30, 3, 3)),
        Column("Region", "STRING", by_user(["AMER", "EMEA", "APAC"], 32, 4)),
        Column("Country", "STRING", by_user(["United States", "Germany", "Japan"], 34, 2, 2)),
        Column("Job Groups", "STRING", by_user(["Individual Contributor", "Manager"], 36, 5, 5)),
        Column("Role", "STRING", pick(["member", "admin", "curator", "group_leader"], h(38))),
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


def user_columns(seed: int, *, drifted: bool = False) -> list[Column]:
    """The users' columns; ``drifted``: after the schema drift (see the module docstring)."""
    h = Hashes(seed)
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


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


CATALOGUE_COLUMNS = (Column("Date", "DATE"), Column("Metric", "STRING"), Column("Value", "DOUBLE"))
