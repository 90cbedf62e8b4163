"""`dataops status` over real `meltano schedule run`s in a test's own system database:
a run against a sandbox that is gone, a pipeline killed mid-sync, a ledger that cannot
be written; and the freshness SLOs the schedules get."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dataops import ledger, project, status
from dataops.sandbox import serve
from dataops.testing import pipelines

DATAOPS = str(Path(project.meltano_executable()).with_name("dataops"))
SCHEDULE = "zengrc-to-duckdb"
SECRET = "s3cr3t-never-shown"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The `dev` environment with its own system database and warehouse; status looks
    at the one schedule the tests run."""
    return {
        **project.isolated_env(tmp_path),
        "TARGET_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        "DATAOPS_SCHEDULE_PATTERN": SCHEDULE,
    }


def schedule_run(env: dict[str, str], **extra: str) -> subprocess.CompletedProcess[str]:
    return project.meltano(
        "schedule", "run", SCHEDULE, env={**env, **extra}, capture=True, check=False
    )


def dataops_status(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [DATAOPS, "status", "--json", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_run_against_a_gone_sandbox_shows_failed_with_its_error(env: dict[str, str]) -> None:
    url = f"http://sandbox-key:{SECRET}@127.0.0.1:{closed_port()}/api/v2"
    done = schedule_run(
        env, TAP_ZENGRC_BASE_URL=url, TAP_ZENGRC_PASSWORD=SECRET, TAP_ZENGRC_MAX_RETRIES="0"
    )
    assert done.returncode != 0

    code, report = dataops_status(env)
    assert code == 1
    [schedule] = report["schedules"]
    last = schedule["last_run"]
    assert last["status"] == "failed"
    assert last["ended_at"] is not None
    assert "127.0.0.1" in last["error"], last["error"]
    assert SECRET not in json.dumps(report)
    assert schedule["stale"]  # it never succeeded


def test_a_run_refused_for_a_setting_shows_which_setting(env: dict[str, str]) -> None:
    """The SDK closes a settings failure with a generic line; the status keeps the one
    that names the setting."""
    done = schedule_run(env, TAP_ZENGRC_BASE_URL="http://zengrc.example.com/api/v2")
    assert done.returncode != 0
    _, report = dataops_status(env)
    [schedule] = report["schedules"]
    assert schedule["last_run"]["error"] == (
        "tap-zengrc `base_url` must be an https:// URL (plain http:// only to 127.0.0.1 or "
        "localhost), got 'http://zengrc.example.com/api/v2'"
    )


def test_a_pipeline_killed_mid_sync_is_abandoned_not_running_forever(
    env: dict[str, str],
) -> None:
    with serve("zengrc", latency_ms=150, page_size=5) as sandbox:
        pipeline = subprocess.Popen(
            [project.meltano_executable(), "schedule", "run", SCHEDULE],
            cwd=project.root(),
            env={**os.environ, **env, "TAP_ZENGRC_BASE_URL": sandbox.url},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_until_running(env, pipeline)
        finally:
            pipelines.kill_group(pipeline)

    code, report = dataops_status(env)
    assert report["schedules"][0]["last_run"]["status"] == "running"  # heartbeat still fresh
    assert code == 1
    later = (datetime.now(UTC) + timedelta(seconds=status.HEARTBEAT_SECONDS + 1)).isoformat()
    code, report = dataops_status(env, "--at", later)
    assert code == 1
    assert report["schedules"][0]["last_run"]["status"] == "abandoned"


def wait_until_running(env: dict[str, str], pipeline: subprocess.Popen) -> None:
    """Until Meltano's runs table shows the run going and the tap has sent records."""
    database = env["MELTANO_DATABASE_URI"].removeprefix("sqlite:///")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert pipeline.poll() is None, "the sync ended before it could be killed"
        try:
            with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as db:
                running = db.execute(
                    "SELECT count(*) FROM runs WHERE state = 'RUNNING'"
                ).fetchone()[0]
                counted = db.execute("SELECT count(*) FROM dataops_ledger_streams").fetchone()[0]
        except sqlite3.OperationalError:
            running = counted = 0  # tables not created yet
        if running and counted:
            return
        time.sleep(0.2)
    raise AssertionError("the run never showed as running with counts")


def test_a_sync_whose_ledger_cannot_be_written_succeeds_and_the_gap_shows(
    env: dict[str, str],
) -> None:
    database = env["MELTANO_DATABASE_URI"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as db:  # written by a newer ledger: refused
        db.execute("CREATE TABLE dataops_ledger_schema (version INTEGER NOT NULL)")
        db.execute("INSERT INTO dataops_ledger_schema VALUES (99)")
    with serve("zengrc") as sandbox:
        done = schedule_run(env, TAP_ZENGRC_BASE_URL=sandbox.url)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "dataops ledger: this run's counts could not be written" in done.stderr

    code, report = dataops_status(env)
    last = report["schedules"][0]["last_run"]
    assert (code, last["status"], last["counts_recorded"]) == (0, "success", False)


@pytest.mark.parametrize(
    ("interval", "slo"),
    [
        ("0 */8 * * *", 16 * 3600),  # twice the interval
        ("0 0,5 * * *", 2 * 19 * 3600),  # twice the longest gap, 05:00 → 00:00
        ("0 4 * * 1-5", 2 * 3 * 86400),  # weekdays: Friday → Monday
    ],
)
def test_the_default_slo_is_twice_the_longest_gap_of_the_interval(interval: str, slo: int) -> None:
    at = datetime(2026, 11, 25, tzinfo=UTC)
    assert status.slo_seconds({"interval": interval}, "schedules[0]", at) == slo


def test_an_slo_set_in_meltano_yml_wins_and_a_bad_one_says_where() -> None:
    at = datetime(2026, 11, 25, tzinfo=UTC)
    schedule = {"interval": "0 7 * * *", "annotations": {"dataops": {"freshness_slo": "26h"}}}
    assert status.slo_seconds(schedule, "schedules[3]", at) == 26 * 3600
    schedule["annotations"]["dataops"]["freshness_slo"] = "a day"
    with pytest.raises(status.StatusError, match=r"schedules\[3\]\.annotations\.dataops.*26h"):
        status.slo_seconds(schedule, "schedules[3]", at)
    with pytest.raises(status.StatusError, match="freshness_slo"):
        status.slo_seconds({"interval": "@once"}, "schedules[4]", at)


@pytest.mark.parametrize(
    "line",
    [
        f"login failed for postgresql://meltano:{SECRET}@db:5432/meltano",
        f"token refused: access_token={SECRET}&scope=read",
        f"client_secret: {SECRET}",
        f'{{"password": "{SECRET}", "user": "x"}}',
        f"{{'api_key': '{SECRET}'}}",
        f"TAP_ZENGRC_PASSWORD={SECRET} rejected",
        f"Authorization: Bearer {SECRET}",
        f"http://user:{SECRET}@with@at@127.0.0.1:1/api",
    ],
)
def test_an_error_line_never_keeps_a_credential(line: str) -> None:
    shown = ledger.masked(f"Traceback …\n{line}")
    assert SECRET not in shown
    assert "***" in shown
