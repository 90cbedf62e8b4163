"""Adaptive Planning sandbox data: the tenant's structure and its plan values.

Everything is a function of (seed, scale, epoch), made of ``random.Random`` draws and
integer arithmetic only, so it is the same on every machine. Trees (versions, accounts,
levels, dimension values) are flat lists in document (pre-)order with parent ids.

Structure (:class:`Tenant`, from seed and scale): 25 accounts plus 18 per extra scale
step (every leaf account has ``scale`` copies: ``4110``, ``4110-2``, …); 17 levels plus
11 per step (``Master Corporate``, four regions and their leaves, copied per scale, and
``Eliminations``); the dimensions ``Product`` and ``Channel`` (values nested two deep,
product leaves copied per scale) and ``Segment`` (flat); 8 x scale users; six
attributes; nine active currencies; 2023..2027 in months, quarters and years. Names are
fixed (some hold commas, quotes, ``&`` and non-ASCII letters); ids, values and which
cells hold data depend on the seed.

Values live on leaf lines: (leaf account, leaf level, one leaf value per dimension the
account is split by). A line has a run rate, a growth and seasonality; some start late
(blank before) or are dormant (all zeros); about 3% of cells are an explicit zero.
Amounts are integer cents (headcount: whole units), negative on ``Eliminations``.
Versions: ``Actuals`` holds 01/2023..12/2025; ``FY23 Plan``, ``FY24 Plan`` (both locked),
``FY25 Plan`` (the default), ``FY26 Budget`` and ``FY27 Outlook`` hold their year;
``Forecast E<e>``, added at epoch ``e`` at the end of the ``Forecasts`` folder, holds
07/2025..06/2026. Epoch ``e`` redraws about 5% of the Actuals cells of 2024..2025 and
about 2% of the cells of every unlocked plan version older than ``e``; from epoch 2 on
it also deletes, as users of Adaptive do: it blanks about 2% of those cells and clears
about 3% of the leaf lines whole (every cell blank, so the line is gone from exports).
Locked versions never change.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar

from dataops.sandbox.vendor import DataParams

FIRST_YEAR, LAST_YEAR = 2023, 2027
MONTHS = (LAST_YEAR - FIRST_YEAR + 1) * 12
"""Months of the calendar (``exportTime``); month index 0 is 01/2023."""
ROOT_LEVEL = "Master Corporate"
FOLDER, PLANNING, ACTUALS = "VERSION_FOLDER", "PLANNING", "ACTUALS"

Cells = list[int | None]
"""A line's amounts in cents, one per calendar month; ``None`` is a blank cell."""
LineKey = tuple[int, int, tuple[str, ...]]
"""(account id, level id, value name per dimension in ``seqNo`` order, ``""`` if none)."""

ACTUALS_CHANGE_RATE, ACTUALS_CHANGES = 0.05, (12, 35)
"""Per epoch, this share of the Actuals cells of these months (2024..2025) is redrawn."""
PLAN_CHANGE_RATE = 0.02
DELETES_FROM_EPOCH, BLANKED_CELL_RATE, CLEARED_LINE_RATE = 2, 0.02, 0.03
"""From this epoch on, each epoch blanks this share of the cells it may change and
clears this share of the leaf lines (of every unlocked version older than it)."""
ZERO_CELL_RATE, DORMANT_LINE_RATE, LATE_START_RATE = 0.03, 0.04, 0.1
SEASON_PERCENT = (94, 92, 103, 97, 98, 104, 95, 93, 102, 101, 105, 116)
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


# ---------------------------------------------------------------------------- structure


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


@dataclass(frozen=True)
class _A:
    """A template account: a group when it has children."""

    code: str
    name: str
    children: tuple[_A, ...] = ()
    dimensions: tuple[str, ...] = ()
    products: str = ""
    sub_type: str = ""
    private: bool = False


