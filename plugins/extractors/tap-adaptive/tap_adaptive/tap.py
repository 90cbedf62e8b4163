"""tap-adaptive: Adaptive Planning (Adaptive Insights) metadata and plan data.

Streams: versions, accounts, levels, dimensions, dimension_values, users,
time_periods, attributes, currencies (one export call each, flattened), and
plan_data (``plan_data.py``). Each export is called once per run and shared by the
streams built from it.
"""

from __future__ import annotations

import threading
import typing as t
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property

from singer_sdk import typing as th

from tap_adaptive.client import AdaptiveClient
from tap_adaptive.plan_data import PLAN_DATA_EXPORTS, PlanDataStream
from tap_adaptive.streams import EXPORTS, ExportStream
from tapkit.backfill import backfill_setting
from tapkit.concurrency import ConcurrentTap
from tapkit.retry import retry_settings
from tapkit.schemas import schema_policy_setting

if t.TYPE_CHECKING:
    import xml.etree.ElementTree as ET

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
        th.Property("url_base", th.StringType, default="https://api.adaptiveinsights.com/api"),
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
        th.Property("months_per_request", th.IntegerType, default=12),
        th.Property(
            "max_parallel_requests",
            th.IntegerType,
            default=4,
            description="exportData calls at once (one version and time span each).",
        ),
        th.Property("request_timeout", th.IntegerType, default=300),
        *retry_settings(what="call"),
        schema_policy_setting(),
        backfill_setting(),
    ).to_dict()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        self._exports: dict[str, ET.Element] = {}
        self._exports_lock = threading.Lock()
        self._prefetched = False
        super().__init__(*args, **kwargs)

    @cached_property
    def client(self) -> AdaptiveClient:
        return AdaptiveClient(self.config, self.logger)

    def exported(self, method: str) -> ET.Element:
        """The output of one export call, made once per run (all at once: see below)."""
        self._prefetch()
        with self._exports_lock:
            if method not in self._exports:
                self._exports[method] = self.client.call(method)
            return self._exports[method]

    def _prefetch(self) -> None:
        """Make every export call the selected streams need, at the same time, once:
        each is a round trip, and streams are synced one after another."""
        with self._exports_lock:
            if self._prefetched:
                return
            self._prefetched = True
        needed = {e.method for e in EXPORTS if self.streams[e.stream].selected}
        if self.streams["plan_data"].selected:
            needed |= set(PLAN_DATA_EXPORTS)
        workers = max(1, int(self.config["max_parallel_requests"]))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="export") as pool:
            answers = dict(zip(needed, pool.map(self.client.call, needed), strict=True))
        with self._exports_lock:
            self._exports.update(answers)

    def discover_streams(self) -> list[Stream]:
        streams: list[Stream] = [ExportStream(self, export) for export in EXPORTS]
        streams.append(PlanDataStream(self, self.client))
        return streams


if __name__ == "__main__":
    TapAdaptive.cli()
