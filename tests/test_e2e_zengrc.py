"""ZenGRC → DuckDB end to end: real `meltano run` against a faulty sandbox, compared
with the sandbox's ground truth over four epochs (objects deleted from epoch 2 on), and
with the data moving on while a sync reads it."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from dataops import warehouse
from dataops.sandbox import records
from dataops.testing import pipelines

FAULTS = "429:0.05,429-bare:0.03,500:0.03,502:0.02,503:0.03,reset:0.03,truncate:0.03,html:0.03"
SEED = 21
DESELECTED = {"vendors": frozenset({"owners", "contact"})}
LOOKBACK = timedelta(seconds=300)
DELETIONS_FOUND = "objects were deleted"
"""What tap-zengrc logs when a scan finds deletions and reads the collection again."""


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def sync(
    env: dict[str, str], epoch: int, seed: int = SEED, move_after: int | None = None
) -> pipelines.Synced:
    """One `meltano run tap-zengrc target-duckdb` against the sandbox at `epoch`."""
    synced = pipelines.sync(
        "tap-zengrc",
        "target-duckdb",
        env,
        seed=seed,
        epoch=epoch,
        faults=FAULTS,
        page_size=20,
        retry_after=0,
        move_after=move_after,
    )
    assert synced.moved == (move_after is not None)
    return synced


def assert_warehouse_equals_truth(env: dict[str, str], epoch: int, seed: int = SEED) -> None:
    pipelines.assert_equals_truth(
        Path(env["TARGET_DUCKDB_PATH"]), "zengrc", seed=seed, epoch=epoch, dropped_fields=DESELECTED
    )


def warehouse_keys(env: dict[str, str]) -> dict[str, list[int]]:
    path = Path(env["TARGET_DUCKDB_PATH"])
    return {
        table: [row["id"] for row in warehouse.rows(path, "tap_zengrc", table)]
        for _, table in warehouse.table_counts(path)
    }


def test_zengrc_to_duckdb_matches_truth_over_epochs_with_deletions_and_faults(
    meltano_env: dict[str, str], records_sent: Callable[..., Counter[str]]
) -> None:
    first = sync(meltano_env, epoch=0)
    assert sum(first.faults.values()) > 0, "the sandbox injected no fault"
    assert_warehouse_equals_truth(meltano_env, epoch=0)

    second = sync(meltano_env, epoch=1)  # from the state the first run stored
    emitted = records_sent(meltano_env, "tap-zengrc", "target-duckdb")
    assert_warehouse_equals_truth(meltano_env, epoch=1)
    # Incremental: the tap sent what changed since its bookmarks, plus the objects
    # within the lookback before a bookmark (300 s by default), nothing else.
    old = records("zengrc", seed=SEED, epoch=0)
    for stream, rows in records("zengrc", seed=SEED, epoch=1).items():
        before = {row["id"]: row for row in old[stream]}
        bookmark = max(instant(row["updated_at"]) for row in old[stream])
        changed = sum(1 for row in rows if before.get(row["id"]) != row)
        window = sum(1 for row in rows if instant(row["updated_at"]) >= bookmark - LOOKBACK)
        assert changed <= emitted[stream] <= changed + window, stream
        assert emitted[stream] < len(rows) / 2, stream
    assert DELETIONS_FOUND not in second.log

    for epoch in (2, 3):  # objects deleted: every collection is read again, whole
        before_keys = warehouse_keys(meltano_env)
        deleting = sync(meltano_env, epoch=epoch)
        emitted = records_sent(meltano_env, "tap-zengrc", "target-duckdb")
        assert_warehouse_equals_truth(meltano_env, epoch=epoch)
        after_keys = warehouse_keys(meltano_env)
        for stream, rows in records("zengrc", seed=SEED, epoch=epoch).items():
            assert set(before_keys[stream]) - set(after_keys[stream]), f"{stream}: none deleted"
            assert emitted[stream] > len(rows), stream
        assert deleting.log.count(DELETIONS_FOUND) == len(before_keys)


def test_data_moving_during_a_sync_converges_on_the_next_run(
    meltano_env: dict[str, str],
) -> None:
    """The first sync reads epoch 1 and the data moves on to epoch 2 (objects updated,
    added and deleted) under it: no key twice, none outside the two epochs; the next
    run, the data still, leaves exactly the truth."""
    seed = 33
    sync(meltano_env, epoch=1, seed=seed, move_after=40)
    path = Path(meltano_env["TARGET_DUCKDB_PATH"])
    assert not pipelines.moving_run_problems(path, "zengrc", seed=seed, epoch=1)
    sync(meltano_env, epoch=2, seed=seed)
    assert_warehouse_equals_truth(meltano_env, epoch=2, seed=seed)


def test_sync_killed_midway_converges_on_rerun(meltano_env: dict[str, str]) -> None:
    """SIGKILL the whole pipeline mid-sync; what is committed is whole, and a rerun
    from the stored state ends with exactly the source's rows."""
    env = {
        **meltano_env,
        "TAP_ZENGRC_MAX_PARALLEL_STREAMS": "2",
        "TARGET_DUCKDB_BATCH_SIZE_ROWS": "40",  # commit (and pass STATE on) often
    }
    with pipelines.sandbox_env("tap-zengrc", seed=SEED, latency_ms=15, page_size=10) as (
        sandbox,
        pointed,
    ):
        pipeline = pipelines.start("tap-zengrc", "target-duckdb", {**env, **pointed})
        deadline = time.monotonic() + 120
        while sandbox.stats.requests < 70 and time.monotonic() < deadline:
            assert pipeline.poll() is None, f"the sync ended (exit {pipeline.returncode}) unkilled"
            time.sleep(0.05)
        pipelines.kill_group(pipeline)

    path = Path(meltano_env["TARGET_DUCKDB_PATH"])
    partial = warehouse.table_counts(path)
    truth = records("zengrc", seed=SEED)
    assert 0 < sum(partial.values()) < sum(len(rows) for rows in truth.values()), partial
    for (_, table), count in partial.items():
        keys = [row["id"] for row in warehouse.rows(path, "tap_zengrc", table)]
        assert len(keys) == len(set(keys)) == count, f"{table}: duplicates after the kill"

    pipelines.sync("tap-zengrc", "target-duckdb", meltano_env, "--force", seed=SEED, page_size=10)
    assert_warehouse_equals_truth(meltano_env, epoch=0)
