"""Parsing Adaptive's XML and CSV: spec-shaped documents, hostile ones, requests built."""

from __future__ import annotations

import logging

import pytest
from defusedxml.ElementTree import fromstring
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError

from tap_adaptive.client import AdaptiveClient, api_version, parse_xml
from tap_adaptive.plan_data import month_index, unpivot
from tap_adaptive.streams import EXPORTS, flatten
from tapkit.retry import RetryableError

BY_NAME = {export.stream: export for export in EXPORTS}

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE response [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<response success="true"><output>&secret;</output></response>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<response success="true"><output>&lol4;</output></response>"""


@pytest.mark.parametrize("document", [XXE, BILLION_LAUGHS], ids=["external-entity", "laughs"])
def test_hostile_xml_is_refused_without_expanding_anything(document: bytes) -> None:
    with pytest.raises(FatalAPIError, match="declares a DTD or entities"):
        parse_xml(document, "exportVersions")


def test_cut_off_xml_is_worth_a_retry() -> None:
    with pytest.raises(RetryableError, match="unreadable XML"):
        parse_xml(b'<response success="true"><output><versions><ver', "exportVersions")


def test_request_carries_escaped_credentials_and_no_instance_unless_set() -> None:
    config = {
        "url_base": "https://api.example.com/api/",
        "api_version": "38",
        "username": "ana@example.com",
        "password": 'p<&>"w',
        "caller_name": "tests",
        "request_timeout": 5,
        "backoff_base_seconds": 0.1,
        "backoff_max_seconds": 1,
        "max_retries": 1,
    }
    client = AdaptiveClient(config, logging.getLogger("test"))
    assert client.url == "https://api.example.com/api/v38"
    call = fromstring(client.request_body("exportVersions"))
    assert (call.tag, call.get("method"), call.get("callerName")) == (
        "call",
        "exportVersions",
        "tests",
    )
    credentials = call.find("credentials")
    assert credentials is not None
    assert credentials.get("password") == 'p<&>"w'  # escaped in transit, intact once parsed
    assert credentials.get("instanceCode") is None
    with_instance = AdaptiveClient({**config, "instance_code": "ACME1"}, logging.getLogger("t"))
    parsed = fromstring(with_instance.request_body("exportUsers")).find("credentials")
    assert parsed is not None
    assert parsed.get("instanceCode") == "ACME1"


def test_api_version_setting() -> None:
    assert api_version("v25") == "v25"
    assert api_version("32") == "v32"
    with pytest.raises(ConfigValidationError, match="api_version"):
        api_version("latest")


VERSIONS = b"""<output><versions>
  <version id="1" name="Versions" shortName="" type="VERSION_FOLDER" isDefaultVersion="false"
           isLocked="false">
    <version id="2" name="Actuals" shortName="Act" type="ACTUALS" isDefaultVersion="false"
             isLocked="false"/>
    <version id="3" name="Plans" shortName="" type="VERSION_FOLDER" isDefaultVersion="false"
             isLocked="false">
      <version id="4" name="FY24 Plan" shortName="P24" type="PLANNING" isDefaultVersion="false"
               isLocked="true"/>
    </version>
  </version>
  <version id="5" name="Working" shortName="" type="PLANNING" isDefaultVersion="true"
           isLocked="false"/>
</versions></output>"""


def test_nested_versions_flatten_with_parent_ids_in_document_order() -> None:
    rows = list(flatten(fromstring(VERSIONS), BY_NAME["versions"]))
    assert [(r["id"], r["parent_id"]) for r in rows] == [
        (1, None),
        (2, 1),
        (3, 1),
        (4, 3),
        (5, None),
    ]
    assert rows[3] == {
        "id": 4,
        "name": "FY24 Plan",
        "short_name": "P24",
        "type": "PLANNING",
        "is_default_version": False,
        "is_locked": True,
        "parent_id": 3,
    }
    assert rows[0]["short_name"] is None
    assert rows[4]["is_default_version"] is True


LEVELS = b"""<output><levels>
  <level id="10" name="Master Corporate" currency="USD" shortName="" isElimination="false"
         isLinked="false" workflowStatus="I" isImportable="true">
    <attributes>
      <attribute attributeId="7" name="Region" valueId="70" value="Global"/>
    </attributes>
    <level id="11" name="EMEA" currency="EUR" shortName="EM" isElimination="false"
           isLinked="false" workflowStatus="I" isImportable="true"/>
  </level>
</levels></output>"""


def test_levels_keep_their_attributes_as_a_list() -> None:
    rows = list(flatten(fromstring(LEVELS), BY_NAME["levels"]))
    assert [(r["name"], r["parent_id"]) for r in rows] == [("Master Corporate", None), ("EMEA", 10)]
    assert rows[0]["attributes"] == [
        {"attribute_id": 7, "name": "Region", "value_id": 70, "value": "Global"}
    ]
    assert rows[1]["attributes"] == []


DIMENSIONS = b"""<output><dimensions>
  <dimension id="1" name="Product" shortName="Prod" autoCreate="false" listDimension="true"
             keepSorted="true" useOnLevels="false" seqNo="1">
    <dimensionValue id="100" name="Hardware" description="" shortName="HW">
      <dimensionValue id="101" name="Laptops" description="Portable" shortName=""/>
    </dimensionValue>
  </dimension>
  <dimension id="2" name="Channel" shortName="Ch" autoCreate="true" listDimension="false"
             keepSorted="false" useOnLevels="true" seqNo="2">
    <dimensionValue id="100" name="Direct" description="" shortName=""/>
  </dimension>
</dimensions></output>"""


def test_dimensions_and_their_values_from_one_export() -> None:
    output = fromstring(DIMENSIONS)
    dimensions = list(flatten(output, BY_NAME["dimensions"]))
    assert [(d["id"], d["seq_no"], d["list_dimension"]) for d in dimensions] == [
        (1, 1, True),
        (2, 2, False),
    ]
    values = list(flatten(output, BY_NAME["dimension_values"]))
    assert [(v["dimension_id"], v["id"], v["parent_id"]) for v in values] == [
        (1, 100, None),
        (1, 101, 100),
        (2, 100, None),
    ]
    assert values[1]["description"] == "Portable"
    assert values[0]["description"] is None


def test_csv_unpivots_to_one_row_per_non_zero_cell() -> None:
    """Blank and zero cells are no row (whether a zero line is exported at all depends
    on the requested span)."""
    text = (
        "Account Name,Account Code,Level Name,Product,Channel,01/2025,02/2025,03/2025\n"
        'Revenue,4000,"Sales, EMEA",Laptops,,10.5,,0\n'
        "Cost,5000,Master Corporate,,,-20,1234.56,\n"
    )
    rows = list(unpivot("FY25 Plan", text))
    assert rows == [
        {
            "version": "FY25 Plan",
            "account_code": "4000",
            "level_name": "Sales, EMEA",
            "dimensions": {"Product": "Laptops"},
            "dimension_key": "Product=Laptops",
            "period": "2025-01",
            "value": 10.5,
        },
        {
            "version": "FY25 Plan",
            "account_code": "5000",
            "level_name": "Master Corporate",
            "dimensions": {},
            "dimension_key": "",
            "period": "2025-01",
            "value": -20.0,
        },
        {
            "version": "FY25 Plan",
            "account_code": "5000",
            "level_name": "Master Corporate",
            "dimensions": {},
            "dimension_key": "",
            "period": "2025-02",
            "value": 1234.56,
        },
    ]
    assert list(unpivot("v", "")) == []
    with pytest.raises(FatalAPIError, match="is not a number"):
        list(unpivot("v", "Account Name,Account Code,Level Name,01/2025\nA,1,L,n/a\n"))
    with pytest.raises(FatalAPIError, match="unexpected columns"):
        list(unpivot("v", "Name,Code,Level\n"))


def test_period_settings() -> None:
    assert month_index("2025-01", "start_period") == 2025 * 12
    assert month_index("12/2025", "end_period") == 2025 * 12 + 11
    for bad in ("2025-13", "2025", "Jan 2025"):
        with pytest.raises(ConfigValidationError, match="start_period"):
            month_index(bad, "start_period")
