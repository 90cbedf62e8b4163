"""`dataops check`: everything that must hold before the platform ships, offline.

Each check returns problems that say which file and key to fix and how. Together they
replace the runbook's "a name missed in one place fails only at run time": every
`$VAR` meltano.yml uses in the cluster reaches the sync pods of the schedules that use
it and has a key in a secret template; no container receives a secret it does not use;
schedules and jobs name existing plugins; every configured setting is declared; no
secret value sits in plain text; the manifests validate against the Kubernetes
schemas; Terraform is formatted; checkov finds nothing that is not explained in place.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from dataops import project, render
from dataops.meltano_files import (
    CLUSTER_ENVIRONMENTS,
    MeltanoProject,
    dataops_annotations,
    flatten,
    job_steps,
    load,
    setting_variable,
)

KUBERNETES_VERSION = "1.33.0"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|PRIVATE_KEY|API_KEY|FERNET", re.IGNORECASE)
REFERENCE_ONLY = re.compile(r"^\$\{?[A-Za-z_][A-Za-z0-9_]*\}?$")
AIRFLOW_DB = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
FERNET_KEY = "AIRFLOW__CORE__FERNET_KEY"
JWT_SECRET = "AIRFLOW__API_AUTH__JWT_SECRET"  # noqa: S105 (a key's name)
WEBHOOK = "DATAOPS_ALERT_WEBHOOK_URL"
MELTANO_DB = "MELTANO_DATABASE_URI"
SYNC_CONTAINER = "base"
"""The sync's container in its pod (KubernetesPodOperator's name for it)."""
SECRETS_USED: dict[str, frozenset[str]] = {
    # The Cloud SQL Auth Proxy sidecars: the instance they connect to.
    "cloud-sql-proxy": frozenset({"CLOUD_SQL_INSTANCE"}),
    # Migrations touch no connection, variable or token.
    "airflow-db-migrate": frozenset({AIRFLOW_DB}),
    # Signs the tokens of the tasks it runs (LocalExecutor); the tasks post failure
    # alerts, and `dataops watchdog` reads Meltano's runs and posts to the webhook.
    "scheduler": frozenset({AIRFLOW_DB, FERNET_KEY, JWT_SECRET, WEBHOOK, MELTANO_DB}),
    # Parses the DAGs (its execution API is in-process: no token) and runs the failure
    # callback of a task that died without reporting (the webhook).
    "dag-processor": frozenset({AIRFLOW_DB, FERNET_KEY, WEBHOOK}),
    # The UI and the tasks' execution API: signs and checks tokens.
    "api-server": frozenset({AIRFLOW_DB, FERNET_KEY, JWT_SECRET}),
    # What every sync uses; its schedule's plugins' keys come on top (sync-env.json).
    SYNC_CONTAINER: frozenset({MELTANO_DB}),
}
"""The secret keys each container uses, by container name: `dataops check` fails when
a container receives any other (docs/runbook.md, "Who gets which secret")."""


@dataclass(frozen=True)
class Problem:
    where: str
    what: str
    fix: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what} — {self.fix}"


@dataclass(frozen=True)
class Context:
    tree: render.KubernetesTree
    meltano: MeltanoProject
    manifests: dict[str, list[dict[str, Any]]]
    """Rendered objects per cluster environment (`kubectl kustomize` of its overlay)."""

    def rel(self, path: Path) -> str:
        return str(path.relative_to(self.tree.root))

    @property
    def terraform(self) -> Path:
        return self.tree.root / "deploy" / "terraform"

    @property
    def dockerfile(self) -> Path:
        return self.tree.root / "deploy" / "docker" / "Dockerfile"


def kustomize(overlay: Path) -> list[dict[str, Any]]:
    done = subprocess.run(
        ["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{overlay}: kustomize failed: {done.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


# --- the checks ------------------------------------------------------------------


def generated_files_are_current(ctx: Context) -> Iterator[Problem]:
    for path in render.stale(render.rendered(ctx.meltano, ctx.tree)):
        yield Problem(ctx.rel(path), "out of date with meltano.yml", "run `dataops render`")


def secret_template_keys(tree: render.KubernetesTree, environment: str) -> dict[str, set[str]]:
    """Keys per secret of `environment`'s cluster, from its templates."""
    return {
        name: set(render.env_file(template))
        for name, template in tree.secret_templates(environment).items()
    }


