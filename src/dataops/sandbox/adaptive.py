"""Adaptive Planning (Workday Adaptive Insights) XML API simulator (see specs/adaptive.md).

Transport: every call is ``POST {origin}/api/v<N>`` (``N`` in 18..40; the tap defaults to
38) of one XML document ``<call method="…" callerName="…"><credentials login="…"
password="…" instanceCode="…"/>…</call>``; the sandbox URL is ``{origin}/api``. Every
answer is HTTP 200 ``text/xml; charset=UTF-8``, ``<?xml version='1.0'
encoding='UTF-8'?>`` then ``<response success="true"><output>…</output></response>`` or
``<response success="false"><messages><message key="KEY">TEXT</message></messages>
</response>``. Errors, checked in this order:

- not POST: HTTP 405; a path other than ``/api/<one segment>``: HTTP 404 (plain text);
- segment not ``v<number>`` with the number in 18..40: ``error-unsupported-api-version``,
  ``API version <segment> is not supported``;
- body not XML, holding a DOCTYPE (so an ENTITY declaration too: nothing is ever
  expanded), or its root not ``<call>``, or a flag not ``true``/``false``:
  ``error-malformed-request``, ``The request could not be parsed``;
- credentials other than ``CREDENTIALS`` (``instanceCode`` may be left out; when given,
  even empty, it must be ``SANDBOX1``): ``error-authentication-failure``,
  ``Invalid credentials``;
- unknown method: ``error-unknown-method``, ``Unknown method: NAME``;
- a version that does not exist or is a folder (exportData's ``<version name>``,
  ``<include versionName>`` of exportAccounts/exportDimensions, ``<include versionID>``
  of exportLevels): ``error-invalid-version``, ``Version 'NAME' does not exist``;
- exportData without a valid ``<filters><timeSpan start="MM/YYYY" end="MM/YYYY"/>``
  (start after end, or more than 100 years): ``error-invalid-timespan``.

Methods (data: :mod:`dataops.sandbox.adaptive_data`; booleans are ``true``/``false``):
``exportVersions`` → ``<versions>`` of nested ``<version id name shortName type
isDefaultVersion isLocked>``; ``exportAccounts`` → ``<accounts>`` of nested ``<account id
code name timeStratum displayAs accountTypeCode balanceType dataPrivacy subType
isGroup>``; ``exportLevels`` → ``<levels>`` of nested ``<level id name currency shortName
isElimination isLinked workflowStatus isImportable>``, each first holding ``<attributes>``
of ``<attribute attributeId name valueId value/>`` if it has any; ``exportDimensions`` →
``<dimensions>`` of ``<dimension id name shortName autoCreate listDimension keepSorted
useOnLevels seqNo>`` holding nested ``<dimensionValue id name description shortName>``;
``exportUsers`` → ``<users>`` of ``<user id login email fullName timeZone/>``;
``exportTime`` → ``<periods>`` of ``<period code label shortName stratum start end
parentCode/>``; ``exportAttributes`` → ``<attributes>`` of ``<attribute id name type
autoCreate/>``; ``exportActiveCurrencies`` → ``<currencies>`` of ``<currency code precision
isReportingCurrency userDefined description/>``.

``exportData`` (``<version name isDefault>``: no name and ``isDefault="true"`` = the
default version) answers ``<output><![CDATA[CSV]]></output>``: see
:func:`export_data_csv`. In ``<filters>``, ``<accounts>`` lists ``<account code
includeDescendants>`` and ``<levels>`` lists ``<level name includeDescendants>``
(``includeDescendants`` defaults to true; an absent list selects everything, unknown
codes and names select nothing; ``isAssumption`` and ``isRollup`` are read and
ignored: only leaves hold values, so a non-leaf account or level only ever has rollup
lines). ``<rules>`` flags left out take :func:`export_data_csv`'s defaults
(``markInvalidValues``, ``markBlanks``, ``timeRollups`` and ``<format>`` are ignored).

Ground truth (``generate``): streams ``versions``, ``accounts``, ``levels``,
``dimensions``, ``dimension_values``, ``users``, ``time_periods``, ``attributes``,
``currencies`` (records as a correct tap emits them, in document order, ``""`` → None
where the contract says so) and ``plan_data``: one record per cell holding a non-zero
number (a blank or zero cell is no row: docs/reliability.md) of the tap's default
exportData request (:data:`DEFAULT_SPAN`, every top-level account and
``Master Corporate`` with descendants, both rollups, no zero rows) for every version
but folders, built by :func:`export_data_csv` and :func:`plan_records` themselves.
"""

