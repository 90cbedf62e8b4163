"""tap-adaptive against the Adaptive simulator, run as a real process."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from dataops import singer_run
from dataops.sandbox import records, serve
from dataops.verify import normalise, same

SEED = 9
FAST = {"backoff_base_seconds": 0.01, "backoff_max_seconds": 0.2, "request_timeout": 5}
KEYS = {
    "versions": ["id"],
    "accounts": ["id"],
    "levels": ["id"],
    "dimensions": ["id"],
    "dimension_values": ["dimension_id", "id"],
    "users": ["id"],
    "time_periods": ["code"],
    "attributes": ["id"],
    "currencies": ["code"],
    "plan_data": ["version", "account_code", "level_name", "dimension_key", "period"],
}


def config_for(sandbox: Any, **extra: Any) -> dict[str, Any]:
    return {
        "url_base": sandbox.url,
        "username": sandbox.credentials["username"],
        "password": sandbox.credentials["password"],
        "end_period": "2026-12",
        **FAST,
        **extra,
    }


def run_tap(tmp_path: Path, config: dict[str, Any], state: dict | None = None) -> singer_run.TapRun:
    return singer_run.run_tap("tap-adaptive", tmp_path, config, state)


def merged(messages: list[dict], into: dict | None = None) -> dict[str, dict[tuple, dict]]:
    kept: dict[str, dict[tuple, dict]] = into if into is not None else {}
    for message in messages:
        if message["type"] == "RECORD":
            stream, record = message["stream"], message["record"]
            kept.setdefault(stream, {})[tuple(record[k] for k in KEYS[stream])] = record
    return kept


def assert_equal_to_truth(kept: dict[str, dict[tuple, dict]], epoch: int) -> None:
    truth = records("adaptive", seed=SEED, epoch=epoch)
    assert set(truth) == set(KEYS)
    for stream, rows in truth.items():
        expected = {tuple(row[k] for k in KEYS[stream]): row for row in rows}
        got = kept.get(stream, {})
        assert got.keys() == expected.keys(), stream
        for key, row in expected.items():
            assert same(normalise(got[key]), normalise(row)), (stream, key, got[key], row)


def last_state(messages: list[dict]) -> dict:
    return [m for m in messages if m["type"] == "STATE"][-1]["value"]


def test_every_stream_equals_truth_through_faults(tmp_path: Path) -> None:
    faults = "429:0.05,500:0.05,503:0.05,reset:0.03,truncate:0.03,html:0.03"
    with serve("adaptive", seed=SEED, faults=faults, retry_after=0) as sandbox:
        done = run_tap(tmp_path, config_for(sandbox))
        injected = sandbox.stats.snapshot()["faults"]
    assert done.returncode == 0, done.stderr[-3000:]
    assert sum(injected.values()) > 0, injected
    assert_equal_to_truth(merged(done.messages), epoch=0)


def test_locked_versions_are_read_once_and_the_rest_merged(tmp_path: Path) -> None:
    with serve("adaptive", seed=SEED) as sandbox:
        first = run_tap(tmp_path, config_for(sandbox))
    assert first.returncode == 0, first.stderr[-3000:]
    kept = merged(first.messages)
    state = last_state(first.messages)
    versions = {v["name"]: v for v in records("adaptive", seed=SEED)["versions"]}
    locked = {v["id"] for v in versions.values() if v["is_locked"]}
    assert locked
    assert set(state["bookmarks"]["plan_data"]["locked_versions_loaded"]) == locked

    with serve("adaptive", seed=SEED, epoch=1) as sandbox:
        second = run_tap(tmp_path, config_for(sandbox), state=state)
    assert second.returncode == 0, second.stderr[-3000:]
    read = Counter(
        m["record"]["version"]
        for m in second.messages
        if m["type"] == "RECORD" and m["stream"] == "plan_data"
    )
    assert not {name for name, v in versions.items() if v["id"] in locked} & set(read)
    assert "is locked and loaded; skipped" in second.stderr
    assert_equal_to_truth(merged(second.messages, kept), epoch=1)


def test_no_schema_for_a_stream_without_rows(tmp_path: Path) -> None:
    """A loader creates no empty table: an unused stream sends no SCHEMA at all."""
    with serve("adaptive", seed=SEED) as sandbox:
        names = [
            v["name"]
            for v in records("adaptive", seed=SEED)["versions"]
            if v["type"] != "VERSION_FOLDER"
        ]
        done = run_tap(tmp_path, config_for(sandbox, versions_exclude=names))
    assert done.returncode == 0, done.stderr[-3000:]
    schemas = {m["stream"] for m in done.messages if m["type"] == "SCHEMA"}
    assert "plan_data" not in schemas
    assert "versions" in schemas


def test_wrong_credentials_fail_clearly_without_leaking_them(tmp_path: Path) -> None:
    with serve("adaptive", seed=SEED) as sandbox:
        done = run_tap(tmp_path, config_for(sandbox, password="not-it-xyz"))
    assert done.returncode != 0
    assert "Adaptive refused the credentials" in done.stderr
    assert "not-it-xyz" not in done.stderr
    assert "Traceback" not in done.stderr


def test_unknown_version_names_fail_clearly(tmp_path: Path) -> None:
    with serve("adaptive", seed=SEED) as sandbox:
        done = run_tap(tmp_path, config_for(sandbox, versions_include=["No Such Plan"]))
    assert done.returncode != 0
    assert "no version ['No Such Plan']" in done.stderr
    assert "Traceback" not in done.stderr
