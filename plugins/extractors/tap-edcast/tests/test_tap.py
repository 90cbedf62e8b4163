"""tap-edcast against the Domo sandbox, run as a real process: clean values, faults,
deletions over epochs, page size and parallelism, data moving during a sync, kills."""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from dataops.sandbox import records, serve
from dataops.testing import singer_run, tap_tests
from dataops.testing.singer_run import Replica
from dataops.testing.tap_tests import sent, start_tap
from dataops.testing.verify import normalise, same
from tapkit.versions import UNFINISHED

GLUE = "glue_groups_g3_group_performance_data_explorer"
USERS_STREAM = "edcast_users"
KEYS = {GLUE: ["ECL ID", "Time", "Group Name"], USERS_STREAM: ["User ID"], "datasets": ["id"]}
USERS = {
    "name": "EdCastUsers",
    "stream": USERS_STREAM,
    "replication_key": "Updated At",
    "primary_keys": KEYS[USERS_STREAM],
}
DEFAULT = [
    {
        "name": "GlueGroupsG3GroupPerformanceDataExplorerStreams",
        "stream": GLUE,
        "replication_key": "Time",
        "primary_keys": KEYS[GLUE],
    }
]
BOTH = [*DEFAULT, USERS]


def config_for(sandbox: Any, **extra: Any) -> dict[str, Any]:
    return tap_tests.config_for("edcast", sandbox, **extra)


def run_tap(
    tmp_path: Path, config: dict[str, Any], state: dict | None = None, into: Replica | None = None
) -> singer_run.TapRun:
    """A run that must succeed."""
    done = tap_tests.run_tap("edcast", tmp_path, config, state, into)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def run_failing(tmp_path: Path, config: dict[str, Any]) -> str:
    """The stderr of a run that must fail clearly: exit status 1, no traceback."""
    done = tap_tests.run_tap("edcast", tmp_path, config)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    return done.stderr


def key_of(row: dict[str, Any], stream: str) -> tuple:
    return tuple(normalise(row[k]) for k in KEYS[stream])


def truth_of(stream: str, seed: int, epoch: int, scale: int = 1, since: str = "") -> dict:
    """The stream's rows at an epoch by key (those at or after ``since``, for events)."""
    rows = records("edcast", seed=seed, scale=scale, epoch=epoch)[stream]
    return {key_of(r, stream): r for r in rows if stream != GLUE or normalise(r["Time"]) >= since}


def table_of(replica: Replica, stream: str) -> dict:
    return {key_of(r, stream): r for r in replica.table(stream)}


def same_row(got: dict[str, Any], expected: dict[str, Any]) -> bool:
    return all(same(normalise(got.get(n)), normalise(v)) for n, v in expected.items())


def assert_equal(got: dict, expected: dict, stream: str) -> None:
    assert got.keys() == expected.keys(), (
        stream,
        sorted(expected.keys() - got.keys())[:3],
        sorted(got.keys() - expected.keys())[:3],
    )
    wrong = [k for k, row in expected.items() if not same_row(got[k], row)]
    assert not wrong, (stream, len(wrong), wrong[:3])


def assert_replica_is_truth(
    replica: Replica, seed: int, epoch: int, streams: tuple[str, ...] = (GLUE, "datasets")
) -> None:
    tap_tests.assert_replica_is_truth(replica, "edcast", seed=seed, epoch=epoch, streams=streams)


def test_records_are_the_clean_values_of_every_event(tmp_path: Path) -> None:
    replica = Replica()
    with serve("edcast", seed=3) as sandbox:
        run_tap(tmp_path, config_for(sandbox, page_size=450, datasets=BOTH), into=replica)
    assert_replica_is_truth(replica, 3, 0, (GLUE, USERS_STREAM, "datasets"))


