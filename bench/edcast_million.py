"""1,000,000 EdCast events from the Domo sandbox into DuckDB, each way in one run.

Ways (``--ways``, default all):

- stock: an SDK-default Domo tap (`bench/stock_domo_tap.py`: the SDK's REST template,
  OFFSET pages one at a time, every column a string) into PyPI target-duckdb 0.8.0 (the
  stack this project replaces; not tap-edcast, so the baseline stays put as tap-edcast
  changes);
- records: tap-edcast record mode (pages fetched in parallel) into this project's
  target-duckdb;
- batch: tap-edcast writing Parquet BATCH files from Domo's answers, target-duckdb
  reading them natively;
- limit: the two floors of any pipeline on this machine, measured apart. The source
  floor downloads every page of the dataset from the sandbox with the tap's parallelism
  and page size and discards it (no parsing, no Singer); the load floor is DuckDB
  creating the table from one local Parquet file of the same rows. The limit is the
  slower of the two, and a way's ``share of limit`` is limit time / its time.

The sandbox runs in its own process (`dataops sandbox serve edcast`), so the figures
count the tap and target, plus the sandbox's share of the machine's 2 cores.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import typing as t
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
from rich.console import Console

from bench.loader_throughput import rows_loaded, stock_target
from bench.measure import run_pipeline
from dataops.sandbox import edcast
from dataops.sandbox.vendor import DataParams

if t.TYPE_CHECKING:
    import requests

    from tap_edcast.streams import DatasetStream

BIN = Path(sys.executable).parent
STREAM = "glue_groups_g3_group_performance_data_explorer"
SCALE = 500  # x 2,000 events (the sandbox's scale 1)
TAP_EDCAST = [str(BIN / "tap-edcast")]
STOCK_TAP = [sys.executable, "-m", "bench.stock_domo_tap"]
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
    tap: list[str] = TAP_EDCAST,
) -> dict[str, Any]:
    """One `tap | target` run (tap-edcast unless told) into a new DuckDB file: rows
    loaded, wall time, each process's peak RSS."""
    db = work / f"{time.monotonic_ns()}.duckdb"
    tap_config, target_config = work / "tap.json", work / "target.json"
    tap_config.write_text(json.dumps({**source, **tap_settings}))
    target_config.write_text(
        json.dumps({"path": str(db), "default_target_schema": "tap_edcast", **target_settings})
    )
    measured = run_pipeline(
        [*tap, "--config", str(tap_config)],
        [target, "--config", str(target_config)],
        log=work / "pipeline.log",
    )
    return {
        "events": events,
        "rows_loaded": rows_loaded(db, STREAM),
        "wall_s": round(measured.wall_s, 2),
        "events_per_s": round(events / measured.wall_s),
        "tap peak RSS MiB": round(measured.tap_peak_rss_mib),
        "target peak RSS MiB": round(measured.target_peak_rss_mib),
    }


def batch_settings(work: Path) -> dict[str, Any]:
    """tap-edcast's settings for Parquet BATCH files under `work`."""
    return {
        "batch_config": {
            "encoding": {"format": "parquet", "compression": "none"},
            "storage": {"root": (work / "batches").as_uri()},
        }
    }


@dataclass(frozen=True)
class Pipeline:
    """One `tap-edcast | target` way of loading the events."""

    description: str
    tap_settings: dict[str, Any]
    target: Callable[[], str]
    """The target's executable (a function: the stock one is installed on first use)."""
    target_settings: dict[str, Any]
    exact: bool = True
    """Must load exactly the truth's rows (the stock target is known not to)."""
    tap: list[str] = field(default_factory=lambda: TAP_EDCAST)


def pipelines(work: Path) -> dict[str, Pipeline]:
    ours = str(BIN / "target-duckdb")
    return {
        "stock": Pipeline(
            "an SDK-default Domo tap (bench/stock_domo_tap.py) → PyPI target-duckdb 0.8.0",
            {},
            stock_target,
            {},
            exact=False,
            tap=STOCK_TAP,
        ),
        "records": Pipeline(
            "tap-edcast records → target-duckdb",
            {},
            lambda: ours,
            {**OUR_TARGET, "validate_records": False},
        ),
        "batch": Pipeline(
            "tap-edcast Parquet BATCH files → target-duckdb",
            batch_settings(work),
            lambda: ours,
            OUR_TARGET,
        ),
    }


WAYS = ("stock", "records", "batch", "limit")


