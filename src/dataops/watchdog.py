"""`dataops watchdog`: announce what needs attention on the alert webhook, once per
incident — a stale schedule, a failed or abandoned run, a stream whose loader received
other than its tap sent, a stream whose schema changed.

An incident lasts until it is over: a schedule stale (or failing) since its last
success at T is one incident however long it goes on, and a new one only after another
success; a mismatch belongs to the run that had it; so does a schema change a run loaded
(`evolve`), per stream, while a change that stopped runs (`freeze`) is one incident per
stream and change until the schedule's next success (every run finds it again until it
is accepted). Announced incidents are kept in the
system database (`dataops_alerts`, beside the run ledger), so a watchdog run every hour,
from any pod, posts each once. An incident is recorded only once the webhook accepted
it: one that could not be posted is tried again next time.

The watchdog creates no table: in the cluster it may only read Meltano's database and
add rows (deploy/terraform/database). The syncs create the ledger's tables, this one
included; until an environment's first sync has, what it posts is not remembered and
is posted again at the next run.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa

from dataops import ledger, status
from dataops.status_views import duration, when

WEBHOOK_ENV = "DATAOPS_ALERT_WEBHOOK_URL"
POST_TIMEOUT_SECONDS = 10
HISTORY = 5


class WebhookError(RuntimeError):
    """The webhook refused or could not be reached (the message never holds its URL)."""


@dataclass(frozen=True)
class Incident:
    key: str
    """Its identity: the same key is the same incident."""
    schedule: str
    kind: str
    """stale, failed, abandoned, mismatch or schema."""
    message: str


def incidents(report: status.Report) -> list[Incident]:
    """What needs attention in a report, each with its identity."""
    found = []
    for schedule in report.schedules:
        name = schedule.name
        since = schedule.last_success_at.isoformat() if schedule.last_success_at else "never"
        where = f"[{report.environment}] {name}"
        if schedule.stale:
            found.append(
                Incident(
                    f"{name}|stale|{since}",
                    name,
                    "stale",
                    f"{where} is stale: last success "
                    f"{when(schedule.last_success_at) if schedule.last_success_at else 'never'}, "
                    f"freshness SLO {duration(schedule.slo_seconds)}",
                )
            )
        finished = schedule.last_finished
        if finished is None:
            continue
        if finished.status in {"failed", "abandoned"}:
            found.append(
                Incident(
                    f"{name}|{finished.status}|{since}",
                    name,
                    finished.status,
                    f"{where}: the run of {when(finished.started_at)} {finished.status}: "
                    f"{finished.error or 'no error recorded'}",
                )
            )
        if finished.mismatched:
            found.append(
                Incident(
                    f"{name}|mismatch|{finished.run_id}",
                    name,
                    "mismatch",
                    f"{where}: the run of {when(finished.started_at)} loaded other than "
                    f"the tap sent in {', '.join(finished.mismatched)}",
                )
            )
    return found + [i for s in report.schedules for i in schema_incidents(report, s)]


def schema_incidents(report: status.Report, schedule: status.ScheduleStatus) -> list[Incident]:
    """One incident per stream whose schema changed, in every run read (see the module
    docstring for their identity)."""
    since = schedule.last_success_at.isoformat() if schedule.last_success_at else "never"
    found = []
    for run in schedule.runs:
        stopped = run.schema_policy == "freeze" and run.status in {"failed", "abandoned"}
        outcome = {"success": "loaded (evolve)", "running": "being loaded (evolve)"}.get(
            run.status, f"run {run.status}"
        )
        for stream, changes in run.schema_changes.items():
            what = "; ".join(changes)
            digest = hashlib.sha256(what.encode()).hexdigest()[:16]
            found.append(
                Incident(
                    f"{schedule.name}|schema|{stream}|{digest}|{since}"
                    if stopped
                    else f"{schedule.name}|schema|{stream}|{run.run_id}",
                    schedule.name,
                    "schema",
                    f"[{report.environment}] {schedule.name}: the schema of {stream} changed "
                    f"in the run of {when(run.started_at)}, "
                    f"{'stopped (freeze)' if stopped else outcome}: {what}",
                )
            )
    return found


def can_remember(engine: sa.Engine) -> bool:
    """Whether the alerts table exists (a sync's ledger creates it)."""
    with engine.connect() as connection:
        return sa.inspect(connection).has_table(ledger.alerts_table.name)


def announced(engine: sa.Engine, found: list[Incident]) -> set[str]:
    """The keys among `found` announced before."""
    with engine.begin() as connection:
        rows = connection.execute(
            sa.select(ledger.alerts_table.c.incident).where(
                ledger.alerts_table.c.incident.in_([i.key for i in found])
            )
        )
        return {row.incident for row in rows}


def record(engine: sa.Engine, incident: Incident) -> None:
    with engine.begin() as connection:
        connection.execute(
            ledger.alerts_table.insert(),
            [
                {
                    "incident": incident.key,
                    "schedule": incident.schedule,
                    "kind": incident.kind,
                    "message": incident.message,
                    "posted_at": datetime.now(UTC),
                }
            ],
        )


def deliverable(url: str) -> bool:
    """An alert goes out over HTTPS only; plain HTTP only to this machine (local runs
    and tests), never across a network."""
    parts = urlsplit(url)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    return parts.scheme == "https" or (parts.scheme == "http" and loopback)


def post(url: str, text: str) -> None:
    """POST `{"text": text}` (Slack-compatible) to the webhook."""
    if not deliverable(url):
        raise WebhookError(f"{WEBHOOK_ENV} is not an https:// URL: no alert is sent over it")
    try:
        answer = requests.post(url, json={"text": text}, timeout=POST_TIMEOUT_SECONDS)
        answer.raise_for_status()
    except requests.RequestException as exc:
        code = exc.response.status_code if exc.response is not None else type(exc).__name__
        msg = f"the alert webhook ({WEBHOOK_ENV}) did not take the alert: {code}"
        raise WebhookError(msg) from None


@dataclass
class Watch:
    report: status.Report
    posted: list[Incident]
    already: list[Incident]
    unposted: list[Incident]
    """Found while no webhook is set (printed only, not recorded)."""
    remembered: bool = True
    """False: no sync has created the alerts table yet; `posted` will be posted again."""


def rehearsed(found: list[Incident], at: datetime) -> list[Incident]:
    """Incidents judged at another time than now: posted as a rehearsal, remembered
    apart (a rehearsal never hides the real incident later)."""
    mark = f"rehearsal as of {at.isoformat()}"
    return [Incident(f"{mark}|{i.key}", i.schedule, i.kind, f"[{mark}] {i.message}") for i in found]


def watch(at: datetime | None = None) -> Watch:
    """Post every new incident of the active environment (see the module docstring);
    `at`: judge as of then instead of now, a rehearsal."""
    # Enough history that a run going on does not hide the finished one before it.
    report = status.report(at, history=HISTORY)
    found = incidents(report) if at is None else rehearsed(incidents(report), at)
    engine = sa.create_engine(status.database_uri())
    try:
        remembering = bool(found) and can_remember(engine)
        known = announced(engine, found) if remembering else set()
        new = [i for i in found if i.key not in known]
        already = [i for i in found if i.key in known]
        url = os.environ.get(WEBHOOK_ENV)
        if not url:
            return Watch(report, [], already, new)
        for incident in new:
            post(url, incident.message)
            if remembering:
                record(engine, incident)
        return Watch(report, new, already, [], remembered=remembering or not new)
    finally:
        engine.dispose()
