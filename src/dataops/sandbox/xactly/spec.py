"""Xactly Connect as the sandbox serves it: schema ``XACTLY``, the spec's 25 ``XC_…``
tables, their ``…_HIST`` tables, keys and column types (docs/vendors/xactly.md)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

SCHEMA = "XACTLY"
DATABASE = "xactly"
CREDENTIALS = {"user": "sandbox", "password": "sandbox-secret"}
DRIVER_CLASS = "org.h2.Driver"
USERS = (
    (101, "Integration User"),
    (102, "Ana García"),
    (103, "Søren Müller"),
    (104, "Priya O'Brien"),
    (105, "ADMIN"),
)
"""(id, name) of the users who create and modify objects."""


class ColumnKind(StrEnum):
    """How a column's values are made (``data.py``), and its H2 type."""

    REFERENCE = "reference"
    """A key of the table named by ``references`` (BIGINT)."""
    STRING_REFERENCE = "string reference"
    """A string key of the table named by ``references``."""
    NUMBERED_NAME = "numbered name"
    """``<prefix> <object number>``."""
    CHOICE = "choice"
    """One of ``choices``."""
    NUMBERED_CODE = "numbered code"
    """``<prefix>-<object number, six digits>``."""
    MONEY = "money"
    INTEGER = "integer"
    """``constant`` in every row, else a random integer."""
    BOOLEAN = "boolean"
    DATE = "date"
    """A day of 2023-2025; mostly NULL if ``mostly_null``."""
    PERIOD_NAME = "period name"
    """``xc_period``: object ``n`` is month ``n`` from JAN-2024; its name (``JAN-2024``)."""
    PERIOD_START = "period start"
    PERIOD_END = "period end"
    PERIOD_PARENT = "period parent"
    """Always NULL: no period has a parent."""


SQL_TYPES: dict[ColumnKind, str] = {
    ColumnKind.REFERENCE: "BIGINT",
    ColumnKind.STRING_REFERENCE: "VARCHAR(64)",
    ColumnKind.NUMBERED_NAME: "VARCHAR(255)",
    ColumnKind.CHOICE: "VARCHAR(255)",
    ColumnKind.NUMBERED_CODE: "VARCHAR(64)",
    ColumnKind.MONEY: "DECIMAL(18,2)",
    ColumnKind.INTEGER: "INTEGER",
    ColumnKind.BOOLEAN: "BOOLEAN",
    ColumnKind.DATE: "DATE",
    ColumnKind.PERIOD_NAME: "VARCHAR(32)",
    ColumnKind.PERIOD_START: "DATE",
    ColumnKind.PERIOD_END: "DATE",
    ColumnKind.PERIOD_PARENT: "BIGINT",
}
KEY_SQL_TYPES = {False: "BIGINT", True: "VARCHAR(64)"}
"""H2 type of a key column, by whether the key is a string."""
COMMON_COLUMNS = (
    ("VERSION", "INTEGER"),
    ("IS_ACTIVE", "BOOLEAN"),
    ("CREATED_DATE", "TIMESTAMP NOT NULL"),
    ("CREATED_BY_ID", "BIGINT"),
    ("CREATED_BY_NAME", "VARCHAR(255)"),
    ("MODIFIED_DATE", "TIMESTAMP NOT NULL"),
    ("MODIFIED_BY_ID", "BIGINT"),
    ("MODIFIED_BY_NAME", "VARCHAR(255)"),
)
"""The spec's columns of every table, after its own."""


@dataclass(frozen=True)
class Column:
    name: str
    kind: ColumnKind
    references: str = ""
    prefix: str = ""
    choices: tuple[str, ...] = ()
    constant: int | None = None
    mostly_null: bool = False
    versioned: bool = False
    """Whether the value changes from one version to the next."""


def reference(name: str, table: str) -> Column:
    return Column(name, ColumnKind.REFERENCE, references=table)


def string_reference(name: str, table: str) -> Column:
    return Column(name, ColumnKind.STRING_REFERENCE, references=table)


def numbered_name(name: str, prefix: str) -> Column:
    return Column(name, ColumnKind.NUMBERED_NAME, prefix=prefix)


def numbered_code(name: str, prefix: str) -> Column:
    return Column(name, ColumnKind.NUMBERED_CODE, prefix=prefix)


def choice(name: str, choices: tuple[str, ...], *, versioned: bool = False) -> Column:
    return Column(name, ColumnKind.CHOICE, choices=choices, versioned=versioned)


def integer(name: str, constant: int | None = None) -> Column:
    return Column(name, ColumnKind.INTEGER, constant=constant)


def money(name: str, *, versioned: bool = False) -> Column:
    return Column(name, ColumnKind.MONEY, versioned=versioned)


def boolean(name: str, *, versioned: bool = False) -> Column:
    return Column(name, ColumnKind.BOOLEAN, versioned=versioned)


