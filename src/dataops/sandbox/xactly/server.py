"""Xactly Connect served over JDBC: the generated tables in an H2 database server.

The tables of (seed, scale, epoch) are built in Python and loaded by H2 itself (``CREATE
TABLE … AS SELECT * FROM CSVREAD(…)`` run by ``org.h2.tools.RunScript``, one JVM start,
about a second at scale 1). :class:`XactlySandbox` copies the built file into a fresh directory
and runs ``org.h2.tools.Server -tcp`` on a free loopback port in a child JVM, so the tap
(another process) connects with ``jdbc:h2:tcp://127.0.0.1:PORT/xactly`` through the H2
driver jar (``/usr/share/java/h2.jar``, ``libh2-java``; override with ``$H2_JAR``;
``java`` from ``$JAVA_HOME`` or ``PATH``), behind a :class:`LatencyProxy` when
``latency_ms`` is set.
"""

# ruff: noqa: S608 - this module builds SQL from its own constants only
from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import tempfile
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

from dataops.sandbox.latency_proxy import LatencyProxy
from dataops.sandbox.processes import ChildProcess, java
from dataops.sandbox.running import RunningSandbox
from dataops.sandbox.vendor import DataParams
from dataops.sandbox.xactly.data import generate
from dataops.sandbox.xactly.spec import (
    CREDENTIALS,
    DATABASE,
    DRIVER_CLASS,
    KEY_PROPERTIES,
    SCHEMA,
    columns,
)

DEFAULT_JAR = "/usr/share/java/h2.jar"


def h2_jar() -> str:
    """The H2 jar (``$H2_JAR``, else Debian's); OSError if it is not there."""
    jar = os.environ.get("H2_JAR", DEFAULT_JAR)
    if not Path(jar).is_file():
        raise OSError(f"H2 driver jar not found at {jar} (apt-get install libh2-java, or $H2_JAR)")
    return jar


