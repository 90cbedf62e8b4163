"""What the Adaptive Planning exports hold: ``exportData``'s CSV for any request, and
the ground truth — the records a correct tap makes of every export.

Ground truth (``generate``): streams ``versions``, ``accounts``, ``levels``,
``dimensions``, ``dimension_values``, ``users``, ``time_periods``, ``attributes``,
``currencies`` (in document order, ``""`` → None where the contract says so) and
``plan_data``: one record per cell holding a non-zero number (a blank or zero cell is
no row: docs/reliability.md) of the tap's default exportData request
(:data:`DEFAULT_SPAN`, every top-level account and ``Master Corporate`` with
descendants, both rollups, no zero rows) for every version but folders.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Callable, Iterator, Sequence

from dataops.sandbox.adaptive.spec import (
    DEFAULT_SPAN,
    FIXED_COLUMNS,
    FOLDER,
    INVALID_TIMESPAN,
    MAX_SPAN_MONTHS,
    MONTHS,
    ROOT_LEVEL,
    AdaptiveError,
    Node,
    ancestry,
    invalid_version,
    month_code,
    month_index,
)
from dataops.sandbox.adaptive.tenant import tenant_for
from dataops.sandbox.adaptive.versions import find_version, totals, versions
from dataops.sandbox.vendor import DataParams, Dataset, Record

MONTH_COLUMN = re.compile(r"(\d{2})/(\d{4})")
"""A month's column in exportData's CSV (``MM/YYYY``)."""

Selection = Sequence[str | tuple[str, bool]]
"""Account codes or level names, each alone (with descendants) or as ``(name, descendants)``."""


def format_cents(cents: int) -> str:
    """Decimal text of an amount in cents: ``123450`` → ``1234.5``, ``-2000`` → ``-20``."""
    whole, part = divmod(abs(cents), 100)
    text = str(whole) if part == 0 else f"{whole}.{part:02d}".rstrip("0")
    return "-" + text if cents < 0 else text


def time_span(start: str, end: str) -> tuple[int, int]:
    """Month indexes of a ``MM/YYYY`` span; AdaptiveError if it is not a valid one."""
    indexes = []
    for text in (start, end):
        match = MONTH_COLUMN.fullmatch(text)
        if match is None or not 1 <= int(match[1]) <= 12:
            raise AdaptiveError(INVALID_TIMESPAN, f"Invalid time span: {start!r} to {end!r}")
        indexes.append(month_index(int(match[2]), int(match[1])))
    first, last = indexes
    if not 0 <= last - first < MAX_SPAN_MONTHS:
        raise AdaptiveError(INVALID_TIMESPAN, f"Invalid time span: {start!r} to {end!r}")
    return first, last


def _selected(
    nodes: Sequence[Node], name: Callable[[Node], str], selection: Selection | None
) -> set[int]:
    """Ids of the nodes a filter selects (``None``: every node)."""
    if selection is None:
        return {node.id for node in nodes}
    entries = [(e, True) if isinstance(e, str) else e for e in selection]
    by_name = {name(node): node.id for node in nodes}
    exact = {by_name[n] for n, _ in entries if n in by_name}
    deep = {by_name[n] for n, descendants in entries if descendants and n in by_name}
    chains = ancestry([(node.id, node.parent_id) for node in nodes])
    return exact | {node_id for node_id, chain in chains.items() if not deep.isdisjoint(chain)}


def export_data_csv(
    params: DataParams,
    version_name: str,
    accounts: Selection | None = None,
    levels: Selection | None = None,
    start: str = DEFAULT_SPAN[0],
    end: str = DEFAULT_SPAN[1],
    include_rollup_accounts: bool = True,
    include_rollup_levels: bool = True,
    include_zero_rows: bool = False,
) -> str:
    """The CSV that ``exportData`` answers (inside CDATA); AdaptiveError as the API's.

    Header ``Account Name,Account Code,Level Name,<dimension names>,<MM/YYYY per month>``;
    one line per (account, level, dimension values) in account then level document order,
    then by values. Leaf accounts and levels always have lines, group accounts only with
    ``include_rollup_accounts`` and non-leaf levels only with ``include_rollup_levels``
    (both: sums of their descendants' leaf lines with the same dimension values). Without
    ``include_zero_rows`` a line whose cells are all blank or zero is dropped; with it,
    every selected (account, level) pair has at least its dimension-less line.
    """
    version = find_version(params.seed, params.epoch, version_name)
    if version is None:
        raise invalid_version(version_name)
    first, last = time_span(start, end)
    tenant = tenant_for(params.seed, params.scale)
    lines = totals(params, version.name)
    chosen_accounts = _selected(tenant.accounts, lambda a: a.code, accounts)
    chosen_levels = _selected(tenant.levels, lambda level: level.name, levels)
    parent_levels = {level.parent_id for level in tenant.levels}
    account_rank = {
        a.id: rank
        for rank, a in enumerate(tenant.accounts)
        if a.id in chosen_accounts and (include_rollup_accounts or not a.is_group)
    }
    level_rank = {
        level.id: rank
        for rank, level in enumerate(tenant.levels)
        if level.id in chosen_levels and (include_rollup_levels or level.id not in parent_levels)
    }
    keys = {key for key in lines if key[0] in account_rank and key[1] in level_rank}
    if include_zero_rows:
        nothing = ("",) * len(tenant.dimensions)
        keys.update((a, level, nothing) for a in account_rank for level in level_rank)
    blank = [None] * (last - first + 1)
    accounts_by_id = {a.id: a for a in tenant.accounts}
    levels_by_id = {level.id: level for level in tenant.levels}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            *FIXED_COLUMNS,
            *(d.name for d in tenant.dimensions),
            *(month_code(m) for m in range(first, last + 1)),
        ]
    )
    for key in sorted(keys, key=lambda k: (account_rank[k[0]], level_rank[k[1]], k[2])):
        cells = lines.get(key)
        window = blank if cells is None else [_cell(cells, m) for m in range(first, last + 1)]
        if not include_zero_rows and not any(window):
            continue
        account, level = accounts_by_id[key[0]], levels_by_id[key[1]]
        writer.writerow(
            [
                account.name,
                account.code,
                level.name,
                *key[2],
                *("" if cents is None else format_cents(cents) for cents in window),
            ]
        )
    return out.getvalue()


def _cell(cells: list[int | None], month: int) -> int | None:
    return cells[month] if 0 <= month < MONTHS else None


def plan_records(version_name: str, text: str) -> Iterator[Record]:
    """The ``plan_data`` records of one exportData CSV: one per non-zero cell.

    A blank or zero cell is no row: ``includeZeroRows="false"`` drops a line whose
    cells are all blank or zero *in the requested span*, so a zero could only be a row
    for some spans, and what the warehouse holds would depend on how the tap splits
    its requests."""
    rows = csv.reader(io.StringIO(text))
    header = next(rows)
    months = [i for i, name in enumerate(header) if MONTH_COLUMN.fullmatch(name)]
    first_month = months[0] if months else len(header)
    dimensions = header[len(FIXED_COLUMNS) : first_month]
    periods = {i: f"{header[i][3:]}-{header[i][:2]}" for i in months}
    for row in rows:
        _, account_code, level_name = row[: len(FIXED_COLUMNS)]
        values = row[len(FIXED_COLUMNS) : first_month]
        named = {d: v for d, v in zip(dimensions, values, strict=True) if v}
        key = "|".join(f"{d}={v}" for d, v in named.items())
        for i in months:
            if row[i] and float(row[i]) != 0:
                yield {
                    "version": version_name,
                    "account_code": account_code,
                    "level_name": level_name,
                    "dimensions": dict(named),
                    "dimension_key": key,
                    "period": periods[i],
                    "value": float(row[i]),
                }


def default_export(params: DataParams, version_name: str) -> str:
    """The CSV of the tap's default exportData request for one version."""
    tenant = tenant_for(params.seed, params.scale)
    return export_data_csv(
        params,
        version_name,
        accounts=[(a.code, True) for a in tenant.accounts if a.parent_id is None],
        levels=[(ROOT_LEVEL, True)],
        start=DEFAULT_SPAN[0],
        end=DEFAULT_SPAN[1],
        include_rollup_accounts=True,
        include_rollup_levels=True,
        include_zero_rows=False,
    )


@functools.lru_cache(maxsize=8)
def generate(params: DataParams) -> Dataset:
    """Every stream's records as a correct tap emits them (cached: do not mutate)."""
    tenant = tenant_for(params.seed, params.scale)
    all_versions = versions(params.seed, params.epoch)
    return {
        "versions": [
            {
                "id": v.id,
                "name": v.name,
                "short_name": v.short_name or None,
                "type": v.type,
                "is_default_version": v.is_default,
                "is_locked": v.is_locked,
                "parent_id": v.parent_id,
            }
            for v in all_versions
        ],
        "accounts": [
            {
                "id": a.id,
                "code": a.code,
                "name": a.name,
                "time_stratum": a.time_stratum,
                "display_as": a.display_as,
                "account_type_code": a.account_type_code,
                "balance_type": a.balance_type,
                "data_privacy": a.data_privacy,
                "sub_type": a.sub_type or None,
                "is_group": a.is_group,
                "parent_id": a.parent_id,
            }
            for a in tenant.accounts
        ],
        "levels": [
            {
                "id": level.id,
                "name": level.name,
                "currency": level.currency,
                "short_name": level.short_name or None,
                "is_elimination": level.is_elimination,
                "is_linked": level.is_linked,
                "workflow_status": level.workflow_status,
                "is_importable": level.is_importable,
                "parent_id": level.parent_id,
                "attributes": [
                    {
                        "attribute_id": a.attribute_id,
                        "name": a.name,
                        "value_id": a.value_id,
                        "value": a.value,
                    }
                    for a in level.attributes
                ],
            }
            for level in tenant.levels
        ],
        "dimensions": [
            {
                "id": d.id,
                "name": d.name,
                "short_name": d.short_name,
                "auto_create": d.auto_create,
                "list_dimension": d.list_dimension,
                "keep_sorted": d.keep_sorted,
                "use_on_levels": d.use_on_levels,
                "seq_no": d.seq_no,
            }
            for d in tenant.dimensions
        ],
        "dimension_values": [
            {
                "dimension_id": v.dimension_id,
                "id": v.id,
                "name": v.name,
                "description": v.description or None,
                "short_name": v.short_name or None,
                "parent_id": v.parent_id,
            }
            for v in tenant.dimension_values
        ],
        "users": [
            {
                "id": u.id,
                "login": u.login,
                "email": u.email,
                "full_name": u.full_name,
                "time_zone": u.time_zone,
            }
            for u in tenant.users
        ],
        "time_periods": [
            {
                "code": p.code,
                "label": p.label,
                "short_name": p.short_name,
                "stratum": p.stratum,
                "start": p.start.isoformat(),
                "end": p.end.isoformat(),
                "parent_code": p.parent_code or None,
            }
            for p in tenant.periods
        ],
        "attributes": [
            {"id": a.id, "name": a.name, "type": a.type, "auto_create": a.auto_create}
            for a in tenant.attributes
        ],
        "currencies": [
            {
                "code": c.code,
                "precision": c.precision,
                "is_reporting_currency": c.is_reporting_currency,
                "user_defined": c.user_defined,
                "description": c.description,
            }
            for c in tenant.currencies
        ],
        "plan_data": [
            record
            for v in all_versions
            if v.type != FOLDER
            for record in plan_records(v.name, default_export(params, v.name))
        ],
    }
