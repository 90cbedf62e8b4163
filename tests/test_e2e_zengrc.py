"""ZenGRC → DuckDB end to end: real `meltano run` against a faulty sandbox, compared
with the sandbox's ground truth over two epochs."""

from __future__ import annotations

from pathlib import Path

from dataops import project, verify
from dataops.sandbox import records, serve

FAULTS = "429:0.05,429-bare:0.03,500:0.03,502:0.02,503:0.03,reset:0.03,truncate:0.03,html:0.03"
SEED = 21
DESELECTED = {"vendors": frozenset({"owners", "contact"})}


def sync(env: dict[str, str], epoch: int) -> dict[str, int]:
    """One `meltano run tap-zengrc target-duckdb` against the sandbox at `epoch`."""
    with serve("zengrc", seed=SEED, epoch=epoch, faults=FAULTS, page_size=20, retry_after=0) as sb:
        result = project.meltano(
            "run",
            "tap-zengrc",
            "target-duckdb",
            env={**env, "TAP_ZENGRC_BASE_URL": sb.url},
            capture=True,
            check=False,
        )
        faults = sb.stats.snapshot()["faults"]
    assert result.returncode == 0, result.stderr[-4000:]
    return faults


def assert_warehouse_equals_truth(env: dict[str, str], epoch: int) -> None:
    path = Path(env["TARGET_DUCKDB_PATH"])
    truth = records("zengrc", seed=SEED, epoch=epoch)
    reports = [
        verify.compare_table(
            path, "tap_zengrc", stream, rows, ["id"], DESELECTED.get(stream, frozenset())
        )
        for stream, rows in truth.items()
    ]
    failures = [r.describe() for r in reports if not r.ok]
    assert not failures, "\n".join(failures)
    assert {r.table for r in reports} == {f"tap_zengrc.{s}" for s in truth}


def test_zengrc_to_duckdb_matches_truth_over_two_epochs_with_faults(
    meltano_env: dict[str, str],
) -> None:
    faults = sync(meltano_env, epoch=0)
    assert sum(faults.values()) > 0, "the sandbox injected no fault"
    assert_warehouse_equals_truth(meltano_env, epoch=0)

    sync(meltano_env, epoch=1)  # state from the first run: incremental
    assert_warehouse_equals_truth(meltano_env, epoch=1)

    sync(meltano_env, epoch=1)  # nothing new: converges, nothing doubled
    assert_warehouse_equals_truth(meltano_env, epoch=1)
