"""Airflow 3 running the Meltano schedules: the DAG factory parsed by a real DagBag, and
real `airflow dags test` runs (metadata DB on PostgreSQL) into DuckDB.

Airflow lives in its own venv (orchestrate/airflow/.venv): these tests drive it through
its python and `airflow` executables.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml
from dotenv import dotenv_values

from dataops import check, meltano_files, project, render, schedules, status
from dataops.sandbox import records, serve
from dataops.testing import verify
from tests import airflow_venv
from tests.airflow_venv import AIRFLOW_VENV

DAGS = project.root() / "orchestrate" / "airflow" / "dags"
TASK_ID = "meltano-schedule-run"
WATCHDOG = "dataops-watchdog"
# What a retry of a run triggered with {"streams": ["audits"], "full_refresh": true} adds.
RESYNC_FLAGS = ["--force", "--select", "audits", "--full-refresh", "--state-strategy", "merge"]
# What a first try of a run triggered with {"streams": ["audits"], "start_date": "2024-05-01"}
# passes: its flags, and the date in the extractor's backfill_from variable.
BACKFILL_FLAGS = ["--select", "audits", "--state-strategy", "merge"]
BACKFILL_FROM = "{{ backfill_from(params) }}"
REFUSED = (
    "`start_date` (a backfill: older rows kept) and `full_refresh` (everything read again, "
    "rows gone from the source removed) exclude each other"
)
POSTGRES = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
SEED = 5
# Columns the project's select rules drop (meltano/extractors.meltano.yml).
DESELECTED = {"vendors": frozenset({"owners", "contact"})}

# Run by the Airflow venv's python: parse the DAG folder once per scenario (a dict of
# env settings), and write down what Airflow made of it.
PARSE = """
import json, os, sys
from types import SimpleNamespace
from airflow.dag_processing.dagbag import DagBag
from kubernetes.client import ApiClient

# A retry of a run triggered with these parameters.
RESYNC = {
    "ti": SimpleNamespace(try_number=2),
    "params": {"streams": ["audits"], "full_refresh": True},
}


BACKFILL = {
    "ti": SimpleNamespace(try_number=1),
    "params": {"streams": ["audits"], "full_refresh": False, "start_date": "2024-05-01"},
}
BOTH = {
    "ti": SimpleNamespace(try_number=1),
    "params": {"full_refresh": True, "start_date": "2024-05-01"},
}


def rendered(t, template, context=RESYNC):
    return t.render_template(template, context, jinja_env=t.dag.get_template_env())


def refusal(t, template):
    try:
        rendered(t, template, BOTH)
    except ValueError as error:
        return str(error)
    return None


def task(t):
    seen = {
        "type": type(t).__name__,
        "retries": t.retries,
        "retry_delay": t.retry_delay.total_seconds(),
        "on_failure_callback": [f.__name__ for f in t.on_failure_callback or []],
        "execution_timeout": t.execution_timeout.total_seconds(),
    }
    if seen["type"] == "BashOperator":
        seen |= {"bash_command": t.bash_command, "cwd": t.cwd}
        if t.dag.params.get("streams") is not None:
            seen["resync_command"] = rendered(t, t.bash_command)
            seen["env"] = t.env
            seen["backfill_command"] = rendered(t, t.bash_command, BACKFILL)
            seen["backfill_env"] = rendered(t, t.env, BACKFILL)
            seen["refused"] = refusal(t, t.bash_command)
    else:
        resources = t.container_resources
        seen |= {
            "image": t.image,
            "namespace": t.namespace,
            "cmds": t.cmds,
            "arguments": t.arguments,
            "env_from": ApiClient().sanitize_for_serialization(t.env_from),
            "env_vars": ApiClient().sanitize_for_serialization(t.env_vars),
            "service_account_name": t.service_account_name,
            "labels": t.labels,
            "requests": resources.requests,
            "limits": resources.limits,
            "pod_template_file": t.pod_template_file,
            "in_cluster": t.in_cluster,
            "on_finish_action": t.on_finish_action.value,
            "durable": t.durable,
            "resync_arguments": rendered(t, t.arguments),
            "backfill_arguments": rendered(t, t.arguments, BACKFILL),
            "backfill_env_vars": ApiClient().sanitize_for_serialization(
                rendered(t, t.env_vars, BACKFILL)
            ),
            "refused": refusal(t, t.arguments),
        }
        # The pod it would start (its template merged in), as the API would get it.
        pod = t.build_pod_request_obj(dry_run=True)
        seen["pod"] = ApiClient().sanitize_for_serialization(pod)
    return seen

