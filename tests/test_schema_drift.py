"""Schema drift end to end: real `meltano schedule run edcast-to-duckdb` against the
EdCast sandbox served with `drift_at`, where a users column is renamed and another
retyped at epoch 2. Under `freeze` the run stops before loading anything and says which
columns, until a resync of the stream accepts the change and reloads it; under `evolve`
it is loaded; either way `dataops status` reports it and the watchdog announces it once."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dataops import project, warehouse
from dataops.sandbox import serve
from dataops.sandbox.edcast import truth_table
from dataops.sandbox.vendor import DataParams
from dataops.testing import verify

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
            cwd=project.root(),
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


def drift_alerts(received: list[tuple[str, Any]]) -> list[str]:
    return [
        body["text"] for _, body in received if "schema of edcast_users changed" in body["text"]
    ]


def accepted_columns(env: dict[str, str]) -> dict[str, str]:
    """The users' columns the schedule's state holds as accepted."""
    state = json.loads(dataops(env, "state", "show", SCHEDULE).stdout)
    return dict(state["singer_state"]["bookmarks"][USERS]["schema"]["columns"])


def test_under_freeze_a_changed_schema_stops_the_run_until_a_resync_accepts_it(
    env: dict[str, str], webhook: tuple[str, list[tuple[str, Any]]]
) -> None:
    url, received = webhook
    freeze = {"TAP_EDCAST_SCHEMA_POLICY": "freeze"}
    assert sync(env, 1, **freeze).startswith("exit 0")  # a first sync takes what it finds
    before = snapshot(env)
    assert last_run(env)["last_schema_change"] is None

    # The run stops before any record, naming the columns: nothing is loaded.
    output = sync(env, DRIFT_AT, **freeze)
    assert not output.startswith("exit 0"), output[-3000:]
    assert "Sign-in Count: integer → string" in output
    assert "Display Name" in output
    assert snapshot(env) == before
    schedule = last_run(env)
    assert schedule["last_run"]["status"] == "failed"
    assert schedule["last_run"]["schema_policy"] == "freeze"
    assert schedule["last_run"]["schema_changes"] == {USERS: CHANGES}
    assert "schema changed" in schedule["last_run"]["error"]

    # Alerted once, however many runs it stops.
    for _ in range(2):
        watched = dataops(env, "watchdog", DATAOPS_ALERT_WEBHOOK_URL=url)
        assert watched.returncode == 0, watched.stderr
    [alert] = drift_alerts(received)
    assert "stopped (freeze)" in alert
    assert "retyped Sign-in Count: integer → string" in alert

    # A resync of the stream takes the new schema and reloads the stream in it ...
    output = sync(env, DRIFT_AT, DATAOPS, "resync", SCHEDULE, "--stream", USERS, **freeze)
    assert output.startswith("exit 0"), output[-3000:]
    truth = truth_table(DataParams(SEED, 1, DRIFT_AT), USERS, DRIFT_AT).to_pylist()
    path = Path(env["TARGET_DUCKDB_PATH"])
    report = verify.compare_table(path, "tap_edcast", USERS, truth, ["User ID"])
    assert report.ok, report.describe()
    # ... for good: the removed column stays removed from what is accepted (Meltano
    # merges a resync's partial state into the stored one), and the next run goes on.
    assert accepted_columns(env)["Sign-in Count"] == "string"
    assert "Full Name" not in accepted_columns(env)
    output = sync(env, DRIFT_AT, **freeze)
    assert output.startswith("exit 0"), output[-3000:]
    assert last_run(env)["last_run"]["schema_changes"] == {}


def test_under_evolve_a_changed_schema_is_loaded_reported_and_alerted_once(
    env: dict[str, str], webhook: tuple[str, list[tuple[str, Any]]]
) -> None:
    url, received = webhook
    assert sync(env, 1).startswith("exit 0")
    assert sync(env, DRIFT_AT).startswith("exit 0")  # evolve: the schedule's default
    schedule = last_run(env)
    assert schedule["last_run"]["status"] == "success"
    assert schedule["last_run"]["schema_changes"] == {USERS: CHANGES}
    assert schedule["last_schema_change"]["policy"] == "evolve"
    for _ in range(2):
        dataops(env, "watchdog", DATAOPS_ALERT_WEBHOOK_URL=url)
    [alert] = drift_alerts(received)
    assert "loaded (evolve)" in alert

    # The rows this run read are in the new shape; no row was lost.
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
    assert sync(env, DRIFT_AT + 1).startswith("exit 0")
    schedule = last_run(env)
    assert schedule["last_run"]["schema_changes"] == {}
    assert schedule["last_schema_change"]["streams"] == {USERS: CHANGES}
    assert accepted_columns(env)["Sign-in Count"] == "string"
