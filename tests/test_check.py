"""`dataops check` passes on this project and catches each kind of mistake, on a copy
of the project's files with one mistake made in it (real kustomize, kubernetes-validate,
terraform and checkov)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from dataops import check, meltano_files, project, render

ROOT = project.root()
COPIED = (
    "meltano.yml",
    "meltano",
    "deploy/kubernetes",
    "deploy/docker/Dockerfile",
    "deploy/terraform",
)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The files the checks read, copied (the working tree's, generated files included)."""
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns(".*"))
        else:
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, tmp_path / name)
    return tmp_path


def problems(root: Path, name: str) -> list[str]:
    return [str(p) for p in check.CHECKS[name](check.context(root))]


def edit_yaml(path: Path, change: Callable[[Any], object]) -> None:
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


DATAOPS = str(Path(project.meltano_executable()).with_name("dataops"))


def dataops_check(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`dataops [ARGS] check` as a user runs it in `cwd` (no MELTANO_PROJECT_ROOT)."""
    env = {k: v for k, v in os.environ.items() if k != project.ROOT_ENV}
    return subprocess.run(
        [DATAOPS, *args, "check"], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def test_the_project_passes_every_check() -> None:
    done = dataops_check(cwd=ROOT / "deploy" / "kubernetes")  # found upwards
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("ok  ") == len(check.CHECKS), done.stdout


def test_dataops_check_checks_the_project_it_is_run_in(checkout: Path, tmp_path: Path) -> None:
    """Not the checkout dataops was installed from: the copy, found from the working
    directory or named by --project-root."""
    edit_yaml(
        checkout / "meltano" / "schedules.meltano.yml",
        lambda doc: doc["schedules"][2].pop("start_date"),
    )
    missing = "schedules[2](edcast-to-snowflake): no start_date"
    for done in (
        dataops_check(cwd=checkout / "meltano"),
        dataops_check("--project-root", str(checkout), cwd=ROOT),
    ):
        assert done.returncode == 1, done.stdout + done.stderr
        assert missing in done.stdout
        assert done.stdout.count("ok  ") == len(check.CHECKS) - 1, done.stdout


def test_dataops_outside_a_project_says_how_to_name_one(tmp_path: Path) -> None:
    done = dataops_check(cwd=tmp_path)
    assert done.returncode == 2
    assert f"no meltano.yml in {tmp_path.resolve()} or any directory above it" in done.stderr
    assert "--project-root" in done.stderr
    assert "Traceback" not in done.stderr
    done = dataops_check("--project-root", str(tmp_path), cwd=ROOT)
    assert done.returncode == 2
    assert f"is {tmp_path.resolve()}, which holds no meltano.yml" in done.stderr


def add_variable(root: Path, variable: str) -> None:
    """A new setting value from the environment, as adding a tap's variable would."""
    path = root / "meltano" / "environments" / "production.meltano.yml"
    edit_yaml(
        path,
        lambda doc: doc["environments"][0]["config"]["plugins"]["extractors"][0]["config"].update(
            {"page_size": f"${variable}"}
        ),
    )


def test_a_new_variable_fails_until_rendered_and_in_the_env_file(checkout: Path) -> None:
    """Adding a variable is one change in meltano.yml, `dataops render`, and one key in
    the secret's env file; `dataops check` fails until the render is done."""
    add_variable(checkout, "TAP_ZENGRC_PAGE_SIZE")
    wiring = problems(checkout, "every $VAR wired and in a secret template")
    for schedule in ("zengrc-to-snowflake", "zengrc-to-duckdb"):
        assert any(
            f"$TAP_ZENGRC_PAGE_SIZE does not reach the sync pod of schedule {schedule} in "
            "overlay production — run `dataops render`" in p
            for p in wiring
        ), wiring
    assert any("$TAP_ZENGRC_PAGE_SIZE is in no secret template of production" in p for p in wiring)
    assert all(p.startswith("meltano/environments/production.meltano.yml") for p in wiring)
    assert problems(checkout, "generated files current")

    tree = render.KubernetesTree(checkout)
    render.write(render.rendered(meltano_files.load(checkout), tree))
    assert problems(checkout, "every $VAR wired and in a secret template") == []
    assert problems(checkout, "generated files current") == []
    template = (tree.secrets / "production" / "tap-secrets.env.template").read_text()
    assert "TAP_ZENGRC_PAGE_SIZE=" in template.splitlines()
    # Only production references it: staging's secret and pods do not get it.
    staging = (tree.secrets / "staging" / "tap-secrets.env.template").read_text()
    assert "TAP_ZENGRC_PAGE_SIZE" not in staging
    # Only the pods of tap-zengrc's schedules get it.
    getting = {
        environment: {
            schedule
            for schedule, keys in sync_keys(checkout, environment).items()
            if "TAP_ZENGRC_PAGE_SIZE" in keys
        }
        for environment in ("staging", "production")
    }
    assert getting == {"staging": set(), "production": {"zengrc-to-snowflake", "zengrc-to-duckdb"}}


def sync_keys(root: Path, environment: str) -> dict[str, list[str]]:
    """The keys of tap-secrets each schedule's pod gets, as rendered for `environment`."""
    path = render.KubernetesTree(root).overlay(environment) / "generated" / render.SYNC_ENV
    document = json.loads(path.read_text())
    assert document["secret"] == "tap-secrets"
    keys: dict[str, list[str]] = document["schedules"]
    return keys


UNUSED = "no container receives a secret it does not use"


def test_the_project_gives_each_sync_only_its_own_plugins_keys() -> None:
    assert problems(ROOT, UNUSED) == []
    for environment in ("staging", "production"):
        keys = sync_keys(ROOT, environment)
        auth = "PRIVATE_KEY" if environment == "production" else "PASSWORD"
        snowflake = [
            f"TARGET_SNOWFLAKE_{name}"
            for name in sorted(["ACCOUNT", "DATABASE", auth, "ROLE", "USER", "WAREHOUSE"])
        ]
        zengrc = ["TAP_ZENGRC_BASE_URL", "TAP_ZENGRC_PASSWORD", "TAP_ZENGRC_USERNAME"]
        assert keys["zengrc-to-snowflake"] == zengrc + snowflake
        assert keys["zengrc-to-duckdb"] == zengrc  # the DuckDB loader uses no secret
        assert keys["edcast-to-snowflake"] == [
            "TAP_EDCAST_PASSWORD",
            "TAP_EDCAST_USERNAME",
            *snowflake,
        ]


def test_a_container_receiving_a_secret_it_does_not_use(checkout: Path) -> None:
    """The old wiring (the whole tap-secrets in the scheduler and in the sync pods), an
    Airflow container given Meltano's database, a schedule given another tap's key: each
    is named with its container and what to do."""
    base = checkout / "deploy" / "kubernetes" / "base"
    edits = {
        "scheduler.yaml": (
            "          command: [airflow, scheduler]\n          envFrom: *airflow-env\n",
            "          command: [airflow, scheduler]\n          envFrom:\n"
            "            - configMapRef: {name: platform-env}\n"
            "            - secretRef: {name: tap-secrets}\n",
        ),
        "sync-pod.template.yaml": (
            "        - configMapRef: {name: platform-env}\n",
            "        - configMapRef: {name: platform-env}\n"
            "        - secretRef: {name: tap-secrets}\n",
        ),
        "api-server.yaml": (
            "            - name: AIRFLOW__DATABASE__SQL_ALCHEMY_CONN\n",
            "            - name: MELTANO_DATABASE_URI\n"
            "              valueFrom:\n"
            "                secretKeyRef: {name: meltano-db, key: SYNC_MELTANO_DATABASE_URI}\n"
            "            - name: AIRFLOW__DATABASE__SQL_ALCHEMY_CONN\n",
        ),
    }
    for name, (old, new) in edits.items():
        text = (base / name).read_text()
        assert text.count(old) == 1, name
        (base / name).write_text(text.replace(old, new))
    tree = render.KubernetesTree(checkout)
    render.write(render.rendered(meltano_files.load(checkout), tree))
    env = tree.overlay("production") / "generated" / render.SYNC_ENV
    document = json.loads(env.read_text())
    document["schedules"]["zengrc-to-snowflake"].append("TAP_EDCAST_PASSWORD")
    env.write_text(json.dumps(document))

    found = problems(checkout, UNUSED)
    every_tap_key = ", ".join(
        sorted(render.env_file(tree.secrets / "production" / "tap-secrets.env.template"))
    )
    assert "TAP_EDCAST_PASSWORD" in every_tap_key
    for where in (
        "Deployment/meltano-scheduler container scheduler",
        "the sync pod template container base",
    ):
        assert (
            f"overlay production: {where}: receives {every_tap_key} of secret tap-secrets, "
            "which it does not use — remove it: each sync pod gets its own schedule's keys "
            "from overlays/production/generated/sync-env.json (`dataops render`)"
        ) in found, found
    assert (
        "overlay production: Deployment/airflow-api-server container api-server: receives "
        "SYNC_MELTANO_DATABASE_URI of secret meltano-db, which it does not use — remove it, or "
        "if the container does use it, add it to SECRETS_USED in src/dataops/check/wiring.py "
        "with the reason"
    ) in found
    assert (
        "overlay production: the sync pod of schedule zengrc-to-snowflake: receives "
        "TAP_EDCAST_PASSWORD of secret tap-secrets (sync-env.json), which its plugins do not "
        "use in production — run `dataops render` (it lists only the keys of each schedule's "
        "plugins)"
    ) in found
    assert len(found) == 7  # the first three in each overlay, the last in production


def test_a_secret_mounted_as_a_volume_counts_too(checkout: Path) -> None:
    """A secret reaches a container through a (projected) volume as well as the env."""
    path = checkout / "deploy" / "kubernetes" / "base" / "api-server.yaml"
    text = path.read_text()
    mounts = "            - {name: airflow-home, mountPath: /opt/airflow}\n"
    volumes = "        - {name: airflow-home, emptyDir: {sizeLimit: 1Gi}}\n"
    assert text.count(mounts) == 1
    assert text.count(volumes) == 1
    text = text.replace(
        mounts, mounts + "            - {name: keys, mountPath: /keys, readOnly: true}\n"
    )
    text = text.replace(
        volumes,
        volumes + "        - name: keys\n          projected:\n            sources:\n"
        "              - secret: {name: meltano-db, items: [{key: SYNC_MELTANO_DATABASE_URI, "
        "path: uri}]}\n",
    )
    path.write_text(text)
    found = sorted(problems(checkout, UNUSED))
    assert found == [
        f"overlay {environment}: Deployment/airflow-api-server container api-server: "
        "receives SYNC_MELTANO_DATABASE_URI of secret meltano-db, which it does not use — "
        "remove it, or if the container does use it, add it to SECRETS_USED in "
        "src/dataops/check/wiring.py with the reason"
        for environment in ("production", "staging")
    ]


def test_syncs_running_in_the_scheduler_are_refused(checkout: Path) -> None:
    """The scheduler holds no tap's secret: a `local` runner in the cluster would run
    every sync without credentials."""
    platform = checkout / "deploy" / "kubernetes" / "base" / "platform.env"
    platform.write_text(
        platform.read_text().replace("DATAOPS_SYNC_RUNNER=kubernetes", "DATAOPS_SYNC_RUNNER=local")
    )
    assert problems(checkout, "every $VAR wired and in a secret template") == [
        f"overlay {environment}: ConfigMap platform-env: DATAOPS_SYNC_RUNNER=local: syncs "
        "would run in the scheduler's container, which gets no tap's or loader's secret — "
        "set DATAOPS_SYNC_RUNNER=kubernetes in deploy/kubernetes/base/platform.env"
        for environment in ("staging", "production")
    ]


def test_a_job_schedule_gets_its_jobs_plugins_keys(checkout: Path) -> None:
    """A schedule that runs a job gets the keys of every plugin in the job's tasks."""
    (checkout / "meltano" / "jobs.meltano.yml").write_text(
        "jobs:\n  - name: two-taps\n    tasks: [tap-zengrc target-snowflake, "
        "tap-edcast target-snowflake]\n"
        "schedules:\n  - name: two-taps-nightly\n    job: two-taps\n"
        "    interval: '0 3 * * *'\n    start_date: 2024-01-01\n"
    )
    edit_yaml(
        checkout / "meltano.yml",
        lambda doc: doc["include_paths"].append("./meltano/jobs.meltano.yml"),
    )
    render.write(render.rendered(meltano_files.load(checkout), render.KubernetesTree(checkout)))
    keys = sync_keys(checkout, "production")
    assert keys["two-taps-nightly"] == sorted(
        set(keys["zengrc-to-snowflake"]) | set(keys["edcast-to-snowflake"])
    )
    assert problems(checkout, UNUSED) == []
    assert problems(checkout, "every $VAR wired and in a secret template") == []


def test_a_secret_reference_no_template_declares(checkout: Path) -> None:
    api = checkout / "deploy" / "kubernetes" / "base" / "api-server.yaml"
    api.write_text(api.read_text().replace("key: AIRFLOW__CORE__FERNET_KEY", "key: FERNET_KEY"))
    found = problems(checkout, "every secret reference in a template")
    assert found == [
        f"overlay {env}: Deployment/airflow-api-server container api-server: env "
        "AIRFLOW__CORE__FERNET_KEY reads key FERNET_KEY of secret airflow, which no template "
        "declares — add it to deploy/kubernetes/secrets/airflow.env.template or fix the reference"
        for env in ("staging", "production")
    ]


def test_a_schedule_naming_a_missing_plugin(checkout: Path) -> None:
    edit_yaml(
        checkout / "meltano" / "schedules.meltano.yml",
        lambda doc: doc["schedules"][0].update({"extractor": "tap-zengrcc"}),
    )
    found = problems(checkout, "schedules and jobs name declared plugins")
    assert found == [
        "meltano/schedules.meltano.yml: schedules[0](zengrc-to-snowflake): extractor "
        "'tap-zengrcc' is not a declared extractor — declare it under plugins.extractors "
        "or fix the name"
    ]


def test_a_schedule_without_start_date(checkout: Path) -> None:
    edit_yaml(
        checkout / "meltano" / "schedules.meltano.yml",
        lambda doc: doc["schedules"][2].pop("start_date"),
    )
    assert problems(checkout, "every schedule has an interval and a start_date") == [
        "meltano/schedules.meltano.yml: schedules[2](edcast-to-snowflake): no start_date "
        "— add one: Airflow's DAG needs it"
    ]


def test_a_setting_nobody_declares(checkout: Path) -> None:
    edit_yaml(
        checkout / "meltano" / "environments" / "staging.meltano.yml",
        lambda doc: doc["environments"][0]["config"]["plugins"]["loaders"][0]["config"].update(
            {"warehous": "LOADING"}
        ),
    )
    found = problems(checkout, "every configured setting declared")
    assert len(found) == 1
    assert "target-snowflake declares no setting 'warehous'" in found[0]
    assert found[0].startswith("meltano/environments/staging.meltano.yml")


def test_a_secret_in_plain_text(checkout: Path) -> None:
    edit_yaml(
        checkout / "meltano" / "environments" / "production.meltano.yml",
        lambda doc: doc["environments"][0]["config"]["plugins"]["extractors"][0]["config"].update(
            {"password": "hunter2"}
        ),
    )
    platform = checkout / "deploy" / "kubernetes" / "base" / "platform.env"
    platform.write_text(platform.read_text() + "SNOWFLAKE_PASSWORD=oops\n")
    scheduler = checkout / "deploy" / "kubernetes" / "base" / "scheduler.yaml"
    scheduler.write_text(
        scheduler.read_text().replace(
            "            - name: MELTANO_DATABASE_URI\n",
            "            - {name: EXTRA_API_TOKEN, value: abc123}\n"
            "            - name: MELTANO_DATABASE_URI\n",
        )
    )
    found = problems(checkout, "no secret in plain text")
    assert any(
        "Deployment/meltano-scheduler container scheduler" in p
        and "env EXTRA_API_TOKEN has a literal value" in p
        for p in found
    ), found
    assert any(
        "tap-zengrc" in p and "password: a secret setting holds a literal" in p for p in found
    )
    assert any("platform.env" in p and "secret-looking variable" in p for p in found)
    assert not any(v in p for p in found for v in ("hunter2", "oops", "abc123")), "a value shown"


def test_an_invalid_manifest(checkout: Path) -> None:
    scheduler = checkout / "deploy" / "kubernetes" / "base" / "scheduler.yaml"
    scheduler.write_text(scheduler.read_text().replace("  replicas: 1", "  replica: 1", 1))
    found = problems(checkout, "manifests valid (strict schemas)")
    assert len(found) == 2  # once per overlay
    assert "Deployment/meltano-scheduler" in found[0]
    assert "replica" in found[0]


def test_unformatted_terraform(checkout: Path) -> None:
    terraform = checkout / "deploy" / "terraform"
    terraform.mkdir(parents=True, exist_ok=True)
    (terraform / "extra.tf").write_text('variable "x" {\n      default = 1\n}\n')
    found = problems(checkout, "Terraform formatted")
    assert len(found) == 1
    assert "extra.tf: not formatted" in found[0]


def test_an_unexplained_checkov_finding(checkout: Path) -> None:
    api = checkout / "deploy" / "kubernetes" / "base" / "api-server.yaml"
    text = api.read_text()
    unexplained = "\n".join(line for line in text.splitlines() if "CKV_K8S_11" not in line)
    api.write_text(unexplained + "\n")
    found = problems(checkout, "checkov")
    assert found
    assert all("CKV_K8S_11" in p and "airflow-api-server" in p for p in found), found


def test_checkov_reads_terraform_and_the_dockerfile_once_with_the_project_paths(
    checkout: Path,
) -> None:
    dockerfile = checkout / "deploy" / "docker" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("USER ", "# USER "))
    (checkout / "deploy" / "terraform" / "open.tf").write_text(
        'resource "google_storage_bucket" "open" {\n  name     = "open"\n  location = "EU"\n}\n'
    )
    found = problems(checkout, "checkov")
    assert any(p.startswith("deploy/docker/Dockerfile") for p in found), found
    assert any(p.startswith("deploy/terraform/open.tf google_storage_bucket.open") for p in found)
    assert not any("rendered/" in p for p in found), found


