"""What every check reads: the problems it reports, the project's files and each
cluster environment's rendered manifests, and the pods and containers in them."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dataops import project, render
from dataops.meltano_files import (
    CLUSTER_ENVIRONMENTS,
    MeltanoProject,
    load,
)


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


def context(root: Path | None = None) -> Context:
    """What the checks read, of this project unless `root` is given."""
    root = root or project.root()
    tree = render.KubernetesTree(root)
    manifests = {env: kustomize(tree.overlay(env)) for env in CLUSTER_ENVIRONMENTS}
    return Context(tree, load(root), manifests)
