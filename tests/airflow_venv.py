"""Airflow's own venv (orchestrate/airflow/.venv), as the tests use it."""

from __future__ import annotations

import subprocess

from dataops import project

AIRFLOW_VENV = project.root() / "orchestrate" / "airflow" / ".venv" / "bin"


def python(code: str, *args: str, env: dict[str, str]) -> str:
    """What `code` printed, run by the Airflow venv's Python with `args` and `env`; an
    AssertionError with its last words when it fails."""
    done = subprocess.run(
        [str(AIRFLOW_VENV / "python"), "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout
