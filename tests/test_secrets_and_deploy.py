"""`dataops secrets` and `dataops deploy`, offline: everything up to talking to a
cluster runs for real (env files, templates, plans, manifests, kustomize, checks); the
cluster steps fail with a clear message when there is no cluster, and real kubectl
talks to a small stand-in API server to show that a context whose namespace is labelled
for another environment is refused before anything is read or written."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from dataops import check, project, registry, secrets
from dataops.render import KubernetesTree

DATAOPS = str(Path(project.meltano_executable()).with_name("dataops"))
TREE = KubernetesTree()
NO_CLUSTER = ["--context", "no-such-cluster"]


def template_keys(environment: str = "production") -> dict[str, set[str]]:
    return check.wiring.secret_template_keys(TREE, environment)


@pytest.mark.parametrize(
    ("key", "url", "named"),
    [
        (  # the sync's URL with the scheduler's user: its proxy would refuse the login
            "SYNC_MELTANO_DATABASE_URI",
            "postgresql+psycopg://meltano-scheduler%40p.iam@127.0.0.1:5432/meltano",
            "user meltano-scheduler@p.iam and database meltano",
        ),
        (  # staging's user in production's file
            "API_SERVER_SQL_ALCHEMY_CONN",
            "postgresql+psycopg2://airflow-api-server-staging%40p.iam@127.0.0.1:5432/airflow",
            "user airflow-api-server-staging@p.iam and database airflow",
        ),
        (  # the right user, the other database
            "SCHEDULER_SQL_ALCHEMY_CONN",
            "postgresql+psycopg2://meltano-scheduler%40p.iam@127.0.0.1:5432/meltano",
            "user meltano-scheduler@p.iam and database meltano",
        ),
    ],
)
def test_a_database_url_its_workload_cannot_log_in_with_is_refused(
    complete_env_file: Callable[..., Path], key: str, url: str, named: str
) -> None:
    path = complete_env_file(leave_out=key, extra=f"{key}={url}\n")
    with pytest.raises(secrets.SecretsError) as refused:
        secrets.read_env_file(path, TREE, "production")
    workload, database = secrets.DATABASE_LOGINS[key]
    assert f"{key} must log in as {workload}@PROJECT.iam" in str(refused.value)
    assert f"to the database {database}; it names {named}" in str(refused.value)


FRESH_FERNET = base64.urlsafe_b64encode(b"a-new-fernet-key-of-32-bytes-abc").decode()
OLD_FERNET = base64.urlsafe_b64encode(b"the-old-fernet-key-32-bytes-long").decode()


@pytest.mark.parametrize(
    ("key", "value", "refused"),
    [
        ("AIRFLOW__API__SECRET_KEY", "s3cret-but-short", "is 16 bytes long"),
        ("AIRFLOW__API_AUTH__JWT_SECRET", "x" * 63, "is 63 bytes long"),
        ("AIRFLOW__API_AUTH__JWT_SECRET", "x" * 64, None),
        ("AIRFLOW__CORE__FERNET_KEY", "not-a-fernet-key", "is not a Fernet key"),
        (
            "AIRFLOW__CORE__FERNET_KEY",
            base64.urlsafe_b64encode(b"16 bytes only!!!").decode(),
            "is not a Fernet key",
        ),
        ("AIRFLOW__CORE__FERNET_KEY", FRESH_FERNET, None),
        # While rotating: the new key first, then the old one.
        ("AIRFLOW__CORE__FERNET_KEY", f"{FRESH_FERNET},{OLD_FERNET}", None),
        ("AIRFLOW__CORE__FERNET_KEY", f"{FRESH_FERNET},{OLD_FERNET[:-4]}", "is not a Fernet key"),
    ],
)
def test_airflow_keys_it_would_refuse_or_that_are_weak_are_refused_without_their_value(
    complete_env_file: Callable[..., Path], key: str, value: str, refused: str | None
) -> None:
    path = complete_env_file(leave_out=key, extra=f"{key}={value}\n")
    if refused is None:
        assert secrets.read_env_file(path, TREE, "production")["airflow"][key] == value
        return
    with pytest.raises(secrets.SecretsError) as error:
        secrets.read_env_file(path, TREE, "production")
    assert f"{key} {refused}" in str(error.value)
    assert "make one with `python3 -c" in str(error.value)
    assert value not in str(error.value)


def dataops(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DATAOPS, *args],
        cwd=project.root(),
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "200", **(env or {})},  # Rich wraps no message
    )


class StandInApiServer(BaseHTTPRequestHandler):
    """Just enough of the Kubernetes API for `kubectl get namespace|secrets`: the
    namespace `meltano` with the server's `labels` (None: no namespace), no secret."""

    def do_GET(self) -> None:
        server = self.server
        assert isinstance(server, StandInCluster)
        path = urlsplit(self.path).path
        server.paths.append(path)
        not_found = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404}
        answers: dict[str, Any] = {
            "/api": {"kind": "APIVersions", "versions": ["v1"]},
            "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
            "/api/v1": {
                "kind": "APIResourceList",
                "groupVersion": "v1",
                "resources": [
                    {
                        "name": "namespaces",
                        "singularName": "namespace",
                        "namespaced": False,
                        "kind": "Namespace",
                        "verbs": ["get", "list"],
                    },
                    {
                        "name": "secrets",
                        "singularName": "secret",
                        "namespaced": True,
                        "kind": "Secret",
                        "verbs": ["get", "list", "create", "update"],
                    },
                ],
            },
            "/api/v1/namespaces/meltano/secrets": {
                "kind": "SecretList",
                "apiVersion": "v1",
                "items": [],
            },
        }
        if server.labels is not None:
            answers["/api/v1/namespaces/meltano"] = {
                "kind": "Namespace",
                "apiVersion": "v1",
                "metadata": {"name": "meltano", "labels": server.labels},
            }
        body = answers.get(
            path, {**not_found, "reason": "NotFound", "message": f"{path} not found"}
        )
        self.send_response(404 if body.get("code") == 404 else 200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(body).encode())

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class StandInCluster(ThreadingHTTPServer):
    labels: dict[str, str] | None = None
    paths: list[str]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[StandInCluster, dict[str, str]]]:
    """The stand-in API server and the env (KUBECONFIG) whose context `cluster` is it."""
    server = StandInCluster(("127.0.0.1", 0), StandInApiServer)
    server.paths = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "c", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}
        ],
        "users": [{"name": "u", "user": {}}],
        "contexts": [{"name": "cluster", "context": {"cluster": "c", "user": "u"}}],
    }
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(config))
    yield server, {"KUBECONFIG": str(tmp_path / "kubeconfig")}
    server.shutdown()


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


