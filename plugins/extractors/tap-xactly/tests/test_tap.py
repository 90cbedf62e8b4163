"""tap-xactly against the Xactly stand-in (H2 over JDBC), run as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dataops import singer_run
from dataops.sandbox import records, serve
from dataops.sandbox.xactly import KEY_PROPERTIES, XactlySandbox, h2_jar
from dataops.verify import normalise, same
from tap_xactly.jdbc import Driver

SEED = 8
FAST = {"backoff_base_seconds": 0.01, "backoff_max_seconds": 0.2}


def config_for(sandbox: XactlySandbox, **extra: Any) -> dict[str, Any]:
    return {
        **sandbox.credentials,
        "client_id": "sandbox",
        "consumer": "sandbox",
        "driver_jar": sandbox.driver_jar,
        "driver_class": sandbox.driver_class,
        "jdbc_url": sandbox.url,
        **FAST,
        **extra,
    }


def run_tap(tmp_path: Path, config: dict[str, Any], state: dict | None = None) -> singer_run.TapRun:
    return singer_run.run_tap("tap-xactly", tmp_path, config, state)


def emitted(messages: list[dict]) -> Counter[str]:
    return Counter(m["stream"] for m in messages if m["type"] == "RECORD")


def merged(messages: list[dict], into: dict[str, dict[tuple, dict]] | None = None) -> dict:
    """What a loader merging on each stream's key keeps (last record per key wins)."""
    kept: dict[str, dict[tuple, dict]] = into if into is not None else {}
    for message in messages:
        if message["type"] == "RECORD":
            stream, record = message["stream"], message["record"]
            key = tuple(record[k] for k in KEY_PROPERTIES[stream])
            kept.setdefault(stream, {})[key] = record
    return kept


def assert_equal_to_truth(kept: dict[str, dict[tuple, dict]], epoch: int) -> None:
    truth = records("xactly", seed=SEED, epoch=epoch)
    assert set(kept) <= set(truth)
    for stream, rows in truth.items():
        expected = {tuple(row[k] for k in KEY_PROPERTIES[stream]): row for row in rows}
        got = kept.get(stream, {})
        assert got.keys() == expected.keys(), stream
        for key, row in expected.items():
            assert same(normalise(got[key]), normalise(row)), (stream, key)


def last_state(messages: list[dict]) -> dict:
    return [m for m in messages if m["type"] == "STATE"][-1]["value"]


@pytest.fixture(scope="module")
def epoch0() -> Iterator[XactlySandbox]:
    with serve("xactly", seed=SEED) as sandbox:
        yield sandbox


def test_every_row_of_every_table_equals_truth_and_history_keeps_versions(
    tmp_path: Path, epoch0: XactlySandbox
) -> None:
    done = run_tap(tmp_path, config_for(epoch0, page_size=40))
    assert done.returncode == 0, done.stderr[-3000:]
    counts = emitted(done.messages)
    truth = records("xactly", seed=SEED)
    assert counts == Counter({stream: len(rows) for stream, rows in truth.items()})
    assert_equal_to_truth(merged(done.messages), epoch=0)
    versions = Counter(
        r["record"]["POSITION_ID"]
        for r in done.messages
        if r["type"] == "RECORD" and r["stream"] == "xc_position_hist"
    )
    assert max(versions.values()) >= 3
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
    state = last_state(done.messages)["bookmarks"]["xc_credit"]
    assert state["replication_key"] == "MODIFIED_DATE"
    assert state["last_primary_key"] == [
        max((r["MODIFIED_DATE"], r["CREDIT_ID"]) for r in truth["xc_credit"])[1]
    ]


def test_next_epoch_reads_only_what_changed(tmp_path: Path, epoch0: XactlySandbox) -> None:
    first = run_tap(tmp_path, config_for(epoch0))
    assert first.returncode == 0, first.stderr[-3000:]
    kept = merged(first.messages)
    with serve("xactly", seed=SEED, epoch=1) as later:
        second = run_tap(tmp_path, config_for(later), state=last_state(first.messages))
    assert second.returncode == 0, second.stderr[-3000:]
    old, new = records("xactly", seed=SEED), records("xactly", seed=SEED, epoch=1)
    for stream, rows in new.items():
        before = {tuple(r[k] for k in KEY_PROPERTIES[stream]): r for r in old[stream]}
        changed = [r for r in rows if before.get(tuple(r[k] for k in KEY_PROPERTIES[stream])) != r]
        assert emitted(second.messages)[stream] == len(changed), stream
    assert_equal_to_truth(merged(second.messages, kept), epoch=1)
    # nothing new: nothing read
    with serve("xactly", seed=SEED, epoch=1) as later:
        third = run_tap(tmp_path, config_for(later), state=last_state(second.messages))
    assert third.returncode == 0
    assert sum(emitted(third.messages).values()) == 0