from __future__ import annotations

import csv
import functools
import hmac
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar
from xml.parsers import expat

from dataops.sandbox.adaptive_data import (
    FOLDER,
    MONTHS,
    ROOT_LEVEL,
    Account,
    Level,
    ancestry,
    find_version,
    month_code,
    month_index,
    tenant,
    totals,
    versions,
)
from dataops.sandbox.vendor import DataParams, Dataset, Record, Request, Response, Vendor

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

_DECLARATION = b"<?xml version='1.0' encoding='UTF-8'?>\n"
_PATH = re.compile(re.escape(BASE_PATH) + r"/([^/]+)")
_API_VERSION = re.compile(r"v(\d{1,4})")
_MONTH = re.compile(r"(\d{2})/(\d{4})")

Selection = Sequence[str | tuple[str, bool]]
"""Account codes or level names, each alone (with descendants) or as ``(name, descendants)``."""


class AdaptiveError(ValueError):
    """An API error: answered as ``success="false"`` with this message key and text."""

    def __init__(self, key: str, text: str) -> None:
        super().__init__(f"{key}: {text}")
        self.key, self.text = key, text


def _invalid_version(name: str) -> AdaptiveError:
    return AdaptiveError(INVALID_VERSION, f"Version '{name}' does not exist")


def _malformed() -> AdaptiveError:
    return AdaptiveError(MALFORMED_REQUEST, "The request could not be parsed")


# ------------------------------------------------------------------------------ exportData


def format_cents(cents: int) -> str:
    """Decimal text of an amount in cents: ``123450`` → ``1234.5``, ``-2000`` → ``-20``."""
    whole, part = divmod(abs(cents), 100)
    text = str(whole) if part == 0 else f"{whole}.{part:02d}".rstrip("0")
    return "-" + text if cents < 0 else text


def time_span(start: str, end: str) -> tuple[int, int]:
    """Month indexes of a ``MM/YYYY`` span; AdaptiveError if it is not a valid one."""
    indexes = []
    for text in (start, end):
        match = _MONTH.fullmatch(text)
        if match is None or not 1 <= int(match[1]) <= 12:
            raise AdaptiveError(INVALID_TIMESPAN, f"Invalid time span: {start!r} to {end!r}")
        indexes.append(month_index(int(match[2]), int(match[1])))
    first, last = indexes
    if not 0 <= last - first < MAX_SPAN_MONTHS:
        raise AdaptiveError(INVALID_TIMESPAN, f"Invalid time span: {start!r} to {end!r}")
    return first, last


class _Node(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def parent_id(self) -> int | None: ...


N = TypeVar("N", bound=_Node)


def _selected(
    nodes: Sequence[N], name: Callable[[N], str], selection: Selection | None
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
        raise _invalid_version(version_name)
    first, last = time_span(start, end)
    t = tenant(params.seed, params.scale)
    lines = totals(params, version.name)
    chosen_accounts = _selected(t.accounts, lambda a: a.code, accounts)
    chosen_levels = _selected(t.levels, lambda level: level.name, levels)
    parent_levels = {level.parent_id for level in t.levels}
    account_rank = {
        a.id: rank
        for rank, a in enumerate(t.accounts)
        if a.id in chosen_accounts and (include_rollup_accounts or not a.is_group)
    }
    level_rank = {
        level.id: rank
        for rank, level in enumerate(t.levels)
        if level.id in chosen_levels and (include_rollup_levels or level.id not in parent_levels)
    }
    keys = {key for key in lines if key[0] in account_rank and key[1] in level_rank}
    if include_zero_rows:
        nothing = ("",) * len(t.dimensions)
        keys.update((a, level, nothing) for a in account_rank for level in level_rank)
    blank = [None] * (last - first + 1)
    accounts_by_id = {a.id: a for a in t.accounts}
    levels_by_id = {level.id: level for level in t.levels}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            *FIXED_COLUMNS,
            *(d.name for d in t.dimensions),
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
    months = [i for i, name in enumerate(header) if _MONTH.fullmatch(name)]
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
    t = tenant(params.seed, params.scale)
    return export_data_csv(
        params,
        version_name,
        accounts=[(a.code, True) for a in t.accounts if a.parent_id is None],
        levels=[(ROOT_LEVEL, True)],
        start=DEFAULT_SPAN[0],
        end=DEFAULT_SPAN[1],
        include_rollup_accounts=True,
        include_rollup_levels=True,
        include_zero_rows=False,
    )


# ------------------------------------------------------------------------- ground truth


def _records(params: DataParams) -> Dataset:
    t = tenant(params.seed, params.scale)
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
            for a in t.accounts
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
            for level in t.levels
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
            for d in t.dimensions
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
            for v in t.dimension_values
        ],
        "users": [
            {
                "id": u.id,
                "login": u.login,
                "email": u.email,
                "full_name": u.full_name,
                "time_zone": u.time_zone,
            }
            for u in t.users
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
            for p in t.periods
        ],
        "attributes": [
            {"id": a.id, "name": a.name, "type": a.type, "auto_create": a.auto_create}
            for a in t.attributes
        ],
        "currencies": [
            {
                "code": c.code,
                "precision": c.precision,
                "is_reporting_currency": c.is_reporting_currency,
                "user_defined": c.user_defined,
                "description": c.description,
            }
            for c in t.currencies
        ],
        "plan_data": [
            record
            for v in all_versions
            if v.type != FOLDER
            for record in plan_records(v.name, default_export(params, v.name))
        ],
    }


