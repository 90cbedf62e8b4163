"""tap-zengrc against the sandbox, run as a real process: faults, errors, increments."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import requests
from singer_sdk.exceptions import FatalAPIError

from dataops import singer_run
from dataops.sandbox import records, serve
from tap_zengrc.streams import COLLECTIONS
from tap_zengrc.tap import TapZenGRC

FAST_RETRIES = {"backoff_base_seconds": 0.01, "backoff_max_seconds": 2, "request_timeout": 2}


def run_tap(
    tmp_path: Path, config: dict[str, Any], state: dict | None = None
) -> tuple[int, list[dict], str]:
    done = singer_run.run_tap("tap-zengrc", tmp_path, config, state)
    return done.returncode, done.messages, done.stderr


def config_for(sandbox: Any, **extra: Any) -> dict[str, Any]:
    return {"base_url": sandbox.url, **sandbox.credentials, **FAST_RETRIES, **extra}


def records_by_stream(messages: list[dict]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = defaultdict(list)
    for message in messages:
        if message["type"] == "RECORD":
            found[message["stream"]].append(message["record"])
    return found


def test_every_object_arrives_through_every_kind_of_fault(tmp_path: Path) -> None:
    faults = (
        "429:0.08,429-bare:0.05,500:0.05,502:0.05,503:0.05,"
        "reset:0.05,truncate:0.05,html:0.05,stall:0.02"
    )
    with serve(
        "zengrc", seed=5, faults=faults, page_size=10, retry_after=0, stall_seconds=4
    ) as sandbox:
        code, messages, stderr = run_tap(tmp_path, config_for(sandbox))
        injected = sandbox.stats.snapshot()["faults"]
    assert code == 0, stderr[-3000:]
    truth = records("zengrc", seed=5)
    got = records_by_stream(messages)
    for stream in COLLECTIONS:
        ids = [r["id"] for r in got[stream]]
        assert sorted(ids) == [r["id"] for r in truth[stream]], stream
    assert sum(injected.values()) >= 30, injected
    assert set(injected) == {
        "429",
        "429-bare",
        "500",
        "502",
        "503",
        "reset",
        "truncate",
        "html",
        "stall",
    }


def test_messages_keep_singer_order_when_collections_run_concurrently(tmp_path: Path) -> None:
    with serve("zengrc", seed=6, page_size=7, latency_ms=5) as sandbox:
        code, parallel, stderr = run_tap(tmp_path, config_for(sandbox, max_parallel_streams=11))
        assert code == 0, stderr[-3000:]
        code, serial, stderr = run_tap(tmp_path, config_for(sandbox, max_parallel_streams=1))
        assert code == 0, stderr[-3000:]
    schema_seen: set[str] = set()
    for message in parallel:
        if message["type"] == "SCHEMA":
            schema_seen.add(message["stream"])
        elif message["type"] == "RECORD":
            assert message["stream"] in schema_seen, "RECORD before its SCHEMA"
    streams_in_order = [m["stream"] for m in parallel if m["type"] == "RECORD"]
    # Really interleaved: records of one collection do not all come in one block.
    switches = sum(1 for a, b in itertools.pairwise(streams_in_order) if a != b)
    assert switches > len(COLLECTIONS)
    assert records_by_stream(parallel) == records_by_stream(serial) or {
        s: sorted(r["id"] for r in rs) for s, rs in records_by_stream(parallel).items()
    } == {s: sorted(r["id"] for r in rs) for s, rs in records_by_stream(serial).items()}
    final_state = [m for m in parallel if m["type"] == "STATE"][-1]["value"]
    truth = records("zengrc", seed=6)
    for stream in COLLECTIONS:
        bookmark = final_state["bookmarks"][stream]
        assert "progress_markers" not in bookmark
        newest = max(r["updated_at"] for r in truth[stream])
        assert bookmark["replication_key_value"] == newest


def test_second_sync_emits_only_objects_changed_since_the_bookmark(tmp_path: Path) -> None:
    with serve("zengrc", seed=8, epoch=0) as sandbox:
        code, first, stderr = run_tap(tmp_path, config_for(sandbox))
    assert code == 0, stderr[-3000:]
    state = [m for m in first if m["type"] == "STATE"][-1]["value"]
    with serve("zengrc", seed=8, epoch=1) as sandbox:
        config = config_for(sandbox, lookback_seconds=0)
        code, second, stderr = run_tap(tmp_path, config, state=state)
    assert code == 0, stderr[-3000:]
    old = {s: {r["id"]: r for r in rs} for s, rs in records("zengrc", seed=8, epoch=0).items()}
    new = records("zengrc", seed=8, epoch=1)
    emitted = records_by_stream(second)
    for stream in COLLECTIONS:
        bookmark = state["bookmarks"][stream]["replication_key_value"]
        changed = {r["id"] for r in new[stream] if old[stream].get(r["id"]) != r}
        at_bookmark = {r["id"] for r in new[stream] if r["updated_at"] == bookmark}
        got = {r["id"] for r in emitted[stream]}
        assert changed, f"epoch 1 changes nothing in {stream}"
        assert changed <= got <= changed | at_bookmark, stream


def test_wrong_credentials_fail_clearly_without_leaking_them(tmp_path: Path) -> None:
    with serve("zengrc") as sandbox:
        config = config_for(sandbox, password="not-the-secret-xyz")
        code, _, stderr = run_tap(tmp_path, config)
    assert code != 0
    assert "refused the credentials (HTTP 401)" in stderr
    assert "TAP_ZENGRC_PASSWORD" in stderr
    assert "not-the-secret-xyz" not in stderr
    assert "Traceback" not in stderr
    # The first failure stops the sync: not every collection fails on its own.
    assert stderr.count("refused the credentials") < len(COLLECTIONS)


def test_wrong_base_url_fails_clearly(tmp_path: Path) -> None:
    with serve("zengrc") as sandbox:
        config = config_for(sandbox, base_url=sandbox.origin + "/api/v1")
        code, _, stderr = run_tap(tmp_path, config)
    assert code != 0
    assert "404" in stderr
    assert "base_url" in stderr


def test_unreachable_host_gives_up_after_bounded_retries(tmp_path: Path) -> None:
    with serve("zengrc") as sandbox:
        dead_url = sandbox.url  # the port is closed once the sandbox stops
        credentials = sandbox.credentials
    config = {"base_url": dead_url, **credentials, **FAST_RETRIES, "max_retries": 2}
    code, _, stderr = run_tap(tmp_path, config)
    assert code != 0
    assert "gave up after 3 attempts" in stderr


def test_next_page_link_to_another_host_is_refused() -> None:
    tap = TapZenGRC(
        config={"base_url": "https://acme.api.zengrc.com/api/v2", "username": "u", "password": "p"}
    )
    stream = tap.streams["audits"]
    response = requests.Response()
    response.status_code = 200
    response.headers["Content-Type"] = "application/json"
    response.request = requests.Request("GET", f"{stream.url_base}/audits").prepare()
    response._content = json.dumps(
        {"data": [], "links": {"next": {"href": "https://evil.example.com/api/v2/audits?c=1"}}}
    ).encode()
    stream.validate_response(response)
    with pytest.raises(FatalAPIError, match="another host"):
        stream.get_new_paginator().get_next(response)
