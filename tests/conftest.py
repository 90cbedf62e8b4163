"""Fixtures for platform tests: an isolated Meltano system database and warehouse."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import sqlite3
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from dataops import project, secrets, status
from dataops.check import wiring
from dataops.check.wiring import secret_template_keys
from dataops.render import KubernetesTree


@pytest.fixture
def isolated(tmp_path: Path) -> dict[str, str]:
    """Env giving `meltano` commands their own system directory and database."""
    return project.isolated_env(tmp_path)


@pytest.fixture
def meltano_env(tmp_path: Path) -> dict[str, str]:
    """Env for `meltano` runs of one test: `ci` environment, own system directory
    (run files, state database) and warehouse, so tests can run in parallel."""
    return {
        **project.isolated_env(tmp_path),
        "MELTANO_ENVIRONMENT": "ci",
        "TARGET_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
    }


POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432"


@pytest.fixture
def postgres_database() -> Iterator[Callable[[str], str]]:
    """Factory of PostgreSQL databases on the local server, each new and dropped after
    the test; returns the database's URL."""
    created: list[str] = []

    def create(purpose: str) -> str:
        name = f"dataops_{purpose}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as con:
            con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        return f"{POSTGRES_SERVER}/{name}"

    yield create
    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as con:
        for name in created:
            con.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def meltano_database_as_in_the_cluster(
    postgres_database: Callable[[str], str],
) -> Iterator[tuple[str, str]]:
    """Meltano's system database with deploy/terraform/database's privileges: the sync's
    role owns it and creates its tables; the scheduler's (where the watchdog runs) may
    connect, read and insert into the sync's tables, and create nothing. Their URLs."""
    url = postgres_database("watchdog")
    database = url.rsplit("/", 1)[1]
    sync, scheduler = f"{database}_sync", f"{database}_scheduler"
    statements = [
        "CREATE ROLE {sync} LOGIN",
        "CREATE ROLE {scheduler} LOGIN",
        "ALTER DATABASE {database} OWNER TO {sync}",
        "REVOKE ALL ON DATABASE {database} FROM PUBLIC",
        "GRANT CONNECT ON DATABASE {database} TO {scheduler}",
    ]
    in_database = [
        "ALTER SCHEMA public OWNER TO {sync}",
        "REVOKE ALL ON SCHEMA public FROM PUBLIC",
        "GRANT USAGE ON SCHEMA public TO {scheduler}",
        "ALTER DEFAULT PRIVILEGES FOR ROLE {sync} IN SCHEMA public "
        "GRANT SELECT, INSERT ON TABLES TO {scheduler}",
    ]
    names = {
        "sync": sql.Identifier(sync),
        "scheduler": sql.Identifier(scheduler),
        "database": sql.Identifier(database),
    }
    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as con:
        for statement in statements:
            con.execute(sql.SQL(statement).format(**names))
    with psycopg.connect(url, autocommit=True) as con:
        for statement in in_database:
            con.execute(sql.SQL(statement).format(**names))
    server = POSTGRES_SERVER.replace("postgresql://postgres@", "postgresql+psycopg://{}@")
    yield server.format(sync) + f"/{database}", server.format(scheduler) + f"/{database}"
    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as con:
        con.execute(sql.SQL("DROP DATABASE {database} WITH (FORCE)").format(**names))
        for role in ("sync", "scheduler"):
            con.execute(sql.SQL("DROP ROLE {}").format(names[role]))


@pytest.fixture
def stored_bookmarks() -> Callable[[dict[str, str]], list[dict]]:
    """Reads, for a test's env, the bookmarks of every state (partial and completed)
    its Meltano SQLite system database holds now: what the loader passed on so far."""
    return _stored_bookmarks


def _stored_bookmarks(env: dict[str, str]) -> list[dict]:
    database = env["MELTANO_DATABASE_URI"].removeprefix("sqlite:///")
    try:
        with contextlib.closing(
            sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1)
        ) as connection:
            stored = connection.execute(
                "SELECT partial_state, completed_state FROM state"
            ).fetchall()
    except sqlite3.OperationalError:
        return []  # not created yet, or busy
    return [
        json.loads(text or "{}").get("singer_state", {}).get("bookmarks", {})
        for text in itertools.chain.from_iterable(stored)
    ]


@pytest.fixture
def records_sent() -> Callable[[dict[str, str], str, str], Counter[str]]:
    """Reads what the newest `meltano run EXTRACTOR LOADER` of a test's env sent per
    stream, as the run ledger recorded it (what `dataops status` shows)."""

    def read(env: dict[str, str], extractor: str, loader: str) -> Counter[str]:
        state_id = f"{env['MELTANO_ENVIRONMENT']}:{extractor}-to-{loader}"
        run = status.newest_run(env["MELTANO_DATABASE_URI"], state_id)
        assert run is not None, f"no run of {state_id} recorded"
        assert run.streams is not None, f"the ledger holds no counts for {state_id}"
        return Counter({name: counts.records_sent for name, counts in run.streams.items()})

    return read


class Webhook(BaseHTTPRequestHandler):
    """Records every POST it receives on the server's `received` list."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.headers["Content-Type"], json.loads(body)))  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[tuple[str, Any]]]]:
    """A local alert webhook: its URL and the (content type, JSON body) it received."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/alert", server.received  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def env_value(key: str, environment: str) -> str:
    """A distinct value for `key`; for a database URL, one its workload can log in with;
    for Airflow's keys, one of the shape Airflow takes."""
    if key == wiring.FERNET_KEY:
        return base64.urlsafe_b64encode(key.encode().ljust(secrets.FERNET_KEY_BYTES, b"-")).decode()
    if key in secrets.SIGNING_KEYS:
        return f"value-of-{key.lower()}".ljust(secrets.SIGNING_KEY_BYTES, "-")
    if key not in secrets.DATABASE_LOGINS:
        return f"value-of-{key.lower()}"
    workload, database = secrets.DATABASE_LOGINS[key]
    suffix = "" if environment == "production" else f"-{environment}"
    return f"postgresql+psycopg://{workload}{suffix}%40p.iam@127.0.0.1:5432/{database}"


@pytest.fixture
def complete_env_file(tmp_path: Path) -> Callable[..., Path]:
    """Writes what `dataops secrets apply ENVIRONMENT` takes: every key of the
    environment's secret templates with a distinct value (`env_value`), but `leave_out`,
    then `extra` lines."""

    def write(
        environment: str = "production", leave_out: str | None = None, extra: str = ""
    ) -> Path:
        templates = secret_template_keys(KubernetesTree(), environment)
        keys = sorted(k for keys in templates.values() for k in keys if k != leave_out)
        path = tmp_path / f"{environment}.env"
        path.write_text("".join(f"{k}={env_value(k, environment)}\n" for k in keys) + extra)
        return path

    return write