def test_runs_over_epochs_equal_the_truth_and_lose_the_rows_replaced_away(tmp_path: Path) -> None:
    """Epochs 0 → 3, one run each. From epoch 2 on, Domo's replace uploads leave rows
    out: the count at the bookmark differs, the run reads every row and activates its
    version, and the rows left out leave the replica. Epoch 1 only appends events: that
    run reads the new ones only, and activates nothing. (Users are updated every epoch:
    an updated user leaves its place below the bookmark, so each of those runs is a full
    read too.)"""
    seed, replica, state = 13, Replica(), None
    full_reads = {GLUE: [], USERS_STREAM: []}
    for epoch in (0, 1, 2, 3):
        before = set(table_of(replica, GLUE))
        with serve("edcast", seed=seed, epoch=epoch) as sandbox:
            config = config_for(sandbox, page_size=300, max_parallel_pages=3, datasets=BOTH)
            done = run_tap(tmp_path, config, state, into=replica)
        state = done.last_state
        assert_replica_is_truth(replica, seed, epoch, (GLUE, USERS_STREAM, "datasets"))
        for stream, runs in full_reads.items():
            runs.append(replica.activations.get(stream, 0))
        if epoch == 1:
            new = truth_of(GLUE, seed, 1).keys() - truth_of(GLUE, seed, 0).keys()
            assert set(table_of(replica, GLUE)) - before == new
        if epoch >= 2:
            assert before - set(table_of(replica, GLUE)), "no event was replaced away"
    assert full_reads == {GLUE: [1, 1, 2, 3], USERS_STREAM: [1, 2, 3, 4]}
    assert replica.activations["datasets"] == 4


def test_a_run_with_nothing_new_reads_nothing_and_keeps_the_bookmark(tmp_path: Path) -> None:
    with serve("edcast", seed=14, epoch=2) as sandbox:
        first = run_tap(tmp_path, config_for(sandbox, page_size=500))
        again = run_tap(tmp_path, config_for(sandbox, page_size=500), first.last_state)
    assert not sent(again.messages, GLUE)
    assert not sent(again.messages, GLUE, "ACTIVATE_VERSION")
    assert bookmark(again) == bookmark(first)
    assert bookmark(first)["rows_up_to_bookmark"] == source_rows(14, 2)


def bookmark(done: singer_run.TapRun) -> dict[str, Any]:
    """The events stream's bookmark, without the run's table version."""
    state = done.last_state["bookmarks"][GLUE]
    return {k: v for k, v in state.items() if k != "table_version"}


def source_rows(seed: int, epoch: int, scale: int = 1) -> int:
    """Rows of the events dataset (a repeated key counts each time), as its catalogue says."""
    catalogue = records("edcast", seed=seed, scale=scale, epoch=epoch)["datasets"]
    return next(int(d["rows"]) for d in catalogue if d["name"] == DEFAULT[0]["name"])


# (seed, scale, epoch, start_date, [(page_size, max_parallel_pages), …]): one page size
# below the largest key group (2 rows; a narrow window keeps that run short), several
# seeds and scales, one draw a day (its values are the test id).
_DRAW = random.Random(date.today().toordinal())
SHAPES = [
    (11, 1, 1, "2022-01-04T00:00:00Z", [(1, 4), (13, 1), (500, 2)]),
    (12, 3, 0, "1900-01-01T00:00:00Z", [(149, 4), (7000, 1)]),
    (
        _DRAW.randrange(10_000),
        _DRAW.randint(1, 2),
        _DRAW.randint(0, 3),
        "1900-01-01T00:00:00Z",
        [(_DRAW.randint(40, 400), _DRAW.randint(1, 6)), (_DRAW.randint(400, 3000), 1)],
    ),
]


@pytest.mark.parametrize(("seed", "scale", "epoch", "start", "settings"), SHAPES)
def test_results_do_not_depend_on_page_size_or_parallelism(
    tmp_path: Path,
    seed: int,
    scale: int,
    epoch: int,
    start: str,
    settings: list[tuple[int, int]],
) -> None:
    """Every page size, parallelism and memory limit pass on the same rows in the same
    order: the same table (the last row of a repeated key wins) and the same bookmark."""
    bookmarks = []
    expected = truth_of(GLUE, seed, epoch, scale, since=normalise(start))
    with serve("edcast", seed=seed, scale=scale, epoch=epoch) as sandbox:
        for i, (page_size, parallel) in enumerate(settings):
            memory = ("256MB", "96MB")[i % 2]  # 96MB: DuckDB spills to disk sooner
            replica = Replica()
            config = config_for(
                sandbox,
                page_size=page_size,
                max_parallel_pages=parallel,
                start_date=start,
                memory_limit=memory,
            )
            done = run_tap(tmp_path, config, into=replica)
            assert_equal(table_of(replica, GLUE), expected, GLUE)
            bookmarks.append(bookmark(done))
    assert all(b == bookmarks[0] for b in bookmarks), bookmarks


