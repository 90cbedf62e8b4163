"""Keyset SQL and Java → Python values, through real JDBC (H2 in memory, in this process)."""

# ruff: noqa: S608 - test tables built from the tests' own constants

from __future__ import annotations

import hashlib
import itertools
import random
import shutil
import stat
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jpype
import pytest

from dataops.sandbox.xactly import h2_jar
from tap_xactly.deletions import RowCount, count_query, last_key_query
from tap_xactly.jdbc import (
    Driver,
    JdbcError,
    is_permanent,
    iso_instant,
    java_param,
    kind_of,
    value_of,
)
from tap_xactly.keyset import after, at_or_before, identifier, page_query, point_params
from tap_xactly.tap import XACTLY_URL, filled_url


@pytest.fixture
def h2(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A private in-memory H2 database, open for the test."""
    name = request.node.name.replace("[", "_").replace("]", "_")
    connection = Driver(h2_jar(), "org.h2.Driver", f"jdbc:h2:mem:{name}", "sa", "").connect()
    connection.setReadOnly(False)
    yield connection
    connection.close()


def execute(connection: Any, sql: str, params: list[Any] | None = None) -> list[list[Any]]:
    statement = connection.prepareStatement(sql)
    try:
        for index, param in enumerate(params or [], start=1):
            statement.setObject(index, param)
        if not statement.execute():
            return []
        result = statement.getResultSet()
        width = result.getMetaData().getColumnCount()
        rows = []
        while result.next():
            rows.append([result.getObject(i) for i in range(1, width + 1)])
        return rows
    finally:
        statement.close()


# --- keyset SQL ------------------------------------------------------------------------


def test_after_is_lexicographic_with_bound_parameters() -> None:
    assert after(["D"]) == "D > ?"
    assert after(["D", "K"]) == "(D > ? OR (D = ? AND K > ?))"
    assert after(["D", "K", "V"]) == "(D > ? OR (D = ? AND (K > ? OR (K = ? AND V > ?))))"
    assert point_params(["d", 7, 2]) == ["d", "d", 7, 7, 2]
    assert at_or_before(["K"]) == "K <= ?"
    assert at_or_before(["K", "V"]) == "(K < ? OR (K = ? AND V <= ?))"
    query = page_query(
        "xactly.XC_CREDIT",
        ["CREDIT_ID", "MODIFIED_DATE"],
        ["MODIFIED_DATE", "CREDIT_ID"],
        500,
        condition="MODIFIED_DATE >= ?",
        condition_params=["since"],
        start_after=["d", 42],
    )
    assert query.sql == (
        "SELECT CREDIT_ID, MODIFIED_DATE FROM xactly.XC_CREDIT WHERE (MODIFIED_DATE >= ?) "
        "AND (MODIFIED_DATE > ? OR (MODIFIED_DATE = ? AND CREDIT_ID > ?)) "
        "ORDER BY MODIFIED_DATE, CREDIT_ID LIMIT 500"
    )
    assert query.params == ["since", "d", "d", 42]
    assert "'" not in query.sql  # no value is ever pasted into the SQL
    with pytest.raises(ValueError, match="at least 1"):
        page_query("t", ["a"], ["a"], 0)


def test_identifiers_are_bare_or_quoted() -> None:
    assert identifier("SALARY__LOCAL") == "SALARY__LOCAL"
    assert identifier("Amount (EUR)") == '"Amount (EUR)"'
    assert identifier('say "hi"') == '"say ""hi"""'
    assert identifier("a b", "`") == "`a b`"
    with pytest.raises(ValueError, match="needs quoting"):
        identifier("a b", " ")


def _fill(connection: Any, key_type: str, rows: list[tuple[Any, int, datetime]]) -> None:
    execute(connection, f"CREATE TABLE T (K {key_type}, V INT, D TIMESTAMP, PRIMARY KEY (K, V))")
    for key, version, modified in rows:
        execute(
            connection,
            "INSERT INTO T VALUES (?, ?, ?)",
            [key, version, java_param(iso_instant(modified), "timestamp")],
        )


def _read_all(connection: Any, order: list[str], size: int) -> list[tuple[Any, ...]]:
    """Every row through keyset pages of ``size`` (the tap's loop, in miniature)."""
    seen: list[tuple[Any, ...]] = []
    start = None
    while True:
        query = page_query("T", ["K", "V", "D"], order, size, start_after=start)
        page = execute(connection, query.sql, query.params)
        seen += [(str(k) if isinstance(k, str) else int(k), int(v), str(d)) for k, v, d in page]
        if len(page) < size:
            return seen
        by_name = dict(zip(["K", "V", "D"], page[-1], strict=True))
        start = [by_name[name] for name in order]


@pytest.mark.parametrize(("key_type", "size"), [("BIGINT", 1), ("BIGINT", 7), ("VARCHAR(20)", 5)])
def test_keyset_pages_skip_nothing_when_dates_are_shared(h2: Any, key_type: str, size: int) -> None:
    rng = random.Random(7)
    base = datetime(2024, 12, 1, 2, 0, 0)
    rows = []
    for i in range(1, 61):
        key: Any = f"k{i:03d}" if key_type.startswith("VARCHAR") else i
        for version in range(1, rng.randint(1, 3) + 1):
            # a handful of dates shared by many rows; lower keys often dated later
            rows.append((key, version, base + timedelta(days=rng.randint(0, 3))))
    _fill(h2, key_type, rows)
    got = _read_all(h2, ["D", "K", "V"], size)
    assert len(got) == len(set(got)) == len(rows)
    assert sorted((k, v) for k, v, _ in got) == sorted((k, v) for k, v, _ in rows)


@pytest.mark.parametrize("key_type", ["BIGINT", "VARCHAR(20)"])
def test_at_or_before_and_after_split_the_rows_at_every_point(h2: Any, key_type: str) -> None:
    """The deletion count's condition takes exactly the rows keyset paging leaves out."""
    rng = random.Random(3)
    day = datetime(2024, 12, 1)
    rows = [
        (f"k{i:02d}" if key_type.startswith("VARCHAR") else i, version, day)
        for i in rng.sample(range(1, 99), 25)
        for version in range(1, rng.randint(1, 3) + 1)
    ]
    _fill(h2, key_type, rows)
    points = sorted((k, v) for k, v, _ in rows)
    for point in [points[0], points[len(points) // 2], points[-1]]:
        params = point_params(list(point))
        below = execute(h2, f"SELECT K, V FROM T WHERE {at_or_before(['K', 'V'])}", params)
        above = execute(h2, f"SELECT K, V FROM T WHERE {after(['K', 'V'])}", params)
        assert len(below) == points.index(point) + 1
        assert len(below) + len(above) == len(rows)


def test_the_deletion_count_sees_deletions_and_not_updates(h2: Any) -> None:
    """Counting at or below the largest key (``tap_xactly.deletions``): an update or a
    row added above the key leaves the count, a deletion lowers it."""
    day = datetime(2024, 12, 1)
    _fill(h2, "BIGINT", [(k, v, day) for k in (3, 5, 8) for v in (1, 2)])
    [last] = execute(h2, last_key_query("T", ["K", "V"]).sql)
    assert [int(x) for x in last] == [8, 2]
    query = count_query("T", ["K", "V"], last)
    assert query.sql == "SELECT COUNT(*) FROM T WHERE (K < ? OR (K = ? AND V <= ?))"
    assert execute(h2, query.sql, query.params) == [[6]]
    execute(h2, "UPDATE T SET D = ? WHERE K = 5", [java_param("2025-01-01", "timestamp")])
    execute(h2, "INSERT INTO T VALUES (9, 1, ?)", [java_param("2025-01-01", "timestamp")])
    assert execute(h2, query.sql, query.params) == [[6]]
    execute(h2, "DELETE FROM T WHERE K = 3 AND V = 1")
    assert execute(h2, query.sql, query.params) == [[5]]
    assert RowCount.from_state(RowCount([8, 2], 6).to_state()) == RowCount([8, 2], 6)
    assert RowCount.from_state(None) is None
    assert RowCount.from_state({"rows": "many"}) is None


def test_the_original_taps_keyset_skips_rows(h2: Any) -> None:
    """``MODIFIED_DATE >= d AND PK > k`` (never advancing d) loses lower keys dated later."""
    day = datetime(2024, 12, 1)
    _fill(h2, "BIGINT", [(1, 1, day + timedelta(days=2)), (2, 1, day), (3, 1, day)])
    bookmark, last, seen = java_param(iso_instant(day), "timestamp"), 0, []
    while True:
        page = execute(
            h2,
            "SELECT K FROM T WHERE D >= ? AND K > ? ORDER BY D, K LIMIT 2",
            [bookmark, jpype.JLong(last)],
        )
        if not page:
            break
        seen += [int(k) for (k,) in page]
        last = seen[-1]
    assert seen == [2, 3]  # row 1 (later date, lower key) never read
    assert sorted(k for k, _, _ in _read_all(h2, ["D", "K", "V"], 2)) == [1, 2, 3]


# --- values -----------------------------------------------------------------------------

TYPES = [
    ("I", "INTEGER", "42", "integer", 42),
    ("B", "BIGINT", "9007199254740993", "integer", 9007199254740993),
    ("N", "NUMERIC(19,0)", "1234567890123456789", "integer", 1234567890123456789),
    ("M", "DECIMAL(18,2)", "12.30", "decimal", Decimal("12.30")),
    ("F", "DOUBLE PRECISION", "1.5", "float", 1.5),
    ("T", "BOOLEAN", "TRUE", "boolean", True),
    ("S", "VARCHAR(20)", "'Søren O''Brien'", "string", "Søren O'Brien"),
    ("C", "CLOB", "'a long text'", "string", "a long text"),
    ("D", "DATE", "DATE '2024-02-29'", "date", "2024-02-29"),
    ("TM", "TIME", "TIME '13:14:15'", "time", "13:14:15"),
    (
        "TS",
        "TIMESTAMP(9)",
        "TIMESTAMP '2024-03-31 02:30:00.123456789'",
        "timestamp",
        "2024-03-31T02:30:00.123456+00:00",
    ),
    (
        "TS0",
        "TIMESTAMP",
        "TIMESTAMP '2024-06-01 02:00:00'",
        "timestamp",
        "2024-06-01T02:00:00.000000+00:00",
    ),
    (
        "TZ",
        "TIMESTAMP WITH TIME ZONE",
        "TIMESTAMP WITH TIME ZONE '2024-06-01 02:00:00+02:00'",
        "timestamptz",
        "2024-06-01T00:00:00.000000+00:00",
    ),
]


def _typed_table(connection: Any) -> None:
    columns = ", ".join(f"{name} {sql_type}" for name, sql_type, *_ in TYPES)
    execute(connection, f"CREATE TABLE V ({columns})")
    execute(
        connection, f"INSERT INTO V VALUES ({', '.join(literal for _, _, literal, *_ in TYPES)})"
    )
    execute(connection, f"INSERT INTO V VALUES ({', '.join('NULL' for _ in TYPES)})")


def test_java_values_become_json_ready_python_values(h2: Any) -> None:
    _typed_table(h2)
    meta = h2.getMetaData().getColumns(None, None, "V", "%")
    kinds = {}
    while meta.next():
        scale = meta.getInt("DECIMAL_DIGITS")
        kinds[str(meta.getString("COLUMN_NAME"))] = kind_of(
            meta.getInt("DATA_TYPE"), None if meta.wasNull() else scale
        )
    assert kinds == {name: kind for name, _, _, kind, _ in TYPES}
    names = [name for name, *_ in TYPES]
    filled, empty = execute(h2, f"SELECT {', '.join(names)} FROM V ORDER BY I NULLS LAST")
    for (name, _, _, kind, expected), raw in zip(TYPES, filled, strict=True):
        value = value_of(raw, kind)
        assert value == expected, name
        assert type(value) is type(expected), name  # plain Python types, not Java proxies
    assert [value_of(raw, kind) for raw, (_, _, _, kind, _) in zip(empty, TYPES, strict=True)] == [
        None
    ] * len(TYPES)


def test_timestamps_keep_wall_clock_time_and_sort_as_text(h2: Any) -> None:
    """The JVM runs in UTC: 02:30 on a DST change day exists and stays 02:30."""
    instants = [
        datetime(2024, 3, 31, 2, 30),
        datetime(2024, 3, 31, 2, 30, 0, 500),
        datetime(2024, 10, 27, 2, 30),
        datetime(2024, 12, 31, 23, 59, 59, 999999),
    ]
    texts = [iso_instant(moment) for moment in instants]
    assert texts == sorted(texts)
    execute(h2, "CREATE TABLE W (TS TIMESTAMP(6))")
    for text in texts:
        execute(h2, "INSERT INTO W VALUES (?)", [java_param(text, "timestamp")])
    back = [value_of(ts, "timestamp") for (ts,) in execute(h2, "SELECT TS FROM W ORDER BY TS")]
    assert back == texts
    # a bookmark binds back to exactly its row
    (count,) = execute(
        h2, "SELECT COUNT(*) FROM W WHERE TS = ?", [java_param(texts[1], "timestamp")]
    )
    assert int(count[0]) == 1


def test_bookmark_values_bind_for_every_key_kind(h2: Any) -> None:
    execute(h2, "CREATE TABLE P (I BIGINT, M DECIMAL(10,2), D DATE, S VARCHAR(9))")
    execute(h2, "INSERT INTO P VALUES (7, 1.25, DATE '2024-01-02', 'x')")
    params = [
        java_param(7, "integer"),
        java_param(Decimal("1.25"), "decimal"),
        java_param("2024-01-02", "date"),
        java_param("x", "string"),
    ]
    rows = execute(h2, "SELECT COUNT(*) FROM P WHERE I = ? AND M = ? AND D = ? AND S = ?", params)
    assert int(rows[0][0]) == 1
    assert java_param(None, "integer") is None


def test_permanent_errors_are_told_apart(h2: Any) -> None:
    with pytest.raises(jpype.JException) as syntax:
        execute(h2, "SELEC 1")
    assert is_permanent(syntax.value)
    with pytest.raises(jpype.JException) as missing:
        execute(h2, "SELECT * FROM NO_SUCH_TABLE")
    assert is_permanent(missing.value)
    closed = Driver(h2_jar(), "org.h2.Driver", "jdbc:h2:mem:closing", "sa", "").connect()
    closed.close()
    with pytest.raises(jpype.JException) as broken:
        closed.prepareStatement("SELECT 1")
    assert not is_permanent(broken.value)
    assert not is_permanent(ValueError("not from Java"))


def test_pages_of_every_size_cover_the_table(h2: Any) -> None:
    rows = [(i, 1, datetime(2024, 1, 1) + timedelta(hours=i % 3)) for i in range(1, 24)]
    _fill(h2, "BIGINT", rows)
    for size in itertools.chain(range(1, 6), [22, 23, 24, 100]):
        got = _read_all(h2, ["D", "K", "V"], size)
        assert sorted(k for k, _, _ in got) == list(range(1, 24)), size


# --- hygiene -----------------------------------------------------------------------------


def test_the_jar_loaded_is_the_copy_its_hash_was_computed_on(tmp_path: Path) -> None:
    """The driver's classes come from a private, read-only copy of the checked bytes:
    the file at driver_jar may go (or change) after the check, classes still load."""
    jar = tmp_path / "driver.jar"
    shutil.copyfile(h2_jar(), jar)
    sha256 = hashlib.sha256(jar.read_bytes()).hexdigest()
    driver = Driver(str(jar), "org.h2.Driver", "jdbc:h2:mem:copied", "sa", "", sha256=sha256)
    connection = driver.connect()
    source = connection.getClass().getProtectionDomain().getCodeSource().getLocation()
    loaded = Path(str(source.toURI().getPath()))
    assert loaded != jar
    assert loaded.parent.name.startswith("tap-xactly-driver-")
    assert hashlib.sha256(loaded.read_bytes()).hexdigest() == sha256
    assert stat.S_IMODE(loaded.stat().st_mode) == 0o400
    assert stat.S_IMODE(loaded.parent.stat().st_mode) == 0o700
    jar.unlink()
    connection.setReadOnly(False)
    # the driver goes on loading its classes, from the copy
    assert execute(connection, "SELECT CAST(ARRAY[1, 2] AS INT ARRAY), CURRENT_TIMESTAMP")
    connection.close()


def test_a_failures_text_keeps_no_url_options_nor_login(h2: Any) -> None:
    url = "jdbc:xactly://svc:S3cret!@api.example.com:443/api?clientId=Acme%26x&consumer=Sales"
    driver = Driver(
        h2_jar(), "org.h2.Driver", url, "svc-user", "S3cret!", hidden=("Acme&x", "Sales")
    )
    exc = jpype.JClass("java.sql.SQLException")(
        f'Login of SVC-USER to "{url}" refused (consumer SALES, client Acme&x, key s3cret!)'
        "\nsecond line: jdbc:xactly://leak"
    )
    assert driver.describe(exc) == (
        'Login of *** to "jdbc:xactly://api.example.com:443/api" refused '
        "(consumer ***, client ***, key ***)"
    )
    # the user's name is blanked where it stands alone, not inside other words
    assert Driver(h2_jar(), "c", "jdbc:x", "sa", "").describe(
        jpype.JClass("java.sql.SQLException")("user sa: unsafe login")
    ) == ("user ***: unsafe login")
    failure = driver.failure(exc)
    assert isinstance(failure, JdbcError)
    assert not failure.permanent
    assert driver.describe(jpype.JClass("java.sql.SQLException")()) == "java.sql.SQLException"


@pytest.mark.parametrize("client_id", ["acme&x=y", "acme;x=y", "acme?x=y#z", "50% off"])
def test_client_id_and_consumer_cannot_add_url_parameters(client_id: str) -> None:
    """Filled into Xactly's URL (the default ``jdbc_url``) percent-encoded: the query
    keeps its three parameters, each value whole."""
    url = filled_url(XACTLY_URL, client_id=client_id, consumer=f"{client_id}&consumer=evil")
    assert ";" not in url
    parts = urlsplit(url.removeprefix("jdbc:"))
    assert parts.fragment == ""
    assert parse_qs(parts.query, strict_parsing=True) == {
        "sslVerifyServer": ["true"],
        "clientId": [client_id],
        "consumer": [f"{client_id}&consumer=evil"],
    }
