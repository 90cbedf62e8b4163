"""The run ledger: what every sync did, per stream, beside Meltano's own run records.

Meltano keeps each run in its system database's `runs` table — state id, status,
start, end, heartbeat, the error, the state after the run — but not what moved. This
module adds that. Meltano loads `logging.yaml` from the project root for every command
it runs, so every sync is seen however it was started (the demo, a DAG, a manual
`meltano run`): `LedgerHandler`, a logging handler installed there, reads the Singer
SDK metrics Meltano parses from the plugins' output (`structured-logging` is declared
on every plugin) and keeps, per run and stream, the records the tap sent, the rows
the loader loaded (their `record_count` metrics) and the stream's sync time; the
schema each stream was read with and what changed in it (the taps' `dataops_schema`
events, see tapkit.schemas); and per run its last error line (credentials in it
masked). It writes them to tables of its own in the same database — SQLite locally,
PostgreSQL in the cluster — with a schema version, every few seconds while the run goes
on and when the process ends.

Writing never fails a sync: an error is reported once on stderr and the run keeps no
counts, which `dataops status` shows as unknown rather than as zero.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

SCHEMA_VERSION = 1
"""Raised only when a reader of the older version would misread the tables: a table
added (as the schemas table was) leaves it at 1, so an image rolled back still writes."""
FLUSH_SECONDS = 5.0
"""The longest a tally waits in memory while its run goes on."""
ERROR_CHARS = 500
SCHEMA_EVENT = "dataops_schema"
"""The taps' per-stream schema report (tapkit.schemas.EVENT)."""

METADATA = sa.MetaData()
schema_table = sa.Table(
    "dataops_ledger_schema", METADATA, sa.Column("version", sa.Integer, nullable=False)
)
runs_table = sa.Table(
    "dataops_ledger_runs",
    METADATA,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("state_id", sa.String(900), nullable=False),
    sa.Column("environment", sa.String(200)),
    sa.Column("last_error", sa.Text),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("complete", sa.Boolean, nullable=False, default=False),
    # False while the run goes on, and for good when its process died or a write
    # failed: its counts are partial (`dataops status` shows them as not recorded).
)
streams_table = sa.Table(
    "dataops_ledger_streams",
    METADATA,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("stream", sa.String(500), primary_key=True),
    sa.Column("records_sent", sa.BigInteger, nullable=False),
    sa.Column("rows_loaded", sa.BigInteger, nullable=False),
    sa.Column("sync_seconds", sa.Float),
)
schemas_table = sa.Table(
    "dataops_ledger_schemas",
    METADATA,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("stream", sa.String(500), primary_key=True),
    sa.Column("policy", sa.String(20)),
    sa.Column("description", sa.Text, nullable=False),
    # JSON {"key": [...], "columns": {name: type}} as the tap read the stream
    sa.Column("changes", sa.Text, nullable=False),
    # JSON list of what changed since the stream's last sync ("retyped x: integer → string")
)