def test_every_event_arrives_through_faults_token_expiry_and_a_result_cap(tmp_path: Path) -> None:
    """Answers capped at 300 rows while pages ask for 401: every capped answer is read
    on from its last whole key group."""
    faults = "429:0.05,500:0.05,503:0.05,reset:0.03,truncate:0.03,html:0.03,query-error:0.1"
    replica = Replica()
    with serve(
        "edcast",
        seed=5,
        faults=faults,
        retry_after=0,
        token_ttl_seconds=1,
        max_result_rows=300,
        # Discovery alone (catalogue, sample, count: one after another) outlasts a token.
        latency_ms=250,
    ) as sandbox:
        done = run_tap(tmp_path, config_for(sandbox, page_size=400), into=replica)
        injected = sandbox.stats.snapshot()["faults"]
    assert "query-error" in injected, injected
    assert sum(injected.values()) >= 5, injected
    # Tokens live 1 s: the sync needed several (refreshed before expiry or after a 401).
    assert done.stderr.count("Domo access token obtained") >= 2
    assert_replica_is_truth(replica, 5, 0)


# (epoch served, move after this many data requests, whether the run starts from the
# state of a run at the epoch before, page size). Without state the run reads every row
# and the data move (from 2 to 3: rows replaced away, rows appended) during the
# catalogue listing, the boundary probes, the ranges; from epoch 0's state the run reads
# epoch 1's new rows, and the data move to epoch 2 between its ranges.
MOVES = [(2, 4, False, 250), (2, 9, False, 250), (2, 16, False, 250), (1, 9, True, 50)]


@pytest.mark.parametrize(("epoch", "move_after", "from_state", "page_size"), MOVES)
def test_data_moving_during_a_sync(
    tmp_path: Path, epoch: int, move_after: int, from_state: bool, page_size: int
) -> None:
    """After the run the data moved under: no row that is in neither epoch, no value of
    neither; the next run (at the new epoch) makes the replica exactly its truth."""
    seed, replica, state = 15, Replica(), None
    settings = {"page_size": page_size, "max_parallel_pages": 3}
    if from_state:
        with serve("edcast", seed=seed, epoch=epoch - 1) as sandbox:
            state = run_tap(tmp_path, config_for(sandbox), into=replica).last_state
    with serve("edcast", seed=seed, epoch=epoch, move_after=move_after) as sandbox:
        done = run_tap(tmp_path, config_for(sandbox, **settings), state, into=replica)
        assert sandbox.moved
    for stream in (GLUE, "datasets"):
        old, new = truth_of(stream, seed, epoch), truth_of(stream, seed, epoch + 1)
        for key, row in table_of(replica, stream).items():
            candidates = [truth[key] for truth in (old, new) if key in truth]
            assert any(same_row(row, c) for c in candidates), (stream, key, row)
    with serve("edcast", seed=seed, epoch=epoch + 1) as sandbox:
        run_tap(tmp_path, config_for(sandbox), done.last_state, into=replica)
    assert_replica_is_truth(replica, seed, epoch + 1)


def test_the_catalogue_is_listed_again_when_it_changes_while_listed(tmp_path: Path) -> None:
    """Epoch 3 deletes the 48th dataset by name: the second page of 50 (offset 49), read
    after the move, no longer starts with the last object of the first, so the listing
    starts again and the catalogue is exactly epoch 3's (an offset would skip one)."""
    replica = Replica()
    with serve("edcast", seed=15, epoch=2, move_after=1) as sandbox:
        run_tap(tmp_path, config_for(sandbox, datasets=[]), into=replica)
        assert sandbox.moved
    assert_equal(table_of(replica, "datasets"), truth_of("datasets", 15, 3), "datasets")


# (epoch of the run before, epoch of the killed run, page size): epoch 2 replaced rows
# away, so that run is a full read; epoch 1 only appended, so that one reads on from
# the bookmark. The rerun is at the next epoch: the source changed after the kill.
KILLS = [(1, 2, 100), (0, 1, 20)]