@functools.lru_cache(maxsize=8)
def generate(params: DataParams) -> Dataset:
    """Every stream's records as a correct tap emits them (cached: do not mutate)."""
    return _records(params)


# ------------------------------------------------------------------------------- XML out


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _tree(
    container: ET.Element, nodes: Sequence[N], tag: str, attributes: Callable[[N], dict[str, str]]
) -> dict[int, ET.Element]:
    """Nest pre-ordered nodes under their parents' elements; the elements by node id."""
    elements: dict[int, ET.Element] = {}
    for node in nodes:
        parent = container if node.parent_id is None else elements[node.parent_id]
        elements[node.id] = ET.SubElement(parent, tag, attributes(node))
    return elements


def _output(name: str) -> tuple[ET.Element, ET.Element]:
    output = ET.Element("output")
    return output, ET.SubElement(output, name)


def _account(a: Account) -> dict[str, str]:
    return {
        "id": str(a.id),
        "code": a.code,
        "name": a.name,
        "timeStratum": a.time_stratum,
        "displayAs": a.display_as,
        "accountTypeCode": a.account_type_code,
        "balanceType": a.balance_type,
        "dataPrivacy": a.data_privacy,
        "subType": a.sub_type,
        "isGroup": _flag(a.is_group),
    }


def _level(level: Level) -> dict[str, str]:
    return {
        "id": str(level.id),
        "name": level.name,
        "currency": level.currency,
        "shortName": level.short_name,
        "isElimination": _flag(level.is_elimination),
        "isLinked": _flag(level.is_linked),
        "workflowStatus": level.workflow_status,
        "isImportable": _flag(level.is_importable),
    }


