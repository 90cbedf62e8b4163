"""EdCast (Domo) → DuckDB end to end with `meltano run`, in record and in batch mode:
faults and token expiry on, epochs 0 → 3 (rows replaced away from epoch 2 on) compared
with ground truth after each; both modes load identical tables; a run the data moved
under, and a run killed during a full read, are followed by an exact warehouse."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from dataops import project
from dataops.sandbox import records
from dataops.testing import pipelines
from tapkit.versions import UNFINISHED

SEED = 31
GLUE = "glue_groups_g3_group_performance_data_explorer"
STREAMS = ("datasets", GLUE)
FAULTS = "429:0.03,500:0.03,503:0.03,reset:0.02,truncate:0.02,html:0.02,query-error:0.08"


ENCODINGS = {
    "batch": {"format": "parquet", "compression": "none"},
    "batch-jsonl-gzip": {"format": "jsonl", "compression": "gzip"},
}


def mode_env(mode: str, tmp_path: Path) -> dict[str, str]:
    if mode == "records":
        return {}
    batch_config = {
        "encoding": ENCODINGS[mode],
        "storage": {"root": (tmp_path / "batches").as_uri(), "prefix": "edcast-"},
    }
    return {"TAP_EDCAST_BATCH_CONFIG": json.dumps(batch_config)}


def sync(
    env: dict[str, str],
    epoch: int,
    *options: str,
    faults: str = FAULTS,
    move_after: int | None = None,
    page_size: int = 700,
) -> None:
    synced = pipelines.sync(
        "tap-edcast",
        "target-duckdb",
        {**env, "TAP_EDCAST_PAGE_SIZE": str(page_size)},
        *options,
        seed=SEED,
        epoch=epoch,
        faults=faults,
        retry_after=0,
        token_ttl_seconds=1,
        latency_ms=10,
        move_after=move_after,
    )
    assert synced.moved == (move_after is not None), "the data did not move as asked"


def assert_warehouse_equals_truth(env: dict[str, str], epoch: int) -> None:
    path = Path(env["TARGET_DUCKDB_PATH"])
    pipelines.assert_equals_truth(path, "edcast", seed=SEED, epoch=epoch, streams=STREAMS)


def warehouse_keys(env: dict[str, str]) -> list[tuple]:
    with duckdb.connect(env["TARGET_DUCKDB_PATH"], read_only=True) as con:
        return con.execute(
            f'SELECT "ECL ID", "Time", "Group Name" FROM tap_edcast."{GLUE}"'  # noqa: S608
        ).fetchall()


# Epochs per mode: every mode meets rows replaced away (epoch 2).
EPOCHS = {"records": (0, 1, 2, 3), "batch": (0, 1, 2), "batch-jsonl-gzip": (0, 2)}


@pytest.mark.parametrize("mode", sorted(EPOCHS))
def test_edcast_matches_truth_over_epochs_with_rows_replaced_away(
    mode: str, meltano_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**meltano_env, **mode_env(mode, tmp_path)}
    for epoch in EPOCHS[mode]:
        before = set(warehouse_keys(env)) if epoch else set()
        sync(env, epoch=epoch)
        assert_warehouse_equals_truth(env, epoch=epoch)
        if epoch >= 2:
            assert before - set(warehouse_keys(env)), "no event was deleted"


def test_record_and_batch_mode_load_identical_tables(tmp_path: Path) -> None:
    tables = {}
    for mode in ("records", "batch"):
        work = tmp_path / mode
        env = {
            **project.isolated_env(work),
            "MELTANO_ENVIRONMENT": "ci",
            "TARGET_DUCKDB_PATH": str(work / "warehouse.duckdb"),
            **mode_env(mode, work),
        }
        sync(env, 2, faults="")
        with duckdb.connect(env["TARGET_DUCKDB_PATH"], read_only=True) as con:
            types = con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? "
                "AND column_name NOT LIKE '\\_sdc\\_%' ESCAPE '\\' ORDER BY column_index",
                [GLUE],
            ).fetchall()
            columns = ", ".join(f'"{name}"' for name, _ in types)
            rows = con.execute(
                f'SELECT {columns} FROM tap_edcast."{GLUE}" ORDER BY ALL'  # noqa: S608
            ).fetchall()
        tables[mode] = (types, rows)
    assert tables["records"][0] == tables["batch"][0], "column types differ"
    assert tables["records"][1] == tables["batch"][1], "rows differ"
    assert len(tables["batch"][1]) > 1000


def test_a_run_the_data_moved_under_is_followed_by_an_exact_warehouse(
    meltano_env: dict[str, str],
) -> None:
    """The first run reads every row of epoch 2, and while it does the data move to
    epoch 3. Then no key twice, none of neither epoch; the next run is exact."""
    sync(meltano_env, 2, faults="", move_after=12, page_size=300)
    path = Path(meltano_env["TARGET_DUCKDB_PATH"])
    assert not pipelines.moving_run_problems(path, "edcast", seed=SEED, epoch=2, streams=STREAMS)
    sync(meltano_env, epoch=3)
    assert_warehouse_equals_truth(meltano_env, epoch=3)


def source_rows(epoch: int) -> int:
    """Rows of the events dataset (a repeated key counts each time), as its catalogue says."""
    catalogue = records("edcast", seed=SEED, epoch=epoch)["datasets"]
    return next(int(d["rows"]) for d in catalogue if d["name"].startswith("GlueGroupsG3"))


def wait_for_a_committed_part_of_a_full_read(
    pipeline: subprocess.Popen,
    env: dict[str, str],
    stored_bookmarks: Callable[[dict[str, str]], list[dict]],
    timeout: float = 120,
) -> dict:
    """The events stream's state once Meltano stored one inside a full read (the loader
    committed its first pages and passed their STATE on)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert pipeline.poll() is None, "the run ended before it could be killed"
        for bookmarks in stored_bookmarks(env):
            glue = bookmarks.get(GLUE, {})
            if glue.get(UNFINISHED) is not None and glue.get("last_primary_key") is not None:
                return dict(glue)
        time.sleep(0.05)
    raise AssertionError(f"no part of the full read committed within {timeout} s")