alerts_table = sa.Table(
    "dataops_alerts",
    METADATA,
    sa.Column("incident", sa.String(1000), primary_key=True),
    sa.Column("schedule", sa.String(500), nullable=False),
    sa.Column("kind", sa.String(50), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
)
"""Incidents `dataops watchdog` announced (one row each: it never announces one twice)."""

_SECRETS = [
    # A URL's password (up to the last @ before the host: a password may hold @).
    (re.compile(r"(://[^:/@\s]+:)\S*@"), r"\1***@"),
    # key=value, key: value, "key": "value" for any key naming a credential
    # (access_token, client_secret, api_key, TAP_X_PASSWORD, …).
    (
        re.compile(
            r"(?i)([\w-]*(?:password|passwd|secret|token|api[_-]?key|private[_-]?key)[\w-]*"
            r"[\"']?\s*[=:]\s*[\"']?)[^\"'\s&,;}]+"
        ),
        r"\1***",
    ),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 ***"),
]


def masked(text: str) -> str:
    """`text` with what looks like a credential replaced by `***`, cut to one line."""
    line = text.strip().splitlines()[-1] if text.strip() else ""
    for pattern, replacement in _SECRETS:
        line = pattern.sub(replacement, line)
    return line[:ERROR_CHARS]


def run_key(run_id: str) -> str:
    """Meltano's run id as its `runs` table stores it (hex, no dashes)."""
    return run_id.replace("-", "").lower()


CLOSING_LINES = frozenset({"Config validation failed"})
"""What the SDK logs after the errors that say which setting is wrong: the error kept
is the one before it."""


@dataclass
class RunTally:
    """What one run did so far."""

    state_id: str
    environment: str | None
    sent: Counter[str] = field(default_factory=Counter)
    loaded: Counter[str] = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=dict)
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per stream, the tap's schema report (description, changes, policy)."""
    plugin_error: str | None = None
    """The last error line a plugin printed."""
    meltano_error: str | None = None
    """The last error line of Meltano itself (used when no plugin said more)."""
    complete: bool = False
    """Written by the process's last flush: the counts are whole."""

    def take(self, event: dict[str, Any]) -> bool:
        """Count one log event of this run; whether it changed the tally."""
        report = event.get(SCHEMA_EVENT)
        if isinstance(report, dict) and report.get("stream") and _role(event) == "extractor":
            self.schemas[str(report["stream"])] = report
            return True
        metric = event.get("metric_info")
        if isinstance(metric, dict):
            stream = (metric.get("tags") or {}).get("stream")
            name, value = metric.get("metric"), metric.get("value")
            role = _role(event)
            if not stream or role is None or not isinstance(value, int | float):
                return False
            if name == "record_count":
                (self.sent if role == "extractor" else self.loaded)[stream] += int(value)
                return True
            if name == "sync_duration" and role == "extractor":
                self.seconds[stream] = self.seconds.get(stream, 0.0) + float(value)
                return True
            return False
        if str(event.get("level", "")).lower() in {"error", "critical"}:
            line = masked(str(event.get("event", "")))
            if not line or (line in CLOSING_LINES and self.plugin_error):
                return False
            if event.get("name") in {None, "meltano"}:
                self.meltano_error = line
            else:
                self.plugin_error = line
            return True
        return False

    @property
    def last_error(self) -> str | None:
        return self.plugin_error or self.meltano_error