def _outputs(params: DataParams) -> dict[str, ET.Element]:
    """The ``<output>`` of every method but exportData."""
    t = tenant(params.seed, params.scale)
    result: dict[str, ET.Element] = {}

    output, container = _output("versions")
    _tree(
        container,
        versions(params.seed, params.epoch),
        "version",
        lambda v: {
            "id": str(v.id),
            "name": v.name,
            "shortName": v.short_name,
            "type": v.type,
            "isDefaultVersion": _flag(v.is_default),
            "isLocked": _flag(v.is_locked),
        },
    )
    result["exportVersions"] = output

    output, container = _output("accounts")
    _tree(container, t.accounts, "account", _account)
    result["exportAccounts"] = output

    output, container = _output("levels")
    elements = _tree(container, t.levels, "level", _level)
    for level in t.levels:
        if level.attributes:
            attributes = ET.Element("attributes")
            for value in level.attributes:
                ET.SubElement(
                    attributes,
                    "attribute",
                    {
                        "attributeId": str(value.attribute_id),
                        "name": value.name,
                        "valueId": str(value.value_id),
                        "value": value.value,
                    },
                )
            elements[level.id].insert(0, attributes)
    result["exportLevels"] = output

    output, container = _output("dimensions")
    for d in t.dimensions:
        dimension = ET.SubElement(
            container,
            "dimension",
            {
                "id": str(d.id),
                "name": d.name,
                "shortName": d.short_name,
                "autoCreate": _flag(d.auto_create),
                "listDimension": _flag(d.list_dimension),
                "keepSorted": _flag(d.keep_sorted),
                "useOnLevels": _flag(d.use_on_levels),
                "seqNo": str(d.seq_no),
            },
        )
        _tree(
            dimension,
            [v for v in t.dimension_values if v.dimension_id == d.id],
            "dimensionValue",
            lambda v: {
                "id": str(v.id),
                "name": v.name,
                "description": v.description,
                "shortName": v.short_name,
            },
        )
    result["exportDimensions"] = output

    output, container = _output("users")
    for u in t.users:
        ET.SubElement(
            container,
            "user",
            {
                "id": str(u.id),
                "login": u.login,
                "email": u.email,
                "fullName": u.full_name,
                "timeZone": u.time_zone,
            },
        )
    result["exportUsers"] = output

    output, container = _output("periods")
    for p in t.periods:
        ET.SubElement(
            container,
            "period",
            {
                "code": p.code,
                "label": p.label,
                "shortName": p.short_name,
                "stratum": p.stratum,
                "start": p.start.isoformat(),
                "end": p.end.isoformat(),
                "parentCode": p.parent_code,
            },
        )
    result["exportTime"] = output

    output, container = _output("attributes")
    for a in t.attributes:
        attrs = {
            "id": str(a.id),
            "name": a.name,
            "type": a.type,
            "autoCreate": _flag(a.auto_create),
        }
        ET.SubElement(container, "attribute", attrs)
    result["exportAttributes"] = output

    output, container = _output("currencies")
    for c in t.currencies:
        ET.SubElement(
            container,
            "currency",
            {
                "code": c.code,
                "precision": str(c.precision),
                "isReportingCurrency": _flag(c.is_reporting_currency),
                "userDefined": _flag(c.user_defined),
                "description": c.description,
            },
        )
    result["exportActiveCurrencies"] = output
    return result


def _xml(root: ET.Element) -> Response:
    body = _DECLARATION + ET.tostring(root, encoding="unicode").encode()
    return Response(200, body, {"Content-Type": CONTENT_TYPE})


def _success(output: ET.Element) -> Response:
    response = ET.Element("response", {"success": "true"})
    response.append(output)
    return _xml(response)


def _failure(error: AdaptiveError) -> Response:
    response = ET.Element("response", {"success": "false"})
    messages = ET.SubElement(response, "messages")
    ET.SubElement(messages, "message", {"key": error.key}).text = error.text
    return _xml(response)


def _csv_success(text: str) -> Response:
    """``<output>`` holding the CSV as CDATA (a ``]]>`` in it is split across sections)."""
    cdata = text.replace("]]>", "]]]]><![CDATA[>").encode()
    body = b"".join(
        [
            _DECLARATION,
            b'<response success="true"><output><![CDATA[',
            cdata,
            b"]]></output></response>",
        ]
    )
    return Response(200, body, {"Content-Type": CONTENT_TYPE})


# -------------------------------------------------------------------------------- XML in


class _Refused(Exception):
    pass


def _refuse(*args: Any) -> None:
    raise _Refused


def parse_call(body: bytes) -> ET.Element:
    """The ``<call>`` element of a request; DTDs are refused, so no entity is declared,
    fetched or expanded. AdaptiveError (malformed request) on anything else."""
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(body, True)
        root = builder.close()
    except (expat.ExpatError, _Refused):
        raise _malformed() from None
    if root.tag != "call":
        raise _malformed()
    return root


def _bool(element: ET.Element | None, name: str, default: bool) -> bool:
    value = None if element is None else element.get(name)
    if value is None:
        return default
    if value.lower() not in {"true", "false"}:
        raise _malformed()
    return value.lower() == "true"


def _entries(container: ET.Element | None, tag: str, name: str) -> Selection | None:
    """A filter list (``None`` when absent): ``(name, includeDescendants)`` per entry."""
    if container is None:
        return None
    entries = []
    for entry in container.findall(tag):
        value = entry.get(name)
        if value is None:
            raise _malformed()
        entries.append((value, _bool(entry, "includeDescendants", True)))
    return entries