def summary(bag):
    dags = {
        dag_id: {
            "schedule": dag.schedule,
            "start_date": dag.start_date.isoformat(),
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "native": dag.render_template_as_native_obj,
            "tags": sorted(dag.tags),
            "tasks": {t.task_id: task(t) for t in dag.tasks},
        }
        for dag_id, dag in bag.dags.items()
    }
    return {"errors": list(bag.import_errors.values()), "dags": dags}

base = dict(os.environ)
parsed = {}
for name, settings in json.load(open(sys.argv[2])).items():
    os.environ.clear()
    os.environ.update(base | settings)
    parsed[name] = summary(DagBag(dag_folder=sys.argv[1]))
json.dump(parsed, open(sys.argv[3], "w"))
"""

# What the production overlay mounts at /etc/dataops (`dataops render` writes both).
GENERATED = project.root() / "deploy" / "kubernetes" / "overlays" / "production" / "generated"
KUBERNETES = {
    "DATAOPS_SYNC_RUNNER": "kubernetes",
    "DATAOPS_IMAGE": "registry.example/meltano:1.2.3",
    "DATAOPS_SCHEDULE_PATTERN": "*-to-snowflake",
    "DATAOPS_SYNC_POD_TEMPLATE": str(GENERATED / "sync-pod.yaml"),
    "DATAOPS_SYNC_ENV_FILE": str(GENERATED / "sync-env.json"),
    "MELTANO_ENVIRONMENT": "production",
}
SCENARIOS: dict[str, dict[str, str]] = {
    "local": {"DATAOPS_MELTANO": "/opt/meltano/bin/meltano"},
    "kubernetes": {
        **KUBERNETES,
        "DATAOPS_SYNC_RETRIES": "3",
        "DATAOPS_SYNC_RETRY_DELAY_SECONDS": "60",
    },
    "local-pattern": {"DATAOPS_SCHEDULE_PATTERN": "*-to-duckdb"},
}
# Settings that cannot be used: the settings, what the import error says.
BAD_SETTINGS: dict[str, tuple[dict[str, str], str]] = {
    "no-image": (
        {"DATAOPS_SYNC_RUNNER": "kubernetes"},
        "DATAOPS_SYNC_RUNNER=kubernetes needs DATAOPS_IMAGE",
    ),
    "unknown-runner": (
        {"DATAOPS_SYNC_RUNNER": "docker"},
        "DATAOPS_SYNC_RUNNER='docker': expected one of local, kubernetes",
    ),
    "bad-retries": (
        {"DATAOPS_SYNC_RETRIES": "once"},
        "DATAOPS_SYNC_RETRIES='once' is not an integer",
    ),
    "no-sync-env": (
        {**KUBERNETES, "DATAOPS_SYNC_ENV_FILE": ""},
        "DATAOPS_SYNC_RUNNER=kubernetes needs DATAOPS_SYNC_ENV_FILE",
    ),
}
# Sync env files that cannot be used: content (None: no file), what the error says.
BAD_SYNC_ENV: dict[str, tuple[str | None, str]] = {
    "sync-env-missing": (None, "not found: run `dataops render` and deploy its overlay"),
    "sync-env-not-json": ("secret: tap-secrets\n", "is malformed (JSONDecodeError"),
}
# A sync env file without this overlay's schedules: their DAGs are left out (each logs
# why), the watchdog stays and reports them stale.
OTHER_SCHEDULES = '{"secret": "tap-secrets", "schedules": {"zengrc-to-duckdb": []}}'
# Schedules files that cannot be used: content (None: no file), what the error says.
BAD_FILES: dict[str, tuple[str | None, str]] = {
    "missing": (None, "not found"),
    "truncated": ('{"schedules": [', "is malformed"),
    "incomplete": ('{"schedules": [{"name": "x-to-duckdb"}]}', "lacks extractor"),
    "bad-start-date": (
        '{"schedules": [{"name": "x", "extractor": "tap-x", "loader": "target-x", '
        '"interval": "@daily", "start_date": "soon", "timeout_seconds": 60}]}',
        "is malformed (ValueError: Invalid isoformat string: 'soon')",
    ),
}


def airflow_env(home: Path, **settings: str) -> dict[str, str]:
    """This environment without the caller's Airflow/DataOps settings, plus `settings`."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "DATAOPS_"))}
    return {
        **inherited,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        **settings,
    }


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[project.Schedule]]:
    """The schedules file as `dataops schedules export` writes it, and the schedules
    Meltano lists (the expectation)."""
    work = tmp_path_factory.mktemp("schedules")
    isolated = project.isolated_env(work)
    path = work / "schedules.json"
    schedules.export(path, env=isolated)
    return path, project.schedules(isolated)


