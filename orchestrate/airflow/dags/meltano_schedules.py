"""One Airflow DAG per Meltano schedule, read from the schedules file.

The file (`schedules.json` beside this one, or `$DATAOPS_SCHEDULES_FILE`) is made at
build time by `dataops schedules export` from meltano.yml: parsing never calls
`meltano`. Each DAG has one task that runs `meltano schedule run NAME`, either on the
scheduler's machine (`DATAOPS_SYNC_RUNNER=local`) or in a pod of its own
(`kubernetes`). docs/airflow.md lists every setting. Run parameters: `streams`,
`full_refresh` (a resync) and `start_date` (a backfill), see :func:`sync_flags`.

Each sync gets an `execution_timeout`: the shortest wait between two of its cron times
(a sync still going when the next is due is hung; it fails, and the failure alerts).
The DAG `dataops-watchdog` runs `dataops watchdog` every hour: it announces stale
schedules (a paused DAG, a dead scheduler, runs that never start), failed runs and
count mismatches, each incident once.

Retries pass `--force`. A sync killed outright (OOM, an evicted pod) leaves its Meltano
run marked running, and Meltano refuses another run of the same job until that run
has had no heartbeat for 5 minutes. Airflow starts a retry only once the try before
has ended, and never two runs of one DAG at once (`max_active_runs=1`; the pod runner
re-attaches to a pod still running), so a retry may override the stale mark whatever
its delay. A first try does not force: a sync started outside Airflow still blocks it.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import re
import shlex
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

from airflow.sdk import DAG, BaseOperator, Param

log = logging.getLogger(__name__)
T = TypeVar("T")

TASK_ID = "meltano-schedule-run"
SYNC_FLAGS = "{{ sync_flags(ti.try_number, params) }}"
"""Extra arguments of `meltano schedule run` (a list: DAGs render templates natively)."""
ISO_MOMENT = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?$"
)
"""The watchdog's `at`: an ISO date or date-time, nothing else reaches its command."""
STREAM_NAME = "^[A-Za-z0-9_][A-Za-z0-9_.-]*$"
"""What a stream name in the run parameters may be (never a flag, nothing to quote)."""
ISO_DATE = "^([0-9]{4}-[0-9]{2}-[0-9]{2})?$"
"""The run parameter `start_date`: an ISO date, or empty."""
ALERT_TIMEOUT_SECONDS = 10
SCHEDULE_KEYS = ("name", "extractor", "loader", "interval", "start_date", "timeout_seconds")
WATCHDOG_DAG_ID = "dataops-watchdog"


class SchedulesConfigError(RuntimeError):
    """The schedules file or a DATAOPS_* setting cannot be used; the message says why."""


class ScheduleNotDeployed(SchedulesConfigError):
    """One schedule cannot run here (its DAG is left out; the others and the watchdog,
    which reports it stale, stay)."""


def env_int(name: str, default: int) -> int:
    """Integer setting `name` from the environment."""
    value = os.environ.get(name, str(default))
    try:
        return int(value)
    except ValueError:
        raise SchedulesConfigError(f"{name}={value!r} is not an integer") from None


def read_generated(path: Path, what: str, remedy: str, parse: Callable[[Any], T]) -> T:
    """`parse` of the JSON file `path` (a file a dataops command generates), or a
    SchedulesConfigError naming the file and `remedy`."""
    try:
        return parse(json.loads(path.read_text()))
    except FileNotFoundError:
        raise SchedulesConfigError(f"{what} {path} not found: {remedy}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SchedulesConfigError(
            f"{what} {path} is malformed ({type(exc).__name__}: {exc}): {remedy}"
        ) from None


def load_schedules(path: Path) -> list[dict[str, Any]]:
    """The schedules in `path`, as written by `dataops schedules export`, with each
    start_date parsed (ISO date or datetime; UTC unless it says otherwise)."""

    def parse(document: Any) -> list[dict[str, Any]]:
        schedules: list[dict[str, Any]] = document["schedules"]
        for schedule in schedules:
            lacks = [key for key in SCHEDULE_KEYS if not schedule.get(key)]
            if lacks:
                raise ValueError(f"{schedule.get('name', schedule)} lacks {', '.join(lacks)}")
            start = datetime.fromisoformat(schedule["start_date"])
            schedule["start_date"] = start if start.tzinfo else start.replace(tzinfo=UTC)
        return schedules

    remedy = "run `dataops schedules export` (or `make airflow`) to write it"
    return read_generated(path, "schedules file", remedy, parse)


