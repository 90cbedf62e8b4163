"""Loopback HTTP server for the HTTP vendor simulators, with latency and fault injection.

Every request except ``GET /_sandbox/health`` is a data request: it waits ``latency_ms``,
may be throttled (429, when serving with ``throttle`` a vendor that declares a rate limit),
then may get a fault from the seeded :class:`FaultPlan`, else the vendor's answer.
``http.server`` is used (not a framework) for socket-level control of resets, stalls
and truncated bodies.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import socket
import struct
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dataops.sandbox.faults import FaultInjector, FaultPlan
from dataops.sandbox.running import RunningSandbox
from dataops.sandbox.vendor import (
    DataParams,
    HttpApp,
    HttpVendor,
    RateLimit,
    Request,
    Response,
    VendorFault,
    VendorOptions,
    json_response,
)

logger = logging.getLogger(__name__)

HEALTH_PATH = "/_sandbox/health"
ERROR_FAULTS = {"429": 429, "429-bare": 429, "500": 500, "502": 502, "503": 503}
GATEWAY_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    b"<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n"
)


class Stats:
    """Counters of one sandbox, safe to read while it serves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        """Data requests received (health checks excluded)."""
        self.faults: Counter[str] = Counter()
        """Faults injected, by kind."""
        self.statuses: Counter[int] = Counter()
        """HTTP statuses sent for data requests (resets and stalls send none)."""

    def count(
        self, *, request: bool = False, fault: str | None = None, status: int | None = None
    ) -> None:
        with self._lock:
            self.requests += request
            if fault:
                self.faults[fault] += 1
            if status is not None:
                self.statuses[status] += 1

    @property
    def faults_total(self) -> int:
        return sum(self.faults.values())

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self.requests,
                "faults": dict(self.faults),
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            }


