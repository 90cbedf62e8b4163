"""Every tap → PostgreSQL end to end, with Meltano's system database (runs, state) on
PostgreSQL too, as in production: real `meltano run … target-postgres` against the
sandboxes over three epochs (the last with rows deleted at the source), the warehouse
compared with ground truth after each, and each run resuming from the state the one
before stored."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

import psycopg
import pytest
import yaml

from dataops import project
from dataops.demo import SANDBOX_FOR_EXTRACTOR
from dataops.sandbox import serve, truth
from dataops.testing import pipelines

SEED = 23
HTTP_FAULTS = "429:0.03,500:0.03,503:0.02,reset:0.02"
# What each tap loads in the `ci` environment, when it is not every stream the
# sandbox serves, and the fields its select rules drop.
STREAMS = {"edcast": ["datasets", "glue_groups_g3_group_performance_data_explorer"]}
DROPPED = {"zengrc": {"vendors": frozenset({"owners", "contact"})}}


def pipeline_env(postgres_database: Callable[[str], str], tmp_env: dict[str, str]) -> dict:
    """`ci` environment; the system database and the warehouse each a new database."""
    system_db = postgres_database("meltano")
    return {
        **tmp_env,
        "MELTANO_DATABASE_URI": system_db.replace("postgresql://", "postgresql+psycopg://"),
        "TARGET_POSTGRES_SQLALCHEMY_URL": postgres_database("warehouse").replace(
            "postgresql://", "postgresql+psycopg://"
        ),
    }


def sync(extractor: str, env: dict[str, str], epoch: int) -> None:
    """One `meltano run EXTRACTOR target-postgres`."""
    http = (
        {"faults": HTTP_FAULTS, "retry_after": 0} if SANDBOX_FOR_EXTRACTOR[extractor].http else {}
    )
    pipelines.sync(extractor, "target-postgres", env, seed=SEED, epoch=epoch, **http)


def assert_warehouse_equals_truth(env: dict[str, str], vendor: str, epoch: int) -> None:
    pipelines.assert_equals_truth(
        env["TARGET_POSTGRES_SQLALCHEMY_URL"].replace("+psycopg", ""),
        vendor,
        seed=SEED,
        epoch=epoch,
        streams=STREAMS.get(vendor),
        dropped_fields=DROPPED.get(vendor),
    )


def deleted_at_source(vendor: str, before: int, after: int) -> dict[str, int]:
    """Rows per stream the sandbox served at epoch `before` and no longer at `after`."""
    old, new = truth(vendor, seed=SEED, epoch=before), truth(vendor, seed=SEED, epoch=after)
    return {
        stream: len({tuple(k) for k in info["keys"]} - {tuple(k) for k in new[stream]["keys"]})
        for stream, info in old.items()
        if stream in new and stream in (STREAMS.get(vendor) or old)
    }


def stored_state(env: dict[str, str], state_id: str) -> dict:
    """The state Meltano keeps in its PostgreSQL system database, read directly."""
    url = env["MELTANO_DATABASE_URI"].replace("+psycopg", "")
    with psycopg.connect(url) as con:
        row = con.execute(
            "SELECT completed_state FROM state WHERE state_id = %s", [state_id]
        ).fetchone()
    assert row is not None, f"no state {state_id!r} in the system database"
    return json.loads(row[0]) if isinstance(row[0], str) else row[0]


@pytest.mark.parametrize("extractor", sorted(SANDBOX_FOR_EXTRACTOR))
def test_tap_to_postgres_matches_truth_with_state_in_postgres(
    extractor: str,
    meltano_env: dict[str, str],
    postgres_database: Callable[[str], str],
    records_sent: Callable[..., Counter[str]],
) -> None:
    vendor = SANDBOX_FOR_EXTRACTOR[extractor].vendor
    env = pipeline_env(postgres_database, meltano_env)
    state_id = f"ci:{extractor}-to-target-postgres"

    sync(extractor, env, epoch=0)
    first = records_sent(env, extractor, "target-postgres")
    assert_warehouse_equals_truth(env, vendor, epoch=0)
    bookmarks = stored_state(env, state_id)["singer_state"]
    assert bookmarks, "the first run stored no bookmark"
    # A new process sees it: Meltano's own CLI reads it back from PostgreSQL.
    listed = project.meltano("state", "get", state_id, env=env, capture=True)
    assert json.loads(listed.stdout)["singer_state"] == bookmarks

    sync(extractor, env, epoch=1)  # resumes from the stored state
    second = records_sent(env, extractor, "target-postgres")
    assert_warehouse_equals_truth(env, vendor, epoch=1)  # merged: nothing doubled
    if vendor != "adaptive":  # Adaptive re-reads everything: plan data has no bookmark
        assert sum(second.values()) < sum(first.values()), (first, second)

    sync(extractor, env, epoch=2)  # rows deleted at the source: gone (hard_delete)
    assert_warehouse_equals_truth(env, vendor, epoch=2)
    assert sum(deleted_at_source(vendor, 1, 2).values()) > 0, "the sandbox deleted nothing"


def cluster_settings(environment: str) -> dict[str, str]:
    """Meltano's own settings the deploy puts into the containers of `environment`."""
    path = project.root() / "meltano" / "environments" / f"{environment}.meltano.yml"
    return yaml.safe_load(path.read_text())["environments"][0]["env"]


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_cluster_settings(environment: str) -> None:
    assert cluster_settings(environment) == {
        "MELTANO_PROJECT_READONLY": "true",
        "MELTANO_CLI_LOG_FORMAT": "json",
        "MELTANO_STATE_BACKEND_URI": "systemdb",
    }