ACCOUNT_TEMPLATE = (
    _A(
        "4000",
        "Revenue",
        (
            _A(
                "4100",
                "Product Revenue",
                (
                    _A(
                        "4110",
                        "Subscription Revenue",
                        (),
                        ("Product", "Channel"),
                        "Platform",
                        "Recurring",
                    ),
                    _A("4120", "License Revenue", (), ("Product", "Channel"), "Platform"),
                ),
            ),
            _A("4200", "Services Revenue", (), ("Product", "Segment"), "Services"),
            _A("4300", "Other Income"),
        ),
    ),
    _A(
        "5000",
        "Cost of Revenue",
        (_A("5100", "Hosting"), _A("5200", "Support Costs"), _A("5300", "Payment Processing")),
    ),
    _A(
        "6000",
        "Operating Expenses",
        (
            _A(
                "6100",
                "Personnel",
                (
                    _A("6110", "Salaries, Wages & Benefits", private=True),
                    _A("6120", "Payroll Taxes", private=True),
                    _A("6130", 'Bonus & "Spot" Awards', private=True),
                ),
            ),
            _A("6200", "Travel & Entertainment"),
            _A("6300", "Marketing Programs", (), ("Channel",)),
            _A("6400", "Software & Subscriptions"),
            _A("6500", "Facilities", (_A("6510", "Rent"), _A("6520", "Utilities"))),
            _A("6600", "Professional Services"),
        ),
    ),
    _A(
        "9000",
        "Headcount",
        (_A("9100", "Employees", sub_type="Cumulative"), _A("9200", "Contractors")),
    ),
)
FAMILIES = {"4000": "revenue", "5000": "cogs", "6000": "opex", "9000": "headcount"}
# family: accountTypeCode, balanceType, displayAs, monthly run rate range in cents
FAMILY_FACTS: dict[str, tuple[str, str, str, tuple[int, int]]] = {
    "revenue": ("I", "CREDIT", "CURRENCY", (500_000, 12_000_000)),
    "cogs": ("E", "DEBIT", "CURRENCY", (100_000, 4_000_000)),
    "opex": ("E", "DEBIT", "CURRENCY", (200_000, 6_000_000)),
    "headcount": ("N", "DEBIT", "NUMBER", (200, 4_000)),
}
# family: {leaf level role: chance that a leaf account has a line there}
DENSITY: dict[str, dict[str, float]] = {
    "revenue": {"sales": 0.4, "elimination": 0.5},
    "cogs": {"sales": 0.1, "shared": 0.5},
    "opex": {"sales": 0.1, "shared": 0.3},
    "headcount": {"sales": 0.4, "shared": 0.5},
}
# region, currency, short name, [(leaf, currency, short name, legal entity)]
LEVEL_TEMPLATE: list[tuple[str, str, str, list[tuple[str, str, str, str]]]] = [
    (
        "Americas",
        "USD",
        "AMER",
        [
            ("US Sales", "USD", "US", "Acme Inc."),
            ("Canada Sales", "CAD", "", "Acme Canada Ltd."),
            ("Brazil Sales", "BRL", "BR", "Acme Brasil Ltda."),
        ],
    ),
    (
        "EMEA",
        "EUR",
        "EMEA",
        [
            ("UK & Ireland", "GBP", "UKI", "Acme UK Ltd."),
            ("DACH", "EUR", "", "Acme GmbH"),
            ("Zürich Office", "CHF", "ZRH", "Acme (Schweiz) AG"),
        ],
    ),
    (
        "APAC",
        "USD",
        "",
        [("Japan", "JPY", "JP", "Acme KK"), ("Australia, NZ", "AUD", "ANZ", "Acme Pty Ltd")],
    ),
    (
        "Shared Services",
        "USD",
        "SS",
        [
            ("R&D", "USD", "RD", "Acme Inc."),
            ("G&A", "USD", "GA", "Acme Inc."),
            ("Customer Success", "USD", "", "Acme Inc."),
        ],
    ),
]
SHARED_REGION = "Shared Services"
WORKFLOW_STATUSES = ["NOT_STARTED", "IN_PROGRESS", "SUBMITTED", "APPROVED"]


@dataclass(frozen=True)
class _D:
    """A template dimension: flags, then top values ``(name, short name, description,
    [leaf names])``."""

    name: str
    short_name: str
    auto_create: bool
    list_dimension: bool
    keep_sorted: bool
    use_on_levels: bool
    values: tuple[tuple[str, str, str, tuple[str, ...]], ...]


