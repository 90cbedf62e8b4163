"""Incremental reruns: a full sync, the source's next epoch, a rerun from the state.

Per tap, `tap | target-duckdb` (target-duckdb configured as meltano.yml has it) syncs
the sandbox at epoch 0 into a new DuckDB file, and the target's last STATE message is
kept. The sandbox then serves epoch 1 and the same pipeline runs again from that state
into the same warehouse. What each tap can read again less of:

- EdCast: the events after the bookmark (`WHERE Time …`), after one COUNT that checks
  that nothing at or before it changed; in Parquet BATCH files, as the edcast-to-duckdb
  schedule runs it. Its sandbox appends 10 % of epoch 0's events per epoch; here the
  sandbox option `epoch_events_percent=1` makes epoch 1 a 1 % change.
- Xactly: keyset pages from the bookmark less `lookback_seconds` (3,600 s), after one
  COUNT per table that checks no row was deleted; tables with string keys are read
  whole every run.
- Adaptive: locked versions never change, so a rerun could skip them; tap-adaptive
  reads every version every run (its ACTIVATE_VERSION would delete what it skipped).
- ZenGRC: the API has no server-side filter: every page is read again, and the tap
  sends only objects updated since the bookmark (less `lookback_seconds`, 300 s) or new.

Reported per tap: what epoch 1 changed (keys added `+`, rows changed `~`, keys removed
`-`, from the sandbox's data at both epochs, against all its rows at epoch 0); both
wall times and `rerun / full`; the fixed start-up measured apart (`--about`:
interpreter and imports; `--discover`: those plus login and metadata, which every run
pays; Xactly: a JVM started with one login), and the rerun less `--discover` over the
full sync; the records the tap sent (its `record_count` metrics) and the rows the
target wrote (inserted or updated: `_sdc_batched_at` set by the run); and whether the
warehouse after the rerun equals the sandbox's truth at epoch 1, value by value
(EdCast's events compared in DuckDB, the rest with `dataops.testing.verify`).

The sandboxes run in this process, on the loopback, with no added latency. Scales: the
full sync takes about a minute for EdCast and Xactly; Adaptive's and ZenGRC's are
smaller to keep the scenario within about 8 minutes (Adaptive reads everything again
whatever the scale; ZenGRC's figure is what it sends, not its time).
"""

# ruff: noqa: S608 - SQL built from the sandbox's own column names, quoted
from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console

from bench.edcast_million import OUR_TARGET, STREAM, batch_settings
from bench.measure import run_measured, run_pipeline
from bench.xactly_sync import jvm_start
from dataops import warehouse
from dataops.sandbox import edcast, get_vendor, serve
from dataops.sandbox.vendor import DataParams
from dataops.testing import verify

BIN = Path(sys.executable).parent
TARGET_SETTINGS = {
    **OUR_TARGET,
    "validate_records": False,
    "hard_delete": True,
    "delete_batch_files": True,
}
"""target-duckdb's settings in meltano.yml (besides its path and schema)."""
Options = Mapping[str, Any]
"""Sandbox options of an epoch (`serve(…, **options)`)."""
console = Console(stderr=True)


@dataclass(frozen=True)
class Case:
    """One tap against its sandbox."""

    vendor: str
    scale: int
    settings: Callable[[Any, Path], dict[str, Any]]
    """The tap's config for a running sandbox (and a work directory)."""
    reads_again: str
    """What a rerun reads, in a few words (for the table)."""
    epoch_1: Options = field(default_factory=dict)
    """Sandbox options of the epoch 1 to rerun against."""
    startup_extra: Callable[[Any], dict[str, float]] = field(default=lambda _: {})
    """Start-up figures besides `--about` and `--discover` (Xactly: the JVM)."""

    @property
    def tap(self) -> str:
        return str(BIN / f"tap-{self.vendor}")

    @property
    def schema(self) -> str:
        return f"tap_{self.vendor}"


def edcast_settings(sandbox: Any, work: Path) -> dict[str, Any]:
    return {"url_base": sandbox.url, **sandbox.credentials, **batch_settings(work)}


def xactly_settings(sandbox: Any, work: Path) -> dict[str, Any]:
    return {
        **sandbox.credentials,
        "client_id": "bench",
        "consumer": "bench",
        "driver_jar": sandbox.driver_jar,
        "driver_class": sandbox.driver_class,
        "jdbc_url": sandbox.url,
    }


def adaptive_settings(sandbox: Any, work: Path) -> dict[str, Any]:
    # The months the sandbox's truth covers (as in the dev environment), whatever the date.
    periods = {"start_period": "2023-01", "end_period": "2026-12"}
    return {"url_base": sandbox.url, **sandbox.credentials, **periods}


def zengrc_settings(sandbox: Any, work: Path) -> dict[str, Any]:
    return {"base_url": sandbox.url, **sandbox.credentials}


