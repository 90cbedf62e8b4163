"""The page loop requests the next page while the current one's records are processed,
and otherwise yields what the SDK's loop yields, in the same order."""

from __future__ import annotations

import importlib.metadata
import json
import time
import typing as t
from unittest import mock

import pytest
import requests
from singer_sdk.exceptions import FatalAPIError
from singer_sdk.streams import RESTStream

from dataops.sandbox import serve
from tap_zengrc.streams import COLLECTIONS
from tap_zengrc.tap import TapZenGRC

if t.TYPE_CHECKING:
    from collections.abc import Generator


def tap_for(sandbox: t.Any) -> TapZenGRC:
    return TapZenGRC(config={"base_url": sandbox.url, **sandbox.credentials})


def test_the_same_records_in_the_same_order_as_the_sdks_loop() -> None:
    with serve("zengrc", seed=3, page_size=7) as sandbox:
        tap = tap_for(sandbox)
        for name in COLLECTIONS:
            stream = tap.streams[name]
            ours = list(stream.request_records(None))
            theirs = list(RESTStream.request_records(stream, None))
            assert ours == theirs, name
            assert len(ours) > 7, name  # several pages


def test_the_next_page_is_requested_before_this_pages_records_are_used() -> None:
    with serve("zengrc", seed=3, page_size=5, latency_ms=20) as sandbox:
        records = t.cast(
            "Generator[dict, None, None]", tap_for(sandbox).streams["audits"].request_records(None)
        )
        next(records)  # the first record of the first page, not yet processed
        deadline = time.monotonic() + 5
        while sandbox.stats.snapshot()["requests"] < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sandbox.stats.snapshot()["requests"] >= 2
        # Pages are fetched at most two ahead of the reader, and closing the loop
        # stops the fetching (after the request in flight).
        time.sleep(0.2)
        assert sandbox.stats.snapshot()["requests"] == 3
        records.close()
        stopped_at = sandbox.stats.snapshot()["requests"]
        time.sleep(0.2)
        assert sandbox.stats.snapshot()["requests"] == stopped_at == 3


def page(stream: t.Any, ids: list[int], next_href: str | None) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response.headers["Content-Type"] = "application/json"
    response.request = requests.Request("GET", f"{stream.url_base}/audits").prepare()
    links = {"next": {"href": next_href} if next_href else None}
    response._content = json.dumps({"data": [{"id": i} for i in ids], "links": links}).encode()
    stream.validate_response(response)
    return response


def test_a_paging_error_comes_after_the_records_of_the_page_that_carried_it() -> None:
    tap = TapZenGRC(
        config={"base_url": "https://acme.api.zengrc.com/api/v2", "username": "u", "password": "p"}
    )
    stream = tap.streams["audits"]
    pages = [
        page(stream, [1, 2], "/api/v2/audits?cursor=2"),
        page(stream, [], "/api/v2/audits?cursor=3"),  # empty, not the end
        page(stream, [3], "https://evil.example.com/api/v2/audits?cursor=3"),
    ]
    got: list[int] = []
    with (
        mock.patch.object(stream, "_request", side_effect=pages),
        pytest.raises(FatalAPIError, match="another host"),
    ):
        got.extend(record["id"] for record in stream.request_records(None))
    assert got == [1, 2, 3]


def test_a_failed_request_is_raised_in_the_reader_after_the_pages_before_it() -> None:
    tap = TapZenGRC(
        config={"base_url": "https://acme.api.zengrc.com/api/v2", "username": "u", "password": "p"}
    )
    stream = tap.streams["audits"]
    answers = [page(stream, [1, 2], "/api/v2/audits?cursor=2"), FatalAPIError("HTTP 400 for GET")]
    got: list[int] = []
    with (
        mock.patch.object(stream, "_request", side_effect=answers),
        pytest.raises(FatalAPIError, match="HTTP 400"),
    ):
        got.extend(record["id"] for record in stream.request_records(None))
    assert got == [1, 2]


def test_the_sdk_is_the_one_whose_loops_were_mirrored() -> None:
    """`ZenGRCStream.request_records` keeps singer-sdk 0.54.9's page loop (request
    counter, sync costs, paginator): on an upgrade, compare it with the new version's,
    then change this."""
    assert importlib.metadata.version("singer-sdk") == "0.54.9"