def source_floor(source: dict[str, str], events: int) -> float:
    """Seconds to download every page of the stream as the tap asks for them (its page
    size, order and parallelism), each answer read whole and discarded."""
    from tap_edcast.tap import TapEdCast  # the tap's own discovery and client

    tap = TapEdCast(config=source)
    stream = t.cast("DatasetStream", tap.streams[STREAM])
    page_size, workers = int(tap.config["page_size"]), int(tap.config["max_parallel_pages"])
    order, path = stream.order.order_by(), f"/v1/datasets/query/execute/{stream.dataset_id}"

    def download(offset: int) -> int:
        sql = f"SELECT * FROM table ORDER BY {order} LIMIT {page_size} OFFSET {offset}"  # noqa: S608

        def size(response: requests.Response) -> int:
            return len(response.content)

        return stream.client.call("POST", path, json={"sql": sql}, accept=size)

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        downloaded = sum(pool.map(download, range(0, events, page_size)))
    wall = time.perf_counter() - started
    if downloaded < events:  # every row is dozens of bytes: an empty answer is a bug
        raise RuntimeError(f"the source floor downloaded {downloaded:,} bytes only")
    return wall


def load_floor(work: Path, scale: int) -> tuple[float, int]:
    """Seconds for DuckDB to create the table from one local Parquet file of the truth's
    rows, and how many rows."""
    truth = edcast.truth_table(DataParams(scale=scale), STREAM)
    parquet = work / "truth.parquet"
    pq.write_table(truth, parquet)
    with duckdb.connect(str(work / "limit.duckdb")) as con:
        started = time.perf_counter()
        con.execute("CREATE TABLE t AS SELECT * FROM read_parquet(?)", [str(parquet)])
        return time.perf_counter() - started, truth.num_rows


def floor_row(way: str, description: str, events: int, wall: float) -> dict[str, Any]:
    return {
        "way": way,
        "description": description,
        "events": events,
        "rows_loaded": "-",
        "wall_s": round(wall, 2),
        "events_per_s": round(events / wall),
        "tap peak RSS MiB": "-",
        "target peak RSS MiB": "-",
    }


def run(scale: int = SCALE, ways: tuple[str, ...] = WAYS) -> list[dict[str, Any]]:
    unknown = sorted(set(ways) - set(WAYS))
    if unknown:
        raise SystemExit(f"edcast_million: unknown way(s) {unknown}; known: {', '.join(WAYS)}")
    console = Console(stderr=True)
    events = 2000 * scale
    results: list[dict[str, Any]] = []
    exact: list[dict[str, Any]] = []  # the rows of ways that must load the truth exactly
    with tempfile.TemporaryDirectory() as tmp, sandbox(scale) as source:
        work = Path(tmp)
        for name, way in pipelines(work).items():
            if name not in ways:
                continue
            console.print(f"edcast_million: {name} ({way.description}), {events:,} events …")
            row = measure_way(
                source, way.tap_settings, way.target(), way.target_settings, work, events, way.tap
            )
            results.append({"way": name, "description": way.description, **row})
            if way.exact:
                exact.append(results[-1])
            console.print(f"  {row['wall_s']} s, {row['rows_loaded']:,} rows")
        if "limit" in ways:
            console.print("edcast_million: source floor (download every page) …")
            downloaded = source_floor(source, events)
            console.print("edcast_million: load floor (DuckDB from one Parquet file) …")
            loaded, rows = load_floor(work, scale)
            results += [
                floor_row(
                    "source floor",
                    "download every page as the tap asks (4 at a time), discard",
                    events,
                    downloaded,
                ),
                floor_row("load floor", "DuckDB from one local Parquet file", rows, loaded),
            ]
    # The truth only now: a child forked while this process holds the rows would count
    # them in its own peak RSS.
    expected = edcast.truth(DataParams(scale=scale))[STREAM]["rows"]
    for row in exact:
        if row["rows_loaded"] != expected:
            msg = f"{row['way']} loaded {row['rows_loaded']:,} rows of {expected:,}"
            raise RuntimeError(msg)
    by_way = {row["way"]: row for row in results}
    limit_s = max(
        (by_way[w]["wall_s"] for w in ("source floor", "load floor") if w in by_way),
        default=None,
    )
    stock_s = by_way["stock"]["wall_s"] if "stock" in by_way else None
    for row in results:
        row["× stock"] = round(stock_s / row["wall_s"], 1) if stock_s else "-"  # noqa: RUF001
        row["share of limit"] = round(limit_s / row["wall_s"], 3) if limit_s else "-"
    return results
