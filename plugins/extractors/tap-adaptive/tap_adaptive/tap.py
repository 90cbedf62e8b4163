"""tap-adaptive: Adaptive Planning (Adaptive Insights) metadata and plan data.

Streams: versions, accounts, levels, dimensions, dimension_values, users,
time_periods, attributes, currencies (one export call each, flattened), and
plan_data (``plan_data.py``). Each export is called once per run and shared by the
streams built from it.
"""

from __future__ import annotations

import typing as t
from functools import cached_property

from singer_sdk import typing as th
from typing_extensions import override

from tap_adaptive.client import AdaptiveClient, Exports
from tap_adaptive.plan_data import PLAN_DATA_EXPORTS, PlanDataStream
from tap_adaptive.streams import EXPORTS, ExportStream
from tapkit.concurrency import ConcurrentTap, sync_settings
from tapkit.http import api_url_setting, http_settings

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream


class TapAdaptive(ConcurrentTap):
    """Singer tap for Adaptive Planning's XML API (streams one at a time; a failure is
    reported as its clear message, see ``ConcurrentTap``)."""

    name = "tap-adaptive"

    config_jsonschema = th.PropertiesList(
        th.Property("username", th.StringType, required=True, secret=True, title="Adaptive login"),
        th.Property("password", th.StringType, required=True, secret=True),
        th.Property(
            "instance_code",
            th.StringType,
            description="Instance to use when the login has several (optional).",
        ),
        th.Property(
            "api_version",
            th.StringType,
            default="v38",
            description="Adaptive API version (v25 or later: rollup rules by name).",
        ),
        api_url_setting(
            "url_base",
            default="https://api.adaptiveinsights.com/api",
            description="Adaptive's XML API root.",
        ),
        th.Property("caller_name", th.StringType, default="data-ops-meltano"),
        th.Property(
            "start_period",
            th.StringType,
            default="2023-01",
            description="First month of plan data (YYYY-MM).",
        ),
        th.Property(
            "end_period",
            th.StringType,
            description="Last month of plan data (YYYY-MM); default: December of next year.",
        ),
        th.Property(
            "versions_include",
            th.ArrayType(th.StringType),
            description="Plan data only for these version names (default: every version).",
        ),
        th.Property(
            "versions_exclude",
            th.ArrayType(th.StringType),
            description="Version names whose plan data is not read.",
        ),
        th.Property(
            "accounts",
            th.ArrayType(th.StringType),
            description="Account codes to export, with descendants (default: top-level ones).",
        ),
        th.Property(
            "levels",
            th.ArrayType(th.StringType),
            description="Level names to export, with descendants (default: top-level ones).",
        ),
        th.Property(
            "include_rollups",
            th.BooleanType,
            default=True,
            description="Also export group accounts and rollup levels (their totals).",
        ),
        th.Property("months_per_request", th.IntegerType(minimum=1), default=12),
        th.Property(
            "max_parallel_requests",
            th.IntegerType(minimum=1),
            default=4,
            description="exportData calls at once (one version and time span each).",
        ),
        *http_settings(300, what="call"),
        *sync_settings(),
    ).to_dict()

    @cached_property
    def client(self) -> AdaptiveClient:
        return AdaptiveClient(self.config, self.logger)

    @cached_property
    def exports(self) -> Exports:
        """The export calls' outputs, shared by the streams built from them."""
        return Exports(self.client, int(self.config["max_parallel_requests"]), self._needed_exports)

    def _needed_exports(self) -> set[str]:
        """The export calls the selected streams are built from."""
        needed = {e.method for e in EXPORTS if self.streams[e.stream].selected}
        if self.streams["plan_data"].selected:
            needed |= set(PLAN_DATA_EXPORTS)
        return needed

    @override
    def discover_streams(self) -> list[Stream]:
        streams: list[Stream] = [ExportStream(self, export, self.exports) for export in EXPORTS]
        streams.append(PlanDataStream(self, self.client, self.exports))
        return streams


if __name__ == "__main__":
    TapAdaptive.cli()
