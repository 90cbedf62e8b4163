"""Normalisation of Domo's columnar answers, run by DuckDB on real answer files."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import duckdb
import pytest

from tap_edcast.answer import Answer
from tap_edcast.client import AnswerLayout, answer_layout
from tap_edcast.normalise import ROW_NUMBER, classify, typed_page_sql
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
    """The rows typed as the tap reads an answer: its `rows` array alone (the fast path)
    and the answer whole (the fallback), which must agree row for row."""
    answer = {"columns": NAMES, "metadata": [{"type": t} for t in TYPES], "rows": rows}
    body = json.dumps(answer, separators=(",", ":")).encode()
    layout = answer_layout(body)
    assert layout.rows is not None
    (tmp_path / "rows.json").write_bytes(body[layout.rows])
    (tmp_path / "answer.json").write_bytes(body)
    read = []
    with duckdb.connect() as con:
        for name, rows_only in (("rows.json", True), ("answer.json", False)):
            sql = typed_page_sql(str(tmp_path / name), COLUMNS, rows_only=rows_only)
            numbered = con.execute(f"SELECT * FROM ({sql}) ORDER BY {ROW_NUMBER}").fetchall()  # noqa: S608
            assert [row[-1] for row in numbered] == list(range(1, len(rows) + 1))
            read.append([row[:-1] for row in numbered])
    assert read[0] == read[1]
    return read[0]


@pytest.mark.parametrize(
    ("body", "rows", "num_rows"),
    [
        (
            b'{"columns":["a"],"metadata":[],"rows":[["1"],["2"]],"numRows":2,"numColumns":1}',
            b'[["1"],["2"]]',
            2,
        ),
        (b'{"columns":["a"],"rows":[["x]"]]}', b'[["x]"]]', None),  # rows last, "]" in a value
        (b'{"columns":["a"],"rows":[],"numRows":0}', b"[]", 0),
        (
            b'{"columns":["a"],"rows":[["1"]],"numRows":1,"more":[1]}',
            b'[["1"]],"numRows":1,"more":[1]',
            None,
        ),
    ],
)
def test_the_rows_array_is_found_without_parsing_it(
    body: bytes, rows: bytes, num_rows: int | None
) -> None:
    """The last case is a layout Domo is not known to send (an array after `rows`): the
    slice found is not one array, which the tap's reader then rejects and reads the
    answer whole (``test_an_answer_of_another_layout_is_read_whole``)."""
    layout = answer_layout(body)
    assert layout.columns == ["a"]
    assert layout.rows is not None
    assert body[layout.rows] == rows
    assert layout.num_rows == num_rows


def test_an_answer_without_columns_first_is_read_whole() -> None:
    body = b'{"rows":[["1"]],"columns":["a"],"numRows":1}'
    assert answer_layout(body) == AnswerLayout(["a"], None, 1)


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


def test_an_answer_of_another_layout_is_read_whole(tmp_path: Path) -> None:
    row = [1, 2, "2021-12-14T00:11:39", None, "t", "a]b", 1, "a-1"]
    answer = {"columns": NAMES, "metadata": [{"type": t} for t in TYPES], "rows": [row]}
    body = json.dumps({**answer, "numRows": 1, "more": [1]}, separators=(",", ":")).encode()
    layout = answer_layout(body)
    assert layout.rows is not None  # a slice that is not one array
    with duckdb.connect() as con, Answer(body, layout, COLUMNS, tmp_path, con.cursor()) as read:
        assert read.rows == 1
        assert read.connection.sql(read.select()).fetchall() == typed(tmp_path, [row])