def day(name: str, *, mostly_null: bool = False, versioned: bool = False) -> Column:
    return Column(name, ColumnKind.DATE, mostly_null=mostly_null, versioned=versioned)


@dataclass(frozen=True)
class Table:
    name: str
    """Stream name (lower case); the H2 table is its upper-case form."""
    key_column: str
    count: int
    """Objects per scale unit at epoch 0."""
    columns: tuple[Column, ...]
    history: bool = True
    """Whether the table has a ``<name>_hist`` table."""
    string_key: bool = False


CURRENCIES = ("USD", "EUR", "GBP", "JPY")

STATUSES = ("OPEN", "APPROVED", "PAID", "REVERSED")

REGIONS = ("AMER", "EMEA", "APAC", "PUBSEC")

CREDIT_COLUMNS = (
    numbered_name("NAME", "Credit"),
    money("AMOUNT", versioned=True),
    integer("AMOUNT_UNIT_TYPE_ID"),
    choice("AMOUNT_UNIT_TYPE_NAME", CURRENCIES),
    choice("AMOUNT_DISPLAY_SYMBOL", ("$", "€", "£", "¥")),
    reference("PERIOD_ID", "xc_period"),
    choice("PERIOD_NAME", ("JAN-2025", "FEB-2025", "MAR-2025")),
    reference("PARTICIPANT_ID", "xc_participant"),
    choice("PARTICIPANT_NAME", tuple(name for _, name in USERS)),
    reference("EFF_PARTICIPANT_ID", "xc_participant"),
    reference("POSITION_ID", "xc_position"),
    numbered_name("POSITION_NAME", "Account Executive"),
    reference("EFF_POSITION_ID", "xc_position"),
    reference("PLAN_ID", "xc_plan"),
    numbered_name("PLAN_NAME", "FY25 Sales Plan"),
    integer("RULE_ID"),
    numbered_name("RULE_NAME", "Bookings Rule"),
    reference("CREDIT_TYPE_ID", "xc_credit_type"),
    choice("CREDIT_TYPE_NAME", ("Bookings", "Renewal", "Services", "SPIFF")),
    integer("ORDER_ITEM_ID"),
    numbered_code("ORDER_CODE", "ORD"),
    numbered_code("ITEM_CODE", "ITM"),
    integer("CUSTOMER_ID"),
    numbered_name("CUSTOMER_NAME", "Customer"),
    integer("PRODUCT_ID"),
    choice("PRODUCT_NAME", ("Premium", "Ultimate", "Dedicated", "Services")),
    integer("GEOGRAPHY_ID"),
    choice("GEOGRAPHY_NAME", REGIONS),
    day("INCENTIVE_DATE"),
    boolean("IS_HELD", versioned=True),
    day("RELEASE_DATE"),
    day("EST_RELEASE_DATE"),
    boolean("IS_PROCESSED", versioned=True),
    boolean("DUPLICATE_CREDIT"),
    integer("REASON_ID"),
    choice("REASON_CODE_NAME", ("", "Split", "Manual", "Clawback")),
    integer("TRANS_ID"),
    integer("BATCH_NUMBER"),
    numbered_code("BATCH_NAME", "BATCH"),
    integer("SOURCE_CREDIT_ID"),
    choice("SOURCE_TYPE", ("ORDER", "ADJUSTMENT", "ROLLUP")),
    integer("ROLLUP_LEVEL"),
    money("SPLIT_PERCENT"),
    choice("STATUS", STATUSES, versioned=True),
    choice("DESCRIPTION", ("Closed won", "Upsell", "Renewal uplift", "Multi-year"), versioned=True),
    integer("BUSINESS_GROUP_ID"),
    choice("BUSINESS_GROUP_NAME", ("Enterprise", "Mid-Market", "SMB")),
    numbered_code("OPPORTUNITY_ID__C", "006"),
    choice("DEAL_TYPE__C", ("New", "Expansion", "Renewal")),
)

NAMED_ITEM_COLUMNS = (
    numbered_name("NAME", "Item"),
    choice("DESCRIPTION", ("", "Default", "Legacy"), versioned=True),
)
"""The name and description of a simple item (a plan, a role, a type, …)."""

