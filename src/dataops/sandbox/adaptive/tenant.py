"""The structure of an Adaptive Planning tenant at (seed, scale): accounts, levels,
dimensions, users, attributes, currencies — everything but versions and amounts.

Everything is made of ``random.Random`` draws and integer arithmetic only, so it is the
same on every machine. Trees are flat lists in document (pre-)order with parent ids.
25 accounts plus 18 per extra scale step (every leaf account has ``scale`` copies:
``4110``, ``4110-2``, …); 17 levels plus 11 per step; the dimensions ``Product`` and
``Channel`` (nested two deep, product leaves copied per scale) and ``Segment`` (flat);
8 x scale users; six attributes; nine active currencies. Names are fixed (some hold
commas, quotes, ``&`` and non-ASCII letters); ids depend on the seed.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator
from dataclasses import dataclass

from dataops.sandbox.adaptive.spec import (
    ROOT_LEVEL,
    Account,
    Attribute,
    AttributeValue,
    Currency,
    Dimension,
    DimensionValue,
    Level,
    User,
    calendar_periods,
    preorder,
)


@dataclass(frozen=True)
class AccountTemplate:
    """A template account: a group when it has children."""

    code: str
    name: str
    children: tuple[AccountTemplate, ...] = ()
    dimensions: tuple[str, ...] = ()
    products: str = ""
    sub_type: str = ""
    private: bool = False


ACCOUNT_TEMPLATES = (
    AccountTemplate(
        "4000",
        "Revenue",
        (
            AccountTemplate(
                "4100",
                "Product Revenue",
                (
                    AccountTemplate(
                        "4110",
                        "Subscription Revenue",
                        (),
                        ("Product", "Channel"),
                        "Platform",
                        "Recurring",
                    ),
                    AccountTemplate(
                        "4120", "License Revenue", (), ("Product", "Channel"), "Platform"
                    ),
                ),
            ),
            AccountTemplate("4200", "Services Revenue", (), ("Product", "Segment"), "Services"),
            AccountTemplate("4300", "Other Income"),
        ),
    ),
    AccountTemplate(
        "5000",
        "Cost of Revenue",
        (
            AccountTemplate("5100", "Hosting"),
            AccountTemplate("5200", "Support Costs"),
            AccountTemplate("5300", "Payment Processing"),
        ),
    ),
    AccountTemplate(
        "6000",
        "Operating Expenses",
        (
            AccountTemplate(
                "6100",
                "Personnel",
                (
                    AccountTemplate("6110", "Salaries, Wages & Benefits", private=True),
                    AccountTemplate("6120", "Payroll Taxes", private=True),
                    AccountTemplate("6130", 'Bonus & "Spot" Awards', private=True),
                ),
            ),
            AccountTemplate("6200", "Travel & Entertainment"),
            AccountTemplate("6300", "Marketing Programs", (), ("Channel",)),
            AccountTemplate("6400", "Software & Subscriptions"),
            AccountTemplate(
                "6500",
                "Facilities",
                (AccountTemplate("6510", "Rent"), AccountTemplate("6520", "Utilities")),
            ),
            AccountTemplate("6600", "Professional Services"),
        ),
    ),
    AccountTemplate(
        "9000",
        "Headcount",
        (
            AccountTemplate("9100", "Employees", sub_type="Cumulative"),
            AccountTemplate("9200", "Contractors"),
        ),
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
# region, currency, short name, [(leaf, currency, short name, legal entity)]
LEVEL_TEMPLATES: list[tuple[str, str, str, list[tuple[str, str, str, str]]]] = [
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
class DimensionTemplate:
    """A template dimension: flags, then top values ``(name, short name, description,
    [leaf names])``."""

    name: str
    short_name: str
    auto_create: bool
    list_dimension: bool
    keep_sorted: bool
    use_on_levels: bool
    values: tuple[tuple[str, str, str, tuple[str, ...]], ...]


DIMENSION_TEMPLATES = (
    DimensionTemplate(
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
    DimensionTemplate(
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
    DimensionTemplate(
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
ATTRIBUTE_TEMPLATES = [
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


def draw_ids(rng: random.Random, count: int, low: int, high: int) -> Iterator[int]:
    """``count`` distinct ids from ``[low, high)``, in draw order."""
    return iter(rng.sample(range(low, high), count))


def _copies(name: str, scale: int) -> list[tuple[int, str]]:
    """A template leaf and its scale copies: ``[(1, name), (2, "name (2)"), …]``."""
    return [(1, name)] + [(n, f"{name} ({n})") for n in range(2, scale + 1)]


class Tenant:
    """The structure of one (seed, scale): everything but versions and amounts."""

    def __init__(self, seed: int, scale: int) -> None:
        self.seed, self.scale = seed, scale
        rng = random.Random(f"{seed}:adaptive:tenant")
        self.users = self._users(rng)
        attribute_ids = sorted(rng.sample(range(1, 100), len(ATTRIBUTE_TEMPLATES)))
        self.attributes = [
            Attribute(attribute_id, name, kind, auto)
            for attribute_id, (name, kind, auto) in zip(
                attribute_ids, ATTRIBUTE_TEMPLATES, strict=True
            )
        ]
        self.currencies = list(CURRENCIES)
        self.periods = calendar_periods()
        self.accounts = self._accounts(rng)
        self.levels = self._levels(rng)
        self.dimensions, self.dimension_values = self._dimensions(rng)

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
        template = list(preorder(ACCOUNT_TEMPLATES, lambda a: a.children))
        count = sum(1 if a.children else self.scale for _, a in template)
        ids = draw_ids(rng, count, 100, 100 + 20 * count)
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
        leaves = sum(len(leaf_list) for *_, leaf_list in LEVEL_TEMPLATES) * self.scale
        ids = draw_ids(rng, 2 + len(LEVEL_TEMPLATES) + leaves, 1, 1000)
        attribute_ids = {attribute.name: attribute.id for attribute in self.attributes}
        value_ids: dict[tuple[str, str], int] = {}
        value_id_pool = draw_ids(rng, 3 * leaves + 10, 1000, 10_000)

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
        for region, currency, short, leaf_list in LEVEL_TEMPLATES:
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
        ids = draw_ids(rng, len(DIMENSION_TEMPLATES), 1, 100)
        value_ids = draw_ids(rng, 20 * self.scale, 100, 10_000)
        for seq_no, spec in enumerate(DIMENSION_TEMPLATES, start=1):
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

    def combinations(self, account: Account, rng: random.Random) -> list[tuple[str, ...]]:
        """One or two value combinations (one name per dimension, ``""`` unused)."""
        options = [
            self.leaf_values(d, account.products if d.name == "Product" else "")
            if d.name in account.dimensions
            else [""]
            for d in self.dimensions
        ]
        return sorted({tuple(rng.choice(names) for names in options) for _ in range(2)})


@functools.lru_cache(maxsize=8)
def tenant_for(seed: int, scale: int) -> Tenant:
    """The (cached, shared: do not mutate) structure of a tenant."""
    return Tenant(seed, scale)
