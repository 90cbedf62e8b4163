"""deploy/terraform, checked offline: the google provider cannot be downloaded here, so
no `terraform validate`. Instead: the HCL parsed with python-hcl2 and the workspace
guard run for real (it needs no provider). `terraform fmt` and checkov run inside
`dataops check` (tests/test_check.py)."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest

from dataops import check, render

ROOT = Path(__file__).resolve().parents[1]
TF = ROOT / "deploy" / "terraform"
ENVIRONMENTS = ("staging", "production")
# Offline and quiet: no update checks, no prompts.
TF_ENV = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
HCL = hcl2.SerializationOptions(
    with_comments=False, explicit_blocks=False, strip_string_quotes=True
)

Block = dict[str, Any]


def _load(path: Path) -> Block:
    with path.open() as f:
        return hcl2.load(f, serialization_options=HCL)


@pytest.fixture(scope="module")
def terraform() -> str:
    path = shutil.which("terraform")
    if path is None:
        pytest.fail("terraform is not on PATH (deploy/terraform/README.md needs Terraform 1.11)")
    return path


@pytest.fixture(scope="module")
def module() -> dict[str, Any]:
    """The module's *.tf files: resources by (type, name), variables, outputs, locals
    and terraform blocks."""
    parsed: dict[str, Any] = {
        "resource": {},
        "variable": {},
        "output": {},
        "locals": {},
        "terraform": [],
    }
    for path in sorted(TF.glob("*.tf")):
        doc = _load(path)
        for group in doc.get("resource", []):
            for rtype, by_name in group.items():
                for name, body in by_name.items():
                    parsed["resource"][(rtype, name)] = body
        for kind in ("variable", "output"):
            for group in doc.get(kind, []):
                parsed[kind].update(group)
        for group in doc.get("locals", []):
            parsed["locals"].update(group)
        parsed["terraform"] += doc.get("terraform", [])
    return parsed


def resource(module: dict[str, Any], rtype: str, name: str) -> Block:
    assert (rtype, name) in module["resource"], f"{rtype}.{name} is not declared"
    return module["resource"][(rtype, name)]


def one(blocks: list[Block]) -> Block:
    assert len(blocks) == 1, blocks
    return blocks[0]


def of_type(module: dict[str, Any], rtype: str) -> list[Block]:
    return [body for (t, _), body in module["resource"].items() if t == rtype]


@pytest.fixture(scope="module")
def tfvars() -> dict[str, Block]:
    return {env: _load(TF / "environments" / f"{env}.tfvars") for env in ENVIRONMENTS}


@pytest.fixture(scope="module")
def guard_dir(terraform: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """environment.tf alone, initialised: it uses only Terraform's built-in provider."""
    work = tmp_path_factory.mktemp("guard")
    shutil.copy(TF / "environment.tf", work)
    tf(terraform, work, "init", "-backend=false")
    for env in ENVIRONMENTS:
        tf(terraform, work, "workspace", "new", env)
    return work


