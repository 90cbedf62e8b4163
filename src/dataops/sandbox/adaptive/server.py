"""Adaptive Planning's XML API served over HTTP: every call a POST of one ``<call>``
document to ``{origin}/api/v<N>`` (the sandbox URL is ``{origin}/api``), every answer
HTTP 200 ``<response success="true|false">`` (the methods, errors in the order they are
checked, and exportData's filters and rules: docs/vendors/adaptive.md).
"""

from __future__ import annotations

import hmac
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from xml.parsers import expat

from dataops.sandbox.adaptive.data import Selection, export_data_csv
from dataops.sandbox.adaptive.spec import (
    API_VERSIONS,
    AUTHENTICATION_FAILURE,
    BASE_PATH,
    CONTENT_TYPE,
    CREDENTIALS,
    FOLDER,
    INVALID_TIMESPAN,
    UNKNOWN_METHOD,
    UNSUPPORTED_API_VERSION,
    Account,
    AdaptiveError,
    Level,
    Node,
    invalid_version,
    malformed,
)
from dataops.sandbox.adaptive.tenant import tenant_for
from dataops.sandbox.adaptive.versions import find_version, versions
from dataops.sandbox.vendor import DataParams, Request, Response, VendorOptions

Item = TypeVar("Item")

_DECLARATION = b"<?xml version='1.0' encoding='UTF-8'?>\n"
_PATH = re.compile(re.escape(BASE_PATH) + r"/([^/]+)")
_API_VERSION = re.compile(r"v(\d{1,4})")


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _tree(
    container: ET.Element,
    nodes: Sequence[Node],
    tag: str,
    attributes: Callable[[Node], dict[str, str]],
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


def _flat_list(
    name: str, tag: str, items: Sequence[Item], attributes: Callable[[Item], dict[str, str]]
) -> ET.Element:
    """``<output><name>`` holding one ``<tag …/>`` per item."""
    output, container = _output(name)
    for item in items:
        ET.SubElement(container, tag, attributes(item))
    return output


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
    tenant = tenant_for(params.seed, params.scale)
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
    _tree(container, tenant.accounts, "account", _account)
    result["exportAccounts"] = output

    output, container = _output("levels")
    elements = _tree(container, tenant.levels, "level", _level)
    for level in tenant.levels:
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
    for d in tenant.dimensions:
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
            [v for v in tenant.dimension_values if v.dimension_id == d.id],
            "dimensionValue",
            lambda v: {
                "id": str(v.id),
                "name": v.name,
                "description": v.description,
                "shortName": v.short_name,
            },
        )
    result["exportDimensions"] = output

    result["exportUsers"] = _flat_list(
        "users",
        "user",
        tenant.users,
        lambda u: {
            "id": str(u.id),
            "login": u.login,
            "email": u.email,
            "fullName": u.full_name,
            "timeZone": u.time_zone,
        },
    )
    result["exportTime"] = _flat_list(
        "periods",
        "period",
        tenant.periods,
        lambda p: {
            "code": p.code,
            "label": p.label,
            "shortName": p.short_name,
            "stratum": p.stratum,
            "start": p.start.isoformat(),
            "end": p.end.isoformat(),
            "parentCode": p.parent_code,
        },
    )
    result["exportAttributes"] = _flat_list(
        "attributes",
        "attribute",
        tenant.attributes,
        lambda a: {
            "id": str(a.id),
            "name": a.name,
            "type": a.type,
            "autoCreate": _flag(a.auto_create),
        },
    )
    result["exportActiveCurrencies"] = _flat_list(
        "currencies",
        "currency",
        tenant.currencies,
        lambda c: {
            "code": c.code,
            "precision": str(c.precision),
            "isReportingCurrency": _flag(c.is_reporting_currency),
            "userDefined": _flag(c.user_defined),
            "description": c.description,
        },
    )
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


def csv_success(text: str) -> Response:
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
        raise malformed() from None
    if root.tag != "call":
        raise malformed()
    return root


def _bool(element: ET.Element | None, name: str, default: bool) -> bool:
    value = None if element is None else element.get(name)
    if value is None:
        return default
    if value.lower() not in {"true", "false"}:
        raise malformed()
    return value.lower() == "true"


def _entries(container: ET.Element | None, tag: str, name: str) -> Selection | None:
    """A filter list (``None`` when absent): ``(name, includeDescendants)`` per entry."""
    if container is None:
        return None
    entries = []
    for entry in container.findall(tag):
        value = entry.get(name)
        if value is None:
            raise malformed()
        entries.append((value, _bool(entry, "includeDescendants", True)))
    return entries


class AdaptiveApp:
    """The XML API over one (seed, scale, epoch) tenant."""

    base_path = BASE_PATH
    moved = False
    """The data never move on while served (Adaptive has no ``move_after``)."""

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
                return csv_success(self._export_data(call))
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
                raise invalid_version(name)
        if method == "exportLevels" and "versionID" in include.attrib:
            given = include.attrib["versionID"]
            ids = {str(v.id) for v in versions(seed, epoch) if v.type != FOLDER}
            if given not in ids:
                raise invalid_version(given)

    def _export_data(self, call: ET.Element) -> str:
        seed, epoch = self.params.seed, self.params.epoch
        version = call.find("version")
        name = "" if version is None else version.get("name", "")
        if not name and _bool(version, "isDefault", False):
            name = next(v.name for v in versions(seed, epoch) if v.is_default)
        if find_version(seed, epoch, name) is None:
            raise invalid_version(name)
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


def make_app(params: DataParams, page_size: int | None, options: VendorOptions) -> AdaptiveApp:
    """``page_size`` does not apply: the API does not page; Adaptive has no options."""
    return AdaptiveApp(params)