def test_a_run_killed_during_a_full_read_is_followed_by_an_exact_warehouse(
    meltano_env: dict[str, str],
    stored_bookmarks: Callable[[dict[str, str]], list[dict]],
) -> None:
    """The first run reads every row, in BATCH files. SIGKILLed (meltano, tap and target
    at once) once part of it is committed, the next run reads every row again with a
    newer version, and the warehouse ends exact."""
    env = {**meltano_env, **mode_env("batch", Path(meltano_env["TARGET_DUCKDB_PATH"]).parent)}
    paged = {**env, "TAP_EDCAST_PAGE_SIZE": "100"}
    with pipelines.sandbox_env("tap-edcast", seed=SEED, epoch=2, latency_ms=40) as (_, pointed):
        pipeline = pipelines.start("tap-edcast", "target-duckdb", {**paged, **pointed})
        state = wait_for_a_committed_part_of_a_full_read(pipeline, env, stored_bookmarks)
        pipelines.kill_group(pipeline)
    assert 0 < state["rows_up_to_bookmark"] < source_rows(2)
    # --force: the killed run is still marked as running in Meltano's database.
    sync(env, 2, "--force", faults="", page_size=100)
    assert_warehouse_equals_truth(env, epoch=2)
    with duckdb.connect(env["TARGET_DUCKDB_PATH"], read_only=True) as con:
        [(version,)] = con.execute(
            f'SELECT DISTINCT _sdc_table_version FROM tap_edcast."{GLUE}"'  # noqa: S608
        ).fetchall()
    assert version > state[UNFINISHED]
