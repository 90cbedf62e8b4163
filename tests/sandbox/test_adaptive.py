"""The Adaptive Planning XML API sandbox over real loopback HTTP, and its ground truth.

Responses are parsed with ElementTree: they come from this sandbox (defusedxml is not a
dependency of the project).
"""
# ruff: noqa: S314 - parses the sandbox's own answers and requests built here

import csv
import io
import json
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from dataops.sandbox import HttpSandbox, records, serve, truth
from dataops.sandbox.adaptive.data import export_data_csv, plan_records
from dataops.sandbox.adaptive.server import csv_success
from dataops.sandbox.adaptive.spec import CONTENT_TYPE, CREDENTIALS, DEFAULT_SPAN, AdaptiveError
from dataops.sandbox.vendor import DataParams

SEED = 7
PARAMS = DataParams(seed=SEED)
LOGIN = {"login": CREDENTIALS["username"], "password": CREDENTIALS["password"]}
VALUE = re.compile(r"-?\d+(\.\d{1,2})?")
MONTH = re.compile(r"\d{2}/\d{4}")


@pytest.fixture(scope="module")
def adaptive() -> Iterator[HttpSandbox]:
    """A fault-free Adaptive sandbox at seed 7, scale 1, epoch 0, shared by a module."""
    with serve("adaptive", seed=SEED) as sandbox:
        yield sandbox


def element(tag: str, *children: ET.Element, **attributes: str) -> ET.Element:
    built = ET.Element(tag, attributes)
    built.extend(children)
    return built


def call_body(
    method: str, *children: ET.Element, credentials: dict[str, str] | None = LOGIN
) -> bytes:
    call = element("call", method=method, callerName="tests")
    if credentials is not None:
        call.append(element("credentials", **credentials))
    call.extend(children)
    return ET.tostring(call, encoding="UTF-8", xml_declaration=True)


def post(sandbox: HttpSandbox, body: bytes, api: str = "v38") -> requests.Response:
    return requests.post(
        f"{sandbox.url}/{api}", data=body, headers={"Content-Type": CONTENT_TYPE}, timeout=10
    )


def answer(response: requests.Response) -> ET.Element:
    """The parsed ``<response>`` of an HTTP 200 XML answer."""
    assert response.status_code == 200
    assert response.headers["Content-Type"] == CONTENT_TYPE
    assert response.content.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = ET.fromstring(response.content)
    assert root.tag == "response"
    return root


def output(sandbox: HttpSandbox, method: str, *children: ET.Element) -> ET.Element:
    root = answer(post(sandbox, call_body(method, *children)))
    assert root.get("success") == "true", ET.tostring(root)
    found = root.find("output")
    assert found is not None
    return found


def error_of(response: requests.Response) -> tuple[str, str]:
    root = answer(response)
    assert root.get("success") == "false"
    assert root.find("output") is None
    messages = root.findall("messages/message")
    assert len(messages) == 1
    return messages[0].get("key", ""), messages[0].text or ""


def flag(value: str | None) -> bool:
    return {"true": True, "false": False}[value or ""]


def walk(
    parent: ET.Element | None, tag: str, parent_id: int | None = None
) -> Iterator[tuple[ET.Element, int | None]]:
    """Nested elements in document order, each with its parent's id."""
    assert parent is not None
    for child in parent.findall(tag):
        yield child, parent_id
        yield from walk(child, tag, int(child.get("id", "")))


def export_request(
    version: str,
    start: str = DEFAULT_SPAN[0],
    end: str = DEFAULT_SPAN[1],
    accounts: list[tuple[str, bool]] | None = None,
    levels: list[tuple[str, bool]] | None = None,
    **rules: str,
) -> bytes:
    filters = element("filters")
    if accounts is not None:
        filters.append(
            element(
                "accounts",
                *(
                    element(
                        "account",
                        code=code,
                        isAssumption="false",
                        includeDescendants=str(deep).lower(),
                    )
                    for code, deep in accounts
                ),
            )
        )
    if levels is not None:
        filters.append(
            element(
                "levels",
                *(
                    element(
                        "level", name=name, isRollup="true", includeDescendants=str(deep).lower()
                    )
                    for name, deep in levels
                ),
            )
        )
    filters.append(element("timeSpan", start=start, end=end))
    return call_body(
        "exportData",
        element("version", name=version, isDefault="false"),
        element("format", useInternalCodes="true", includeUnmappedItems="false"),
        filters,
        element(
            "rules",
            **{
                "includeZeroRows": "false",
                "includeRollupAccounts": "true",
                "includeRollupLevels": "true",
                "markInvalidValues": "false",
                "markBlanks": "false",
                "timeRollups": "false",
                **rules,
            },
        ),
    )


