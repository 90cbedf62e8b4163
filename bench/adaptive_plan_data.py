"""Adaptive plan data: every version over 36 months behind 100 ms of latency, exportData
calls one at a time against several at once (`max_parallel_requests`)."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.measure import run_measured
from dataops.sandbox import records, serve

TAP = str(Path(sys.executable).with_name("tap-adaptive"))


def run(latency_ms: int = 100, months_per_request: int = 12) -> list[dict[str, Any]]:
    truth = records("adaptive")
    rows = len(truth["plan_data"])
    versions = sum(1 for v in truth["versions"] if v["type"] != "VERSION_FOLDER")
    calls = versions * 36 // months_per_request
    results: list[dict[str, Any]] = []
    with serve("adaptive", latency_ms=latency_ms) as sandbox, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.json"
        for parallel in (1, 4, 8):
            config.write_text(
                json.dumps(
                    {
                        "url_base": sandbox.url,
                        "username": sandbox.credentials["username"],
                        "password": sandbox.credentials["password"],
                        "start_period": "2024-01",
                        "end_period": "2026-12",
                        "months_per_request": months_per_request,
                        "max_parallel_requests": parallel,
                    }
                )
            )
            measured = run_measured([TAP, "--config", str(config)])
            assert measured.returncode == 0, f"tap failed with {parallel} requests at once"
            results.append(
                {
                    "latency_ms": latency_ms,
                    "versions": versions,
                    "export_data_calls": calls,
                    "requests_at_once": parallel,
                    "wall_s": round(measured.wall_s, 2),
                    "plan_rows_per_s": round(rows / measured.wall_s),
                    "peak_rss_mib": round(measured.peak_rss_mib, 1),
                }
            )
    return results
