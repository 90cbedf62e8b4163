"""What a vendor simulator declares: its data, and how it is served (HTTP or JDBC).

Each vendor package (``zengrc/``, ``edcast/``, ``xactly/``, ``adaptive/``) builds one
:class:`HttpVendor` or :class:`JdbcVendor` in its ``__init__``; ``registry.py`` lists
them. The HTTP server (``http_server.py``) knows nothing vendor specific: it turns each
HTTP request into a :class:`Request`, asks the vendor's :class:`HttpApp` for a
:class:`Response`, and puts the latency and fault layer around that.
"""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from dataops.sandbox.xactly.server import XactlySandbox

Record = dict[str, Any]
Dataset = dict[str, list[Record]]
"""Objects per stream, sorted by key, exactly as the vendor serves them."""
Truth = dict[str, dict[str, Any]]
"""Per stream: ``{"rows": n, "key": [key properties], "keys": [[key values], …]}``."""
VendorOptions = Mapping[str, int]
"""The vendor's own serve() options that were given (checked against ``Vendor.options``)."""


@dataclass(frozen=True)
class DataParams:
    """What a generated dataset depends on, and nothing else (never the wall clock)."""

    seed: int = 0
    scale: int = 1
    epoch: int = 0

    def __post_init__(self) -> None:
        if self.scale < 1:
            raise ValueError(f"scale must be >= 1, got {self.scale}")
        if self.epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {self.epoch}")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    """Header names in lower case."""
    body: bytes = b""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


JSON_CONTENT_TYPE = "application/json; charset=utf-8"


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(status, body, {"Content-Type": JSON_CONTENT_TYPE, **(headers or {})})


def basic_authorization(username: str, password: str) -> bytes:
    """The ``Authorization`` header value of HTTP Basic with these credentials."""
    return b"Basic " + base64.b64encode(f"{username}:{password}".encode())


def same_secret(given: str, expected: bytes) -> bool:
    """Compare a credential in constant time."""
    return hmac.compare_digest(given.encode(), expected)


class HttpApp(Protocol):
    """A vendor's API: serves one dataset."""

    base_path: str
    """Path prefix of the API, e.g. ``/api/v2``; the sandbox URL is origin + base_path."""
    credentials: dict[str, str]

    @property
    def moved(self) -> bool:
        """Whether the data moved on to the next epoch while serving (``move_after``)."""
        ...

    def handle(self, request: Request) -> Response: ...


@dataclass(frozen=True)
class VendorFault:
    """A fault kind only one vendor has: its canned answer and the requests it can hit."""

    description: str
    response: Response
    applies: Callable[[Request], bool]


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` data requests per rolling ``window_seconds`` (when throttling)."""

    requests: int
    window_seconds: float


@dataclass(frozen=True, kw_only=True)
class Vendor:
    name: str
    summary: str
    key_properties: Mapping[str, tuple[str, ...]]
    generate: Callable[[DataParams], Dataset]
    """The dataset as served; may be cached and shared, so callers must not mutate it."""
    options: frozenset[str] = frozenset()
    """Names of the vendor's own serve() options (all integers, ``None`` = its default)."""
    truth: Callable[[DataParams], Truth] | None = None
    """A faster ground truth than deriving it from ``generate`` (same result shape)."""


@dataclass(frozen=True, kw_only=True)
class HttpVendor(Vendor):
    """A vendor served over HTTP by the shared server (``http_server.py``)."""

    make_app: Callable[[DataParams, int | None, VendorOptions], HttpApp]
    """Build the API for ``(params, page size, options)``; ``None`` page size = the
    vendor's default."""
    faults: Mapping[str, VendorFault] = field(default_factory=dict)
    """Extra fault kinds, usable in the ``--faults`` spec of this vendor only."""
    rate_limit: RateLimit | None = None
    """The vendor's documented throttle, enforced when served with ``throttle=True``."""


@dataclass(frozen=True, kw_only=True)
class JdbcVendor(Vendor):
    """A vendor read over JDBC: it starts its own database server."""

    start: Callable[[DataParams, str, int, int], XactlySandbox]
    """Start the server for ``(params, host, port, latency_ms)``."""
