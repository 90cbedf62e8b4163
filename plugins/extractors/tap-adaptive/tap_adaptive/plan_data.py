"""Plan data: ``exportData`` per (version, time span), its CSV unpivoted to one row per cell.

The unit of work is one version over ``months_per_request`` months, filtered to the
chosen accounts and levels (Adaptive warns that an unfiltered export is slow); up to
``max_parallel_requests`` run at once and their rows are passed on in task order.

A row is a cell holding a non-zero number. ``includeZeroRows="false"`` drops a line
whose cells are all blank or zero within the requested span, so a zero cell would be a
row for some spans and not for others: with zeros left out, every split of the work
yields the same rows.

Every version is read whole every run, locked ones included, and the run ends with
ACTIVATE_VERSION: cells blanked, zeroed or cleared in Adaptive, and versions deleted
or no longer selected, leave the warehouse. (Skipping locked versions would make the
activation delete their rows; see docs/reliability.md.)
"""

from __future__ import annotations

import csv
import io
import re
import typing as t
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError
from typing_extensions import override

from tap_adaptive.streams import EXPORT_BY_STREAM, LazySchemaStream, flatten
from tapkit.parallel import ordered_map

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_adaptive.client import AdaptiveClient, Exports

PLAN_DATA_EXPORTS = ("exportVersions", "exportAccounts", "exportLevels")
"""The exports plan_data is planned from (versions; default account and level filters)."""
FIXED_COLUMNS = ("Account Name", "Account Code", "Level Name")
_MONTH_HEADER = re.compile(r"(\d{2})/(\d{4})")
_PERIOD_SETTING = re.compile(r"(\d{4})-(\d{2})|(\d{2})/(\d{4})")


def month_index(setting: str, name: str) -> int:
    """``2025-01`` or ``01/2025`` as a month count (year * 12 + month - 1)."""
    match = _PERIOD_SETTING.fullmatch(str(setting).strip())
    if match is None:
        msg = f"tap-adaptive `{name}` must be YYYY-MM (e.g. 2025-01), got {setting!r}"
        raise ConfigValidationError(msg, errors=[msg])
    year, month = (match[1], match[2]) if match[1] else (match[4], match[3])
    if not 1 <= int(month) <= 12:
        msg = f"tap-adaptive `{name}`: no month {month} in {setting!r}"
        raise ConfigValidationError(msg, errors=[msg])
    return int(year) * 12 + int(month) - 1


def adaptive_month(index: int) -> str:
    return f"{index % 12 + 1:02d}/{index // 12}"


@dataclass(frozen=True)
class Task:
    version: str
    start: str
    end: str