@pytest.fixture(scope="module")
def parsed(
    tmp_path_factory: pytest.TempPathFactory, exported: tuple[Path, list[project.Schedule]]
) -> dict[str, dict[str, Any]]:
    """Per scenario (SCENARIOS, BAD_SETTINGS, BAD_FILES, BAD_SYNC_ENV): the DAG folder as
    a real DagBag parses it."""
    work = tmp_path_factory.mktemp("dagbag")
    scenarios = {
        name: {"DATAOPS_SCHEDULES_FILE": str(exported[0]), **settings}
        for name, settings in SCENARIOS.items()
    }
    for name, (settings, _) in BAD_SETTINGS.items():
        scenarios[name] = {"DATAOPS_SCHEDULES_FILE": str(exported[0]), **settings}
    for name, (content, _) in BAD_FILES.items():
        path = work / f"{name}.json"
        if content is not None:
            path.write_text(content)
        scenarios[name] = {"DATAOPS_SCHEDULES_FILE": str(path)}
    for name, (content, _) in [*BAD_SYNC_ENV.items(), ("other-schedules", (OTHER_SCHEDULES, ""))]:
        path = work / f"{name}.json"
        if content is not None:
            path.write_text(content)
        scenarios[name] = {
            "DATAOPS_SCHEDULES_FILE": str(exported[0]),
            **KUBERNETES,
            "DATAOPS_SYNC_ENV_FILE": str(path),
        }
    (work / "scenarios.json").write_text(json.dumps(scenarios))
    done = subprocess.run(
        [
            str(AIRFLOW_VENV / "python"),
            "-c",
            PARSE,
            str(DAGS),
            str(work / "scenarios.json"),
            str(work / "parsed.json"),
        ],
        env=airflow_env(work / "home"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((work / "parsed.json").read_text())
    for name, settings in scenarios.items():
        results[name]["schedules_file"] = settings["DATAOPS_SCHEDULES_FILE"]
    return results


def test_one_dag_per_schedule_running_meltano_locally(
    parsed: dict[str, dict[str, Any]], exported: tuple[Path, list[project.Schedule]]
) -> None:
    expected = exported[1]
    timeouts = {s["name"]: s["timeout_seconds"] for s in exported_entries(exported[0])}
    assert parsed["local"]["errors"] == []
    assert sorted(parsed["local"]["dags"]) == sorted([WATCHDOG, *(s.name for s in expected)])
    for schedule in expected:
        dag = parsed["local"]["dags"][schedule.name]
        timeout = timeouts[schedule.name]  # hung: stopped (and alerted) when the next is due
        assert dag["schedule"] == schedule.interval
        assert dag["start_date"] == "2024-01-01T00:00:00+00:00"
        assert (dag["catchup"], dag["max_active_runs"], dag["native"]) == (False, 1, True)
        assert dag["tags"] == sorted(["meltano", schedule.extractor, schedule.loader])
        assert dag["tasks"] == {
            TASK_ID: {
                "type": "BashOperator",
                "retries": 1,
                "retry_delay": 300.0,
                "on_failure_callback": ["alert_on_failure"],
                "execution_timeout": timeout,
                "bash_command": f"exec /opt/meltano/bin/meltano schedule run {schedule.name}"
                "{{ shell_words(sync_flags(ti.try_number, params)) }}",
                "resync_command": f"exec /opt/meltano/bin/meltano schedule run {schedule.name}"
                f" {' '.join(RESYNC_FLAGS)}",
                "env": {backfill_variable(schedule.extractor): BACKFILL_FROM},
                "backfill_command": f"exec /opt/meltano/bin/meltano schedule run "
                f"{schedule.name} {' '.join(BACKFILL_FLAGS)}",
                "backfill_env": {backfill_variable(schedule.extractor): "2024-05-01"},
                "refused": REFUSED,
                "cwd": "/project",
            }
        }
    assert timeouts["xactly-to-duckdb"] == 5 * 3600  # 00:00 and 05:00: the shorter wait
    watchdog = parsed["local"]["dags"][WATCHDOG]
    assert watchdog["schedule"] == "@hourly"
    assert watchdog["tasks"]["watchdog"] == {
        "type": "BashOperator",
        "retries": 0,
        "retry_delay": 300.0,
        "on_failure_callback": ["alert_on_failure"],
        "execution_timeout": 600.0,
        "bash_command": "exec dataops watchdog"
        "{{ shell_words(['--at', params.at] if params.at else []) }}",
        "cwd": "/project",
    }


def backfill_variable(extractor: str) -> str:
    return meltano_files.setting_variable(extractor, "backfill_from")


def exported_entries(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text())["schedules"]


def secret_ref(key: str) -> dict[str, Any]:
    """A pod env entry from tap-secrets' key of the same name."""
    return {"name": key, "valueFrom": {"secretKeyRef": {"name": "tap-secrets", "key": key}}}


def test_kubernetes_runner_starts_one_pod_per_sync(
    parsed: dict[str, dict[str, Any]], exported: tuple[Path, list[project.Schedule]]
) -> None:
    assert parsed["kubernetes"]["errors"] == []
    production = {s.name for s in exported[1] if s.loader == "target-snowflake"}
    timeouts = {s["name"]: s["timeout_seconds"] for s in exported_entries(exported[0])}
    sync_keys = json.loads((GENERATED / "sync-env.json").read_text())["schedules"]
    assert set(parsed["kubernetes"]["dags"]) == {WATCHDOG, *production}
    extractors = {s.name: s.extractor for s in exported[1]}
    for name in production:
        task = dict(parsed["kubernetes"]["dags"][name]["tasks"][TASK_ID])
        task.pop("pod")
        backfill = backfill_variable(extractors[name])
        assert {"name": backfill, "value": "2024-05-01"} in task.pop("backfill_env_vars")
        assert {TASK_ID: task} == {
            TASK_ID: {
                "type": "KubernetesPodOperator",
                "retries": 3,
                "retry_delay": 60.0,
                "on_failure_callback": ["alert_on_failure"],
                "execution_timeout": timeouts[name],
                "image": "registry.example/meltano:1.2.3",
                "namespace": "meltano",
                "cmds": ["meltano", "--log-format=json", "schedule", "run", name],
                "arguments": "{{ sync_flags(ti.try_number, params) }}",
                "resync_arguments": RESYNC_FLAGS,
                "backfill_arguments": BACKFILL_FLAGS,
                "refused": REFUSED,
                "env_from": [],  # no secret whole: only the keys its plugins use
                "env_vars": [
                    {"name": "MELTANO_ENVIRONMENT", "value": "production"},
                    {"name": backfill, "value": BACKFILL_FROM},
                    *(secret_ref(key) for key in sync_keys[name]),
                ],
                "service_account_name": "meltano-sync",
                "labels": {"app.kubernetes.io/name": "meltano-sync", "dataops/schedule": name},
                "requests": {"cpu": "1", "memory": "4Gi"},
                "limits": {"memory": "8Gi"},
                "pod_template_file": KUBERNETES["DATAOPS_SYNC_POD_TEMPLATE"],
                "in_cluster": True,
                "on_finish_action": "delete_succeeded_pod",
                "durable": True,
            }
        }


def test_a_sync_pod_gets_only_the_secrets_of_its_own_tap_and_loader(
    parsed: dict[str, dict[str, Any]],
) -> None:
    """The pods the DAGs would start in production (template merged in): zengrc's has
    ZenGRC's and Snowflake's keys and Meltano's database, nothing of another tap; every
    pod has each variable its plugins use, and no container receives a secret
    `dataops check` would call unused."""
    dags = parsed["kubernetes"]["dags"]
    [base] = pod(dags, "zengrc-to-snowflake")["spec"]["containers"]
    assert base["name"] == check.wiring.SYNC_CONTAINER
    assert [e for e in base["envFrom"] if "secretRef" in e] == []
    from_secrets = {
        e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in base["env"] if "valueFrom" in e
    }
    zengrc = [f"TAP_ZENGRC_{key}" for key in ("BASE_URL", "USERNAME", "PASSWORD")]
    snowflake = [
        f"TARGET_SNOWFLAKE_{key}"
        for key in ("ACCOUNT", "USER", "PRIVATE_KEY", "ROLE", "DATABASE", "WAREHOUSE")
    ]
    assert from_secrets == {
        "MELTANO_DATABASE_URI": "meltano-db",
        **dict.fromkeys(zengrc + snowflake, "tap-secrets"),
    }

    tree = render.KubernetesTree()
    used = render.schedule_variables(meltano_files.load(), "production")
    templates = check.wiring.secret_template_keys(tree, "production")
    shared = render.platform_env(tree)
    for name in set(dags) - {WATCHDOG}:
        spec = pod(dags, name)["spec"]
        for container in [*spec["initContainers"], *spec["containers"]]:
            allowed = check.wiring.SECRETS_USED[container["name"]]
            if container["name"] == check.wiring.SYNC_CONTAINER:
                allowed |= used[name]
                assert used[name] - set(shared) <= {e["name"] for e in container["env"]}, name
            assert check.wiring.unused_secrets(container, allowed, templates, spec) == {}, name


def pod(dags: dict[str, Any], name: str) -> dict[str, Any]:
    built: dict[str, Any] = dags[name]["tasks"][TASK_ID]["pod"]
    return built


def test_schedules_missing_from_the_sync_env_file_get_no_dag_and_the_watchdog_stays(
    parsed: dict[str, dict[str, Any]],
) -> None:
    assert parsed["other-schedules"]["errors"] == []
    assert list(parsed["other-schedules"]["dags"]) == [WATCHDOG]


@pytest.mark.parametrize("name", sorted(BAD_SYNC_ENV))
def test_a_bad_sync_env_file_is_a_clear_error(parsed: dict[str, dict[str, Any]], name: str) -> None:
    assert parsed[name]["dags"] == {}
    [error] = parsed[name]["errors"]
    assert "sync env file " in error
    assert BAD_SYNC_ENV[name][1] in error


def test_schedule_pattern_selects_the_local_schedules(
    parsed: dict[str, dict[str, Any]], exported: tuple[Path, list[project.Schedule]]
) -> None:
    assert parsed["local-pattern"]["errors"] == []
    local = {s.name for s in exported[1] if s.loader == "target-duckdb"}
    assert set(parsed["local-pattern"]["dags"]) == {WATCHDOG, *local}


@pytest.mark.parametrize("name", sorted(BAD_SETTINGS))
def test_bad_settings_are_a_clear_error(parsed: dict[str, dict[str, Any]], name: str) -> None:
    assert parsed[name]["dags"] == {}
    [error] = parsed[name]["errors"]
    assert BAD_SETTINGS[name][1] in error


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_a_bad_schedules_file_is_a_clear_error(
    parsed: dict[str, dict[str, Any]], name: str
) -> None:
    result = parsed[name]
    assert result["dags"] == {}
    [error] = result["errors"]
    assert f"schedules file {result['schedules_file']}" in error
    assert BAD_FILES[name][1] in error
    assert "run `dataops schedules export`" in error


# --- real DAG runs: `airflow dags test` with the metadata DB on PostgreSQL -----------


def postgres(statement: str) -> None:
    """Run one statement on the local PostgreSQL server (psycopg2 from Airflow's venv)."""
    script = (
        "import sys, psycopg2\n"
        "conn = psycopg2.connect(sys.argv[1]); conn.autocommit = True\n"
        "conn.cursor().execute(sys.argv[2])\n"
    )
    subprocess.run(
        [str(AIRFLOW_VENV / "python"), "-c", script, POSTGRES, statement],
        check=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def airflow_db(
    tmp_path_factory: pytest.TempPathFactory, exported: tuple[Path, list[project.Schedule]]
) -> Iterator[dict[str, str]]:
    """A migrated Airflow home whose metadata DB is a fresh PostgreSQL database."""
    name = f"dataops_airflow_test_{uuid.uuid4().hex[:12]}"
    home = tmp_path_factory.mktemp("airflow")
    postgres(f'CREATE DATABASE "{name}"')
    try:
        env = airflow_env(
            home,
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}",
            DATAOPS_SCHEDULES_FILE=str(exported[0]),
            DATAOPS_PROJECT_ROOT=str(project.root()),
            DATAOPS_MELTANO=project.meltano_executable(),
        )
        airflow("db", "migrate", env=env)
        yield env
    finally:
        postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def airflow(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(AIRFLOW_VENV / "airflow"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert not check or done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return done


def runs(dag_id: str, state: str, env: dict[str, str]) -> list[dict[str, Any]]:
    """The DAG's runs in `state`, as the metadata DB recorded them (none while no run
    has put the DAG in it: the tests sharing a database run in any order)."""
    listed = airflow(
        "dags", "list-runs", dag_id, "--state", state, "-o", "json", env=env, check=False
    )
    if listed.returncode and "does not exist in 'dag' table" in listed.stderr:
        return []
    assert listed.returncode == 0, (listed.stdout + listed.stderr)[-4000:]
    return json.loads(listed.stdout.splitlines()[-1])  # after any warnings


def sync_env(airflow_db: dict[str, str], tmp_path: Path, **settings: str) -> dict[str, str]:
    """The Airflow env plus what `meltano schedule run` needs in the ci environment."""
    return {
        **airflow_db,
        **project.isolated_env(tmp_path),
        "MELTANO_ENVIRONMENT": "ci",
        "TARGET_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        **settings,
    }


def assert_zengrc_equals_truth(env: dict[str, str]) -> None:
    reports = verify.compare_with_truth(
        Path(env["TARGET_DUCKDB_PATH"]),
        "zengrc",
        "tap_zengrc",
        seed=SEED,
        dropped_fields=DESELECTED,
    )
    assert [r.describe() for r in reports if not r.ok] == []


def stored_bookmarks(env: dict[str, str], state_id: str) -> dict[str, Any]:
    got = project.meltano("state", "get", state_id, env=env, capture=True)
    return json.loads(got.stdout)["singer_state"]["bookmarks"]


def test_a_dag_run_syncs_and_a_resync_of_one_stream_reads_it_whole_keeping_other_bookmarks(
    airflow_db: dict[str, str], tmp_path: Path
) -> None:
    env = sync_env(airflow_db, tmp_path)
    with serve("zengrc", seed=SEED) as sandbox:  # a plain DAG run first: every stream
        env["TAP_ZENGRC_BASE_URL"] = sandbox.url
        airflow("dags", "test", "zengrc-to-duckdb", env=env)
    assert_zengrc_equals_truth(env)
    before = stored_bookmarks(env, "zengrc-to-duckdb")

    with serve("zengrc", seed=SEED, epoch=1) as sandbox:
        env["TAP_ZENGRC_BASE_URL"] = sandbox.url
        refused = airflow(
            "dags",
            "test",
            "zengrc-to-duckdb",
            "-c",
            '{"streams": ["--exclude"]}',
            env=env,
            check=False,
        )
        assert refused.returncode != 0
        assert len(stored_runs(env)) == 1  # nothing ran
        resync = json.dumps({"streams": ["audits"], "full_refresh": True})
        airflow("dags", "test", "zengrc-to-duckdb", "-c", resync, env=env)

    after = stored_bookmarks(env, "zengrc-to-duckdb")
    assert {s: m for s, m in after.items() if s != "audits"} == {
        s: m for s, m in before.items() if s != "audits"
    }
    run = status.newest_run(env["MELTANO_DATABASE_URI"], "zengrc-to-duckdb")
    assert run is not None
    assert run.streams is not None
    truth = records("zengrc", seed=SEED, epoch=1)
    assert {s: c.records_sent for s, c in run.streams.items()} == {"audits": len(truth["audits"])}
    path = Path(env["TARGET_DUCKDB_PATH"])
    report = verify.compare_table(path, "tap_zengrc", "audits", truth["audits"], ["id"])
    assert report.ok, report.describe()
    untouched = records("zengrc", seed=SEED)["risks"]  # not read: still as epoch 0 left it
    report = verify.compare_table(path, "tap_zengrc", "risks", untouched, ["id"])
    assert report.ok, report.describe()


def test_failed_sync_posts_one_alert(
    airflow_db: dict[str, str],
    tmp_path: Path,
    webhook: tuple[str, list[tuple[str, Any]]],
) -> None:
    url, received = webhook
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        env = sync_env(
            airflow_db,
            tmp_path,
            TAP_ZENGRC_BASE_URL=f"http://127.0.0.1:{closed.getsockname()[1]}/api/v2",
            TAP_ZENGRC_MAX_RETRIES="0",
            DATAOPS_SYNC_RETRIES="0",
            DATAOPS_ALERT_WEBHOOK_URL=url,
        )
        failed = airflow("dags", "test", "zengrc-to-duckdb", env=env, check=False)
    assert failed.returncode != 0
    assert "DagRun failed" in failed.stderr
    [(content_type, alert)] = received
    assert content_type == "application/json"
    assert "dag zengrc-to-duckdb" in alert["text"]
    assert f"task {TASK_ID}" in alert["text"]
    assert url not in failed.stdout + failed.stderr  # the webhook URL is never logged


def test_the_watchdog_dag_posts_a_stale_schedule_once_and_nothing_when_all_is_fresh(
    airflow_db: dict[str, str],
    tmp_path: Path,
    webhook: tuple[str, list[tuple[str, Any]]],
) -> None:
    url, received = webhook
    env = sync_env(
        airflow_db,
        tmp_path,
        DATAOPS_SCHEDULE_PATTERN="zengrc-to-duckdb",
        DATAOPS_CLI=str(Path(project.meltano_executable()).with_name("dataops")),
        DATAOPS_ALERT_WEBHOOK_URL=url,
    )
    with serve("zengrc", seed=SEED) as sandbox:  # one fresh, successful sync
        project.meltano(
            "schedule", "run", "zengrc-to-duckdb", env={**env, "TAP_ZENGRC_BASE_URL": sandbox.url}
        )
    fresh = airflow("dags", "test", WATCHDOG, env=env)
    assert received == [], fresh.stdout[-2000:]
    # Three days on (the DAG's `at` param, an injected clock: a rehearsal) it is stale:
    # one alert, and none more from the next watchdog runs of the same incident.
    later = json.dumps({"at": (datetime.now(UTC) + timedelta(days=3)).isoformat()})
    for _ in range(2):
        airflow("dags", "test", WATCHDOG, "-c", later, env=env)
    [(content_type, alert)] = received
    assert content_type == "application/json"
    assert alert["text"].startswith("[rehearsal as of ")
    assert "] [ci] zengrc-to-duckdb is stale: last success " in alert["text"]
    assert len(runs(WATCHDOG, "success", env)) == 3


def sync_processes(parent: psutil.Process) -> list[psutil.Process]:
    """The sync a task started: `meltano schedule run`, `meltano elt`, the tap, the target."""
    found = []
    for child in parent.children(recursive=True):
        try:
            command = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if any(part in command for part in ("meltano", "tap-zengrc", "target-duckdb")):
            found.append(child)
    return found


def test_a_killed_sync_is_retried_by_the_dag_and_converges(
    airflow_db: dict[str, str], tmp_path: Path
) -> None:
    """SIGKILL the sync mid-run (as an OOM kill would): Meltano's run stays marked
    running, the DAG's retry (after 1 s, far less than Meltano's 5-minute threshold)
    forces past it and ends with exactly the source's rows."""
    succeeded = len(runs("zengrc-to-duckdb", "success", airflow_db))
    with serve("zengrc", seed=SEED, latency_ms=15, page_size=10) as sandbox:
        env = sync_env(
            airflow_db,
            tmp_path,
            TAP_ZENGRC_BASE_URL=sandbox.url,
            TAP_ZENGRC_MAX_PARALLEL_STREAMS="2",
            TARGET_DUCKDB_BATCH_SIZE_ROWS="40",
            DATAOPS_SYNC_RETRIES="1",
            DATAOPS_SYNC_RETRY_DELAY_SECONDS="1",
        )
        test_run = subprocess.Popen(
            [str(AIRFLOW_VENV / "airflow"), "dags", "test", "zengrc-to-duckdb"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 180
        while sandbox.stats.requests < 60:
            assert test_run.poll() is None, "the DAG run ended before the kill"
            assert time.monotonic() < deadline, "the sync never got going"
            time.sleep(0.05)
        killed = sync_processes(psutil.Process(test_run.pid))
        assert killed
        for process in killed:
            process.kill()
        output, _ = test_run.communicate(timeout=280)
    assert test_run.returncode == 0, output[-4000:]
    assert len(runs("zengrc-to-duckdb", "success", env)) == succeeded + 1
    assert "--force" in output  # the retry's command

    jobs = stored_runs(env)
    assert [state for _, state in jobs][-1] == "SUCCESS"
    assert len(jobs) == 2  # the killed run (still marked, or failed) and the retry
    assert_zengrc_equals_truth(env)


def stored_runs(env: dict[str, str]) -> list[tuple[str, str]]:
    """(state id, state) of every run in Meltano's system database, oldest first."""
    path = env["MELTANO_DATABASE_URI"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as con:
        return con.execute("SELECT job_name, state FROM runs ORDER BY started_at").fetchall()


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_cluster_task_logs_go_to_the_environments_bucket(environment: str, tmp_path: Path) -> None:
    """The overlay's Airflow settings make Airflow's own logging config write task logs
    to the bucket deploy/terraform/logs.tf names for that environment, with the pods'
    Workload Identity (no connection, no key file)."""
    kubernetes = project.root() / "deploy" / "kubernetes"
    settings = {
        key: value or ""
        for key, value in dotenv_values(kubernetes / "base" / "platform.env").items()
        if key.startswith("AIRFLOW__LOGGING__")
    }
    overlay = yaml.safe_load(
        (kubernetes / "overlays" / environment / "kustomization.yaml").read_text()
    )
    [platform_env] = [g for g in overlay["configMapGenerator"] if g["name"] == "platform-env"]
    settings |= dict(literal.split("=", 1) for literal in platform_env["literals"])
    suffix = "" if environment == "production" else f"-{environment}"
    bucket = f"data-ops-meltano-airflow-logs{suffix}"
    assert settings["AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"] == f"gs://{bucket}/logs"
    terraform = (project.root() / "deploy" / "terraform" / "logs.tf").read_text()
    assert (
        'name                        = "data-ops-meltano-airflow-logs${local.suffix}"' in terraform
    )

    probe = (
        "from airflow.config_templates import airflow_local_settings as s\n"
        "log = s.REMOTE_TASK_LOG\n"
        "print(type(log).__name__, log.remote_base, bool(log.gcp_key_path))\n"
    )
    printed = airflow_venv.python(probe, env=airflow_env(tmp_path, **settings))
    assert printed.split() == ["GCSRemoteLogIO", f"gs://{bucket}/logs", "False"]
