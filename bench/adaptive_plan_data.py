"""Adaptive plan data: every version over 36 months behind latency, exportData calls
one at a time against several at once (`max_parallel_requests`), by span length.

`latency_bound_s` is what the calls' round trips alone cost at that concurrency
(the metadata exports, then the exportData calls, each batch of `requests_at_once`
costing one latency); `startup_s` is the tap without any call (`--about`). The rest
is the simulator building answers and the tap unpivoting them.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.measure import run_measured
from dataops.sandbox import records, serve

TAP = str(Path(sys.executable).with_name("tap-adaptive"))
METADATA_CALLS = 8  # one per export method; exportDimensions serves two streams


def run(scale: int = 2, latency_ms: int = 200) -> list[dict[str, Any]]:
    truth = records("adaptive", scale=scale)
    rows = sum(1 for r in truth["plan_data"] if r["period"] >= "2024-01")
    versions = sum(1 for v in truth["versions"] if v["type"] != "VERSION_FOLDER")
    startup = run_measured([TAP, "--about"]).wall_s
    results: list[dict[str, Any]] = []
    with (
        serve("adaptive", scale=scale, latency_ms=latency_ms) as sandbox,
        tempfile.TemporaryDirectory() as tmp,
    ):
        config = Path(tmp) / "config.json"
        for months in (12, 3):
            calls = versions * math.ceil(36 / months)
            for parallel in (1, 4, 8):
                settings = {"months_per_request": months, "max_parallel_requests": parallel}
                config.write_text(
                    json.dumps(
                        {
                            "url_base": sandbox.url,
                            "username": sandbox.credentials["username"],
                            "password": sandbox.credentials["password"],
                            "start_period": "2024-01",
                            "end_period": "2026-12",
                            **settings,
                        }
                    )
                )
                measured = run_measured([TAP, "--config", str(config)])
                assert measured.returncode == 0, f"tap failed with {settings}"
                batches = math.ceil(METADATA_CALLS / parallel) + math.ceil(calls / parallel)
                bound = batches * latency_ms / 1000
                results.append(
                    {
                        "scale": scale,
                        "latency_ms": latency_ms,
                        "versions": versions,
                        "plan_rows": rows,
                        "months_per_call": months,
                        "export_data_calls": calls,
                        "requests_at_once": parallel,
                        "wall_s": round(measured.wall_s, 2),
                        "latency_bound_s": round(bound, 2),
                        "startup_s": round(startup, 2),
                        "plan_rows_per_s": round(rows / measured.wall_s),
                        "peak_rss_mib": round(measured.peak_rss_mib, 1),
                    }
                )
    return results
