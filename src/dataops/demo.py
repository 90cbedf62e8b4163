"""`dataops demo`: every local schedule, against the sandboxes, into the DuckDB warehouse.

Starts the sandbox each extractor needs on a free loopback port, runs every schedule
whose loader is target-duckdb with `meltano schedule run` (so state is kept per
schedule and a second demo is incremental), then prints rows per table and timings.
Meltano's state for the demo sits beside the warehouse (`output/warehouse.meltano.db`),
so deleting `output/` starts over cleanly.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from dataops import project, warehouse
from dataops.sandbox import serve


@dataclass(frozen=True)
class SandboxBinding:
    """Which sandbox an extractor reads in dev, and the env vars that point it there."""

    vendor: str
    env: Callable[[Any], dict[str, str]]
    """From the running sandbox (``url``, and for JDBC ``driver_jar``) to env vars."""
    http: bool = True
    """Whether the sandbox takes the HTTP options (latency, faults)."""


SANDBOX_FOR_EXTRACTOR: dict[str, SandboxBinding] = {
    "tap-zengrc": SandboxBinding("zengrc", lambda sb: {"TAP_ZENGRC_BASE_URL": sb.url}),
    "tap-edcast": SandboxBinding("edcast", lambda sb: {"TAP_EDCAST_URL_BASE": sb.url}),
    "tap-xactly": SandboxBinding(
        "xactly",
        lambda sb: {"TAP_XACTLY_JDBC_URL": sb.url, "TAP_XACTLY_DRIVER_JAR": sb.driver_jar},
        http=False,
    ),
    "tap-adaptive": SandboxBinding("adaptive", lambda sb: {"TAP_ADAPTIVE_URL_BASE": sb.url}),
}


@dataclass(frozen=True)
class SandboxOptions:
    seed: int = 0
    scale: int = 1
    epoch: int = 0
    latency_ms: int = 0
    faults: str = ""


@contextmanager
def sandboxes(extractors: list[str], options: SandboxOptions) -> Iterator[dict[str, str]]:
    """Start one sandbox per vendor the extractors need; yield the env that targets them."""
    env: dict[str, str] = {}
    with ExitStack() as stack:
        for extractor in extractors:
            binding = SANDBOX_FOR_EXTRACTOR.get(extractor)
            if binding is None:
                raise SystemExit(
                    f"no sandbox is known for extractor {extractor!r}: add it to "
                    "SANDBOX_FOR_EXTRACTOR in src/dataops/demo.py"
                )
            http: dict[str, Any] = (
                {"latency_ms": options.latency_ms, "faults": options.faults} if binding.http else {}
            )
            sandbox = stack.enter_context(
                serve(
                    binding.vendor,
                    seed=options.seed,
                    scale=options.scale,
                    epoch=options.epoch,
                    **http,
                )
            )
            env.update(binding.env(sandbox))
        yield env


@dataclass(frozen=True)
class TableChange:
    table: str
    rows: int
    added: int
    updated: int


def run_demo(
    options: SandboxOptions, console: Console, path: Path | None = None
) -> list[TableChange]:
    """Run every local schedule into the warehouse at `path` (default: the project's);
    print and return the changes."""
    path = path or project.warehouse()
    local = project.local_schedules()
    logs = project.root() / "output" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    before = warehouse.table_counts(path)
    run_started_at = datetime.now(UTC)
    timings: list[tuple[str, float]] = []
    started = time.monotonic()
    with sandboxes(sorted({s.extractor for s in local}), options) as env:
        env["TARGET_DUCKDB_PATH"] = str(path)
        if "MELTANO_DATABASE_URI" not in os.environ:
            # State lives next to the data it describes: removing output/ resets both.
            env["MELTANO_DATABASE_URI"] = project.demo_database_uri(path)
        for schedule in local:
            log = logs / f"{schedule.name}.log"
            console.print(f"meltano schedule run [bold]{schedule.name}[/bold]  (log: {log})")
            t0 = time.monotonic()
            result = project.meltano(
                "schedule", "run", schedule.name, env=env, capture=True, check=False
            )
            log.write_text(result.stdout + result.stderr)
            if result.returncode != 0:
                console.print(result.stderr[-5000:], markup=False, highlight=False)
                raise SystemExit(
                    f"schedule {schedule.name} failed (exit {result.returncode}); "
                    f"the end of its log is above, all of it in {log}"
                )
            timings.append((schedule.name, time.monotonic() - t0))
    total = time.monotonic() - started
    changes = table_changes(
        before, warehouse.table_counts(path), warehouse.rows_written_since(path, run_started_at)
    )
    console.print(summary_table(changes))
    for name, seconds in timings:
        console.print(f"{name}: {seconds:.1f} s")
    console.print(f"total: {total:.1f} s — warehouse: {path}")
    console.print("what each sync did, per stream: uv run dataops status")
    return changes


def table_changes(
    before: warehouse.TableCounts, after: warehouse.TableCounts, written: warehouse.TableCounts
) -> list[TableChange]:
    """Per table: rows now, rows added, and rows rewritten with new data (not added)."""
    changes = []
    for (schema, name), rows in sorted(after.items()):
        added = rows - before.get((schema, name), 0)
        updated = written.get((schema, name), 0) - added
        changes.append(TableChange(f"{schema}.{name}", rows, added, updated))
    return changes


def summary_table(changes: list[TableChange]) -> Table:
    table = Table(title="Warehouse rows per table")
    for column in ("schema.table", "rows", "added", "updated"):
        table.add_column(column, justify="left" if column == "schema.table" else "right")
    for change in changes:
        table.add_row(change.table, str(change.rows), str(change.added), str(change.updated))
    return table
