"""EdCast (Domo) → DuckDB end to end with `meltano run`, in record and in batch mode:
faults and token expiry on, two epochs, compared with ground truth; and both modes
load identical tables."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from dataops import project, verify
from dataops.sandbox import records, serve

SEED = 31
GLUE = "glue_groups_g3_group_performance_data_explorer"
KEY = ["ECL ID", "Time", "Group Name"]
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


def sync(env: dict[str, str], epoch: int, faults: str = FAULTS) -> None:
    with serve(
        "edcast",
        seed=SEED,
        epoch=epoch,
        faults=faults,
        retry_after=0,
        token_ttl_seconds=1,
        latency_ms=10,
    ) as sandbox:
        result = project.meltano(
            "run",
            "tap-edcast",
            "target-duckdb",
            env={**env, "TAP_EDCAST_URL_BASE": sandbox.url, "TAP_EDCAST_PAGE_SIZE": "700"},
            capture=True,
            check=False,
        )
    assert result.returncode == 0, result.stderr[-4000:]


def assert_warehouse_equals_truth(env: dict[str, str], epoch: int) -> None:
    path = Path(env["TARGET_DUCKDB_PATH"])
    truth = records("edcast", seed=SEED, epoch=epoch)
    for stream, key in ((GLUE, KEY), ("datasets", ["id"])):
        report = verify.compare_table(path, "tap_edcast", stream, truth[stream], key)
        assert report.ok, report.describe()


@pytest.mark.parametrize("mode", ["records", "batch", "batch-jsonl-gzip"])
def test_edcast_matches_truth_over_two_epochs(
    mode: str, meltano_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**meltano_env, **mode_env(mode, tmp_path)}
    sync(env, epoch=0)
    assert_warehouse_equals_truth(env, epoch=0)
    sync(env, epoch=1)
    assert_warehouse_equals_truth(env, epoch=1)


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
        sync(env, epoch=0, faults="")
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