class AdaptiveApp:
    """The XML API over one (seed, scale, epoch) tenant."""

    base_path = BASE_PATH

    def __init__(self, params: DataParams) -> None:
        self.params = params
        self.credentials = dict(CREDENTIALS)
        self._outputs = {
            method: _success(output).body for method, output in _outputs(params).items()
        }

    def handle(self, request: Request) -> Response:
        if request.method != "POST":
            return _plain(405, "Method Not Allowed", {"Allow": "POST"})
        path = _PATH.fullmatch(request.path)
        if path is None:
            return _plain(404, f"No such resource: {request.path}")
        try:
            api_version = _API_VERSION.fullmatch(path[1])
            if api_version is None or int(api_version[1]) not in API_VERSIONS:
                raise AdaptiveError(
                    UNSUPPORTED_API_VERSION, f"API version {path[1]} is not supported"
                )
            call = parse_call(request.body)
            self._authenticate(call.find("credentials"))
            method = call.get("method", "")
            if method == "exportData":
                return _csv_success(self._export_data(call))
            if method not in self._outputs:
                raise AdaptiveError(UNKNOWN_METHOD, f"Unknown method: {method}")
            self._check_include(method, call.find("include"))
            return Response(200, self._outputs[method], {"Content-Type": CONTENT_TYPE})
        except AdaptiveError as error:
            return _failure(error)

    def _authenticate(self, credentials: ET.Element | None) -> None:
        given = {} if credentials is None else credentials.attrib
        expected = {
            "login": CREDENTIALS["username"],
            "password": CREDENTIALS["password"],
            "instanceCode": CREDENTIALS["instance_code"],
        }
        checks = [
            hmac.compare_digest(given.get(name, "").encode(), value.encode())
            for name, value in expected.items()
            if name != "instanceCode" or name in given
        ]
        if not all(checks):
            raise AdaptiveError(AUTHENTICATION_FAILURE, "Invalid credentials")

    def _check_include(self, method: str, include: ET.Element | None) -> None:
        """exportAccounts/exportDimensions ``versionName`` or exportLevels ``versionID``."""
        if include is None:
            return
        seed, epoch = self.params.seed, self.params.epoch
        if method in {"exportAccounts", "exportDimensions"} and "versionName" in include.attrib:
            name = include.attrib["versionName"]
            if find_version(seed, epoch, name) is None:
                raise _invalid_version(name)
        if method == "exportLevels" and "versionID" in include.attrib:
            given = include.attrib["versionID"]
            ids = {str(v.id) for v in versions(seed, epoch) if v.type != FOLDER}
            if given not in ids:
                raise _invalid_version(given)

    def _export_data(self, call: ET.Element) -> str:
        seed, epoch = self.params.seed, self.params.epoch
        version = call.find("version")
        name = "" if version is None else version.get("name", "")
        if not name and _bool(version, "isDefault", False):
            name = next(v.name for v in versions(seed, epoch) if v.is_default)
        if find_version(seed, epoch, name) is None:
            raise _invalid_version(name)
        filters = call.find("filters")
        if filters is None:
            filters = ET.Element("filters")
        span = filters.find("timeSpan")
        if span is None or "start" not in span.attrib or "end" not in span.attrib:
            raise AdaptiveError(INVALID_TIMESPAN, "A timeSpan with start and end is required")
        rules = call.find("rules")
        return export_data_csv(
            self.params,
            name,
            accounts=_entries(filters.find("accounts"), "account", "code"),
            levels=_entries(filters.find("levels"), "level", "name"),
            start=span.attrib["start"],
            end=span.attrib["end"],
            include_rollup_accounts=_bool(rules, "includeRollupAccounts", True),
            include_rollup_levels=_bool(rules, "includeRollupLevels", True),
            include_zero_rows=_bool(rules, "includeZeroRows", False),
        )


def _plain(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status,
        f"{text}\n".encode(),
        {"Content-Type": "text/plain; charset=utf-8", **(headers or {})},
    )


def _make_app(params: DataParams, page_size: int | None) -> AdaptiveApp:
    """``page_size`` does not apply: the API does not page."""
    return AdaptiveApp(params)


VENDOR = Vendor(
    name="adaptive",
    summary="Adaptive Planning XML API (credentials in every call, CSV in CDATA for data)",
    key_properties=KEY_PROPERTIES,
    generate=generate,
    make_app=_make_app,
)
