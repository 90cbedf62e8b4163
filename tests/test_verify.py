"""dataops.testing.verify finds every kind of disagreement with ground truth, and only those."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import psycopg
import pytest

from dataops.testing.verify import compare_table

TRUTH = [
    {"id": 1, "flag": True, "n": 2.5, "ts": "2024-01-01T10:00:00Z", "ref": {"id": 7}},
    {"id": 2, "flag": False, "n": 3.0, "ts": "2024-01-02T10:00:00+02:00", "ref": None},
]


COLUMNS = "id BIGINT, flag {flag}, n DOUBLE PRECISION, ts TIMESTAMPTZ, ref {ref}"


def make_table(
    path: Path, rows: list[tuple], flag_type: str = "BOOLEAN", ref_type: str = "JSON"
) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA s")
        columns = COLUMNS.format(flag=flag_type, ref=ref_type)
        con.execute(f"CREATE TABLE s.t ({columns}, _sdc_batched_at TIMESTAMPTZ)")
        con.executemany("INSERT INTO s.t VALUES (?, ?, ?, ?, ?, now())", rows)


def make_postgres_table(url: str, rows: list[tuple]) -> None:
    """The same table as target-postgres makes it (JSONB for objects)."""
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("CREATE SCHEMA s")
        columns = COLUMNS.format(flag="BOOLEAN", ref="JSONB")
        con.execute(f"CREATE TABLE s.t ({columns}, _sdc_batched_at TIMESTAMPTZ)")
        with con.cursor() as cur:
            cur.executemany("INSERT INTO s.t VALUES (%s, %s, %s, %s, %s, now())", rows)


GOOD = [
    (1, True, 2.5, "2024-01-01 10:00:00+00", '{"id":7}'),
    (2, False, 3, "2024-01-02 08:00:00+00", None),
]
DIFFERENCES = [
    (GOOD[:1], "missing_keys", [(2,)]),
    ([*GOOD, (3, True, 1, None, None)], "unexpected_keys", [(3,)]),
    ([*GOOD, GOOD[0]], "duplicate_keys", [(1,)]),
    ([GOOD[0], (2, False, 3.5, "2024-01-02 08:00:00+00", None)], "mismatched_keys", [(2,)]),
    ([GOOD[0], (2, False, 3, "2024-01-02 10:00:00+00", None)], "mismatched_keys", [(2,)]),
    ([(1, True, 2.5, GOOD[0][3], '{"id":8}'), GOOD[1]], "mismatched_keys", [(1,)]),
]
KINDS = ("missing_keys", "unexpected_keys", "duplicate_keys", "mismatched_keys")


def located(where: str, tmp_path: Path, postgres_database: Callable[[str], str]) -> tuple:
    """A warehouse of either kind and the function that makes the table in it."""
    if where == "duckdb":
        path = tmp_path / "w.duckdb"
        return path, lambda rows: make_table(path, rows)
    url = postgres_database("verify")
    return url, lambda rows: make_postgres_table(url, rows)


@pytest.mark.parametrize("where", ["duckdb", "postgres"])
def test_exact_agreement(
    where: str, tmp_path: Path, postgres_database: Callable[[str], str]
) -> None:
    location, make = located(where, tmp_path, postgres_database)
    make(GOOD)
    report = compare_table(location, "s", "t", TRUTH, ["id"])
    assert report.ok, report.describe()
    assert report.rows == 2
    assert report.describe() == "s.t: exact"


@pytest.mark.parametrize("where", ["duckdb", "postgres"])
@pytest.mark.parametrize(("rows", "kind", "keys"), DIFFERENCES)
def test_each_kind_of_difference_is_reported_with_its_keys_only(
    where: str,
    rows: list[tuple],
    kind: str,
    keys: list[tuple],
    tmp_path: Path,
    postgres_database: Callable[[str], str],
) -> None:
    location, make = located(where, tmp_path, postgres_database)
    make(rows)
    report = compare_table(location, "s", "t", TRUTH, ["id"])
    assert not report.ok
    assert {k: getattr(report, k) for k in KINDS} == {k: keys if k == kind else [] for k in KINDS}
    assert bool(report.value_mismatches) == (kind == "mismatched_keys")


def test_a_boolean_loaded_as_a_number_is_a_mismatch(tmp_path: Path) -> None:
    make_table(tmp_path / "w.duckdb", [(1, 1, 2.5, GOOD[0][3], GOOD[0][4]), GOOD[1]], "BIGINT")
    assert not compare_table(tmp_path / "w.duckdb", "s", "t", TRUTH, ["id"]).ok


def test_an_object_stored_as_text_is_a_mismatch(tmp_path: Path) -> None:
    make_table(tmp_path / "w.duckdb", GOOD, ref_type="VARCHAR")
    report = compare_table(tmp_path / "w.duckdb", "s", "t", TRUTH, ["id"])
    assert "nested value in a VARCHAR column" in report.describe()


def test_dropped_fields_must_be_absent(tmp_path: Path) -> None:
    make_table(tmp_path / "w.duckdb", GOOD)
    report = compare_table(tmp_path / "w.duckdb", "s", "t", TRUTH, ["id"], frozenset({"ref"}))
    assert "deselected columns present: ['ref']" in report.describe()


def test_soft_deleted_rows_are_not_live(tmp_path: Path) -> None:
    """A row the loader marked deleted must be gone from the truth, and only such a row."""
    path = tmp_path / "w.duckdb"
    make_table(path, [*GOOD, (3, True, 1, None, None)])
    with duckdb.connect(str(path)) as con:
        con.execute("ALTER TABLE s.t ADD COLUMN _sdc_deleted_at TIMESTAMPTZ")
        con.execute("UPDATE s.t SET _sdc_deleted_at = now() WHERE id = 3")
    report = compare_table(path, "s", "t", TRUTH, ["id"])
    assert report.ok, report.describe()
    assert (report.rows, report.soft_deleted) == (2, 1)

    with duckdb.connect(str(path)) as con:
        con.execute("UPDATE s.t SET _sdc_deleted_at = now() WHERE id = 2")
    report = compare_table(path, "s", "t", TRUTH, ["id"])
    assert report.missing_keys == [(2,)]
