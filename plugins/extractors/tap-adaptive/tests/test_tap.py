"""tap-adaptive against the Adaptive simulator, run as a real process."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from dataops.sandbox import records, serve
from dataops.testing import singer_run, tap_tests
from dataops.testing.singer_run import Replica

SEED = 9
KEYS = {
    "versions": ["id"],
    "accounts": ["id"],
    "levels": ["id"],
    "dimensions": ["id"],
    "dimension_values": ["dimension_id", "id"],
    "users": ["id"],
    "time_periods": ["code"],
    "attributes": ["id"],
    "currencies": ["code"],
    "plan_data": ["version", "account_code", "level_name", "dimension_key", "period"],
}


def config_for(sandbox: Any, **extra: Any) -> dict[str, Any]:
    return tap_tests.config_for("adaptive", sandbox, end_period="2026-12", **extra)


def run_tap(
    tmp_path: Path, config: dict[str, Any], state: dict | None = None, into: Replica | None = None
) -> singer_run.TapRun:
    return tap_tests.run_tap("adaptive", tmp_path, config, state, into)


def assert_equal_to_truth(
    replica: Replica, epoch: int, seed: int = SEED, scale: int = 1, first_period: str = ""
) -> None:
    assert set(records("adaptive", seed=seed, scale=scale, epoch=epoch)) == set(KEYS)
    tap_tests.assert_replica_is_truth(
        replica,
        "adaptive",
        seed=seed,
        epoch=epoch,
        scale=scale,
        keep=lambda stream, row: stream != "plan_data" or row["period"] >= first_period,
    )


def test_every_stream_equals_truth_through_faults(tmp_path: Path) -> None:
    faults = "429:0.05,500:0.05,503:0.05,reset:0.03,truncate:0.03,html:0.03"
    replica = Replica()
    with serve("adaptive", seed=SEED, faults=faults, retry_after=0) as sandbox:
        done = run_tap(tmp_path, config_for(sandbox), into=replica)
        injected = sandbox.stats.snapshot()["faults"]
    assert done.returncode == 0, done.stderr[-3000:]
    assert sum(injected.values()) > 0, injected
    assert_equal_to_truth(replica, epoch=0)


def test_blanked_cells_and_cleared_lines_leave_the_warehouse(tmp_path: Path) -> None:
    """Each run reads every version and activates its table version: what Adaptive no
    longer holds (deleted from epoch 2 on) is deleted downstream, nothing else."""
    replica, state = Replica(), None
    for epoch in (0, 2, 3):
        before = {tuple(r[k] for k in KEYS["plan_data"]) for r in replica.table("plan_data")}
        with serve("adaptive", seed=SEED, epoch=epoch) as sandbox:
            done = run_tap(tmp_path, config_for(sandbox), state, into=replica)
        assert done.returncode == 0, done.stderr[-3000:]
        assert replica.activations.get("plan_data") == 1 + (epoch > 0) + (epoch > 2)
        assert_equal_to_truth(replica, epoch=epoch)
        state = done.last_state
        after = {tuple(r[k] for k in KEYS["plan_data"]) for r in replica.table("plan_data")}
        if epoch >= 2:
            assert before - after, "the sandbox deleted no cell"


# (seed, scale, months_per_request, max_parallel_requests, start_period): the issue's
# reproduction (seed 5150, scale 5, 12 months; 1-month spans at scale 2, where they
# cost less), spans not aligned to a year, and
# one combination drawn anew each day (the same in every pytest-xdist worker; its
# values are the test id). `dataops soak` draws many more.
_DRAW = random.Random(date.today().toordinal())
SHAPES = [
    (5150, 5, 12, 4, "2023-01"),
    (5150, 2, 1, 8, "2023-01"),
    (3, 3, 3, 2, "2023-04"),
    (11, 2, 6, 1, "2024-02"),
    (
        _DRAW.randrange(10_000),
        _DRAW.randint(1, 3),
        _DRAW.choice([1, 3, 6, 12]),
        _DRAW.randint(1, 8),
        f"{_DRAW.randint(2023, 2026)}-{_DRAW.randint(1, 12):02d}",
    ),
]


@pytest.mark.parametrize(("seed", "scale", "months", "parallel", "start"), SHAPES)
def test_plan_data_does_not_depend_on_how_requests_are_split(
    tmp_path: Path, seed: int, scale: int, months: int, parallel: int, start: str
) -> None:
    """Zero and blank cells are no row, so every split of the work into exportData
    calls (span length, span boundaries, parallel calls) yields exactly the truth."""
    replica = Replica()
    with serve("adaptive", seed=seed, scale=scale, epoch=1) as sandbox:
        config = config_for(
            sandbox, months_per_request=months, max_parallel_requests=parallel, start_period=start
        )
        done = run_tap(tmp_path, config, into=replica)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_equal_to_truth(replica, epoch=1, seed=seed, scale=scale, first_period=start)


def test_no_schema_for_a_stream_without_rows(tmp_path: Path) -> None:
    """A loader creates no empty table: an unused stream sends no SCHEMA at all."""
    with serve("adaptive", seed=SEED) as sandbox:
        names = [
            v["name"]
            for v in records("adaptive", seed=SEED)["versions"]
            if v["type"] != "VERSION_FOLDER"
        ]
        done = run_tap(tmp_path, config_for(sandbox, versions_exclude=names))
    assert done.returncode == 0, done.stderr[-3000:]
    schemas = {m["stream"] for m in done.messages if m["type"] == "SCHEMA"}
    assert "plan_data" not in schemas
    assert "versions" in schemas


def run_failing(tmp_path: Path, config: dict[str, Any]) -> str:
    """The stderr of a run that must fail clearly: exit status 1, no traceback."""
    done = run_tap(tmp_path, config)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    return done.stderr


def test_wrong_credentials_fail_clearly_without_leaking_them(tmp_path: Path) -> None:
    with serve("adaptive", seed=SEED) as sandbox:
        stderr = run_failing(tmp_path, config_for(sandbox, password="not-it-xyz"))
    assert "tap-adaptive failed: Adaptive refused the credentials" in stderr
    assert "TAP_ADAPTIVE_PASSWORD" in stderr
    assert "not-it-xyz" not in stderr


def test_unknown_version_names_fail_clearly(tmp_path: Path) -> None:
    with serve("adaptive", seed=SEED) as sandbox:
        stderr = run_failing(tmp_path, config_for(sandbox, versions_include=["No Such Plan"]))
    assert (
        "tap-adaptive failed: tap-adaptive `versions_include`/`versions_exclude`: no version"
        in stderr
    )
    assert "['No Such Plan']" in stderr


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("months_per_request", "tap-adaptive `months_per_request` must be at least 1, got 0"),
        ("max_parallel_requests", "tap-adaptive `max_parallel_requests` must be at least 1, got 0"),
    ],
)
def test_a_setting_out_of_range_fails_clearly(tmp_path: Path, setting: str, message: str) -> None:
    with serve("adaptive", seed=SEED) as sandbox:
        stderr = run_failing(tmp_path, config_for(sandbox, **{setting: 0}))
    assert message in stderr