DIMENSION_TEMPLATE = (
    _D(
        "Product",
        "PRD",
        False,
        False,
        True,
        False,
        (
            ("Platform", "PLT", "The core platform", ("Core", "Analytics", 'Widget "Pro"')),
            ("Services", "", "", ("Onboarding", "Training & Certification")),
        ),
    ),
    _D(
        "Channel",
        "CHN",
        True,
        False,
        False,
        True,
        (
            ("Direct", "DIR", "Sold by Acme", ("Field Sales", "Inside Sales")),
            ("Partner", "", "Resellers and marketplaces", ("Résellers", "Marketplace")),
            ("Online", "WEB", "", ()),
        ),
    ),
    _D(
        "Segment",
        "SEG",
        False,
        True,
        True,
        False,
        (("Enterprise", "ENT", "", ()), ("Mid-Market", "MM", "", ()), ("SMB", "", "", ())),
    ),
)
FIRST_NAMES = ["Ana", "José", "Zoë", "Søren", "Priya", "Kwame", "Olga", "Chen", "Fatima", "Liam"]
LAST_NAMES = ["García", "Müller", "O'Brien", "Nguyen", "Smith", "Kowalski", "Okafor", "Tanaka"]
TIME_ZONES = [
    "America/Los_Angeles",
    "America/New_York",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Zurich",
    "Asia/Tokyo",
    "Australia/Sydney",
]
# name, type, autoCreate
ATTRIBUTE_TEMPLATE = [
    ("Legal Entity", "LevelAttribute", False),
    ("Region Type", "LevelAttribute", False),
    ("Cost Center Owner", "LevelAttribute", True),
    ("Reporting Line", "AccountAttribute", False),
    ("Cash Flow Category", "AccountAttribute", True),
    ("Product Family", "DimensionAttribute", False),
]
CURRENCIES = [
    Currency("USD", 2, True, False, "US Dollar"),
    Currency("EUR", 2, False, False, "Euro"),
    Currency("GBP", 2, False, False, "British Pound"),
    Currency("CAD", 2, False, False, "Canadian Dollar"),
    Currency("BRL", 2, False, False, "Brazilian Real"),
    Currency("CHF", 2, False, False, "Swiss Franc"),
    Currency("JPY", 0, False, False, "Japanese Yen"),
    Currency("AUD", 2, False, False, "Australian Dollar"),
    Currency("PTS", 4, False, True, "Loyalty points (internal)"),
]


@dataclass(frozen=True)
class _V:
    """A template version: a folder when ``months`` is None."""

    name: str
    short_name: str
    type: str
    months: tuple[int, int] | None = None
    locked: bool = False
    default: bool = False
    children: tuple[_V, ...] = ()


VERSION_TEMPLATE = (
    _V("Actuals", "ACT", ACTUALS, (0, 35)),
    _V(
        "Plans",
        "",
        FOLDER,
        children=(
            _V(
                "Archive",
                "",
                FOLDER,
                children=(
                    _V("FY23 Plan", "", PLANNING, (0, 11), locked=True),
                    _V("FY24 Plan", "P24", PLANNING, (12, 23), locked=True),
                ),
            ),
            _V("FY25 Plan", "P25", PLANNING, (24, 35), default=True),
            _V("FY26 Budget", "B26", PLANNING, (36, 47)),
            _V("Scenarios", "", FOLDER),
        ),
    ),
    _V("Forecasts", "FC", FOLDER, children=(_V("FY27 Outlook", "", PLANNING, (48, 59)),)),
)
"""The last top-level entry is the folder that epoch versions are appended to."""
FORECAST_MONTHS = (30, 41)
"""``Forecast E<e>`` holds 07/2025..06/2026."""
EPOCH_VERSION_ID_BASE = 1000
"""``Forecast E<e>`` has id ``EPOCH_VERSION_ID_BASE + e``; template ids are lower."""


def _ids(rng: random.Random, count: int, low: int, high: int) -> Iterator[int]:
    """``count`` distinct ids from ``[low, high)``, in draw order."""
    return iter(rng.sample(range(low, high), count))


def _copies(name: str, scale: int) -> list[tuple[int, str]]:
    """A template leaf and its scale copies: ``[(1, name), (2, "name (2)"), …]``."""
    return [(1, name)] + [(n, f"{name} ({n})") for n in range(2, scale + 1)]


@dataclass(frozen=True)
class LineProfile:
    """How the amounts of one leaf line are drawn."""

    key: str
    """Names the line in seeds: account code, level name and dimension values."""
    run_rate: int
    """Cents per month at 01/2023, before growth, seasonality, bias and noise."""
    growth_bp: int
    """Linear growth per month, in basis points of the run rate."""
    sign: int
    first_month: int
    dormant: bool
    """Every amount is zero."""
    whole: bool
    """Amounts are whole units (headcount)."""

    def amount(self, month: int, rng: random.Random, bias_bp: int, noise_bp: int) -> int:
        """One month's amount in cents (integer arithmetic: the same on every machine)."""
        if self.dormant or rng.random() < ZERO_CELL_RATE:
            return 0
        noise = rng.randint(-noise_bp, noise_bp)
        cents = (
            self.run_rate
            * (10_000 + self.growth_bp * month)
            * SEASON_PERCENT[month % 12]
            * (10_000 + bias_bp + noise)
            // (10_000 * 100 * 10_000)
        )
        if self.whole:
            cents = max(100, round(cents, -2))
        return self.sign * cents


