"""Adaptive Planning's XML API as the sandbox serves it: the endpoint, credentials,
error keys, streams and keys, the calendar, and the objects the exports describe
(docs/vendors/adaptive.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol, TypeVar

BASE_PATH = "/api"
CREDENTIALS = {
    "username": "sandbox@example.com",
    "password": "sandbox-secret",
    "instance_code": "SANDBOX1",
}
API_VERSIONS = range(18, 41)
CONTENT_TYPE = "text/xml; charset=UTF-8"
DEFAULT_SPAN = ("01/2023", "12/2026")
"""The time span of the tap's default exportData request (and of ``plan_data``)."""
MAX_SPAN_MONTHS = 1200
FIXED_COLUMNS = ("Account Name", "Account Code", "Level Name")

AUTHENTICATION_FAILURE = "error-authentication-failure"
UNKNOWN_METHOD = "error-unknown-method"
INVALID_VERSION = "error-invalid-version"
MALFORMED_REQUEST = "error-malformed-request"
UNSUPPORTED_API_VERSION = "error-unsupported-api-version"
INVALID_TIMESPAN = "error-invalid-timespan"

KEY_PROPERTIES: dict[str, tuple[str, ...]] = {
    "versions": ("id",),
    "accounts": ("id",),
    "levels": ("id",),
    "dimensions": ("id",),
    "dimension_values": ("dimension_id", "id"),
    "users": ("id",),
    "time_periods": ("code",),
    "attributes": ("id",),
    "currencies": ("code",),
    "plan_data": ("version", "account_code", "level_name", "dimension_key", "period"),
}


class AdaptiveError(ValueError):
    """An API error: answered as ``success="false"`` with this message key and text."""

    def __init__(self, key: str, text: str) -> None:
        super().__init__(f"{key}: {text}")
        self.key, self.text = key, text


def invalid_version(name: str) -> AdaptiveError:
    return AdaptiveError(INVALID_VERSION, f"Version '{name}' does not exist")


def malformed() -> AdaptiveError:
    return AdaptiveError(MALFORMED_REQUEST, "The request could not be parsed")


FIRST_YEAR, LAST_YEAR = 2023, 2027
MONTHS = (LAST_YEAR - FIRST_YEAR + 1) * 12
"""Months of the calendar (``exportTime``); month index 0 is 01/2023."""
ROOT_LEVEL = "Master Corporate"
FOLDER, PLANNING, ACTUALS = "VERSION_FOLDER", "PLANNING", "ACTUALS"

MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

T = TypeVar("T")


def month_index(year: int, month: int) -> int:
    """Calendar index of a month (negative, or ``>= MONTHS``, outside the calendar)."""
    return (year - FIRST_YEAR) * 12 + month - 1


def month_code(index: int) -> str:
    """``MM/YYYY`` of a month index."""
    year, month = divmod(index, 12)
    return f"{month + 1:02d}/{FIRST_YEAR + year}"


def preorder(roots: Sequence[T], children: Callable[[T], Sequence[T]]) -> Iterator[tuple[int, T]]:
    """A forest in document order, each node with its depth."""
    stack = [(0, root) for root in reversed(roots)]
    while stack:
        depth, node = stack.pop()
        yield depth, node
        stack.extend((depth + 1, child) for child in reversed(children(node)))


class TreeNode(Protocol):
    """A node of a tree kept as a flat list with parent ids."""

    @property
    def id(self) -> int: ...
    @property
    def parent_id(self) -> int | None: ...


Node = TypeVar("Node", bound=TreeNode)


def ancestry(nodes: Sequence[tuple[int, int | None]]) -> dict[int, list[int]]:
    """Per ``(id, parent id)`` node: its id, its parent's, …, up to its root."""
    parents = dict(nodes)
    chains: dict[int, list[int]] = {}
    for node_id, _ in nodes:
        chain: list[int] = []
        current: int | None = node_id
        while current is not None:
            chain.append(current)
            current = parents[current]
        chains[node_id] = chain
    return chains


@dataclass(frozen=True)
class Version:
    id: int
    name: str
    short_name: str
    type: str
    is_default: bool
    is_locked: bool
    parent_id: int | None
    months: tuple[int, int] | None
    """First and last month index holding values (None: a folder)."""
    since_epoch: int = 0


@dataclass(frozen=True)
class Account:
    id: int
    code: str
    name: str
    parent_id: int | None
    is_group: bool
    account_type_code: str
    balance_type: str
    display_as: str
    data_privacy: str
    sub_type: str
    family: str
    """``revenue``, ``cogs``, ``opex`` or ``headcount``: that of its top-level group."""
    dimensions: tuple[str, ...]
    """Names of the dimensions a leaf's values are split by."""
    products: str
    """The top ``Product`` value whose leaves split it ("": none)."""
    time_stratum: str = "month"


@dataclass(frozen=True)
class AttributeValue:
    attribute_id: int
    name: str
    value_id: int
    value: str


@dataclass(frozen=True)
class Level:
    id: int
    name: str
    currency: str
    short_name: str
    parent_id: int | None
    role: str
    """``root``, ``region``, ``sales``, ``shared`` or ``elimination``."""
    is_linked: bool
    workflow_status: str
    is_importable: bool
    attributes: tuple[AttributeValue, ...]

    @property
    def is_elimination(self) -> bool:
        return self.role == "elimination"


@dataclass(frozen=True)
class Dimension:
    id: int
    name: str
    short_name: str
    auto_create: bool
    list_dimension: bool
    keep_sorted: bool
    use_on_levels: bool
    seq_no: int


@dataclass(frozen=True)
class DimensionValue:
    dimension_id: int
    id: int
    name: str
    description: str
    short_name: str
    parent_id: int | None


@dataclass(frozen=True)
class User:
    id: int
    login: str
    email: str
    full_name: str
    time_zone: str


@dataclass(frozen=True)
class Period:
    code: str
    label: str
    short_name: str
    stratum: str
    start: date
    end: date
    parent_code: str


@dataclass(frozen=True)
class Attribute:
    id: int
    name: str
    type: str
    auto_create: bool


@dataclass(frozen=True)
class Currency:
    code: str
    precision: int
    is_reporting_currency: bool
    user_defined: bool
    description: str


def calendar_periods() -> list[Period]:
    """Each year, then each of its quarters followed by the quarter's months."""
    periods = []
    for year in range(FIRST_YEAR, LAST_YEAR + 1):
        fiscal, yy = f"FY{year}", f"{year % 100:02d}"
        periods.append(
            Period(fiscal, fiscal, f"FY{yy}", "year", date(year, 1, 1), date(year, 12, 31), "")
        )
        for quarter in range(1, 5):
            code, first = f"Q{quarter}/{year}", 3 * quarter - 2
            periods.append(
                Period(
                    code,
                    f"Q{quarter} {year}",
                    f"Q{quarter}-{yy}",
                    "quarter",
                    date(year, first, 1),
                    _month_end(year, first + 2),
                    fiscal,
                )
            )
            for month in range(first, first + 3):
                name = MONTH_NAMES[month - 1]
                periods.append(
                    Period(
                        f"{month:02d}/{year}",
                        f"{name} {year}",
                        f"{name}-{yy}",
                        "month",
                        date(year, month, 1),
                        _month_end(year, month),
                        code,
                    )
                )
    return periods


def _month_end(year: int, month: int) -> date:
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return following - timedelta(days=1)
