"""Full Xactly sync over JDBC (H2 stand-in): JVM start cost, page size, and tables read
in parallel (one connection each), on the loopback and behind 50 ms of latency per
round trip (the sandbox's relay: what a WAN to Xactly's API adds).

`jvm_start_s` is the JVM alone (JPype `startJVM` + loading the driver); `discover_s`
is the tap's `--discover` (interpreter, JVM, one metadata query) against `about_s`,
the tap without a JVM. Sync rows are the whole tap, its output sent to /dev/null.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import typing as t
from pathlib import Path
from typing import Any

from bench.measure import run_measured
from dataops.sandbox import records, serve
from dataops.sandbox.xactly import XactlySandbox

TAP = str(Path(sys.executable).with_name("tap-xactly"))
JVM_START = """
import time
from tap_xactly.jdbc import Driver
started = time.perf_counter()
Driver({jar!r}, {driver!r}, {url!r}, {user!r}, {password!r}).connect().close()
print(time.perf_counter() - started)
"""


def run(scale: int = 40) -> list[dict[str, Any]]:
    n_records = sum(len(rows) for rows in records("xactly", scale=scale).values())
    results: list[dict[str, Any]] = []
    for latency_ms in (0, 50):
        with (
            t.cast("XactlySandbox", serve("xactly", scale=scale, latency_ms=latency_ms)) as sandbox,
            tempfile.TemporaryDirectory() as tmp,
        ):
            base = {
                **sandbox.credentials,
                "client_id": "bench",
                "consumer": "bench",
                "driver_jar": sandbox.driver_jar,
                "driver_class": sandbox.driver_class,
                "jdbc_url": sandbox.url,
            }
            config = Path(tmp) / "config.json"
            config.write_text(json.dumps(base))
            startup = {
                "jvm_start_s": round(jvm_start(sandbox), 2),
                "about_s": round(run_measured([TAP, "--about"]).wall_s, 2),
                "discover_s": round(
                    run_measured([TAP, "--config", str(config), "--discover"]).wall_s, 2
                ),
            }
            for page_size in (1000, 10000):
                for parallel in (1, 4):
                    settings = {"page_size": page_size, "max_parallel_streams": parallel}
                    config.write_text(json.dumps({**base, **settings}))
                    measured = run_measured([TAP, "--config", str(config)])
                    assert measured.returncode == 0, f"tap failed ({latency_ms=}, {settings})"
                    results.append(
                        {
                            "scale": scale,
                            "rows": n_records,
                            "latency_ms": latency_ms,
                            **startup,
                            "page_size": page_size,
                            "tables_at_once": parallel,
                            "wall_s": round(measured.wall_s, 2),
                            "rows_per_s": round(n_records / measured.wall_s),
                            "peak_rss_mib": round(measured.peak_rss_mib, 1),
                        }
                    )
    return results


def jvm_start(sandbox: XactlySandbox) -> float:
    """Seconds for a fresh process to start the JVM, load the driver and log in."""
    probe = JVM_START.format(
        jar=sandbox.driver_jar,
        driver=sandbox.driver_class,
        url=sandbox.url,
        user=sandbox.credentials["user"],
        password=sandbox.credentials["password"],
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return float(done.stdout)