@pytest.mark.parametrize(("before", "killed_at", "page_size"), KILLS)
def test_a_run_killed_midway_is_followed_by_a_full_read_that_ends_exact(
    tmp_path: Path, before: int, killed_at: int, page_size: int
) -> None:
    """SIGKILLed after a few pages (the replica keeps every record it got, beyond the
    last STATE too, as a loader may), the run leaves its mark in the state: the next
    run reads every row with a newer version, and the replica ends exact — also when
    rows the killed run sent were deleted before the rerun."""
    seed, replica = 16, Replica()
    settings = {"page_size": page_size, "max_parallel_pages": 2}
    with serve("edcast", seed=seed, epoch=before) as sandbox:
        state = run_tap(tmp_path, config_for(sandbox), into=replica).last_state
    with serve("edcast", seed=seed, epoch=killed_at) as sandbox:
        tap = start_tap("edcast", tmp_path, config_for(sandbox, **settings), state)
        assert tap.stdout is not None
        versions, covered = set(), 0
        while covered < 3:  # three pages passed on, each followed by a STATE
            line = tap.stdout.readline()
            assert line, "the tap ended before the kill"
            message = json.loads(line)
            replica.apply(message)
            if message["type"] == "RECORD" and message["stream"] == GLUE:
                versions.add(message["version"])
            if message["type"] == "STATE" and versions:
                state, covered = message["value"], covered + 1
        tap.kill()
        tap.wait()
    [version] = versions
    assert state["bookmarks"][GLUE][UNFINISHED] == version
    with serve("edcast", seed=seed, epoch=killed_at + 1) as sandbox:
        done = run_tap(tmp_path, config_for(sandbox), state)
    for message in done.messages:
        replica.apply(message)
    assert "reading every row (the last run did not finish)" in done.stderr
    [activated] = [m["version"] for m in sent(done.messages, GLUE, "ACTIVATE_VERSION")]
    assert activated > version
    assert len(sent(done.messages, GLUE)) == source_rows(seed, killed_at + 1)
    assert done.last_state["bookmarks"][GLUE][UNFINISHED] is None
    assert_replica_is_truth(replica, seed, killed_at + 1)


def batch_rows(messages: list[dict]) -> list[dict]:
    """The rows of the events stream's BATCH files (Parquet or JSON lines), in the order
    they were sent."""
    rows = []
    for message in sent(messages, GLUE, "BATCH"):
        for url in message["manifest"]:
            path = Path(url.removeprefix("file://"))
            if path.suffix == ".parquet":
                rows += pq.read_table(path).to_pylist()
            else:
                rows += [json.loads(line) for line in path.read_text().splitlines()]
    return rows


@pytest.mark.parametrize(("encoding", "root"), [("parquet", "url"), ("jsonl", "relative")])
def test_batch_files_hold_the_rows_and_the_table_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoding: str, root: str
) -> None:
    """Rows loaded from a BATCH file get no metadata from the loader: each file carries
    ``_sdc_table_version`` itself, else the full read's activation would delete them.
    A relative storage root is relative to the Meltano project the tap runs in."""
    project_root = tmp_path / "project"
    monkeypatch.setenv("MELTANO_PROJECT_ROOT", str(project_root))
    batch_config = {
        "encoding": {"format": encoding, "compression": "none"},
        "storage": {
            "root": (project_root / "batches").as_uri() if root == "url" else "batches",
            "prefix": "t-",
        },
    }
    with serve("edcast", seed=6) as sandbox:
        done = run_tap(tmp_path, config_for(sandbox, page_size=500, batch_config=batch_config))
    assert len(sent(done.messages, GLUE, "BATCH")) >= 4
    files = [url for m in sent(done.messages, GLUE, "BATCH") for url in m["manifest"]]
    assert all(url.startswith((project_root / "batches" / "t-").as_uri()) for url in files)
    rows = batch_rows(done.messages)
    [version] = [m["version"] for m in sent(done.messages, GLUE, "ACTIVATE_VERSION")]
    assert {row.pop("_sdc_table_version") for row in rows} == {version}
    assert_equal({key_of(r, GLUE): r for r in rows}, truth_of(GLUE, 6, 0), GLUE)
    assert bookmark(done)["rows_up_to_bookmark"] == len(rows) == source_rows(6, 0)
    assert normalise(bookmark(done)["replication_key_value"]) == max(
        normalise(r["Time"]) for r in rows
    )


