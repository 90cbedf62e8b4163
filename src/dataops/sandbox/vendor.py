"""What a vendor simulator provides: a deterministic data generator and a request handler.

A vendor module builds one :class:`Vendor`; ``registry.py`` lists them. The HTTP server
(``server.py``) knows nothing vendor specific: it turns each HTTP request into a
:class:`Request`, asks the vendor's :class:`HttpApp` for a :class:`Response`, and puts the
latency and fault layer around that.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

Record = dict[str, Any]
Dataset = dict[str, list[Record]]
"""Objects per stream, sorted by key, exactly as the vendor serves them."""


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


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(
        status, body, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    )


class HttpApp(Protocol):
    """A vendor's API: serves one dataset."""

    base_path: str
    """Path prefix of the API, e.g. ``/api/v2``; the sandbox URL is origin + base_path."""
    credentials: dict[str, str]

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


@dataclass(frozen=True)
class Vendor:
    name: str
    summary: str
    key_properties: Mapping[str, tuple[str, ...]]
    generate: Callable[[DataParams], Dataset]
    """The dataset as served; may be cached and shared, so callers must not mutate it."""
    make_app: Callable[..., HttpApp]
    """Build the API for ``(params, page_size, **options)``; ``None`` page size = the vendor's
    default; ``options`` are the vendor's own serve() options that were given."""
    options: frozenset[str] = frozenset()
    """Names of the vendor-specific serve() options ``make_app`` accepts as keywords."""
    faults: Mapping[str, VendorFault] = field(default_factory=dict)
    """Extra fault kinds, usable in the ``--faults`` spec of this vendor only."""
    rate_limit: RateLimit | None = None
    """The vendor's documented throttle, enforced when served with ``throttle=True``."""
    truth: Callable[[DataParams], dict[str, dict[str, Any]]] | None = None
    """A faster ground truth than deriving it from ``generate`` (same result shape)."""
    serve: Callable[..., Any] | None = None
    """A vendor not served over HTTP (xactly: JDBC) starts its own server: called as
    ``serve(params, host=…, port=…, faults=…, latency_ms=…, page_size=…)``, it returns a
    running sandbox with ``url``, ``credentials``, ``stats.snapshot()`` and ``close()``."""