CASES = (
    Case(
        "edcast",
        2000,
        edcast_settings,
        "events after the bookmark (WHERE Time)",
        epoch_1={"epoch_events_percent": 1},
    ),
    Case(
        "xactly",
        220,
        xactly_settings,
        "rows from the bookmark less 1 h (keyset); string-keyed tables whole",
        startup_extra=lambda sandbox: {"jvm_start_s": jvm_start(sandbox)},
    ),
    Case("adaptive", 5, adaptive_settings, "every version, locked ones too"),
    Case("zengrc", 4, zengrc_settings, "every page; sends objects changed or new"),
)


@contextmanager
def step(what: str) -> Iterator[None]:
    """Show `what` while it runs, then how long it took."""
    started = time.perf_counter()
    with console.status(f"incremental: {what} …"):
        yield
    console.print(f"incremental: {what}: {time.perf_counter() - started:.1f} s")


# --- one run -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One `tap | target-duckdb` run."""

    wall_s: float
    sent: int
    """Records the tap sent (the SDK's `record_count` metrics, every stream)."""
    written: int
    """Rows the target inserted or updated (`_sdc_batched_at` set by this run)."""
    state: Path
    """The target's last STATE message, as `--state` takes it."""


def sync(
    case: Case, sandbox: Any, db: Path, work: Path, label: str, state: Path | None = None
) -> Run:
    """`tap | target-duckdb` into `db`, from `state` if given."""
    tap_config, target_config = work / f"{label}.tap.json", work / f"{label}.target.json"
    tap_config.write_text(json.dumps(case.settings(sandbox, work)))
    target_config.write_text(
        json.dumps({"path": str(db), "default_target_schema": case.schema, **TARGET_SETTINGS})
    )
    tap = [case.tap, "--config", str(tap_config)] + (["--state", str(state)] if state else [])
    tap_log, output = work / f"{label}.tap.log", work / f"{label}.out.jsonl"
    started = datetime.now(UTC)
    measured = run_pipeline(
        tap,
        [str(BIN / "target-duckdb"), "--config", str(target_config)],
        log=work / f"{label}.target.log",
        tap_log=tap_log,
        target_stdout=output,
    )
    states = output.read_text().splitlines()
    assert states, f"target-duckdb sent no STATE message; see {work}/{label}.*"
    final_state = work / f"{label}.state.json"
    final_state.write_text(states[-1])
    written = sum(warehouse.rows_written_since(db, started).values())
    return Run(measured.wall_s, records_sent(tap_log), written, final_state)


def records_sent(tap_log: Path) -> int:
    """Records sent, summed from the tap's `record_count` METRIC log lines."""
    sent = 0
    for line in tap_log.read_text(errors="replace").splitlines():
        _, marker, payload = line.partition("METRIC: ")
        if marker and (metric := json.loads(payload)).get("metric") == "record_count":
            sent += int(metric["value"])
    return sent


def startup(case: Case, sandbox: Any, work: Path) -> dict[str, float]:
    """The tap's fixed costs, each measured on its own."""
    config = work / "startup.json"
    config.write_text(json.dumps(case.settings(sandbox, work)))
    about = run_measured([case.tap, "--about"])
    discover = run_measured([case.tap, "--config", str(config), "--discover"])
    assert discover.returncode == 0, f"{case.tap} --discover failed"
    return {"about_s": about.wall_s, "discover_s": discover.wall_s, **case.startup_extra(sandbox)}


# --- what epoch 1 changed --------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """What the next epoch did to the source, against its rows before."""

    rows_before: int
    added: int
    changed: int
    removed: int

    @property
    def rows(self) -> int:
        return self.added + self.changed + self.removed

    def __add__(self, other: Change) -> Change:
        return Change(
            self.rows_before + other.rows_before,
            self.added + other.added,
            self.changed + other.changed,
            self.removed + other.removed,
        )

    def describe(self) -> str:
        return f"{self.rows:,} (+{self.added:,} ~{self.changed:,} -{self.removed:,})"


NO_CHANGE = Change(0, 0, 0, 0)


def record_change(vendor: str, scale: int) -> Change:
    """Epoch 0 → 1 from the sandbox's records, matched on each stream's key."""
    spec = get_vendor(vendor)
    before = spec.generate(DataParams(scale=scale))
    after = spec.generate(DataParams(scale=scale, epoch=1))
    total = NO_CHANGE
    for stream in before.keys() | after.keys():
        key = spec.key_properties[stream]
        old = {tuple(r[k] for k in key): r for r in before.get(stream, [])}
        new = {tuple(r[k] for k in key): r for r in after.get(stream, [])}
        changed = sum(1 for k in old.keys() & new.keys() if old[k] != new[k])
        added, removed = len(new.keys() - old.keys()), len(old.keys() - new.keys())
        total += Change(len(old), added, changed, removed)
    return total


