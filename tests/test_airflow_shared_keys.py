"""Keys two Airflow components must share in the cluster, each read from one key of the
secret `airflow`: the JWT secret (the scheduler signs its tasks' tokens, the API server
checks them) and `[api] secret_key` (the API server signs its requests for a running
task's log, the scheduler's log server checks them; the UI's sessions too).

Left unset, Airflow makes a random one per process (per pod), and the two sides no
longer agree: the real log server below refuses the API server's request.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from dataops import render
from dataops.check import base, wiring
from dataops.meltano_files import CLUSTER_ENVIRONMENTS
from tests import airflow_venv
from tests.airflow_venv import AIRFLOW_VENV
from tests.test_airflow import airflow_env
from tests.test_airflow_login import free_port, rendered

# Who signs with each key, and who checks with it.
SHARED = {
    wiring.JWT_SECRET: {"scheduler", "api-server"},
    wiring.API_SECRET_KEY: {"scheduler", "api-server"},
}
RUNNING_LOG = "dag_id=d/run_id=r/task_id=t/attempt=1.log"
FETCH = """
import sys
from airflow.utils.log.file_task_handler import _fetch_logs_from_service
import json
answer = _fetch_logs_from_service(sys.argv[1], sys.argv[2])
print(json.dumps([answer.status_code, answer.text]))
"""


@pytest.mark.parametrize("environment", CLUSTER_ENVIRONMENTS)
def test_both_sides_of_each_shared_key_read_the_same_secret_key(environment: str) -> None:
    objects = rendered(environment)
    templates = wiring.secret_template_keys(render.KubernetesTree(), environment)
    for variable, users in SHARED.items():
        assert variable in templates["airflow"]
        sources = {
            container["name"]: entry["valueFrom"]["secretKeyRef"]
            for _, container, _ in base.containers(environment, objects)
            for entry in container.get("env", [])
            if entry["name"] == variable
        }
        assert sources == {user: {"name": "airflow", "key": variable} for user in users}
        assert {name for name, keys in wiring.SECRETS_USED.items() if variable in keys} == users


def component_env(home: Path, **settings: str) -> dict[str, str]:
    """One Airflow component's environment, with its own home and task logs folder."""
    return airflow_env(home, AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(home / "logs"), **settings)


@contextlib.contextmanager
def log_server(home: Path, **settings: str) -> Iterator[str]:
    """The scheduler's log server (`airflow scheduler` starts the same) serving one
    running task's log from `home`; yields its address."""
    log = home / "logs" / RUNNING_LOG
    log.parent.mkdir(parents=True)
    log.write_text("syncing zengrc-to-snowflake: 1200 rows so far\n")
    port = free_port()
    process = subprocess.Popen(
        [
            str(AIRFLOW_VENV / "python"),
            "-c",
            f"from airflow.utils.serve_logs import serve_logs; serve_logs({port})",
        ],
        env=component_env(home, **settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "the log server stopped"
            assert time.monotonic() < deadline, "the log server did not start"
            with contextlib.suppress(requests.ConnectionError):
                requests.get(f"http://127.0.0.1:{port}/", timeout=5)
                break
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/log/{RUNNING_LOG}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def fetched(url: str, home: Path, **settings: str) -> tuple[int, str]:
    """What the API server gets when it asks for the running task's log at `url`."""
    printed = airflow_venv.python(FETCH, url, RUNNING_LOG, env=component_env(home, **settings))
    status, body = json.loads(printed.splitlines()[-1])
    return status, body


@pytest.mark.parametrize(
    ("keys", "served"),
    [
        ({"AIRFLOW__API__SECRET_KEY": "one-key-from-the-secret-airflow".ljust(64, "-")}, True),
        ({}, False),  # Airflow's default: each process its own
    ],
    ids=["shared", "unset"],
)
def test_the_api_server_reads_a_running_tasks_log_only_with_the_shared_key(
    tmp_path: Path, keys: dict[str, str], served: bool
) -> None:
    with log_server(tmp_path / "scheduler", **keys) as url:
        status, body = fetched(url, tmp_path / "api-server", **keys)
    if served:
        assert (status, body) == (200, "syncing zengrc-to-snowflake: 1200 rows so far\n")
    else:
        assert status == 403
