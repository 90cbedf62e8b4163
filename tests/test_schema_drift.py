"""Schema drift end to end: real `meltano schedule run edcast-to-duckdb` against the
EdCast sandbox served with `drift_at`, where a users column is renamed and another
retyped at epoch 2. Under `freeze` the run stops before loading anything and says which
columns; under `evolve` it loads them; `dataops status` reports the change, the watchdog
announces it once, and a resync of the stream brings the whole table to the new shape."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dataops import project, verify, warehouse
from dataops.sandbox import serve
from dataops.sandbox.edcast import truth_table
from dataops.sandbox.vendor import DataParams

DATAOPS = str(Path(project.meltano_executable()).with_name("dataops"))
SCHEDULE = "edcast-to-duckdb"
SEED, DRIFT_AT = 41, 2
USERS = "edcast_users"
EVENTS = "glue_groups_g3_group_performance_data_explorer"
DATASETS = [
    {
        "name": "GlueGroupsG3GroupPerformanceDataExplorerStreams",
        "stream": EVENTS,
        "replication_key": "Time",
        "primary_keys": ["ECL ID", "Time", "Group Name"],
    },
    {
        "name": "EdCastUsers",
        "stream": USERS,
        "replication_key": "Updated At",
        "primary_keys": ["User ID"],
    },
]
CHANGES = [
    "added Display Name (string)",
    "retyped Sign-in Count: integer → string",
    "removed Full Name (string)",
]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **project.isolated_env(tmp_path),
        "MELTANO_ENVIRONMENT": "ci",
        "TARGET_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        "DATAOPS_SCHEDULE_PATTERN": SCHEDULE,
        "TAP_EDCAST_DATASETS": json.dumps(DATASETS),
    }


def sync(env: dict[str, str], epoch: int, *command: str, **extra: str) -> str:
    """Run `command` (default: the schedule) against the sandbox at `epoch`; its exit code
    and output."""
    with serve("edcast", seed=SEED, epoch=epoch, drift_at=DRIFT_AT) as sandbox:
        done = subprocess.run(
            list(command) or [project.meltano_executable(), "schedule", "run", SCHEDULE],
            cwd=project.PROJECT_ROOT,
            env={**os.environ, **env, "TAP_EDCAST_URL_BASE": sandbox.url, **extra},
            capture_output=True,
            text=True,
            check=False,
        )
    return f"exit {done.returncode}\n{done.stdout}{done.stderr}"


def dataops(env: dict[str, str], *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DATAOPS, *args],
        env={**os.environ, **env, **extra},
        capture_output=True,
        text=True,
        check=False,
    )


def last_run(env: dict[str, str]) -> dict[str, Any]:
    done = dataops(env, "status", "--json")
    schedule = json.loads(done.stdout)["schedules"][0]
    assert schedule["name"] == SCHEDULE
    return schedule


def snapshot(env: dict[str, str]) -> dict[str, list[str]]:
    """Every row of both dataset tables, comparable as a whole."""
    path = Path(env["TARGET_DUCKDB_PATH"])
    return {
        table: sorted(
            repr(sorted(row.items())) for row in warehouse.rows(path, "tap_edcast", table)
        )
        for table in (USERS, EVENTS)
    }


def test_a_retyped_and_renamed_column_stops_freeze_loads_under_evolve_and_is_alerted_once(
    env: dict[str, str], webhook: tuple[str, list[tuple[str, Any]]]
) -> None:
    url, received = webhook
    assert sync(env, 1).startswith("exit 0")
    before = snapshot(env)
    assert last_run(env)["last_schema_change"] is None  # a first sync accepts what it finds

    # freeze: the run stops before any record, naming the columns; nothing is loaded.
    output = sync(env, DRIFT_AT, TAP_EDCAST_SCHEMA_POLICY="freeze")
    assert not output.startswith("exit 0"), output[-3000:]
    assert "Sign-in Count: integer → string" in output
    assert "Display Name" in output
    assert snapshot(env) == before
    schedule = last_run(env)
    assert schedule["last_run"]["status"] == "failed"
    assert schedule["last_run"]["schema_policy"] == "freeze"
    assert schedule["last_run"]["schema_changes"] == {USERS: CHANGES}
    assert "schema changed" in schedule["last_run"]["error"]

    watched = dataops(env, "watchdog", DATAOPS_ALERT_WEBHOOK_URL=url)
    assert watched.returncode == 0, watched.stderr
    texts = [body["text"] for _, body in received]
    drift = [text for text in texts if "schema of edcast_users changed" in text]
    assert len(drift) == 1, texts
    assert "stopped (freeze)" in drift[0]
    assert "retyped Sign-in Count: integer → string" in drift[0]

    # evolve (the schedule's default): the same change is loaded and reported, not re-alerted.
    assert sync(env, DRIFT_AT).startswith("exit 0")
    schedule = last_run(env)
    assert schedule["last_run"]["status"] == "success"
    assert schedule["last_run"]["schema_changes"] == {USERS: CHANGES}
    assert schedule["last_schema_change"]["policy"] == "evolve"
    posted = len(received)
    dataops(env, "watchdog", DATAOPS_ALERT_WEBHOOK_URL=url)
    assert not [b for _, b in received[posted:] if "schema of" in b["text"]]

    path = Path(env["TARGET_DUCKDB_PATH"])
    truth = truth_table(DataParams(SEED, 1, DRIFT_AT), USERS, DRIFT_AT).to_pylist()
    previous = truth_table(DataParams(SEED, 1, DRIFT_AT - 1), USERS).to_pylist()
    high_water = max(row["Updated At"] for row in previous)
    new_shape = [row for row in truth if row["Updated At"] > high_water]
    assert new_shape, "the drift epoch changed no user"
    loaded = warehouse.rows(path, "tap_edcast", USERS)
    assert sorted(r["User ID"] for r in loaded) == sorted(r["User ID"] for r in truth)
    read_again = [row for row in loaded if row["Display Name"] is not None]
    report = verify.compare_rows(USERS, read_again, new_shape, ["User ID"])
    assert not report.missing_keys, report.describe()
    assert not report.value_mismatches, report.describe()
    assert warehouse.column_types(path, "tap_edcast", USERS)["Sign-in Count"] == "VARCHAR"

    # The next run finds nothing new; the change stays on record as the last one.
    state = json.loads(dataops(env, "state", "show", SCHEDULE).stdout)
    accepted = state["singer_state"]["bookmarks"][USERS]["schema"]["columns"]
    assert accepted["Sign-in Count"] == "string"
    assert "Full Name" not in accepted

    # Older rows take the new shape when the stream is read again in full.
    output = sync(env, DRIFT_AT, DATAOPS, "resync", SCHEDULE, "--stream", USERS)
    assert output.startswith("exit 0"), output[-3000:]
    report = verify.compare_table(path, "tap_edcast", USERS, truth, ["User ID"])
    assert report.ok, report.describe()
    schedule = last_run(env)
    assert schedule["last_run"]["schema_changes"] == {}
    assert schedule["last_schema_change"]["streams"] == {USERS: CHANGES}