def alert_on_failure(context: Any) -> None:
    """Log a failed sync (or a failed watchdog) and, when DATAOPS_ALERT_WEBHOOK_URL is
    set, post it there.

    The message is Slack-compatible (`{"text": ...}`) and names the run, never its
    settings; a webhook that fails is logged (without its URL) and never raises.
    """
    ti = context["ti"]
    text = (
        f"Meltano sync failed: dag {ti.dag_id}, task {ti.task_id}, run {ti.run_id}, "
        f"try {ti.try_number}. Log: {ti.log_url}"
    )
    log.error(text)
    url = os.environ.get("DATAOPS_ALERT_WEBHOOK_URL")
    if not url:
        return
    parts = urllib.parse.urlsplit(url)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")  # local runs and tests
    if not (parts.scheme == "https" or (parts.scheme == "http" and loopback)):
        log.warning("failure alert not sent: DATAOPS_ALERT_WEBHOOK_URL is not an https URL")
        return
    request = urllib.request.Request(  # noqa: S310 (https, or http to loopback: checked above)
        url,
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=ALERT_TIMEOUT_SECONDS):  # noqa: S310
            pass
    except (OSError, ValueError) as exc:
        reason = exc.code if isinstance(exc, urllib.error.HTTPError) else type(exc).__name__
        log.warning("failure alert not delivered to DATAOPS_ALERT_WEBHOOK_URL: %s", reason)


def sync_flags(try_number: int, params: Mapping[str, Any]) -> list[str]:
    """The flags of one try of a sync: `--force` on a retry; the run's parameters
    `streams` (`--select` each) and `full_refresh` (`--full-refresh`: read them from
    their start_date), the state merged so that other streams' bookmarks stay (also
    for a backfill, `start_date`: see :func:`backfill_from`)."""
    flags = ["--force"] if try_number > 1 else []
    backfill = backfill_from(params)  # checked first: a bad start_date fails every try
    streams = list(params.get("streams") or [])
    bad = [stream for stream in streams if not re.match(STREAM_NAME, str(stream))]
    if bad:
        raise ValueError(f"`streams` holds names that are not stream names: {bad}")
    for stream in streams:
        flags += ["--select", str(stream)]
    if params.get("full_refresh"):
        flags.append("--full-refresh")
    if streams or params.get("full_refresh") or backfill:
        flags += ["--state-strategy", "merge"]
    return flags


def backfill_from(params: Mapping[str, Any]) -> str:
    """The run parameter `start_date` ("" when empty), checked: the tap setting
    `backfill_from` of the run (read again from that date on, incrementally, older rows
    kept; tapkit.backfill). A full refresh already reads from the configured start_date
    and removes what the source no longer has: the two are refused together."""
    start = str(params.get("start_date") or "")
    if not re.match(ISO_DATE, start):
        raise ValueError(f"`start_date` must be an ISO date such as 2024-05-01, got {start!r}")
    if start and params.get("full_refresh"):
        raise ValueError(
            "`start_date` (a backfill: older rows kept) and `full_refresh` (everything "
            "read again, rows gone from the source removed) exclude each other"
        )
    return start


def backfill_variable(extractor: str) -> str:
    """The env var Meltano maps to the extractor's `backfill_from` setting (as
    dataops.meltano_files.setting_variable names it; this file cannot import dataops)."""
    return re.sub(r"[^A-Za-z0-9]", "_", f"{extractor}_backfill_from").upper()


def shell_words(words: list[str]) -> str:
    return "".join(" " + shlex.quote(word) for word in words)


SYNC_PARAMS = {
    "streams": Param(
        [],
        type="array",
        items={"type": "string", "pattern": STREAM_NAME},
        description="Only these streams (all when empty)",
    ),
    "full_refresh": Param(
        False, type="boolean", description="Read from start_date, ignoring bookmarks"
    ),
    "start_date": Param(
        "",
        type="string",
        pattern=ISO_DATE,
        description="Backfill: read again from this ISO date on, keeping older rows",
    ),
}
"""Run parameters of every sync DAG (checked when a run is triggered)."""


BACKFILL_FROM = "{{ backfill_from(params) }}"


