"""`dataops state` over real Meltano state: list, show, reset one stream's bookmark
(the next run reads only that stream whole), set from a file, and the guards."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from dataops import project, status
from dataops.sandbox import records, serve
from dataops.testing import verify
from tapkit.backfill import instant

DATAOPS = str(Path(project.meltano_executable()).with_name("dataops"))
SCHEDULE = "zengrc-to-duckdb"
SEED = 21
DESELECTED = {"vendors": frozenset({"owners", "contact"})}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The `dev` environment with its own system database and warehouse."""
    return {
        **project.isolated_env(tmp_path),
        "MELTANO_ENVIRONMENT": "dev",
        "TARGET_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
    }


def dataops(env: dict[str, str], *args: str, answer: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DATAOPS, *args],
        env={**os.environ, **env},
        input=answer,
        capture_output=True,
        text=True,
        check=False,
    )


def schedule_run(env: dict[str, str], epoch: int) -> None:
    with serve("zengrc", seed=SEED, epoch=epoch) as sandbox:
        project.meltano(
            "schedule", "run", SCHEDULE, env={**env, "TAP_ZENGRC_BASE_URL": sandbox.url}
        )


def stored(env: dict[str, str]) -> dict:
    shown = dataops(env, "state", "show", SCHEDULE)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def test_reset_one_streams_bookmark_then_only_it_is_read_whole(env: dict[str, str]) -> None:
    schedule_run(env, epoch=0)
    listed = dataops(env, "state", "list")
    assert listed.returncode == 0, listed.stderr
    assert SCHEDULE in listed.stdout
    assert "audits" in listed.stdout
    before = stored(env)
    marks = before["singer_state"]["bookmarks"]
    assert len(marks) == len(records("zengrc", seed=SEED))

    declined = dataops(env, "state", "reset", SCHEDULE, "--stream", "audits", answer="n\n")
    assert declined.returncode == 0, declined.stderr
    assert "Change it? [y/N]" in declined.stdout
    assert "audits" in declined.stdout  # what would change was shown
    assert stored(env) == before

    done = dataops(env, "state", "reset", SCHEDULE, "--stream", "audits", "--yes")
    assert done.returncode == 0, done.stderr
    after = stored(env)["singer_state"]["bookmarks"]
    assert after == {stream: mark for stream, mark in marks.items() if stream != "audits"}

    schedule_run(env, epoch=1)
    truth = records("zengrc", seed=SEED, epoch=1)
    run = status.newest_run(env["MELTANO_DATABASE_URI"], SCHEDULE)
    assert run is not None
    assert run.streams is not None
    sent = {stream: counts.records_sent for stream, counts in run.streams.items()}
    assert sent["audits"] == len(truth["audits"])  # read whole again
    for stream in truth.keys() - {"audits"}:
        assert sent[stream] < len(truth[stream]), stream  # from their bookmarks
    reports = verify.compare_with_truth(
        Path(env["TARGET_DUCKDB_PATH"]),
        "zengrc",
        "tap_zengrc",
        seed=SEED,
        epoch=1,
        dropped_fields=DESELECTED,
    )
    assert [r.describe() for r in reports if not r.ok] == []

    # `dataops resync` of another stream at the next epoch (which deletes objects):
    # only it is read, whole; the other bookmarks stay.
    before = stored(env)["singer_state"]["bookmarks"]
    with serve("zengrc", seed=SEED, epoch=2) as sandbox:
        done = dataops(
            {**env, "TAP_ZENGRC_BASE_URL": sandbox.url}, "resync", SCHEDULE, "--stream", "risks"
        )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    after = stored(env)["singer_state"]["bookmarks"]
    assert {s: m for s, m in after.items() if s != "risks"} == {
        s: m for s, m in before.items() if s != "risks"
    }
    run = status.newest_run(env["MELTANO_DATABASE_URI"], SCHEDULE)
    assert run is not None
    assert run.streams is not None
    risks = records("zengrc", seed=SEED, epoch=2)["risks"]
    assert {s: c.records_sent for s, c in run.streams.items()} == {"risks": len(risks)}
    report = verify.compare_table(
        Path(env["TARGET_DUCKDB_PATH"]), "tap_zengrc", "risks", risks, ["id"]
    )
    assert report.ok, report.describe()

    # A name that matches no stream selects nothing: the run fails and says which exist.
    with serve("zengrc", seed=SEED, epoch=2) as sandbox:
        done = dataops(
            {**env, "TAP_ZENGRC_BASE_URL": sandbox.url}, "resync", SCHEDULE, "--stream", "riskz"
        )
    assert done.returncode != 0
    assert "no stream is selected" in done.stdout + done.stderr
    assert "audits, " in done.stdout + done.stderr
    assert stored(env)["singer_state"]["bookmarks"] == after

    # A backfill of audits from a date (after a run at this epoch): only the audits
    # updated since then are read, incrementally; no older row is removed.
    schedule_run(env, epoch=2)
    before = stored(env)["singer_state"]["bookmarks"]
    audits = records("zengrc", seed=SEED, epoch=2)["audits"]
    since = sorted(audit["updated_at"] for audit in audits)[len(audits) // 2][:10]
    with serve("zengrc", seed=SEED, epoch=2) as sandbox:
        done = dataops(
            {**env, "TAP_ZENGRC_BASE_URL": sandbox.url},
            *("resync", SCHEDULE, "--stream", "audits", "--start-date", since),
        )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"TAP_ZENGRC_BACKFILL_FROM={since}" in done.stdout
    run = status.newest_run(env["MELTANO_DATABASE_URI"], SCHEDULE)
    assert run is not None
    assert run.streams is not None
    newer = [a for a in audits if datetime.fromisoformat(a["updated_at"]) >= instant(since)]
    assert 0 < len(newer) < len(audits)
    assert {s: c.records_sent for s, c in run.streams.items()} == {"audits": len(newer)}
    after = stored(env)["singer_state"]["bookmarks"]
    assert {s: m for s, m in after.items() if s != "audits"} == {
        s: m for s, m in before.items() if s != "audits"
    }
    mark = "replication_key_value"
    assert after["audits"][mark] == before["audits"][mark]  # where it was: nothing skipped
    report = verify.compare_table(
        Path(env["TARGET_DUCKDB_PATH"]), "tap_zengrc", "audits", audits, ["id"]
    )
    assert report.ok, report.describe()


def test_set_from_a_file_and_the_guards(env: dict[str, str], tmp_path: Path) -> None:
    schedule_run(env, epoch=0)
    before = stored(env)
    saved = tmp_path / "state.json"
    saved.write_text(json.dumps(before))
    assert dataops(env, "state", "reset", SCHEDULE, "--yes").returncode == 0
    assert stored(env) == {}

    bad = tmp_path / "bad.json"
    bad.write_text('{"bookmarks": {}}')
    refused = dataops(env, "state", "set", SCHEDULE, "--file", str(bad), "--yes")
    assert refused.returncode == 2
    assert f"{bad}: expected" in refused.stdout

    unknown = dataops(env, "state", "reset", "no-such-schedule", "--yes")
    assert unknown.returncode == 2
    assert "no schedule or stored state named 'no-such-schedule'" in unknown.stdout

    production = {**env, "MELTANO_ENVIRONMENT": "production"}
    guarded = dataops(production, "state", "set", SCHEDULE, "--file", str(saved), "--yes")
    assert guarded.returncode == 2
    assert "add `--environment production`" in guarded.stdout

    restored = dataops(env, "state", "set", SCHEDULE, "--file", str(saved), "--yes")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert stored(env) == before
