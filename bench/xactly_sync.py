"""Full Xactly sync over JDBC (H2 stand-in on loopback): JVM start cost, page size, and
tables read in parallel (one connection each).

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
import time, jpype
from tap_xactly.jdbc import Driver
started = time.perf_counter()
Driver({jar!r}, {driver!r}, {url!r}, {user!r}, {password!r}).connect().close()
print(time.perf_counter() - started)
"""


def run(scale: int = 40) -> list[dict[str, Any]]:
    n_records = sum(len(rows) for rows in records("xactly", scale=scale).values())
    results: list[dict[str, Any]] = []
    with (
        t.cast("XactlySandbox", serve("xactly", scale=scale)) as sandbox,
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
        probe = JVM_START.format(
            jar=sandbox.driver_jar,
            driver=sandbox.driver_class,
            url=sandbox.url,
            user=sandbox.credentials["user"],
            password=sandbox.credentials["password"],
        )
        jvm = float(
            subprocess.run(
                [sys.executable, "-c", probe], capture_output=True, text=True, check=True
            ).stdout
        )
        config = Path(tmp) / "config.json"
        config.write_text(json.dumps(base))
        about = run_measured([TAP, "--about"]).wall_s
        discover = run_measured([TAP, "--config", str(config), "--discover"]).wall_s
        for page_size in (1000, 10000):
            for parallel in (1, 4):
                config.write_text(
                    json.dumps({**base, "page_size": page_size, "max_parallel_streams": parallel})
                )
                measured = run_measured([TAP, "--config", str(config)])
                assert measured.returncode == 0, f"tap failed ({page_size=}, {parallel=})"
                results.append(
                    {
                        "page_size": page_size,
                        "tables_at_once": parallel,
                        "wall_s": round(measured.wall_s, 2),
                        "rows_per_s": round(n_records / measured.wall_s),
                        "peak_rss_mib": round(measured.peak_rss_mib, 1),
                    }
                )
    return [
        {
            "scale": scale,
            "rows": n_records,
            "jvm_start_s": round(jvm, 2),
            "about_s": round(about, 2),
            "discover_s": round(discover, 2),
            **row,
        }
        for row in results
    ]
