"""`dataops soak`: random trials of whole pipelines against changing, faulty sandboxes.

A trial draws a vendor, a loader, a sandbox seed and scale, a fault mix and latency,
settings that must not change the result (page sizes, parallelism, months per
request, record or batch mode, the loader's batch size) and 2 to 4 epochs (inserts and
updates; deletions and late commits from epoch 2). At some epochs the data moves on
to the next epoch while the sync reads it (`move_after`), at one the pipeline may be
SIGKILLed at a random moment and rerun with `--force`, as the DAG's retry does. After
every epoch the warehouse is compared with the sandbox's ground truth, row by row and
value by value (live rows only). A trial is printed on one line, and a diverged one
with the JSON that `--replay` takes to run it again exactly.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dataops import project, soak_coverage, warehouse
from dataops.demo import SANDBOX_FOR_EXTRACTOR
from dataops.meltano_files import setting_variable
from dataops.testing import pipelines

POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432"
EXTRACTOR = {binding.vendor: extractor for extractor, binding in SANDBOX_FOR_EXTRACTOR.items()}
LOADERS = {"duckdb": "target-duckdb", "postgres": "target-postgres"}

# What the `ci` environment loads, when it is not every stream or field the sandbox
# serves (meltano/extractors.meltano.yml: select rules and configured datasets).
STREAMS = {"edcast": ("datasets", "glue_groups_g3_group_performance_data_explorer")}
DROPPED = {"zengrc": {"vendors": frozenset({"owners", "contact"})}}

MAX_SCALE = {"zengrc": 20, "edcast": 8, "xactly": 8, "adaptive": 3}
"""The largest scale a trial draws per vendor (scale 1 ≈ a small tenant)."""
HTTP_FAULTS = ("429", "500", "502", "503", "reset", "truncate", "html")
VENDOR_FAULTS = {"edcast": ("query-error",)}
MOVING = frozenset({"zengrc", "edcast"})
"""Vendors whose sandbox can move its data to the next epoch during a sync."""
EPOCH_PLANS = ((0, 1), (0, 2), (0, 1, 2), (0, 2, 3), (0, 1, 2, 3), (0, 1, 3))


@dataclass(frozen=True)
class Step:
    """One epoch of a trial: the sandbox serves `epoch`; with `move_after` it moves to
    `epoch + 1` after that many data requests, and a second run then reads it still;
    with `kill_after` the pipeline is SIGKILLed that many seconds in, then rerun."""

    epoch: int
    move_after: int | None = None
    kill_after: float | None = None

    @property
    def settled_epoch(self) -> int:
        """The epoch the warehouse must equal after this step, if the data moved."""
        return self.epoch + 1


@dataclass(frozen=True)
class Trial:
    number: int
    vendor: str
    loader: str
    seed: int
    scale: int
    faults: str
    latency_ms: int
    page_size: int | None
    """The sandbox's own page size (ZenGRC's server-side pages), None elsewhere."""
    settings: dict[str, str]
    """Env settings of the tap and loader that must not change the result."""
    steps: tuple[Step, ...]

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Trial:
        try:
            data = json.loads(text)
            data["steps"] = tuple(Step(**step) for step in data["steps"])
            trial = cls(**data)
        except (json.JSONDecodeError, TypeError, KeyError) as exc:
            msg = f"--replay takes the JSON a diverged trial printed ({exc})"
            raise ValueError(msg) from None
        if trial.vendor not in EXTRACTOR or trial.loader not in LOADERS:
            msg = f"--replay: unknown vendor {trial.vendor!r} or loader {trial.loader!r}"
            raise ValueError(msg)
        return trial

    def describe(self) -> str:
        epochs = ",".join(
            f"{s.epoch}"
            + (f"~{s.move_after}" if s.move_after else "")
            + (f"!{s.kill_after:.1f}s" if s.kill_after is not None else "")
            for s in self.steps
        )
        knobs = " ".join(f"{k.split('_', 1)[1].lower()}={v}" for k, v in self.settings.items())
        return (
            f"#{self.number} {self.vendor}→{self.loader} seed={self.seed} scale={self.scale} "
            f"epochs={epochs} faults={self.faults or '-'} latency={self.latency_ms}ms {knobs}"
        )


@dataclass
class Outcome:
    trial: Trial
    problems: list[str] = field(default_factory=list)
    kills: int = 0
    """Kills that hit a running pipeline (a kill drawn after the run ended does not)."""
    moves: int = 0
    seconds: float = 0.0

    @property
    def exact(self) -> bool:
        return not self.problems


def draw(
    rng: random.Random,
    number: int,
    vendors: list[str],
    loaders: list[str],
    max_scale: int | None = None,
) -> Trial:
    """One random trial (every choice from `rng`, so a seed repeats a whole soak)."""
    vendor, loader = rng.choice(vendors), rng.choice(loaders)
    largest = min(MAX_SCALE[vendor], max_scale or MAX_SCALE[vendor])
    scale = 1 + int(rng.random() ** 3 * largest)  # mostly small, some large
    scale = min(scale, largest)
    settings = _tap_settings(rng, vendor, loader)
    sizes = [50, 1000, 100_000] if loader == "duckdb" else [500, 10_000]  # PG: slow per batch
    settings[setting_variable(LOADERS[loader], "batch_size_rows")] = str(rng.choice(sizes))
    faults = ""
    if vendor != "xactly" and rng.random() < 0.8:
        kinds = rng.sample(HTTP_FAULTS + VENDOR_FAULTS.get(vendor, ()), k=rng.randint(1, 4))
        faults = ",".join(f"{kind}:{rng.choice([0.01, 0.03, 0.06])}" for kind in kinds)
    epochs = rng.choice(EPOCH_PLANS)
    steps = []
    for i, epoch in enumerate(epochs):
        following = epochs[i + 1] if i + 1 < len(epochs) else epoch + 2
        move = vendor in MOVING and following > epoch + 1 and rng.random() < 0.5
        steps.append(Step(epoch, move_after=rng.randint(1, 40) if move else None))
    if rng.random() < 0.4:
        at = rng.randrange(len(steps))
        if steps[at].move_after is None:
            steps[at] = replace(steps[at], kill_after=round(rng.uniform(0.5, 8.0), 1))
    return Trial(
        number=number,
        vendor=vendor,
        loader=loader,
        seed=rng.randrange(100_000),
        scale=scale,
        faults=faults,
        latency_ms=rng.choice([0, 0, 5, 20]),
        page_size=rng.choice([5, 20, 50]) if vendor == "zengrc" else None,
        settings=settings,
        steps=tuple(steps),
    )


def _tap_settings(rng: random.Random, vendor: str, loader: str) -> dict[str, str]:
    if vendor == "zengrc":
        return {"TAP_ZENGRC_MAX_PARALLEL_STREAMS": str(rng.randint(1, 4))}
    if vendor == "edcast":
        settings = {
            "TAP_EDCAST_PAGE_SIZE": str(rng.choice([37, 200, 1000, 50_000])),
            "TAP_EDCAST_MAX_PARALLEL_PAGES": str(rng.randint(1, 4)),
        }
        # BATCH files carry no record metadata into target-postgres: records only there.
        mode = rng.choice(["records", "parquet", "jsonl"]) if loader == "duckdb" else "records"
        if mode != "records":
            settings["TAP_EDCAST_BATCH_MODE"] = mode
        return settings
    if vendor == "xactly":
        return {
            "TAP_XACTLY_PAGE_SIZE": str(rng.choice([7, 100, 10_000])),
            "TAP_XACTLY_MAX_PARALLEL_STREAMS": str(rng.randint(1, 4)),
        }
    return {
        "TAP_ADAPTIVE_MONTHS_PER_REQUEST": str(rng.choice([1, 3, 6, 12])),
        "TAP_ADAPTIVE_MAX_PARALLEL_REQUESTS": str(rng.randint(1, 8)),
    }


# --- running a trial ---------------------------------------------------------------


class Workspace:
    """One trial's own Meltano system database and warehouse (DuckDB file or a new
    PostgreSQL database, dropped at the end)."""

    def __init__(self, trial: Trial, root: Path) -> None:
        self.trial = trial
        self.root = root
        self.env = {**project.isolated_env(root), "MELTANO_ENVIRONMENT": "ci"}
        self.env.update(_pipeline_settings(trial, root))
        self.database: str | None = None
        if trial.loader == "duckdb":
            self.location: warehouse.Location = root / "warehouse.duckdb"
            self.env["TARGET_DUCKDB_PATH"] = str(self.location)
        else:
            self.database = f"dataops_soak_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as con:
                con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
            self.location = f"{POSTGRES_SERVER}/{self.database}"
            url = str(self.location).replace("postgresql://", "postgresql+psycopg://")
            self.env["TARGET_POSTGRES_SQLALCHEMY_URL"] = url

    def close(self) -> None:
        if self.database is not None:
            with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as con:
                con.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(self.database)
                    )
                )
        shutil.rmtree(self.root, ignore_errors=True)


def _pipeline_settings(trial: Trial, root: Path) -> dict[str, str]:
    """The trial's settings as the env vars Meltano reads (batch mode as its config)."""
    settings = dict(trial.settings)
    mode = settings.pop("TAP_EDCAST_BATCH_MODE", None)
    if mode is not None:
        encoding = (
            {"format": "parquet", "compression": "none"}
            if mode == "parquet"
            else {"format": "jsonl", "compression": "gzip"}
        )
        storage = {"root": (root / "batches").as_uri(), "prefix": "soak-"}
        settings["TAP_EDCAST_BATCH_CONFIG"] = json.dumps({"encoding": encoding, "storage": storage})
    return settings


