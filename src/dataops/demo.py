"""`dataops demo`: every local schedule, against the sandboxes, into the DuckDB warehouse.

Starts the sandbox each extractor needs on a free loopback port, runs every schedule
whose loader is target-duckdb with `meltano schedule run` (so state is kept per
schedule and a second demo is incremental), then prints rows per table and timings.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from dataops import project, warehouse
from dataops.sandbox import serve

LOGS = project.PROJECT_ROOT / "output" / "logs"


@dataclass(frozen=True)
class SandboxBinding:
    """Which sandbox an extractor reads in dev, and the env vars that point it there."""

    vendor: str
    env: Callable[[str], dict[str, str]]


SANDBOX_FOR_EXTRACTOR: dict[str, SandboxBinding] = {
    "tap-zengrc": SandboxBinding("zengrc", lambda url: {"TAP_ZENGRC_BASE_URL": url}),
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
            sandbox = stack.enter_context(
                serve(
                    binding.vendor,
                    seed=options.seed,
                    scale=options.scale,
                    epoch=options.epoch,
                    latency_ms=options.latency_ms,
                    faults=options.faults,
                )
            )
            env.update(binding.env(sandbox.url))
        yield env


def run_demo(options: SandboxOptions, console: Console) -> None:
    local = project.local_schedules()
    path = project.WAREHOUSE
    LOGS.mkdir(parents=True, exist_ok=True)
    before = warehouse.table_counts(path)
    run_started_at = datetime.now(UTC)
    timings: list[tuple[str, float]] = []
    started = time.monotonic()
    with sandboxes(sorted({s.extractor for s in local}), options) as env:
        for schedule in local:
            log = LOGS / f"{schedule.name}.log"
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
    console.print(
        summary_table(
            before,
            warehouse.table_counts(path),
            warehouse.rows_written_since(path, run_started_at),
        )
    )
    for name, seconds in timings:
        console.print(f"{name}: {seconds:.1f} s")
    console.print(f"total: {total:.1f} s — warehouse: {path}")


def summary_table(
    before: warehouse.TableCounts, after: warehouse.TableCounts, written: warehouse.TableCounts
) -> Table:
    table = Table(title="Warehouse rows per table")
    table.add_column("schema.table")
    table.add_column("rows", justify="right")
    table.add_column("added", justify="right")
    table.add_column("updated", justify="right")
    for (schema, name), rows in sorted(after.items()):
        added = rows - before.get((schema, name), 0)
        updated = written.get((schema, name), 0) - added
        table.add_row(f"{schema}.{name}", str(rows), str(added), str(updated))
    return table
