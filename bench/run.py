"""Run every benchmark scenario; print Markdown tables and save JSON in bench/results/.

uv run python -m bench.run [scenario …] [--ways stock,records,batch,limit]
(scenarios: zengrc_latency, loader, postgres_loader, edcast_million, xactly_sync,
adaptive_plan_data, memory_growth, incremental)
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import (
    adaptive_plan_data,
    edcast_million,
    incremental,
    loader_throughput,
    memory_growth,
    postgres_loader,
    xactly_sync,
    zengrc_latency,
)
from bench.edcast_million import WAYS

SCENARIOS: dict[str, Callable[[], list[dict[str, Any]]]] = {
    "zengrc_latency": zengrc_latency.run,
    "loader": loader_throughput.run,
    "postgres_loader": postgres_loader.run,
    "edcast_million": edcast_million.run,
    "xactly_sync": xactly_sync.run,
    "adaptive_plan_data": adaptive_plan_data.run,
    "memory_growth": memory_growth.run,
    "incremental": incremental.run,
}
RESULTS = Path(__file__).resolve().parent / "results"


def markdown(rows: list[dict[str, Any]]) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("scenarios", nargs="*", metavar="scenario", help="default: all")
    parser.add_argument(
        "--ways",
        help=f"edcast_million only: ways to measure, comma-separated ({','.join(WAYS)})",
    )
    args = parser.parse_args(argv)
    names: list[str] = args.scenarios
    unknown = sorted(set(names) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; known: {sorted(SCENARIOS)}")
    scenarios = dict(SCENARIOS)
    if args.ways is not None:
        if names != ["edcast_million"]:
            parser.error("--ways applies to the edcast_million scenario alone")
        ways = tuple(way.strip() for way in args.ways.split(",") if way.strip())
        bad = sorted(set(ways) - set(WAYS))
        if bad or not ways:
            parser.error(f"--ways: unknown way(s) {bad}; known: {','.join(WAYS)}")
        scenarios["edcast_million"] = lambda: edcast_million.run(ways=ways)
    RESULTS.mkdir(exist_ok=True)
    machine = f"{platform.machine()}, Python {platform.python_version()}"
    for name in names or list(SCENARIOS):
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        rows = scenarios[name]()
        (RESULTS / f"{name}.json").write_text(
            json.dumps(
                {"scenario": name, "started": started, "machine": machine, "rows": rows}, indent=2
            )
        )
        print(f"\n### {name} ({started}, {machine})\n\n{markdown(rows)}")


if __name__ == "__main__":
    main(sys.argv[1:])