def exported(sandbox: HttpSandbox, body: bytes) -> str:
    response = post(sandbox, body)
    assert b"<output><![CDATA[" in response.content
    return output_text(response)


def output_text(response: requests.Response) -> str:
    found = answer(response).find("output")
    assert found is not None
    return found.text or ""


def top_accounts() -> list[tuple[str, bool]]:
    return [
        (a["code"], True) for a in records("adaptive", seed=SEED)["accounts"] if not a["parent_id"]
    ]


def rows(text: str) -> tuple[list[str], list[list[str]]]:
    parsed = list(csv.reader(io.StringIO(text)))
    return parsed[0], parsed[1:]


def plan_versions(epoch: int = 0) -> list[str]:
    return [
        v["name"]
        for v in records("adaptive", seed=SEED, epoch=epoch)["versions"]
        if v["type"] != "VERSION_FOLDER"
    ]


# ------------------------------------------------------------------- metadata methods


def test_url_and_credentials(adaptive: HttpSandbox) -> None:
    assert adaptive.url == f"http://127.0.0.1:{adaptive.port}/api"
    assert adaptive.credentials == {
        "username": "sandbox@example.com",
        "password": "sandbox-secret",
        "instance_code": "SANDBOX1",
    }


def test_versions(adaptive: HttpSandbox) -> None:
    container = output(adaptive, "exportVersions", element("include", rootActuals="false"))
    served = [
        {
            "id": int(v.get("id", "")),
            "name": v.get("name"),
            "short_name": v.get("shortName") or None,
            "type": v.get("type"),
            "is_default_version": flag(v.get("isDefaultVersion")),
            "is_locked": flag(v.get("isLocked")),
            "parent_id": parent,
        }
        for v, parent in walk(container.find("versions"), "version")
    ]
    assert served == records("adaptive", seed=SEED)["versions"]
    by_name = {v["name"]: v for v in served}
    assert by_name["Actuals"]["type"] == "ACTUALS"
    assert not by_name["Actuals"]["is_locked"]
    assert [name for name, v in by_name.items() if v["is_locked"]] == ["FY23 Plan", "FY24 Plan"]
    assert [v["name"] for v in served if v["is_default_version"]] == ["FY25 Plan"]
    archive = by_name["FY23 Plan"]["parent_id"]
    assert by_name["Archive"]["id"] == archive
    assert by_name["Archive"]["parent_id"] == by_name["Plans"]["id"]  # folders in folders
    assert None in {v["short_name"] for v in served}


def test_accounts(adaptive: HttpSandbox) -> None:
    container = output(adaptive, "exportAccounts", element("include", versionName="FY25 Plan"))
    served = [
        {
            "id": int(a.get("id", "")),
            "code": a.get("code"),
            "name": a.get("name"),
            "time_stratum": a.get("timeStratum"),
            "display_as": a.get("displayAs"),
            "account_type_code": a.get("accountTypeCode"),
            "balance_type": a.get("balanceType"),
            "data_privacy": a.get("dataPrivacy"),
            "sub_type": a.get("subType") or None,
            "is_group": flag(a.get("isGroup")),
            "parent_id": parent,
        }
        for a, parent in walk(container.find("accounts"), "account")
    ]
    assert served == records("adaptive", seed=SEED)["accounts"]
    assert 20 <= len(served) <= 40
    assert len({a["code"] for a in served}) == len(served)
    parents = {a["parent_id"] for a in served}
    assert all((a["id"] in parents) == a["is_group"] for a in served)
    assert {"Salaries, Wages & Benefits", 'Bonus & "Spot" Awards'} <= {a["name"] for a in served}


