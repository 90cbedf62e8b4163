"""`dataops secrets`: the cluster's secrets from a local env file, instead of
`kubectl edit` and base64 by hand.

The env file is what the password manager exports for one environment (KEY=VALUE
lines). Each key goes to the secret whose template lists it — the shared
deploy/kubernetes/secrets/<secret>.env.template, or the environment's own
deploy/kubernetes/secrets/<environment>/tap-secrets.env.template; a template key
missing from the file, or a file key none of the environment's templates lists (such
as staging's Snowflake password in production's file), stops everything before the
cluster is touched. The plan names keys, never values.
"""

from __future__ import annotations

import base64
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from dataops.check import wiring
from dataops.check.wiring import secret_template_keys
from dataops.meltano_files import CLUSTER_ENVIRONMENTS
from dataops.render import KubernetesTree, env_file

NAMESPACE = "meltano"
DATABASE_LOGINS = {
    wiring.SCHEDULER_AIRFLOW_DB: ("meltano-scheduler", "airflow"),
    wiring.API_SERVER_AIRFLOW_DB: ("airflow-api-server", "airflow"),
    wiring.SCHEDULER_MELTANO_DB: ("meltano-scheduler", "meltano"),
    wiring.SYNC_MELTANO_DB: ("meltano-sync", "meltano"),
}
"""Database URL keys: the workload whose IAM database user each logs in as (through its
own pod's proxy, which accepts no other), and its database (deploy/terraform)."""
SIGNING_KEYS = (wiring.JWT_SECRET, wiring.API_SECRET_KEY)
SIGNING_KEY_BYTES = 64
"""Airflow signs HS512 tokens with the signing keys; RFC 7518 asks for a key at least
as long as the hash (64 bytes), and PyJWT warns below it."""
FERNET_KEY_BYTES = 32


class SecretsError(RuntimeError):
    """The env file or the cluster cannot be used; the message says what to do."""


@dataclass
class SecretPlan:
    name: str
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    exists: bool = True

    @property
    def changes(self) -> bool:
        return bool(self.added or self.changed or self.removed) or not self.exists

    def describe(self) -> str:
        if not self.changes:
            return f"secret {self.name}: unchanged ({len(self.unchanged)} keys)"
        verb = "update" if self.exists else "create"
        parts = [
            f"{label} {', '.join(keys)}"
            for label, keys in (
                ("add", self.added),
                ("change", self.changed),
                ("remove", self.removed),
            )
            if keys
        ]
        return f"secret {self.name}: {verb} — " + "; ".join(parts)


def read_env_file(path: Path, tree: KubernetesTree, environment: str) -> dict[str, dict[str, str]]:
    """Values per secret of `environment`'s cluster, checked against its templates."""
    if environment not in CLUSTER_ENVIRONMENTS:
        known = ", ".join(CLUSTER_ENVIRONMENTS)
        raise SecretsError(f"no environment {environment!r}: expected one of {known}")
    if not path.is_file():
        raise SecretsError(f"{path}: no such env file (export it from the password manager)")
    values = env_file(path)
    templates = secret_template_keys(tree, environment)
    wanted = {key: secret for secret, keys in templates.items() for key in keys}
    unknown = sorted(set(values) - set(wanted))
    if unknown:
        raise SecretsError(
            f"{path}: {', '.join(unknown)} belong to no secret template of {environment} "
            f"(in {tree.secrets} and {tree.secrets / environment}): remove them from this "
            f"environment's file, or reference them in meltano/environments/"
            f"{environment}.meltano.yml and run `dataops render`"
        )
    problems = []
    for secret, keys in templates.items():
        template = tree.secret_templates(environment)[secret]
        for key in sorted(keys):
            if not values.get(key):
                problems.append(
                    f"{key} (secret {secret}, listed in {template.relative_to(tree.root)})"
                )
    if problems:
        raise SecretsError(f"{path}: missing or empty: {'; '.join(problems)}")
    wrong = [
        problem
        for key, value in sorted(values.items())
        if (problem := login_problem(key, value, environment) or key_problem(key, value))
    ]
    if wrong:
        raise SecretsError(f"{path}: {'; '.join(wrong)}")
    return {
        secret: {key: values[key] for key in sorted(keys)} for secret, keys in templates.items()
    }


def login_problem(key: str, url: str, environment: str) -> str | None:
    """Why a database URL cannot work for its workload (None: it can, or `key` is not a
    database URL)."""
    if key not in DATABASE_LOGINS:
        return None
    workload, database = DATABASE_LOGINS[key]
    user = workload + ("" if environment == "production" else f"-{environment}")
    parts = urlsplit(url)
    named = unquote(parts.username or "")
    if named.startswith(f"{user}@") and named.endswith(".iam") and parts.path == f"/{database}":
        return None
    return (
        f"{key} must log in as {user}@PROJECT.iam (written {user}%40PROJECT.iam) to the "
        f"database {database}; it names user {named or '(none)'} and database "
        f"{parts.path.lstrip('/') or '(none)'}"
    )