def test_env_file_is_split_into_the_secrets(complete_env_file: Callable[..., Path]) -> None:
    wanted = secrets.read_env_file(complete_env_file(), TREE, "production")
    assert {name: set(values) for name, values in wanted.items()} == template_keys()
    assert wanted["meltano-db"]["SYNC_MELTANO_DATABASE_URI"] == (
        "postgresql+psycopg://meltano-sync%40p.iam@127.0.0.1:5432/meltano"
    )


def test_a_key_missing_from_the_env_file_names_it_and_its_template(
    complete_env_file: Callable[..., Path],
) -> None:
    with pytest.raises(secrets.SecretsError) as error:
        secrets.read_env_file(
            complete_env_file(leave_out="TAP_XACTLY_PASSWORD"), TREE, "production"
        )
    assert (
        "TAP_XACTLY_PASSWORD (secret tap-secrets, listed in "
        "deploy/kubernetes/secrets/production/tap-secrets.env.template)" in str(error.value)
    )
    assert "value-of" not in str(error.value)


def test_a_key_no_template_lists_is_refused(complete_env_file: Callable[..., Path]) -> None:
    with pytest.raises(secrets.SecretsError, match="TAP_NEW_TOKEN belong to no secret template"):
        secrets.read_env_file(complete_env_file(extra="TAP_NEW_TOKEN=x\n"), TREE, "production")


def test_another_environments_key_is_refused(complete_env_file: Callable[..., Path]) -> None:
    """Staging's file given for production (its Snowflake password) stops before the
    cluster is touched."""
    staging_file = complete_env_file(environment="staging")
    with pytest.raises(secrets.SecretsError) as error:
        secrets.read_env_file(staging_file, TREE, "production")
    assert "TARGET_SNOWFLAKE_PASSWORD belong to no secret template of production" in str(
        error.value
    )
    assert "value-of" not in str(error.value)
    with pytest.raises(secrets.SecretsError, match="no environment 'prod'"):
        secrets.read_env_file(staging_file, TREE, "prod")


