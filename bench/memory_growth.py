"""Peak RSS of tap-edcast and target-duckdb as the data grow: 100,000, 500,000 and
1,000,000 events, records and Parquet BATCH, each process measured apart. The target
the issue sets: under 500 MiB each at 1M events, growing at most 1.2 times from 100k to
1M (pages streamed to files, bounded queues, no whole-result buffers); the growth from
500k shows whether the peak is flat once the pipeline is full.

Rows loaded are checked against the sandbox's truth (one row per key).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.edcast_million import BIN, OUR_TARGET, STREAM, batch_settings, measure_way, sandbox
from dataops.sandbox import edcast
from dataops.sandbox.vendor import DataParams

SCALES = (50, 250, 500)  # x 2,000 events: 100k, 500k and 1M
TARGET = str(BIN / "target-duckdb")
console = Console(stderr=True)


def run() -> list[dict[str, Any]]:
    measured: dict[tuple[str, int], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ways: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
            "records": ({}, {**OUR_TARGET, "validate_records": False}),
            "batch": (batch_settings(work), OUR_TARGET),
            "batch, target without memory_limit": (
                batch_settings(work),
                {**OUR_TARGET, "memory_limit": ""},
            ),
        }
        for scale in SCALES:
            events = 2000 * scale
            with sandbox(scale) as source:
                for way, (tap_settings, target_settings) in ways.items():
                    console.print(f"memory_growth: {way}, {events:,} events …")
                    row = measure_way(source, tap_settings, TARGET, target_settings, work, events)
                    measured[(way, scale)] = row
    # The truth only now: a child forked while this process holds it would count it.
    for (way, scale), row in measured.items():
        expected = edcast.truth(DataParams(scale=scale))[STREAM]["rows"]
        if row["rows_loaded"] != expected:
            msg = f"{way} at scale {scale} loaded {row['rows_loaded']:,} rows of {expected:,}"
            raise RuntimeError(msg)
    smallest, middle, largest = SCALES
    rows = []
    for (way, scale), row in measured.items():
        # Peak RSS at 1M events over that at 100k (the target: at most 1.2), and
        # over that at 500k (flat once the pipeline is full).
        growth = {}
        for base in (smallest, middle):
            for process in ("tap", "target"):
                key = f"{process} peak RSS MiB"
                ratio = row[key] / measured[(way, base)][key]
                label = f"{process} growth from {2 * base}k"
                growth[label] = round(ratio, 2) if scale == largest else ""
        rows.append({"way": way, **row, **growth})
    return rows
