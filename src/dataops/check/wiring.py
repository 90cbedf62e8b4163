"""Variables and secrets: every `$VAR` reaches the pods that use it and has a key in a
secret template; no container receives a secret it does not use; no secret value sits
in plain text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from typing import Any

from dataops import render
from dataops.check.base import (
    Context,
    Problem,
    container_env,
    containers,
    sync_env,
    sync_pod,
)
from dataops.meltano_files import (
    CLUSTER_ENVIRONMENTS,
    flatten,
)

SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|PRIVATE_KEY|API_KEY|FERNET", re.IGNORECASE)
REFERENCE_ONLY = re.compile(r"^\$\{?[A-Za-z_][A-Za-z0-9_]*\}?$")
# Each workload logs in to the databases as its own IAM user: one URL each.
SCHEDULER_AIRFLOW_DB = "SCHEDULER_SQL_ALCHEMY_CONN"
API_SERVER_AIRFLOW_DB = "API_SERVER_SQL_ALCHEMY_CONN"
FERNET_KEY = "AIRFLOW__CORE__FERNET_KEY"
JWT_SECRET = "AIRFLOW__API_AUTH__JWT_SECRET"  # noqa: S105 (a key's name)
API_SECRET_KEY = "AIRFLOW__API__SECRET_KEY"  # noqa: S105 (a key's name)
"""Airflow's `[api] secret_key`: the API server signs the UI's sessions and its requests
for a running task's log with it; the scheduler's log server checks them with it. Left
unset, each process makes its own, and the UI cannot show a running task's log."""
WEBHOOK = "DATAOPS_ALERT_WEBHOOK_URL"
SCHEDULER_MELTANO_DB = "SCHEDULER_MELTANO_DATABASE_URI"
SYNC_MELTANO_DB = "SYNC_MELTANO_DATABASE_URI"
SYNC_CONTAINER = "base"
"""The sync's container in its pod (KubernetesPodOperator's name for it)."""
SECRETS_USED: dict[str, frozenset[str]] = {
    # The Cloud SQL Auth Proxy sidecars: the instance they connect to.
    "cloud-sql-proxy": frozenset({"CLOUD_SQL_INSTANCE"}),
    # Migrations touch no connection, variable or token.
    "airflow-db-migrate": frozenset({SCHEDULER_AIRFLOW_DB}),
    # Signs the tokens of the tasks it runs (LocalExecutor) and serves their logs; the
    # tasks post failure alerts, and `dataops watchdog` reads Meltano's runs and posts to
    # the webhook.
    "scheduler": frozenset(
        {
            SCHEDULER_AIRFLOW_DB,
            FERNET_KEY,
            JWT_SECRET,
            API_SECRET_KEY,
            WEBHOOK,
            SCHEDULER_MELTANO_DB,
        }
    ),
    # Parses the DAGs (its execution API is in-process: no token) and runs the failure
    # callback of a task that died without reporting (the webhook).
    "dag-processor": frozenset({SCHEDULER_AIRFLOW_DB, FERNET_KEY, WEBHOOK}),
    # The UI and the tasks' execution API: signs and checks tokens, signs users in with
    # Google (the OAuth client, orchestrate/airflow/webserver_config.py) and fetches
    # running tasks' logs from the scheduler.
    "api-server": frozenset(
        {
            API_SERVER_AIRFLOW_DB,
            FERNET_KEY,
            JWT_SECRET,
            API_SECRET_KEY,
            "DATAOPS_AIRFLOW_OAUTH_CLIENT_ID",
            "DATAOPS_AIRFLOW_OAUTH_CLIENT_SECRET",
        }
    ),
    # What every sync uses; its schedule's plugins' keys come on top (sync-env.json).
    SYNC_CONTAINER: frozenset({SYNC_MELTANO_DB}),
}
"""The secret keys each container uses, by container name: `dataops check` fails when
a container receives any other (docs/runbook.md, "Who gets which secret")."""


def secret_template_keys(tree: render.KubernetesTree, environment: str) -> dict[str, set[str]]:
    """Keys per secret of `environment`'s cluster, from its templates."""
    return {
        name: set(render.env_file(template))
        for name, template in tree.secret_templates(environment).items()
    }