def test_levels_and_attributes(adaptive: HttpSandbox) -> None:
    versions = records("adaptive", seed=SEED)["versions"]
    actuals_id = next(v["id"] for v in versions if v["name"] == "Actuals")
    include = element("include", versionID=str(actuals_id), inaccessibleValues="false")
    container = output(adaptive, "exportLevels", include)
    served: list[dict[str, Any]] = []
    for level, parent in walk(container.find("levels"), "level"):
        children = list(level)
        attributes = level.findall("attributes/attribute")
        if attributes:
            assert children[0].tag == "attributes"
        served.append(
            {
                "id": int(level.get("id", "")),
                "name": level.get("name"),
                "currency": level.get("currency"),
                "short_name": level.get("shortName") or None,
                "is_elimination": flag(level.get("isElimination")),
                "is_linked": flag(level.get("isLinked")),
                "workflow_status": level.get("workflowStatus"),
                "is_importable": flag(level.get("isImportable")),
                "parent_id": parent,
                "attributes": [
                    {
                        "attribute_id": int(a.get("attributeId", "")),
                        "name": a.get("name"),
                        "value_id": int(a.get("valueId", "")),
                        "value": a.get("value"),
                    }
                    for a in attributes
                ],
            }
        )
    assert served == records("adaptive", seed=SEED)["levels"]
    assert 10 <= len(served) <= 20
    assert served[0]["name"] == "Master Corporate"
    assert served[0]["parent_id"] is None
    assert [level["name"] for level in served if level["is_elimination"]] == ["Eliminations"]

    attributes = output(adaptive, "exportAttributes").findall("attributes/attribute")
    served_attributes = [
        {
            "id": int(a.get("id", "")),
            "name": a.get("name"),
            "type": a.get("type"),
            "auto_create": flag(a.get("autoCreate")),
        }
        for a in attributes
    ]
    assert served_attributes == records("adaptive", seed=SEED)["attributes"]
    level_attributes = {
        (a["id"], a["name"]) for a in served_attributes if a["type"] == "LevelAttribute"
    }
    used = {(a["attribute_id"], a["name"]) for level in served for a in level["attributes"]}
    assert used
    assert used <= level_attributes
    assert {a["type"] for a in served_attributes} == {
        "LevelAttribute",
        "AccountAttribute",
        "DimensionAttribute",
    }


def test_dimensions(adaptive: HttpSandbox) -> None:
    container = output(adaptive, "exportDimensions", element("include", versionName="Actuals"))
    dimensions: list[dict[str, Any]] = []
    values: list[dict[str, Any]] = []
    for d in container.findall("dimensions/dimension"):
        dimensions.append(
            {
                "id": int(d.get("id", "")),
                "name": d.get("name"),
                "short_name": d.get("shortName"),
                "auto_create": flag(d.get("autoCreate")),
                "list_dimension": flag(d.get("listDimension")),
                "keep_sorted": flag(d.get("keepSorted")),
                "use_on_levels": flag(d.get("useOnLevels")),
                "seq_no": int(d.get("seqNo", "")),
            }
        )
        values.extend(
            {
                "dimension_id": int(d.get("id", "")),
                "id": int(v.get("id", "")),
                "name": v.get("name"),
                "description": v.get("description") or None,
                "short_name": v.get("shortName") or None,
                "parent_id": parent,
            }
            for v, parent in walk(d, "dimensionValue")
        )
    expected = records("adaptive", seed=SEED)
    assert dimensions == expected["dimensions"]
    assert values == expected["dimension_values"]
    assert [d["name"] for d in dimensions] == ["Product", "Channel", "Segment"]
    assert any(v["parent_id"] for v in values)


def optional(text: str) -> str | None:
    return text or None


FLAT_LISTS: dict[str, tuple[str, str, dict[str, tuple[str, Callable[[str], Any]]]]] = {
    "exportUsers": (
        "users/user",
        "users",
        {
            "id": ("id", int),
            "login": ("login", str),
            "email": ("email", str),
            "full_name": ("fullName", str),
            "time_zone": ("timeZone", str),
        },
    ),
    "exportTime": (
        "periods/period",
        "time_periods",
        {
            "code": ("code", str),
            "label": ("label", str),
            "short_name": ("shortName", str),
            "stratum": ("stratum", str),
            "start": ("start", str),
            "end": ("end", str),
            "parent_code": ("parentCode", optional),
        },
    ),
    "exportActiveCurrencies": (
        "currencies/currency",
        "currencies",
        {
            "code": ("code", str),
            "precision": ("precision", int),
            "is_reporting_currency": ("isReportingCurrency", flag),
            "user_defined": ("userDefined", flag),
            "description": ("description", str),
        },
    ),
}


@pytest.mark.parametrize("method", FLAT_LISTS)
def test_flat_lists(adaptive: HttpSandbox, method: str) -> None:
    path, stream, fields = FLAT_LISTS[method]
    served = [
        {name: convert(item.get(attribute, "")) for name, (attribute, convert) in fields.items()}
        for item in output(adaptive, method).findall(path)
    ]
    assert served == records("adaptive", seed=SEED)[stream]