def run_trial(trial: Trial, on_step: Any = None) -> Outcome:
    """Every step of `trial`; after each, the warehouse compared with the truth."""
    outcome = Outcome(trial)
    started = time.monotonic()
    workspace = Workspace(trial, Path(tempfile.mkdtemp(prefix=f"soak-{trial.number}-")))
    try:
        for step in trial.steps:
            if on_step is not None:
                on_step(trial, step)
            problems = _run_step(trial, step, workspace, outcome)
            if problems:
                outcome.problems = [f"epoch {step.epoch}: {p}" for p in problems]
                break
    finally:
        workspace.close()
    outcome.seconds = time.monotonic() - started
    return outcome


def _run_step(trial: Trial, step: Step, workspace: Workspace, outcome: Outcome) -> list[str]:
    """One epoch, then the warehouse compared with the truth (after a sync the data
    moved under, once more when the data is still)."""
    extractor, loader = EXTRACTOR[trial.vendor], LOADERS[trial.loader]
    with _sandbox(trial, step.epoch, step.move_after) as (sandbox, pointed):
        env = {**workspace.env, **pointed}
        if step.kill_after is not None and pipelines.killed_midway(
            extractor, loader, env, step.kill_after
        ):
            outcome.kills += 1
        failure = pipelines.run(extractor, loader, env, *_force(outcome))
        moved = sandbox.moved
    if failure:
        return [failure]
    if not moved:
        return _differences(trial, workspace.location, step.epoch)
    outcome.moves += 1
    problems = pipelines.moving_run_problems(
        workspace.location,
        trial.vendor,
        seed=trial.seed,
        epoch=step.epoch,
        scale=trial.scale,
        streams=STREAMS.get(trial.vendor),
    )
    if problems:
        return problems
    with _sandbox(trial, step.settled_epoch, None) as (_, pointed):
        env = {**workspace.env, **pointed}
        failure = pipelines.run(extractor, loader, env, *_force(outcome))
    return [failure] if failure else _differences(trial, workspace.location, step.settled_epoch)