def key_problem(key: str, value: str) -> str | None:
    """Why an Airflow key would be refused or weak (None: it is fine, or not a key of
    Airflow's); the message never holds the value."""
    if key in SIGNING_KEYS and len(value.encode()) < SIGNING_KEY_BYTES:
        return (
            f"{key} is {len(value.encode())} bytes long; Airflow signs HS512 tokens with it, "
            f"which needs at least {SIGNING_KEY_BYTES}: make one with "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(64))'`"
        )
    if key == wiring.FERNET_KEY and not all(map(is_fernet_key, value.split(","))):
        return (
            f"{key} is not a Fernet key (32 bytes in url-safe base64; a comma-separated "
            "list while rotating, the new key first): make one with `python3 -c 'import "
            "base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())'`"
        )
    return None


def is_fernet_key(text: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(text.strip().encode())) == FERNET_KEY_BYTES
    except ValueError:  # binascii.Error is one
        return False


def plan(
    wanted: dict[str, dict[str, str]], current: dict[str, dict[str, str] | None]
) -> list[SecretPlan]:
    """What applying `wanted` changes, given each secret's current values (None: absent)."""
    plans = []
    for name, values in wanted.items():
        now = current.get(name)
        result = SecretPlan(name, exists=now is not None)
        now = now or {}
        for key, value in values.items():
            if key not in now:
                result.added.append(key)
            elif now[key] != value:
                result.changed.append(key)
            else:
                result.unchanged.append(key)
        result.removed = sorted(set(now) - set(values))
        plans.append(result)
    return plans


def manifest(name: str, values: dict[str, str]) -> dict[str, Any]:
    """The Secret object (values base64-encoded, as the API stores them)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "dataops-secrets"},
        },
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
    }


ENVIRONMENT_LABEL = "dataops.io/environment"
"""On every object of an overlay, the namespace included: whose cluster this is."""


def kubectl(args: list[str], context: str, stdin: str | None = None) -> str:
    """Run kubectl; the manifest goes through stdin, never the command line."""
    command = ["kubectl", "--context", context, "-n", NAMESPACE, *args]
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise SecretsError("kubectl is not installed (it talks to the cluster)") from None
    if done.returncode != 0:
        raise SecretsError(f"`kubectl {' '.join(args)}` failed: {done.stderr.strip()[-800:]}")
    return done.stdout


def confirm_cluster(context: str, environment: str) -> None:
    """Refuse a context whose cluster is not `environment`'s (both clusters use the
    namespace `meltano`): its namespace must carry `environment`'s label."""
    try:
        found = json.loads(kubectl(["get", "namespace", NAMESPACE, "-o", "json"], context))
    except SecretsError as error:
        if "NotFound" not in str(error):
            raise
        raise SecretsError(
            f"context {context} has no namespace {NAMESPACE}. If it is {environment}'s "
            f"cluster, make it once: kubectl --context {context} create namespace "
            f"{NAMESPACE} && kubectl --context {context} label namespace {NAMESPACE} "
            f"{ENVIRONMENT_LABEL}={environment}"
        ) from None
    labelled = (found.get("metadata", {}).get("labels") or {}).get(ENVIRONMENT_LABEL)
    if labelled != environment:
        raise SecretsError(
            f"context {context} is not {environment}'s cluster: its namespace {NAMESPACE} "
            f"is labelled {ENVIRONMENT_LABEL}={labelled or '(none)'}; check --context"
        )


def current_values(names: list[str], context: str) -> dict[str, dict[str, str] | None]:
    """Each secret's values in the cluster (None where it does not exist yet)."""
    listed = json.loads(kubectl(["get", "secrets", "-o", "json"], context))
    found = {item["metadata"]["name"]: item.get("data") or {} for item in listed["items"]}
    return {
        name: {k: base64.b64decode(v).decode() for k, v in found[name].items()}
        if name in found
        else None
        for name in names
    }


def apply(plans: list[SecretPlan], wanted: dict[str, dict[str, str]], context: str) -> None:
    """Create the new secrets and replace the changed ones whole (removed keys go)."""
    for secret in plans:
        if secret.changes:
            verb = "replace" if secret.exists else "create"
            kubectl(
                [verb, "-f", "-"],
                context,
                stdin=json.dumps(manifest(secret.name, wanted[secret.name])),
            )


RESTARTED = ("deployment/meltano-scheduler", "deployment/airflow-api-server")


def restart(context: str) -> None:
    """Env vars are read at start: roll the long-running pods (sync pods start fresh)."""
    kubectl(["rollout", "restart", *RESTARTED], context)