def edcast_examined(db: Path, scale: int, options: Options) -> tuple[Change, str]:
    """EdCast's epoch 1, whose events are too many for row dicts: what it changed and
    how the warehouse compares with it, from its truth tables in one DuckDB session."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{db}' AS wh (READ_ONLY)")

    def count(sql: str) -> int:
        return int(con.execute(f"SELECT count(*) FROM ({sql})").fetchall()[0][0])

    change, problems, rows = NO_CHANGE, [], 0
    for stream in (edcast.DATASETS_STREAM, STREAM):  # what tap-edcast syncs by default
        before = edcast.truth_table(DataParams(scale=scale), stream)  # options: epochs >= 1
        after = edcast.truth_table(DataParams(scale=scale, epoch=1), stream, **options)
        con.register("old", before)
        con.register("new", after)
        using = ", ".join(warehouse.quote_ident(k) for k in edcast.KEY_PROPERTIES[stream])
        added = count(f"SELECT * FROM new ANTI JOIN old USING ({using})")
        changed = count("SELECT * FROM new EXCEPT SELECT * FROM old") - added
        removed = count(f"SELECT * FROM old ANTI JOIN new USING ({using})")
        change += Change(before.num_rows, added, changed, removed)
        rows += after.num_rows
        columns = ", ".join(warehouse.quote_ident(name) for name in after.column_names)
        loaded = f"SELECT {columns} FROM wh.tap_edcast.{stream} WHERE _sdc_deleted_at IS NULL"
        if missing := count(f"SELECT * FROM new EXCEPT {loaded}"):
            problems.append(f"{stream}: {missing:,} rows of the truth missing or different")
        if extra := count(f"{loaded} EXCEPT SELECT * FROM new"):
            problems.append(f"{stream}: {extra:,} rows not in the truth")
    return change, "; ".join(problems) or f"exact ({rows:,} rows)"


def examined(case: Case, db: Path) -> tuple[Change, str]:
    """What epoch 1 changed, and `exact (N rows)` or how the warehouse differs from it."""
    if case.vendor == "edcast":
        return edcast_examined(db, case.scale, case.epoch_1)
    reports = verify.compare_with_truth(
        db, case.vendor, case.schema, seed=0, epoch=1, scale=case.scale
    )
    problems = [report.describe() for report in reports if not report.ok]
    truth = "; ".join(problems) or f"exact ({sum(r.rows for r in reports):,} rows)"
    return record_change(case.vendor, case.scale), truth


# --- the scenario ----------------------------------------------------------------------


def measure(case: Case, work: Path) -> dict[str, Any]:
    """A full sync at epoch 0, then a rerun from its state at epoch 1."""
    name = f"{case.vendor} (scale {case.scale})"
    db = work / "warehouse.duckdb"
    with serve(case.vendor, scale=case.scale) as sandbox:
        with step(f"{name}: start-up alone"):
            fixed = startup(case, sandbox, work)
        with step(f"{name}: full sync at epoch 0"):
            full = sync(case, sandbox, db, work, "full")
    with (
        serve(case.vendor, scale=case.scale, epoch=1, **case.epoch_1) as sandbox,
        step(f"{name}: rerun at epoch 1"),
    ):
        rerun = sync(case, sandbox, db, work, "rerun", state=full.state)
    with step(f"{name}: what epoch 1 changed, the warehouse against it"):
        change, truth = examined(case, db)
    options = ", ".join(f"{k}={v}" for k, v in case.epoch_1.items())
    return {
        "tap": f"tap-{case.vendor}",
        "scale": case.scale,
        "source_rows": change.rows_before,
        "changed_at_epoch_1": change.describe() + (f" ({options})" if options else ""),
        "change": f"{change.rows / change.rows_before:.1%}",
        "full_s": round(full.wall_s, 1),
        "rerun_s": round(rerun.wall_s, 1),
        "rerun_over_full": f"{rerun.wall_s / full.wall_s:.1%}",
        "about_s": round(fixed["about_s"], 2),
        "discover_s": round(fixed["discover_s"], 2),
        "jvm_start_s": round(fixed["jvm_start_s"], 2) if "jvm_start_s" in fixed else "-",
        "rerun_less_discover_over_full": (
            f"{(rerun.wall_s - fixed['discover_s']) / full.wall_s:.1%}"
        ),
        "sent_full": full.sent,
        "sent_rerun": rerun.sent,
        "written_rerun": rerun.written,
        "rerun_reads": case.reads_again,
        "warehouse_vs_truth_at_epoch_1": truth,
    }


def run(cases: tuple[Case, ...] = CASES) -> list[dict[str, Any]]:
    rows = []
    for case in cases:
        with tempfile.TemporaryDirectory(prefix=f"incremental-{case.vendor}-") as tmp:
            rows.append(measure(case, Path(tmp)))
    return rows
