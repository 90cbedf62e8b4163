"""`dataops …`: the platform's command line."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console

from dataops import project
from dataops.sandbox.cli import sandbox_app
from dataops.schedules import schedules_app
from dataops.state import state_app

app = typer.Typer(help="data-ops-meltano: sandboxes, demo and operations.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(schedules_app, name="schedules")
app.add_typer(state_app, name="state")


@app.callback()
def use_project(
    project_root: Path | None = typer.Option(
        None,
        "--project-root",
        help="The Meltano project to work on (default: MELTANO_PROJECT_ROOT, else the "
        "nearest meltano.yml from the working directory upwards).",
    ),
) -> None:
    """Meltano, run by these commands, finds the same project through
    MELTANO_PROJECT_ROOT."""
    if project_root is not None:
        os.environ[project.ROOT_ENV] = str(project_root.resolve())


def main() -> None:
    """`dataops`: the commands, with a clear message (exit 2) when no project is found."""
    try:
        app()
    except project.ProjectNotFound as error:
        Console(stderr=True).print(f"dataops: {error}", style="red", markup=False, soft_wrap=True)
        raise SystemExit(2) from None


@app.command()
def demo(
    seed: int = typer.Option(0, help="Sandbox data seed."),
    scale: int = typer.Option(1, help="Sandbox data scale (1 ≈ 120 objects per collection)."),
    epoch: int = typer.Option(0, help="Sandbox epoch: later epochs add and update objects."),
    latency_ms: int = typer.Option(0, help="Latency added to every sandbox response."),
    faults: str = typer.Option("", help="Sandbox faults, e.g. '429:0.05,500:0.02'."),
    warehouse: Path | None = typer.Option(
        None, help="DuckDB file to load into (default: output/warehouse.duckdb)."
    ),
) -> None:
    """Run every local schedule against the sandboxes into output/warehouse.duckdb."""
    from dataops.demo import SandboxOptions, run_demo

    run_demo(SandboxOptions(seed, scale, epoch, latency_ms, faults), Console(), warehouse)


AT_HELP = "Judge freshness as of this ISO time (default: now), e.g. 2026-11-25T08:00Z."


def moment(at: str | None) -> datetime | None:
    """`--at` as an aware datetime (UTC unless it says otherwise)."""
    try:
        parsed = datetime.fromisoformat(at.replace("Z", "+00:00")) if at else None
    except ValueError:
        raise typer.BadParameter(f"--at {at!r} is not an ISO date-time") from None
    return parsed.replace(tzinfo=UTC) if parsed and parsed.tzinfo is None else parsed


@app.command()
def status(
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    html: Path | None = typer.Option(None, help="Also write the report as one HTML page."),
    runs: int = typer.Option(10, min=1, help="Runs of history per schedule."),
    at: str | None = typer.Option(None, help=AT_HELP),
) -> None:
    """Every schedule of the active environment: its runs, what they loaded, fresh or
    stale. Exit 0 when every schedule is fresh and its last run succeeded, else 1."""
    import json

    from dataops import status as statuses
    from dataops import status_views

    console = Console()
    try:
        report = statuses.report(moment(at), history=runs)
    except statuses.StatusError as error:
        console.print(str(error), style="red", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(status_views.html_page(report, runs))
    if as_json:
        print(json.dumps(report.as_json(runs), indent=2))
    else:
        status_views.print_report(report, console, runs)
        if html is not None:
            console.print(f"status page: {html}")
    raise typer.Exit(0 if report.healthy else 1)


@app.command()
def watchdog(at: str | None = typer.Option(None, help=AT_HELP)) -> None:
    """Post stale schedules, failed or abandoned runs, tap/loader count mismatches and
    schema changes to DATAOPS_ALERT_WEBHOOK_URL, each incident once (the Airflow DAG
    dataops-watchdog runs this every hour). Exit 1 when the webhook did not take an alert."""
    import sqlalchemy as sa

    from dataops import status as statuses
    from dataops import status_views
    from dataops import watchdog as watchdogs

    console = Console()
    try:
        watched = watchdogs.watch(moment(at))
    except (statuses.StatusError, sa.exc.SQLAlchemyError) as error:
        console.print(f"watchdog: {error}", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except watchdogs.WebhookError as error:
        console.print(f"watchdog: {error}; tried again at the next run", style="red")
        raise typer.Exit(1) from None
    # The status in the task's log: what the Airflow UI shows of each watchdog run.
    status_views.print_report(watched.report, console, runs=1)
    for incident in watched.posted:
        console.print(f"posted: {incident.message}", markup=False, highlight=False)
    if not watched.remembered:
        console.print(
            "not remembered: no sync of this environment has created the ledger's tables "
            "yet (the watchdog may not), so these are posted again at the next run",
            style="yellow",
            soft_wrap=True,
        )
    for incident in watched.already:
        console.print(f"already announced: {incident.message}", markup=False, highlight=False)
    for incident in watched.unposted:
        console.print(
            f"not posted (no {watchdogs.WEBHOOK_ENV}): {incident.message}",
            markup=False,
            highlight=False,
        )
    if not (watched.posted or watched.already or watched.unposted):
        console.print("all schedules fresh, no failed run, no mismatch, no schema change")


@app.command()
def resync(
    schedule: str,
    stream: list[str] = typer.Option(..., "--stream", help="A stream to read again (repeat)."),
    full_refresh: bool = typer.Option(
        True, "--full-refresh/--from-bookmark", help="From start_date (default), or on."
    ),
    start_date: str | None = typer.Option(
        None,
        "--start-date",
        help="Backfill instead: read again from this ISO date on, keeping older rows.",
    ),
) -> None:
    """Run SCHEDULE for these streams only, from their start_date: the other streams'
    bookmarks stay as they are (`meltano schedule run … --select S --full-refresh
    --state-strategy merge`, in the active environment and system database). With
    `--start-date`, a backfill: an incremental read from that date (or the bookmark, if
    earlier) on, no full read, rows older than it kept."""
    from dataops import state

    console = Console()
    try:
        environment, schedules = state.environment_and_schedules(None)
        state.known(schedule, schedules)
        backfill = state.backfill_env(schedule, start_date) if start_date else {}
    except state.StateError as error:
        raise state.fail(console, error) from None
    flags = state.resync_flags(stream, full_refresh and not backfill)
    shown = " ".join(f"{name}={value}" for name, value in backfill.items())
    console.print(
        f"{shown} meltano schedule run {schedule} {' '.join(flags)}".strip(), highlight=False
    )
    done = project.meltano(
        "schedule",
        "run",
        schedule,
        *flags,
        env={**state.meltano_env(environment), **backfill},
        check=False,
    )
    raise typer.Exit(done.returncode)


@app.command()
def soak(
    trials: int | None = typer.Option(None, min=1, help="Stop after this many trials."),
    minutes: float | None = typer.Option(None, min=0, help="Start no trial after this long."),
    seed: int | None = typer.Option(None, help="Seed of the draws (default: a new one)."),
    vendors: str = typer.Option(
        "zengrc,edcast,xactly,adaptive", help="Comma-separated vendors to draw from."
    ),
    loader: list[str] = typer.Option(
        ["duckdb", "postgres"], help="duckdb and/or postgres (repeat the option)."
    ),
    replay: str | None = typer.Option(
        None, help="Run exactly the trial a diverged one printed (its JSON, or a file)."
    ),
    workers: int = typer.Option(2, min=1, help="Trials run at once."),
    max_scale: int | None = typer.Option(
        None, min=1, help="Draw no sandbox scale above this (quick soaks)."
    ),
    report: Path | None = typer.Option(
        None, help="Also write the coverage table and result here (markdown)."
    ),
) -> None:
    """Random trials of whole pipelines against changing, faulty sandboxes, each epoch
    compared with ground truth; exit 1 on any divergence."""
    import random

    from dataops import soak as soaking
    from dataops.sandbox.registry import VENDORS

    chosen = [v.strip() for v in vendors.split(",") if v.strip()]
    unknown = sorted(set(chosen) - set(VENDORS)) + sorted(set(loader) - set(soaking.LOADERS))
    if unknown or not chosen:
        raise typer.BadParameter(
            f"unknown {', '.join(unknown) or 'empty list'}: vendors are "
            f"{', '.join(VENDORS)}; loaders are {', '.join(soaking.LOADERS)}"
        )
    if trials is None and minutes is None and replay is None:
        raise typer.BadParameter("give --trials, --minutes (or both), or --replay")
    drawn_seed = seed if seed is not None else random.SystemRandom().randrange(1_000_000)
    console = Console(soft_wrap=True)
    if replay is None:
        console.print(f"soak seed {drawn_seed} (repeat the whole soak with --seed {drawn_seed})")
    options = soaking.SoakOptions(
        trials, minutes, drawn_seed, chosen, loader, replay, workers, max_scale, report
    )
    try:
        code = soaking.soak(options, console)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    raise typer.Exit(code)


@app.command()
def airflow(port: int = typer.Option(8080, help="Port of Airflow's UI and API.")) -> None:
    """Watch the local schedules run in Airflow (standalone) against the sandboxes."""
    from dataops.airflow_local import run_airflow

    run_airflow(port, Console())


@app.command()
def render() -> None:
    """Write the deployment files derived from meltano.yml (env wiring, secret templates)."""
    from dataops import meltano_files
    from dataops import render as rendering

    tree = rendering.KubernetesTree()
    changed = rendering.write(rendering.rendered(meltano_files.load(), tree))
    for path in changed:
        Console().print(f"wrote {path.relative_to(project.root())}")
    if not changed:
        Console().print("generated files already current")


@app.command("plugin-readmes")
def plugin_readmes() -> None:
    """Rewrite the settings section of every plugin's README.md from its `--about`."""
    from dataops import plugin_readme

    root = project.root()
    try:
        changed = plugin_readme.regenerate(root)
    except plugin_readme.ReadmeError as error:
        Console(stderr=True).print(f"plugin-readmes: {error}", style="red", markup=False)
        raise typer.Exit(1) from None
    for readme in changed:
        Console().print(f"rewrote {readme.relative_to(root)}")
    if not changed:
        Console().print("plugin READMEs already match `--about`")


