"""`dataops status`: every schedule of the active environment, fresh or stale, with what
its runs did.

Runs come from Meltano's own `runs` table (state id = the schedule's name for
`meltano schedule run`; status, times, error, the state after the run) joined with the
run ledger (`dataops.ledger`: records sent and rows loaded per stream, the last error
line). A schedule's freshness SLO is its `annotations.dataops.freshness_slo` in
meltano.yml ("26h", "90m", "2d" or seconds), else twice the longest gap between two of
its cron times: one late or failed run is allowed before it is stale. A schedule is
stale when its last successful run ended longer ago than that (or never).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from croniter import croniter

from dataops import ledger, meltano_files, project

HEARTBEAT_SECONDS = 60
"""A running run whose heartbeat (Meltano writes one every second) is older has died."""
ABANDONED_ERRORS = ("No heartbeat recorded", "Still running after")
"""How Meltano marks a run it found dead when the next one started."""
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class StatusError(RuntimeError):
    """The project or the database cannot be read; the message says what to fix."""


@dataclass
class StreamRun:
    records_sent: int
    rows_loaded: int
    sync_seconds: float | None = None
    bookmark: Any = None

    @property
    def mismatch(self) -> bool:
        return self.records_sent != self.rows_loaded


@dataclass
class Run:
    run_id: str
    status: str
    """success, failed, running or abandoned."""
    started_at: datetime
    ended_at: datetime | None
    error: str | None
    streams: dict[str, StreamRun] | None
    """None: the ledger holds no counts for this run (not recorded)."""
    trigger: str | None = None
    schema_changes: dict[str, list[str]] = field(default_factory=dict)
    """Per stream whose schema changed since its last sync, what changed."""
    schema_policy: str | None = None
    """evolve or freeze, as the tap read it (None: no schema report)."""

    @property
    def seconds(self) -> float | None:
        return (self.ended_at - self.started_at).total_seconds() if self.ended_at else None

    @property
    def mismatched(self) -> list[str]:
        """Streams whose loader received other than the tap sent, in a run that
        succeeded (a failed run's counts differ by nature)."""
        if self.status != "success":
            return []
        return sorted(s for s, counts in (self.streams or {}).items() if counts.mismatch)

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "seconds": self.seconds,
            "error": self.error,
            "trigger": self.trigger,
            "counts_recorded": self.streams is not None,
            "streams": {name: asdict(counts) for name, counts in (self.streams or {}).items()},
            "mismatched_streams": self.mismatched,
            "schema_policy": self.schema_policy,
            "schema_changes": self.schema_changes,
        }


@dataclass
class ScheduleStatus:
    name: str
    extractor: str
    loader: str
    interval: str
    slo_seconds: int
    next_due: datetime | None
    runs: list[Run] = field(default_factory=list)
    """Newest first."""
    last_success_at: datetime | None = None
    stale: bool = True

    @property
    def last_run(self) -> Run | None:
        return self.runs[0] if self.runs else None

    @property
    def last_finished(self) -> Run | None:
        return next((r for r in self.runs if r.status != "running"), None)

    @property
    def last_schema_change(self) -> Run | None:
        """The newest run (of those read) that found a schema change."""
        return next((r for r in self.runs if r.schema_changes), None)

    @property
    def healthy(self) -> bool:
        """Fresh, and its last finished run succeeded (what exit code 0 means)."""
        finished = self.last_finished
        return not self.stale and finished is not None and finished.status == "success"

    def as_json(self, runs: int) -> dict[str, Any]:
        last, changed = self.last_run, self.last_schema_change
        return {
            "name": self.name,
            "extractor": self.extractor,
            "loader": self.loader,
            "interval": self.interval,
            "stale": self.stale,
            "slo_seconds": self.slo_seconds,
            "last_success_at": self.last_success_at.isoformat() if self.last_success_at else None,
            "next_due": self.next_due.isoformat() if self.next_due else None,
            "last_run": last.as_json() if last else None,
            "last_schema_change": {
                "run_id": changed.run_id,
                "started_at": changed.started_at.isoformat(),
                "status": changed.status,
                "policy": changed.schema_policy,
                "streams": changed.schema_changes,
            }
            if changed
            else None,
            "runs": [run.as_json() for run in self.runs[:runs]],
        }


@dataclass
class Report:
    environment: str
    database: str
    """Where it was read (credentials masked)."""
    at: datetime
    schedules: list[ScheduleStatus]

    @property
    def healthy(self) -> bool:
        return all(s.healthy for s in self.schedules)

    def as_json(self, runs: int) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "database": self.database,
            "at": self.at.isoformat(),
            "healthy": self.healthy,
            "schedules": [s.as_json(runs) for s in self.schedules],
        }


# --- freshness ---------------------------------------------------------------------


