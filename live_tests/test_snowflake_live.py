"""ZenGRC and EdCast → a real Snowflake account, over epochs, compared with ground truth.

Collected only when credentials are in the environment: `make test` adds this folder
when TARGET_SNOWFLAKE_ACCOUNT is set (`make test-snowflake` runs it alone). Needs
TARGET_SNOWFLAKE_ACCOUNT, _USER, _DATABASE, _WAREHOUSE, optionally _ROLE, and one of
_PRIVATE_KEY or _PASSWORD. Each test loads into a schema of its own and drops it at
the end.

EdCast runs as its schedule does (`meltano schedule run edcast-to-snowflake`: records,
see tests/test_snowflake_batch.py); a second test runs it through tap-edcast's JSON-lines
BATCH files, the path that schedule does not take, and shows why.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dataops import project
from dataops.sandbox import records, serve
from dataops.sandbox.registry import get_vendor
from dataops.testing import plugin_venv, verify

SEED = 5
EDCAST_SEED = 31
EDCAST_STREAMS = ("datasets", "glue_groups_g3_group_performance_data_explorer")
REQUIRED = ("ACCOUNT", "USER", "DATABASE", "WAREHOUSE")


def snowflake_config(schema: str) -> dict[str, str]:
    missing = [
        f"TARGET_SNOWFLAKE_{name}"
        for name in REQUIRED
        if not os.environ.get(f"TARGET_SNOWFLAKE_{name}")
    ]
    if not (
        os.environ.get("TARGET_SNOWFLAKE_PRIVATE_KEY")
        or os.environ.get("TARGET_SNOWFLAKE_PASSWORD")
    ):
        missing.append("TARGET_SNOWFLAKE_PRIVATE_KEY or TARGET_SNOWFLAKE_PASSWORD")
    if missing:
        pytest.fail(f"the live Snowflake test needs {', '.join(missing)} in the environment")
    names = (*REQUIRED, "ROLE", "PRIVATE_KEY", "PASSWORD")
    config = {
        name.lower(): os.environ[f"TARGET_SNOWFLAKE_{name}"]
        for name in names
        if os.environ.get(f"TARGET_SNOWFLAKE_{name}")
    }
    return {**config, "default_target_schema": schema}


def read_back(
    config: dict[str, str],
    keys: dict[str, list[str]] | None = None,
    rows: tuple[str, ...] = (),
    drop: bool = False,
) -> dict[str, Any]:
    """What the schema holds (live_tests/snowflake_keys.py): key tuples and whole rows
    per table, and the session's TIMEZONE."""
    given = {
        "config": config,
        "schema": config["default_target_schema"],
        "keys": keys or {},
        "rows": list(rows),
        "drop": drop,
    }
    script = Path(__file__).with_name("snowflake_keys.py")
    return dict(json.loads(plugin_venv.run_script("loaders", "target-snowflake", script, given)))


def test_zengrc_to_snowflake_matches_truth_over_two_epochs(tmp_path: Path) -> None:
    schema = f"tap_zengrc_live_{uuid.uuid4().hex[:8]}"
    config = snowflake_config(schema)
    env = {
        **project.isolated_env(tmp_path),
        "MELTANO_ENVIRONMENT": "ci",
        "TARGET_SNOWFLAKE_DEFAULT_TARGET_SCHEMA": schema,
    }
    keys = {stream: ["id"] for stream in records("zengrc", seed=SEED)}
    try:
        for epoch in (0, 1):
            with serve("zengrc", seed=SEED, epoch=epoch) as sandbox:
                project.meltano(
                    "run",
                    "tap-zengrc",
                    "target-snowflake",
                    env={**env, "TAP_ZENGRC_BASE_URL": sandbox.url},
                )
            truth = records("zengrc", seed=SEED, epoch=epoch)
            loaded = read_back(config, keys)["keys"]
            for stream, rows in truth.items():
                got = sorted(row[0] for row in loaded[stream])
                assert got == sorted(int(row["id"]) for row in rows), (
                    f"{schema}.{stream}, epoch {epoch}"
                )
    finally:
        read_back(config, drop=True)


def named_as_truth(row: dict[str, Any], truth: list[dict[str, Any]]) -> dict[str, Any]:
    """A row read back under the source's column names (Snowflake folds the case)."""
    names = {name.casefold(): name for record in truth[:1] for name in record}
    return {names.get(column.casefold(), column.casefold()): v for column, v in row.items()}


