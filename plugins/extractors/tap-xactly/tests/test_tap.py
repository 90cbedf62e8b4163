"""tap-xactly against the Xactly stand-in (H2 over JDBC), run as a real process; what
its runs add up to in a merging, hard-deleting loader (`Replica`) is compared with the
sandbox's truth."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dataops.sandbox import records, serve
from dataops.sandbox.xactly import KEY_PROPERTIES, XactlySandbox, h2_jar
from dataops.testing import singer_run, tap_tests, verify
from dataops.testing.singer_run import Replica
from dataops.testing.tap_tests import activated, emitted, replay, start_tap
from dataops.testing.verify import normalise
from tap_xactly.jdbc import Driver
from tapkit.versions import UNFINISHED

SEED = 8
WHOLE_EVERY_RUN = {"xc_attainment_measure", "xc_quota_relationship"}
"""The sandbox's tables with string keys: read whole each run (deletions cannot be
counted by key)."""


def config_for(sandbox: XactlySandbox, **extra: Any) -> dict[str, Any]:
    return tap_tests.config_for("xactly", sandbox, **extra)


def run_tap(
    tmp_path: Path, config: dict[str, Any], state: dict | None = None, into: Replica | None = None
) -> singer_run.TapRun:
    return tap_tests.run_tap("xactly", tmp_path, config, state, into)


def sync(
    tmp_path: Path, epoch: int, replica: Replica, state: dict | None, seed: int = SEED, **extra: Any
) -> singer_run.TapRun:
    """One run against the sandbox at ``epoch``, applied to ``replica``; all its messages."""
    with serve("xactly", seed=seed, epoch=epoch) as sandbox:
        done = run_tap(tmp_path, config_for(sandbox, **extra), state)
    assert done.returncode == 0, done.stderr[-3000:]
    replay(done.messages, replica)
    return done


def key_of(stream: str, row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[k] for k in KEY_PROPERTIES[stream])


def keyed(stream: str, rows: list[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {key_of(stream, row): row for row in rows}


def differences(replica: Replica, epoch: int, seed: int = SEED) -> dict[str, set[tuple]]:
    """Per stream, the keys the replica lacks, has in excess, or holds another value of."""
    assert set(replica.rows) <= set(records("xactly", seed=seed, epoch=epoch))
    reports = verify.compare_replica(replica, "xactly", seed=seed, epoch=epoch)
    return {
        r.table: {*r.missing_keys, *r.unexpected_keys, *r.mismatched_keys}
        for r in reports
        if not r.ok
    }


def assert_equal_to_truth(replica: Replica, epoch: int, seed: int = SEED) -> None:
    wrong = differences(replica, epoch, seed)
    assert not wrong, {stream: sorted(keys)[:5] for stream, keys in wrong.items()}


def latest_date(rows: list[dict[str, Any]]) -> datetime:
    return max(row["MODIFIED_DATE"] for row in rows)


def committed_late(stream: str, before: list[dict], rows: list[dict]) -> set[tuple[Any, ...]]:
    """Keys of the rows new or changed since ``before`` yet dated before its latest date:
    a sync of ``before`` had a bookmark past them."""
    old, bookmark = keyed(stream, before), latest_date(before)
    return {
        key_of(stream, row)
        for row in rows
        if old.get(key_of(stream, row)) != row and row["MODIFIED_DATE"] < bookmark
    }


@pytest.fixture(scope="module")
def epoch0() -> Iterator[XactlySandbox]:
    with serve("xactly", seed=SEED) as sandbox:
        yield sandbox


def test_first_sync_reads_every_table_whole_and_history_keeps_versions(
    tmp_path: Path, epoch0: XactlySandbox
) -> None:
    done = run_tap(tmp_path, config_for(epoch0, page_size=40))
    assert done.returncode == 0, done.stderr[-3000:]
    truth = records("xactly", seed=SEED)
    assert emitted(done.messages) == Counter({stream: len(rows) for stream, rows in truth.items()})
    replica = replay(done.messages, Replica())
    assert_equal_to_truth(replica, epoch=0)
    # A first sync is a full read of every table, each with the version its records carry.
    versions = activated(done.messages)
    assert set(versions) == set(truth)
    for message in done.messages:
        if message["type"] == "RECORD":
            assert message["version"] == versions[message["stream"]]
    history = Counter(row["POSITION_ID"] for row in replica.table("xc_position_hist"))
    assert max(history.values()) >= 3
    schemas = {m["stream"]: m for m in done.messages if m["type"] == "SCHEMA"}
    assert schemas["xc_position_hist"]["key_properties"] == ["POSITION_ID", "VERSION"]
    assert schemas["xc_quota_relationship"]["key_properties"] == ["QUOTA_RELATIONSHIP_ID"]
    props = schemas["xc_participant"]["schema"]["properties"]
    assert props["SALARY__LOCAL"]["type"] == ["number", "null"]
    assert props["HIRE_DATE"] == {"type": ["string", "null"], "format": "date"}
    assert props["MODIFIED_DATE"]["format"] == "date-time"
    assert props["IS_MASTER"]["type"] == ["boolean", "null"]
    assert schemas["xc_quota_relationship"]["schema"]["properties"]["QUOTA_RELATIONSHIP_ID"][
        "type"
    ] == ["string", "null"]
    bookmarks = done.last_state["bookmarks"]
    credit = bookmarks["xc_credit"]
    assert credit["replication_key"] == "MODIFIED_DATE"
    assert normalise(credit["replication_key_value"]) == normalise(latest_date(truth["xc_credit"]))
    last_credit = max(row["CREDIT_ID"] for row in truth["xc_credit"])
    assert credit["row_count"] == {"last_key": [last_credit], "rows": len(truth["xc_credit"])}
    assert credit[UNFINISHED] is None  # the full read was finished
    hist = bookmarks["xc_position_hist"]["row_count"]
    history_rows = truth["xc_position_hist"]
    assert hist["last_key"] == list(max(key_of("xc_position_hist", r) for r in history_rows))
    assert "row_count" not in bookmarks["xc_quota_relationship"]


def test_each_run_reads_from_its_bookmark_less_the_lookback(
    tmp_path: Path, epoch0: XactlySandbox
) -> None:
    """Without deletions a run reads exactly the rows dated at or after its bookmark less
    `lookback_seconds` (tables with string keys: all), and activates no version."""
    lookback = timedelta(seconds=3600)
    first = run_tap(tmp_path, config_for(epoch0))
    assert first.returncode == 0, first.stderr[-3000:]
    replica = replay(first.messages, Replica())
    old, new = records("xactly", seed=SEED), records("xactly", seed=SEED, epoch=1)
    state = first.last_state
    for settled in (old, new):  # epoch 1 as a change, then again unchanged
        done = sync(tmp_path, 1, replica, state)
        assert set(activated(done.messages)) == WHOLE_EVERY_RUN
        sent = emitted(done.messages)
        for stream, rows in new.items():
            since = latest_date(settled[stream]) - lookback
            expected = (
                rows
                if stream in WHOLE_EVERY_RUN
                else [r for r in rows if r["MODIFIED_DATE"] >= since]
            )
            assert sent[stream] == len(expected), stream
        assert_equal_to_truth(replica, epoch=1)
        state = done.last_state


# (seed, page_size, max_parallel_streams): a fixed one and one drawn anew each day (the
# same in every pytest-xdist worker; its values are the test id).
_DRAW = random.Random(date.today().toordinal())
SHAPES = [(21, 9, 1), (_DRAW.randrange(10_000), _DRAW.choice([50, 1000]), _DRAW.randint(2, 4))]


@pytest.mark.parametrize(("seed", "page_size", "parallel"), SHAPES)
def test_deletions_and_late_commits_reach_the_replica_over_epochs(
    tmp_path: Path, seed: int, page_size: int, parallel: int
) -> None:
    """Epochs 0 → 1 → 2 → 3, each run from the last one's state: after each the replica
    equals the truth — deleted rows removed, late commits read, history kept — whatever
    the page size and the number of tables read at once."""
    replica, state = Replica(), None
    settings = {"page_size": page_size, "max_parallel_streams": parallel}
    for epoch in range(4):
        before = {stream: set(keyed(stream, replica.table(stream))) for stream in replica.rows}
        done = sync(tmp_path, epoch, replica, state, seed=seed, **settings)
        assert_equal_to_truth(replica, epoch, seed)
        state = done.last_state
        if epoch < 2:
            continue
        gone = {s: keys - set(keyed(s, replica.table(s))) for s, keys in before.items()}
        assert any(gone.values()), "the sandbox deleted nothing"
        assert not any(keys for s, keys in gone.items() if s.endswith("_hist"))
        previous, now = (records("xactly", seed=seed, epoch=e) for e in (epoch - 1, epoch))
        late = [
            stream
            for stream, rows in now.items()
            if stream not in activated(done.messages)
            and committed_late(stream, previous[stream], rows)
        ]
        assert late, "no late commit was read incrementally"


def test_without_lookback_late_commits_are_missed(tmp_path: Path) -> None:
    """`lookback_seconds: 0`: after epoch 1 → 2, exactly the rows committed late (dated
    before the epoch 1 bookmark) are missing or stale, in the tables that were not read
    whole — the sandbox does exercise the look-back."""
    seed = 5
    replica = Replica()
    first = sync(tmp_path, 1, replica, None, seed=seed, lookback_seconds=0)
    second = sync(tmp_path, 2, replica, first.last_state, seed=seed, lookback_seconds=0)
    old, new = records("xactly", seed=seed, epoch=1), records("xactly", seed=seed, epoch=2)
    expected: dict[str, set[tuple]] = {}
    for stream, rows in new.items():
        if stream in activated(second.messages):
            continue  # read whole: nothing missed
        late = committed_late(stream, old[stream], rows)
        if late:
            expected[stream] = late
    assert expected, "the sandbox committed nothing late"
    assert differences(replica, 2, seed) == expected


def _finish(process: subprocess.Popen[str], tmp_path: Path) -> tuple[str, str]:
    """The rest of the tap's stdout (read through the same buffer as the lines before:
    `communicate` would skip what that buffer holds) and its whole stderr
    (:func:`tap_tests.start_tap`'s)."""
    assert process.stdout is not None
    out = process.stdout.read()
    process.wait(timeout=120)
    return out, (tmp_path / "stderr.log").read_text()


def _stream_records(process: subprocess.Popen[str], count: int) -> list[dict]:
    assert process.stdout is not None
    messages = []
    while sum(m["type"] == "RECORD" for m in messages) < count:
        line = process.stdout.readline()
        assert line, "the tap ended early"
        messages.append(json.loads(line))
    return messages


def test_a_killed_full_read_is_read_again_whole_with_a_newer_version(tmp_path: Path) -> None:
    """Rows of xc_credit deleted at epoch 2: the run reads it whole, and is SIGKILLed in
    the middle (a loader keeps what it received). The data moves on to epoch 3 (more
    rows deleted, some the killed run had sent); the next run, from the last STATE,
    reads xc_credit whole again with a newer version, and the replica is exact."""
    replica = Replica()
    state = sync(tmp_path, 1, replica, None).last_state
    settings = {"page_size": 20, "max_parallel_streams": 1}
    with serve("xactly", seed=SEED, epoch=2) as sandbox:
        tap = start_tap("xactly", tmp_path, config_for(sandbox, **settings), state)
        assert tap.stdout is not None
        credit: list[dict] = []
        resume_from = None
        while resume_from is None:
            line = tap.stdout.readline()
            assert line, "the tap ended before the kill"
            message = json.loads(line)
            replica.apply(message)
            if message["type"] == "RECORD" and message["stream"] == "xc_credit":
                credit.append(message)
            if message["type"] == "STATE" and len(credit) >= 60:
                resume_from = message["value"]
        tap.kill()
        tap.communicate()
    [killed_version] = {m["version"] for m in credit}
    assert resume_from["bookmarks"]["xc_credit"][UNFINISHED] == killed_version
    rerun = sync(tmp_path, 3, replica, resume_from, **settings)
    version = activated(rerun.messages)["xc_credit"]
    assert version > killed_version
    again = [m for m in rerun.messages if m["type"] == "RECORD" and m["stream"] == "xc_credit"]
    assert {m["version"] for m in again} == {version}
    assert len(again) == len(records("xactly", seed=SEED, epoch=3)["xc_credit"])  # whole
    sent_then_deleted = {m["record"]["CREDIT_ID"] for m in credit} - {
        m["record"]["CREDIT_ID"] for m in again
    }
    assert sent_then_deleted, "no row the killed run sent was deleted before the rerun"
    assert_equal_to_truth(replica, epoch=3)
    assert rerun.last_state["bookmarks"]["xc_credit"][UNFINISHED] is None


def test_a_broken_connection_is_reopened_and_nothing_is_lost(tmp_path: Path) -> None:
    with serve("xactly", seed=SEED) as sandbox:
        # Small pages, one table at a time: the tap blocks on a full stdout pipe while
        # its connection is open, and the sessions are aborted under it.
        tap = start_tap(
            "xactly", tmp_path, config_for(sandbox, page_size=20, max_parallel_streams=1)
        )
        messages = _stream_records(tap, 60)
        assert sandbox.abort_sessions() >= 1
        out, err = _finish(tap, tmp_path)
    assert tap.returncode == 0, err[-3000:]
    messages += [json.loads(line) for line in out.splitlines()]
    assert "Xactly xc_" in err
    assert ": attempt 1 of 6 failed (" in err
    assert "reconnecting in" in err
    assert_equal_to_truth(replay(messages, Replica()), epoch=0)


def test_retries_are_bounded_then_fail_clearly(tmp_path: Path) -> None:
    sandbox = serve("xactly", seed=SEED)
    config = config_for(sandbox, page_size=20, max_parallel_streams=1, max_retries=2)
    try:
        tap = start_tap("xactly", tmp_path, config)
        _stream_records(tap, 40)
    finally:
        sandbox.close()  # the database goes away for good
    _, err = _finish(tap, tmp_path)
    assert tap.returncode == 1
    assert "tap-xactly failed: Xactly xc_" in err
    assert "gave up after 3 attempts: " in err
    assert "attempt 2 of 3 failed (" in err
    assert "attempt 3 of 3 failed" not in err
    assert "Traceback" not in err
    assert "sandbox-secret" not in err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"driver_jar": "/nonexistent/xactly-connect.jar"}, "`driver_jar`: no file at"),
        ({"driver_class": "com.example.NoSuchDriver"}, "`driver_class`: com.example.NoSuchDriver"),
        ({"jdbc_url": "jdbc:postgresql://127.0.0.1/x"}, "does not accept the URL"),
        ({"password": "not-the-secret-xyz"}, "check user and password"),
        ({"schema": "nope"}, "no schema 'nope'"),
        ({"page_size": 0}, "tap-xactly `page_size` must be at least 1, got 0"),
        ({"lookback_seconds": -60}, "tap-xactly `lookback_seconds` must be at least 0, got -60"),
        (
            {"max_parallel_streams": 0},
            "tap-xactly `max_parallel_streams` must be at least 1, got 0",
        ),
        ({"max_retries": -1}, "tap-xactly `max_retries` must be at least 0, got -1"),
    ],
)
def test_setup_mistakes_fail_clearly(
    tmp_path: Path, epoch0: XactlySandbox, change: dict[str, Any], message: str
) -> None:
    done = run_tap(tmp_path, config_for(epoch0, **change))
    assert done.returncode == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert "not-the-secret-xyz" not in done.stderr
    assert "sandbox-secret" not in done.stderr