def test_time_calendar() -> None:
    periods = records("adaptive", seed=SEED)["time_periods"]
    by_code = {p["code"]: p for p in periods}
    assert len(periods) == 5 * (1 + 4 + 12)
    assert by_code["02/2024"] == {
        "code": "02/2024",
        "label": "Feb 2024",
        "short_name": "Feb-24",
        "stratum": "month",
        "start": "2024-02-01",
        "end": "2024-02-29",
        "parent_code": "Q1/2024",
    }
    assert by_code["Q4/2025"]["end"] == "2025-12-31"
    assert by_code["Q4/2025"]["parent_code"] == "FY2025"
    assert by_code["FY2027"]["parent_code"] is None
    assert {p["stratum"] for p in periods} == {"month", "quarter", "year"}
    levels = records("adaptive", seed=SEED)["levels"]
    currencies = {c["code"] for c in records("adaptive", seed=SEED)["currencies"]}
    assert {level["currency"] for level in levels} <= currencies


# ------------------------------------------------------------------------------ errors


def test_supported_api_versions(adaptive: HttpSandbox) -> None:
    for api in ("v18", "v25", "v38", "v40"):
        assert answer(post(adaptive, call_body("exportUsers"), api)).get("success") == "true"


BAD_CREDENTIALS = [
    None,
    {"login": "sandbox@example.com", "password": "wrong"},
    {"login": "someone@example.com", "password": "sandbox-secret"},
    {"password": "sandbox-secret"},
    {**LOGIN, "instanceCode": "OTHER"},
    {**LOGIN, "instanceCode": ""},
]


@pytest.mark.parametrize("credentials", BAD_CREDENTIALS)
def test_bad_credentials(adaptive: HttpSandbox, credentials: dict[str, str] | None) -> None:
    response = post(adaptive, call_body("exportVersions", credentials=credentials))
    assert error_of(response) == ("error-authentication-failure", "Invalid credentials")


def test_instance_code_is_optional(adaptive: HttpSandbox) -> None:
    with_code = {**LOGIN, "instanceCode": "SANDBOX1"}
    for credentials in (LOGIN, with_code):
        body = call_body("exportUsers", credentials=credentials)
        assert answer(post(adaptive, body)).get("success") == "true"


VERSION_ERRORS = [
    call_body("exportAccounts", element("include", versionName="FY99 Plan")),
    call_body("exportDimensions", element("include", versionName="FY99 Plan")),
    call_body("exportLevels", element("include", versionID="FY99 Plan")),
    export_request("FY99 Plan"),
]


@pytest.mark.parametrize("body", VERSION_ERRORS)
def test_unknown_versions(adaptive: HttpSandbox, body: bytes) -> None:
    assert error_of(post(adaptive, body)) == (
        "error-invalid-version",
        "Version 'FY99 Plan' does not exist",
    )


def test_folders_and_unknown_ids_are_not_versions(adaptive: HttpSandbox) -> None:
    assert error_of(post(adaptive, export_request("Archive"))) == (
        "error-invalid-version",
        "Version 'Archive' does not exist",
    )
    folder_id = next(
        v["id"] for v in records("adaptive", seed=SEED)["versions"] if v["name"] == "Plans"
    )
    body = call_body("exportLevels", element("include", versionID=str(folder_id)))
    assert error_of(post(adaptive, body))[1] == f"Version '{folder_id}' does not exist"


HOSTILE = [
    b"",
    b"not xml at all",
    b"<call method='exportVersions'>",
    b"<other method='exportVersions'/>",
    b'<?xml version="1.0"?><!DOCTYPE call [<!ENTITY a "exportVersions">]>'
    b'<call method="&a;"><credentials login="sandbox@example.com" password="sandbox-secret"/>'
    b"</call>",
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    b'<call method="exportVersions" callerName="&lol3;"/>',
    b'<?xml version="1.0"?><!DOCTYPE call [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b'<call method="exportVersions" callerName="&xxe;"/>',
    b'<?xml version="1.0"?><!DOCTYPE call SYSTEM "http://127.0.0.1:9/evil.dtd"><call/>',
    b'<call method="exportVersions" callerName="&undefined;"/>',
]


@pytest.mark.parametrize("body", HOSTILE)
def test_malformed_and_hostile_bodies(adaptive: HttpSandbox, body: bytes) -> None:
    assert error_of(post(adaptive, body)) == (
        "error-malformed-request",
        "The request could not be parsed",
    )


def test_unknown_method_and_bad_flags(adaptive: HttpSandbox) -> None:
    assert error_of(post(adaptive, call_body("exportEverything"))) == (
        "error-unknown-method",
        "Unknown method: exportEverything",
    )
    # credentials are checked first
    body = call_body("exportEverything", credentials={"login": "x", "password": "y"})
    assert error_of(post(adaptive, body))[0] == "error-authentication-failure"
    body = export_request("Actuals", includeZeroRows="maybe")
    assert error_of(post(adaptive, body))[0] == "error-malformed-request"