class LedgerHandler(logging.Handler):
    """Tallies each run's metrics from Meltano's log events and writes them to the
    ledger tables (see the module docstring). Installed by the project's logging.yaml."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self._runs: dict[str, RunTally] = {}
        self._dirty: set[str] = set()
        self._lock = threading.RLock()
        self._flushed_at = time.monotonic()
        self._engine: sa.Engine | None = None
        self._broken = False
        atexit.register(self.finish)

    def emit(self, record: logging.LogRecord) -> None:
        event = record.msg
        if not isinstance(event, dict) or not event.get("run_id"):
            return
        try:
            with self._lock:
                key = run_key(str(event["run_id"]))
                tally = self._runs.setdefault(key, RunTally("", _environment()))
                state_id = event.get("job_name") or event.get("state_id")
                if state_id and not tally.state_id:
                    tally.state_id = str(state_id)
                if tally.take(event):
                    self._dirty.add(key)
                due = time.monotonic() - self._flushed_at > FLUSH_SECONDS
            if due:
                self.flush()
        except Exception as exc:  # a sync never fails because of its ledger
            self._give_up(exc)

    def finish(self) -> None:
        """The process ends: write every run once more, marked complete."""
        with self._lock:
            for key, tally in self._runs.items():
                tally.complete = True
                self._dirty.add(key)
        self.flush()

    def flush(self) -> None:
        """Write every run that changed since the last write (never raises)."""
        with self._lock:
            if not self._dirty or self._broken:
                return
            dirty, self._dirty = self._dirty, set()
            self._flushed_at = time.monotonic()
            tallies = {key: self._runs[key] for key in dirty}
            try:
                write(self._connect(), tallies)
            except Exception as exc:  # reported, never raised
                self._give_up(exc)

    def _give_up(self, exc: Exception) -> None:
        """Stop writing (what was written stays incomplete); say so once."""
        if not self._broken:
            self._broken = True
            sys.stderr.write(
                f"dataops ledger: this run's counts could not be written "
                f"({type(exc).__name__}); `dataops status` shows them as not recorded\n"
            )

    def close(self) -> None:
        self.finish()
        super().close()

    def _connect(self) -> sa.Engine:
        if self._engine is None:
            self._engine = sa.create_engine(system_database_uri(), pool_pre_ping=True)
        return self._engine


def write(engine: sa.Engine, tallies: dict[str, RunTally]) -> None:
    """Replace the ledger rows of these runs with their tallies (one transaction)."""
    now = datetime.now(UTC)
    with engine.begin() as connection:
        ensure_schema(connection)
        keys = list(tallies)
        for table in (streams_table, schemas_table):
            connection.execute(table.delete().where(table.c.run_id.in_(keys)))
        connection.execute(runs_table.delete().where(runs_table.c.run_id.in_(keys)))
        connection.execute(
            runs_table.insert(),
            [
                {
                    "run_id": key,
                    "state_id": tally.state_id,
                    "environment": tally.environment,
                    "last_error": tally.last_error,
                    "updated_at": now,
                    "complete": tally.complete,
                }
                for key, tally in tallies.items()
            ],
        )
        rows = [
            {
                "run_id": key,
                "stream": stream,
                "records_sent": tally.sent.get(stream, 0),
                "rows_loaded": tally.loaded.get(stream, 0),
                "sync_seconds": tally.seconds.get(stream),
            }
            for key, tally in tallies.items()
            for stream in sorted({*tally.sent, *tally.loaded, *tally.seconds})
        ]
        if rows:
            connection.execute(streams_table.insert(), rows)
        schemas = [
            {
                "run_id": key,
                "stream": stream,
                "policy": report.get("policy"),
                "description": json.dumps(report.get("schema") or {}),
                "changes": json.dumps(list(report.get("changes") or [])),
            }
            for key, tally in tallies.items()
            for stream, report in sorted(tally.schemas.items())
        ]
        if schemas:
            connection.execute(schemas_table.insert(), schemas)


def ensure_schema(connection: sa.Connection) -> None:
    """Create the ledger's tables if missing; refuse a database written by a newer
    ledger (its tables may mean something else)."""
    METADATA.create_all(connection, checkfirst=True)
    found = connection.execute(sa.select(schema_table.c.version)).scalar()
    if found is None:
        connection.execute(schema_table.insert(), [{"version": SCHEMA_VERSION}])
    elif found > SCHEMA_VERSION:
        msg = f"the ledger tables are version {found}; this dataops knows {SCHEMA_VERSION}"
        raise RuntimeError(msg)


def system_database_uri() -> str:
    """Meltano's system database, as Meltano itself resolves it (MELTANO_DATABASE_URI,
    else the project's `.meltano/meltano.db`)."""
    from meltano.core.project import Project

    return str(Project.find().settings.get("database_uri"))


def _role(event: dict[str, Any]) -> str | None:
    """extractor or loader: how `meltano elt` (cmd_type) and `meltano run` (producer,
    consumer; a mapper is both) tell the plugin a line came from."""
    kind = event.get("cmd_type")
    if kind in {"extractor", "loader"}:
        return str(kind)
    producer, consumer = bool(event.get("producer")), bool(event.get("consumer"))
    if producer != consumer:
        return "extractor" if producer else "loader"
    return None


def _environment() -> str | None:
    return os.environ.get("MELTANO_ENVIRONMENT") or None


def meltano_console() -> logging.Handler:
    """Meltano's own console handler, as it would build it without a logging.yaml:
    format and level from `--log-format`/`--log-level`, or MELTANO_CLI_LOG_FORMAT /
    MELTANO_CLI_LOG_LEVEL (a logging.yaml replaces Meltano's default config whole).
    The root logger takes the same level."""
    from meltano.core.logging import LogFormat
    from meltano.core.logging.utils import default_config
    from meltano.core.project_settings_service import ProjectSettingsService

    overrides = ProjectSettingsService.config_override
    log_format = LogFormat(
        overrides.get("cli.log_format") or os.environ.get("MELTANO_CLI_LOG_FORMAT") or "colored"
    )
    level = str(
        overrides.get("cli.log_level") or os.environ.get("MELTANO_CLI_LOG_LEVEL") or "info"
    ).upper()
    config = default_config(level, log_format=log_format)
    spec = dict(config["formatters"][log_format])
    factory = spec.pop("()")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(factory(**spec))
    handler.setLevel(config["handlers"]["console"]["level"])
    logging.getLogger().setLevel(config["loggers"][""]["level"])
    return handler
