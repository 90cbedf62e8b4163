"""tap-edcast against the Domo sandbox, run as a real process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from dataops import singer_run
from dataops.sandbox import records, serve
from dataops.verify import normalise, same

GLUE = "glue_groups_g3_group_performance_data_explorer"
KEY = ["ECL ID", "Time", "Group Name"]
USERS = {
    "name": "EdCastUsers",
    "stream": "edcast_users",
    "replication_key": "Updated At",
    "primary_keys": ["User ID"],
}
DEFAULT = [
    {
        "name": "GlueGroupsG3GroupPerformanceDataExplorerStreams",
        "stream": GLUE,
        "replication_key": "Time",
        "primary_keys": KEY,
    }
]

FAST = {"backoff_base_seconds": 0.01, "backoff_max_seconds": 1, "request_timeout": 5}


def run_tap(
    tmp_path: Path, config: dict[str, Any], state: dict | None = None
) -> tuple[int, list[dict], str]:
    done = singer_run.run_tap("tap-edcast", tmp_path, config, state)
    return done.returncode, done.messages, done.stderr


def config_for(sandbox: Any, **extra: Any) -> dict[str, Any]:
    return {"url_base": sandbox.url, **sandbox.credentials, **FAST, **extra}


def last_per_key(messages: list[dict], stream: str, key: list[str]) -> dict[tuple, dict]:
    """What a merge on `key` keeps: the last record of each key."""
    kept: dict[tuple, dict] = {}
    for message in messages:
        if message["type"] == "RECORD" and message["stream"] == stream:
            record = message["record"]
            kept[tuple(normalise(record[k]) for k in key)] = record
    return kept


def assert_equal_to_truth(kept: dict[tuple, dict], truth: list[dict], key: list[str]) -> None:
    expected = {tuple(normalise(row[k]) for k in key): row for row in truth}
    assert kept.keys() == expected.keys()
    for row_key, row in expected.items():
        got = kept[row_key]
        for name, value in row.items():
            assert same(normalise(got.get(name)), normalise(value)), (
                row_key,
                name,
                got.get(name),
                value,
            )


def test_records_are_the_clean_values_of_every_event(tmp_path: Path) -> None:
    with serve("edcast", seed=3) as sandbox:
        code, messages, stderr = run_tap(
            tmp_path, config_for(sandbox, page_size=450, datasets=[{**USERS}, *DEFAULT])
        )
    assert code == 0, stderr[-3000:]
    truth = records("edcast", seed=3)
    assert_equal_to_truth(last_per_key(messages, GLUE, KEY), truth[GLUE], KEY)
    assert_equal_to_truth(
        last_per_key(messages, "edcast_users", ["User ID"]), truth["edcast_users"], ["User ID"]
    )
    datasets = [
        m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == "datasets"
    ]
    assert sorted(d["id"] for d in datasets) == sorted(d["id"] for d in truth["datasets"])


def test_every_event_arrives_through_faults_token_expiry_and_a_result_cap(tmp_path: Path) -> None:
    faults = "429:0.05,500:0.05,503:0.05,reset:0.03,truncate:0.03,html:0.03,query-error:0.1"
    with serve(
        "edcast",
        seed=5,
        faults=faults,
        retry_after=0,
        token_ttl_seconds=1,
        max_result_rows=300,
        # Discovery alone (catalogue, sample, count: one after another) outlasts a token.
        latency_ms=250,
    ) as sandbox:
        code, messages, stderr = run_tap(tmp_path, config_for(sandbox, page_size=400))
        injected = sandbox.stats.snapshot()["faults"]
    assert code == 0, stderr[-3000:]
    assert "query-error" in injected, injected
    assert sum(injected.values()) >= 10, injected
    # Tokens live 1 s: the sync needed several (refreshed before expiry or after a 401).
    assert stderr.count("Domo access token obtained") >= 2
    assert_equal_to_truth(last_per_key(messages, GLUE, KEY), records("edcast", seed=5)[GLUE], KEY)


def test_batch_files_hold_the_same_rows_as_records(tmp_path: Path) -> None:
    batch_config = {
        "encoding": {"format": "parquet", "compression": "none"},
        "storage": {"root": (tmp_path / "batches").as_uri(), "prefix": "t-"},
    }
    with serve("edcast", seed=6) as sandbox:
        code, messages, stderr = run_tap(
            tmp_path, config_for(sandbox, page_size=500, batch_config=batch_config)
        )
    assert code == 0, stderr[-3000:]
    files = [
        url.removeprefix("file://")
        for m in messages
        if m["type"] == "BATCH" and m["stream"] == GLUE
        for url in m["manifest"]
    ]
    assert len(files) >= 4
    rows: list[dict] = []
    for path in files:
        rows.extend(pq.read_table(path).to_pylist())
    kept = {tuple(normalise(r[k]) for k in KEY): r for r in rows}
    assert_equal_to_truth(kept, records("edcast", seed=6)[GLUE], KEY)
    final_state = [m for m in messages if m["type"] == "STATE"][-1]["value"]
    newest = max(r["Time"] for r in rows)
    assert normalise(final_state["bookmarks"][GLUE]["replication_key_value"]) == normalise(newest)


@pytest.mark.parametrize("mode", ["records", "batch"])
def test_second_sync_reads_only_events_from_the_bookmark_on(tmp_path: Path, mode: str) -> None:
    batches = {"encoding": {"format": "parquet"}, "storage": {"root": tmp_path.as_uri()}}
    extra = {"batch_config": batches} if mode == "batch" else {}
    with serve("edcast", seed=7, epoch=0) as sandbox:
        code, first, stderr = run_tap(tmp_path, config_for(sandbox, **extra))
    assert code == 0, stderr[-3000:]
    state = [m for m in first if m["type"] == "STATE"][-1]["value"]
    bookmark = state["bookmarks"][GLUE]["replication_key_value"]
    with serve("edcast", seed=7, epoch=1) as sandbox:
        code, second, stderr = run_tap(tmp_path, config_for(sandbox, **extra), state=state)
    assert code == 0, stderr[-3000:]
    sent = [m["record"] for m in second if m["type"] == "RECORD" and m["stream"] == GLUE]
    for message in second:
        if message["type"] == "BATCH" and message["stream"] == GLUE:
            for url in message["manifest"]:
                sent.extend(pq.read_table(url.removeprefix("file://")).to_pylist())
    truth = records("edcast", seed=7, epoch=1)[GLUE]
    newer = [row for row in truth if normalise(row["Time"]) >= normalise(bookmark)]
    assert 0 < len(sent) < len(truth)
    assert {tuple(normalise(r[k]) for k in KEY) for r in sent} == {
        tuple(normalise(r[k]) for k in KEY) for r in newer
    }


def test_wrong_credentials_fail_clearly_without_leaking_them(tmp_path: Path) -> None:
    with serve("edcast") as sandbox:
        code, _, stderr = run_tap(tmp_path, config_for(sandbox, password="not-it-xyz"))
    assert code != 0
    assert "Domo refused the client credentials" in stderr
    assert "not-it-xyz" not in stderr


def test_unknown_dataset_fails_clearly(tmp_path: Path) -> None:
    with serve("edcast") as sandbox:
        missing = {**DEFAULT[0], "name": "NoSuchDataset"}
        code, _, stderr = run_tap(tmp_path, config_for(sandbox, datasets=[missing]))
    assert code != 0
    assert "Domo has no dataset named 'NoSuchDataset'" in stderr


@pytest.mark.parametrize("bad_key", [["Nope"], ["ECL ID", "Tiem"]])
def test_keys_missing_from_the_dataset_fail_clearly(tmp_path: Path, bad_key: list[str]) -> None:
    with serve("edcast") as sandbox:
        entry = {**DEFAULT[0], "primary_keys": bad_key}
        code, _, stderr = run_tap(tmp_path, config_for(sandbox, datasets=[entry]))
    assert code != 0
    assert "are not in the dataset" in stderr


def test_runs_can_switch_between_record_and_batch_mode(tmp_path: Path) -> None:
    batches = {"encoding": {"format": "parquet"}, "storage": {"root": tmp_path.as_uri()}}
    state: dict | None = None
    bookmarks = []
    with serve("edcast", seed=8) as sandbox:
        for extra in ({}, {"batch_config": batches}, {}, {"batch_config": batches}):
            code, messages, stderr = run_tap(tmp_path, config_for(sandbox, **extra), state=state)
            assert code == 0, stderr[-3000:]
            state = [m for m in messages if m["type"] == "STATE"][-1]["value"]
            bookmarks.append(state["bookmarks"][GLUE]["replication_key_value"])
    assert len(set(bookmarks)) == 1, bookmarks  # one bookmark, written one way