def unpivot(version: str, text: str) -> Iterator[dict[str, t.Any]]:
    """The rows of one exportData CSV: one per month cell holding a non-zero number."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        return
    if tuple(header[:3]) != FIXED_COLUMNS:
        msg = f"Adaptive exportData for {version!r}: unexpected columns {header[:3]}"
        raise FatalAPIError(msg)
    months = [i for i, name in enumerate(header) if _MONTH_HEADER.fullmatch(name)]
    first_month = months[0] if months else len(header)
    dimension_names = header[3:first_month]
    periods = {i: f"{header[i][3:]}-{header[i][:2]}" for i in months}
    for line in reader:
        if not line:
            continue
        dims = {n: v for n, v in zip(dimension_names, line[3:first_month], strict=True) if v}
        base = {
            "version": version,
            "account_code": line[1],
            "level_name": line[2],
            "dimensions": dims,
            "dimension_key": "|".join(f"{n}={v}" for n, v in dims.items()),
        }
        for i, period in periods.items():
            cell = line[i].strip() if i < len(line) else ""
            if not cell:
                continue
            try:
                value = float(Decimal(cell))
            except InvalidOperation:
                msg = f"Adaptive exportData {version!r} {line[1]}/{line[2]} {period}: {cell!r}"
                raise FatalAPIError(msg + " is not a number") from None
            if value != 0:
                yield {**base, "period": period, "value": value}


class PlanDataStream(LazySchemaStream):
    """``plan_data``: (version, account, level, dimensions, month) → value."""

    name = "plan_data"
    primary_keys: t.ClassVar[list[str]] = [
        "version",
        "account_code",
        "level_name",
        "dimension_key",
        "period",
    ]
    schema = th.PropertiesList(
        th.Property("version", th.StringType, required=True),
        th.Property("account_code", th.StringType, required=True),
        th.Property("level_name", th.StringType, required=True),
        th.Property("dimensions", th.ObjectType(additional_properties=th.StringType)),
        th.Property("dimension_key", th.StringType, required=True),
        th.Property("period", th.StringType, required=True, description="YYYY-MM"),
        th.Property("value", th.NumberType),
    ).to_dict()

    @override
    def __init__(self, tap: Tap, client: AdaptiveClient, exports: Exports) -> None:
        super().__init__(tap)
        self.client = client
        self.exports = exports

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        self.begin_read(context, full=True)
        yield from self._rows()
        self.finish_read(context)

    def _rows(self) -> Iterator[dict[str, t.Any]]:
        workers = int(self.config["max_parallel_requests"])
        accounts, levels = self._filters()

        def export(task: Task) -> tuple[str, str]:
            return task.version, self._export(task, accounts, levels)

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="plan-data") as pool:
            # workers + 1 answers at most wait beside the one unpivoted; rows leave in task order.
            for version, text in ordered_map(pool, export, self._tasks(), workers + 1):
                yield from unpivot(version, text)

    def _tasks(self) -> Iterator[Task]:
        versions = [
            v
            for v in flatten(self.exports.output("exportVersions"), EXPORT_BY_STREAM["versions"])
            if v["type"] != "VERSION_FOLDER"
        ]
        include = set(self.config.get("versions_include") or [])
        exclude = set(self.config.get("versions_exclude") or [])
        unknown = (include | exclude) - {v["name"] for v in versions}
        if unknown:
            msg = (
                f"tap-adaptive `versions_include`/`versions_exclude`: no version {sorted(unknown)}"
            )
            raise ConfigValidationError(msg, errors=[msg])
        first = month_index(self.config["start_period"], "start_period")
        end = self.config.get("end_period") or f"{datetime.now(UTC).year + 1}-12"
        last = month_index(end, "end_period")
        if last < first:
            msg = "tap-adaptive `end_period` is before `start_period`"
            raise ConfigValidationError(msg, errors=[msg])
        step = int(self.config["months_per_request"])
        for version in versions:
            if (include and version["name"] not in include) or version["name"] in exclude:
                continue
            for start in range(first, last + 1, step):
                yield Task(
                    version["name"],
                    adaptive_month(start),
                    adaptive_month(min(start + step - 1, last)),
                )

    def _filters(self) -> tuple[list[str], list[str]]:
        """Account codes and level names to export (each with its descendants)."""
        accounts = list(self.config.get("accounts") or [])
        if not accounts:
            tops = self.exports.output("exportAccounts").find("accounts")
            accounts = [a.get("code", "") for a in (tops if tops is not None else [])]
        levels = list(self.config.get("levels") or [])
        if not levels:
            tops = self.exports.output("exportLevels").find("levels")
            levels = [level.get("name", "") for level in (tops if tops is not None else [])]
        return accounts, levels

    def _export(self, task: Task, accounts: list[str], levels: list[str]) -> str:
        rollups = "true" if self.config["include_rollups"] else "false"
        version = ET.Element("version", name=task.version, isDefault="false")
        layout = ET.Element("format", useInternalCodes="true", includeUnmappedItems="false")
        filters = ET.Element("filters")
        account_filter = ET.SubElement(filters, "accounts")
        for code in accounts:
            ET.SubElement(
                account_filter,
                "account",
                code=code,
                isAssumption="false",
                includeDescendants="true",
            )
        level_filter = ET.SubElement(filters, "levels")
        for name in levels:
            ET.SubElement(
                level_filter, "level", name=name, isRollup=rollups, includeDescendants="true"
            )
        ET.SubElement(filters, "timeSpan", start=task.start, end=task.end)
        rules = ET.Element(
            "rules",
            includeZeroRows="false",
            includeRollupAccounts=rollups,
            includeRollupLevels=rollups,
            markInvalidValues="false",
            markBlanks="false",
            timeRollups="false",
        )
        output = self.client.call("exportData", version, layout, filters, rules)
        return output.text or ""