def local_sync(name: str, extractor: str) -> BaseOperator:
    """`meltano schedule run NAME` on this machine, with the scheduler's environment."""
    from airflow.providers.standard.operators.bash import BashOperator

    meltano = os.environ.get("DATAOPS_MELTANO", "meltano")
    command = shlex.join(["exec", meltano, "schedule", "run", name])
    return BashOperator(
        task_id=TASK_ID,
        bash_command=command + "{{ shell_words(sync_flags(ti.try_number, params)) }}",
        env={backfill_variable(extractor): BACKFILL_FROM},
        append_env=True,
        cwd=os.environ.get("DATAOPS_PROJECT_ROOT", "/project"),
        skip_on_exit_code=None,
    )


def sync_env(path: str) -> tuple[str, dict[str, list[str]]]:
    """(secret, its keys per schedule) from the file `dataops render` writes per
    environment (deploy/kubernetes/overlays/ENV/generated/sync-env.json)."""
    return read_generated(
        Path(path),
        "sync env file",
        "run `dataops render` and deploy its overlay",
        lambda document: (str(document["secret"]), dict(document["schedules"])),
    )


def sync_secret_env(name: str) -> list[Any]:
    """The env entries of schedule `name`'s pod that come from a secret: one
    secretKeyRef per key its extractor and loader use (never a whole secret)."""
    from kubernetes.client import models as k8s

    path = os.environ.get("DATAOPS_SYNC_ENV_FILE")
    if not path:
        raise SchedulesConfigError(
            "DATAOPS_SYNC_RUNNER=kubernetes needs DATAOPS_SYNC_ENV_FILE: the keys of "
            "tap-secrets each schedule's pod gets (generated/sync-env.json of the overlay)"
        )
    secret, schedules = sync_env(path)
    if name not in schedules:
        raise ScheduleNotDeployed(
            f"sync env file {path} has no schedule {name!r}: run `dataops render` and "
            "deploy its overlay with this image"
        )
    return [
        k8s.V1EnvVar(
            name=key,
            value_from=k8s.V1EnvVarSource(
                secret_key_ref=k8s.V1SecretKeySelector(name=secret, key=key)
            ),
        )
        for key in schedules[name]
    ]


