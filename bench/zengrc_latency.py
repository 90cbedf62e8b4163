"""Full ZenGRC sync against a sandbox with injected latency, by collections at once.

The tap is latency-bound: each page costs one round trip and a collection's pages
come one after another (a cursor needs the previous page). The bound for p
collections at once is max(total pages * latency / p, longest collection's pages *
latency). `over_bound_s` is what the tap spends beyond that bound and its own
start-up (interpreter and imports): what the round trips do not hide (the HTTP client,
JSON parsing, records conformed and written while no page is in flight) and, with
several collections at once, their indivisibility: `schedule_bound_s` is the round
trips alone when each collection goes, whole, to the first of the p slots to come
free, in the tap's order (by name).
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.measure import run_measured
from dataops.sandbox import records, serve

TAP = str(Path(sys.executable).with_name("tap-zengrc"))


def schedule_bound(pages: dict[str, int], parallel: int, latency: float) -> float:
    """Round trips alone when collections start in name order, each on the first of
    `parallel` slots to come free (the tap's thread pool)."""
    slots = [0] * parallel
    for name in sorted(pages):
        slots[slots.index(min(slots))] += pages[name]
    return max(slots) * latency


def run(scale: int = 4, latency_ms: int = 50, page_size: int = 50) -> list[dict[str, Any]]:
    pages = {
        name: max(1, math.ceil(len(rows) / page_size))
        for name, rows in records("zengrc", scale=scale).items()
    }
    n_records = sum(len(rows) for rows in records("zengrc", scale=scale).values())
    latency = latency_ms / 1000
    results: list[dict[str, Any]] = []
    # Interpreter and imports, no requests: the median of three runs.
    startup = statistics.median(run_measured([TAP, "--about"]).wall_s for _ in range(3))
    with serve("zengrc", scale=scale, latency_ms=latency_ms, page_size=page_size) as sandbox:
        for parallel in (1, 3, 6, 11):
            with tempfile.TemporaryDirectory() as tmp:
                config = Path(tmp) / "config.json"
                config.write_text(
                    json.dumps(
                        {
                            "base_url": sandbox.url,
                            **sandbox.credentials,
                            "max_parallel_streams": parallel,
                        }
                    )
                )
                measured = run_measured([TAP, "--config", str(config)])
            assert measured.returncode == 0, f"tap failed with {parallel} streams at once"
            bound = max(sum(pages.values()) * latency / parallel, max(pages.values()) * latency)
            results.append(
                {
                    "collections_at_once": parallel,
                    "wall_s": round(measured.wall_s, 2),
                    "latency_bound_s": round(bound, 2),
                    "schedule_bound_s": round(schedule_bound(pages, parallel, latency), 2),
                    "tap_startup_s": round(startup, 2),
                    "over_bound_s": round(measured.wall_s - startup - bound, 2),
                    # The figure: at most 1.2 at the default of 6 at once.
                    "× (bound + start-up)": round(measured.wall_s / (bound + startup), 2),  # noqa: RUF001
                    "records_per_s": round(n_records / measured.wall_s),
                    "peak_rss_mib": round(measured.peak_rss_mib, 1),
                }
            )
    return [
        {
            "scale": scale,
            "latency_ms": latency_ms,
            "pages": sum(pages.values()),
            "records": n_records,
            **row,
        }
        for row in results
    ]
