"""The Xactly Connect stand-in: an H2 database read through real JDBC (the tap's driver
loading, JPype)."""

# ruff: noqa: S608 - SQL built from the sandbox's own table names

import contextlib
import hashlib
import itertools
import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import jpype
import pytest

from dataops.sandbox import records, serve, truth
from dataops.sandbox.xactly import KEY_PROPERTIES, XactlySandbox
from tap_xactly.jdbc import Driver


def connect(sandbox: XactlySandbox) -> Any:
    creds = sandbox.credentials
    driver = Driver(sandbox.driver_jar, sandbox.driver_class, sandbox.url, **creds)
    return driver.connect()


def query(sandbox: XactlySandbox, sql: str, params: list[Any] | None = None) -> list[tuple]:
    """Rows as tuples: numbers as int, everything else as its Java text."""
    conn = connect(sandbox)
    try:
        statement = conn.prepareStatement(sql)
        for index, param in enumerate(params or [], start=1):
            statement.setObject(index, param)
        result = statement.executeQuery()
        width = result.getMetaData().getColumnCount()
        rows = []
        while result.next():
            values = (result.getObject(i) for i in range(1, width + 1))
            rows.append(
                tuple(
                    v if isinstance(v, str) else int(v) if isinstance(v, int) else str(v)
                    for v in values
                )
            )
        return rows
    finally:
        conn.close()


@pytest.fixture(scope="module")
def epoch0() -> Iterator[XactlySandbox]:
    with serve("xactly", seed=3) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def epoch2() -> Iterator[XactlySandbox]:
    with serve("xactly", seed=3, epoch=2) as sandbox:
        yield sandbox


def test_url_credentials_and_tables(epoch0: XactlySandbox) -> None:
    assert epoch0.url.startswith("jdbc:h2:tcp://127.0.0.1:")
    assert epoch0.credentials == {"user": "sandbox", "password": "sandbox-secret"}
    rows = query(
        epoch0,
        "SELECT TABLE_NAME FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = ?",
        ["XACTLY"],
    )
    assert {name.lower() for (name,) in rows} == set(KEY_PROPERTIES)
    assert KEY_PROPERTIES["xc_credit"] == ("CREDIT_ID",)
    assert KEY_PROPERTIES["xc_position_hist"] == ("POSITION_ID", "VERSION")
    assert "xc_credit_hist" not in KEY_PROPERTIES
    assert "xc_role_hist" not in KEY_PROPERTIES
    columns = query(
        epoch0,
        "SELECT COLUMN_NAME, DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS "
        "WHERE TABLE_SCHEMA = 'XACTLY' AND TABLE_NAME = 'XC_PARTICIPANT'",
    )
    names = {name for name, _ in columns}
    common = {"VERSION", "IS_ACTIVE", "CREATED_DATE", "CREATED_BY_ID", "CREATED_BY_NAME"}
    common |= {"MODIFIED_DATE", "MODIFIED_BY_ID", "MODIFIED_BY_NAME"}
    assert common | {"SALARY__LOCAL", "EMPLOYEE_ID", "IS_MASTER", "HIRE_DATE"} <= names
    types = dict(
        query(
            epoch0,
            "SELECT COLUMN_NAME, DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS "
            "WHERE TABLE_SCHEMA = 'XACTLY' AND TABLE_NAME = 'XC_QUOTA_RELATIONSHIP'",
        )
    )
    assert types["QUOTA_RELATIONSHIP_ID"] == "CHARACTER VARYING"
    credit_columns = query(
        epoch0,
        "SELECT COUNT(*) FROM INFORMATION_SCHEMA.COLUMNS "
        "WHERE TABLE_SCHEMA = 'XACTLY' AND TABLE_NAME = 'XC_CREDIT'",
    )
    assert credit_columns[0][0] >= 55


def test_truth_matches_jdbc(epoch0: XactlySandbox) -> None:
    expected = truth("xactly", seed=3)
    for stream in ["xc_credit", "xc_position_hist", "xc_quota_relationship", "xc_period"]:
        key = expected[stream]["key"]
        rows = query(epoch0, f"SELECT {', '.join(key)} FROM XACTLY.{stream.upper()}")
        assert sorted(list(row) for row in rows) == expected[stream]["keys"], stream
    for stream, info in expected.items():
        rows = query(epoch0, f"SELECT COUNT(*) FROM XACTLY.{stream.upper()}")
        assert rows[0][0] == info["rows"], stream