def test_plan_names_keys_and_never_values(complete_env_file: Callable[..., Path]) -> None:
    wanted = secrets.read_env_file(complete_env_file(), TREE, "production")
    current: dict[str, dict[str, str] | None] = dict.fromkeys(wanted)
    current["meltano-db"] = {
        "SYNC_MELTANO_DATABASE_URI": "old",
        "SCHEDULER_MELTANO_DATABASE_URI": wanted["meltano-db"]["SCHEDULER_MELTANO_DATABASE_URI"],
        "LEFTOVER": "x",
    }
    current["cloud-sql"] = dict(wanted["cloud-sql"])
    plans = {p.name: p for p in secrets.plan(wanted, current)}
    assert plans["meltano-db"].changed == ["SYNC_MELTANO_DATABASE_URI"]
    assert plans["meltano-db"].removed == ["LEFTOVER"]
    assert not plans["cloud-sql"].changes
    assert not plans["tap-secrets"].exists
    assert plans["tap-secrets"].added == sorted(template_keys()["tap-secrets"])
    described = "\n".join(p.describe() for p in plans.values())
    assert (
        "secret meltano-db: update — change SYNC_MELTANO_DATABASE_URI; remove LEFTOVER" in described
    )
    assert "secret cloud-sql: unchanged (1 keys)" in described
    assert "value-of" not in described
    assert "old" not in described


def test_secret_manifest_is_a_valid_secret() -> None:
    manifest = secrets.manifest("airflow-db", {"SCHEDULER_SQL_ALCHEMY_CONN": "pg://é"})
    kubernetes_validate.validate(manifest, check.tools.KUBERNETES_VERSION, strict=True)
    encoded = manifest["data"]["SCHEDULER_SQL_ALCHEMY_CONN"]
    assert base64.b64decode(encoded).decode() == "pg://é"


def test_secrets_without_a_cluster_fail_clearly_and_print_no_value(
    complete_env_file: Callable[..., Path],
) -> None:
    done = dataops(
        "secrets",
        "apply",
        "production",
        "--env-file",
        str(complete_env_file()),
        "--dry-run",
        *NO_CLUSTER,
    )
    assert done.returncode == 1
    assert "`kubectl get namespace meltano -o json` failed" in done.stdout
    assert "no-such-cluster" in done.stdout
    assert "value-of" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("labels", "refusal"),
    [
        (
            {"dataops.io/environment": "staging"},
            "context cluster is not production's cluster: its namespace meltano is labelled "
            "dataops.io/environment=staging; check --context",
        ),
        ({}, "is labelled dataops.io/environment=(none)"),
        (
            None,
            "context cluster has no namespace meltano. If it is production's cluster, make it "
            "once: kubectl --context cluster create namespace meltano && kubectl --context "
            "cluster label namespace meltano dataops.io/environment=production",
        ),
    ],
)
def test_a_context_that_is_not_the_environments_cluster_is_refused_before_any_read(
    complete_env_file: Callable[..., Path],
    cluster: tuple[StandInCluster, dict[str, str]],
    labels: dict[str, str] | None,
    refusal: str,
) -> None:
    server, env = cluster
    server.labels = labels
    production = str(complete_env_file())
    for command in (
        ("secrets", "apply", "production", "--env-file", production, "--dry-run"),
        ("deploy", "production", "--image", "v1.0.0"),
    ):
        done = dataops(*command, "--context", "cluster", env=env)
        assert done.returncode == 1, done.stdout + done.stderr
        assert refusal in done.stdout
        assert not any("secrets" in path for path in server.paths), server.paths


