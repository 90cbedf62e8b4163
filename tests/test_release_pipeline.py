""".gitlab-ci.yml checked offline with gitlab-ci-local (npm, `make setup`): it parses the
file, validates it against GitLab's CI JSON schema (the one GitLab's pipeline editor
uses) and evaluates `rules`, `needs` and `extends` as GitLab does. What it cannot prove
offline: that the images pull, that the Google identity federation works, that kaniko
pushes — those need GitLab and Google.

Each case runs in a clone of this repository whose `origin` looks like a GitLab remote
(gitlab-ci-local compares `changes:` with origin's default branch)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from dataops import project

GITLAB_CI_LOCAL = project.root() / "deploy" / "ci" / "node_modules" / ".bin" / "gitlab-ci-local"
TAG = "v1.2.3"


GIT = ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci"]


def gitlab_clone(source: Path, clone: Path) -> Path:
    """A clone of `source` whose `origin/main` is its HEAD and whose origin looks like a
    GitLab remote (gitlab-ci-local compares `changes:` with origin's default branch)."""
    subprocess.run([*GIT, "clone", "-q", str(source), str(clone)], check=True)
    mark_main(clone)
    remote = "git@gitlab.com:data-team/data-ops-meltano.git"
    subprocess.run([*GIT, "remote", "set-url", "origin", remote], cwd=clone, check=True)
    return clone


def mark_main(clone: Path) -> None:
    subprocess.run([*GIT, "update-ref", "refs/remotes/origin/main", "HEAD"], cwd=clone, check=True)


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone of HEAD with this checkout's .gitlab-ci.yml, `origin/main` at it."""
    clone = gitlab_clone(project.root(), tmp_path_factory.mktemp("pipeline") / "repo")
    pipeline = (project.root() / ".gitlab-ci.yml").read_text()
    (clone / ".gitlab-ci.yml").write_text(pipeline)
    subprocess.run([*GIT, "add", ".gitlab-ci.yml"], cwd=clone, check=True)
    subprocess.run([*GIT, "commit", "-q", "--allow-empty", "-m", "pipeline"], cwd=clone, check=True)
    mark_main(clone)
    return clone


def gitlab_ci_local(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GITLAB_CI_LOCAL), *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def jobs(repo: Path, *variables: str) -> dict[str, dict[str, Any]]:
    """The pipeline's jobs as GitLab would create them (schema-checked), by name, with
    the expanded definition of each (`extends` and defaults applied)."""
    settings = [arg for variable in variables for arg in ("--variable", variable)]
    listed = gitlab_ci_local(repo, "--list", *settings)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "json schema validated" in listed.stderr
    lines = listed.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("name "))
    names = [line.split()[0] for line in lines[header + 1 :] if line.strip()]
    preview = gitlab_ci_local(repo, "--preview", *settings)
    assert preview.returncode == 0, preview.stderr
    expanded = yaml.safe_load(preview.stdout)
    return {name: expanded[name] for name in names}


def test_a_push_runs_make_test_only(repository: Path) -> None:
    found = jobs(repository)
    assert list(found) == ["test"]
    assert found["test"]["script"] == ["make test"]


