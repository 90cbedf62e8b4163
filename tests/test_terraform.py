"""deploy/terraform, checked offline: the google provider cannot be downloaded here, so
no `terraform validate`. Instead: the HCL parsed with python-hcl2 and the workspace
guard run for real (it needs no provider). `terraform fmt` and checkov run inside
`dataops check` (tests/test_check.py)."""

import ipaddress
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from dataops import check, pin_images, render

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


def _parse(directory: Path) -> dict[str, Any]:
    """A root module's *.tf files: resources and data sources by (type, name),
    variables, outputs, locals, terraform and provider blocks."""
    parsed: dict[str, Any] = {
        "resource": {},
        "data": {},
        "variable": {},
        "output": {},
        "locals": {},
        "terraform": [],
        "provider": [],
    }
    for path in sorted(directory.glob("*.tf")):
        doc = _load(path)
        for kind in ("resource", "data"):
            for group in doc.get(kind, []):
                for rtype, by_name in group.items():
                    for name, body in by_name.items():
                        parsed[kind][(rtype, name)] = body
        for kind in ("variable", "output"):
            for group in doc.get(kind, []):
                parsed[kind].update(group)
        for group in doc.get("locals", []):
            parsed["locals"].update(group)
        parsed["terraform"] += doc.get("terraform", [])
        parsed["provider"] += doc.get("provider", [])
    return parsed


@pytest.fixture(scope="module")
def module() -> dict[str, Any]:
    """deploy/terraform: the cloud resources."""
    return _parse(TF)


@pytest.fixture(scope="module")
def database() -> dict[str, Any]:
    """deploy/terraform/database: the privileges inside PostgreSQL."""
    return _parse(TF / "database")


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
    assert private["enable_private_endpoint"] is True  # no public IP endpoint, not a knob
    assert cluster["networking_mode"] == "VPC_NATIVE"
    assert one(cluster["ip_allocation_policy"])["cluster_secondary_range_name"] == "pods"
    # The manifests use NetworkPolicy: Dataplane V2 enforces it.
    assert cluster["datapath_provider"] == "ADVANCED_DATAPATH"
    assert cluster["deletion_protection"] == "${local.is_production}"


WORKLOADS = {"meltano-scheduler", "airflow-api-server", "meltano-sync"}
"""The Kubernetes service accounts of namespace meltano (deploy/kubernetes/base)."""
CLOUD_SQL_LOGIN = {"roles/cloudsql.client", "roles/cloudsql.instanceUser"}
CLOUD_SQL_INSTANCE = (
    'resource.type == "sqladmin.googleapis.com/Instance" && resource.name == '
    '"projects/${var.project_id}/instances/${google_sql_database_instance.meltano.name}"'
)


def roles_in(text: str) -> set[str]:
    return set(re.findall(r"roles/[\w.]+", text))


def test_control_plane_is_reached_through_iam_or_the_bastion_only(
    module: dict[str, Any], tfvars: dict[str, Block]
) -> None:
    cluster = resource(module, "google_container_cluster", "meltano")
    dns = one(one(cluster["control_plane_endpoints_config"])["dns_endpoint_config"])
    assert dns["allow_external_traffic"] is True  # IAM (container.clusters.connect) decides
    networks = one(cluster["master_authorized_networks_config"])
    assert networks["gcp_public_cidrs_access_enabled"] is False
    assert networks["private_endpoint_enforcement_enabled"] is True
    blocks = networks["cidr_blocks"]
    assert blocks[0]["cidr_block"] == "${google_compute_subnetwork.admin.ip_cidr_range}"
    assert networks["dynamic"][0]["cidr_blocks"]["for_each"] == "${var.master_authorized_networks}"
    for env, values in tfvars.items():
        # No documentation range (TEST-NET) or anything public stands in for a real one.
        for network in values.get("master_authorized_networks", []):
            assert ipaddress.ip_network(network["cidr_block"]).is_private, env
            assert not re.match(r"(192\.0\.2|198\.51\.100|203\.0\.113)\.", network["cidr_block"])

    bastion = resource(module, "google_compute_instance", "bastion")
    assert "access_config" not in one(bastion["network_interface"])  # no public IP
    assert bastion["metadata"]["enable-oslogin"] == "TRUE"
    assert "--address 127.0.0.1" in module["locals"]["bastion_cloud_init"]
    ssh = resource(module, "google_compute_firewall", "iap_ssh_to_bastion")
    assert ssh["source_ranges"] == ["35.235.240.0/20"]  # Identity-Aware Proxy only
    assert ssh["target_service_accounts"] == ["${google_service_account.bastion.email}"]
    assert one(ssh["allow"]) == {"protocol": "tcp", "ports": ["22"]}