TABLES: tuple[Table, ...] = (
    Table(
        "xc_attainment_measure",
        "ATTAINMENT_MEASURE_ID",
        20,
        (
            *NAMED_ITEM_COLUMNS,
            reference("PERIOD_TYPE_ID", "xc_period_type"),
            choice("FORMULA", ("SUM(AMOUNT)", "AVG(AMOUNT)", "COUNT(*)"), versioned=True),
        ),
        history=False,
        string_key=True,
    ),
    Table(
        "xc_attainment_measure_criteria",
        "ATTAINMENT_MEASURE_CRITERIA_ID",
        40,
        (
            string_reference("ATTAINMENT_MEASURE_ID", "xc_attainment_measure"),
            reference("CREDIT_TYPE_ID", "xc_credit_type"),
            choice("CRITERIA", ("Credit Type = Bookings", "Region = EMEA"), versioned=True),
        ),
        history=False,
    ),
    Table("xc_credit", "CREDIT_ID", 300, (*CREDIT_COLUMNS,), history=False),
    Table(
        "xc_credit_adjustment",
        "CREDIT_ADJUSTMENT_ID",
        60,
        (
            reference("CREDIT_ID", "xc_credit"),
            money("AMOUNT", versioned=True),
            reference("PERIOD_ID", "xc_period"),
            reference("PARTICIPANT_ID", "xc_participant"),
            choice("REASON", ("Split correction", "Late order", "Clawback"), versioned=True),
        ),
        history=False,
    ),
    Table(
        "xc_credit_held",
        "CREDIT_HELD_ID",
        60,
        (
            reference("CREDIT_ID", "xc_credit"),
            money("AMOUNT", versioned=True),
            day("RELEASE_DATE"),
            boolean("IS_RELEASED", versioned=True),
        ),
        history=False,
    ),
    Table(
        "xc_credit_totals",
        "CREDIT_TOTALS_ID",
        120,
        (
            reference("PARTICIPANT_ID", "xc_participant"),
            reference("POSITION_ID", "xc_position"),
            reference("PERIOD_ID", "xc_period"),
            reference("CREDIT_TYPE_ID", "xc_credit_type"),
            money("AMOUNT", versioned=True),
        ),
        history=False,
    ),
    Table(
        "xc_credit_type",
        "CREDIT_TYPE_ID",
        8,
        (*NAMED_ITEM_COLUMNS, numbered_code("CREDIT_TYPE_CODE", "CT")),
        history=False,
    ),
    Table(
        "xc_position",
        "POSITION_ID",
        60,
        (
            *NAMED_ITEM_COLUMNS,
            integer("TITLE_ID"),
            choice("TITLE_NAME", ("Account Executive", "Sales Manager", "SDR", "VP Sales")),
            reference("PARENT_POSITION_ID", "xc_position"),
            choice("BUSINESS_GROUP_NAME", ("Enterprise", "Mid-Market", "SMB"), versioned=True),
            day("EFFECTIVE_START_DATE"),
            day("EFFECTIVE_END_DATE"),
        ),
    ),
    Table(
        "xc_pos_hierarchy",
        "POS_HIERARCHY_ID",
        60,
        (
            reference("POS_HIERARCHY_TYPE_ID", "xc_pos_hierarchy_type"),
            reference("FROM_POS_ID", "xc_position"),
            reference("TO_POS_ID", "xc_position"),
            day("EFFECTIVE_START_DATE"),
            day("EFFECTIVE_END_DATE", versioned=True),
        ),
    ),
    Table("xc_pos_hierarchy_type", "POS_HIERARCHY_TYPE_ID", 4, (*NAMED_ITEM_COLUMNS,)),
    Table(
        "xc_pos_part_assignment",
        "POS_PART_ASSIGNMENT_ID",
        60,
        (
            reference("POSITION_ID", "xc_position"),
            reference("PARTICIPANT_ID", "xc_participant"),
            day("EFFECTIVE_START_DATE"),
            day("EFFECTIVE_END_DATE", versioned=True),
        ),
    ),
    Table(
        "xc_pos_relations",
        "ID",
        40,
        (
            reference("POS_REL_TYPE_ID", "xc_pos_rel_type"),
            reference("FROM_POS_ID", "xc_position"),
            reference("TO_POS_ID", "xc_position"),
            day("EFFECTIVE_END_DATE", versioned=True),
        ),
    ),
    Table("xc_pos_rel_type", "POS_REL_TYPE_ID", 4, (*NAMED_ITEM_COLUMNS,)),
    Table(
        "xc_pos_title_assignment",
        "POS_TITLE_ASSIGNMENT_ID",
        60,
        (
            reference("POSITION_ID", "xc_position"),
            integer("TITLE_ID"),
            choice("TITLE_NAME", ("Account Executive", "Sales Manager", "SDR"), versioned=True),
            day("EFFECTIVE_START_DATE"),
        ),
    ),
    Table(
        "xc_quota",
        "QUOTA_ID",
        30,
        (
            *NAMED_ITEM_COLUMNS,
            reference("PERIOD_TYPE_ID", "xc_period_type"),
            money("QUOTA_VALUE", versioned=True),
            choice("UNIT_TYPE_NAME", CURRENCIES),
        ),
    ),
    Table(
        "xc_quota_assignment",
        "QUOTA_ASSIGNMENT_ID",
        60,
        (
            reference("QUOTA_ID", "xc_quota"),
            reference("POSITION_ID", "xc_position"),
            reference("PERIOD_ID", "xc_period"),
            money("AMOUNT", versioned=True),
        ),
    ),
    Table(
        "xc_quota_relationship",
        "QUOTA_RELATIONSHIP_ID",
        30,
        (
            reference("QUOTA_ID", "xc_quota"),
            string_reference("ATTAINMENT_MEASURE_ID", "xc_attainment_measure"),
            choice("RELATIONSHIP_TYPE", ("PRIMARY", "SECONDARY"), versioned=True),
        ),
        history=False,
        string_key=True,
    ),
    Table(
        "xc_quota_totals",
        "QUOTA_TOTALS_ID",
        60,
        (
            reference("QUOTA_ID", "xc_quota"),
            reference("PARTICIPANT_ID", "xc_participant"),
            reference("PERIOD_ID", "xc_period"),
            money("AMOUNT", versioned=True),
        ),
        history=False,
    ),
    Table("xc_role", "ROLE_ID", 6, (*NAMED_ITEM_COLUMNS,), history=False),
    Table(
        "xc_participant",
        "PARTICIPANT_ID",
        60,
        (
            numbered_code("EMPLOYEE_ID", "E"),
            choice("FIRST_NAME", ("Ana", "José", "Zoë", "Søren", "Priya", "Kwame", "Chen")),
            choice("LAST_NAME", ("García", "Müller", "O'Brien", "Nguyen", "Okafor")),
            choice("PREFIX", ("", "Dr.", "Ms.", "Mr.")),
            day("HIRE_DATE"),
            day("TERMINATION_DATE", mostly_null=True, versioned=True),
            day("EFFECTIVE_START_DATE"),
            day("EFFECTIVE_END_DATE", versioned=True),
            boolean("IS_MASTER"),
            choice("REGION", REGIONS, versioned=True),
            choice("PERSONAL_CURRENCY_NAME", CURRENCIES),
            money("SALARY__LOCAL", versioned=True),
            choice("SALARY__CURRENCY", CURRENCIES),
            choice("EMPLOYEE_STATUS__C", ("Active", "Leave", "Terminated"), versioned=True),
        ),
    ),
    Table(
        "xc_period",
        "PERIOD_ID",
        24,
        (
            Column("NAME", ColumnKind.PERIOD_NAME),
            Column("START_DATE", ColumnKind.PERIOD_START),
            Column("END_DATE", ColumnKind.PERIOD_END),
            integer("PERIOD_TYPE_ID_FK", 1),
            Column("PARENT_PERIOD_ID", ColumnKind.PERIOD_PARENT),
            boolean("IS_OPEN", versioned=True),
        ),
    ),
    Table("xc_period_type", "PERIOD_TYPE_ID", 4, (*NAMED_ITEM_COLUMNS,)),
    Table(
        "xc_plan",
        "PLAN_ID",
        10,
        (
            *NAMED_ITEM_COLUMNS,
            reference("PERIOD_ID", "xc_period"),
            day("EFFECTIVE_START_DATE"),
        ),
    ),
    Table(
        "xc_plan_assignment",
        "PLAN_ASSIGNMENT_ID",
        60,
        (
            reference("PLAN_ID", "xc_plan"),
            reference("POSITION_ID", "xc_position"),
            reference("PERIOD_ID", "xc_period"),
            choice("APPROVAL_STATUS", STATUSES, versioned=True),
        ),
    ),
    Table(
        "xc_user",
        "USER_ID",
        40,
        (
            numbered_name("NAME", "user"),
            numbered_code("EMAIL", "user"),
            choice("LOCALE", ("en_US", "de_DE", "fr_FR", "ja_JP"), versioned=True),
            boolean("IS_ENABLED", versioned=True),
        ),
    ),
)

TABLE_BY_NAME = {table.name: table for table in TABLES}


def _key_properties() -> dict[str, tuple[str, ...]]:
    """Every stream (base and ``_hist``) with its key."""
    result: dict[str, tuple[str, ...]] = {}
    for table in TABLES:
        result[table.name] = (table.key_column,)
        if table.history:
            result[f"{table.name}_hist"] = (table.key_column, "VERSION")
    return result


KEY_PROPERTIES = _key_properties()


def columns(stream: str) -> list[tuple[str, str]]:
    """(name, H2 type) of a stream's table, in table order."""
    table = TABLE_BY_NAME[stream.removesuffix("_hist")]
    key_type = KEY_SQL_TYPES[table.string_key]
    result = [(table.key_column, key_type)]
    if stream.endswith("_hist"):
        result.append(("OBJECT_ID", key_type))
    result += [(column.name, SQL_TYPES[column.kind]) for column in table.columns]
    return result + list(COMMON_COLUMNS)