@app.command("pin-images")
def pin_images(
    check_only: bool = typer.Option(
        False,
        "--check",
        help="Resolve nothing: exit 1 if any image is referenced without a digest.",
    ),
) -> None:
    """Pin the Dockerfile's base images, the release pipeline's job images and the base
    manifests' third-party images to the digests their tags point at now (rewrites the
    files and re-renders the overlays; review and commit the diff)."""
    from rich.table import Table

    from dataops import pin_images as pinning
    from dataops.registry import RegistryError

    root = project.root()
    console = Console()
    try:
        found = pinning.uses(root)
    except pinning.PinError as error:
        console.print(f"pin-images: {error}", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    if check_only:
        missing = [use for use in found if use.digest is None]
        for use in missing:
            console.print(
                f"{use}: {use.reference} has no digest", style="red", markup=False, soft_wrap=True
            )
        if missing:
            console.print(
                "run `dataops pin-images` where the registries are reachable, review the "
                "digests and commit them",
                markup=False,
                soft_wrap=True,
            )
            raise typer.Exit(1)
        console.print(f"every image is pinned by digest ({len(found)} references)")
        return
    try:
        pins = pinning.resolve(found)
    except RegistryError as error:
        console.print(f"nothing pinned: {error}", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    pinning.write(root, pins)
    table = Table("where", "image", "digest", "")
    for pin in pins:
        table.add_row(str(pin.use), pin.use.tagged, pin.digest, pin.change)
    console.print(table)
    # The overlays' generated files copy the base's sync pod template.
    render()


@app.command()
def check() -> None:
    """Everything that must hold before the platform ships; exit 1 on any problem."""
    from dataops import check as checks

    console = Console()
    found = checks.run()
    for name, problems in found.items():
        mark = "[green]ok[/green]" if not problems else f"[red]{len(problems)} problem(s)[/red]"
        console.print(f"{mark}  {name}")
        for problem in problems:
            console.print(f"    {problem}", markup=False, highlight=False, soft_wrap=True)
    if any(found.values()):
        raise typer.Exit(1)


secrets_app = typer.Typer(help="The cluster's secrets from a local env file.", no_args_is_help=True)
app.add_typer(secrets_app, name="secrets")


@secrets_app.command("apply")
def secrets_apply(
    environment: str = typer.Argument(..., help="Whose secrets: staging or production."),
    env_file: Path = typer.Option(
        ..., help="KEY=VALUE file of ENVIRONMENT, exported from the password manager."
    ),
    context: str = typer.Option(
        ..., help="kubectl context of ENVIRONMENT's cluster (its namespace's label is checked)."
    ),
    dry_run: bool = typer.Option(False, help="Print what would change (key names only)."),
    restart: bool = typer.Option(True, help="Roll the scheduler and API server afterwards."),
) -> None:
    """Create or update ENVIRONMENT's five secrets from ENV_FILE; prints changes, no values."""
    from dataops import secrets
    from dataops.render import KubernetesTree

    console = Console()
    try:
        wanted = secrets.read_env_file(env_file, KubernetesTree(), environment)
        secrets.confirm_cluster(context, environment)
        plans = secrets.plan(wanted, secrets.current_values(list(wanted), context))
        for secret in plans:
            console.print(secret.describe(), markup=False, highlight=False)
        if dry_run or not any(p.changes for p in plans):
            return
        secrets.apply(plans, wanted, context)
        if restart:
            secrets.restart(context)
    except secrets.SecretsError as error:
        console.print(str(error), style="red", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


@app.command()
def deploy(
    environment: str = typer.Argument(..., help="Overlay: staging or production."),
    image: str = typer.Option(..., help="Image tag to release (built from a git tag)."),
    context: str = typer.Option(
        ..., help="kubectl context of ENVIRONMENT's cluster (its namespace's label is checked)."
    ),
    dry_run: bool = typer.Option(
        False,
        help="Render, check, pin the images' digests and print the plan only (no cluster "
        "contacted).",
    ),
) -> None:
    """Render, check and apply ENVIRONMENT as a rolling update, every image by digest."""
    from dataops import check as checks
    from dataops import deploy as deploying
    from dataops import secrets
    from dataops.registry import RegistryError

    console = Console()
    deploying.validate(environment, image)
    try:
        if not dry_run:
            secrets.confirm_cluster(context, environment)
    except secrets.SecretsError as error:
        console.print(str(error), style="red", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    ctx = checks.context()
    problems = [str(p) for found in checks.run(ctx).values() for p in found]
    if problems:
        for problem in problems:
            console.print(problem, markup=False, highlight=False)
        console.print("[red]not deployed: `dataops check` found the problems above[/red]")
        raise typer.Exit(1)
    try:
        release = deploying.build(environment, image, ctx)
    except RegistryError as error:
        console.print(f"not deployed: {error}", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(f"{environment} {image}: {len(release.objects)} objects in {release.manifest}")
    for name in release.objects:
        console.print(f"  {name}")
    for pinned in release.images:
        console.print(f"image: {pinned}", markup=False, highlight=False, soft_wrap=True)
    for command in release.commands(context):
        console.print(f"{'would run' if dry_run else 'runs'}: {command}", markup=False)
    if dry_run:
        return
    try:
        deploying.apply(release, context)
    except secrets.SecretsError as error:
        console.print(str(error), style="red", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(f"[green]{environment} runs {image}[/green]")
