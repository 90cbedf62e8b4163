"""`dataops check`: everything that must hold before the platform ships, offline.

Each check returns problems that say which file and key to fix and how. Together they
replace the runbook's "a name missed in one place fails only at run time": every
`$VAR` meltano.yml uses in the cluster is wired into the rendered manifests and has a
key in a secret template; schedules and jobs name existing plugins; every configured
setting is declared; no secret value sits in plain text; the manifests validate
against the Kubernetes schemas; Terraform is formatted; checkov finds nothing that is
not explained in place.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from dataops import project, render
from dataops.meltano_files import CLUSTER_ENVIRONMENTS, MeltanoProject, flatten, load

CHECKOV = project.PROJECT_ROOT / "deploy" / "checkov" / ".venv" / "bin" / "checkov"
KUBERNETES_VERSION = "1.33.0"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|PRIVATE_KEY|API_KEY|FERNET", re.IGNORECASE)
REFERENCE_ONLY = re.compile(r"^\$\{?[A-Za-z_][A-Za-z0-9_]*\}?$")


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


def sync_pod(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (config_map,) = [o for o in objects if o["metadata"]["name"].startswith("meltano-sync-pod")]
    return yaml.safe_load(config_map["data"]["sync-pod.yaml"])


def variables_are_wired(ctx: Context) -> Iterator[Problem]:
    """Every $VAR reaches both places a sync can run, from a secret or the ConfigMap."""
    shared = render.platform_env(ctx.tree)
    for environment in CLUSTER_ENVIRONMENTS:
        templates = secret_template_keys(ctx.tree, environment)
        secret_keys = set().union(*templates.values())
        objects = ctx.manifests[environment]
        maps = {
            o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"
        }
        (scheduler,) = [
            o
            for o in objects
            if o["kind"] == "Deployment" and o["metadata"]["name"] == "meltano-scheduler"
        ]
        runners = {
            "the scheduler's container": container_env(scheduler, "scheduler"),
            "the sync pod template": container_env(sync_pod(objects), "base"),
        }
        for variable, places in ctx.meltano.references(environment).items():
            for runner, (env_names, config_maps) in runners.items():
                from_maps = any(variable in maps.get(name, {}) for name in config_maps)
                if variable not in env_names and not from_maps:
                    yield Problem(
                        places[0],
                        f"${variable} is not wired into {runner} of overlay {environment}",
                        "run `dataops render` (it wires every $VAR from the tap-secrets secret)",
                    )
            if variable not in secret_keys and variable not in shared:
                yield Problem(
                    places[0],
                    f"${variable} is in no secret template of {environment} "
                    f"({ctx.rel(ctx.tree.secrets)}/{environment}/*.env.template)",
                    "run `dataops render`, then add the key to your env file for `dataops secrets`",
                )


def secret_references_exist(ctx: Context) -> Iterator[Problem]:
    """Every secretKeyRef names a secret and key that a template declares: a pod whose
    secret lacks the key would not start."""
    for environment, objects in ctx.manifests.items():
        templates = ctx.tree.secret_templates(environment)
        keys = secret_template_keys(ctx.tree, environment)
        for name, container in containers(environment, objects):
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
        tasks = job.value.get("tasks", [])
        for task in tasks if isinstance(tasks, list) else [tasks]:
            for step in str(task).split():
                if step.partition(":")[0] not in types:
                    yield Problem(job.where(), f"task step {step!r} names no plugin", "declare it")


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
        for name, container in containers(environment, objects):
            for entry in container.get("env", []):
                if "value" in entry and SECRET_NAME.search(entry["name"]):
                    yield Problem(
                        f"{name} container {container['name']}",
                        f"env {entry['name']} has a literal value",
                        "take it from a secret with valueFrom.secretKeyRef",
                    )


def containers(environment: str, objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict]]:
    """(object, container) for every container of the Deployments and the sync pod."""
    pods = [
        (f"{o['kind']}/{o['metadata']['name']}", o["spec"]["template"]["spec"])
        for o in objects
        if o["kind"] == "Deployment"
    ]
    pods.append(("the sync pod template", sync_pod(objects)["spec"]))
    for name, spec in pods:
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            yield f"overlay {environment}: {name}", container


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


def checkov_finds_nothing(ctx: Context) -> Iterator[Problem]:
    """checkov on the rendered manifests, the Dockerfile and Terraform; a finding that
    is explained carries a skip with its reason next to what it is about."""
    if not CHECKOV.exists():
        yield Problem(str(CHECKOV), "checkov is not installed", "run `make setup`")
        return
    with tempfile.TemporaryDirectory() as tmp:
        for environment, objects in ctx.manifests.items():
            Path(tmp, f"{environment}.yaml").write_text(yaml.safe_dump_all(objects))
        targets = [("kubernetes", ["-d", tmp])]
        if ctx.dockerfile.exists():
            targets.append(("dockerfile", ["-f", str(ctx.dockerfile)]))
        if ctx.terraform.exists():
            targets.append(("terraform", ["-d", str(ctx.terraform)]))
        for framework, where in targets:
            yield from checkov_run(framework, where)


def checkov_run(framework: str, where: list[str]) -> Iterator[Problem]:
    done = subprocess.run(
        [
            str(CHECKOV),
            *where,
            "--framework",
            framework,
            "--skip-download",
            "--quiet",
            "--compact",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        reports = json.loads(done.stdout) if done.stdout.strip() else []
    except json.JSONDecodeError:
        yield Problem(" ".join(where), f"checkov failed: {done.stderr[-500:]}", "run it by hand")
        return
    for report in reports if isinstance(reports, list) else [reports]:
        for failed in report.get("results", {}).get("failed_checks", []):
            yield Problem(
                f"{failed.get('file_path', '')} {failed.get('resource', '')}",
                f"checkov {failed['check_id']}: {failed.get('check_name', '')}",
                "fix it, or skip it in place with the reason (checkov:skip / checkov.io/skip)",
            )


CHECKS: dict[str, Callable[[Context], Iterator[Problem]]] = {
    "generated files current": generated_files_are_current,
    "every $VAR wired and in a secret template": variables_are_wired,
    "every secret reference in a template": secret_references_exist,
    "schedules and jobs name declared plugins": plugins_exist,
    "every schedule has an interval and a start_date": schedules_are_complete,
    "every configured setting declared": settings_are_declared,
    "no secret in plain text": secrets_not_in_plain_text,
    "manifests valid (strict schemas)": manifests_are_valid,
    "Terraform formatted": terraform_is_formatted,
    "checkov": checkov_finds_nothing,
}


def context(root: Path = project.PROJECT_ROOT) -> Context:
    tree = render.KubernetesTree(root)
    manifests = {env: kustomize(tree.overlay(env)) for env in CLUSTER_ENVIRONMENTS}
    return Context(tree, load(root), manifests)


def run(ctx: Context | None = None) -> dict[str, list[Problem]]:
    """Every check's problems, by check name (on this project unless `ctx` is given)."""
    ctx = ctx or context()
    return {name: list(check(ctx)) for name, check in CHECKS.items()}