@pytest.mark.parametrize("api", ["v99", "v17", "v41", "latest", "38", "v"])
def test_unsupported_api_versions(adaptive: HttpSandbox, api: str) -> None:
    assert error_of(post(adaptive, call_body("exportVersions"), api)) == (
        "error-unsupported-api-version",
        f"API version {api} is not supported",
    )


def test_http_level_errors(adaptive: HttpSandbox) -> None:
    assert requests.get(f"{adaptive.url}/v38", timeout=10).status_code == 405
    assert requests.put(f"{adaptive.url}/v38", data=b"", timeout=10).status_code == 405
    body = call_body("exportVersions")
    for path in ("/api", "/api/v38/more", "/other/v38"):
        assert requests.post(adaptive.origin + path, data=body, timeout=10).status_code == 404


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (None, None),
        ("01/2025", None),
        ("13/2025", "12/2025"),
        ("2025-01", "12/2025"),
        ("06/2025", "05/2025"),
        ("01/1900", "01/2100"),
    ],
)
def test_invalid_time_spans(adaptive: HttpSandbox, start: str | None, end: str | None) -> None:
    body = ET.fromstring(export_request("Actuals"))
    span = body.find("filters/timeSpan")
    assert span is not None
    for name, value in (("start", start), ("end", end)):
        if value is None:
            del span.attrib[name]
        else:
            span.set(name, value)
    assert error_of(post(adaptive, ET.tostring(body)))[0] == "error-invalid-timespan"
    no_filters = call_body("exportData", element("version", name="Actuals"))
    assert error_of(post(adaptive, no_filters))[0] == "error-invalid-timespan"


def test_export_data_csv_raises_the_api_errors() -> None:
    with pytest.raises(AdaptiveError, match="Version 'Plans' does not exist"):
        export_data_csv(PARAMS, "Plans")
    with pytest.raises(AdaptiveError) as raised:
        export_data_csv(PARAMS, "Actuals", start="12/2025", end="01/2025")
    assert raised.value.key == "error-invalid-timespan"


# -------------------------------------------------------------------------- exportData


def test_default_request_is_the_function_and_the_truth(adaptive: HttpSandbox) -> None:
    truth_records = records("adaptive", seed=SEED)["plan_data"]
    served_records = []
    for version in plan_versions():
        text = exported(
            adaptive,
            export_request(version, accounts=top_accounts(), levels=[("Master Corporate", True)]),
        )
        assert text == export_data_csv(PARAMS, version)
        header, lines = rows(text)
        assert header[:6] == [
            *("Account Name", "Account Code", "Level Name"),
            *("Product", "Channel", "Segment"),
        ]
        assert header[6:] == [f"{m:02d}/{y}" for y in range(2023, 2027) for m in range(1, 13)]
        assert all(len(line) == len(header) for line in lines)
        served_records.extend(plan_records(version, text))
    assert served_records == truth_records
    assert 5_000 <= len(truth_records) <= 40_000
    facts = truth("adaptive", seed=SEED)["plan_data"]
    assert facts["key"] == ["version", "account_code", "level_name", "dimension_key", "period"]
    keys = [[r[k] for k in facts["key"]] for r in truth_records]
    assert len({tuple(k) for k in keys}) == len(keys) == facts["rows"]


def test_plan_data_records() -> None:
    by_version: dict[str, list[dict[str, Any]]] = {}
    for record in records("adaptive", seed=SEED)["plan_data"]:
        by_version.setdefault(record["version"], []).append(record)
    periods = {v: {r["period"] for r in rs} for v, rs in by_version.items()}
    assert min(periods["Actuals"]) == "2023-01"
    assert max(periods["Actuals"]) == "2025-12"
    assert periods["FY24 Plan"] == {f"2024-{m:02d}" for m in range(1, 13)}
    assert periods["FY26 Budget"] == {f"2026-{m:02d}" for m in range(1, 13)}
    assert "FY27 Outlook" not in by_version  # its year is outside the default span
    sample = by_version["Actuals"]
    with_dimensions = [r for r in sample if r["dimensions"]]
    assert with_dimensions
    assert any(not r["dimensions"] for r in sample)
    for record in with_dimensions[:50]:
        assert record["dimension_key"] == "|".join(
            f"{k}={v}" for k, v in record["dimensions"].items()
        )
    assert all(r["value"] != 0 for r in sample)  # a zero cell is no row
    assert any(r["value"] < 0 for r in sample)
    assert all(isinstance(r["value"], float) for r in sample)
    assert any(r["level_name"] == "Zürich Office" for r in sample)