def parse_duration(text: str | int, where: str) -> int:
    """`"26h"`, `"90m"`, `"2d"`, `"3600"` or 3600 as seconds."""
    match = _DURATION.match(str(text))
    if match is None:
        msg = f"{where}: {text!r} is not a duration (write e.g. 26h, 90m, 2d or seconds)"
        raise StatusError(msg)
    return int(float(match[1]) * _UNITS[match[2]])


def cron_gaps(interval: str, since: datetime) -> list[int]:
    """The waits, in seconds, between consecutive cron times over the next four weeks
    (none for a schedule with no cron times, such as @once)."""
    if not croniter.is_valid(interval):
        return []
    times = croniter(interval, since)
    first = last = times.get_next(datetime)
    gaps = []
    while last - first < timedelta(weeks=4):
        after = times.get_next(datetime)
        gaps.append(int((after - last).total_seconds()))
        last = after
    return gaps


def slo_seconds(schedule: dict[str, Any], where: str, at: datetime) -> int:
    annotations = meltano_files.dataops_annotations(schedule)
    if "freshness_slo" in annotations:
        return parse_duration(annotations["freshness_slo"], f"{where}.annotations.dataops")
    gaps = cron_gaps(str(schedule.get("interval", "")), at)
    if not gaps:
        msg = (
            f"{where}: interval {schedule.get('interval')!r} has no cron times to derive a "
            "freshness SLO from: set annotations.dataops.freshness_slo"
        )
        raise StatusError(msg)
    return 2 * max(gaps)


def next_due(interval: str, at: datetime) -> datetime | None:
    return croniter(interval, at).get_next(datetime) if croniter.is_valid(interval) else None


# --- reading -----------------------------------------------------------------------


def active_environment(meltano: meltano_files.MeltanoProject) -> str:
    """MELTANO_ENVIRONMENT, else the project's default_environment."""
    return os.environ.get("MELTANO_ENVIRONMENT") or meltano.default_environment


def selected(
    meltano: meltano_files.MeltanoProject, environment: str
) -> list[meltano_files.Located]:
    """The schedules this environment runs: DATAOPS_SCHEDULE_PATTERN (as the DAGs use
    it), else the local twins (loader target-duckdb) in dev and ci and the others
    elsewhere."""
    pattern = os.environ.get("DATAOPS_SCHEDULE_PATTERN")
    local = environment in {"dev", "ci"}
    chosen = []
    for schedule in meltano.schedules:
        name, loader = schedule.value.get("name", ""), schedule.value.get("loader")
        if schedule.value.get("job") is not None:
            continue  # job schedules run several pipelines under other state ids
        if pattern:
            keep = fnmatch.fnmatchcase(name, pattern)
        else:
            keep = (loader == project.LOCAL_LOADER) == local
        if keep:
            chosen.append(schedule)
    return chosen


def read_runs(engine: sa.Engine, state_id: str, limit: int, at: datetime) -> list[Run]:
    """The newest `limit` runs of a state id, with their ledger counts."""
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT run_id, state, started_at, ended_at, last_heartbeat_at, payload,"
                    " trigger FROM runs WHERE job_name = :state_id AND state <> 'STATE_EDIT'"
                    " ORDER BY started_at DESC LIMIT :limit"
                ),
                {"state_id": state_id, "limit": limit},
            ).fetchall()
            keys = [str(row.run_id).replace("-", "") for row in rows]
            counts, errors, complete = _ledger(connection, keys)
            schemas = _schemas(connection, keys)
    except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
        missing = ("no such table", "does not exist")
        if "runs" in str(exc).lower() and any(m in str(exc).lower() for m in missing):
            return []  # a database Meltano has not run in yet
        raise
    runs = []
    for row, key in zip(rows, keys, strict=True):
        payload = _json(row.payload)
        bookmarks = (payload.get("singer_state") or {}).get("bookmarks") or {}
        run_status = _status(row.state, payload, _utc(row.last_heartbeat_at), at)
        # A finished run whose process never wrote its last counts: partial.
        streams = counts.get(key) if run_status == "running" or key in complete else None
        if streams is not None:
            for name, stream in streams.items():
                stream.bookmark = (bookmarks.get(name) or {}).get("replication_key_value")
        changes, policy = schemas.get(key, ({}, None))
        error = errors.get(key) or (
            ledger.masked(payload["error"]) if payload.get("error") else None
        )
        runs.append(
            Run(
                run_id=key,
                status=run_status,
                started_at=_utc(row.started_at) or at,
                ended_at=_utc(row.ended_at),
                error=error,
                streams=streams,
                trigger=row.trigger,
                schema_changes=changes,
                schema_policy=policy,
            )
        )
    return runs


def newest_run(database_uri: str, state_id: str) -> Run | None:
    """The newest run of a state id in a system database, with its ledger counts."""
    engine = sa.create_engine(database_uri)
    try:
        runs = read_runs(engine, state_id, 1, datetime.now(UTC))
    finally:
        engine.dispose()
    return runs[0] if runs else None