def test_deterministic_and_seeded() -> None:
    assert truth("xactly", seed=3, epoch=1) == truth("xactly", seed=3, epoch=1)
    a = truth("xactly", seed=1)["xc_quota_relationship"]["keys"]
    b = truth("xactly", seed=2)["xc_quota_relationship"]["keys"]
    assert a != b


def test_history_has_several_versions(epoch0: XactlySandbox) -> None:
    rows = query(epoch0, "SELECT POSITION_ID, OBJECT_ID, VERSION FROM XACTLY.XC_POSITION_HIST")
    per_object = Counter(object_id for _, object_id, _ in rows)
    assert max(per_object.values()) >= 3
    assert all(pk == object_id for pk, object_id, _ in rows)


def test_many_rows_share_a_modified_date(epoch0: XactlySandbox) -> None:
    rows = query(
        epoch0,
        "SELECT MODIFIED_DATE, COUNT(*) FROM XACTLY.XC_CREDIT GROUP BY MODIFIED_DATE",
    )
    assert max(count for _, count in rows) >= 20
    # a lower key can have a later date: the original tap's keyset skipped such rows
    ordered = query(epoch0, "SELECT MODIFIED_DATE FROM XACTLY.XC_CREDIT ORDER BY CREDIT_ID")
    dates = [d for (d,) in ordered]
    assert dates != sorted(dates)


def test_later_epoch_updates_and_adds(epoch0: XactlySandbox, epoch2: XactlySandbox) -> None:
    sql = "SELECT PARTICIPANT_ID, VERSION, MODIFIED_DATE FROM XACTLY.XC_PARTICIPANT"
    before = {pk: (v, d) for pk, v, d in query(epoch0, sql)}
    after = {pk: (v, d) for pk, v, d in query(epoch2, sql)}
    assert set(after) - set(before)  # added (and, from epoch 2 on, some deleted)
    updated = [pk for pk in before.keys() & after.keys() if after[pk][0] > before[pk][0]]
    assert updated
    latest = max(d for _, d in before.values())
    assert all(after[pk][1] > latest for pk in updated)
    hist = "SELECT COUNT(*) FROM XACTLY.XC_PARTICIPANT_HIST WHERE OBJECT_ID = ?"
    for pk in updated:
        assert query(epoch2, hist, [pk])[0][0] == after[pk][0]


def test_abort_sessions_breaks_open_connections() -> None:
    with serve("xactly", seed=3) as sandbox:
        conn = connect(sandbox)
        try:
            assert sandbox.abort_sessions() >= 1
            with pytest.raises(jpype.JException, match="session closed"):
                conn.prepareStatement("SELECT COUNT(*) FROM XACTLY.XC_USER").executeQuery()
        finally:
            with contextlib.suppress(jpype.JException):  # the session is gone
                conn.close()
        assert sandbox.stats.snapshot()["sessions_aborted"] >= 1
        # The database itself stays open when its last session ends (H2 would close
        # it, and a reconnect racing the close finds the file in use).
        setting = "SELECT SETTING_VALUE FROM INFORMATION_SCHEMA.SETTINGS WHERE SETTING_NAME = ?"
        assert query(sandbox, setting, ["DB_CLOSE_DELAY"]) == [("-1",)]


def test_http_options_are_refused() -> None:
    accepted = "it accepts: epoch, host, latency_ms, port, scale, seed"
    with pytest.raises(ValueError, match=f"vendor 'xactly' has no option faults; {accepted}$"):
        serve("xactly", faults="500:0.1")
    with pytest.raises(ValueError, match="vendor 'xactly' has no option page_size, throttle;"):
        serve("xactly", page_size=10, throttle=True)
    with serve("xactly", seed=3, faults=None, page_size=None) as sandbox:  # None: not given
        assert sandbox.url.startswith("jdbc:h2:tcp://127.0.0.1:")


def test_latency_delays_every_round_trip_and_changes_no_data(epoch0: XactlySandbox) -> None:
    sql = "SELECT CREDIT_ID, MODIFIED_DATE FROM XACTLY.XC_CREDIT ORDER BY CREDIT_ID"
    with serve("xactly", seed=3, latency_ms=150) as slow:
        assert slow.url != epoch0.url
        started = time.perf_counter()
        rows = query(slow, sql)
        elapsed = time.perf_counter() - started
        # login and query are round trips at least: each costs the latency
        assert elapsed >= 0.3
        assert rows == query(epoch0, sql)
        connection = connect(slow)
        try:
            assert slow.abort_sessions() >= 1  # faults still reach the server itself
            with pytest.raises(jpype.JException, match="session closed"):
                connection.prepareStatement("SELECT 1").executeQuery()
        finally:
            with contextlib.suppress(jpype.JException):
                connection.close()