def test_csv_values_blanks_and_quoting() -> None:
    text = export_data_csv(
        PARAMS, "FY25 Plan", start="11/2024", end="02/2025", include_zero_rows=True
    )
    header, lines = rows(text)
    assert header[-4:] == ["11/2024", "12/2024", "01/2025", "02/2025"]
    assert all(line[-4] == line[-3] == "" for line in lines)  # the plan starts in 2025
    values = [cell for line in lines for cell in line[-2:] if cell]
    assert values
    assert all(VALUE.fullmatch(v) for v in values)
    assert all(not v.endswith(".0") and not re.search(r"\.\d0$", v) for v in values)
    assert '"Salaries, Wages & Benefits"' in text
    assert '"Bonus & ""Spot"" Awards"' in text
    assert "\r" not in text


def test_cdata_survives_its_terminator() -> None:
    body = csv_success("a,b\n]]>,x\n").body
    found = ET.fromstring(body).find("output")
    assert found is not None
    assert found.text == "a,b\n]]>,x\n"


def parse_lines(text: str) -> dict[tuple[str, str, tuple[str, ...]], list[Decimal | None]]:
    header, lines = rows(text)
    months = [i for i, name in enumerate(header) if MONTH.fullmatch(name)]
    return {
        (line[1], line[2], tuple(line[3 : months[0]])): [
            Decimal(line[i]) if line[i] else None for i in months
        ]
        for line in lines
    }


def test_rollups_are_exact_sums() -> None:
    dataset = records("adaptive", seed=SEED)
    accounts, levels = dataset["accounts"], dataset["levels"]
    account_code = {a["id"]: a["code"] for a in accounts}
    level_name = {level["id"]: level["name"] for level in levels}
    children: dict[tuple[str, str], list[str]] = {}
    for a in accounts:
        if a["parent_id"]:
            children.setdefault(("account", account_code[a["parent_id"]]), []).append(a["code"])
    for level in levels:
        if level["parent_id"]:
            key = ("level", level_name[level["parent_id"]])
            children.setdefault(key, []).append(level["name"])
    for version in ("Actuals", "FY25 Plan"):
        lines = parse_lines(export_data_csv(PARAMS, version, include_zero_rows=True))
        checked = 0
        for (code, level, values), cells in lines.items():
            for kind, name in (("account", code), ("level", level)):
                if (kind, name) not in children:
                    continue
                parts = [
                    lines.get(
                        (child, level, values) if kind == "account" else (code, child, values)
                    )
                    for child in children[kind, name]
                ]
                for month, cell in enumerate(cells):
                    addends = [c for p in parts if p and (c := p[month]) is not None]
                    assert cell == (sum(addends, Decimal(0)) if addends else None)
                checked += 1
        assert checked > 100


def line_keys(text: str) -> set[tuple[str, str]]:
    return {(code, level) for code, level, _ in parse_lines(text)}


def test_account_and_level_filters() -> None:
    personnel = {"6100", "6110", "6120", "6130"}
    deep = line_keys(export_data_csv(PARAMS, "Actuals", accounts=[("6100", True)]))
    assert {code for code, _ in deep} == personnel
    shallow = line_keys(export_data_csv(PARAMS, "Actuals", accounts=[("6100", False)]))
    assert {code for code, _ in shallow} == {"6100"}
    assert shallow == {(c, level) for c, level in deep if c == "6100"}
    assert line_keys(export_data_csv(PARAMS, "Actuals", accounts=["6100"])) == deep
    both = export_data_csv(
        PARAMS, "Actuals", accounts=[("6100", False), ("9000", True), ("nope", True)]
    )
    assert {code for code, _ in line_keys(both)} == {"6100", "9000", "9100", "9200"}
    assert rows(export_data_csv(PARAMS, "Actuals", accounts=[]))[1] == []

    emea = {"EMEA", "UK & Ireland", "DACH", "Zürich Office"}
    assert {
        lv for _, lv in line_keys(export_data_csv(PARAMS, "Actuals", levels=[("EMEA", True)]))
    } <= emea
    only = line_keys(export_data_csv(PARAMS, "Actuals", levels=[("EMEA", False)]))
    assert {lv for _, lv in only} == {"EMEA"}
    root = line_keys(export_data_csv(PARAMS, "Actuals", levels=[("Master Corporate", False)]))
    everything = line_keys(export_data_csv(PARAMS, "Actuals"))
    assert root == {(c, lv) for c, lv in everything if lv == "Master Corporate"}