def _ledger(
    connection: sa.Connection, keys: list[str]
) -> tuple[dict[str, dict[str, StreamRun]], dict[str, str], set[str]]:
    """Per run: its streams' counts (runs the ledger has), its last error line, and
    which runs' counts are complete."""
    inspector = sa.inspect(connection)
    if not keys or not inspector.has_table(ledger.streams_table.name):
        return {}, {}, set()
    counts: dict[str, dict[str, StreamRun]] = {}
    complete = set()
    for row in connection.execute(
        sa.select(ledger.runs_table.c.run_id, ledger.runs_table.c.complete).where(
            ledger.runs_table.c.run_id.in_(keys)
        )
    ):
        counts[row.run_id] = {}
        if row.complete:
            complete.add(row.run_id)
    for row in connection.execute(
        sa.select(ledger.streams_table).where(ledger.streams_table.c.run_id.in_(keys))
    ):
        counts.setdefault(row.run_id, {})[row.stream] = StreamRun(
            row.records_sent, row.rows_loaded, row.sync_seconds
        )
    errors = {
        row.run_id: row.last_error
        for row in connection.execute(
            sa.select(ledger.runs_table.c.run_id, ledger.runs_table.c.last_error).where(
                ledger.runs_table.c.run_id.in_(keys), ledger.runs_table.c.last_error.is_not(None)
            )
        )
    }
    return counts, errors, complete


def _schemas(
    connection: sa.Connection, keys: list[str]
) -> dict[str, tuple[dict[str, list[str]], str | None]]:
    """Per run: the streams whose schema changed (with what changed), and the policy."""
    if not keys or not sa.inspect(connection).has_table(ledger.schemas_table.name):
        return {}
    found: dict[str, tuple[dict[str, list[str]], str | None]] = {}
    table = ledger.schemas_table
    for row in connection.execute(
        sa.select(table).where(table.c.run_id.in_(keys)).order_by(table.c.stream)
    ):
        changes, _ = found.get(row.run_id, ({}, None))
        changed = json.loads(row.changes)
        if changed:
            changes[row.stream] = changed
        found[row.run_id] = (changes, row.policy)
    return found


def _status(state: str, payload: dict[str, Any], heartbeat: datetime | None, at: datetime) -> str:
    if state == "SUCCESS":
        return "success"
    if state == "RUNNING":
        alive = heartbeat is not None and (at - heartbeat).total_seconds() < HEARTBEAT_SECONDS
        return "running" if alive else "abandoned"
    if state == "DEAD" or str(payload.get("error", "")).startswith(ABANDONED_ERRORS):
        return "abandoned"
    return "failed"


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value or "{}")
    except (TypeError, json.JSONDecodeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def database_uri() -> str:
    """MELTANO_DATABASE_URI, as Meltano reads it; else the demo's system database."""
    return os.environ.get("MELTANO_DATABASE_URI") or project.demo_database_uri()


def last_success(engine: sa.Engine, state_id: str) -> datetime | None:
    """When the newest successful run of a state id ended (however many runs since)."""
    with engine.connect() as connection:
        ended = connection.execute(
            sa.text(
                "SELECT max(ended_at) FROM runs WHERE job_name = :state_id AND state = 'SUCCESS'"
            ),
            {"state_id": state_id},
        ).scalar()
    return _utc(ended)


def report(at: datetime | None = None, history: int = 10) -> Report:
    """Every selected schedule's status as of `at` (now), with its last `history` runs."""
    at = at or datetime.now(UTC)
    meltano = meltano_files.load()
    environment = active_environment(meltano)
    uri = database_uri()
    engine = sa.create_engine(uri)
    try:
        statuses = []
        for located in selected(meltano, environment):
            schedule = located.value
            runs = read_runs(engine, schedule["name"], max(history, 1), at)
            slo = slo_seconds(schedule, located.where(), at)
            succeeded = last_success(engine, schedule["name"]) if runs else None
            statuses.append(
                ScheduleStatus(
                    name=schedule["name"],
                    extractor=schedule.get("extractor", ""),
                    loader=schedule.get("loader", ""),
                    interval=str(schedule.get("interval", "")),
                    slo_seconds=slo,
                    next_due=next_due(str(schedule.get("interval", "")), at),
                    runs=runs,
                    last_success_at=succeeded,
                    stale=succeeded is None or (at - succeeded).total_seconds() > slo,
                )
            )
    except sa.exc.SQLAlchemyError as exc:
        msg = (
            f"cannot read Meltano's system database {ledger.masked(uri)} "
            f"({type(exc).__name__}): set MELTANO_DATABASE_URI to the one your syncs use"
        )
        raise StatusError(msg) from None
    finally:
        engine.dispose()
    return Report(environment, ledger.masked(uri), at, statuses)