def _force(outcome: Outcome) -> tuple[str, ...]:
    """After a kill every run forces: the killed run stays marked running in Meltano
    for 5 minutes, and the epochs after it stand for later days."""
    return ("--force",) if outcome.kills else ()


def _sandbox(trial: Trial, epoch: int, move_after: int | None) -> Any:
    """The trial's sandbox at `epoch`, faults and latency on, and the env that points
    the extractor at it (:func:`pipelines.sandbox_env`)."""
    extractor = EXTRACTOR[trial.vendor]
    options: dict[str, Any] = {"latency_ms": trial.latency_ms}
    if SANDBOX_FOR_EXTRACTOR[extractor].http:
        options |= {"faults": trial.faults, "retry_after": 0}
        if trial.page_size:
            options["page_size"] = trial.page_size
    if move_after is not None:
        options["move_after"] = move_after
    return pipelines.sandbox_env(
        extractor, seed=trial.seed, scale=trial.scale, epoch=epoch, **options
    )


def _differences(trial: Trial, location: warehouse.Location, epoch: int) -> list[str]:
    return pipelines.differences(
        location,
        trial.vendor,
        seed=trial.seed,
        epoch=epoch,
        scale=trial.scale,
        streams=STREAMS.get(trial.vendor),
        dropped_fields=DROPPED.get(trial.vendor),
    )


