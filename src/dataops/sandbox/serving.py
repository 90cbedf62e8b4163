"""``serve(vendor, …)``: start a vendor's sandbox with the options it declares.

Every sandbox takes :class:`ServeOptions`; those served over HTTP also take
:class:`HttpServeOptions` (the fault and latency layer of ``http_server.py``); a vendor
adds its own (``Vendor.options``, declared as a TypedDict beside its app). An option
that is ``None`` takes its default, as if it were not given.
"""

from __future__ import annotations

from typing import Literal, TypedDict, Unpack, overload

from dataops.sandbox.edcast.server import EdCastOptions
from dataops.sandbox.faults import FaultPlan, parse_faults
from dataops.sandbox.http_server import HttpSandbox, serve_http
from dataops.sandbox.registry import get_vendor
from dataops.sandbox.vendor import DataParams, HttpVendor, JdbcVendor, Vendor
from dataops.sandbox.xactly.server import XactlySandbox
from dataops.sandbox.zengrc.server import ZenGRCOptions


class ServeOptions(TypedDict, total=False):
    """What every sandbox takes."""

    seed: int
    """Data (and fault) seed; default 0."""
    scale: int
    """Data volume multiplier; default 1."""
    epoch: int
    """Data version: each epoch updates, adds and (from 2 on) deletes rows; default 0."""
    host: str
    """Interface to listen on; default ``127.0.0.1``."""
    port: int
    """Port to listen on; default 0, a free one."""
    latency_ms: int
    """Delay added to every data answer (JDBC: to every round trip); default 0."""


class HttpServeOptions(ServeOptions, total=False):
    """What the sandboxes served over HTTP take besides (``None``: the default)."""

    faults: str | None
    """Fault spec ``kind:rate,…`` (``faults.py``); default none."""
    page_size: int | None
    """Server page size; default the vendor's."""
    retry_after: int | None
    """``Retry-After`` of 429 faults, in seconds; default 1."""
    stall_seconds: float | None
    """Hold time of stall faults; default 30."""
    max_consecutive_faults: int | None
    """Faults in a row one exact request can get at most; default 3."""
    throttle: bool | None
    """Enforce the vendor's documented rate limit; default off."""


class ZenGRCServeOptions(HttpServeOptions, ZenGRCOptions, total=False):
    pass


class EdCastServeOptions(HttpServeOptions, EdCastOptions, total=False):
    pass


class AnyServeOptions(HttpServeOptions, ZenGRCOptions, EdCastOptions, total=False):
    """Every option of every vendor: each vendor accepts the ones it declares."""


def accepted_options(vendor: Vendor) -> frozenset[str]:
    """The names of the options ``vendor`` takes."""
    kinds = HttpServeOptions if isinstance(vendor, HttpVendor) else ServeOptions
    return kinds.__optional_keys__ | vendor.options


@overload
def serve(vendor: Literal["zengrc"], **options: Unpack[ZenGRCServeOptions]) -> HttpSandbox: ...
@overload
def serve(vendor: Literal["edcast"], **options: Unpack[EdCastServeOptions]) -> HttpSandbox: ...
@overload
def serve(vendor: Literal["adaptive"], **options: Unpack[HttpServeOptions]) -> HttpSandbox: ...
@overload
def serve(vendor: Literal["xactly"], **options: Unpack[ServeOptions]) -> XactlySandbox: ...
@overload
def serve(vendor: str, **options: Unpack[AnyServeOptions]) -> HttpSandbox | XactlySandbox: ...
def serve(vendor: str, **options: Unpack[AnyServeOptions]) -> HttpSandbox | XactlySandbox:
    """Start a sandbox in the background; use as ``with serve("zengrc", faults="429:0.1")
    as sb: …`` or call ``sb.close()``.

    Raises ValueError (unknown vendor, an option the vendor does not take, a bad fault
    spec or value) and OSError (bind, a missing JVM or H2 jar).
    """
    spec = get_vendor(vendor)
    given = {name: value for name, value in options.items() if value is not None}
    accepted = accepted_options(spec)
    if unknown := sorted(set(given) - accepted):
        raise ValueError(
            f"vendor {vendor!r} has no option {', '.join(unknown)}; "
            f"it accepts: {', '.join(sorted(accepted))}"
        )
    vendor_options: dict[str, int] = {}
    for name in sorted(spec.options & set(given)):
        value = given[name]
        if not isinstance(value, int):
            raise ValueError(f"option {name} of vendor {vendor!r} must be an integer: {value!r}")
        vendor_options[name] = value
    seed = options.get("seed", 0)
    params = DataParams(seed, options.get("scale", 1), options.get("epoch", 0))
    host, port = options.get("host", "127.0.0.1"), options.get("port", 0)
    latency_ms = options.get("latency_ms", 0)
    if latency_ms < 0:
        raise ValueError(f"latency_ms must be >= 0, got {latency_ms}")
    if isinstance(spec, JdbcVendor):
        return spec.start(params, host, port, latency_ms)
    assert isinstance(spec, HttpVendor)
    return serve_http(
        spec,
        params,
        host=host,
        port=port,
        latency_ms=latency_ms,
        plan=_fault_plan(spec, seed, options),
        page_size=options.get("page_size"),
        throttle=bool(options.get("throttle")),
        options=vendor_options,
    )


def _fault_plan(vendor: HttpVendor, seed: int, options: HttpServeOptions) -> FaultPlan:
    """The fault plan the options ask for; a knob not given keeps FaultPlan's default."""
    default = FaultPlan()
    consecutive = options.get("max_consecutive_faults")
    retry_after, stall_seconds = options.get("retry_after"), options.get("stall_seconds")
    return FaultPlan(
        rates=parse_faults(options.get("faults") or "", vendor.faults),
        seed=seed,
        max_consecutive=default.max_consecutive if consecutive is None else consecutive,
        retry_after=default.retry_after if retry_after is None else retry_after,
        stall_seconds=default.stall_seconds if stall_seconds is None else stall_seconds,
    )
