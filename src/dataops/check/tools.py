"""The deployment files through the field's tools: strict Kubernetes schemas,
`terraform fmt`, checkov."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from dataops.check.base import (
    Context,
    Problem,
    sync_pod,
)

KUBERNETES_VERSION = "1.33.0"


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