def test_a_checkov_skip_without_a_reason(checkout: Path) -> None:
    logs = checkout / "deploy" / "terraform" / "logs.tf"
    text = logs.read_text()
    assert "# checkov:skip=CKV_GCP_78: " in text
    short = re.sub(r"(# checkov:skip=CKV_GCP_78:).*", r"\1 not needed", text)
    logs.write_text(short)
    [found] = problems(checkout, "checkov")
    assert found.startswith("deploy/terraform/logs.tf google_storage_bucket.")
    assert found.endswith(
        ": checkov CKV_GCP_78 is skipped with too short a reason: ' not needed' "
        "— say why in at least 8 words, next to the skip"
    )


def test_a_broken_overlay_is_a_clear_error(checkout: Path) -> None:
    (checkout / "deploy" / "kubernetes" / "overlays" / "staging" / "kustomization.yaml").write_text(
        "resources: [../../nowhere]\n"
    )
    with pytest.raises(SystemExit, match="overlays/staging: kustomize failed"):
        check.context(checkout)


def test_batch_files_a_loader_cannot_read_are_refused(checkout: Path) -> None:
    """The dev environment once turned Parquet batches on for tap-edcast whatever the
    loader: `meltano run tap-edcast target-postgres` then failed mid-run."""
    parquet = {"encoding": {"format": "parquet"}, "storage": {"root": "file:///tmp/b"}}

    def batch_in_dev(doc: Any) -> None:
        edcast = next(
            p
            for p in doc["environments"][0]["config"]["plugins"]["extractors"]
            if p["name"] == "tap-edcast"
        )
        edcast["config"]["batch_config"] = parquet

    edit_yaml(checkout / "meltano" / "environments" / "dev.meltano.yml", batch_in_dev)
    edit_yaml(
        checkout / "meltano" / "schedules.meltano.yml",
        lambda doc: doc["schedules"][2].update(
            {"env": {"TAP_EDCAST_BATCH_CONFIG": json.dumps(parquet)}}
        ),
    )
    found = problems(checkout, "every BATCH file readable by its loader")
    dev = "meltano/environments/dev.meltano.yml: environments[0](dev).config.plugins."
    assert found == [
        f"{dev}extractors[1](tap-edcast).config: tap-edcast writes parquet BATCH files with "
        f"every loader, and {loader} reads only {formats} — set batch_config in the env of "
        "the schedules whose loader reads it"
        for loader, formats in (("target-postgres", "jsonl"), ("target-snowflake", "arrow, jsonl"))
    ] + [
        "meltano/schedules.meltano.yml: schedules[2](edcast-to-snowflake): env "
        "TAP_EDCAST_BATCH_CONFIG makes tap-edcast write parquet BATCH files, which "
        "target-snowflake does not read — use one of arrow, jsonl, or no batch_config (records)"
    ]