def container_env(obj: dict[str, Any], container: str) -> tuple[set[str], set[str]]:
    """(env names, ConfigMap names in envFrom) of one container of a pod-bearing object."""
    spec = obj["spec"]["template"]["spec"] if obj["kind"] == "Deployment" else obj["spec"]
    (found,) = [c for c in spec["containers"] if c["name"] == container]
    names = {e["name"] for e in found.get("env", [])}
    maps = {s["configMapRef"]["name"] for s in found.get("envFrom", []) if "configMapRef" in s}
    return names, maps


def sync_config(objects: list[dict[str, Any]]) -> dict[str, str]:
    """The ConfigMap the sync pods are made from: the template and sync-env.json."""
    (config_map,) = [o for o in objects if o["metadata"]["name"].startswith("meltano-sync-pod")]
    data: dict[str, str] = config_map["data"]
    return data


def sync_pod(objects: list[dict[str, Any]]) -> dict[str, Any]:
    pod: dict[str, Any] = yaml.safe_load(sync_config(objects)["sync-pod.yaml"])
    return pod


def sync_env(objects: list[dict[str, Any]]) -> tuple[str, dict[str, list[str]]]:
    """(secret, its keys per schedule) that the DAG gives each sync pod on top of the
    template's env."""
    document = json.loads(sync_config(objects)[render.SYNC_ENV])
    return document["secret"], document["schedules"]


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
                    "SECRETS_USED in src/dataops/check.py with the reason",
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


def plugins_exist(ctx: Context) -> Iterator[Problem]:
    types = ctx.meltano.plugin_types
    for schedule in ctx.meltano.schedules:
        for role, kind in (("extractor", "extractors"), ("loader", "loaders")):
            name = schedule.value.get(role)
            if name is not None and types.get(name) != kind:
                yield Problem(
                    schedule.where(),
                    f"{role} {name!r} is not a declared {kind[:-1]}",
                    f"declare it under plugins.{kind} or fix the name",
                )
        job = schedule.value.get("job")
        if job is not None and job not in {j.value["name"] for j in ctx.meltano.jobs}:
            yield Problem(schedule.where(), f"job {job!r} does not exist", "add it under jobs")
    for job in ctx.meltano.jobs:
        for step in job_steps(job.value):
            if step.partition(":")[0] not in types:
                yield Problem(job.where(), f"task step {step!r} names no plugin", "declare it")


def batch_format(config: Any) -> str | None:
    """The BATCH file format a tap's `batch_config` (a mapping or its JSON) asks for."""
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except json.JSONDecodeError:
            return None
    encoding = config.get("encoding") if isinstance(config, dict) else None
    return str(encoding.get("format")) if isinstance(encoding, dict) else None


def batch_files_are_readable(ctx: Context) -> Iterator[Problem]:
    """A tap writes BATCH files only in a format its loader reads (the loader's
    `annotations.dataops.batch_formats`): a `batch_config` in a plugin or environment
    config reaches every loader the tap may run with (`meltano run TAP LOADER` too), one
    in a schedule's `env` only that schedule's loader."""
    readable = {
        name: set(dataops_annotations(p.value).get("batch_formats") or [])
        for name, p in ctx.meltano.plugins.items()
        if ctx.meltano.plugin_types[name] == "loaders"
    }
    # A plugin's own config comes with every environment's: each place once.
    configs = {
        config.where(): (plugin, config)
        for environment in ctx.meltano.environments
        for plugin, config in ctx.meltano.configs(environment)
    }
    for plugin, config in configs.values():
        written = batch_format(config.value.get("batch_config"))
        for loader, formats in sorted(readable.items()):
            if written is not None and written not in formats:
                yield Problem(
                    config.where(),
                    f"{plugin} writes {written} BATCH files with every loader, and {loader} "
                    f"reads only {', '.join(sorted(formats)) or 'none'}",
                    "set batch_config in the env of the schedules whose loader reads it",
                )
    for schedule in ctx.meltano.schedules:
        extractor, loader = schedule.value.get("extractor"), schedule.value.get("loader")
        variable = setting_variable(str(extractor), "batch_config")
        written = batch_format((schedule.value.get("env") or {}).get(variable))
        if written is not None and written not in readable.get(str(loader), set()):
            yield Problem(
                schedule.where(),
                f"env {variable} makes {extractor} write {written} BATCH files, which "
                f"{loader} does not read",
                f"use one of {', '.join(sorted(readable.get(str(loader), set()))) or 'none'}, "
                "or no batch_config (records)",
            )


