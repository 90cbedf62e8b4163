"""The alert webhook takes alerts over HTTPS only (plain HTTP to loopback only, for
local runs and these tests); the watchdog works with the cluster's database privileges."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dataops import ledger, project, watchdog


@pytest.mark.parametrize(
    "url",
    ["http://hooks.example.com/services/T0/B0", "ftp://hooks.example.com/x", "hooks.example.com"],
)
def test_an_alert_is_never_sent_over_a_plain_or_unknown_scheme(url: str) -> None:
    with pytest.raises(watchdog.WebhookError, match="is not an https:// URL") as raised:
        watchdog.post(url, "sync failed")
    assert url not in str(raised.value)  # the URL may hold a token


def test_loopback_http_still_takes_alerts(webhook: tuple[str, list[tuple[str, Any]]]) -> None:
    url, received = webhook
    assert url.startswith("http://127.0.0.1:")
    watchdog.post(url, "sync failed")
    assert received == [("application/json", {"text": "sync failed"})]


def run_watchdog(database_uri: str, webhook_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(project.meltano_executable()).with_name("dataops")), "watchdog"],
        env={
            **os.environ,
            "MELTANO_DATABASE_URI": database_uri,
            "MELTANO_ENVIRONMENT": "production",
            watchdog.WEBHOOK_ENV: webhook_url,
            "COLUMNS": "200",
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_watchdog_needs_no_right_to_create_tables(
    meltano_database_as_in_the_cluster: tuple[str, str],
    webhook: tuple[str, list[tuple[str, Any]]],
) -> None:
    """Before an environment's first sync the ledger's tables do not exist and the
    watchdog may not create them: it still posts what it finds (each schedule never
    synced), says it cannot remember them, and posts them again next run. Once a sync's
    ledger has created the tables, each incident is posted once."""
    as_sync, as_scheduler = meltano_database_as_in_the_cluster
    url, received = webhook
    for run in range(2):
        done = run_watchdog(as_scheduler, url)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "not remembered: no sync of this environment has created" in done.stdout
        assert len(received) == 4 * (run + 1), received
    assert all("stale: last success never" in body["text"] for _, body in received)

    engine = sa.create_engine(as_sync)  # what a sync's ledger does at its first write
    with engine.begin() as connection:
        ledger.ensure_schema(connection)
    engine.dispose()
    received.clear()
    for _ in range(2):
        done = run_watchdog(as_scheduler, url)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "not remembered" not in done.stdout
    assert len(received) == 4  # the second run finds them announced
    assert done.stdout.count("already announced: [production]") == 4
