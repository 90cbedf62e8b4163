"""1,000,000 EdCast events from the Domo sandbox into DuckDB, four ways, in one run.

- stock: tap-edcast in record mode with one page at a time, into PyPI target-duckdb
  0.8.0 (SDK defaults, record messages: the stack this project replaces);
- records: tap-edcast record mode (pages fetched in parallel) into this project's
  target-duckdb;
- batch: tap-edcast writing Parquet BATCH files from Domo's answers, target-duckdb
  reading them natively;
- limit: DuckDB loading the same rows from one local Parquet file (no API, no Singer).

The sandbox runs in its own process (`dataops sandbox serve edcast`), so the figures
count the tap and target, plus the sandbox's share of the machine's 2 cores.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from bench.loader_throughput import rows_loaded, stock_target
from bench.measure import run_pipeline
from dataops.sandbox import edcast
from dataops.sandbox.vendor import DataParams

BIN = Path(sys.executable).parent
STREAM = "glue_groups_g3_group_performance_data_explorer"
SCALE = 500  # x 2,000 events (the sandbox's scale 1)
OUR_TARGET = {"add_record_metadata": True}
"""target-duckdb's settings as meltano.yml has them: the tap's full reads end with
ACTIVATE_VERSION, which needs the metadata columns."""


@contextmanager
def sandbox(scale: int) -> Iterator[dict[str, str]]:
    server = subprocess.Popen(
        [str(BIN / "dataops"), "sandbox", "serve", "edcast", "--scale", str(scale)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        yield {"url_base": url, "username": "sandbox-client", "password": "sandbox-client-secret"}
    finally:
        server.terminate()
        server.wait()


def measure_way(
    source: dict[str, str],
    tap_settings: dict[str, Any],
    target: str,
    target_settings: dict[str, Any],
    work: Path,
    events: int,
) -> dict[str, Any]:
    """One `tap-edcast | target` run into a new DuckDB file: rows loaded, wall time, each
    process's peak RSS."""
    db = work / f"{time.monotonic_ns()}.duckdb"
    tap_config, target_config = work / "tap.json", work / "target.json"
    tap_config.write_text(json.dumps({**source, **tap_settings}))
    target_config.write_text(
        json.dumps({"path": str(db), "default_target_schema": "tap_edcast", **target_settings})
    )
    measured = run_pipeline(
        [str(BIN / "tap-edcast"), "--config", str(tap_config)],
        [target, "--config", str(target_config)],
        log=work / "pipeline.log",
    )
    return {
        "events": events,
        "rows_loaded": rows_loaded(db, STREAM),
        "wall_s": round(measured.wall_s, 1),
        "events_per_s": round(events / measured.wall_s),
        "tap_peak_rss_mib": round(measured.tap_peak_rss_mib),
        "target_peak_rss_mib": round(measured.target_peak_rss_mib),
    }


def batch_settings(work: Path) -> dict[str, Any]:
    """tap-edcast's settings for Parquet BATCH files under `work`."""
    return {
        "batch_config": {
            "encoding": {"format": "parquet", "compression": "none"},
            "storage": {"root": (work / "batches").as_uri()},
        }
    }


def run(scale: int = SCALE) -> list[dict[str, Any]]:
    events = 2000 * scale
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, sandbox(scale) as source:
        work = Path(tmp)
        ways: dict[str, tuple[dict[str, Any], str, dict[str, Any]]] = {
            "stock (SDK defaults → PyPI target-duckdb 0.8.0)": (
                {"max_parallel_pages": 1},
                stock_target(),
                {},
            ),
            "records (tap-edcast → target-duckdb)": (
                {},
                str(BIN / "target-duckdb"),
                {**OUR_TARGET, "validate_records": False},
            ),
            "batch (Parquet BATCH → target-duckdb)": (
                batch_settings(work),
                str(BIN / "target-duckdb"),
                OUR_TARGET,
            ),
        }
        for name, (tap_settings, target, target_settings) in ways.items():
            results.append(
                {
                    "way": name,
                    **measure_way(source, tap_settings, target, target_settings, work, events),
                }
            )
        # Built only now: a child forked while this process holds the 1M rows would
        # count them in its own peak RSS.
        truth = edcast.truth_table(DataParams(scale=scale), STREAM)
        parquet = work / "truth.parquet"
        pq.write_table(truth, parquet)
        with duckdb.connect(str(work / "limit.duckdb")) as con:
            started = time.perf_counter()
            con.execute("CREATE TABLE t AS SELECT * FROM read_parquet(?)", [str(parquet)])
            wall = time.perf_counter() - started
        results.append(
            {
                "way": "limit (DuckDB from local Parquet)",
                "events": truth.num_rows,
                "rows_loaded": truth.num_rows,
                "wall_s": round(wall, 2),
                "events_per_s": round(truth.num_rows / wall),
                "tap_peak_rss_mib": "-",
                "target_peak_rss_mib": "-",
            }
        )
    stock = results[0]["events_per_s"]
    limit = results[-1]["events_per_s"]
    for row in results:
        row["x_stock"] = round(row["events_per_s"] / stock, 1)
        row["share_of_limit"] = f"{row['events_per_s'] / limit:.1%}"
    return results