def test_a_release_tag_builds_pushes_deploys_staging_and_offers_production(
    repository: Path,
) -> None:
    found = jobs(repository, f"CI_COMMIT_TAG={TAG}")
    assert list(found) == [
        "test",
        "images-pinned",
        "build-image",
        "deploy-staging",
        "deploy-production",
    ]
    # Nothing is built from an image that is not pinned by digest (dataops pin-images).
    assert found["images-pinned"]["stage"] == "test"
    assert found["images-pinned"]["script"][-1] == ".venv/bin/dataops pin-images --check"
    build = " ".join(found["build-image"]["script"])
    assert "/kaniko/executor" in build  # no Docker daemon
    for registry in ("IMAGE_STAGING", "IMAGE_PRODUCTION"):
        for tag in ("CI_COMMIT_TAG", "CI_COMMIT_SHORT_SHA"):
            assert f'--destination "${registry}:${tag}"' in build
    staging, production = found["deploy-staging"], found["deploy-production"]
    assert staging.get("when", "on_success") == "on_success"
    assert production["rules"][0]["when"] == "manual"
    assert production["allow_failure"] is False  # a manual gate, not an optional job
    clusters = {"staging": "data-ops-meltano-staging", "production": "data-ops-meltano"}
    for job, environment in ((staging, "staging"), (production, "production")):
        assert job["variables"]["ENVIRONMENT"] == environment
        assert job["variables"]["CLUSTER"] == clusters[environment]  # Terraform's names
        [credentials] = [line for line in job["script"] if "get-credentials" in line]
        assert "--dns-endpoint" in credentials  # the only way in from outside the VPC
        # Binary Authorization: each image the dry run pinned is attested, then the apply.
        context = '--context "gke_${PROJECT}_${GKE_REGION}_${CLUSTER}"'
        deploy = f'.venv/bin/dataops deploy "$ENVIRONMENT" --image "$CI_COMMIT_TAG" {context}'
        pin, attest, apply = (
            job["script"].index(f"{deploy} --dry-run"),
            next(i for i, line in enumerate(job["script"]) if "sign-and-create" in line),
            job["script"].index(deploy),
        )
        assert pin < attest < apply
        assert job["script"][attest].endswith(
            '< "output/deploy/$ENVIRONMENT-$CI_COMMIT_TAG.images"'
        )
        assert '--attestor "$ATTESTOR" --keyversion "$ATTESTOR_KEY"' in job["script"][attest]
        # `dataops deploy` runs every `dataops check`: Terraform and checkov are there.
        assert "make .venv/.synced deploy/checkov/.venv/.synced" in job["script"]
        assert any("terraform_${TERRAFORM_VERSION}_SHA256SUMS" in line for line in job["script"])
        assert "GITLAB_OIDC_TOKEN" in job["id_tokens"]  # keyless Google access


def test_other_tags_release_nothing(repository: Path) -> None:
    assert list(jobs(repository, "CI_COMMIT_TAG=nightly")) == ["test"]


def test_a_terraform_change_on_a_protected_ref_gets_a_plan_per_environment(
    repository: Path, tmp_path: Path
) -> None:
    changed = gitlab_clone(repository, tmp_path / "changed")
    with (changed / "deploy" / "terraform" / "variables.tf").open("a") as file:
        file.write("\n# a change\n")
    subprocess.run([*GIT, "commit", "-q", "-am", "terraform"], cwd=changed, check=True)
    assert list(jobs(changed, "CI_COMMIT_REF_PROTECTED=false")) == ["test"]
    found = jobs(changed, "CI_COMMIT_REF_PROTECTED=true")
    assert set(found) == {"test", "terraform-plan-staging", "terraform-plan-production"}
    for environment in ("staging", "production"):
        plan = found[f"terraform-plan-{environment}"]
        assert plan["variables"]["ENVIRONMENT"] == environment
        # The environment's own identity variables apply; no deployment is recorded.
        assert plan["environment"] == {"name": environment, "action": "prepare"}
        assert plan["artifacts"]["paths"] == ["$ENVIRONMENT.tfplan", "$ENVIRONMENT.tfplan.txt"]
        assert any("terraform plan" in line for line in plan["script"])


def test_a_broken_pipeline_file_is_refused_by_the_schema(repository: Path, tmp_path: Path) -> None:
    broken = gitlab_clone(repository, tmp_path / "broken")
    pipeline = (repository / ".gitlab-ci.yml").read_text()
    # A job named like a global keyword: GitLab reads it as the default image.
    (broken / ".gitlab-ci.yml").write_text(pipeline.replace("\nbuild-image:\n", "\nimage:\n"))
    refused = gitlab_ci_local(broken, "--list")
    assert refused.returncode != 0
    assert "Invalid .gitlab-ci.yml configuration" in refused.stdout + refused.stderr
