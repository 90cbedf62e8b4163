"""`dataops pin-images`: the Dockerfile's base images and the release pipeline's job
images pinned by digest, run for real against a stand-in registry (the distribution
API with a token service, as ghcr.io, gcr.io and Docker Hub answer it) on a copy of
the project whose images live there."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from dataops import pin_images, project, registry
from tests.test_secrets_and_deploy import StandInRegistryApi, dataops, stand_in_digest

MOVED_TAG_DIGEST = "sha256:" + "0" * 64


class MovingRegistryApi(StandInRegistryApi):
    """The stand-in registry, where `moved` tags now point at another image."""

    moved: set[str] = set()

    def do_HEAD(self) -> None:
        wanted = re.fullmatch(r"/v2/(.+)/manifests/([^/]+)", self.path)
        if wanted and f"{wanted[1]}:{wanted[2]}" in self.moved:
            self.send_response(200)
            self.send_header("Docker-Content-Digest", MOVED_TAG_DIGEST)
            self.end_headers()
            return
        super().do_HEAD()


@pytest.fixture
def copy_in_registry(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """The project's Dockerfile, pipeline and Kubernetes tree in a copy (with its Meltano
    files), each image renamed into the stand-in registry (same repository path and
    tag); its host."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), MovingRegistryApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{server.server_port}"
    copy = tmp_path / "project"
    for path in (pin_images.DOCKERFILE, pin_images.PIPELINE, Path("meltano.yml")):
        (copy / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(project.root() / path, copy / path)
    for tree in ("deploy/kubernetes", "meltano"):  # what `dataops render` reads
        shutil.copytree(project.root() / tree, copy / tree, ignore=shutil.ignore_patterns(".*"))
    for use in pin_images.uses(copy):
        name = registry.ImageName.parse_reference(use.tagged)
        file = copy / use.path
        lines = file.read_text().splitlines(keepends=True)
        lines[use.line - 1] = lines[use.line - 1].replace(
            use.reference, f"{host}/{name.repository}:{name.tag}"
        )
        file.write_text("".join(lines))
    yield copy, host
    server.shutdown()
    MovingRegistryApi.moved.clear()


def pin(copy: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Wide enough that no row of its table wraps.
    return dataops("--project-root", str(copy), "pin-images", *args, env={"COLUMNS": "250"})


def test_every_base_and_job_image_is_pinned_to_its_digest_and_nothing_else_moves(
    copy_in_registry: tuple[Path, str],
) -> None:
    copy, host = copy_in_registry
    found = pin_images.uses(copy)
    before = {use.path: (copy / use.path).read_text() for use in found}
    # Three FROM lines (the `uv` stage, `build`, `runtime`); each pipeline job's image;
    # the Cloud SQL Auth Proxy of the scheduler, the API server and the sync pods.
    paths = [str(use.path) for use in found]
    assert paths.count(str(pin_images.DOCKERFILE)) == 3
    assert paths.count(str(pin_images.PIPELINE)) == 5
    proxies = [use for use in found if use.path.parent == pin_images.MANIFESTS]
    assert [use.path.name for use in proxies] == [
        "api-server.yaml",
        "scheduler.yaml",
        "sync-pod.template.yaml",
    ]
    assert {use.tagged.split("/", 1)[1] for use in proxies} == {
        "cloud-sql-connectors/cloud-sql-proxy:2.14.3"
    }
    refused = pin(copy, "--check")
    assert refused.returncode == 1
    for use in found:
        assert f"{use}: {use.reference} has no digest" in refused.stdout

    done = pin(copy)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("pinned") == len(found)
    pinned = pin_images.uses(copy)
    assert [(u.path, u.line, u.tagged) for u in pinned] == [
        (u.path, u.line, u.tagged) for u in found
    ]
    for use in pinned:
        assert use.digest == stand_in_digest(use.tagged.removeprefix(f"{host}/")), use
    # Only the references' lines changed, each reference to TAG@DIGEST.
    for path, text in before.items():
        expected = text.splitlines(keepends=True)
        for use in (u for u in found if u.path == path):
            digest = stand_in_digest(use.tagged.removeprefix(f"{host}/"))
            expected[use.line - 1] = expected[use.line - 1].replace(
                use.reference, f"{use.tagged}@{digest}"
            )
        assert (copy / path).read_text() == "".join(expected)
    # The overlays' generated sync pod (a copy of the base's template) follows.
    for environment in ("staging", "production"):
        generated = copy / "deploy/kubernetes/overlays" / environment / "generated/sync-pod.yaml"
        assert f"{proxies[-1].tagged}@" in generated.read_text()
    checked = pin(copy, "--check")
    assert checked.returncode == 0, checked.stdout
    assert f"every image is pinned by digest ({len(found)} references)" in checked.stdout

    # Pinned again: nothing changes. After a tag moves (a patched base image), its
    # references take the new digest, and the run says so.
    assert pin(copy).stdout.count("unchanged") == len(found)
    MovingRegistryApi.moved.add("library/python:3.11.17-slim-bookworm")
    again = pin(copy)
    assert again.returncode == 0, again.stdout
    assert again.stdout.count("moved") == 2  # the build and runtime stages
    dockerfile = (copy / pin_images.DOCKERFILE).read_text()
    assert dockerfile.count(f"python:3.11.17-slim-bookworm@{MOVED_TAG_DIGEST}") == 2


def test_a_tag_the_registry_does_not_know_pins_nothing(
    copy_in_registry: tuple[Path, str],
) -> None:
    copy, host = copy_in_registry
    dockerfile = copy / pin_images.DOCKERFILE
    dockerfile.write_text(dockerfile.read_text().replace(":0.13.9", ":v0.0.0"))
    before = dockerfile.read_text()
    done = pin(copy)
    assert done.returncode == 1
    assert f"nothing pinned: {host}/astral-sh/uv:v0.0.0: no such tag" in done.stdout
    assert dockerfile.read_text() == before


@pytest.mark.parametrize(
    ("reference", "registry_host", "repository", "origin"),
    [
        (
            "python:3.11.17-slim-bookworm",
            "docker.io",
            "library/python",
            "https://registry-1.docker.io",
        ),
        (
            "hashicorp/terraform:1.11.4",
            "docker.io",
            "hashicorp/terraform",
            "https://registry-1.docker.io",
        ),
        ("docker.io/python:3.11", "docker.io", "library/python", "https://registry-1.docker.io"),
        ("ghcr.io/astral-sh/uv:0.13.9", "ghcr.io", "astral-sh/uv", "https://ghcr.io"),
        ("localhost:5000/team/app:v1", "localhost:5000", "team/app", "http://localhost:5000"),
    ],
)
def test_names_are_read_as_docker_reads_them(
    reference: str, registry_host: str, repository: str, origin: str
) -> None:
    name = registry.ImageName.parse_reference(reference)
    assert (name.registry, name.repository, name.origin) == (registry_host, repository, origin)


def test_the_repositorys_own_check_lists_exactly_its_unpinned_images() -> None:
    """What the release pipeline's `images-pinned` job runs, on this repository."""
    missing = [use for use in pin_images.uses(project.root()) if use.digest is None]
    done = pin(project.root(), "--check")
    assert done.returncode == (1 if missing else 0)
    listed = [line for line in done.stdout.splitlines() if line.endswith("has no digest")]
    assert listed == [f"{use}: {use.reference} has no digest" for use in missing]


WRITTEN_FORMS = """\
quoted:
  image: "python:3.11.17-bookworm"
commented:
  image: hashicorp/terraform:1.11.4  # the plan's
flow:
  image: {name: "gcr.io/kaniko-project/executor:v1.23.2-debug", entrypoint: [""]}
with-services:
  image:
    name: google/cloud-sdk:529.0.0-slim
  services:
    - postgres:16.4
    - name: redis:7.4
      alias: cache
"""


def test_every_written_form_of_a_pipeline_image_is_found_and_pinned(tmp_path: Path) -> None:
    (tmp_path / ".gitlab-ci.yml").write_text(WRITTEN_FORMS)
    found = list(pin_images.yaml_uses(tmp_path, Path(".gitlab-ci.yml")))
    assert [(use.line, use.reference) for use in found] == [
        (2, "python:3.11.17-bookworm"),
        (4, "hashicorp/terraform:1.11.4"),
        (6, "gcr.io/kaniko-project/executor:v1.23.2-debug"),
        (9, "google/cloud-sdk:529.0.0-slim"),
        (11, "postgres:16.4"),
        (12, "redis:7.4"),
    ]
    digest = "sha256:" + "1" * 64
    pin_images.write(tmp_path, [pin_images.Pin(use, digest) for use in found])
    pinned = yaml.safe_load((tmp_path / ".gitlab-ci.yml").read_text())
    assert pinned["quoted"]["image"] == f"python:3.11.17-bookworm@{digest}"
    assert pinned["flow"]["image"]["entrypoint"] == [""]
    assert pinned["with-services"]["services"][1] == {
        "name": f"redis:7.4@{digest}",
        "alias": "cache",
    }
    assert all(
        use.digest == digest for use in pin_images.yaml_uses(tmp_path, Path(".gitlab-ci.yml"))
    )


def test_an_image_written_where_no_line_shows_it_is_an_error_not_a_pass(tmp_path: Path) -> None:
    (tmp_path / ".gitlab-ci.yml").write_text('job:\n  image: "python:3.11\\x2e17"\n')
    with pytest.raises(
        pin_images.PinError, match=r"cannot find the line of image python:3\.11\.17"
    ):
        list(pin_images.yaml_uses(tmp_path, Path(".gitlab-ci.yml")))


def test_a_dockerfile_copying_from_an_image_names_it(tmp_path: Path) -> None:
    dockerfile = tmp_path / pin_images.DOCKERFILE
    dockerfile.parent.mkdir(parents=True)
    dockerfile.write_text(
        "FROM python:3.11.17-slim-bookworm AS build\n"
        "COPY --from=build /a /a\n"
        "COPY --from=0 /b /b\n"
        "COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /bin/uv\n"
    )
    found = list(pin_images.dockerfile_uses(tmp_path))
    assert [(use.line, use.reference) for use in found] == [
        (1, "python:3.11.17-slim-bookworm"),
        (4, "ghcr.io/astral-sh/uv:0.13.9"),
    ]


def test_an_image_without_a_tag_is_listed_never_skipped(tmp_path: Path) -> None:
    """Only the base manifests' own placeholder for the project's image is left out."""
    text = f"a:\n  image: alpine\nb:\n  image: {pin_images.PROJECT_IMAGE}\n"
    (tmp_path / "x.yaml").write_text(text)
    [found] = pin_images.yaml_uses(tmp_path, Path("x.yaml"))
    assert (found.line, found.reference, found.digest) == (2, "alpine", None)
