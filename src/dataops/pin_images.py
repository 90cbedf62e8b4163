"""`dataops pin-images`: every image the release builds from or runs in, pinned by
digest in git — the Dockerfile's base images, the release pipeline's job images
(kaniko, gcloud, Terraform, Python) and the third-party images the manifests run (the
Cloud SQL Auth Proxy) — so a build or a release uses the bytes that were reviewed, even
if a tag is moved or a registry is tampered with.

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
MANIFESTS = Path("deploy/kubernetes/base")
PROJECT_IMAGE = "data-ops-meltano"
"""The base manifests' name for the project's own image: the overlays' kustomize
`images:` replace it, and `dataops deploy` pins the release's tag."""
FROM = re.compile(
    r"^\s*FROM\s+(?:--platform=\S+\s+)?(?P<image>\S+)(?:\s+AS\s+(?P<stage>\S+))?", re.I
)
COPIED_FROM = re.compile(r"--from=(\S+)")
PINNED = re.compile(r"@(sha256:[0-9a-f]{64})$")


class PinError(RuntimeError):
    """An image reference that cannot be pinned where it is written."""


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
    """Every image reference, in file order: the Dockerfile's `FROM` and `--from=`
    (not those naming one of its stages), the pipeline's job and service images, and
    the Kubernetes base manifests' images but the project's own (PROJECT_IMAGE)."""
    manifests = sorted((root / MANIFESTS).glob("*.yaml"))
    return [
        *dockerfile_uses(root),
        *yaml_uses(root, PIPELINE),
        *(use for path in manifests for use in yaml_uses(root, path.relative_to(root))),
    ]


def dockerfile_uses(root: Path) -> Iterator[ImageUse]:
    stages: set[str] = set()
    for number, text in enumerate((root / DOCKERFILE).read_text().splitlines(), 1):
        found = FROM.match(text)
        named = [found["image"]] if found else COPIED_FROM.findall(text)
        for image in named:
            if image not in stages and image != "scratch" and not image.isdigit():
                yield ImageUse(DOCKERFILE, number, image)
        if found and found["stage"]:
            stages.add(found["stage"])


def yaml_uses(root: Path, path: Path) -> Iterator[ImageUse]:
    """The image values of a YAML file, each at the line that holds it; an error for a
    value written where no line shows it as a plain scalar (it could not be pinned)."""
    text = (root / path).read_text()
    documents = yaml.load_all(text, GitLabLoader)
    images = {image for document in documents for image in _image_values(document)}
    lines = text.splitlines()
    placed = set()
    for number, line in enumerate(lines, 1):
        if line.lstrip().startswith("#"):
            continue
        for image in sorted(images):
            if re.search(_as_scalar(image), line):
                placed.add(image)
                if image != PROJECT_IMAGE:
                    yield ImageUse(path, number, image)
    unplaced = sorted(images - placed)
    if unplaced:
        raise PinError(
            f"{path}: cannot find the line of image {', '.join(unplaced)}: write each as "
            "`image: NAME:TAG` on a line of its own"
        )


def _as_scalar(image: str) -> str:
    """A pattern finding `image` as a whole YAML scalar on a line: plain or quoted, as a
    value, a list item or in a flow collection, maybe followed by a comment."""
    before = r"(?:^|[\s{\[,:-])"
    after = r"(?=\s*(?:$|#|,|\}|\]))"
    return rf"{before}[\"']?{re.escape(image)}[\"']?{after}"


def _image_values(node: Any) -> Iterator[str]:
    """The values of every `image:` key (a name, or a mapping with `name:`) and of every
    `services:` list (GitLab's service containers) under `node`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "image":
                yield _name(value)
            elif key == "services" and isinstance(value, list):
                yield from map(_name, value)
            else:
                yield from _image_values(value)
    elif isinstance(node, list):
        for item in node:
            yield from _image_values(item)


def _name(image: Any) -> str:
    return str(image["name"] if isinstance(image, dict) else image)


def anonymously(name: registry.ImageName) -> str:
    """The digest of a public image: these images are public, and no credential goes to
    any registry for them."""
    return registry.digest(name, credentials=lambda _registry: None)


def resolve(
    found: list[ImageUse], digest: Callable[[registry.ImageName], str] = anonymously
) -> list[Pin]:
    """What each tag points at now (each distinct tag asked once)."""
    resolved: dict[str, str] = {}
    pins = []
    for use in found:
        if use.tagged not in resolved:
            resolved[use.tagged] = digest(registry.ImageName.parse_reference(use.tagged))
        pins.append(Pin(use, resolved[use.tagged]))
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