def test_run_as_in_the_cluster_logs_json_and_changes_no_project_file(
    meltano_env: dict[str, str], postgres_database: Callable[[str], str]
) -> None:
    """With the cluster's settings: one JSON object per log line (the log collector
    parses them), state in PostgreSQL, and the project refuses changes."""
    env = {**pipeline_env(postgres_database, meltano_env), **cluster_settings("production")}
    project_files = {p: p.read_bytes() for p in project.root().glob("meltano*/**/*.yml")}
    with serve("zengrc", seed=SEED) as sandbox:
        result = project.meltano(
            "--log-format=json",
            "run",
            "tap-zengrc",
            "target-postgres",
            env={**env, "TAP_ZENGRC_BASE_URL": sandbox.url},
            capture=True,
        )
    lines = result.stderr.splitlines()
    assert len(lines) > 20
    events = [json.loads(line) for line in lines]  # fails on any non-JSON line
    # The SDK's metrics as structured events (the plugins declare structured-logging).
    metrics = [event["metric_info"] for event in events if "metric_info" in event]
    assert any(metric["metric"] == "record_count" for metric in metrics)
    assert stored_state(env, "ci:tap-zengrc-to-target-postgres")["singer_state"]["bookmarks"]

    refused = project.meltano(
        "select", "tap-zengrc", "audits", "id", env=env, capture=True, check=False
    )
    assert refused.returncode != 0
    assert "deployed as read-only" in refused.stderr
    assert not (project.root() / ".env").exists()
    assert project_files == {p: p.read_bytes() for p in project_files}


def test_edcast_into_postgres_runs_in_dev_as_a_new_user_would_run_it(
    postgres_database: Callable[[str], str], isolated: dict[str, str]
) -> None:
    """`meltano run tap-edcast target-postgres` in `dev`, no setting added: the tap's
    Parquet fast path is the DuckDB schedule's only, so PostgreSQL gets records."""
    warehouse = postgres_database("warehouse").replace("postgresql://", "postgresql+psycopg://")
    env = {**isolated, "MELTANO_ENVIRONMENT": "dev", "TARGET_POSTGRES_SQLALCHEMY_URL": warehouse}
    pipelines.sync("tap-edcast", "target-postgres", env, seed=SEED, epoch=1)
    assert_warehouse_equals_truth(env, "edcast", 1)