def kubernetes_sync(name: str, extractor: str) -> BaseOperator:
    """`meltano schedule run NAME` in a pod of its own, from the project's image, with
    only the secret keys its plugins use (the pod template adds what every sync uses)."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from kubernetes.client import models as k8s

    image = os.environ.get("DATAOPS_IMAGE")
    if not image:
        raise SchedulesConfigError(
            "DATAOPS_SYNC_RUNNER=kubernetes needs DATAOPS_IMAGE: the Meltano project's "
            "image (plugins installed) that each sync pod runs"
        )
    passed_through = {
        key: os.environ[key] for key in ("MELTANO_ENVIRONMENT",) if os.environ.get(key)
    }
    limits = {"memory": os.environ.get("DATAOPS_SYNC_MEMORY_LIMIT", "8Gi")}
    if os.environ.get("DATAOPS_SYNC_CPU_LIMIT"):
        limits["cpu"] = os.environ["DATAOPS_SYNC_CPU_LIMIT"]
    return KubernetesPodOperator(
        task_id=TASK_ID,
        name=f"meltano-{name}",
        image=image,
        namespace=os.environ.get("DATAOPS_NAMESPACE", "meltano"),
        # JSON from the first line on, for the cluster's log collector.
        cmds=["meltano", "--log-format=json", "schedule", "run", name],
        arguments=cast("list[str]", SYNC_FLAGS),  # a template rendering to the list
        service_account_name=os.environ.get("DATAOPS_SYNC_SERVICE_ACCOUNT", "meltano-sync"),
        env_vars=[
            *(k8s.V1EnvVar(name=key, value=value) for key, value in passed_through.items()),
            k8s.V1EnvVar(name=backfill_variable(extractor), value=BACKFILL_FROM),
            *sync_secret_env(name),
        ],
        container_resources=k8s.V1ResourceRequirements(
            requests={
                "cpu": os.environ.get("DATAOPS_SYNC_CPU_REQUEST", "1"),
                "memory": os.environ.get("DATAOPS_SYNC_MEMORY_REQUEST", "4Gi"),
            },
            limits=limits,
        ),
        pod_template_file=os.environ.get("DATAOPS_SYNC_POD_TEMPLATE") or None,
        labels={"app.kubernetes.io/name": "meltano-sync", "dataops/schedule": name},
        in_cluster=True,
        on_finish_action="delete_succeeded_pod",
        # Airflow 3.3's name for reattach_on_restart: a restarted scheduler or worker
        # picks up the running pod instead of starting a second sync.
        durable=True,
        get_logs=True,
    )


RUNNERS = {"local": local_sync, "kubernetes": kubernetes_sync}


def watchdog_dag() -> DAG:
    """`dataops watchdog` every hour on the scheduler's machine (it only reads the
    system database and posts to the webhook: no pod of its own). Params: `at`, an ISO
    time to judge freshness at instead of now (to rehearse an alert)."""
    from airflow.providers.standard.operators.bash import BashOperator

    dataops = os.environ.get("DATAOPS_CLI", "dataops")
    with DAG(
        dag_id=WATCHDOG_DAG_ID,
        description="dataops watchdog: stale schedules, failed runs, count mismatches",
        schedule=os.environ.get("DATAOPS_WATCHDOG_SCHEDULE", "@hourly"),
        start_date=datetime(2024, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        params={
            "at": Param(
                None,
                type=["null", "string"],
                pattern=ISO_MOMENT,
                description="Judge freshness as of this ISO time (a rehearsal)",
            )
        },
        user_defined_macros={"shell_words": shell_words},
        default_args={
            "retries": 0,
            "execution_timeout": timedelta(minutes=10),
            "on_failure_callback": alert_on_failure,
        },
        tags=["dataops", "alerts"],
    ) as dag:
        BashOperator(
            task_id="watchdog",
            bash_command=shlex.join(["exec", dataops, "watchdog"])
            + "{{ shell_words(['--at', params.at] if params.at else []) }}",
            cwd=os.environ.get("DATAOPS_PROJECT_ROOT", "/project"),
        )
    return dag


def build_dags() -> dict[str, DAG]:
    """A DAG per schedule in the schedules file whose name matches the pattern."""
    path = Path(
        os.environ.get("DATAOPS_SCHEDULES_FILE") or Path(__file__).with_name("schedules.json")
    )
    runner_name = os.environ.get("DATAOPS_SYNC_RUNNER", "local")
    runner = RUNNERS.get(runner_name)
    if runner is None:
        raise SchedulesConfigError(
            f"DATAOPS_SYNC_RUNNER={runner_name!r}: expected one of {', '.join(RUNNERS)}"
        )
    pattern = os.environ.get("DATAOPS_SCHEDULE_PATTERN", "*")
    default_args = {
        "retries": env_int("DATAOPS_SYNC_RETRIES", 1),
        "retry_delay": timedelta(seconds=env_int("DATAOPS_SYNC_RETRY_DELAY_SECONDS", 300)),
        "on_failure_callback": alert_on_failure,
    }
    dags = {}
    for schedule in load_schedules(path):
        name = schedule["name"]
        if not fnmatch.fnmatchcase(name, pattern):
            continue
        timeout = timedelta(seconds=int(schedule["timeout_seconds"]))
        try:
            dags[name] = sync_dag(schedule, runner, {**default_args, "execution_timeout": timeout})
        except ScheduleNotDeployed as error:
            log.error("no DAG for schedule %s: %s", name, error)
    if not dags:
        log.warning("no schedule in %s matches DATAOPS_SCHEDULE_PATTERN=%r", path, pattern)
    dags[WATCHDOG_DAG_ID] = watchdog_dag()
    return dags


def sync_dag(
    schedule: dict[str, Any],
    runner: Callable[[str, str], BaseOperator],
    default_args: dict[str, Any],
) -> DAG:
    """The DAG of one schedule: one task, `runner`'s."""
    name = schedule["name"]
    with DAG(
        dag_id=name,
        description=f"meltano schedule run {name}: {schedule['extractor']} → {schedule['loader']}",
        schedule=schedule["interval"],
        start_date=schedule["start_date"],
        catchup=False,
        max_active_runs=1,
        render_template_as_native_obj=True,
        user_defined_macros={
            "sync_flags": sync_flags,
            "shell_words": shell_words,
            "backfill_from": backfill_from,
        },
        params=SYNC_PARAMS,
        default_args=default_args,
        tags=["meltano", schedule["extractor"], schedule["loader"]],
        # Registered by build_dags only once whole (a context manager registers a DAG
        # even when its block raised).
        auto_register=False,
    ) as dag:
        runner(name, schedule["extractor"])
    return dag


globals().update(build_dags())
