"""Adaptive → DuckDB end to end: real `meltano run tap-adaptive target-duckdb` against
the faulty XML simulator, compared with its ground truth over three epochs, the last
with cells and lines deleted in Adaptive."""

from __future__ import annotations

from pathlib import Path

import duckdb

from dataops.testing import pipelines

SEED = 17
FAULTS = "429:0.05,500:0.05,502:0.03,reset:0.03,truncate:0.03,html:0.03"


def sync(env: dict[str, str], epoch: int) -> None:
    synced = pipelines.sync(
        "tap-adaptive", "target-duckdb", env, seed=SEED, epoch=epoch, faults=FAULTS, retry_after=0
    )
    assert sum(synced.faults.values()) > 0, "the simulator injected no fault"


def assert_warehouse_equals_truth(env: dict[str, str], epoch: int) -> None:
    pipelines.assert_equals_truth(
        Path(env["TARGET_DUCKDB_PATH"]), "adaptive", seed=SEED, epoch=epoch
    )


def plan_keys(env: dict[str, str]) -> set[tuple]:
    with duckdb.connect(env["TARGET_DUCKDB_PATH"], read_only=True) as con:
        return set(
            con.execute(
                "SELECT version, account_code, level_name, dimension_key, period"
                " FROM tap_adaptive.plan_data"
            ).fetchall()
        )


def test_adaptive_to_duckdb_matches_truth_over_epochs_with_deletions(
    meltano_env: dict[str, str],
) -> None:
    sync(meltano_env, epoch=0)
    assert_warehouse_equals_truth(meltano_env, epoch=0)
    sync(meltano_env, epoch=1)  # actuals changed, a version added: merged, nothing doubled
    assert_warehouse_equals_truth(meltano_env, epoch=1)
    before = plan_keys(meltano_env)
    sync(meltano_env, epoch=2)  # cells blanked, lines cleared: deleted (hard_delete)
    assert_warehouse_equals_truth(meltano_env, epoch=2)
    assert before - plan_keys(meltano_env), "no cell was deleted"