def variables_are_wired(ctx: Context) -> Iterator[Problem]:
    """Every $VAR a schedule's plugins use reaches its sync pod (from the template, the
    ConfigMap, or the schedule's keys in sync-env.json), and has a secret template
    key unless the ConfigMap sets it; syncs run in pods of their own."""
    shared = render.platform_env(ctx.tree)
    for environment in CLUSTER_ENVIRONMENTS:
        templates = secret_template_keys(ctx.tree, environment)
        secret_keys = set().union(*templates.values())
        objects = ctx.manifests[environment]
        maps = {
            o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"
        }
        runner = maps.get("platform-env", {}).get("DATAOPS_SYNC_RUNNER")
        if runner != "kubernetes":
            yield Problem(
                f"overlay {environment}: ConfigMap platform-env",
                f"DATAOPS_SYNC_RUNNER={runner}: syncs would run in the scheduler's container, "
                "which gets no tap's or loader's secret",
                f"set DATAOPS_SYNC_RUNNER=kubernetes in {ctx.rel(ctx.tree.base / 'platform.env')}",
            )
        env_names, config_maps = container_env(sync_pod(objects), SYNC_CONTAINER)
        _, keys = sync_env(objects)
        references = ctx.meltano.references(environment)
        for schedule, variables in render.schedule_variables(ctx.meltano, environment).items():
            for variable in sorted(variables):
                from_maps = any(variable in maps.get(name, {}) for name in config_maps)
                if variable not in env_names | set(keys.get(schedule, [])) and not from_maps:
                    yield Problem(
                        references[variable][0],
                        f"${variable} does not reach the sync pod of schedule {schedule} "
                        f"in overlay {environment}",
                        "run `dataops render` (it lists each schedule's keys in "
                        f"overlays/{environment}/generated/{render.SYNC_ENV})",
                    )
        for variable, places in references.items():
            if variable not in secret_keys and variable not in shared:
                yield Problem(
                    places[0],
                    f"${variable} is in no secret template of {environment} "
                    f"({ctx.rel(ctx.tree.secrets)}/{environment}/*.env.template)",
                    "run `dataops render`, then add the key to your env file for `dataops secrets`",
                )


def received_secrets(
    container: dict[str, Any], templates: dict[str, set[str]], pod: dict[str, Any]
) -> dict[str, set[str]]:
    """The keys a container receives, per secret: its secretKeyRefs, every key of a
    secret it takes whole through envFrom, and the keys of the secret (or projected)
    volumes of `pod` it mounts (all of a secret's keys unless `items` names some; of a
    secret no template declares: "(every key)")."""
    found: dict[str, set[str]] = {}
    mounted = {mount["name"] for mount in container.get("volumeMounts") or []}
    for volume in pod.get("volumes") or []:
        if volume["name"] not in mounted:
            continue
        sources = [volume["secret"]] if "secret" in volume else []
        sources += [
            source["secret"]
            for source in (volume.get("projected") or {}).get("sources") or []
            if "secret" in source
        ]
        for source in sources:
            name = source.get("secretName") or source.get("name")
            keys = {item["key"] for item in source.get("items") or []}
            found.setdefault(name, set()).update(keys or templates.get(name) or {"(every key)"})
    for entry in container.get("env") or []:
        ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            found.setdefault(ref["name"], set()).add(ref["key"])
    for source in container.get("envFrom") or []:
        if "secretRef" in source:
            name = source["secretRef"]["name"]
            found.setdefault(name, set()).update(templates.get(name) or {"(every key)"})
    return found


def unused_secrets(
    container: dict[str, Any],
    used: AbstractSet[str],
    templates: dict[str, set[str]],
    pod: dict[str, Any],
) -> dict[str, list[str]]:
    """Per secret, the keys `container` (of `pod`) receives but does not use."""
    unused = {
        secret: sorted(keys - used)
        for secret, keys in received_secrets(container, templates, pod).items()
    }
    return {secret: keys for secret, keys in sorted(unused.items()) if keys}