def _csv_field(value: Any) -> str:
    """H2's CSVREAD: an unquoted empty field is NULL, a quoted one a string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | Decimal):
        return str(value)
    return '"' + str(value).replace('"', '""') + '"'


def build(params: DataParams, directory: Path) -> Path:
    """Write the database ``<directory>/xactly.mv.db``; returns the file."""
    directory.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="xactly-csv-"))
    try:
        # The database stays open while the server runs, as a vendor's does: without
        # this H2 closes it when its last session ends (after `abort_sessions`, say),
        # and a reconnect racing that close finds the file "already in use".
        script = ["SET DB_CLOSE_DELAY -1;", f"CREATE SCHEMA {SCHEMA};"]
        for stream, rows in generate(params).items():
            cols = columns(stream)
            path = work / f"{stream}.csv"
            lines = [",".join(f'"{name}"' for name, _ in cols)]
            lines += [",".join(_csv_field(row[name]) for name, _ in cols) for row in rows]
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            definition = ", ".join(f"{name} {sql_type}" for name, sql_type in cols)
            key = ", ".join(KEY_PROPERTIES[stream])
            table = f"{SCHEMA}.{stream.upper()}"
            script.append(
                f"CREATE TABLE {table} ({definition}, PRIMARY KEY ({key})) AS SELECT * FROM "
                f"CSVREAD('{path}', NULL, 'charset=UTF-8');"
            )
            pk = KEY_PROPERTIES[stream][0]
            script.append(
                f"CREATE INDEX {SCHEMA}.{stream.upper()}_MODIFIED ON {table} (MODIFIED_DATE, {pk});"
            )
        (work / "build.sql").write_text("\n".join(script) + "\n", encoding="utf-8")
        target = directory / DATABASE
        command = [
            java(),
            "-cp",
            h2_jar(),
            "org.h2.tools.RunScript",
            "-url",
            f"jdbc:h2:file:{target}",
            "-user",
            CREDENTIALS["user"],
            "-password",
            CREDENTIALS["password"],
            "-script",
            str(work / "build.sql"),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise OSError(f"building the xactly H2 database failed: {done.stderr or done.stdout}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return directory / f"{DATABASE}.mv.db"


_cache_lock = threading.Lock()
_cache: dict[DataParams, Path] = {}
_cache_root: list[Path] = []


def _cleanup() -> None:
    for root in _cache_root:
        shutil.rmtree(root, ignore_errors=True)


def built(params: DataParams) -> Path:
    """The database file for ``params``, built once per process (do not modify it)."""
    with _cache_lock:
        if params not in _cache:
            if not _cache_root:
                _cache_root.append(Path(tempfile.mkdtemp(prefix="xactly-h2-")))
                atexit.register(_cleanup)
            name = f"s{params.seed}-x{params.scale}-e{params.epoch}"
            _cache[params] = build(params, _cache_root[0] / name)
        return _cache[params]


class SessionStats:
    """Counters of the session-abort fault."""

    def __init__(self) -> None:
        self.sessions_aborted = 0

    def snapshot(self) -> dict[str, Any]:
        return {"sessions_aborted": self.sessions_aborted}


SERVER_LINE = re.compile(r"TCP server running at tcp://[^:]+:(\d+)")


class XactlySandbox(RunningSandbox):
    """A running H2 TCP server holding one generated database (``VENDOR.start``); its
    data never move on to the next epoch while served (xactly has no ``move_after``)."""

    driver_class = DRIVER_CLASS

    def __init__(
        self, params: DataParams, host: str = "127.0.0.1", port: int = 0, latency_ms: int = 0
    ) -> None:
        self.vendor = "xactly"
        self._proxy: LatencyProxy | None = None
        self.params = params
        self.driver_jar = h2_jar()
        self.directory = Path(tempfile.mkdtemp(prefix="xactly-serve-"))
        shutil.copyfile(built(params), self.directory / f"{DATABASE}.mv.db")
        command = [java(), "-cp", self.driver_jar, "org.h2.tools.Server", "-tcp"]
        command += ["-tcpPort", str(port), "-baseDir", str(self.directory), "-ifExists"]
        if host not in ("127.0.0.1", "localhost", "::1"):
            command.append("-tcpAllowOthers")
        self._process = ChildProcess(command)
        line = self._process.first_line()
        match = SERVER_LINE.search(line)
        if match is None:
            self.close()
            raise OSError(f"H2 server did not start: {line.strip()}")
        self.host, self.port = host, int(match.group(1))
        self._server_port = self.port
        if latency_ms:
            self._proxy = LatencyProxy(host, self.port, latency_ms / 1000)
            self.port = self._proxy.port
        self.url = f"jdbc:h2:tcp://{host}:{self.port}/{DATABASE}"
        """The JDBC URL; tables are ``XACTLY.XC_…``."""
        self.origin = self.url
        self.credentials = dict(CREDENTIALS)
        self.stats: SessionStats = SessionStats()
        atexit.register(self.close)  # no H2 server outlives the process that started it

    def abort_sessions(self) -> int:
        """Fault: abort every open session (their next call fails); returns how many."""
        sql = (
            "SELECT COUNT(ABORT_SESSION(SESSION_ID)) FROM INFORMATION_SCHEMA.SESSIONS "
            "WHERE SESSION_ID <> SESSION_ID()"
        )
        direct = f"jdbc:h2:tcp://{self.host}:{self._server_port}/{DATABASE}"
        command = [java(), "-cp", self.driver_jar, "org.h2.tools.Shell", "-url", direct]
        command += ["-user", CREDENTIALS["user"], "-password", CREDENTIALS["password"]]
        command += ["-sql", sql]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        numbers = re.findall(r"^\s*(\d+)\s*$", done.stdout, re.MULTILINE)
        aborted = int(numbers[0]) if numbers else 0
        self.stats.sessions_aborted += aborted
        return aborted

    def close(self) -> None:
        atexit.unregister(self.close)
        if self._proxy is not None:
            self._proxy.close()
        self._process.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