# --- the command -------------------------------------------------------------------


@dataclass
class SoakOptions:
    trials: int | None
    minutes: float | None
    seed: int
    vendors: list[str]
    loaders: list[str]
    replay: str | None = None
    workers: int = 1
    max_scale: int | None = None
    report: Path | None = None
    """Where to write the coverage table (markdown), if anywhere."""


def soak(options: SoakOptions, console: Console) -> int:
    """Run trials (`workers` at a time) until the count or the time is reached; print
    one line per trial and the summary; return the exit code (1 on any divergence).

    Trial n is the same whatever the number of workers: draws are made in order."""
    if options.replay is not None:
        planned: Iterator[Trial] = iter([Trial.from_json(_replay_text(options.replay))])
        total: int | None = 1
    else:
        rng = random.Random(options.seed)
        planned = (
            draw(rng, number, options.vendors, options.loaders, options.max_scale)
            for number in _numbers(options)
        )
        total = options.trials
    deadline = time.monotonic() + options.minutes * 60 if options.minutes else None
    outcomes: list[Outcome] = []
    columns = (
        TextColumn("[bold]soak[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    running: dict[int, str] = {}
    lock = threading.Lock()
    with (
        Progress(*columns, console=console, transient=True) as progress,
        ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="trial") as pool,
    ):
        task = progress.add_task("", total=total)

        def on_step(trial: Trial, step: Step) -> None:
            with lock:
                running[trial.number] = f"#{trial.number} {trial.vendor} epoch {step.epoch}"
                progress.update(task, description="  ".join(running.values()))

        def one(trial: Trial) -> Outcome:
            outcome = run_trial(trial, on_step)
            with lock:
                running.pop(trial.number, None)
                outcomes.append(outcome)
                progress.advance(task)
                _print_outcome(console, outcome)
            return outcome

        pending: set[Future[Outcome]] = set()
        for trial in planned:
            if deadline is not None and time.monotonic() > deadline:
                break
            if len(pending) >= options.workers:
                _, pending = wait(pending, return_when=FIRST_COMPLETED)
            if deadline is not None and time.monotonic() > deadline:
                break
            pending.add(pool.submit(one, trial))
        for future in pending:
            future.result()
    if len(outcomes) > 1:
        # As wide as the table needs, whatever the terminal (or file) is.
        Console(file=console.file, width=max(console.width, 150)).print(
            soak_coverage.table(outcomes)
        )
    if options.report is not None:
        options.report.write_text(soak_coverage.markdown(outcomes, options.seed))
    exact = sum(o.exact for o in outcomes)
    console.print(f"{len(outcomes)} trials, {exact} exact, {len(outcomes) - exact} diverged")
    return 0 if exact == len(outcomes) else 1


def _numbers(options: SoakOptions) -> Iterator[int]:
    number = 1
    while options.trials is None or number <= options.trials:
        yield number
        number += 1


def _replay_text(replay: str) -> str:
    """`--replay` takes the JSON itself or a file holding it."""
    path = Path(replay)
    return path.read_text() if not replay.lstrip().startswith("{") and path.is_file() else replay


def _print_outcome(console: Console, outcome: Outcome) -> None:
    trial = outcome.trial
    facts = f"kills={outcome.kills} moves={outcome.moves} {outcome.seconds:.0f}s"
    if outcome.exact:
        console.print(f"[green]exact[/green]    {trial.describe()} {facts}", highlight=False)
        return
    console.print(f"[red]DIVERGED[/red] {trial.describe()} {facts}", highlight=False)
    for problem in outcome.problems[:10]:
        console.print(f"    {problem}", markup=False, highlight=False)
    console.print("    replay: dataops soak --replay '" + trial.to_json() + "'", markup=False)
