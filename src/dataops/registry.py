"""Image digests from a container registry (the OCI distribution API, Docker Registry
HTTP API v2): `dataops deploy` releases every image by digest, so the cluster runs
exactly what was resolved, whatever a tag points at later.

Google's registries (Artifact Registry `*.pkg.dev`, `gcr.io`) are asked with the
operator's or CI's gcloud access token; others anonymously. A registry on this machine
(a test's stand-in) is spoken to over plain HTTP, every other over HTTPS only. Docker
Hub's short names (`python:3.11`) are read as Docker does (`docker.io/library/python`).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

import requests

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
TIMEOUT_SECONDS = 30
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
TOKEN_SERVICES = {DOCKER_HUB_API: "https://auth.docker.io/"}
"""Registries whose token service is on a host of its own; every other registry's must
be on the registry's own origin."""

Credentials = Callable[[str], tuple[str, str] | None]
"""Registry host → (user, password) for its token service, or None (anonymous)."""


class RegistryError(RuntimeError):
    """An image's digest could not be resolved; the message says which and why."""


@dataclass(frozen=True)
class ImageName:
    registry: str
    repository: str
    tag: str

    @classmethod
    def parse(cls, image: str) -> ImageName:
        """`host[:port]/path:tag`; a name without a registry host is refused (this
        project names every image it builds with its registry)."""
        match = re.fullmatch(r"([^/]+)/(.+):([\w][\w.-]{0,127})", image)
        if not match or not is_host(match.group(1)):
            raise RegistryError(f"{image!r} is not REGISTRY/REPOSITORY:TAG")
        return cls(*match.groups())

    @classmethod
    def parse_reference(cls, image: str) -> ImageName:
        """A tagged name as Docker reads it: without a registry host, Docker Hub's
        (and its official images under `library/`)."""
        first, _, rest = image.partition("/")
        if rest and is_host(first) and first != DOCKER_HUB:
            return cls.parse(image)
        path = rest if first == DOCKER_HUB else image
        return cls.parse(f"{DOCKER_HUB}/{path if '/' in path else f'library/{path}'}")

    def __str__(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"

    @property
    def api_host(self) -> str:
        """Where the registry's API answers (Docker Hub's is not docker.io)."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def origin(self) -> str:
        local = self.registry.rsplit(":", 1)[0] in LOOPBACK
        return f"{'http' if local else 'https'}://{self.api_host}"


def is_host(component: str) -> bool:
    """Whether a name's first component is a registry host, as Docker decides it."""
    return bool(re.search(r"[.:]|^localhost$", component))


def is_google(registry: str) -> bool:
    """Artifact Registry (`REGION-docker.pkg.dev`) or Container Registry (`gcr.io`,
    `REGION.gcr.io`) — by exact host shape, so a look-alike (`evilgcr.io`,
    `eu-gcr.io`) never gets a Google token."""
    return registry == "gcr.io" or registry.endswith((".gcr.io", "-docker.pkg.dev"))


def gcloud_credentials(registry: str) -> tuple[str, str] | None:
    """Google's registries take an OAuth access token as the password of
    `oauth2accesstoken`; anything else is asked anonymously."""
    if not is_google(registry):
        return None
    try:
        done = subprocess.run(
            ["gcloud", "auth", "print-access-token"], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise RegistryError(
            f"{registry} needs a Google access token: install the gcloud CLI and log in"
        ) from None
    if done.returncode != 0:
        raise RegistryError(f"{registry}: `gcloud auth print-access-token` failed; log in first")
    return ("oauth2accesstoken", done.stdout.strip())


def digest(image: str | ImageName, credentials: Credentials = gcloud_credentials) -> str:
    """The digest `image` (REGISTRY/REPOSITORY:TAG) points at now."""
    name = image if isinstance(image, ImageName) else ImageName.parse(image)
    url = f"{name.origin}/v2/{name.repository}/manifests/{name.tag}"
    headers = {"Accept": MANIFEST_TYPES}
    try:
        with requests.Session() as session:
            answer = session.head(url, headers=headers, timeout=TIMEOUT_SECONDS)
            if answer.status_code == 401:
                token = _bearer_token(session, answer, name, credentials)
                headers["Authorization"] = f"Bearer {token}"
                answer = session.head(url, headers=headers, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        raise RegistryError(
            f"{image}: {name.registry} unreachable ({type(exc).__name__})"
        ) from None
    if answer.status_code == 404:
        raise RegistryError(f"{image}: no such tag in {name.registry}/{name.repository}")
    found = answer.headers.get("Docker-Content-Digest", "")
    if answer.status_code != 200 or not DIGEST.match(found):
        raise RegistryError(
            f"{image}: {name.registry} answered {answer.status_code} without a digest"
        )
    return found


def _bearer_token(
    session: requests.Session, refused: requests.Response, name: ImageName, credentials: Credentials
) -> str:
    """A pull token from the token service the registry's challenge names."""
    challenge = refused.headers.get("WWW-Authenticate", "")
    fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    realm = fields.get("realm", "")
    own = (f"{name.origin}/", TOKEN_SERVICES.get(name.api_host, f"{name.origin}/"))
    if not challenge.lower().startswith("bearer") or not realm.startswith(own):
        raise RegistryError(f"{name.registry} names no token service of its own to log in to")
    params = {"service": fields.get("service", ""), "scope": f"repository:{name.repository}:pull"}
    answer = session.get(
        realm, params=params, auth=credentials(name.registry), timeout=TIMEOUT_SECONDS
    )
    if answer.status_code != 200:
        raise RegistryError(f"{name.registry}: its token service answered {answer.status_code}")
    granted = answer.json()
    return str(granted.get("token") or granted.get("access_token") or "")