class Tenant:
    """The structure of one (seed, scale): everything but versions and amounts."""

    def __init__(self, seed: int, scale: int) -> None:
        self.seed, self.scale = seed, scale
        rng = random.Random(f"{seed}:adaptive:tenant")
        self.users = self._users(rng)
        attribute_ids = sorted(rng.sample(range(1, 100), len(ATTRIBUTE_TEMPLATE)))
        self.attributes = [
            Attribute(attribute_id, name, kind, auto)
            for attribute_id, (name, kind, auto) in zip(
                attribute_ids, ATTRIBUTE_TEMPLATE, strict=True
            )
        ]
        self.currencies = list(CURRENCIES)
        self.periods = _periods()
        self.accounts = self._accounts(rng)
        self.levels = self._levels(rng)
        self.dimensions, self.dimension_values = self._dimensions(rng)
        self.lines = self._lines()
        """Every leaf line, with how its amounts are drawn, in account then level order."""

    def _users(self, rng: random.Random) -> list[User]:
        users = []
        for number, user_id in enumerate(sorted(rng.sample(range(1000, 10_000), 8 * self.scale))):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            local = f"{first}.{last}".encode("ascii", "ignore").decode().lower().replace("'", "")
            users.append(
                User(
                    user_id,
                    f"{local}{number + 1}@corp.example.com",
                    f"{local}{number + 1}@example.com",
                    f"{first} {last}",
                    rng.choice(TIME_ZONES),
                )
            )
        return users

    def _accounts(self, rng: random.Random) -> list[Account]:
        template = list(preorder(ACCOUNT_TEMPLATE, lambda a: a.children))
        count = sum(1 if a.children else self.scale for _, a in template)
        ids = _ids(rng, count, 100, 100 + 20 * count)
        accounts: list[Account] = []
        groups: list[int] = []  # the enclosing group's id per depth
        family = ""
        for depth, account in template:
            del groups[depth:]
            family = FAMILIES.get(account.code, family)
            type_code, balance, display, _ = FAMILY_FACTS[family]
            copies = [(1, account.name)] if account.children else _copies(account.name, self.scale)
            for number, name in copies:
                accounts.append(
                    Account(
                        next(ids),
                        account.code if number == 1 else f"{account.code}-{number}",
                        name,
                        groups[-1] if groups else None,
                        bool(account.children),
                        type_code,
                        balance,
                        display,
                        "PRIVATE" if account.private else "PUBLIC",
                        account.sub_type,
                        family,
                        account.dimensions,
                        account.products,
                    )
                )
            if account.children:
                groups.append(accounts[-1].id)
        return accounts

    def _levels(self, rng: random.Random) -> list[Level]:
        leaves = sum(len(leaf_list) for *_, leaf_list in LEVEL_TEMPLATE) * self.scale
        ids = _ids(rng, 2 + len(LEVEL_TEMPLATE) + leaves, 1, 1000)
        attribute_ids = {attribute.name: attribute.id for attribute in self.attributes}
        value_ids: dict[tuple[str, str], int] = {}
        value_id_pool = _ids(rng, 3 * leaves + 10, 1000, 10_000)

        def attribute(name: str, value: str) -> AttributeValue:
            if (name, value) not in value_ids:
                value_ids[name, value] = next(value_id_pool)
            return AttributeValue(attribute_ids[name], name, value_ids[name, value], value)

        def level(
            name: str, currency: str, short: str, parent: int | None, role: str, entity: str = ""
        ) -> Level:
            attributes = []
            if role in {"sales", "shared"}:
                attributes.append(attribute("Legal Entity", entity))
                attributes.append(attribute("Region Type", role.title()))
                if rng.random() < 0.5:
                    attributes.append(
                        attribute("Cost Center Owner", rng.choice(self.users).full_name)
                    )
            elif role == "region":
                attributes.append(attribute("Region Type", "Region"))
            return Level(
                next(ids),
                name,
                currency,
                short,
                parent,
                role,
                is_linked=role != "root" and rng.random() < 0.15,
                workflow_status=rng.choice(WORKFLOW_STATUSES),
                is_importable=role in {"sales", "shared"},
                attributes=tuple(attributes),
            )

        root = level(ROOT_LEVEL, "USD", "MC", None, "root")
        levels = [root]
        for region, currency, short, leaf_list in LEVEL_TEMPLATE:
            levels.append(level(region, currency, short, root.id, "region"))
            parent = levels[-1].id
            role = "shared" if region == SHARED_REGION else "sales"
            for leaf, leaf_currency, leaf_short, entity in leaf_list:
                for number, name in _copies(leaf, self.scale):
                    copy_short = (
                        f"{leaf_short}{number}" if leaf_short and number > 1 else leaf_short
                    )
                    levels.append(level(name, leaf_currency, copy_short, parent, role, entity))
        levels.append(level("Eliminations", "USD", "ELIM", root.id, "elimination"))
        return levels

    def _dimensions(self, rng: random.Random) -> tuple[list[Dimension], list[DimensionValue]]:
        dimensions, values = [], []
        ids = _ids(rng, len(DIMENSION_TEMPLATE), 1, 100)
        value_ids = _ids(rng, 20 * self.scale, 100, 10_000)
        for seq_no, spec in enumerate(DIMENSION_TEMPLATE, start=1):
            dimension = Dimension(
                next(ids),
                spec.name,
                spec.short_name,
                spec.auto_create,
                spec.list_dimension,
                spec.keep_sorted,
                spec.use_on_levels,
                seq_no,
            )
            dimensions.append(dimension)
            for top, short, description, leaves in spec.values:
                parent = DimensionValue(
                    dimension.id, next(value_ids), top, description, short, None
                )
                values.append(parent)
                for leaf in leaves:
                    for number, name in _copies(leaf, self.scale):
                        described = f"{name} ({top})" if number == 1 else ""
                        values.append(
                            DimensionValue(
                                dimension.id, next(value_ids), name, described, "", parent.id
                            )
                        )
        return dimensions, values

    def leaf_values(self, dimension: Dimension, under: str = "") -> list[str]:
        """Names of the values of ``dimension`` without children (below ``under`` if given)."""
        values = [v for v in self.dimension_values if v.dimension_id == dimension.id]
        names = {v.id: v.name for v in values}
        parents = {v.parent_id for v in values}
        return [
            v.name
            for v in values
            if v.id not in parents
            and (not under or (v.parent_id is not None and names[v.parent_id] == under))
        ]

    def _combinations(self, account: Account, rng: random.Random) -> list[tuple[str, ...]]:
        """One or two value combinations (one name per dimension, ``""`` unused)."""
        options = [
            self.leaf_values(d, account.products if d.name == "Product" else "")
            if d.name in account.dimensions
            else [""]
            for d in self.dimensions
        ]
        return sorted({tuple(rng.choice(names) for names in options) for _ in range(2)})

    def _lines(self) -> list[tuple[LineKey, LineProfile]]:
        lines = []
        leaf_levels = [level for level in self.levels if level.role not in {"root", "region"}]
        for account in self.accounts:
            if account.is_group:
                continue
            low, high = FAMILY_FACTS[account.family][3]
            for level in leaf_levels:
                rng = random.Random(f"{self.seed}:adaptive:lines:{account.code}:{level.name}")
                if rng.random() >= DENSITY[account.family].get(level.role, 0.0):
                    continue
                for values in self._combinations(account, rng):
                    whole = account.family == "headcount"
                    profile = LineProfile(
                        key=f"{account.code}:{level.name}:{'|'.join(values)}",
                        run_rate=rng.randint(low // 100, high // 100) * 100
                        if whole
                        else rng.randint(low, high),
                        growth_bp=rng.randint(0, 150),
                        sign=-1 if level.is_elimination else 1,
                        first_month=rng.randint(6, 30) if rng.random() < LATE_START_RATE else 0,
                        dormant=rng.random() < DORMANT_LINE_RATE,
                        whole=whole,
                    )
                    lines.append(((account.id, level.id, values), profile))
        return lines


def _periods() -> list[Period]:
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


@functools.lru_cache(maxsize=8)
def tenant(seed: int, scale: int) -> Tenant:
    """The (cached, shared: do not mutate) structure of a tenant."""
    return Tenant(seed, scale)


@functools.lru_cache(maxsize=32)
def versions(seed: int, epoch: int) -> tuple[Version, ...]:
    """Every version in document order: the template, then ``Forecast E1..E<epoch>``."""
    rng = random.Random(f"{seed}:adaptive:versions")
    template = list(preorder(VERSION_TEMPLATE, lambda v: v.children))
    ids = _ids(rng, len(template), 1, EPOCH_VERSION_ID_BASE)
    result: list[Version] = []
    folders: list[int] = []  # the enclosing folder's id per depth
    for depth, spec in template:
        del folders[depth:]
        parent = folders[-1] if folders else None
        result.append(
            Version(
                next(ids),
                spec.name,
                spec.short_name,
                spec.type,
                spec.default,
                spec.locked,
                parent,
                spec.months,
            )
        )
        if spec.type == FOLDER:
            folders.append(result[-1].id)
    last_folder = next(v.id for v in result if v.name == VERSION_TEMPLATE[-1].name)
    result.extend(
        Version(
            EPOCH_VERSION_ID_BASE + e,
            f"Forecast E{e}",
            f"FC{e}",
            PLANNING,
            False,
            False,
            last_folder,
            FORECAST_MONTHS,
            since_epoch=e,
        )
        for e in range(1, epoch + 1)
    )
    return tuple(result)


# ------------------------------------------------------------------------------ amounts


def _leaf_cells(t: Tenant, version: Version, epoch: int) -> Iterator[tuple[LineKey, Cells]]:
    """Every leaf line's amounts in ``version`` as of ``epoch``."""
    assert version.months is not None
    first, last = version.months
    actuals = version.type == ACTUALS
    changed = ACTUALS_CHANGES if actuals else version.months
    rate = ACTUALS_CHANGE_RATE if actuals else PLAN_CHANGE_RATE
    epochs = [] if version.is_locked else range(version.since_epoch + 1, epoch + 1)
    for key, profile in t.lines:
        rng = random.Random(f"{t.seed}:adaptive:amounts:{version.name}:{profile.key}")
        bias_bp, noise_bp = (0, 800) if actuals else (rng.randint(200, 1200), 300)
        cells: Cells = [None] * MONTHS
        for month in range(max(first, profile.first_month), last + 1):
            cells[month] = profile.amount(month, rng, bias_bp, noise_bp)
        for e in epochs:
            redraw = random.Random(f"{t.seed}:adaptive:epoch:{e}:{version.name}:{profile.key}")
            months = range(max(changed[0], first), min(changed[1], last) + 1)
            for month in months:
                if cells[month] is not None and redraw.random() < rate:
                    cells[month] = profile.amount(month, redraw, bias_bp, 2 * noise_bp)
            if e >= DELETES_FROM_EPOCH:
                _delete(
                    cells,
                    months,
                    random.Random(f"{t.seed}:adaptive:deletes:{e}:{version.name}:{profile.key}"),
                )
        yield key, cells


def _delete(cells: Cells, months: range, rng: random.Random) -> None:
    """One epoch's deletions in a line: the whole line cleared, or a few cells blanked."""
    if rng.random() < CLEARED_LINE_RATE:
        cells[:] = [None] * len(cells)
        return
    for month in months:
        if cells[month] is not None and rng.random() < BLANKED_CELL_RATE:
            cells[month] = None


def find_version(seed: int, epoch: int, name: str) -> Version | None:
    """The version holding values named ``name`` (None for unknown names and folders)."""
    return next(
        (v for v in versions(seed, epoch) if v.name == name and v.type != FOLDER),
        None,
    )


@functools.lru_cache(maxsize=64)
def totals(params: DataParams, version_name: str) -> dict[LineKey, Cells]:
    """Every line of a version (``find_version`` must know it): leaf lines and their
    rollups onto every ancestor account and level, summed exactly (cached: do not mutate)."""
    t = tenant(params.seed, params.scale)
    version = find_version(params.seed, params.epoch, version_name)
    if version is None:
        raise KeyError(version_name)
    accounts = ancestry([(a.id, a.parent_id) for a in t.accounts])
    levels = ancestry([(level.id, level.parent_id) for level in t.levels])
    result: dict[LineKey, Cells] = {}
    for (account, level, values), cells in _leaf_cells(t, version, params.epoch):
        filled = [(month, cents) for month, cents in enumerate(cells) if cents is not None]
        for account_id in accounts[account]:
            for level_id in levels[level]:
                into = result.setdefault((account_id, level_id, values), [None] * MONTHS)
                for month, cents in filled:
                    before = into[month]
                    into[month] = cents if before is None else before + cents
    return result