# --- changes from epoch 2 on: deletions and late commits --------------------------------

SNAPSHOTS = {
    (3, 1, 0): "e8b125914edb7314",
    (3, 1, 1): "6ba375cd5a4a6b36",
    (7, 2, 1): "1163662ae91cd483",
}
"""Digests of epochs 0 and 1 as they were before deletions and late commits came in:
other tests and the benchmarks rely on those epochs staying exactly as they are."""


def digest(seed: int, scale: int, epoch: int) -> str:
    data = records("xactly", seed=seed, scale=scale, epoch=epoch)
    text = json.dumps(data, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def test_epochs_0_and_1_are_unchanged() -> None:
    assert {params: digest(*params) for params in SNAPSHOTS} == SNAPSHOTS


def key_of(stream: str, row: dict[str, Any]) -> tuple:
    return tuple(row[k] for k in KEY_PROPERTIES[stream])


def keys(rows: list[dict[str, Any]], stream: str) -> set[tuple]:
    return {key_of(stream, row) for row in rows}


@pytest.mark.parametrize("seed", [3, 11])
def test_deleted_objects_leave_base_tables_for_good_and_stay_in_history(seed: int) -> None:
    epochs = [records("xactly", seed=seed, epoch=e) for e in range(6)]
    for epoch in range(1, 6):
        before, now = epochs[epoch - 1], epochs[epoch]
        deleted = total = 0
        for stream, rows in now.items():
            gone = keys(before[stream], stream) - keys(rows, stream)
            if stream.endswith("_hist"):
                # append-only: every row of the epoch before, unchanged
                old = keys(before[stream], stream)
                assert [r for r in rows if key_of(stream, r) in old] == before[stream]
                continue
            deleted, total = deleted + len(gone), total + len(before[stream])
            ever = set().union(*(keys(e[stream], stream) for e in epochs[:epoch]))
            assert not (keys(rows, stream) & (ever - keys(before[stream], stream))), (
                "a key returned"
            )
        if epoch < 2:
            assert deleted == 0
        else:
            assert 0.015 < deleted / total < 0.05, (epoch, deleted, total)
    # a deleted object's versions are all in its history
    last = epochs[5]
    gone = keys(epochs[2]["xc_position"], "xc_position") - keys(last["xc_position"], "xc_position")
    assert gone
    history = Counter(r["POSITION_ID"] for r in last["xc_position_hist"])
    for (key,) in gone:
        [row] = [r for r in epochs[2]["xc_position"] if r["POSITION_ID"] == key]
        assert history[key] >= row["VERSION"]


@pytest.mark.parametrize("seed", [3, 11])
def test_late_commits_are_dated_just_before_the_last_epochs_latest(seed: int) -> None:
    """From epoch 2 on about 15% of the rows an epoch inserts or changes are dated up to
    30 minutes before the table's high-water mark at the epoch before; versions of an
    object stay in date order."""
    epochs = [records("xactly", seed=seed, epoch=e) for e in range(5)]
    for epoch in range(1, 5):
        late = changed = 0
        for stream, rows in epochs[epoch].items():
            high_water = max(r["MODIFIED_DATE"] for e in epochs[:epoch] for r in e[stream])
            before = {key_of(stream, r): r for r in epochs[epoch - 1][stream]}
            for row in rows:
                if before.get(key_of(stream, row)) == row:
                    continue
                changed += 1
                if row["MODIFIED_DATE"] < high_water:
                    late += 1
                    assert row["MODIFIED_DATE"] >= high_water - timedelta(minutes=30)
        if epoch < 2:
            assert late == 0
        else:
            assert 0.08 < late / changed < 0.22, (epoch, late, changed)
    for stream, rows in epochs[4].items():
        if stream.endswith("_hist"):
            by_object: dict[Any, list[tuple[int, Any]]] = {}
            for row in rows:
                by_object.setdefault(row["OBJECT_ID"], []).append(
                    (row["VERSION"], row["MODIFIED_DATE"])
                )
            for versions in by_object.values():
                dates = [d for _, d in sorted(versions)]
                assert all(a < b for a, b in itertools.pairwise(dates)), stream


def test_the_database_serves_the_truth_of_a_later_epoch(epoch2: XactlySandbox) -> None:
    expected = truth("xactly", seed=3, epoch=2)
    for stream, info in expected.items():
        key = info["key"]
        rows = query(epoch2, f"SELECT {', '.join(key)} FROM XACTLY.{stream.upper()}")
        assert sorted(list(row) for row in rows) == info["keys"], stream