def no_secret_goes_unused(ctx: Context) -> Iterator[Problem]:
    """Least privilege: each container receives only the secret keys it uses
    (SECRETS_USED), and each sync pod only its own schedule's plugins' keys."""
    for environment, objects in ctx.manifests.items():
        templates = secret_template_keys(ctx.tree, environment)
        for name, container, pod in containers(environment, objects):
            used = SECRETS_USED.get(container["name"], frozenset())
            for secret, unused in unused_secrets(container, used, templates, pod).items():
                yield Problem(
                    f"{name} container {container['name']}",
                    f"receives {', '.join(unused)} of secret {secret}, which it does not use",
                    "remove it: each sync pod gets its own schedule's keys from "
                    f"overlays/{environment}/generated/{render.SYNC_ENV} "
                    "(`dataops render`)"
                    if secret == render.TAP_SECRET
                    else "remove it, or if the container does use it, add it to "
                    "SECRETS_USED in src/dataops/check/wiring.py with the reason",
                )
        sync_secret, per_schedule = sync_env(objects)
        variables = render.schedule_variables(ctx.meltano, environment)
        for schedule, given in per_schedule.items():
            extra = sorted(set(given) - variables.get(schedule, set()))
            if extra:
                yield Problem(
                    f"overlay {environment}: the sync pod of schedule {schedule}",
                    f"receives {', '.join(extra)} of secret {sync_secret} "
                    f"({render.SYNC_ENV}), which its plugins do not use in {environment}",
                    "run `dataops render` (it lists only the keys of each schedule's plugins)",
                )


def secret_references_exist(ctx: Context) -> Iterator[Problem]:
    """Every secretKeyRef names a secret and key that a template declares: a pod whose
    secret lacks the key would not start."""
    for environment, objects in ctx.manifests.items():
        templates = ctx.tree.secret_templates(environment)
        keys = secret_template_keys(ctx.tree, environment)
        for name, container, _ in containers(environment, objects):
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["key"] not in keys.get(ref["name"], set()):
                    template = templates.get(
                        ref["name"], ctx.tree.secrets / f"{ref['name']}.env.template"
                    )
                    yield Problem(
                        f"{name} container {container['name']}",
                        f"env {entry['name']} reads key {ref['key']} of secret {ref['name']}, "
                        "which no template declares",
                        f"add it to {ctx.rel(template)} or fix the reference",
                    )


def secrets_not_in_plain_text(ctx: Context) -> Iterator[Problem]:
    for environment in [None, *CLUSTER_ENVIRONMENTS]:
        for plugin, config in ctx.meltano.configs(environment):
            sensitive = (
                {
                    s["name"]
                    for s in ctx.meltano.plugins[plugin].value.get("settings", [])
                    if s.get("kind") == "password" or s.get("sensitive")
                }
                if plugin in ctx.meltano.plugins
                else set()
            )
            for key, value in flatten(config.value):
                if key in sensitive and not REFERENCE_ONLY.match(str(value)):
                    yield Problem(
                        f"{config.where()}.{key}",
                        "a secret setting holds a literal value",
                        "use a $VAR reference and put the value in the secret",
                    )
    for template in sorted(ctx.tree.secrets.rglob("*.env.template")):
        for n, line in enumerate(template.read_text().splitlines(), 1):
            if line.strip() and not line.startswith("#") and line.partition("=")[2].strip():
                yield Problem(
                    f"{ctx.rel(template)}:{n}", "a template holds a value", "keep only KEY="
                )
    platform = ctx.tree.base / "platform.env"
    for n, line in enumerate(platform.read_text().splitlines(), 1):
        if not line.startswith("#") and SECRET_NAME.search(line.partition("=")[0]):
            yield Problem(
                f"{ctx.rel(platform)}:{n}",
                "a secret-looking variable in the ConfigMap",
                "move it to a secret template and wire it with secretKeyRef",
            )
    for environment, objects in ctx.manifests.items():
        for obj in objects:
            name = f"overlay {environment}: {obj['kind']}/{obj['metadata']['name']}"
            if obj["kind"] == "Secret":
                yield Problem(name, "a Secret in the manifests", "create it with `dataops secrets`")
        for name, container, _ in containers(environment, objects):
            for entry in container.get("env", []):
                if "value" in entry and SECRET_NAME.search(entry["name"]):
                    yield Problem(
                        f"{name} container {container['name']}",
                        f"env {entry['name']} has a literal value",
                        "take it from a secret with valueFrom.secretKeyRef",
                    )
