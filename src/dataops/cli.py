"""`dataops …`: the platform's command line."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from dataops import project
from dataops.sandbox.cli import sandbox_app
from dataops.schedules import schedules_app

app = typer.Typer(help="data-ops-meltano: sandboxes, demo and operations.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(schedules_app, name="schedules")


@app.command()
def demo(
    seed: int = typer.Option(0, help="Sandbox data seed."),
    scale: int = typer.Option(1, help="Sandbox data scale (1 ≈ 120 objects per collection)."),
    epoch: int = typer.Option(0, help="Sandbox epoch: later epochs add and update objects."),
    latency_ms: int = typer.Option(0, help="Latency added to every sandbox response."),
    faults: str = typer.Option("", help="Sandbox faults, e.g. '429:0.05,500:0.02'."),
    warehouse: Path = typer.Option(project.WAREHOUSE, help="DuckDB file to load into."),
) -> None:
    """Run every local schedule against the sandboxes into output/warehouse.duckdb."""
    from dataops.demo import SandboxOptions, run_demo

    run_demo(SandboxOptions(seed, scale, epoch, latency_ms, faults), Console(), warehouse)


@app.command()
def airflow(port: int = typer.Option(8080, help="Port of Airflow's UI and API.")) -> None:
    """Watch the local schedules run in Airflow (standalone) against the sandboxes."""
    from dataops.airflow_local import run_airflow

    run_airflow(port, Console())