@pytest.mark.parametrize("mode", ["records", "batch"])
def test_second_sync_reads_only_events_after_the_bookmark(tmp_path: Path, mode: str) -> None:
    batches = {"encoding": {"format": "parquet"}, "storage": {"root": tmp_path.as_uri()}}
    extra = {"batch_config": batches} if mode == "batch" else {}
    with serve("edcast", seed=7, epoch=0) as sandbox:
        state = run_tap(tmp_path, config_for(sandbox, **extra)).last_state
    with serve("edcast", seed=7, epoch=1) as sandbox:
        second = run_tap(tmp_path, config_for(sandbox, **extra), state=state)
    rows = [m["record"] for m in sent(second.messages, GLUE)] + batch_rows(second.messages)
    assert len(rows) == source_rows(7, 1) - source_rows(7, 0)
    new = truth_of(GLUE, 7, 1).keys() - truth_of(GLUE, 7, 0).keys()
    assert {key_of(r, GLUE) for r in rows} == new
    assert not sent(second.messages, GLUE, "ACTIVATE_VERSION")


def test_runs_can_switch_between_record_and_batch_mode(tmp_path: Path) -> None:
    batches = {"encoding": {"format": "parquet"}, "storage": {"root": tmp_path.as_uri()}}
    state: dict | None = None
    bookmarks = []
    with serve("edcast", seed=8) as sandbox:
        for extra in ({}, {"batch_config": batches}, {}, {"batch_config": batches}):
            done = run_tap(tmp_path, config_for(sandbox, **extra), state=state)
            state = done.last_state
            bookmarks.append(bookmark(done))
    assert all(b == bookmarks[0] for b in bookmarks), bookmarks  # one bookmark, written one way


def test_wrong_credentials_fail_clearly_without_leaking_them(tmp_path: Path) -> None:
    with serve("edcast") as sandbox:
        stderr = run_failing(tmp_path, config_for(sandbox, password="not-it-xyz"))
    assert "tap-edcast failed: Domo refused the client credentials (HTTP 401)" in stderr
    assert "TAP_EDCAST_PASSWORD" in stderr
    assert "not-it-xyz" not in stderr


def test_a_memory_limit_duckdb_cannot_read_fails_clearly(tmp_path: Path) -> None:
    with serve("edcast") as sandbox:
        stderr = run_failing(tmp_path, config_for(sandbox, memory_limit="lots"))
    assert "tap-edcast `memory_limit`: Parser Error: Memory must have a number" in stderr


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("page_size", 0, "tap-edcast `page_size` must be at least 1, got 0"),
        ("max_parallel_pages", -2, "tap-edcast `max_parallel_pages` must be at least 1, got -2"),
        ("max_retries", -1, "tap-edcast `max_retries` must be at least 0, got -1"),
    ],
)
def test_a_setting_out_of_range_fails_clearly(
    tmp_path: Path, setting: str, value: int, message: str
) -> None:
    with serve("edcast") as sandbox:
        stderr = run_failing(tmp_path, config_for(sandbox, **{setting: value}))
    assert message in stderr


def test_unknown_dataset_fails_clearly(tmp_path: Path) -> None:
    with serve("edcast") as sandbox:
        missing = {**DEFAULT[0], "name": "NoSuchDataset"}
        stderr = run_failing(tmp_path, config_for(sandbox, datasets=[missing]))
    assert "Domo has no dataset named 'NoSuchDataset'" in stderr


@pytest.mark.parametrize(
    ("bad_key", "message"),
    [
        (["Nope"], "are not in the dataset"),
        (["ECL ID", "Tiem"], "are not in the dataset"),
        (["ECL ID", "is_public"], "['is_public'] are boolean columns"),
    ],
)
def test_unusable_keys_fail_clearly(tmp_path: Path, bad_key: list[str], message: str) -> None:
    with serve("edcast") as sandbox:
        entry = {**DEFAULT[0], "primary_keys": bad_key}
        stderr = run_failing(tmp_path, config_for(sandbox, datasets=[entry]))
    assert message in stderr