def live_rows(loaded: list[dict[str, Any]], truth: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows not soft-deleted (`_sdc_deleted_at` unset), under the source's names."""
    rows = [named_as_truth(row, truth) for row in loaded]
    return [row for row in rows if row.get("_sdc_deleted_at") is None]


def test_edcast_to_snowflake_schedule_matches_truth_over_epochs(tmp_path: Path) -> None:
    """The schedule as production runs it; epoch 2 replaces rows away, which must leave
    the live rows (soft deletes: `_sdc_deleted_at` set)."""
    schema = f"tap_edcast_live_{uuid.uuid4().hex[:8]}"
    config = snowflake_config(schema)
    env = {
        **project.isolated_env(tmp_path),
        "MELTANO_ENVIRONMENT": "ci",
        "TARGET_SNOWFLAKE_DEFAULT_TARGET_SCHEMA": schema,
    }
    spec = get_vendor("edcast")
    try:
        for epoch in (0, 1, 2):
            with serve("edcast", seed=EDCAST_SEED, epoch=epoch) as sandbox:
                project.meltano(
                    "schedule",
                    "run",
                    "edcast-to-snowflake",
                    env={**env, "TAP_EDCAST_URL_BASE": sandbox.url},
                )
            truth = records("edcast", seed=EDCAST_SEED, epoch=epoch)
            loaded = read_back(config, rows=EDCAST_STREAMS)["rows"]
            for stream in EDCAST_STREAMS:
                report = verify.compare_rows(
                    f"{schema}.{stream}, epoch {epoch}",
                    live_rows(loaded[stream], truth[stream]),
                    truth[stream],
                    list(spec.key_properties[stream]),
                )
                assert report.ok, report.describe()
    finally:
        read_back(config, drop=True)


def test_edcast_jsonl_batch_files_read_times_in_the_session_timezone(tmp_path: Path) -> None:
    """Why edcast-to-snowflake sends records: through tap-edcast's JSON-lines BATCH
    files target-snowflake loads every row and every value but the date-times, which
    the files hold without offset and Snowflake reads in the session's TIMEZONE (a
    shift, unless the account's TIMEZONE is UTC; the loader does not set it)."""
    schema = f"tap_edcast_batch_live_{uuid.uuid4().hex[:8]}"
    config = snowflake_config(schema)
    batch_config = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": (tmp_path / "batches").as_uri(), "prefix": "edcast-"},
    }
    env = {
        **project.isolated_env(tmp_path),
        "MELTANO_ENVIRONMENT": "ci",
        "TARGET_SNOWFLAKE_DEFAULT_TARGET_SCHEMA": schema,
        "TAP_EDCAST_BATCH_CONFIG": json.dumps(batch_config),
    }
    stream = EDCAST_STREAMS[1]
    try:
        with serve("edcast", seed=EDCAST_SEED, epoch=0) as sandbox:
            project.meltano(
                "run",
                "tap-edcast",
                "target-snowflake",
                env={**env, "TAP_EDCAST_URL_BASE": sandbox.url},
            )
        truth = records("edcast", seed=EDCAST_SEED, epoch=0)[stream]
        got = read_back(config, rows=(stream,))
        zone = ZoneInfo(got["timezone"])
        loaded = live_rows(got["rows"][stream], truth)

        def without_time(row: dict[str, Any]) -> tuple:
            return tuple(
                sorted((k, repr(verify.normalise(row.get(k)))) for k in truth[0] if k != "Time")
            )

        # Every row once, every other value as in the source.
        assert Counter(map(without_time, loaded)) == Counter(map(without_time, truth))

        def exists(wall: datetime) -> bool:  # not in the hour a DST change skips
            there = wall.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)
            return there.replace(tzinfo=None) == wall

        # The source's UTC wall times, read as wall times of the session's zone.
        truth_walls = Counter(row["Time"].astimezone(UTC).replace(tzinfo=None) for row in truth)
        loaded_walls = Counter(
            datetime.fromisoformat(row["Time"]).astimezone(zone).replace(tzinfo=None)
            for row in loaded
        )
        missing = truth_walls - loaded_walls
        unexplained = [wall for wall in missing if exists(wall)]
        assert not unexplained, (
            f"{len(unexplained)} times are not the source's read in {got['timezone']}, "
            f"e.g. {[str(wall) for wall in unexplained[:3]]}: has Snowflake's reading of "
            "offset-less timestamps changed? then BATCH may be right for edcast-to-snowflake"
        )
        assert (loaded_walls - truth_walls).total() == missing.total()
    finally:
        read_back(config, drop=True)