def test_secrets_are_encrypted_with_a_rotated_key_of_the_project(module: dict[str, Any]) -> None:
    cluster = resource(module, "google_container_cluster", "meltano")
    encryption = one(cluster["database_encryption"])
    assert encryption["state"] == "ENCRYPTED"
    assert encryption["key_name"] == "${google_kms_crypto_key.gke_secrets.id}"
    key = resource(module, "google_kms_crypto_key", "gke_secrets")
    assert key["rotation_period"] == "7776000s"
    assert one(key["lifecycle"])["prevent_destroy"] is True
    grant = resource(module, "google_kms_crypto_key_iam_member", "gke_secrets")
    assert grant["crypto_key_id"] == "${google_kms_crypto_key.gke_secrets.id}"
    assert grant["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    assert grant["member"].endswith("@container-engine-robot.iam.gserviceaccount.com")
    assert "${google_kms_crypto_key_iam_member.gke_secrets}" in cluster["depends_on"]


def test_bucket_reads_and_writes_are_in_the_audit_logs(module: dict[str, Any]) -> None:
    """What the buckets' CKV_GCP_62 skips rely on: Cloud Storage's Data Access logs."""
    audit = resource(module, "google_project_iam_audit_config", "storage")
    assert audit["service"] == "storage.googleapis.com"
    assert {c["log_type"] for c in audit["audit_log_config"]} == {"DATA_READ", "DATA_WRITE"}
    assert "exempted_members" not in str(audit)


def test_image_repository_is_managed_with_immutable_tags(module: dict[str, Any]) -> None:
    repository = resource(module, "google_artifact_registry_repository", "images")
    assert repository["format"] == "DOCKER"
    assert one(repository["docker_config"])["immutable_tags"] is True
    assert repository["repository_id"] == "${var.image_repository.name}"
    # Every grant on a repository is on this one; the nodes only read it.
    for (rtype, name), body in module["resource"].items():
        if rtype == "google_artifact_registry_repository_iam_member":
            assert body["repository"] == "${google_artifact_registry_repository.images.name}", name
    pull = resource(module, "google_artifact_registry_repository_iam_member", "nodes_pull")
    assert pull["role"] == "roles/artifactregistry.reader"
    assert pull["member"] == "${google_service_account.nodes.member}"


def test_only_images_the_release_pipeline_attested_are_admitted(module: dict[str, Any]) -> None:
    cluster = resource(module, "google_container_cluster", "meltano")
    assert one(cluster["binary_authorization"]) == {
        "evaluation_mode": "PROJECT_SINGLETON_POLICY_ENFORCE"
    }
    policy = resource(module, "google_binary_authorization_policy", "cluster")
    assert policy["global_policy_evaluation_mode"] == "ENABLE"  # Google's system images
    assert "admission_whitelist_patterns" not in policy  # no image admitted unattested
    assert "cluster_admission_rules" not in policy
    rule = one(policy["default_admission_rule"])
    assert rule == {
        "evaluation_mode": "REQUIRE_ATTESTATION",
        "enforcement_mode": "${var.image_admission_enforcement}",
        "require_attestations_by": ["${google_binary_authorization_attestor.release.name}"],
    }
    assert module["variable"]["image_admission_enforcement"]["default"] == (
        "ENFORCED_BLOCK_AND_AUDIT_LOG"
    )
    # The attestor trusts exactly the KMS key Terraform makes, whose private half never
    # leaves Cloud KMS.
    attestor = resource(module, "google_binary_authorization_attestor", "release")
    note = one(attestor["attestation_authority_note"])
    assert note["note_reference"] == "${google_container_analysis_note.release.name}"
    key = one(note["public_keys"])
    version = "data.google_kms_crypto_key_version.image_attestor"
    assert key["id"] == f"${{{version}.id}}"
    assert one(key["pkix_public_key"])["public_key_pem"] == f"${{{version}.public_key[0].pem}}"
    signing = resource(module, "google_kms_crypto_key", "image_attestor")
    assert signing["purpose"] == "ASYMMETRIC_SIGN"
    assert one(signing["lifecycle"])["prevent_destroy"] is True
    assert module["data"][("google_kms_crypto_key_version", "image_attestor")]["crypto_key"] == (
        "${google_kms_crypto_key.image_attestor.id}"
    )
    # Only the release account signs and records attestations.
    for rtype, name, role in (
        ("google_kms_crypto_key_iam_member", "release_signs", "roles/cloudkms.signerVerifier"),
        (
            "google_container_analysis_note_iam_member",
            "release_attaches",
            "roles/containeranalysis.notes.attacher",
        ),
        (
            "google_binary_authorization_attestor_iam_member",
            "release_reads",
            "roles/binaryauthorization.attestorsViewer",
        ),
    ):
        grant = resource(module, rtype, name)
        assert (grant["role"], grant["member"]) == (
            role,
            "${google_service_account.release.member}",
        )
    signers = [
        name
        for (rtype, name), body in module["resource"].items()
        if rtype == "google_kms_crypto_key_iam_member"
        and body["crypto_key_id"] == "${google_kms_crypto_key.image_attestor.id}"
    ]
    assert signers == ["release_signs"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_deploy_job_attests_with_what_terraform_makes(
    environment: str, tfvars: dict[str, Block], module: dict[str, Any]
) -> None:
    """The release pipeline's ATTESTOR and ATTESTOR_KEY are the outputs' values for
    this environment."""
    values = tfvars[environment]
    suffix = render.name_suffix(environment)
    attestor = resource(module, "google_binary_authorization_attestor", "release")["name"]
    ring = resource(module, "google_kms_key_ring", "meltano")["name"]
    key = resource(module, "google_kms_crypto_key", "image_attestor")["name"]
    version = module["data"][("google_kms_crypto_key_version", "image_attestor")]["version"]
    project = f"projects/{values['project_id']}"
    pipeline = (ROOT / ".gitlab-ci.yml").read_text()
    job = yaml.load(pipeline, pin_images.GitLabLoader)[f"deploy-{environment}"]  # noqa: S506
    assert job["variables"]["ATTESTOR"] == (
        f"{project}/attestors/{attestor.replace('${local.suffix}', suffix)}"
    )
    assert job["variables"]["ATTESTOR_KEY"] == (
        f"{project}/locations/{values['region']}/keyRings/"
        f"{ring.replace('${local.suffix}', suffix)}/cryptoKeys/{key}/cryptoKeyVersions/{version}"
    )
    outputs = module["output"]
    assert (
        outputs["image_attestor"]["value"] == "${google_binary_authorization_attestor.release.id}"
    )
    assert outputs["image_attestor_key_version"]["value"] == (
        "${google_kms_crypto_key.image_attestor.id}/cryptoKeyVersions/"
        "${data.google_kms_crypto_key_version.image_attestor.version}"
    )


def test_one_google_account_per_kubernetes_account(module: dict[str, Any]) -> None:
    cluster = resource(module, "google_container_cluster", "meltano")
    pool_cfg = one(cluster["workload_identity_config"])["workload_pool"]
    assert pool_cfg == "${var.project_id}.svc.id.goog"
    node = one(resource(module, "google_container_node_pool", "meltano")["node_config"])
    assert one(node["workload_metadata_config"])["mode"] == "GKE_METADATA"

    # The contract with deploy/kubernetes: namespace and service account names.
    assert module["locals"]["kubernetes_namespace"] == "meltano"
    assert set(module["locals"]["workloads"]) == WORKLOADS
    accounts = resource(module, "google_service_account", "workload")
    assert accounts["for_each"] == "${local.workloads}"
    assert accounts["account_id"] == "${each.key}${local.suffix}"  # distinct per workload
    assert ("google_service_account", "runtime") not in module["resource"]
    assert "google_service_account.runtime" not in str(module["resource"])

    # Each binding lets exactly one KSA act as exactly its own GSA.
    binding = resource(module, "google_service_account_iam_member", "workload_identity")
    assert binding["for_each"] == "${local.workloads}"
    assert binding["role"] == "roles/iam.workloadIdentityUser"
    assert binding["service_account_id"] == "${google_service_account.workload[each.key].name}"
    assert "workload_identity_config[0].workload_pool" in binding["member"]
    assert binding["member"].endswith("[${local.kubernetes_namespace}/${each.key}]")
    assert binding["member"].count("[") == 2  # one KSA (and the list index), no wildcard
    others = [
        name
        for (rtype, name), body in module["resource"].items()
        if rtype == "google_service_account_iam_member"
        and body["role"] == "roles/iam.workloadIdentityUser"
    ]
    assert sorted(others) == ["release_workload_identity", "workload_identity"]


def workload_grants(module: dict[str, Any]) -> dict[str, set[tuple[str, str, str]]]:
    """Every IAM grant to a workload's account: workload => {(resource type, target, role)}."""
    grants: dict[str, set[tuple[str, str, str]]] = {name: set() for name in WORKLOADS}
    for (rtype, name), body in module["resource"].items():
        member = str(body.get("member", ""))
        if "google_service_account.workload" not in member:
            continue
        named = re.fullmatch(
            r'\$\{google_service_account\.workload\["([\w-]+)"\]\.member\}', member
        )
        if named:  # one workload, one role
            who, roles = [named.group(1)], {body["role"]}
        else:  # one grant per workload and role: the product of the two sets
            assert name == "workload_cloud_sql", f"{rtype}.{name}: {member}"
            assert "setproduct(keys(local.workloads), local.cloud_sql_roles)" in body["for_each"]
            who, roles = sorted(WORKLOADS), roles_in(module["locals"]["cloud_sql_roles"])
        target = body.get("bucket") or body.get("project")
        for workload in who:
            grants[workload] |= {(rtype, target, role) for role in roles}
    return grants


def test_each_workload_has_exactly_its_grants(module: dict[str, Any]) -> None:
    project = ("google_project_iam_member", "${var.project_id}")
    cloud_sql = {(*project, role) for role in CLOUD_SQL_LOGIN}
    bucket = "google_storage_bucket_iam_member"
    logs = "${google_storage_bucket.airflow_logs.name}"
    drivers = "${google_storage_bucket.vendor_drivers.name}"
    assert workload_grants(module) == {
        "meltano-scheduler": cloud_sql | {(bucket, logs, "roles/storage.objectUser")},
        "airflow-api-server": cloud_sql | {(bucket, logs, "roles/storage.objectViewer")},
        "meltano-sync": cloud_sql | {(bucket, drivers, "roles/storage.objectViewer")},
    }


def test_cloud_sql_roles_are_scoped_to_the_instance(module: dict[str, Any]) -> None:
    """No project-wide Cloud SQL role that connects or logs in without a condition naming
    this instance (the roles exist at project level only)."""
    assert module["locals"]["cloud_sql_instance_condition"] == CLOUD_SQL_INSTANCE
    scoped = []
    for (rtype, name), body in module["resource"].items():
        if rtype != "google_project_iam_member":
            continue
        granted = str(body.get("for_each", "")) + body["role"]
        roles = roles_in(granted)
        if "local.cloud_sql_roles" in granted:
            roles |= roles_in(module["locals"]["cloud_sql_roles"])
        if not any(
            role.startswith("roles/cloudsql.") for role in roles - {"roles/cloudsql.viewer"}
        ):
            continue
        condition = one(body["condition"])
        assert condition["expression"] == "${local.cloud_sql_instance_condition}", name
        scoped.append(name)
    assert sorted(scoped) == ["bastion_cloud_sql", "workload_cloud_sql"]


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
    users = resource(module, "google_sql_user", "workload")
    assert users["for_each"] == "${local.database_users}"  # one per workload account
    assert users["type"] == "CLOUD_IAM_SERVICE_ACCOUNT"
    # PostgreSQL IAM user names drop the account's domain suffix.
    assert (
        'trimsuffix(account.email, ".gserviceaccount.com")' in (module["locals"]["database_users"])
    )
    assert "google_service_account.workload" in module["locals"]["database_users"]
    # Cloud SQL's admin role belongs to the bastion's account alone, never to a workload.
    admin = resource(module, "google_sql_user", "admin")
    assert admin["type"] == "CLOUD_IAM_SERVICE_ACCOUNT"
    assert "google_service_account.bastion.email" in admin["name"]
    assert "cloudsqlsuperuser" in admin["database_roles"]
    for (rtype, name), body in module["resource"].items():
        if rtype == "google_sql_user" and name != "admin":
            assert "cloudsqlsuperuser" not in str(body), name
    # No password anywhere in the state.
    for (rtype, name), body in module["resource"].items():
        assert not rtype.startswith("random_"), f"{rtype}.{name}"
        assert "password" not in body, f"{rtype}.{name}"


def test_database_privileges_per_workload(database: dict[str, Any]) -> None:
    """database/: the scheduler and the API server in Airflow's database, the syncs in
    Meltano's; the scheduler reads Meltano's too (its watchdog) and may only add rows
    there; PUBLIC connects nowhere."""
    locals_ = database["locals"]
    user = {
        "${local.scheduler}": "meltano-scheduler",
        "${local.api_server}": "airflow-api-server",
        "${local.sync}": "meltano-sync",
    }
    for ref, name in user.items():
        assert locals_[ref[8:-1]] == f'${{local.users["{name}"]}}'
    assert locals_["users"] == "${data.terraform_remote_state.platform.outputs.database_users}"

    def granted(table: str) -> dict[tuple[str, str], set[str]]:
        return {
            (g["database"], user[g["role"]]): set(g["privileges"]) for g in locals_[table].values()
        }

    assert granted("connect") == {
        ("airflow", "meltano-scheduler"): {"CONNECT", "TEMPORARY"},
        ("airflow", "airflow-api-server"): {"CONNECT"},
        ("meltano", "meltano-sync"): {"CONNECT", "TEMPORARY"},
        ("meltano", "meltano-scheduler"): {"CONNECT"},
    }
    assert granted("schema_public") == {
        ("airflow", "meltano-scheduler"): {"CREATE", "USAGE"},
        ("airflow", "airflow-api-server"): {"USAGE"},
        ("meltano", "meltano-sync"): {"CREATE", "USAGE"},
        ("meltano", "meltano-scheduler"): {"USAGE"},
    }
    objects = {
        (o["database"], o["object_type"], user[o["owner"]], user[o["role"]]): set(o["privileges"])
        for o in locals_["objects"].values()
    }
    assert objects == {
        ("airflow", "table", "meltano-scheduler", "airflow-api-server"): {
            "SELECT",
            "INSERT",
            "UPDATE",
            "DELETE",
        },
        ("airflow", "sequence", "meltano-scheduler", "airflow-api-server"): {
            "USAGE",
            "SELECT",
            "UPDATE",
        },
        ("meltano", "table", "meltano-sync", "meltano-scheduler"): {"SELECT", "INSERT"},
    }
    assert set(re.findall(r'"(\w+)"', locals_["databases"])) == {"airflow", "meltano"}
    public = resource(database, "postgresql_grant", "no_public_connect")
    assert public["for_each"] == "${local.databases}"
    assert (public["role"], public["object_type"], public["privileges"]) == (
        "public",
        "database",
        [],
    )
    for rtype, name, table in [
        ("postgresql_grant", "connect", "connect"),
        ("postgresql_grant", "schema_public", "schema_public"),
        ("postgresql_grant", "existing_objects", "objects"),
        ("postgresql_default_privileges", "future_objects", "objects"),
    ]:
        body = resource(database, rtype, name)
        assert body["for_each"] == f"${{local.{table}}}", name
        assert body["role"] == "${each.value.role}", name
        assert body["privileges"] == "${each.value.privileges}", name
    assert resource(database, "postgresql_default_privileges", "future_objects")["owner"] == (
        "${each.value.owner}"
    )
    assert {rtype for rtype, _ in database["resource"]} == {
        "postgresql_grant",
        "postgresql_default_privileges",
        "terraform_data",  # the workspace guard (environment.tf, shared)
    }


def test_database_module_connects_through_the_bastions_proxy(database: dict[str, Any]) -> None:
    provider = one(database["provider"])["postgresql"]
    assert provider["host"] == "127.0.0.1"  # the SSH tunnel to the proxy on the bastion
    assert provider["superuser"] is False
    assert provider["username"] == (
        "${data.terraform_remote_state.platform.outputs.database_admin_user}"
    )
    assert "password" not in provider  # IAM login by the proxy
    assert (TF / "database" / "environment.tf").resolve() == TF / "environment.tf"
    block = one(database["terraform"])
    assert one(block["backend"])["gcs"] == {"prefix": "meltano/database"}
    postgresql = one(block["required_providers"])["postgresql"]
    assert postgresql["source"] == "cyrilgdn/postgresql"
    assert re.fullmatch(r"~> \d+\.\d+", postgresql["version"])
    state = database["data"][("terraform_remote_state", "platform")]
    assert state["workspace"] == "${terraform.workspace}"
    assert (
        state["config"]["prefix"] == one(one(_parse(TF)["terraform"])["backend"])["gcs"]["prefix"]
    )


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
        # database/ reads ../'s state of the same environment.
        own = _load(TF / "database" / "environments" / f"{env}.tfvars")
        assert own == {
            "environment": env,
            "terraform_state_bucket": values["terraform_state_bucket"],
        }


@pytest.mark.parametrize("directory", ["", "database"])
def test_every_reference_resolves(directory: str) -> None:
    """What `terraform validate` would say first, without the provider: every var.,
    local., data. and resource reference names something declared, every variable and
    data source is used."""
    root = TF / directory
    declared_in = _parse(root)
    text = "\n".join(p.read_text() for p in sorted(root.glob("*.tf")))
    # Comments and descriptions may name things without using them.
    text = re.sub(r"(?m)#.*$|^\s*description\s*=.*$", "", text)
    used_vars = set(re.findall(r"\bvar\.(\w+)", text))
    assert used_vars <= declared_in["variable"].keys(), used_vars - declared_in["variable"].keys()
    assert declared_in["variable"].keys() <= used_vars, declared_in["variable"].keys() - used_vars
    used_locals = set(re.findall(r"\blocal\.(\w+)", text))
    assert used_locals <= declared_in["locals"].keys(), used_locals - declared_in["locals"].keys()
    data = {f"{t}.{n}" for t, n in declared_in["data"]}
    used_data = set(re.findall(r"\bdata\.(\w+\.\w+)", text))
    assert used_data == data
    text = re.sub(r"\bdata\.\w+\.\w+", "", text)
    declared = {f"{t}.{n}" for t, n in declared_in["resource"]}
    referenced = set(re.findall(r"\b((?:google|terraform|postgresql)_\w+\.\w+)", text))
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
    assert push["role"] == "roles/artifactregistry.writer"  # adds tags, never moves one
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
        "database_users": "${local.database_users}",
        "database_admin_user": "${google_sql_user.admin.name}",
    }
    assert {name: outputs[name]["value"] for name in expected} == expected
    # One email per workload, keyed by its Kubernetes service account.
    assert outputs["workload_service_accounts"]["value"] == (
        "${{for name, account in google_service_account.workload : name => account.email}}"
    )


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
    """The service accounts, image repository and driver bucket the Kubernetes overlay
    names are the ones this Terraform makes for the same environment."""
    values = tfvars[environment]
    suffix = render.name_suffix(environment)
    account_id = resource(module, "google_service_account", "workload")["account_id"]
    bucket = resource(module, "google_storage_bucket", "vendor_drivers")["name"]
    repository = values["image_repository"]
    objects = check.base.kustomize(render.KubernetesTree().overlay(environment))
    annotations = {
        o["metadata"]["name"]: o["metadata"]["annotations"]["iam.gke.io/gcp-service-account"]
        for o in objects
        if o["kind"] == "ServiceAccount"
    }
    assert annotations == {
        ksa: account_id.replace("${each.key}", ksa).replace("${local.suffix}", suffix)
        + f"@{values['project_id']}.iam.gserviceaccount.com"
        for ksa in module["locals"]["workloads"]
    }
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
