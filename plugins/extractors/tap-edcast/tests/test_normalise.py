"""Normalisation of Domo's columnar answers, run by DuckDB on real answer files."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import duckdb
import pytest

from tap_edcast.normalise import classify, typed_page_sql
from tap_edcast.tap import BOOLEAN_COLUMNS, ID_COLUMN_PATTERN

NAMES = ["Group ID", "User ID", "Time", "hire_date", "is_public", "Card Title", "Score", "ECL ID"]
TYPES = ["LONG", "DOUBLE", "DATETIME", "DATE", "STRING", "STRING", "DOUBLE", "STRING"]
COLUMNS = classify(
    NAMES,
    [{"type": t} for t in TYPES],
    frozenset(BOOLEAN_COLUMNS),
    re.compile(ID_COLUMN_PATTERN),
)


def typed(tmp_path: Path, rows: list[list[object]]) -> list[tuple]:
    answer = {"columns": NAMES, "metadata": [{"type": t} for t in TYPES], "rows": rows}
    path = tmp_path / "answer.json"
    path.write_text(json.dumps(answer))
    with duckdb.connect() as con:
        return con.execute(typed_page_sql(str(path), COLUMNS)).fetchall()


def test_columns_are_typed_from_metadata_and_rules() -> None:
    kinds = {c.name: c.kind for c in COLUMNS}
    assert kinds == {
        "Group ID": "integer",
        "User ID": "integer",  # a DOUBLE holding IDs
        "Time": "date-time",
        "hire_date": "date",
        "is_public": "boolean",
        "Card Title": "string",
        "Score": "number",
        "ECL ID": "string",  # a uuid: the ID rule is for numeric columns only
    }
    assert COLUMNS[0].json_schema == {"type": ["integer", "null"]}
    assert COLUMNS[2].json_schema == {"type": ["string", "null"], "format": "date-time"}


def test_messy_values_become_clean_typed_values(tmp_path: Path) -> None:
    rows = [
        [9625, 460679.0, "2021-12-14T00:11:39", "2019-07-22", "t", "Intro", 1.5, "a-1"],
        ["", 7.0, "2021-12-14T00:11:40", "", "0", "", "", "a-2"],
        [None, None, "2021-12-14T00:11:41", None, "TRUE", None, None, None],
        [3, "12", "2021-12-14T00:11:42", "2020-01-01", "false", "x", 2, "a-3"],
        [4, 5, "2021-12-14T00:11:43", "2020-01-02", "1", "y", 0, "a-4"],
        [5, 6, "2021-12-14T00:11:44", "2020-01-03", "f", "z", -1.25, "a-5"],
    ]
    assert typed(tmp_path, rows) == [
        (
            9625,
            460679,
            dt.datetime(2021, 12, 14, 0, 11, 39),
            dt.date(2019, 7, 22),
            True,
            "Intro",
            1.5,
            "a-1",
        ),
        (None, 7, dt.datetime(2021, 12, 14, 0, 11, 40), None, False, "", None, "a-2"),
        (None, None, dt.datetime(2021, 12, 14, 0, 11, 41), None, True, None, None, None),
        (3, 12, dt.datetime(2021, 12, 14, 0, 11, 42), dt.date(2020, 1, 1), False, "x", 2.0, "a-3"),
        (4, 5, dt.datetime(2021, 12, 14, 0, 11, 43), dt.date(2020, 1, 2), True, "y", 0.0, "a-4"),
        (5, 6, dt.datetime(2021, 12, 14, 0, 11, 44), dt.date(2020, 1, 3), False, "z", -1.25, "a-5"),
    ]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            [1, 460679.5, "2021-12-14T00:11:39", None, "t", "", 1, ""],
            "'User ID': 460679.5 is not an integer",
        ),
        (
            [1, 2, "2021-12-14T00:11:39", None, "maybe", "", 1, ""],
            "'is_public': maybe is not a boolean",
        ),
    ],
)
def test_values_that_cannot_be_normalised_fail_naming_the_column(
    tmp_path: Path, row: list[object], message: str
) -> None:
    with pytest.raises(duckdb.Error, match=re.escape(message)):
        typed(tmp_path, [row])
