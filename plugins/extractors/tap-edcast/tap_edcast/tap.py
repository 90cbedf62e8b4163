"""tap-edcast: EdCast learning analytics, read from Domo datasets through the Domo API."""

from __future__ import annotations

import re
import typing as t
from functools import cached_property

import duckdb
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError
from typing_extensions import override

from tap_edcast.client import DomoClient, decoded_json
from tap_edcast.normalise import classify
from tap_edcast.streams import DatasetSpec, DatasetsStream, DatasetStream, catalogue
from tapkit.concurrency import ConcurrentTap, sync_settings
from tapkit.http import api_url_setting, http_settings

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream

GLUE_GROUPS = {
    "name": "GlueGroupsG3GroupPerformanceDataExplorerStreams",
    "stream": "glue_groups_g3_group_performance_data_explorer",
    "replication_key": "Time",
    "primary_keys": ["ECL ID", "Time", "Group Name"],
}
BOOLEAN_COLUMNS = [
    "is_user_generated",
    "is_manager",
    "gitlab_internal",
    "is_public",
    "assigned_content",
]
ID_COLUMN_PATTERN = r"(^|[ _])(ID|Id|id)$"


class TapEdCast(ConcurrentTap):
    """Singer tap for EdCast analytics datasets in Domo (streams one at a time; a failure
    is reported as its clear message, see ``ConcurrentTap``)."""

    name = "tap-edcast"

    config_jsonschema = th.PropertiesList(
        th.Property("username", th.StringType, required=True, secret=True, title="Domo client id"),
        th.Property(
            "password", th.StringType, required=True, secret=True, title="Domo client secret"
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            default="1900-01-01T00:00:00Z",
            description="Read rows from this instant on (first sync; later: the bookmark).",
        ),
        th.Property(
            "end_date",
            th.DateTimeType,
            default="2030-01-01T00:00:00Z",
            description="Read rows before this instant.",
        ),
        api_url_setting("url_base", default="https://api.domo.com", description="Domo's API root."),
        th.Property(
            "datasets",
            th.ArrayType(
                th.ObjectType(
                    th.Property(
                        "name", th.StringType, required=True, description="Domo dataset name"
                    ),
                    th.Property("stream", th.StringType, required=True),
                    th.Property("replication_key", th.StringType, required=True),
                    th.Property("primary_keys", th.ArrayType(th.StringType), required=True),
                )
            ),
            default=[GLUE_GROUPS],
            description="Datasets to sync, each as one stream.",
        ),
        th.Property(
            "boolean_columns",
            th.ArrayType(th.StringType),
            default=BOOLEAN_COLUMNS,
            description="Columns whose 1/0, t/f, true/false spellings become booleans.",
        ),
        th.Property(
            "id_column_pattern",
            th.StringType,
            default=ID_COLUMN_PATTERN,
            description="Numeric columns whose names match hold integer IDs (460679.0 → 460679).",
        ),
        th.Property(
            "page_size",
            th.IntegerType(minimum=1),
            default=50000,
            description=(
                "Rows per query page (below Domo's ~1M result cap); the dataset is read "
                "in ranges of this many rows."
            ),
        ),
        th.Property(
            "max_parallel_pages",
            th.IntegerType(minimum=1),
            default=4,
            description="Ranges (query pages) read at once.",
        ),
        th.Property(
            "memory_limit",
            th.StringType,
            default="256MB",
            title="DuckDB memory limit",
            description=(
                "Working memory of the DuckDB that parses and converts the query answers"
                " (all pages in flight together); it spills to a temporary directory beyond"
                " it. Keeps the tap's peak RSS flat whatever the dataset's size"
                " (docs/benchmarks.md, memory_growth)."
            ),
        ),
        *http_settings(300),
        *sync_settings(),
    ).to_dict()

    @cached_property
    def client(self) -> DomoClient:
        return DomoClient(self.config, self.logger)

    @override
    def discover_streams(self) -> list[Stream]:
        """The catalogue, plus one stream per configured dataset, typed from Domo's metadata."""
        try:
            pattern = re.compile(str(self.config["id_column_pattern"]))
        except re.error as exc:
            msg = f"tap-edcast `id_column_pattern` is not a regular expression: {exc}"
            raise ConfigValidationError(msg, errors=[msg]) from exc
        try:
            with duckdb.connect() as probe:
                probe.execute("SET memory_limit = ?", [str(self.config["memory_limit"])])
        except duckdb.Error as exc:
            msg = f"tap-edcast `memory_limit`: {exc} (e.g. 256MB, 1GB)"
            raise ConfigValidationError(msg, errors=[msg]) from exc
        booleans = frozenset(self.config["boolean_columns"])
        streams: list[Stream] = [DatasetsStream(self)]
        for entry in self.config["datasets"]:
            spec = DatasetSpec(**entry)
            dataset_id = self._dataset_id(spec.name)
            sample = self.client.call(
                "POST",
                f"/v1/datasets/query/execute/{dataset_id}",
                json={"sql": "SELECT * FROM table LIMIT 1"},
                accept=decoded_json,
            )
            columns = classify(sample["columns"], sample["metadata"], booleans, pattern)
            streams.append(DatasetStream(self, spec, dataset_id, columns))
        return streams

    def _dataset_id(self, name: str) -> str:
        matches = [d["id"] for d in catalogue(self.client, name_like=name) if d["name"] == name]
        if len(matches) != 1:
            found = "no dataset" if not matches else f"{len(matches)} datasets"
            msg = f"tap-edcast `datasets`: Domo has {found} named {name!r}; check the name"
            raise FatalAPIError(msg)
        return str(matches[0])


if __name__ == "__main__":
    TapEdCast.cli()