def test_the_environments_own_cluster_is_read(
    complete_env_file: Callable[..., Path], cluster: tuple[StandInCluster, dict[str, str]]
) -> None:
    server, env = cluster
    server.labels = {"dataops.io/environment": "production"}
    done = dataops(
        "secrets",
        "apply",
        "production",
        "--env-file",
        str(complete_env_file()),
        "--dry-run",
        "--context",
        "cluster",
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "/api/v1/namespaces/meltano/secrets" in server.paths
    assert "tap-secrets" in done.stdout
    assert "value-of" not in done.stdout + done.stderr


def test_the_overlays_label_every_object_with_their_environment() -> None:
    for environment in ("staging", "production"):
        for obj in check.base.kustomize(TREE.overlay(environment)):
            labels = obj["metadata"].get("labels", {})
            assert labels.get(secrets.ENVIRONMENT_LABEL) == environment, obj["metadata"]["name"]


def test_cluster_commands_require_a_context(complete_env_file: Callable[..., Path]) -> None:
    for command in (
        ("secrets", "apply", "production", "--env-file", str(complete_env_file())),
        ("deploy", "production", "--image", "v1.0.0", "--dry-run"),
    ):
        done = dataops(*command)
        assert done.returncode == 2
        assert "Missing option '--context'" in done.stdout + done.stderr


class StandInRegistryApi(BaseHTTPRequestHandler):
    """The distribution API as Artifact Registry and gcr.io answer it: a manifest HEAD
    needs a pull token from the token service the 401 challenge names."""

    def do_HEAD(self) -> None:
        path = urlsplit(self.path).path
        match = re.fullmatch(r"/v2/(.+)/manifests/([^/]+)", path)
        host = f"127.0.0.1:{self.server.server_address[1]}"
        if self.headers.get("Authorization") != "Bearer pull-token":
            self.send_response(401)
            self.send_header(
                "WWW-Authenticate", f'Bearer realm="http://{host}/token",service="{host}"'
            )
        elif match is None or match[2] == "v0.0.0":
            self.send_response(404)
        else:
            self.send_response(200)
            self.send_header("Docker-Content-Digest", stand_in_digest(f"{match[1]}:{match[2]}"))
        self.end_headers()

    def do_GET(self) -> None:
        assert urlsplit(self.path).path == "/token"
        body = json.dumps({"token": "pull-token"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def stand_in_digest(image: str) -> str:
    return "sha256:" + hashlib.sha256(image.encode()).hexdigest()


@pytest.fixture
def released_copy(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A copy of the project whose images live in a stand-in registry; its host."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandInRegistryApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{server.server_port}"
    copy = tmp_path / "project"
    for name in (
        "meltano.yml",
        "meltano",
        "deploy/kubernetes",
        "deploy/docker",
        "deploy/terraform",
    ):
        source = project.root() / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns(".*"))
        else:
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, copy / name)
    for path in (copy / "deploy" / "kubernetes").rglob("*.y*ml"):
        text = path.read_text().replace("us-central1-docker.pkg.dev", host).replace("gcr.io", host)
        # Images by tag only, as before `dataops pin-images`: the registry resolves them.
        path.write_text(re.sub(r"@sha256:[0-9a-f]{64}", "", text))
    set_login_domain(copy, "example.com")
    yield copy, host
    server.shutdown()


def deploy_dry_run(copy: Path, environment: str, tag: str) -> subprocess.CompletedProcess[str]:
    """`dataops deploy ENVIRONMENT --dry-run` of the project copy, from elsewhere."""
    return dataops(
        "--project-root",
        str(copy),
        "deploy",
        environment,
        "--image",
        tag,
        "--dry-run",
        *NO_CLUSTER,
    )


def test_deploy_dry_run_pins_every_image_to_its_digest_and_prints_the_plan(
    released_copy: tuple[Path, str],
) -> None:
    copy, host = released_copy
    done = deploy_dry_run(copy, "production", "v9.8.7")
    assert done.returncode == 0, done.stdout + done.stderr
    manifest = copy / "output" / "deploy" / "production-v9.8.7.yaml"
    assert "would run: kubectl --context no-such-cluster apply --server-side" in done.stdout
    assert "rollout status deployment/meltano-scheduler" in done.stdout
    tagged = f"{host}/data-ops-meltano-production/data-ops-meltano/meltano:v9.8.7"
    image = f"{tagged}@{stand_in_digest(tagged.split('/', 1)[1])}"
    proxy = f"{host}/cloud-sql-connectors/cloud-sql-proxy:2.14.3"
    pinned_proxy = f"{proxy}@{stand_in_digest(proxy.split('/', 1)[1])}"
    assert f"image: {pinned_proxy}\nimage: {image}\n" in done.stdout
    # What the release pipeline attests for Binary Authorization: each image, by digest.
    attested = (copy / "output" / "deploy" / "production-v9.8.7.images").read_text()
    assert attested.splitlines() == sorted(
        f"{name.rpartition(':')[0]}@{digest.split('@')[1]}"
        for name, digest in ((proxy, pinned_proxy), (tagged, image))
    )
    objects = list(yaml.safe_load_all(manifest.read_text()))
    (platform,) = [o for o in objects if o["metadata"]["name"] == "platform-env"]
    assert platform["data"]["DATAOPS_IMAGE"] == image
    assert platform["data"]["MELTANO_ENVIRONMENT"] == "production"
    (scheduler,) = [
        o for o in objects if o["kind"] == "Deployment" and "scheduler" in o["metadata"]["name"]
    ]
    assert {c["image"] for c in scheduler["spec"]["template"]["spec"]["containers"]} == {image}
    assert scheduler["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    images = [
        c["image"]
        for o in objects
        if o["kind"] == "Deployment"
        for c in [
            *o["spec"]["template"]["spec"].get("initContainers", []),
            *o["spec"]["template"]["spec"]["containers"],
        ]
    ]
    assert set(images) == {image, pinned_proxy}
    sync = check.base.sync_pod(objects)
    assert [c["image"] for c in sync["spec"]["initContainers"]] == [pinned_proxy]
    assert [c["image"] for c in sync["spec"]["containers"]] == ["data-ops-meltano"]  # Airflow's
    for obj in objects:
        kubernetes_validate.validate(obj, check.tools.KUBERNETES_VERSION, strict=True)


def test_an_image_pinned_in_git_keeps_its_reviewed_digest(
    released_copy: tuple[Path, str],
) -> None:
    """`dataops pin-images` pinned the proxy in the base manifests: the release keeps
    that digest (and attests it), whatever the registry's tag points at now."""
    copy, host = released_copy
    reviewed = "sha256:" + "ab" * 32
    proxy = f"{host}/cloud-sql-connectors/cloud-sql-proxy:2.14.3"
    for path in (copy / "deploy" / "kubernetes" / "base").glob("*.yaml"):
        path.write_text(path.read_text().replace(proxy, f"{proxy}@{reviewed}"))
    rendered = dataops("--project-root", str(copy), "render")  # as pin-images does
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    done = deploy_dry_run(copy, "staging", "v1.0.0")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"image: {proxy}@{reviewed}\n" in done.stdout
    objects = list(yaml.safe_load_all((copy / "output/deploy/staging-v1.0.0.yaml").read_text()))
    proxies = {
        c["image"]
        for o in objects
        if o["kind"] == "Deployment"
        for c in o["spec"]["template"]["spec"].get("initContainers", [])
        if c["name"] == "cloud-sql-proxy"
    }
    assert proxies == {f"{proxy}@{reviewed}"}
    attested = (copy / "output/deploy/staging-v1.0.0.images").read_text().splitlines()
    assert f"{host}/cloud-sql-connectors/cloud-sql-proxy@{reviewed}" in attested


def set_login_domain(root: Path, domain: str) -> None:
    platform = root / "deploy" / "kubernetes" / "base" / "platform.env"
    text = re.sub(r"(?m)^DATAOPS_AIRFLOW_LOGIN_DOMAIN=.*$", "", platform.read_text())
    platform.write_text(f"{text}DATAOPS_AIRFLOW_LOGIN_DOMAIN={domain}\n")


def test_an_environment_without_its_login_domain_is_not_deployed(
    released_copy: tuple[Path, str],
) -> None:
    """The API server would not start: refused before anything is rendered or asked."""
    copy, _ = released_copy
    set_login_domain(copy, "")
    done = deploy_dry_run(copy, "staging", "v1.0.0")
    assert done.returncode == 1
    assert (
        "staging: DATAOPS_AIRFLOW_LOGIN_DOMAIN is empty: add it to the literals of "
        "platform-env in deploy/kubernetes/overlays/staging/kustomization.yaml"
    ) in done.stdout + done.stderr


def test_a_tag_the_registry_does_not_hold_is_not_deployed(
    released_copy: tuple[Path, str],
) -> None:
    copy, host = released_copy
    done = deploy_dry_run(copy, "staging", "v0.0.0")
    assert done.returncode == 1
    assert (
        f"not deployed: {host}/data-ops-meltano-staging/data-ops-meltano/meltano:v0.0.0: "
        f"no such tag in {host}/data-ops-meltano-staging/data-ops-meltano/meltano"
    ) in done.stdout


def test_deploy_refuses_a_bad_tag_and_an_unknown_environment() -> None:
    bad_tag = dataops("deploy", "production", "--image", "latest tag", "--dry-run", *NO_CLUSTER)
    assert bad_tag.returncode != 0
    assert "is not an image tag" in bad_tag.stdout + bad_tag.stderr
    unknown = dataops("deploy", "prod", "--image", "v1", "--dry-run", *NO_CLUSTER)
    assert unknown.returncode != 0
    assert (
        "no overlay 'prod': expected one of staging, production" in unknown.stdout + unknown.stderr
    )


def test_deploy_without_a_cluster_stops_before_applying() -> None:
    done = dataops("deploy", "staging", "--image", "v1.0.0", *NO_CLUSTER)
    assert done.returncode == 1
    assert "`kubectl get namespace meltano -o json` failed" in done.stdout


def test_the_sync_pods_resolved_configs_stay_in_memory() -> None:
    """Meltano writes each plugin's resolved config, secrets included, under
    .meltano/run: in the cluster that directory is memory, never the node's disk."""
    for environment in ("staging", "production"):
        pod = check.base.sync_pod(check.base.kustomize(TREE.overlay(environment)))
        [container] = pod["spec"]["containers"]
        [mount] = [m for m in container["volumeMounts"] if m["mountPath"].endswith(".meltano/run")]
        [volume] = [v for v in pod["spec"]["volumes"] if v["name"] == mount["name"]]
        assert volume["emptyDir"]["medium"] == "Memory", environment


class ForeignRealmRegistryApi(StandInRegistryApi):
    """A registry whose challenge sends the client elsewhere for its token."""

    def do_HEAD(self) -> None:
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Bearer realm="https://tokens.example.com/t"')
        self.end_headers()


def test_registry_credentials_never_leave_the_registry() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ForeignRealmRegistryApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    asked: list[str] = []
    try:
        with pytest.raises(registry.RegistryError, match="names no token service of its own"):
            registry.digest(
                f"127.0.0.1:{server.server_port}/team/app:v1",
                lambda host: asked.append(host) or ("user", "secret"),
            )
    finally:
        server.shutdown()
    assert asked == []


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        ("production.env", True),
        ("secrets/staging.env", True),
        ("deploy/production.env", True),
        ("deploy/kubernetes/secrets/production.env", True),  # a filled copy of the templates
        ("deploy/kubernetes/secrets/production/tap-secrets.env", True),
        ("deploy/kubernetes/overlays/production/production.env", True),
        ("deploy/kubernetes/base/platform.env", False),  # secret-free, tracked
        ("deploy/kubernetes/overlays/staging/generated/meltano.env", False),
    ],
)
def test_git_ignores_every_env_file_but_the_secret_free_ones(path: str, ignored: bool) -> None:
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", path], cwd=project.root(), check=False
    )
    assert done.returncode == (0 if ignored else 1), path


