"""`dataops schedules export`: the Meltano schedules as a file for Airflow's DAG factory.

orchestrate/airflow/dags/meltano_schedules.py makes one DAG per schedule from this
file and never calls `meltano` while Airflow parses it: the file is written at build
time (image build, `make airflow`) from meltano.yml, as Meltano resolves it.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from dataops import project, status


def schedules_file() -> Path:
    """Where Airflow's DAGs read the schedules from (the default output of `export`)."""
    return project.root() / "orchestrate" / "airflow" / "dags" / "schedules.json"


def compiled(env: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Each schedule as Meltano's compiled project manifest has it, by name.

    `meltano schedule list` leaves start_date and annotations out; `meltano compile`
    keeps every key.
    """
    with tempfile.TemporaryDirectory() as tmp:
        project.meltano("compile", "--no-lint", "--directory", tmp, env=env, capture=True)
        manifest = json.loads((Path(tmp) / "meltano-manifest.json").read_text())
    return {s["name"]: s for s in manifest["schedules"]}


def export(output: Path | None = None, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Write every ELT schedule to `output` (default: `schedules_file()`), sorted by
    name, stable; return them."""
    output = output or schedules_file()
    manifest = compiled(env)
    now = datetime.now(UTC)
    entries = []
    for schedule in sorted(project.schedules(env), key=lambda s: s.name):
        declared = manifest.get(schedule.name, {})
        if not declared.get("start_date"):
            raise SystemExit(
                f"schedule {schedule.name!r} has no start_date: add one to its entry in "
                "meltano/schedules.meltano.yml"
            )
        where = f"meltano/schedules.meltano.yml, schedule {schedule.name}"
        try:
            slo = status.slo_seconds(declared, where, now)
        except status.StatusError as error:
            raise SystemExit(str(error)) from None
        gaps = status.cron_gaps(schedule.interval, now)
        entries.append(
            {
                "name": schedule.name,
                "extractor": schedule.extractor,
                "loader": schedule.loader,
                "interval": schedule.interval,
                "start_date": str(declared["start_date"]),
                # A sync still going when the next is due is hung: Airflow stops it.
                "timeout_seconds": min(gaps) if gaps else slo,
                "slo_seconds": slo,
            }
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    partial.write_text(json.dumps({"schedules": entries}, indent=2) + "\n")
    partial.replace(output)  # a DAG parse never sees half a file
    return entries


schedules_app = typer.Typer(help="The Meltano schedules, for Airflow.", no_args_is_help=True)


@schedules_app.command("export")
def export_command(
    output: Path | None = typer.Option(
        None, help="JSON file to write (default: orchestrate/airflow/dags/schedules.json)."
    ),
) -> None:
    """Write the schedules file that Airflow's DAGs are made from."""
    output = output or schedules_file()
    entries = export(output)
    Console().print(f"{len(entries)} schedules written to {output}")
