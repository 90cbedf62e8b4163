"""`dataops check` passes on this project and catches each kind of mistake, on a copy
of the project's files with one mistake made in it (real kustomize, kubernetes-validate,
terraform and checkov)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from dataops import check, meltano_files, project, render

ROOT = project.PROJECT_ROOT
COPIED = ("meltano.yml", "meltano", "deploy/kubernetes")


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The files the checks read, copied (the working tree's, generated files included)."""
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns(".*"))
        else:
            shutil.copy(source, tmp_path / name)
    return tmp_path


def problems(root: Path, name: str) -> list[str]:
    return [str(p) for p in check.CHECKS[name](check.context(root))]


def edit_yaml(path: Path, change: Callable[[Any], object]) -> None:
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def test_the_project_passes_every_check() -> None:
    done = subprocess.run(
        [str(Path(project.meltano_executable()).with_name("dataops")), "check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("ok  ") == len(check.CHECKS), done.stdout


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
    assert any(
        "$TAP_ZENGRC_PAGE_SIZE is not wired into the scheduler's container of overlay production"
        in p
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


def test_a_broken_overlay_is_a_clear_error(checkout: Path) -> None:
    (checkout / "deploy" / "kubernetes" / "overlays" / "staging" / "kustomization.yaml").write_text(
        "resources: [../../nowhere]\n"
    )
    with pytest.raises(SystemExit, match="overlays/staging: kustomize failed"):
        check.context(checkout)
