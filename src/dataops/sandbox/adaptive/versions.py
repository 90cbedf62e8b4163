"""The versions of an Adaptive Planning tenant and the amounts they hold.

Versions (document order): ``Actuals`` holds 01/2023..12/2025; ``FY23 Plan``, ``FY24
Plan`` (both locked), ``FY25 Plan`` (the default), ``FY26 Budget`` and ``FY27 Outlook``
hold their year; ``Forecast E<e>``, added at epoch ``e`` at the end of the ``Forecasts``
folder, holds 07/2025..06/2026.

Values live on leaf lines: (leaf account, leaf level, one leaf value per dimension the
account is split by). A line has a run rate, a growth and seasonality; some start late
(blank before) or are dormant (all zeros); about 3% of cells are an explicit zero.
Amounts are integer cents (headcount: whole units), negative on ``Eliminations``. Each
epoch redraws some cells of the unlocked versions older than it and, from epoch 2 on,
blanks cells and clears lines (docs/vendors/adaptive.md). Locked versions never change.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator
from dataclasses import dataclass

from dataops.sandbox.adaptive.spec import (
    ACTUALS,
    FOLDER,
    MONTHS,
    PLANNING,
    Version,
    ancestry,
    preorder,
)
from dataops.sandbox.adaptive.tenant import FAMILY_FACTS, Tenant, draw_ids, tenant_for
from dataops.sandbox.vendor import DataParams


@dataclass(frozen=True)
class VersionTemplate:
    """A template version: a folder when ``months`` is None."""

    name: str
    short_name: str
    type: str
    months: tuple[int, int] | None = None
    locked: bool = False
    default: bool = False
    children: tuple[VersionTemplate, ...] = ()


VERSION_TEMPLATES = (
    VersionTemplate("Actuals", "ACT", ACTUALS, (0, 35)),
    VersionTemplate(
        "Plans",
        "",
        FOLDER,
        children=(
            VersionTemplate(
                "Archive",
                "",
                FOLDER,
                children=(
                    VersionTemplate("FY23 Plan", "", PLANNING, (0, 11), locked=True),
                    VersionTemplate("FY24 Plan", "P24", PLANNING, (12, 23), locked=True),
                ),
            ),
            VersionTemplate("FY25 Plan", "P25", PLANNING, (24, 35), default=True),
            VersionTemplate("FY26 Budget", "B26", PLANNING, (36, 47)),
            VersionTemplate("Scenarios", "", FOLDER),
        ),
    ),
    VersionTemplate(
        "Forecasts",
        "FC",
        FOLDER,
        children=(VersionTemplate("FY27 Outlook", "", PLANNING, (48, 59)),),
    ),
)
"""The last top-level entry is the folder that epoch versions are appended to."""
FORECAST_MONTHS = (30, 41)
"""``Forecast E<e>`` holds 07/2025..06/2026."""
EPOCH_VERSION_ID_BASE = 1000
"""``Forecast E<e>`` has id ``EPOCH_VERSION_ID_BASE + e``; template ids are lower."""


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
# family: {leaf level role: chance that a leaf account has a line there}
DENSITY: dict[str, dict[str, float]] = {
    "revenue": {"sales": 0.4, "elimination": 0.5},
    "cogs": {"sales": 0.1, "shared": 0.5},
    "opex": {"sales": 0.1, "shared": 0.3},
    "headcount": {"sales": 0.4, "shared": 0.5},
}


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


@functools.lru_cache(maxsize=8)
def leaf_lines(tenant: Tenant) -> list[tuple[LineKey, LineProfile]]:
    """Every leaf line, with how its amounts are drawn, in account then level order."""
    lines = []
    leaf_levels = [level for level in tenant.levels if level.role not in {"root", "region"}]
    for account in tenant.accounts:
        if account.is_group:
            continue
        low, high = FAMILY_FACTS[account.family][3]
        for level in leaf_levels:
            rng = random.Random(f"{tenant.seed}:adaptive:lines:{account.code}:{level.name}")
            if rng.random() >= DENSITY[account.family].get(level.role, 0.0):
                continue
            for values in tenant.combinations(account, rng):
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


def _leaf_cells(tenant: Tenant, version: Version, epoch: int) -> Iterator[tuple[LineKey, Cells]]:
    """Every leaf line's amounts in ``version`` as of ``epoch``."""
    assert version.months is not None
    first, last = version.months
    actuals = version.type == ACTUALS
    changed = ACTUALS_CHANGES if actuals else version.months
    rate = ACTUALS_CHANGE_RATE if actuals else PLAN_CHANGE_RATE
    epochs = [] if version.is_locked else range(version.since_epoch + 1, epoch + 1)
    for key, profile in leaf_lines(tenant):
        rng = random.Random(f"{tenant.seed}:adaptive:amounts:{version.name}:{profile.key}")
        bias_bp, noise_bp = (0, 800) if actuals else (rng.randint(200, 1200), 300)
        cells: Cells = [None] * MONTHS
        for month in range(max(first, profile.first_month), last + 1):
            cells[month] = profile.amount(month, rng, bias_bp, noise_bp)
        for e in epochs:
            redraw = random.Random(f"{tenant.seed}:adaptive:epoch:{e}:{version.name}:{profile.key}")
            months = range(max(changed[0], first), min(changed[1], last) + 1)
            for month in months:
                if cells[month] is not None and redraw.random() < rate:
                    cells[month] = profile.amount(month, redraw, bias_bp, 2 * noise_bp)
            if e >= DELETES_FROM_EPOCH:
                _delete(
                    cells,
                    months,
                    random.Random(
                        f"{tenant.seed}:adaptive:deletes:{e}:{version.name}:{profile.key}"
                    ),
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
    tenant = tenant_for(params.seed, params.scale)
    version = find_version(params.seed, params.epoch, version_name)
    if version is None:
        raise KeyError(version_name)
    accounts = ancestry([(a.id, a.parent_id) for a in tenant.accounts])
    levels = ancestry([(level.id, level.parent_id) for level in tenant.levels])
    result: dict[LineKey, Cells] = {}
    for (account, level, values), cells in _leaf_cells(tenant, version, params.epoch):
        filled = [(month, cents) for month, cents in enumerate(cells) if cents is not None]
        for account_id in accounts[account]:
            for level_id in levels[level]:
                into = result.setdefault((account_id, level_id, values), [None] * MONTHS)
                for month, cents in filled:
                    before = into[month]
                    into[month] = cents if before is None else before + cents
    return result


@functools.lru_cache(maxsize=32)
def versions(seed: int, epoch: int) -> tuple[Version, ...]:
    """Every version in document order: the template, then ``Forecast E1..E<epoch>``."""
    rng = random.Random(f"{seed}:adaptive:versions")
    template = list(preorder(VERSION_TEMPLATES, lambda v: v.children))
    ids = draw_ids(rng, len(template), 1, EPOCH_VERSION_ID_BASE)
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
    last_folder = next(v.id for v in result if v.name == VERSION_TEMPLATES[-1].name)
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
