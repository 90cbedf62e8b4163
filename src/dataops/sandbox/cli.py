"""``dataops sandbox …``: run a vendor simulator, print its ground truth."""

from __future__ import annotations

import json
import signal
import sys
import threading
from datetime import date
from decimal import Decimal
from types import FrameType
from typing import Annotated

import typer

from dataops.sandbox.registry import VENDORS
from dataops.sandbox.serving import serve as start_sandbox
from dataops.sandbox.truth import records as vendor_records
from dataops.sandbox.truth import truth as vendor_truth

sandbox_app = typer.Typer(
    help="Local simulators of the vendor APIs (for the demo, tests and benchmarks).",
    no_args_is_help=True,
)

VendorArg = Annotated[str, typer.Argument(help=f"One of: {', '.join(sorted(VENDORS))}.")]
Seed = Annotated[int, typer.Option(help="Data (and fault) seed.")]
Scale = Annotated[int, typer.Option(min=1, help="Data volume multiplier.")]
Epoch = Annotated[int, typer.Option(min=0, help="Data version: each epoch updates and adds rows.")]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@sandbox_app.command()
def serve(
    vendor: VendorArg,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="0 picks a free port.")] = 0,
    seed: Seed = 0,
    scale: Scale = 1,
    epoch: Epoch = 0,
    latency_ms: Annotated[int, typer.Option(min=0, help="Delay added to every data response.")] = 0,
    faults: Annotated[
        str | None, typer.Option(help="HTTP: fault spec, e.g. 429:0.1,500:0.05,reset:0.02")
    ] = None,
    page_size: Annotated[int | None, typer.Option(min=1, help="HTTP: server page size.")] = None,
    retry_after: Annotated[
        int | None, typer.Option(min=0, help="HTTP: Retry-After of 429 faults (default 1 s).")
    ] = None,
    stall_seconds: Annotated[
        float | None, typer.Option(min=0, help="HTTP: hold time of stall faults (default 30).")
    ] = None,
    max_consecutive_faults: Annotated[
        int | None, typer.Option(min=0, help="HTTP: faults in a row per request (default 3).")
    ] = None,
    throttle: Annotated[
        bool | None,
        typer.Option(help="HTTP: enforce the vendor's rate limit (edcast: 10 requests / 10 s)."),
    ] = None,
    token_ttl_seconds: Annotated[
        int | None, typer.Option(min=1, help="edcast: OAuth token lifetime (default 3599).")
    ] = None,
    max_result_rows: Annotated[
        int | None, typer.Option(min=1, help="edcast: query result cap (default 1,000,000).")
    ] = None,
    move_after: Annotated[
        int | None,
        typer.Option(
            min=1, help="zengrc, edcast: move the data to the next epoch after N data requests."
        ),
    ] = None,
    drift_at: Annotated[
        int | None,
        typer.Option(
            min=0, help="edcast: from this epoch on, rename one users column, retype another."
        ),
    ] = None,
    epoch_events_percent: Annotated[
        int | None,
        typer.Option(min=1, help="edcast: events each epoch appends, % of epoch 0's (default 10)."),
    ] = None,
) -> None:
    """Serve VENDOR until SIGINT/SIGTERM. Line 1 of stdout: its base URL; line 2: JSON info.

    Options marked HTTP are refused for xactly (JDBC); those marked with vendors are
    refused for the others."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        sandbox = start_sandbox(
            vendor,
            host=host,
            port=port,
            seed=seed,
            scale=scale,
            epoch=epoch,
            latency_ms=latency_ms,
            faults=faults,
            page_size=page_size,
            retry_after=retry_after,
            stall_seconds=stall_seconds,
            max_consecutive_faults=max_consecutive_faults,
            throttle=throttle,
            token_ttl_seconds=token_ttl_seconds,
            max_result_rows=max_result_rows,
            move_after=move_after,
            drift_at=drift_at,
            epoch_events_percent=epoch_events_percent,
        )
    except (ValueError, OSError) as error:
        raise _fail(str(error)) from None
    with sandbox:
        print(sandbox.url, flush=True)
        info = {"vendor": vendor, "url": sandbox.url, "credentials": sandbox.credentials}
        print(json.dumps(info), flush=True)
        typer.echo(f"serving {vendor} at {sandbox.url} (Ctrl-C stops)", err=True)
        stop.wait()
    typer.echo(f"{vendor} sandbox stopped: {json.dumps(sandbox.stats.snapshot())}", err=True)


def _iso(value: object) -> str | float:
    """JSON for the typed values of some vendors' truth (dates, timestamps, decimals)."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


@sandbox_app.command()
def truth(
    vendor: VendorArg,
    seed: Seed = 0,
    scale: Scale = 1,
    epoch: Epoch = 0,
    rows: Annotated[
        bool, typer.Option("--rows", help="Add each stream's live rows with their values.")
    ] = False,
) -> None:
    """Print what VENDOR serves as JSON: per stream its live row count, key and sorted
    keys (rows deleted at the source are not listed); with --rows also `records`, the
    rows as the warehouse must hold them."""
    try:
        result = vendor_truth(vendor, seed=seed, scale=scale, epoch=epoch)
        if rows:
            for stream, found in vendor_records(
                vendor, seed=seed, scale=scale, epoch=epoch
            ).items():
                result[stream]["records"] = found
    except ValueError as error:
        raise _fail(str(error)) from None
    json.dump(result, sys.stdout, default=_iso)
    sys.stdout.write("\n")