def tf(terraform: str, cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    command, *rest = args
    # Options go right after the subcommand; `workspace …` prints nothing we read.
    color = [] if command == "workspace" else ["-no-color"]
    done = subprocess.run(
        [terraform, command, *color, *rest],
        cwd=cwd,
        env=TF_ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def said(done: subprocess.CompletedProcess) -> str:
    """Terraform's messages with line wrapping undone."""
    return " ".join((done.stdout + done.stderr).split())


# --- names and the workspace guard ------------------------------------------------


@pytest.mark.parametrize(
    ("env", "cluster", "pool"),
    [
        ("staging", "data-ops-meltano-staging", "meltano-pool-staging"),
        ("production", "data-ops-meltano", "meltano-pool"),
    ],
)
def test_names_per_environment(
    module: dict[str, Any], terraform: str, guard_dir: Path, env: str, cluster: str, pool: str
) -> None:
    done = subprocess.run(
        [terraform, "console", "-var", f"environment={env}"],
        cwd=guard_dir,
        env=TF_ENV,
        input="local.suffix\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    suffix = json.loads(done.stdout.strip())

    def name(rtype: str, rname: str) -> str:
        return resource(module, rtype, rname)["name"].replace("${local.suffix}", suffix)

    assert name("google_container_cluster", "meltano") == cluster
    assert name("google_container_node_pool", "meltano") == pool
    assert name("google_sql_database_instance", "meltano") == cluster


def test_workspace_guard_stops_the_other_environments_tfvars(
    terraform: str, guard_dir: Path
) -> None:
    tf(terraform, guard_dir, "workspace", "select", "staging")
    plan = guard_dir / "wrong.tfplan"
    done = tf(
        terraform,
        guard_dir,
        "plan",
        "-var",
        "environment=production",
        f"-out={plan}",
        check=False,
    )
    assert done.returncode != 0
    assert 'Workspace "staging" does not match environment "production"' in said(done)
    if plan.exists():  # Terraform writes errored plans but refuses to apply them
        applied = tf(terraform, guard_dir, "apply", str(plan), check=False)
        assert applied.returncode != 0
        assert "Cannot apply incomplete plan" in said(applied)

    tf(terraform, guard_dir, "plan", "-var", "environment=staging")


def test_default_workspace_is_refused(terraform: str, guard_dir: Path) -> None:
    tf(terraform, guard_dir, "workspace", "select", "default")
    done = tf(terraform, guard_dir, "plan", "-var", "environment=production", check=False)
    assert done.returncode != 0
    assert 'Workspace "default" does not match environment "production"' in said(done)


# --- the cluster ------------------------------------------------------------------


def test_cluster_is_private_vpc_native_with_a_managed_pool_only(module: dict[str, Any]) -> None:
    cluster = resource(module, "google_container_cluster", "meltano")
    assert cluster["remove_default_node_pool"] is True
    private = one(cluster["private_cluster_config"])
    assert private["enable_private_nodes"] is True
    assert private["enable_private_endpoint"] == "${var.enable_private_endpoint}"
    assert one(cluster["master_authorized_networks_config"])
    assert cluster["networking_mode"] == "VPC_NATIVE"
    assert one(cluster["ip_allocation_policy"])["cluster_secondary_range_name"] == "pods"
    # The manifests use NetworkPolicy: Dataplane V2 enforces it.
    assert cluster["datapath_provider"] == "ADVANCED_DATAPATH"
    assert cluster["deletion_protection"] == "${local.is_production}"


def test_workload_identity(module: dict[str, Any]) -> None:
    cluster = resource(module, "google_container_cluster", "meltano")
    pool_cfg = one(cluster["workload_identity_config"])["workload_pool"]
    assert pool_cfg == "${var.project_id}.svc.id.goog"
    node = one(resource(module, "google_container_node_pool", "meltano")["node_config"])
    assert one(node["workload_metadata_config"])["mode"] == "GKE_METADATA"

    binding = resource(module, "google_service_account_iam_member", "runtime_workload_identity")
    assert binding["role"] == "roles/iam.workloadIdentityUser"
    assert binding["service_account_id"] == "${google_service_account.runtime.name}"
    assert binding["for_each"] == "${local.kubernetes_service_accounts}"
    assert binding["member"].endswith("[${local.kubernetes_namespace}/${each.value}]")
    assert "workload_identity_config[0].workload_pool" in binding["member"]
    # The contract with deploy/kubernetes: namespace and service account names.
    assert module["locals"]["kubernetes_namespace"] == "meltano"
    ksas = set(re.findall(r'"([\w-]+)"', module["locals"]["kubernetes_service_accounts"]))
    assert {"meltano-scheduler", "meltano-sync"} <= ksas


def test_runtime_account_reaches_cloud_sql_only(module: dict[str, Any]) -> None:
    grant = resource(module, "google_project_iam_member", "runtime")
    assert grant["member"] == "${google_service_account.runtime.member}"
    roles = set(re.findall(r"roles/[\w.]+", grant["for_each"]))
    assert roles == {"roles/cloudsql.client", "roles/cloudsql.instanceUser"}


def test_shielded_nodes_and_release_channel(module: dict[str, Any]) -> None:
    cluster = resource(module, "google_container_cluster", "meltano")
    assert cluster["enable_shielded_nodes"] is True
    assert one(cluster["release_channel"])["channel"] == "REGULAR"
    node = one(resource(module, "google_container_node_pool", "meltano")["node_config"])
    shielded = one(node["shielded_instance_config"])
    assert shielded["enable_secure_boot"] is True
    assert shielded["enable_integrity_monitoring"] is True
    assert node["image_type"] == "COS_CONTAINERD"


def test_node_pool_autoscales_and_self_heals(
    module: dict[str, Any], tfvars: dict[str, Block]
) -> None:
    pool = resource(module, "google_container_node_pool", "meltano")
    scaling = one(pool["autoscaling"])
    assert scaling["total_min_node_count"] == "${var.node_min_count}"
    assert scaling["total_max_node_count"] == "${var.node_max_count}"
    management = one(pool["management"])
    assert management["auto_repair"] is True
    assert management["auto_upgrade"] is True
    assert module["variable"]["machine_type"]["default"] == "e2-standard-8"
    for env, values in tfvars.items():
        # Room to grow: the scheduler's node plus nodes for the sync pods.
        assert 1 <= values["node_min_count"] < values["node_max_count"], env


def test_nodes_use_their_own_least_privilege_account(module: dict[str, Any]) -> None:
    node = one(resource(module, "google_container_node_pool", "meltano")["node_config"])
    assert node["service_account"] == "${google_service_account.nodes.email}"
    # Neither the default compute account nor a broad role anywhere.
    assert "compute@developer.gserviceaccount.com" not in str(module["resource"])
    assert not re.search(r"roles/(editor|owner)\b", str(module["resource"]))
    grant = resource(module, "google_project_iam_member", "nodes")
    roles = set(re.findall(r"roles/[\w.]+", grant["for_each"]))
    assert roles
    assert all(role.endswith(("Writer", ".writer")) for role in roles), roles
    pull = resource(module, "google_artifact_registry_repository_iam_member", "nodes_pull")
    assert pull["role"] == "roles/artifactregistry.reader"


# --- Cloud SQL --------------------------------------------------------------------


def test_cloud_sql_is_private_backed_up_and_protected(module: dict[str, Any]) -> None:
    instance = resource(module, "google_sql_database_instance", "meltano")
    assert instance["database_version"].startswith("POSTGRES_")
    assert instance["deletion_protection"] == "${local.is_production}"
    settings = one(instance["settings"])
    ip = one(settings["ip_configuration"])
    assert ip["ipv4_enabled"] is False
    assert ip["private_network"] == "${google_compute_network.meltano.id}"
    assert "authorized_networks" not in ip
    backups = one(settings["backup_configuration"])
    assert backups["enabled"] is True
    assert backups["point_in_time_recovery_enabled"] is True


def test_cloud_sql_databases_and_iam_authentication(module: dict[str, Any]) -> None:
    databases = resource(module, "google_sql_database", "meltano")
    assert set(re.findall(r'"(\w+)"', databases["for_each"])) == {"meltano", "airflow"}

    settings = one(resource(module, "google_sql_database_instance", "meltano")["settings"])
    flags = {f["name"]: f["value"] for f in settings["database_flags"]}
    assert flags["cloudsql.iam_authentication"] == "on"
    user = resource(module, "google_sql_user", "runtime")
    assert user["type"] == "CLOUD_IAM_SERVICE_ACCOUNT"
    # PostgreSQL IAM user names drop the account's domain suffix.
    assert user["name"] == (
        '${trimsuffix(google_service_account.runtime.email, ".gserviceaccount.com")}'
    )
    # No password anywhere in the state.
    for (rtype, name), body in module["resource"].items():
        assert not rtype.startswith("random_"), f"{rtype}.{name}"
        assert "password" not in body, f"{rtype}.{name}"


# --- backend, versions, tfvars ----------------------------------------------------


def test_gcs_backend_with_the_bucket_per_environment(module: dict[str, Any]) -> None:
    backend = one(one(module["terraform"])["backend"])
    gcs = backend["gcs"]
    assert gcs["prefix"] == "meltano/state"
    assert "bucket" not in gcs  # given at init: backends take no variables
    for env in ENVIRONMENTS:
        config = _load(TF / "environments" / f"{env}.gcs.tfbackend")
        assert config["bucket"].endswith("-terraform-state"), env
        assert env in config["bucket"]


def test_versions_are_pinned(module: dict[str, Any]) -> None:
    block = one(module["terraform"])
    assert block["required_version"].startswith("~>")
    google = one(block["required_providers"])["google"]
    assert google["source"] == "hashicorp/google"
    assert re.fullmatch(r"~> \d+\.\d+", google["version"])


def test_tfvars_set_every_variable_without_a_default(
    module: dict[str, Any], tfvars: dict[str, Block]
) -> None:
    required = {name for name, body in module["variable"].items() if "default" not in body}
    assert "environment" in required
    for env, values in tfvars.items():
        assert values["environment"] == env
        assert required <= values.keys(), f"{env}.tfvars lacks {sorted(required - values.keys())}"
        assert values.keys() <= module["variable"].keys(), f"{env}.tfvars sets unknown variables"


def test_every_reference_resolves(module: dict[str, Any]) -> None:
    """What `terraform validate` would say first, without the provider: every var.,
    local. and resource reference names something declared, and every variable is used."""
    text = "\n".join(p.read_text() for p in sorted(TF.glob("*.tf")))
    # Comments and descriptions may name things without using them.
    text = re.sub(r"(?m)#.*$|^\s*description\s*=.*$", "", text)
    used_vars = set(re.findall(r"\bvar\.(\w+)", text))
    assert used_vars <= module["variable"].keys(), used_vars - module["variable"].keys()
    assert module["variable"].keys() <= used_vars, module["variable"].keys() - used_vars
    used_locals = set(re.findall(r"\blocal\.(\w+)", text))
    assert used_locals <= module["locals"].keys(), used_locals - module["locals"].keys()
    declared = {f"{t}.{n}" for t, n in module["resource"]}
    referenced = set(re.findall(r"\b((?:google|terraform)_\w+\.\w+)", text))
    assert referenced <= declared, referenced - declared


def test_the_release_pipeline_gets_a_keyless_identity_for_protected_refs_only(
    module: dict[str, Any],
) -> None:
    provider = resource(module, "google_iam_workload_identity_pool_provider", "gitlab")
    condition = provider["attribute_condition"]
    assert 'assertion.project_path == "${var.gitlab_project_path}"' in condition
    assert 'assertion.ref_protected == "true"' in condition
    assert one(provider["oidc"])["issuer_uri"] == "${var.gitlab_url}"
    binding = resource(module, "google_service_account_iam_member", "release_workload_identity")
    assert binding["service_account_id"] == "${google_service_account.release.name}"
    assert binding["member"].startswith("principalSet://iam.googleapis.com/")
    assert binding["member"].endswith("/attribute.project_path/${var.gitlab_project_path}")
    roles = set(
        re.findall(
            r"roles/[\w.]+", resource(module, "google_project_iam_member", "release")["for_each"]
        )
    )
    assert not {"roles/viewer", "roles/editor", "roles/owner"} & roles  # no basic role
    assert "roles/container.developer" in roles
    push = resource(module, "google_artifact_registry_repository_iam_member", "release_push")
    assert push["role"] == "roles/artifactregistry.writer"
    assert push["member"] == "${each.value}"
    assert "var.image_pushers" in push["for_each"]
    assert not of_type(module, "google_service_account_key")  # never a key
    outputs = module["output"]
    assert outputs["release_service_account_email"]["value"] == (
        "${google_service_account.release.email}"
    )


def test_outputs_for_the_kubernetes_overlays(module: dict[str, Any]) -> None:
    outputs = module["output"]
    expected = {
        "cluster_name": "${google_container_cluster.meltano.name}",
        "cloud_sql_instance_connection_name": (
            "${google_sql_database_instance.meltano.connection_name}"
        ),
        "runtime_service_account_email": "${google_service_account.runtime.email}",
        "database_user": "${google_sql_user.runtime.name}",
    }
    assert {name: outputs[name]["value"] for name in expected} == expected


# --- git --------------------------------------------------------------------------


def test_no_plan_or_state_tracked_by_git() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    bad = [
        path
        for path in tracked
        if path.endswith(".tfplan")
        or ".tfstate" in Path(path).name
        or Path(path).name == "plan_to_apply"
        or ".terraform" in Path(path).parts
    ]
    assert not bad, bad


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_overlays_name_what_terraform_creates(
    environment: str, tfvars: dict[str, Block], module: dict[str, Any]
) -> None:
    """The service account, image repository and driver bucket the Kubernetes overlay
    names are the ones this Terraform makes for the same environment."""
    values = tfvars[environment]
    suffix = render.name_suffix(environment)
    runtime = resource(module, "google_service_account", "runtime")
    account = runtime["account_id"].replace("${local.suffix}", suffix)
    bucket = resource(module, "google_storage_bucket", "vendor_drivers")["name"]
    repository = values["image_repository"]
    objects = check.base.kustomize(render.KubernetesTree().overlay(environment))
    for account_object in (o for o in objects if o["kind"] == "ServiceAccount"):
        annotation = account_object["metadata"]["annotations"]["iam.gke.io/gcp-service-account"]
        assert annotation == f"{account}@{values['project_id']}.iam.gserviceaccount.com"
    (scheduler,) = [
        o
        for o in objects
        if o["kind"] == "Deployment" and o["metadata"]["name"] == "meltano-scheduler"
    ]
    image = scheduler["spec"]["template"]["spec"]["containers"][0]["image"]
    registry = (
        f"{repository['location']}-docker.pkg.dev/{repository['project']}/{repository['name']}/"
    )
    assert image.startswith(registry)
    volumes = check.base.sync_pod(objects)["spec"]["volumes"]
    buckets = [v["csi"]["volumeAttributes"]["bucketName"] for v in volumes if "csi" in v]
    assert buckets == [bucket.replace("${local.suffix}", suffix)]