@pytest.mark.parametrize(
    ("host", "google"),
    [
        ("us-central1-docker.pkg.dev", True),
        ("gcr.io", True),
        ("eu.gcr.io", True),
        ("evilgcr.io", False),  # look-alikes of Google's registries
        ("eu-gcr.io", False),
        ("docker.pkg.dev.example.com", False),
        ("ghcr.io", False),
    ],
)
def test_a_google_token_goes_only_to_googles_registries(host: str, google: bool) -> None:
    """gcloud_credentials asks gcloud for a token only for Google's hosts: any other
    is asked anonymously (None) without running gcloud."""
    assert registry.is_google(host) is google
    if not google:
        assert registry.gcloud_credentials(host) is None


def test_only_the_scheduler_container_holds_a_kubernetes_api_token() -> None:
    """The scheduler starts sync pods through the API; its sidecar, migrations and DAG
    processor (and every other pod) get no token."""
    token_path = "/var/run/secrets/kubernetes.io/serviceaccount"
    for environment in ("staging", "production"):
        objects = check.base.kustomize(TREE.overlay(environment))
        holders = []
        for name, container, pod in check.base.containers(environment, objects):
            assert pod.get("automountServiceAccountToken") is False, name
            volumes = {v["name"]: v for v in pod.get("volumes", [])}
            for mount in container.get("volumeMounts", []):
                sources = volumes[mount["name"]].get("projected", {}).get("sources", [])
                if any("serviceAccountToken" in source for source in sources):
                    assert mount["mountPath"] == token_path
                    holders.append(f"{name} {container['name']}")
        assert holders == [f"overlay {environment}: Deployment/meltano-scheduler scheduler"]
        for account in (o for o in objects if o["kind"] == "ServiceAccount"):
            assert account["automountServiceAccountToken"] is False, account["metadata"]["name"]
