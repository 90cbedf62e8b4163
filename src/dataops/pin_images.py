"""`dataops pin-images`: every image the release builds from or runs in, pinned by
digest in git — the Dockerfile's base images and the release pipeline's job images
(kaniko, gcloud, Terraform, Python) — so a build uses the bytes that were reviewed,
even if a tag is moved or a registry is tampered with.

Each reference keeps its tag for the reader (`python:3.11.17-slim-bookworm@sha256:…`);
Docker, kaniko and GitLab pull by the digest. Run it again to take what the tags point
at now (a patched base image): the diff is the review. `--check` resolves nothing and
fails on any reference without a digest; the release pipeline runs it before building.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dataops import registry

DOCKERFILE = Path("deploy/docker/Dockerfile")
PIPELINE = Path(".gitlab-ci.yml")
FROM = re.compile(
    r"^\s*FROM\s+(?:--platform=\S+\s+)?(?P<image>\S+)(?:\s+AS\s+(?P<stage>\S+))?", re.I
)
PINNED = re.compile(r"@(sha256:[0-9a-f]{64})$")


class GitLabLoader(yaml.SafeLoader):
    """GitLab's YAML, where `!reference [job, key]` is read as the list it is written as."""


def _reference(loader: yaml.SafeLoader, node: yaml.Node) -> list[Any]:
    if not isinstance(node, yaml.SequenceNode):
        raise yaml.constructor.ConstructorError(
            None, None, "GitLab's !reference takes a list: [job, key]", node.start_mark
        )
    return loader.construct_sequence(node)


GitLabLoader.add_constructor("!reference", _reference)


@dataclass(frozen=True)
class ImageUse:
    """One image reference as written in one of the project's files."""

    path: Path
    """Relative to the project root."""
    line: int
    reference: str

    @property
    def tagged(self) -> str:
        return self.reference.split("@")[0]

    @property
    def digest(self) -> str | None:
        found = PINNED.search(self.reference)
        return found.group(1) if found else None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Pin:
    use: ImageUse
    digest: str

    @property
    def change(self) -> str:
        if self.use.digest is None:
            return "pinned"
        return "unchanged" if self.use.digest == self.digest else "moved"


def uses(root: Path) -> list[ImageUse]:
    """Every image reference of the Dockerfile's FROM lines (not those naming an earlier
    stage) and of the pipeline's `image:` keys, in file order."""
    return [*_dockerfile_uses(root), *_pipeline_uses(root)]


def _dockerfile_uses(root: Path) -> Iterator[ImageUse]:
    stages: set[str] = set()
    for number, text in enumerate((root / DOCKERFILE).read_text().splitlines(), 1):
        found = FROM.match(text)
        if found is None:
            continue
        if found["image"] not in stages and found["image"] != "scratch":
            yield ImageUse(DOCKERFILE, number, found["image"])
        if found["stage"]:
            stages.add(found["stage"])


def _pipeline_uses(root: Path) -> Iterator[ImageUse]:
    text = (root / PIPELINE).read_text()
    images = set(_image_keys(yaml.load(text, GitLabLoader)))  # noqa: S506 (a safe loader)
    for number, line in enumerate(text.splitlines(), 1):
        value = re.match(r"^\s*(?:image|name):\s*(\S+)\s*$", line)
        if value and value.group(1) in images:
            yield ImageUse(PIPELINE, number, value.group(1))


def _image_keys(node: Any) -> Iterator[str]:
    """The values of every `image:` key (a name, or a mapping with `name:`)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "image":
                yield value["name"] if isinstance(value, dict) else value
            else:
                yield from _image_keys(value)
    elif isinstance(node, list):
        for item in node:
            yield from _image_keys(item)


def unpinned(root: Path) -> list[ImageUse]:
    return [use for use in uses(root) if use.digest is None]


def anonymously(name: registry.ImageName) -> str:
    """The digest of a public image: these images are public, and no credential goes to
    any registry for them."""
    return registry.digest(name, credentials=lambda _registry: None)


def resolve(root: Path, digest: Callable[[registry.ImageName], str] = anonymously) -> list[Pin]:
    """What each tag points at now (each distinct tag asked once)."""
    found: dict[str, str] = {}
    pins = []
    for use in uses(root):
        if use.tagged not in found:
            found[use.tagged] = digest(registry.ImageName.parse_reference(use.tagged))
        pins.append(Pin(use, found[use.tagged]))
    return pins


def write(root: Path, pins: list[Pin]) -> None:
    """Each reference rewritten as TAG@DIGEST in place; nothing else of the files moves."""
    for path in {pin.use.path for pin in pins}:
        lines = (root / path).read_text().splitlines(keepends=True)
        for pin in (p for p in pins if p.use.path == path):
            index = pin.use.line - 1
            lines[index] = lines[index].replace(
                pin.use.reference, f"{pin.use.tagged}@{pin.digest}", 1
            )
        (root / path).write_text("".join(lines))