def test_a_state_from_mid_table_resumes_after_its_row(
    tmp_path: Path, epoch0: XactlySandbox
) -> None:
    """Any STATE message is a resume point: the rows after it, and only those, follow."""
    config = config_for(epoch0, page_size=25, max_parallel_streams=1)
    full = run_tap(tmp_path, config)
    assert full.returncode == 0, full.stderr[-3000:]
    states = [i for i, m in enumerate(full.messages) if m["type"] == "STATE"]
    cut = states[len(states) // 2]  # a STATE in the middle of the sync (and of a table)
    before, state = full.messages[: cut + 1], full.messages[cut]["value"]
    resumed = run_tap(tmp_path, config, state=state)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    def rows(messages: list[dict]) -> list[tuple]:
        return [
            (m["stream"], tuple(m["record"][k] for k in KEY_PROPERTIES[m["stream"]]))
            for m in messages
            if m["type"] == "RECORD"
        ]

    # Streams finished before the cut are not read again; the one cut resumes exactly.
    assert Counter(rows(before)) + Counter(rows(resumed.messages)) == Counter(rows(full.messages))


def _stream_records(process: subprocess.Popen[str], count: int) -> list[dict]:
    assert process.stdout is not None
    messages = []
    while sum(m["type"] == "RECORD" for m in messages) < count:
        line = process.stdout.readline()
        assert line, "the tap ended early"
        messages.append(json.loads(line))
    return messages


def _start(tmp_path: Path, config: dict[str, Any]) -> subprocess.Popen[str]:
    (tmp_path / "config.json").write_text(json.dumps(config))
    executable = Path(sys.executable).with_name("tap-xactly")
    return subprocess.Popen(
        [str(executable), "--config", str(tmp_path / "config.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_broken_connection_is_reopened_and_nothing_is_lost(tmp_path: Path) -> None:
    with serve("xactly", seed=SEED) as sandbox:
        # Small pages, one table at a time: the tap blocks on a full stdout pipe while
        # its connection is open, and the sessions are aborted under it.
        tap = _start(tmp_path, config_for(sandbox, page_size=20, max_parallel_streams=1))
        messages = _stream_records(tap, 60)
        assert sandbox.abort_sessions() >= 1
        out, err = tap.communicate(timeout=120)
    assert tap.returncode == 0, err[-3000:]
    messages += [json.loads(line) for line in out.splitlines()]
    assert "reconnecting" in err
    assert_equal_to_truth(merged(messages), epoch=0)


def test_retries_are_bounded_then_fail_clearly(tmp_path: Path) -> None:
    sandbox = serve("xactly", seed=SEED)
    config = config_for(sandbox, page_size=20, max_parallel_streams=1, max_retries=2)
    try:
        tap = _start(tmp_path, config)
        _stream_records(tap, 40)
    finally:
        sandbox.close()  # the database goes away for good
    _, err = tap.communicate(timeout=120)
    assert tap.returncode == 1
    assert "failed (3 attempts)" in err
    assert "(retry 2 of 2)" in err
    assert "retry 3" not in err
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
        ({"page_size": 0}, "`page_size` must be at least 1"),
        ({"max_parallel_streams": 0}, "`max_parallel_streams` must be at least 1"),
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


def test_rows_without_modified_date_are_read_on_the_first_sync(tmp_path: Path) -> None:
    """Where the database allows NULL in MODIFIED_DATE, such rows are read (by key) on a
    table's first sync, with a warning; later syncs go by the date bookmark alone."""
    url = f"jdbc:h2:file:{tmp_path / 'nulls'}"
    connection = Driver(h2_jar(), "org.h2.Driver", url, "owner", "owner-pw").connect()
    connection.setReadOnly(False)
    statement = connection.createStatement()
    statement.execute("CREATE SCHEMA XACTLY")
    statement.execute(
        "CREATE TABLE XACTLY.XC_USER (USER_ID BIGINT PRIMARY KEY, NAME VARCHAR(20), "
        "MODIFIED_DATE TIMESTAMP)"
    )
    statement.execute(
        "INSERT INTO XACTLY.XC_USER VALUES (1, 'a', NULL), "
        "(2, 'b', TIMESTAMP '2024-01-01 00:00:00'),"
        " (3, 'c', NULL), (4, 'd', TIMESTAMP '2024-01-02 00:00:00')"
    )
    connection.close()  # the tap opens the file itself (embedded H2)
    config = {
        "user": "owner",
        "password": "owner-pw",
        "client_id": "x",
        "consumer": "x",
        "driver_jar": h2_jar(),
        "driver_class": "org.h2.Driver",
        "jdbc_url": url,
        "page_size": 1,
    }
    first = run_tap(tmp_path, config)
    assert first.returncode == 0, first.stderr[-3000:]
    sent = [m["record"]["USER_ID"] for m in first.messages if m["type"] == "RECORD"]
    assert sent == [1, 3, 2, 4]  # undated by key first, then by date
    assert "xc_user: 2 rows have no MODIFIED_DATE" in first.stderr
    state = last_state(first.messages)
    assert state["bookmarks"]["xc_user"]["last_primary_key"] == [4]
    second = run_tap(tmp_path, config, state=state)
    assert second.returncode == 0, second.stderr[-3000:]
    assert emitted(second.messages) == Counter()