def test_rollup_and_zero_row_rules() -> None:
    dataset = records("adaptive", seed=SEED)
    groups = {a["code"] for a in dataset["accounts"] if a["is_group"]}
    parents = {level["parent_id"] for level in dataset["levels"]}
    rollup_levels = {level["name"] for level in dataset["levels"] if level["id"] in parents}
    full = line_keys(export_data_csv(PARAMS, "Actuals"))
    assert {c for c, _ in full} & groups
    assert {lv for _, lv in full} & rollup_levels
    no_accounts = line_keys(export_data_csv(PARAMS, "Actuals", include_rollup_accounts=False))
    assert no_accounts == {(c, lv) for c, lv in full if c not in groups}
    no_levels = line_keys(export_data_csv(PARAMS, "Actuals", include_rollup_levels=False))
    assert no_levels == {(c, lv) for c, lv in full if lv not in rollup_levels}
    leaves_only = line_keys(
        export_data_csv(
            PARAMS, "Actuals", include_rollup_accounts=False, include_rollup_levels=False
        )
    )
    assert leaves_only == no_accounts & no_levels

    def empty(cells: list[Decimal | None]) -> bool:
        return all(not cell for cell in cells)

    with_zeros = parse_lines(export_data_csv(PARAMS, "Actuals", include_zero_rows=True))
    without = parse_lines(export_data_csv(PARAMS, "Actuals"))
    assert without == {key: cells for key, cells in with_zeros.items() if not empty(cells)}
    assert any(empty(cells) for cells in with_zeros.values())
    dormant = [c for c in with_zeros.values() if {cell for cell in c if cell is not None} == {0}]
    assert dormant  # lines of zeros, not blanks
    assert len(line_keys(export_data_csv(PARAMS, "Actuals", include_zero_rows=True))) == 25 * 17


@pytest.mark.parametrize(
    ("kwargs", "rules"),
    [
        ({"accounts": [("4000", True)], "levels": [("EMEA", True)]}, {}),
        ({"accounts": [("6100", False), ("9000", True)], "levels": [("Americas", False)]}, {}),
        ({"start": "06/2024", "end": "03/2025"}, {"includeZeroRows": "true"}),
        ({}, {"includeRollupAccounts": "false", "includeRollupLevels": "false"}),
        ({}, {"includeRollupAccounts": "true", "includeRollupLevels": "false"}),
    ],
)
def test_http_filters_equal_the_function(
    adaptive: HttpSandbox, kwargs: dict[str, Any], rules: dict[str, str]
) -> None:
    flags = {
        "include_zero_rows": rules.get("includeZeroRows") == "true",
        "include_rollup_accounts": rules.get("includeRollupAccounts", "true") == "true",
        "include_rollup_levels": rules.get("includeRollupLevels", "true") == "true",
    }
    text = exported(adaptive, export_request("FY24 Plan", **{**kwargs, **rules}))
    assert text == export_data_csv(PARAMS, "FY24 Plan", **kwargs, **flags)


def test_default_version_and_rule_defaults(adaptive: HttpSandbox) -> None:
    body = call_body(
        "exportData",
        element("version", isDefault="true"),
        element("filters", element("timeSpan", start="01/2025", end="12/2025")),
    )
    assert exported(adaptive, body) == export_data_csv(
        PARAMS, "FY25 Plan", start="01/2025", end="12/2025"
    )


# ------------------------------------------------------- determinism, seeds, epochs, faults


def test_deterministic_and_seeded() -> None:
    one = DataParams(seed=1)
    assert export_data_csv(one, "Actuals") == export_data_csv(DataParams(seed=1), "Actuals")
    assert export_data_csv(one, "Actuals") != export_data_csv(DataParams(seed=2), "Actuals")
    a, b = records("adaptive", seed=1), records("adaptive", seed=2)
    assert [x["id"] for x in a["accounts"]] != [x["id"] for x in b["accounts"]]
    assert [x["code"] for x in a["accounts"]] == [x["code"] for x in b["accounts"]]


def test_scale_grows_the_tenant() -> None:
    small, large = records("adaptive", seed=SEED), records("adaptive", seed=SEED, scale=2)
    for stream in ("accounts", "levels", "users", "dimension_values", "plan_data"):
        assert len(large[stream]) > len(small[stream]), stream
    assert len({a["code"] for a in large["accounts"]}) == len(large["accounts"])
    assert len({level["name"] for level in large["levels"]}) == len(large["levels"])


def by_key(rows: list[dict[str, Any]]) -> dict[tuple[Any, ...], float]:
    return {
        (r["version"], r["account_code"], r["level_name"], r["dimension_key"], r["period"]): r[
            "value"
        ]
        for r in rows
    }


