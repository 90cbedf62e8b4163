"""`dataops secrets` and `dataops deploy`, offline: everything up to talking to a
cluster runs for real (env files, templates, plans, manifests, kustomize, checks); the
cluster steps fail with a clear message when there is no cluster."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from dataops import check, project, secrets
from dataops.render import KubernetesTree

DATAOPS = str(Path(project.meltano_executable()).with_name("dataops"))
TREE = KubernetesTree()
NO_CLUSTER = ["--context", "no-such-cluster"]


def template_keys(environment: str = "production") -> dict[str, set[str]]:
    return check.wiring.secret_template_keys(TREE, environment)


def env_file(
    tmp_path: Path, leave_out: str | None = None, extra: str = "", environment: str = "production"
) -> Path:
    """An env file with a distinct value for every template key of `environment`."""
    keys = sorted(k for keys in template_keys(environment).values() for k in keys if k != leave_out)
    path = tmp_path / f"{environment}.env"
    path.write_text("".join(f"{k}=value-of-{k.lower()}\n" for k in keys) + extra)
    return path


def dataops(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DATAOPS, *args],
        cwd=project.root(),
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "200"},  # Rich wraps no message
    )


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_the_five_secrets_of_the_original_have_templates(environment: str) -> None:
    assert set(template_keys(environment)) == {
        "airflow",
        "airflow-db",
        "cloud-sql",
        "meltano-db",
        "tap-secrets",
    }


def test_each_environment_holds_only_the_snowflake_auth_it_uses() -> None:
    """One secret template for both would make production carry a password beside its
    key pair, and Meltano hands a variable named like a setting to the loader."""
    staging = template_keys("staging")["tap-secrets"]
    production = template_keys("production")["tap-secrets"]
    assert "TARGET_SNOWFLAKE_PASSWORD" in staging - production
    assert "TARGET_SNOWFLAKE_PRIVATE_KEY" in production - staging


def test_env_file_is_split_into_the_secrets(tmp_path: Path) -> None:
    wanted = secrets.read_env_file(env_file(tmp_path), TREE, "production")
    assert {name: set(values) for name, values in wanted.items()} == template_keys()
    assert wanted["meltano-db"]["MELTANO_DATABASE_URI"] == "value-of-meltano_database_uri"


def test_a_key_missing_from_the_env_file_names_it_and_its_template(tmp_path: Path) -> None:
    with pytest.raises(secrets.SecretsError) as error:
        secrets.read_env_file(
            env_file(tmp_path, leave_out="TAP_XACTLY_PASSWORD"), TREE, "production"
        )
    assert (
        "TAP_XACTLY_PASSWORD (secret tap-secrets, listed in "
        "deploy/kubernetes/secrets/production/tap-secrets.env.template)" in str(error.value)
    )
    assert "value-of" not in str(error.value)


def test_a_key_no_template_lists_is_refused(tmp_path: Path) -> None:
    with pytest.raises(secrets.SecretsError, match="TAP_NEW_TOKEN belong to no secret template"):
        secrets.read_env_file(env_file(tmp_path, extra="TAP_NEW_TOKEN=x\n"), TREE, "production")


def test_another_environments_key_is_refused(tmp_path: Path) -> None:
    """Staging's file given for production (its Snowflake password) stops before the
    cluster is touched."""
    staging_file = env_file(tmp_path, environment="staging")
    with pytest.raises(secrets.SecretsError) as error:
        secrets.read_env_file(staging_file, TREE, "production")
    assert "TARGET_SNOWFLAKE_PASSWORD belong to no secret template of production" in str(
        error.value
    )
    assert "value-of" not in str(error.value)
    with pytest.raises(secrets.SecretsError, match="no environment 'prod'"):
        secrets.read_env_file(staging_file, TREE, "prod")


def test_plan_names_keys_and_never_values(tmp_path: Path) -> None:
    wanted = secrets.read_env_file(env_file(tmp_path), TREE, "production")
    current: dict[str, dict[str, str] | None] = dict.fromkeys(wanted)
    current["meltano-db"] = {"MELTANO_DATABASE_URI": "old", "LEFTOVER": "x"}
    current["cloud-sql"] = dict(wanted["cloud-sql"])
    plans = {p.name: p for p in secrets.plan(wanted, current)}
    assert plans["meltano-db"].changed == ["MELTANO_DATABASE_URI"]
    assert plans["meltano-db"].removed == ["LEFTOVER"]
    assert not plans["cloud-sql"].changes
    assert not plans["tap-secrets"].exists
    assert plans["tap-secrets"].added == sorted(template_keys()["tap-secrets"])
    described = "\n".join(p.describe() for p in plans.values())
    assert "secret meltano-db: update — change MELTANO_DATABASE_URI; remove LEFTOVER" in described
    assert "secret cloud-sql: unchanged (1 keys)" in described
    assert "value-of" not in described
    assert "old" not in described


def test_secret_manifest_is_a_valid_secret() -> None:
    manifest = secrets.manifest("airflow-db", {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "pg://é"})
    kubernetes_validate.validate(manifest, check.tools.KUBERNETES_VERSION, strict=True)
    encoded = manifest["data"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert base64.b64decode(encoded).decode() == "pg://é"


def test_secrets_without_a_cluster_fail_clearly_and_print_no_value(tmp_path: Path) -> None:
    done = dataops(
        "secrets",
        "apply",
        "production",
        "--env-file",
        str(env_file(tmp_path)),
        "--dry-run",
        *NO_CLUSTER,
    )
    assert done.returncode == 1
    assert "`kubectl get secrets -o json` failed" in done.stdout
    assert "no-such-cluster" in done.stdout
    assert "value-of" not in done.stdout + done.stderr


def test_deploy_dry_run_renders_the_release_and_prints_the_plan() -> None:
    done = dataops("deploy", "production", "--image", "v9.8.7", "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    manifest = project.root() / "output" / "deploy" / "production-v9.8.7.yaml"
    assert "would run: kubectl apply --server-side --field-manager=dataops" in done.stdout
    assert "rollout status deployment/meltano-scheduler" in done.stdout
    objects = list(yaml.safe_load_all(manifest.read_text()))
    assert ":unset" not in manifest.read_text()
    image = "us-central1-docker.pkg.dev/data-ops-meltano-production/data-ops-meltano/meltano:v9.8.7"
    (platform,) = [o for o in objects if o["metadata"]["name"] == "platform-env"]
    assert platform["data"]["DATAOPS_IMAGE"] == image
    assert platform["data"]["MELTANO_ENVIRONMENT"] == "production"
    (scheduler,) = [
        o for o in objects if o["kind"] == "Deployment" and "scheduler" in o["metadata"]["name"]
    ]
    assert {c["image"] for c in scheduler["spec"]["template"]["spec"]["containers"]} == {image}
    assert scheduler["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    for obj in objects:
        kubernetes_validate.validate(obj, check.tools.KUBERNETES_VERSION, strict=True)


def test_deploy_refuses_a_bad_tag_and_an_unknown_environment() -> None:
    bad_tag = dataops("deploy", "production", "--image", "latest tag", "--dry-run")
    assert bad_tag.returncode != 0
    assert "is not an image tag" in bad_tag.stdout + bad_tag.stderr
    unknown = dataops("deploy", "prod", "--image", "v1", "--dry-run")
    assert unknown.returncode != 0
    assert (
        "no overlay 'prod': expected one of staging, production" in unknown.stdout + unknown.stderr
    )


def test_deploy_without_a_cluster_stops_before_applying() -> None:
    done = dataops("deploy", "staging", "--image", "v1.0.0", *NO_CLUSTER)
    assert done.returncode == 1
    assert "`kubectl get secrets -o name` failed" in done.stdout