def test_a_java_home_without_java_fails_clearly(tmp_path: Path, epoch0: XactlySandbox) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(config_for(epoch0)))
    executable = Path(sys.executable).with_name("tap-xactly")
    done = subprocess.run(
        [str(executable), "--config", str(config), "--discover"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "JAVA_HOME": str(tmp_path)},
        check=False,
    )
    assert done.returncode == 1
    assert f"JAVA_HOME={tmp_path} holds no Java VM library" in done.stderr
    assert "Traceback" not in done.stderr


def sha256_of(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_a_jar_with_another_hash_is_refused_before_it_is_loaded(
    tmp_path: Path, epoch0: XactlySandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """H2's jar with one byte more, checked against H2's hash: refused with a one-line
    message, before the JVM even starts (a JAVA_HOME without Java is not reached), and
    nothing is read; the private copy the check made is gone."""
    jar = tmp_path / "driver.jar"
    jar.write_bytes(Path(epoch0.driver_jar).read_bytes() + b"\0")
    expected = sha256_of(epoch0.driver_jar)
    config = config_for(epoch0, driver_jar=str(jar), driver_sha256=expected)
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    done = run_tap(tmp_path, config)
    assert done.returncode == 1
    assert done.messages == []
    [failure] = [line for line in done.stderr.splitlines() if "tap-xactly failed" in line]
    assert (
        f"tap-xactly failed: tap-xactly `driver_sha256`: refusing the driver jar {jar}: its "
        f"SHA-256 is {sha256_of(jar)[:12]}…, expected {expected[:12]}…; upload the right jar"
    ) in failure
    assert "set driver_sha256 (TAP_XACTLY_DRIVER_SHA256)" in failure
    assert "Traceback" not in done.stderr
    assert list(temp.iterdir()) == []

    monkeypatch.setenv("JAVA_HOME", str(tmp_path))  # no Java here
    again = run_tap(tmp_path, config)
    assert again.returncode == 1
    assert "refusing the driver jar" in again.stderr
    assert "holds no Java VM library" not in again.stderr


def test_the_right_hash_loads_the_checked_copy(
    tmp_path: Path, epoch0: XactlySandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the jar's hash (any case) the run is the same; the jar loaded is the copy the
    hash was computed on (removed at exit), so replacing the file at driver_jar after
    the check changes nothing."""
    jar = tmp_path / "driver.jar"
    shutil.copyfile(epoch0.driver_jar, jar)
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    config = config_for(epoch0, driver_jar=str(jar), driver_sha256=sha256_of(jar).upper())
    done = run_tap(tmp_path, config)
    assert done.returncode == 0, done.stderr[-3000:]
    truth = records("xactly", seed=SEED)
    assert emitted(done.messages) == Counter({stream: len(rows) for stream, rows in truth.items()})
    assert list(temp.iterdir()) == []


@pytest.mark.parametrize(
    ("url_tail", "settings", "hidden"),
    [
        # the driver echoes a URL option's value: here the consumer's
        (";TRACE_LEVEL_FILE={consumer}", {"consumer": "Consumer-Key-7"}, "Consumer-Key-7"),
        # a URL carrying the password, which the driver echoes
        (";TRACE_LEVEL_FILE=sandbox-secret", {}, "sandbox-secret"),
    ],
)
def test_jdbc_failures_show_neither_the_login_nor_the_urls_options(
    tmp_path: Path, epoch0: XactlySandbox, url_tail: str, settings: dict, hidden: str
) -> None:
    config = config_for(epoch0, jdbc_url=epoch0.url + url_tail, **settings)
    done = run_tap(tmp_path, config)
    assert done.returncode == 1
    assert f"tap-xactly cannot connect to {epoch0.url}: General error: " in done.stderr
    assert '""***""' in done.stderr  # H2's message, the value blanked out
    assert hidden.lower() not in done.stderr.lower()
    assert "TRACE_LEVEL_FILE" not in done.stderr
    assert "Traceback" not in done.stderr
    assert "\tat org.h2" not in done.stderr  # no Java stack either


class OwnDatabase:
    """An H2 file database the test changes between runs (the tap opens it itself)."""

    def __init__(self, path: Path) -> None:
        self.driver = Driver(h2_jar(), "org.h2.Driver", f"jdbc:h2:file:{path}", "owner", "pw")

    def execute(self, *statements: str) -> None:
        connection = self.driver.connect()
        connection.setReadOnly(False)
        try:
            for sql in statements:
                connection.createStatement().execute(sql)
        finally:
            connection.close()  # the tap opens the file next (embedded H2)

    def keys(self, table: str, key: str) -> set[int]:
        connection = self.driver.connect()
        try:
            result = connection.createStatement().executeQuery(
                f"SELECT {key} FROM XACTLY.{table}"  # noqa: S608 - the test's own names
            )
            found = set()
            while result.next():
                found.add(int(result.getObject(1)))
            return found
        finally:
            connection.close()

    def config(self, **extra: Any) -> dict[str, Any]:
        driver = self.driver
        return {
            "user": driver.user,
            "password": driver.password,
            "client_id": "x",
            "consumer": "x",
            "driver_jar": driver.jar,
            "driver_class": driver.driver_class,
            "jdbc_url": driver.url,
            **extra,
        }


def test_undated_rows_and_tables_without_modified_date_are_read_whole(tmp_path: Path) -> None:
    """Where MODIFIED_DATE may be NULL such rows are read (by key, first) by every full
    read; a table without MODIFIED_DATE is read whole each run; either way ACTIVATE_VERSION
    drops what the table no longer has."""
    database = OwnDatabase(tmp_path / "own")
    database.execute(
        "CREATE SCHEMA XACTLY",
        "CREATE TABLE XACTLY.XC_USER (USER_ID BIGINT PRIMARY KEY, NAME VARCHAR(20), "
        "MODIFIED_DATE TIMESTAMP)",
        "INSERT INTO XACTLY.XC_USER VALUES (1, 'a', NULL), "
        "(2, 'b', TIMESTAMP '2024-01-01 00:00:00'), (3, 'c', NULL), "
        "(4, 'd', TIMESTAMP '2024-01-02 00:00:00'), (5, 'e', TIMESTAMP '2024-01-02 00:00:00')",
        "CREATE TABLE XACTLY.XC_ROLE (ROLE_ID BIGINT PRIMARY KEY, NAME VARCHAR(20))",
        "INSERT INTO XACTLY.XC_ROLE VALUES (1, 'admin'), (2, 'rep'), (3, 'manager')",
    )
    config = database.config(page_size=1)
    replica = Replica()

    def run(state: dict | None) -> singer_run.TapRun:
        done = run_tap(tmp_path, config, state)
        assert done.returncode == 0, done.stderr[-3000:]
        replay(done.messages, replica)
        for table, key in [("XC_USER", "USER_ID"), ("XC_ROLE", "ROLE_ID")]:
            source = {row[key] for row in replica.table(table.lower())}
            assert source == set(database.keys(table, key))
        return done

    first = run(None)
    users = [
        m["record"]["USER_ID"]
        for m in first.messages
        if m["type"] == "RECORD" and m["stream"] == "xc_user"
    ]
    assert users == [1, 3, 2, 4, 5]  # undated by key first, then by date
    assert "xc_user: 2 rows have no MODIFIED_DATE" in first.stderr
    assert set(activated(first.messages)) == {"xc_user", "xc_role"}

    # An undated and a dated row deleted, a role deleted: the count sees the first two.
    database.execute(
        "DELETE FROM XACTLY.XC_USER WHERE USER_ID IN (1, 4)",
        "DELETE FROM XACTLY.XC_ROLE WHERE ROLE_ID = 2",
    )
    second = run(first.last_state)
    assert set(activated(second.messages)) == {"xc_user", "xc_role"}
    assert "rows were deleted, reading the table whole" in second.stderr

    # Nothing deleted: xc_user reads the look-back (5 and the row updated), xc_role all.
    database.execute(
        "UPDATE XACTLY.XC_USER SET NAME = 'b2', "
        "MODIFIED_DATE = TIMESTAMP '2024-01-03 00:00:00' WHERE USER_ID = 2"
    )
    third = run(second.last_state)
    assert set(activated(third.messages)) == {"xc_role"}
    assert emitted(third.messages) == Counter({"xc_user": 2, "xc_role": 2})
    assert {r["USER_ID"]: r["NAME"] for r in replica.table("xc_user")}[2] == "b2"
