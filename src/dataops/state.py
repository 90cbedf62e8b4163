"""`dataops state`: Meltano's state (the bookmarks) of the active environment, read and
changed through Meltano's own `meltano state` commands, so whatever backend the
environment uses (the system database, a `state_backend` URI) is the one changed.

A schedule's state id is its name: `meltano schedule run NAME` runs
`meltano el TAP TARGET --state-id=NAME` in every environment. Locally the system
database is the demo's unless MELTANO_DATABASE_URI says otherwise (as for Meltano).

Every change prints what it changes and asks first (unless `--yes`); in `production` it
also needs `--environment production` spelled out, so a shell left pointing at
production cannot reset a bookmark by accident.
"""

from __future__ import annotations

import json
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from dataops import ledger, meltano_files, project, status

PROTECTED = {"production"}

state_app = typer.Typer(help="Meltano state (bookmarks) of the schedules.", no_args_is_help=True)


class StateError(RuntimeError):
    """A state command cannot go on; the message says why and what to do."""


def meltano_env(environment: str) -> dict[str, str]:
    return {"MELTANO_ENVIRONMENT": environment, "MELTANO_DATABASE_URI": status.database_uri()}


def run_state(environment: str, *args: str) -> str:
    """`meltano state ARGS…` in `environment`; its stdout."""
    try:
        done = project.meltano("state", *args, env=meltano_env(environment), capture=True)
    except project.MeltanoError as error:
        raise StateError(str(error)) from None
    return done.stdout


def everything(environment: str) -> dict[str, dict[str, Any]]:
    """Every state id's state (`meltano state export`: its completed state with a
    partial one merged on top by Meltano's own merge, key by key, as the next run gets
    it)."""
    from meltano.core.utils import merge

    exported = json.loads(run_state(environment, "export") or "{}")
    states = {}
    for state_id, value in exported.items():
        completed, partial = _state(value.get("completed")), _state(value.get("partial"))
        merged = merge(partial.get("singer_state") or {}, completed.get("singer_state") or {})
        states[state_id] = {"singer_state": merged}
    return states


def get(environment: str, state_id: str) -> dict[str, Any]:
    return _state(json.loads(run_state(environment, "get", state_id) or "{}"))