def test_epochs() -> None:
    before = records("adaptive", seed=SEED)
    after = records("adaptive", seed=SEED, epoch=1)
    later = records("adaptive", seed=SEED, epoch=2)
    for stream in ("accounts", "levels", "dimensions", "dimension_values", "users"):
        assert before[stream] == after[stream] == later[stream]
    names = [[v["name"] for v in r["versions"]] for r in (before, after, later)]
    assert names[1] == [*names[0], "Forecast E1"]
    assert names[2] == [*names[1], "Forecast E2"]
    added = next(v for v in after["versions"] if v["name"] == "Forecast E1")
    folder = next(v for v in after["versions"] if v["id"] == added["parent_id"])
    assert (added["type"], added["is_locked"], folder["type"]) == (
        "PLANNING",
        False,
        "VERSION_FOLDER",
    )
    assert after["versions"][:-1] == before["versions"]

    old, new, newer = (
        by_key(before["plan_data"]),
        by_key(after["plan_data"]),
        by_key(later["plan_data"]),
    )
    changed = {key for key in old if new.get(key) != old[key]}
    assert changed
    assert {key[0] for key in changed} <= {"Actuals", "FY25 Plan", "FY26 Budget"}
    actuals = {key for key in changed if key[0] == "Actuals"}
    assert actuals
    assert all("2024-01" <= key[4] <= "2025-12" for key in actuals)
    assert {key[0] for key in changed} >= {"Actuals", "FY25 Plan"}
    for locked in ("FY23 Plan", "FY24 Plan"):
        assert export_data_csv(PARAMS, locked) == export_data_csv(DataParams(SEED, 1, 2), locked)
    assert any(key[0] == "Forecast E1" for key in new)
    assert {k: v for k, v in newer.items() if k[0] == "Forecast E1"} != {
        k: v for k, v in new.items() if k[0] == "Forecast E1"
    }
    actual_cells = [k for k in old if k[0] == "Actuals" and k[4] >= "2024-01"]
    leaf_changed = len(actuals) / len(actual_cells)
    assert 0.01 < leaf_changed < 0.5


def test_epoch_served(adaptive: HttpSandbox) -> None:
    with serve("adaptive", seed=SEED, epoch=1) as sandbox:
        names = [v.get("name") for v in output(sandbox, "exportVersions").iter("version")]
        assert "Forecast E1" in names
        text = exported(sandbox, export_request("Forecast E1"))
    assert text == export_data_csv(DataParams(SEED, 1, 1), "Forecast E1")
    assert error_of(post(adaptive, export_request("Forecast E1")))[0] == "error-invalid-version"


def test_shared_faults_apply() -> None:
    with serve("adaptive", faults="500:0.5") as sandbox:
        statuses = [
            post(sandbox, call_body("exportUsers", element("include", n=str(n)))).status_code
            for n in range(30)
        ]
        assert sandbox.stats.faults["500"] == statuses.count(500)
    assert 5 <= statuses.count(500) <= 25
    assert statuses.count(200) == 30 - statuses.count(500)


def test_truth_is_fast_and_the_cli_prints_it() -> None:
    started = time.monotonic()
    facts = truth("adaptive", seed=11, epoch=3)
    assert time.monotonic() - started < 5
    dataops = str(Path(sys.executable).parent / "dataops")
    result = subprocess.run(
        [dataops, "sandbox", "truth", "adaptive", "--seed", "11", "--epoch", "3"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == facts  # the same in another process
    assert set(facts) == {
        "versions",
        "accounts",
        "levels",
        "dimensions",
        "dimension_values",
        "users",
        "time_periods",
        "attributes",
        "currencies",
        "plan_data",
    }


def _cells(seed: int, epoch: int) -> dict[tuple, float]:
    return {
        (r["version"], r["account_code"], r["level_name"], r["dimension_key"], r["period"]): r[
            "value"
        ]
        for r in records("adaptive", seed=seed, epoch=epoch)["plan_data"]
    }


@pytest.mark.parametrize("seed", [1, 29])
def test_deletions_from_epoch_two_blank_cells_and_clear_lines(seed: int) -> None:
    """Epoch 2 on blanks cells and clears whole lines of unlocked versions only; the
    rollups follow (a cleared leaf changes its parents' sums)."""
    versions = {v["name"]: v for v in records("adaptive", seed=seed, epoch=2)["versions"]}
    before, after = _cells(seed, 1), _cells(seed, 2)
    gone = before.keys() - after.keys()
    assert gone, "epoch 2 deleted nothing"
    assert all(not versions[key[0]]["is_locked"] for key in gone)
    locked = {k: v for k, v in before.items() if versions[k[0]]["is_locked"]}
    assert locked
    assert all(after[k] == v for k, v in locked.items())
    lines_before = {k[:4] for k in before}
    lines_after = {k[:4] for k in after}
    assert lines_before - lines_after, "no line was cleared whole"
    assert len(gone) < 0.1 * len(before)  # a few per cent
