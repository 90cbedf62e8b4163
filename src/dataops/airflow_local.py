"""`dataops airflow`: watch the local schedules run in Airflow, against the sandboxes.

Starts the sandboxes the local (DuckDB) schedules read, writes the schedules file,
then runs `airflow standalone` (scheduler, DAG processor, triggerer, UI) from Airflow's
own venv in the foreground with AIRFLOW_HOME=output/airflow, until Ctrl-C, SIGTERM or
SIGHUP (a closed terminal), each of which stops Airflow and the sandboxes. Each DAG
runs `meltano schedule run NAME` on this machine into output/warehouse.duckdb, with the
demo's Meltano state (output/warehouse.meltano.db): the demo and Airflow continue each
other's incremental runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

from rich.console import Console

from dataops import project, schedules
from dataops.demo import SandboxOptions, sandboxes

STOP_GRACE_SECONDS = 20
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
LOCAL_PATTERN = "*-to-duckdb"  # the names of the schedules into project.LOCAL_LOADER


def airflow_bin() -> Path:
    """Airflow's own venv (make setup builds it)."""
    return project.root() / "orchestrate" / "airflow" / ".venv" / "bin"


def airflow_home() -> Path:
    return project.root() / "output" / "airflow"


def airflow_env(sandbox_env: dict[str, str], port: int) -> dict[str, str]:
    """This environment plus what Airflow and the local syncs need."""
    env = {
        **os.environ,
        **sandbox_env,
        # `airflow standalone` starts its components as `airflow …` from PATH.
        "PATH": f"{airflow_bin()}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(airflow_home()),
        "AIRFLOW__CORE__DAGS_FOLDER": str(schedules.schedules_file().parent),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # Unpaused, so each DAG runs at its next cron time while Airflow is up.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        # One sync at a time, as in the demo: local syncs share one DuckDB file and one
        # Meltano system database, neither of which takes concurrent writers.
        "AIRFLOW__CORE__PARALLELISM": "1",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        # Tasks reach the execution API, and log links point, through this URL.
        "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
        "DATAOPS_SCHEDULES_FILE": str(schedules.schedules_file()),
        "DATAOPS_SCHEDULE_PATTERN": LOCAL_PATTERN,
        "DATAOPS_SYNC_RUNNER": "local",
        "DATAOPS_PROJECT_ROOT": str(project.root()),
        "DATAOPS_MELTANO": project.meltano_executable(),
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "TARGET_DUCKDB_PATH": str(project.warehouse()),
    }
    # The demo's state database (see dataops.demo.run_demo), unless one is set.
    env.setdefault("MELTANO_DATABASE_URI", project.demo_database_uri())
    return env


class Stop(Exception):
    """A stop signal arrived."""


def request_stop(signum: int, frame: object) -> None:
    raise Stop(signal.Signals(signum).name)


def run_airflow(port: int, console: Console) -> None:
    """Run Airflow standalone over the local schedules until stopped (Ctrl-C, SIGTERM,
    SIGHUP); then stop it all."""
    airflow = airflow_bin() / "airflow"
    home = airflow_home()
    if not airflow.exists():
        raise SystemExit(
            f"{airflow} not found: build Airflow's venv with `make setup` "
            "(or `.tools/bin/uv sync --frozen --project orchestrate/airflow`)"
        )
    local = [s for s in schedules.export() if s["loader"] == project.LOCAL_LOADER]
    if not local:
        raise SystemExit(f"no schedule loads into {project.LOCAL_LOADER}: nothing to watch")
    console.print(f"schedules file: {schedules.schedules_file()} ({len(local)} local DAGs)")
    home.mkdir(parents=True, exist_ok=True)
    with sandboxes(sorted({s["extractor"] for s in local}), SandboxOptions()) as sandbox_env:
        console.print(
            f"Airflow UI: [bold]http://localhost:{port}[/bold] — user admin, password in "
            f"{home / 'simple_auth_manager_passwords.json.generated'} "
            "(written at first start)\n"
            f"Run a DAG now: the ▶ button, or `AIRFLOW_HOME={home} {airflow} dags "
            f"trigger {local[0]['name']}`. Ctrl-C stops Airflow and the sandboxes."
        )
        previous = {signum: signal.signal(signum, request_stop) for signum in STOP_SIGNALS}
        try:
            standalone = subprocess.Popen(
                [str(airflow), "standalone"],
                cwd=project.root(),
                env=airflow_env(sandbox_env, port),
                start_new_session=True,  # its own process group, stopped by stop() below
            )
            try:
                standalone.wait()
            except Stop as received:
                console.print(f"{received}: stopping Airflow…")
                stop(standalone)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    console.print(f"Airflow stopped (exit {standalone.returncode}); sandboxes stopped.")


def stop(standalone: subprocess.Popen[bytes]) -> None:
    """Ctrl-C to `airflow standalone`, which stops its components; then end whatever
    of its process group is left (a LocalExecutor shutdown can hang on its workers)."""
    # A second stop signal waits for this one to finish.
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in STOP_SIGNALS}
    try:
        standalone.send_signal(signal.SIGINT)
        for escalation in (signal.SIGTERM, signal.SIGKILL):
            try:
                standalone.wait(STOP_GRACE_SECONDS)
                break
            except subprocess.TimeoutExpired:
                signal_group(standalone, escalation)
        signal_group(standalone, signal.SIGKILL)
        standalone.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def signal_group(leader: subprocess.Popen[bytes], signum: int) -> None:
    """Send `signum` to every process left in `leader`'s process group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(leader.pid, signum)
