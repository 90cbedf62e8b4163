"""dataops.testing.verify finds every kind of disagreement with ground truth, and only those."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from dataops.testing.verify import compare_table

TRUTH = [
    {"id": 1, "flag": True, "n": 2.5, "ts": "2024-01-01T10:00:00Z", "ref": {"id": 7}},
    {"id": 2, "flag": False, "n": 3.0, "ts": "2024-01-02T10:00:00+02:00", "ref": None},
]


def make_table(
    path: Path, rows: list[tuple], flag_type: str = "BOOLEAN", ref_type: str = "JSON"
) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA s")
        con.execute(
            f"CREATE TABLE s.t (id BIGINT, flag {flag_type}, n DOUBLE, ts TIMESTAMPTZ, "
            f"ref {ref_type}, _sdc_batched_at TIMESTAMPTZ)"
        )
        con.executemany("INSERT INTO s.t VALUES (?, ?, ?, ?, ?, now())", rows)


GOOD = [
    (1, True, 2.5, "2024-01-01 10:00:00+00", '{"id":7}'),
    (2, False, 3, "2024-01-02 08:00:00+00", None),
]


def test_exact_agreement(tmp_path: Path) -> None:
    make_table(tmp_path / "w.duckdb", GOOD)
    report = compare_table(tmp_path / "w.duckdb", "s", "t", TRUTH, ["id"])
    assert report.ok, report.describe()


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        (GOOD[:1], "missing"),
        ([*GOOD, (3, True, 1, None, None)], "unexpected"),
        ([*GOOD, GOOD[0]], "duplicated"),
        ([GOOD[0], (2, False, 3.5, "2024-01-02 08:00:00+00", None)], "value mismatches"),
        ([GOOD[0], (2, False, 3, "2024-01-02 10:00:00+00", None)], "value mismatches"),
    ],
)
def test_each_kind_of_difference_is_reported(
    tmp_path: Path, rows: list[tuple], problem: str
) -> None:
    make_table(tmp_path / "w.duckdb", rows)
    report = compare_table(tmp_path / "w.duckdb", "s", "t", TRUTH, ["id"])
    assert not report.ok
    assert problem in report.describe()


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
