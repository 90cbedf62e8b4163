"""Adaptive's metadata exports as streams: nested XML flattened to rows with parent ids.

Every stream writes its SCHEMA only with its first record, so a loader creates no
empty table for what the account does not use (no dimensions, say). Every stream is
read whole each run and ends with ACTIVATE_VERSION, so what Adaptive no longer has
leaves the warehouse (``tapkit.versions``).
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from singer_sdk import typing as th
from typing_extensions import override

from tapkit.versions import VersionedStream

if t.TYPE_CHECKING:
    import xml.etree.ElementTree as ET
    from collections.abc import Iterable, Iterator

    from singer_sdk import Tap
    from singer_sdk.helpers import types
    from singer_sdk.helpers.types import Context

    from tap_adaptive.client import Exports

KINDS: dict[str, th.JSONTypeHelper] = {
    "int": th.IntegerType(),
    "str": th.StringType(),
    "optional_str": th.StringType(),  # an empty attribute is None
    "bool": th.BooleanType(),
}


def convert(value: str | None, kind: str, where: str) -> t.Any:
    """An XML attribute as its column's value: "" is None but for a ``str`` column."""
    if value is None or (value == "" and kind != "str"):
        return None
    if kind == "int":
        try:
            return int(value)
        except ValueError:
            msg = f"Adaptive sent {where}={value!r}, expected an integer"
            raise ValueError(msg) from None
    if kind == "bool":
        return value.strip().lower() == "true"
    return value


@dataclass(frozen=True)
class Field:
    attribute: str
    column: str
    kind: str = "str"


def fields(*specs: str) -> tuple[Field, ...]:
    """``"isLocked:is_locked:bool"`` → Field; the column and kind parts are optional."""
    result = []
    for spec in specs:
        attribute, column, kind = [*spec.split(":"), "", ""][:3]
        result.append(Field(attribute, column or attribute, kind or "str"))
    return tuple(result)


def row(element: ET.Element, spec: tuple[Field, ...], tag: str) -> dict[str, t.Any]:
    return {
        f.column: convert(element.get(f.attribute), f.kind, f"{tag}.{f.attribute}") for f in spec
    }


HAD_ROWS = "had_rows"
"""State key: the stream has sent records once, so its table exists downstream."""


class LazySchemaStream(VersionedStream):
    """Writes its SCHEMA message just before its first RECORD, never for no records —
    unless an earlier run sent rows that a full read must now remove."""

    _schema_pending = False

    @override
    def schema_due(self) -> None:
        self._schema_pending = True

    @override
    def record_due(self, record: types.Record) -> None:
        if self._schema_pending:
            self._schema_pending = False
            self.write_schema()
            self.stream_state[HAD_ROWS] = True
        self.write_record(record)

    @override
    def finish_read(self, context: Context | None) -> None:
        if self._schema_pending:  # nothing this run
            if not self.stream_state.get(HAD_ROWS):
                return  # no table downstream: nothing to remove
            self._schema_pending = False
            self.write_schema()
        super().finish_read(context)


@dataclass(frozen=True)
class Export:
    """One metadata stream: which call, which elements, which attributes."""

    stream: str
    method: str
    tag: str
    fields: tuple[Field, ...]
    key: tuple[str, ...] = ("id",)
    nested: bool = False
    """Elements nest (folders, groups, trees): rows get the ``parent_id`` of their parent."""
    container: str | None = None
    """For child rows (dimension values): the parent element's tag; rows get its id."""
    attributes: tuple[Field, ...] = ()
    """Fields of the ``<attributes><attribute …/>`` an element holds (levels): kept as
    a list in the row's ``attributes`` column."""