def put(environment: str, state_id: str, state: dict[str, Any]) -> None:
    """Replace the state of `state_id` (its partial state goes with it)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(state, file)
    try:
        run_state(environment, "set", "--force", "--input-file", file.name, state_id)
    finally:
        Path(file.name).unlink()


def clear(environment: str, state_id: str) -> None:
    run_state(environment, "clear", "--force", state_id)


def _state(value: Any) -> dict[str, Any]:
    """A state as `meltano state get` prints it: `{"singer_state": {...}}`."""
    if isinstance(value, str):
        value = json.loads(value or "{}")
    return value if isinstance(value, dict) else {}


def bookmarks(state: dict[str, Any]) -> dict[str, Any]:
    return (state.get("singer_state") or {}).get("bookmarks") or {}


def bookmark_value(bookmark: Any) -> str:
    """The bookmark in short (a stream's accepted schema, tapkit's `schema` key, left out)."""
    if isinstance(bookmark, dict) and "replication_key_value" in bookmark:
        return str(bookmark["replication_key_value"])
    if isinstance(bookmark, dict):
        bookmark = {key: value for key, value in bookmark.items() if key != "schema"}
    return json.dumps(bookmark, default=str)[:80]


def environment_and_schedules(spelled_out: str | None) -> tuple[str, list[str]]:
    """The active environment (`--environment`, else MELTANO_ENVIRONMENT, else the
    project's default) and the names of its schedules."""
    meltano = meltano_files.load()
    environment = spelled_out or status.active_environment(meltano)
    names = [s.value["name"] for s in status.selected(meltano, environment)]
    return environment, names


def guard(environment: str, spelled_out: str | None) -> None:
    if environment in PROTECTED and spelled_out != environment:
        msg = (
            f"this changes the state of {environment}: add `--environment {environment}` to say so"
        )
        raise StateError(msg)


def known(state_id: str, schedules: list[str], has_state: bool = False) -> None:
    """Refuse a name that is neither a schedule of the environment nor a stored state."""
    if state_id not in schedules and not has_state:
        msg = (
            f"no schedule or stored state named {state_id!r}; schedules: "
            f"{', '.join(schedules) or 'none'} (`dataops state list` shows the stored ones)"
        )
        raise StateError(msg)


def confirm_change(
    console: Console, state_id: str, before: dict[str, Any], after: dict[str, Any], yes: bool
) -> bool:
    """Print the bookmarks that change; whether to go on."""
    old, new = bookmarks(before), bookmarks(after)
    changed = sorted(s for s in {*old, *new} if old.get(s) != new.get(s))
    if not changed and before == after:
        console.print(f"{state_id}: nothing to change")
        return False
    table = Table(title=f"{state_id}: what changes")
    for column in ("stream", "bookmark now", "after"):
        table.add_column(column)
    for stream in changed:
        table.add_row(
            stream,
            bookmark_value(old[stream]) if stream in old else "—",
            bookmark_value(new[stream]) if stream in new else "— (read from start_date)",
        )
    console.print(table)
    return yes or typer.confirm("Change it?", default=False)


def fail(console: Console, error: Exception) -> typer.Exit:
    # One unwrapped line (a path or a command stays whole), never read as markup.
    console.print(str(error), style="red", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(2)


ENVIRONMENT = typer.Option(
    None, "--environment", help="Meltano environment (required for production changes)."
)
YES = typer.Option(False, "--yes", help="Do not ask for confirmation.")


@state_app.command("list")
def list_command(environment: str | None = ENVIRONMENT) -> None:
    """Every stored state id with its streams' bookmarks (schedules of the environment
    without state are listed as such)."""
    console = Console()
    try:
        active, schedules = environment_and_schedules(environment)
        stored = everything(active)
    except StateError as error:
        raise fail(console, error) from None
    table = Table(title=f"Meltano state in {active} ({ledger.masked(status.database_uri())})")
    for column in ("state id", "stream", "bookmark"):
        table.add_column(column)
    for state_id in sorted({*stored, *schedules}):
        marks = bookmarks(stored.get(state_id, {}))
        if not marks:
            table.add_row(state_id, "—", "no state")
        for index, (stream, mark) in enumerate(sorted(marks.items())):
            table.add_row(state_id if index == 0 else "", stream, bookmark_value(mark))
    console.print(table)


@state_app.command("show")
def show(schedule: str, environment: str | None = ENVIRONMENT) -> None:
    """The state of SCHEDULE as `meltano state get` prints it."""
    console = Console()
    try:
        active, _ = environment_and_schedules(environment)
        print(json.dumps(get(active, schedule), indent=2))
    except StateError as error:
        raise fail(console, error) from None


@state_app.command("reset")
def reset(
    schedule: str,
    stream: list[str] = typer.Option(
        [], "--stream", help="Reset only this stream's bookmark (repeat for several)."
    ),
    environment: str | None = ENVIRONMENT,
    yes: bool = YES,
) -> None:
    """Forget SCHEDULE's bookmarks (all, or those of --stream): the next run reads those
    streams from their start_date again, the others go on from theirs."""
    console = Console()
    try:
        active, schedules = environment_and_schedules(environment)
        guard(active, environment)
        before = get(active, schedule)
        known(schedule, schedules, bool(before))
        after = json.loads(json.dumps(before))
        marks = bookmarks(after)
        missing = [s for s in stream if s not in marks]
        if missing:
            listed = ", ".join(sorted(marks)) or "none"
            msg = f"{schedule} has no bookmark for {', '.join(missing)} (it has: {listed})"
            raise StateError(msg)
        for name in stream:
            del marks[name]
        if not stream:
            after = {}
        if not confirm_change(console, schedule, before, after, yes):
            raise typer.Exit(0)
        if after:
            put(active, schedule, after)
        else:
            clear(active, schedule)
    except StateError as error:
        raise fail(console, error) from None
    console.print(f"{schedule}: state changed")


@state_app.command("set")
def set_command(
    schedule: str,
    file: Path = typer.Option(..., "--file", help='JSON: {"singer_state": {"bookmarks": …}}'),
    environment: str | None = ENVIRONMENT,
    yes: bool = YES,
) -> None:
    """Replace SCHEDULE's state with the one in FILE (as `dataops state show` prints it)."""
    console = Console()
    try:
        active, schedules = environment_and_schedules(environment)
        guard(active, environment)
        after = read_state_file(file)
        before = get(active, schedule)
        known(schedule, schedules, bool(before))
        if not confirm_change(console, schedule, before, after, yes):
            raise typer.Exit(0)
        put(active, schedule, after)
    except StateError as error:
        raise fail(console, error) from None
    console.print(f"{schedule}: state changed")


def resync_flags(streams: list[str], full_refresh: bool) -> list[str]:
    """`meltano schedule run` flags reading only `streams`, from their start_date when
    `full_refresh`, with the state merged so that other streams' bookmarks stay (the
    sync DAGs' `streams` and `full_refresh` parameters give the same flags)."""
    flags = [flag for stream in streams for flag in ("--select", stream)]
    if full_refresh:
        flags.append("--full-refresh")
    return [*flags, "--state-strategy", "merge"]


def backfill_env(schedule: str, start_date: str) -> dict[str, str]:
    """The env of a backfill run of `schedule`: its extractor's `backfill_from` setting
    (read again from `start_date` on, incrementally, older rows kept; tapkit.backfill).
    The DAGs' `start_date` parameter sets the same variable."""
    try:
        date.fromisoformat(start_date)
    except ValueError:
        raise StateError(
            f"--start-date must be an ISO date such as 2024-05-01, got {start_date!r}"
        ) from None
    extractors = [
        s.value.get("extractor", "")
        for s in meltano_files.load().schedules
        if s.value.get("name") == schedule
    ]
    if not extractors or not extractors[0]:
        raise StateError(f"schedule {schedule!r} names no extractor to backfill")
    return {meltano_files.setting_variable(extractors[0], "backfill_from"): start_date}


def read_state_file(path: Path) -> dict[str, Any]:
    try:
        state = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise StateError(f"{path}: not a JSON file ({exc})") from None
    if not isinstance(state, dict) or not isinstance(state.get("singer_state"), dict):
        shape = '{"singer_state": {"bookmarks": {…}}}'
        msg = f"{path}: expected {shape} (as `dataops state show` prints it)"
        raise StateError(msg)
    return state