def schedules_are_complete(ctx: Context) -> Iterator[Problem]:
    """Airflow's DAGs need both (dataops schedules export refuses a schedule without)."""
    for schedule in ctx.meltano.schedules:
        for key in ("interval", "start_date"):
            if not schedule.value.get(key):
                yield Problem(schedule.where(), f"no {key}", "add one: Airflow's DAG needs it")


def settings_are_declared(ctx: Context) -> Iterator[Problem]:
    """A config key no setting declares is silently ignored by Meltano's CLI."""
    for environment in [None, *ctx.meltano.environments]:
        for plugin, config in ctx.meltano.configs(environment):
            if plugin not in ctx.meltano.plugins:
                yield Problem(config.where(), f"plugin {plugin!r} is not declared", "declare it")
                continue
            declared = ctx.meltano.declared_settings(plugin)
            for key in config.value:
                if not key.startswith("_") and key not in declared:
                    yield Problem(
                        f"{config.where()}.{key}",
                        f"{plugin} declares no setting {key!r}",
                        "add it to the plugin's settings (with its kind) or remove it",
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


def containers(
    environment: str, objects: list[dict[str, Any]]
) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(object, container, its pod spec) for every container of the Deployments and the
    sync pod."""
    pods = [
        (f"{o['kind']}/{o['metadata']['name']}", o["spec"]["template"]["spec"])
        for o in objects
        if o["kind"] == "Deployment"
    ]
    pods.append(("the sync pod template", sync_pod(objects)["spec"]))
    for name, spec in pods:
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            yield f"overlay {environment}: {name}", container, spec


def manifests_are_valid(ctx: Context) -> Iterator[Problem]:
    for environment, objects in ctx.manifests.items():
        for obj in [*objects, sync_pod(objects)]:
            try:
                kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
            except (
                kubernetes_validate.ValidationError,
                kubernetes_validate.SchemaNotFoundError,
            ) as exc:
                yield Problem(
                    f"overlay {environment}: {obj['kind']}/{obj['metadata'].get('name', '')}",
                    f"not a valid Kubernetes {KUBERNETES_VERSION} object: {exc}",
                    f"fix it under {ctx.rel(ctx.tree.kubernetes)}",
                )


def terraform_is_formatted(ctx: Context) -> Iterator[Problem]:
    if not ctx.terraform.exists():
        return
    if shutil.which("terraform") is None:
        yield Problem(ctx.rel(ctx.terraform), "terraform is not installed", "install Terraform")
        return
    done = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", "-list=true", str(ctx.terraform)],
        capture_output=True,
        text=True,
        check=False,
    )
    for path in done.stdout.split():
        yield Problem(path, "not formatted", f"run `terraform fmt -recursive {ctx.terraform}`")


def checkov_executable() -> Path | None:
    """checkov from the venv `make setup` builds beside the workspace's (the tools of
    the checkout dataops runs from, whichever project it checks), else from PATH."""
    beside = Path(sys.executable).parents[2] / "deploy" / "checkov" / ".venv" / "bin" / "checkov"
    found = str(beside) if beside.exists() else shutil.which("checkov")
    return Path(found) if found else None


EXPLAINED_SKIP_WORDS = 8
"""A skipped checkov check (`checkov:skip=ID: reason` in HCL or a Dockerfile,
`checkov.io/skip…: ID=reason` on a Kubernetes object) must say why in this many words."""


def checkov_finds_nothing(ctx: Context) -> Iterator[Problem]:
    """One checkov run over the rendered manifests, the Dockerfile and Terraform: no
    failed check, and every skip explained in place."""
    checkov = checkov_executable()
    if checkov is None:
        yield Problem("deploy/checkov", "checkov is not installed", "run `make setup`")
        return
    with tempfile.TemporaryDirectory() as tmp:
        # One directory, so one run and one report per framework; paths in it are the
        # project's (rendered/ holds each overlay's manifests).
        scanned = Path(tmp)
        (scanned / "rendered").mkdir()
        for environment, objects in ctx.manifests.items():
            (scanned / "rendered" / f"{environment}.yaml").write_text(yaml.safe_dump_all(objects))
        for source in (ctx.dockerfile, ctx.terraform):
            if source.is_dir():
                ignore = shutil.ignore_patterns(".*")
                shutil.copytree(source, scanned / ctx.rel(source), ignore=ignore)
            elif source.exists():
                (scanned / ctx.rel(source)).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(source, scanned / ctx.rel(source))
        done = subprocess.run(
            [
                str(checkov),
                *("-d", tmp, "--framework", "kubernetes", "dockerfile", "terraform"),
                *("--skip-download", "--compact", "--output", "json"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    try:
        reports = json.loads(done.stdout)
    except json.JSONDecodeError:
        yield Problem("checkov", f"failed: {done.stderr[-500:]}", f"run {checkov} by hand")
        return
    for report in reports if isinstance(reports, list) else [reports]:
        yield from checkov_problems(report)


def checkov_problems(report: dict[str, Any]) -> Iterator[Problem]:
    """What one framework's report finds: failed checks, unparsed files, skips
    without a reason."""
    unparsed = report.get("summary", {}).get("parsing_errors", 0)
    if unparsed:
        yield Problem(
            f"checkov {report.get('check_type', '')}",
            f"could not parse {unparsed} file(s)",
            f"run checkov --framework {report['check_type']} on them to see why",
        )
    results = report.get("results", {})
    for failed in results.get("failed_checks", []):
        yield Problem(
            f"{failed['file_path'].lstrip('/')} {failed.get('resource', '')}",
            f"checkov {failed['check_id']}: {failed.get('check_name', '')}",
            "fix it, or skip it in place with the reason (checkov:skip / checkov.io/skip)",
        )
    for skipped in results.get("skipped_checks", []):
        reason = skipped["check_result"].get("suppress_comment") or ""
        if len(reason.split()) < EXPLAINED_SKIP_WORDS:
            yield Problem(
                f"{skipped['file_path'].lstrip('/')} {skipped.get('resource', '')}",
                f"checkov {skipped['check_id']} is skipped with too short a reason: {reason!r}",
                f"say why in at least {EXPLAINED_SKIP_WORDS} words, next to the skip",
            )


CHECKS: dict[str, Callable[[Context], Iterator[Problem]]] = {
    "generated files current": generated_files_are_current,
    "every $VAR wired and in a secret template": variables_are_wired,
    "no container receives a secret it does not use": no_secret_goes_unused,
    "every secret reference in a template": secret_references_exist,
    "schedules and jobs name declared plugins": plugins_exist,
    "every schedule has an interval and a start_date": schedules_are_complete,
    "every BATCH file readable by its loader": batch_files_are_readable,
    "every configured setting declared": settings_are_declared,
    "no secret in plain text": secrets_not_in_plain_text,
    "manifests valid (strict schemas)": manifests_are_valid,
    "Terraform formatted": terraform_is_formatted,
    "checkov": checkov_finds_nothing,
}


def context(root: Path | None = None) -> Context:
    """What the checks read, of this project unless `root` is given."""
    root = root or project.root()
    tree = render.KubernetesTree(root)
    manifests = {env: kustomize(tree.overlay(env)) for env in CLUSTER_ENVIRONMENTS}
    return Context(tree, load(root), manifests)


def run(ctx: Context | None = None) -> dict[str, list[Problem]]:
    """Every check's problems, by check name (on this project unless `ctx` is given)."""
    ctx = ctx or context()
    return {name: list(check(ctx)) for name, check in CHECKS.items()}
