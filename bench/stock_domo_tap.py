"""The stock stack's tap for the EdCast benchmark: what the Singer SDK's REST template
gives for Domo's query API with the SDK's defaults, and nothing of tap-edcast.

One stream, the dataset's rows in LIMIT/OFFSET pages of 50,000 ordered by the key (the
spec's way to page), one page at a time; `requests` decodes each answer into Python
objects and each row is zipped into a record. Every column is a nullable string: Domo's
values do not always match their declared type (`""` in LONG columns), which a typed
schema would send to the loader as bad values. So the baseline does not move when
tap-edcast gets faster.

Run as `python -m bench.stock_domo_tap --config FILE` (the SDK's command line).
"""

from __future__ import annotations

import typing as t

import requests
from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.pagination import OffsetPaginator
from singer_sdk.streams import RESTStream

DATASET = "GlueGroupsG3GroupPerformanceDataExplorerStreams"
STREAM = "glue_groups_g3_group_performance_data_explorer"
KEYS = ["ECL ID", "Time", "Group Name"]
PAGE = 50_000


class UntilShortPage(OffsetPaginator):
    """Offsets until an answer holds fewer rows than a page."""

    def has_more(self, response: requests.Response) -> bool:
        return len(response.json()["rows"]) == self.page_size


class DatasetRows(RESTStream[int]):
    name = STREAM
    rest_method = "POST"
    primary_keys: t.ClassVar[list[str]] = KEYS

    def __init__(self, tap: Tap, dataset_id: str, columns: list[str], token: str) -> None:
        schema = {
            "type": "object",
            "properties": {c: {"type": ["string", "null"]} for c in columns},
        }
        super().__init__(tap, schema=schema, path=f"/v1/datasets/query/execute/{dataset_id}")
        self.token = token

    @property
    def url_base(self) -> str:
        return str(self.config["url_base"])

    @property
    def authenticator(self) -> BearerTokenAuthenticator:
        return BearerTokenAuthenticator(token=self.token)

    def get_new_paginator(self) -> UntilShortPage:
        return UntilShortPage(0, PAGE)

    def prepare_request_payload(self, context: t.Any, next_page_token: int | None) -> dict:
        order = ", ".join(f"`{key}`" for key in KEYS)
        offset = next_page_token or 0
        sql = f"SELECT * FROM table ORDER BY {order} LIMIT {PAGE} OFFSET {offset}"  # noqa: S608
        return {"sql": sql}

    def parse_response(self, response: requests.Response) -> t.Iterable[dict]:
        answer = response.json()
        for row in answer["rows"]:
            yield {
                column: None if value is None else str(value)
                for column, value in zip(answer["columns"], row, strict=True)
            }


class StockDomoTap(Tap):
    name = "tap-domo-stock"
    config_jsonschema = th.PropertiesList(
        th.Property("url_base", th.StringType, required=True),
        th.Property("username", th.StringType, required=True),
        th.Property("password", th.StringType, required=True, secret=True),
    ).to_dict()

    def discover_streams(self) -> list[Stream]:
        base = str(self.config["url_base"])
        token = requests.get(
            f"{base}/oauth/token",
            params={"grant_type": "client_credentials", "scope": "data"},
            auth=(self.config["username"], self.config["password"]),
            timeout=60,
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        listed = requests.get(
            f"{base}/v1/datasets", params={"nameLike": DATASET}, headers=headers, timeout=60
        ).json()
        dataset_id = next(d["id"] for d in listed if d["name"] == DATASET)
        sample = requests.post(
            f"{base}/v1/datasets/query/execute/{dataset_id}",
            json={"sql": "SELECT * FROM table LIMIT 1"},
            headers=headers,
            timeout=60,
        ).json()
        return [DatasetRows(self, dataset_id, sample["columns"], token)]


if __name__ == "__main__":
    StockDomoTap.cli()
