"""`dataops soak` as `make test` keeps it: a 2-trial smoke, and a divergence it must
catch, report and replay exactly (the soak itself runs with `make soak`)."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest

from dataops import project
from dataops.soak import Step, Trial, draw

DATAOPS = str(Path(project.meltano_executable()).with_name("dataops"))


def soak(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DATAOPS, "soak", *args], capture_output=True, text=True, timeout=900, check=False
    )


def test_draws_repeat_from_their_seed_and_trials_replay_from_their_json() -> None:
    vendors, loaders = ["zengrc", "edcast", "xactly", "adaptive"], ["duckdb", "postgres"]
    rng_a, rng_b = random.Random(7), random.Random(7)
    first = [draw(rng_a, n, vendors, loaders) for n in range(1, 30)]
    assert first == [draw(rng_b, n, vendors, loaders) for n in range(1, 30)]
    assert len({t.vendor for t in first}) == 4
    for trial in first:
        assert Trial.from_json(trial.to_json()) == trial
        assert 2 <= len(trial.steps) <= 4
        assert trial.steps[0].epoch == 0
        assert [s.epoch for s in trial.steps] == sorted({s.epoch for s in trial.steps})
        if trial.loader == "postgres":
            assert "TAP_EDCAST_BATCH_MODE" not in trial.settings


def test_two_trials_end_exact() -> None:
    done = soak("--trials", "2", "--seed", "2024", "--max-scale", "1")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "soak seed 2024 (repeat the whole soak with --seed 2024)"
    assert sum(line.startswith("exact ") for line in lines) == 2
    assert lines[-1] == "2 trials, 2 exact, 0 diverged"


def test_a_divergence_is_reported_with_the_trial_to_replay() -> None:
    """A loader told to ignore deletions keeps rows Adaptive deleted at epoch 2: the
    soak must say so, exit 1, and print the trial that replays it."""
    trial = Trial(
        number=1,
        vendor="adaptive",
        loader="duckdb",
        seed=3,
        scale=1,
        faults="500:0.03",
        latency_ms=0,
        page_size=None,
        settings={"TARGET_DUCKDB_PROCESS_ACTIVATE_VERSION_MESSAGES": "false"},
        steps=(Step(0), Step(2)),
    )
    done = soak("--replay", trial.to_json())
    assert done.returncode == 1, done.stdout[-4000:] + done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == "1 trials, 0 exact, 1 diverged"
    assert any(line.startswith("DIVERGED #1 adaptive→duckdb seed=3") for line in lines)
    assert any("epoch 2: tap_adaptive.plan_data" in line and "unexpected" in line for line in lines)
    [replay] = [line for line in lines if "replay: dataops soak --replay" in line]
    assert Trial.from_json(replay.split("--replay ", 1)[1].strip("'")) == trial


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trials", "1", "--vendors", "salesforce"], "unknown salesforce"),
        (["--replay", '{"vendor": "x"}'], "--replay takes the JSON a diverged trial printed"),
        ([], "give --trials, --minutes"),
    ],
)
def test_bad_options_are_clear_errors(args: list[str], message: str) -> None:
    done = soak(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_replay_json_round_trips() -> None:
    trial = Trial(1, "zengrc", "postgres", 5, 2, "", 5, 20, {}, (Step(0, 3), Step(2, None, 1.5)))
    assert json.loads(trial.to_json())["steps"][1] == {
        "epoch": 2,
        "move_after": None,
        "kill_after": 1.5,
    }