LEVEL_ATTRIBUTE = fields("attributeId:attribute_id:int", "name", "valueId:value_id:int", "value")
EXPORTS: tuple[Export, ...] = (
    Export(
        "versions",
        "exportVersions",
        "version",
        fields(
            "id::int",
            "name",
            "shortName:short_name:optional_str",
            "type",
            "isDefaultVersion:is_default_version:bool",
            "isLocked:is_locked:bool",
        ),
        nested=True,
    ),
    Export(
        "accounts",
        "exportAccounts",
        "account",
        fields(
            "id::int",
            "code",
            "name",
            "timeStratum:time_stratum",
            "displayAs:display_as",
            "accountTypeCode:account_type_code",
            "balanceType:balance_type",
            "dataPrivacy:data_privacy",
            "subType:sub_type:optional_str",
            "isGroup:is_group:bool",
        ),
        nested=True,
    ),
    Export(
        "levels",
        "exportLevels",
        "level",
        fields(
            "id::int",
            "name",
            "currency",
            "shortName:short_name:optional_str",
            "isElimination:is_elimination:bool",
            "isLinked:is_linked:bool",
            "workflowStatus:workflow_status",
            "isImportable:is_importable:bool",
        ),
        nested=True,
        attributes=LEVEL_ATTRIBUTE,
    ),
    Export(
        "dimensions",
        "exportDimensions",
        "dimension",
        fields(
            "id::int",
            "name",
            "shortName:short_name:optional_str",
            "autoCreate:auto_create:bool",
            "listDimension:list_dimension:bool",
            "keepSorted:keep_sorted:bool",
            "useOnLevels:use_on_levels:bool",
            "seqNo:seq_no:int",
        ),
    ),
    Export(
        "dimension_values",
        "exportDimensions",
        "dimensionValue",
        fields("id::int", "name", "description::optional_str", "shortName:short_name:optional_str"),
        key=("dimension_id", "id"),
        nested=True,
        container="dimension",
    ),
    Export(
        "users",
        "exportUsers",
        "user",
        fields("id::int", "login", "email", "fullName:full_name", "timeZone:time_zone"),
    ),
    Export(
        "time_periods",
        "exportTime",
        "period",
        fields(
            "code",
            "label",
            "shortName:short_name:optional_str",
            "stratum",
            "start",
            "end",
            "parentCode:parent_code:optional_str",
        ),
        key=("code",),
    ),
    Export(
        "attributes",
        "exportAttributes",
        "attribute",
        fields("id::int", "name", "type", "autoCreate:auto_create:bool"),
    ),
    Export(
        "currencies",
        "exportActiveCurrencies",
        "currency",
        fields(
            "code",
            "precision::int",
            "isReportingCurrency:is_reporting_currency:bool",
            "userDefined:user_defined:bool",
            "description",
        ),
        key=("code",),
    ),
)

EXPORT_BY_STREAM = {export.stream: export for export in EXPORTS}


def flatten(output: ET.Element, export: Export) -> Iterator[dict[str, t.Any]]:
    """The export's rows in document order (pre-order), each with its parent's id."""

    def walk(element: ET.Element, parent: int | None, extra: dict[str, t.Any]) -> Iterator[dict]:
        for child in element:
            if child.tag == export.container:
                yield from walk(
                    child, None, {"dimension_id": convert(child.get("id"), "int", "id")}
                )
            elif child.tag == export.tag:
                record = {**extra, **row(child, export.fields, export.tag)}
                if export.nested:
                    record["parent_id"] = parent
                if export.attributes:
                    found = child.find("attributes")
                    items = [] if found is None else found.findall("attribute")
                    record["attributes"] = [row(a, export.attributes, "attribute") for a in items]
                yield record
                yield from walk(child, record.get("id"), extra)
            else:  # a wrapper (<versions>, <dimensions>, a level's <attributes>)
                yield from walk(child, parent, extra)

    yield from walk(output, None, {})


def schema_of(export: Export) -> dict[str, t.Any]:
    properties = [th.Property(f.column, KINDS[f.kind]) for f in export.fields]
    if export.container == "dimension":
        properties.insert(0, th.Property("dimension_id", th.IntegerType()))
    if export.nested:
        properties.append(th.Property("parent_id", th.IntegerType()))
    if export.attributes:
        item = th.ObjectType(*(th.Property(f.column, KINDS[f.kind]) for f in export.attributes))
        properties.append(th.Property("attributes", th.ArrayType(item)))
    return th.PropertiesList(*properties).to_dict()


class ExportStream(LazySchemaStream):
    """A metadata export, read whole each run (FULL_TABLE) and merged on its key; what
    the export no longer lists is removed downstream."""

    @override
    def __init__(self, tap: Tap, export: Export, exports: Exports) -> None:
        super().__init__(tap, schema=schema_of(export), name=export.stream)
        self.export = export
        self.exports = exports
        self.primary_keys = list(export.key)

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        self.begin_read(context, full=True)
        yield from flatten(self.exports.output(self.export.method), self.export)
        self.finish_read(context)
