"""`dataops deploy ENV --image TAG`: render, check, and apply as a rolling update.

Replaces the runbook's `kubectl delete` + `kubectl apply`: the overlay is rendered
with the image tag and every image pinned to its digest (dataops.registry), every
`dataops check` must pass, the five secrets must exist, then
one server-side apply changes what differs, and the Deployments roll (a new scheduler
starts before the old one stops; sync pods are not touched). `--dry-run` stops after
writing the manifest and printing the plan; nothing talks to the cluster (the
registries are asked for the digests). Beside the manifest, `ENV-TAG.images` lists the
release's images as REPOSITORY@DIGEST, one per line: the release pipeline attests each
for Binary Authorization before applying (deploy/terraform/binary_authorization.tf).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dataops import check, pin_images, registry
from dataops.meltano_files import CLUSTER_ENVIRONMENTS
from dataops.secrets import NAMESPACE, SecretsError, kubectl

PLACEHOLDER_TAG = "unset"
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
ROLLED = ("deployment/meltano-scheduler", "deployment/airflow-api-server")
REQUIRED_SECRETS = ("airflow", "airflow-db", "cloud-sql", "meltano-db", "tap-secrets")
REQUIRED_SETTINGS = ("DATAOPS_AIRFLOW_LOGIN_DOMAIN",)
"""platform-env keys git leaves empty for each environment to fill (its overlay's literals)."""


@dataclass(frozen=True)
class Release:
    environment: str
    tag: str
    manifest: Path
    objects: list[str]
    """kind/name of every object, in apply order."""
    images: list[str]

    def commands(self, context: str) -> list[str]:
        target = f"kubectl --context {context}"
        return [
            f"{target} apply --server-side --field-manager=dataops -f {self.manifest}",
            *(f"{target} -n {NAMESPACE} rollout status {d} --timeout=15m" for d in ROLLED),
        ]


def validate(environment: str, tag: str) -> None:
    """Refuse a request that cannot be deployed, before any slower step."""
    if not TAG.match(tag) or tag == PLACEHOLDER_TAG:
        raise SystemExit(f"--image {tag!r} is not an image tag (e.g. v1.4.0 or a git SHA)")
    if environment not in CLUSTER_ENVIRONMENTS:
        known = ", ".join(CLUSTER_ENVIRONMENTS)
        raise SystemExit(f"no overlay {environment!r}: expected one of {known}")


def build(environment: str, tag: str, ctx: check.Context) -> Release:
    """Render `environment`'s overlay with the image tag, every image pinned to the
    digest its registry resolves now; write it under output/deploy/."""
    validate(environment, tag)
    objects = copy.deepcopy(ctx.manifests[environment])
    (platform,) = [o for o in objects if o["metadata"]["name"] == "platform-env"]
    empty = [key for key in REQUIRED_SETTINGS if not platform["data"].get(key, "").strip()]
    if empty:
        raise SystemExit(
            f"{environment}: {', '.join(empty)} is empty: add it to the literals of "
            f"platform-env in {ctx.rel(ctx.tree.overlay(environment))}/kustomization.yaml "
            "(docs/runbook.md, 'Airflow UI login')"
        )
    pinned: dict[str, str] = {}

    def pin(image: str) -> str:
        # The overlay names the project's repository with the placeholder tag; an image
        # pinned in git (`dataops pin-images`) keeps its reviewed digest.
        tagged = re.sub(rf"(/meltano):{PLACEHOLDER_TAG}$", rf"\1:{tag}", image)
        if tagged not in pinned:
            pinned[tagged] = (
                tagged
                if pin_images.PINNED.search(tagged)
                else f"{tagged}@{registry.digest(tagged)}"
            )
        return pinned[tagged]

    for obj in objects:
        if obj["kind"] == "Deployment":
            _pin_containers(obj["spec"]["template"]["spec"], pin)
    # The image Airflow gives each sync pod's `base` container (the scheduler's).
    platform["data"]["DATAOPS_IMAGE"] = pin(platform["data"]["DATAOPS_IMAGE"])
    template = check.base.sync_pod(objects)
    _pin_containers(template["spec"], pin, keep=check.wiring.SYNC_CONTAINER)
    check.base.sync_config(objects)["sync-pod.yaml"] = yaml.safe_dump(template, sort_keys=False)

    manifest = ctx.tree.root / "output" / "deploy" / f"{environment}-{tag}.yaml"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    attested = sorted({re.sub(r":[\w][\w.-]*@", "@", image) for image in pinned.values()})
    manifest.with_suffix(".images").write_text("".join(f"{image}\n" for image in attested))
    return Release(
        environment,
        tag,
        manifest,
        [f"{o['kind']}/{o['metadata']['name']}" for o in objects],
        sorted(pinned.values()),
    )


def _pin_containers(pod: dict[str, Any], pin: Callable[[str], str], keep: str = "") -> None:
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        if container["name"] != keep:
            container["image"] = pin(container["image"])


def apply(release: Release, context: str) -> None:
    """Check the secrets exist, apply the release, wait for the rollouts (the context
    is the release's cluster: `secrets.confirm_cluster`)."""
    listed = kubectl(["get", "secrets", "-o", "name"], context).split()
    missing = [s for s in REQUIRED_SECRETS if f"secret/{s}" not in listed]
    if missing:
        raise SecretsError(
            f"secrets {', '.join(missing)} do not exist in namespace {NAMESPACE}: "
            f"create them first with `dataops secrets apply {release.environment} --env-file FILE`"
        )
    kubectl(
        ["apply", "--server-side", "--field-manager=dataops", "-f", str(release.manifest)],
        context,
    )
    for deployment in ROLLED:
        kubectl(["rollout", "status", deployment, "--timeout=15m"], context)
