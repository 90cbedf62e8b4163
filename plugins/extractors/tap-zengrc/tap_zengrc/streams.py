"""The eleven ZenGRC v2 collections and their typed schemas (see the ZenGRC spec).

Every object shares the common fields; each collection adds its own. Nested
references stay objects (the loader keeps them as JSON), `custom_attributes` is an
open object because its keys are tenant-specific attribute ids.
"""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th

from tap_zengrc.scans import CollectionStream


def _ref() -> th.ObjectType:
    """A reference to another object: `{"id", "title", "type"}`."""
    return th.ObjectType(
        th.Property("id", th.IntegerType),
        th.Property("title", th.StringType),
        th.Property("type", th.StringType),
    )


def _person() -> th.ObjectType:
    """A person reference: `{"id", "name", "type": "Person"}`."""
    return th.ObjectType(
        th.Property("id", th.IntegerType),
        th.Property("name", th.StringType),
        th.Property("type", th.StringType),
    )


def _people() -> th.ArrayType:
    return th.ArrayType(_person())


def _mapped(*names: str) -> th.Property:
    """`mapped`: lists of references to related objects, by relation name (open: a
    tenant may map kinds of objects the spec does not list)."""
    relations = (th.Property(name, th.ArrayType(_ref())) for name in names)
    return th.Property(
        "mapped", th.ObjectType(*relations, additional_properties=th.ArrayType(_ref()))
    )


def _custom_attribute_value() -> th.JSONTypeHelper:
    """Tenant-defined values: text, number, flag or nothing."""
    return th.CustomType({"type": ["string", "number", "boolean", "null"]})


COMMON = th.PropertiesList(
    th.Property("id", th.IntegerType, required=True),
    th.Property("type", th.StringType),
    th.Property("code", th.StringType),
    th.Property("title", th.StringType),
    th.Property("description", th.StringType),
    th.Property("status", th.StringType),
    th.Property("created_at", th.DateTimeType),
    th.Property("updated_at", th.DateTimeType),
    th.Property(
        "custom_attributes",
        th.ObjectType(
            additional_properties=th.ObjectType(
                th.Property("id", th.IntegerType),
                th.Property("title", th.StringType),
                th.Property("value", _custom_attribute_value()),
            )
        ),
    ),
    th.Property(
        "links",
        th.ObjectType(th.Property("self", th.ObjectType(th.Property("href", th.StringType)))),
    ),
)

_DATES = ("start_date", "end_date")
_TAGS = th.Property("tags", th.ArrayType(th.StringType))

EXTRA_FIELDS: dict[str, list[th.Property]] = {
    "audits": [
        th.Property("audit_managers", _people()),
        th.Property("program", _ref()),
        *(th.Property(name, th.DateType) for name in _DATES),
        th.Property("report_period_start_date", th.DateType),
        th.Property("report_period_end_date", th.DateType),
        th.Property("sync_external_attachments", th.BooleanType),
        th.Property("sync_external_comments", th.BooleanType),
        _mapped("markets", "standards"),
    ],
    "assessments": [
        th.Property("assessors", _people()),
        th.Property("conclusion", th.StringType),
        th.Property("control", _ref()),
        *(th.Property(name, th.DateType) for name in _DATES),
        _mapped("audits"),
    ],
    "controls": [_mapped("objectives")],
    "objectives": [th.Property("os_state", th.StringType), _mapped()],
    "issues": [
        th.Property("notes", th.StringType),
        th.Property("stop_date", th.DateType),
        _TAGS,
        _mapped("audits", "controls", "programs", "standards"),
    ],
    "requests": [
        th.Property("assignees", _people()),
        th.Property("requesters", _people()),
        th.Property("audit", _ref()),
        *(th.Property(name, th.DateType) for name in (*_DATES, "stop_date", "due_date")),
        _TAGS,
        _mapped("controls", "issues", "programs"),
    ],
    "risks": [
        th.Property("risk_vector_score_values", th.ArrayType(th.ObjectType())),
        _mapped(),
    ],
    "programs": [
        *(th.Property(name, _people()) for name in ("editors", "managers", "readers")),
        th.Property("primary_contact", _person()),
        th.Property("secondary_contact", _person()),
        th.Property("reference_url", th.StringType),
        th.Property("url", th.StringType),
        th.Property("notes", th.StringType),
        _TAGS,
        th.Property("effective_date", th.DateType),
        th.Property("stop_date", th.DateType),
        _mapped("assessments", "issues", "org_groups", "requests", "risks", "standards", "systems"),
    ],
    "vendors": [
        th.Property("owners", _people()),
        th.Property("contact", _person()),
        th.Property("risk_rating", th.StringType),
        th.Property("secondary_contact", _person()),
        *(th.Property(name, th.DateType) for name in _DATES),
        th.Property("reference_url", th.StringType),
        th.Property("url", th.StringType),
        _mapped("data_assets", "facilities", "products", "systems", "tasks"),
    ],
    "people": [
        th.Property("name", th.StringType),
        th.Property("email", th.StringType),
        th.Property("first_name", th.StringType),
        th.Property("last_name", th.StringType),
        _mapped(),
    ],
    "systems": [
        th.Property("owners", _people()),
        th.Property("url", th.StringType),
        _mapped(),
    ],
}

COLLECTIONS = tuple(sorted(EXTRA_FIELDS))


def collection_stream(name: str) -> type[CollectionStream]:
    """The stream class of one collection, schema = common fields + its own."""
    properties = th.PropertiesList(*COMMON.wrapped.values(), *EXTRA_FIELDS[name])
    attributes: dict[str, t.Any] = {"name": name, "schema": properties.to_dict()}
    return type(f"{name.title()}Stream", (CollectionStream,), attributes)