class Throttle:
    """A rolling-window rate limit over all data requests; refused requests take no slot."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._admitted: deque[float] = deque()

    def retry_after(self) -> int | None:
        """Admit a request (None) or say in how many whole seconds a slot frees (>= 1)."""
        now = time.monotonic()
        with self._lock:
            while self._admitted and self._admitted[0] <= now - self.limit.window_seconds:
                self._admitted.popleft()
            if len(self._admitted) < self.limit.requests:
                self._admitted.append(now)
                return None
            wait = self._admitted[0] + self.limit.window_seconds - now
            return max(1, math.ceil(wait))


class SandboxHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        vendor: str,
        app: HttpApp,
        plan: FaultPlan,
        latency_ms: int,
        vendor_faults: Mapping[str, VendorFault] | None = None,
        throttle: RateLimit | None = None,
    ) -> None:
        super().__init__(address, SandboxRequestHandler)
        self.vendor = vendor
        self.app = app
        self.plan = plan
        self.injector = FaultInjector(plan)
        self.vendor_faults = dict(vendor_faults or {})
        self.throttle = Throttle(throttle) if throttle else None
        self.latency = latency_ms / 1000
        self.stats = Stats()
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):  # client went away, or we reset it
            return
        logger.exception("sandbox request from %s failed", client_address)

    def stop(self) -> None:
        """Stop accepting, wake every pending handler (stalls, keep-alive reads), join them."""
        self.stopping.set()
        self.shutdown()
        with self.connections_lock:
            pending = list(self.connections)
        for connection in pending:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self.server_close()


class SandboxRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real clients use it
    server: SandboxHttpServer

    def setup(self) -> None:
        super().setup()
        # Headers and body are two writes: without this, Nagle + delayed ACK add ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.connections.add(self.connection)
            if self.server.stopping.is_set():
                self.connection.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.connections_lock:
                self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _dispatch(self) -> None:
        server = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlsplit(self.path)
        if url.path == HEALTH_PATH:
            self._send(json_response(200, {"status": "ok", "vendor": server.vendor}), count=False)
            return
        server.stats.count(request=True)
        if server.latency and server.stopping.wait(server.latency):
            self.close_connection = True
            return
        if server.throttle and (wait := server.throttle.retry_after()) is not None:
            limit = server.throttle.limit
            message = f"rate limit: {limit.requests} requests per {limit.window_seconds:g} s"
            payload = {"error": {"code": 429, "message": message}}
            self._send(json_response(429, payload, {"Retry-After": str(wait)}))
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = Request(self.command, url.path, parse_qs(url.query), headers, body)
        key = f"{self.command} {self.path}"
        if body:
            key += " " + hashlib.blake2b(body, digest_size=8).hexdigest()
        excluded = {k for k, f in server.vendor_faults.items() if not f.applies(request)}
        fault = server.injector.next_fault(key, excluded)
        server.stats.count(fault=fault)
        if fault in server.vendor_faults:
            self._send(server.vendor_faults[fault].response)
        elif fault == "reset":
            self._reset()
        elif fault == "stall":
            server.stopping.wait(server.plan.stall_seconds)
            self.close_connection = True
        elif fault in ERROR_FAULTS:
            status = ERROR_FAULTS[fault]
            retry = {"Retry-After": str(server.plan.retry_after)} if fault == "429" else {}
            message = f"sandbox fault {fault}"
            self._send(
                json_response(status, {"error": {"code": status, "message": message}}, retry)
            )
        elif fault == "html":
            self._send(Response(200, GATEWAY_PAGE, {"Content-Type": "text/html; charset=utf-8"}))
        else:
            try:
                response = server.app.handle(request)
            except Exception:
                logger.exception("sandbox %s failed on %s", server.vendor, self.path)
                response = json_response(500, {"error": {"code": 500, "message": "sandbox bug"}})
            self._send(response, truncate=fault == "truncate")

    def _send(self, response: Response, *, truncate: bool = False, count: bool = True) -> None:
        """Send a response; ``truncate`` sends half the body under the full length, then closes.

        A vendor's own ``Date`` (a simulated clock) replaces the machine's."""
        self.log_request(response.status)
        self.send_response_only(response.status)
        self.send_header("Server", self.version_string())
        if not any(name.lower() == "date" for name in response.headers):
            self.send_header("Date", self.date_time_string())
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body[: len(response.body) // 2] if truncate else response.body)
        self.close_connection = self.close_connection or truncate
        if count:
            self.server.stats.count(status=response.status)

    def _reset(self) -> None:
        """Close with SO_LINGER 0: the kernel answers with a TCP RST instead of a FIN."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()


class HttpSandbox(RunningSandbox):
    """A running HTTP vendor simulator (see :func:`serve_http`)."""

    def __init__(self, vendor: str, host: str, server: SandboxHttpServer) -> None:
        self.vendor = vendor
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self.host, self.port = host, server.server_address[1]
        self.origin = f"http://{self.host}:{self.port}"
        """Scheme + host + port: join host-relative links to this."""
        self.url = self.origin + server.app.base_path
        """The vendor's base URL, e.g. ``http://127.0.0.1:PORT/api/v2`` for zengrc."""
        self.health_url = self.origin + HEALTH_PATH
        self.credentials = dict(server.app.credentials)
        self.stats: Stats = server.stats

    @property
    def moved(self) -> bool:
        return self._server.app.moved

    def close(self) -> None:
        """Stop serving; pending stalled requests are dropped, not waited for."""
        if not self._server.stopping.is_set():
            self._server.stop()
            self._thread.join()


def serve_http(
    vendor: HttpVendor,
    params: DataParams,
    *,
    host: str,
    port: int,
    latency_ms: int,
    plan: FaultPlan,
    page_size: int | None,
    throttle: bool,
    options: VendorOptions,
) -> HttpSandbox:
    """Start ``vendor``'s API in background threads; ``port=0`` picks a free port."""
    if throttle and vendor.rate_limit is None:
        raise ValueError(f"vendor {vendor.name!r} has no rate limit to throttle with")
    app = vendor.make_app(params, page_size, options)
    server = SandboxHttpServer(
        (host, port),
        vendor.name,
        app,
        plan,
        latency_ms,
        vendor.faults,
        vendor.rate_limit if throttle else None,
    )
    return HttpSandbox(vendor.name, host, server)
