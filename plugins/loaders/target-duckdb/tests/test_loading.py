"""Loading RECORD messages: merge, append, types, evolution, names, metadata, errors."""

from __future__ import annotations

import datetime
import logging
import random
import typing as t

import pytest
from singer_sdk.exceptions import ConfigValidationError

from target_duckdb.target import TargetDuckDB

if t.TYPE_CHECKING:
    from conftest import Harness

UTC = datetime.UTC
ITEMS = {"id": {"type": "integer"}, "name": {"type": ["string", "null"]}}


def test_merge_updates_and_inserts_on_key(harness: Harness) -> None:
    schema = harness.schema("items", ITEMS, keys=["id"])
    harness.run(
        [schema, *harness.records("items", [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}])]
    )
    harness.run(
        [schema, *harness.records("items", [{"id": 2, "name": "B"}, {"id": 3, "name": "c"}])]
    )

    assert harness.query("SELECT id, name FROM items ORDER BY id") == [
        (1, "a"),
        (2, "B"),
        (3, "c"),
    ]


@pytest.mark.parametrize("batch_size_rows", [1, 2, 10_000])
def test_last_record_of_a_key_wins(harness: Harness, batch_size_rows: int) -> None:
    records = [{"id": 1, "name": "first"}, {"id": 2, "name": "x"}, {"id": 1, "name": "last"}]
    harness.run(
        [harness.schema("items", ITEMS, keys=["id"]), *harness.records("items", records)],
        batch_size_rows=batch_size_rows,
    )

    assert harness.query("SELECT id, name FROM items ORDER BY id") == [(1, "last"), (2, "x")]


def test_repeated_loads_are_idempotent(harness: Harness) -> None:
    messages = [
        harness.schema("items", ITEMS, keys=["id"]),
        *harness.records("items", [{"id": i, "name": f"n{i}"} for i in range(50)]),
    ]
    harness.run(messages)
    first = harness.query("SELECT * FROM items ORDER BY id")
    harness.run(messages)
    harness.run(messages, batch_size_rows=7)

    assert harness.query("SELECT * FROM items ORDER BY id") == first
    assert len(first) == 50


def test_unchanged_rows_keep_their_metadata(harness: Harness) -> None:
    schema = harness.schema("items", ITEMS, keys=["id"])
    harness.run(
        [schema, *harness.records("items", [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}])],
        add_record_metadata=True,
    )
    before = dict(harness.query("SELECT id, _sdc_batched_at FROM items"))
    harness.run(
        [schema, *harness.records("items", [{"id": 1, "name": "a"}, {"id": 2, "name": "B"}])],
        add_record_metadata=True,
    )
    after = dict(harness.query("SELECT id, _sdc_batched_at FROM items"))

    assert after[1] == before[1], "an identical re-read record rewrote its row"
    assert after[2] > before[2]
    assert harness.query("SELECT name FROM items ORDER BY id") == [("a",), ("B",)]


def test_soft_delete_updates_an_otherwise_unchanged_row(harness: Harness) -> None:
    schema = harness.schema("items", ITEMS, keys=["id"])
    harness.run(
        [schema, *harness.records("items", [{"id": 1, "name": "x"}])], add_record_metadata=True
    )
    deleted = {"id": 1, "name": "x", "_sdc_deleted_at": "2024-06-01T00:00:00Z"}
    harness.run([schema, *harness.records("items", [deleted])], add_record_metadata=True)

    assert harness.query("SELECT id, name, _sdc_deleted_at FROM items") == [
        (1, "x", datetime.datetime(2024, 6, 1, tzinfo=UTC))
    ]


@pytest.mark.parametrize("load_method", ["upsert", "overwrite"])
def test_null_key_fails_the_batch_naming_stream_and_key(harness: Harness, load_method: str) -> None:
    """NULL keys would all merge into one row: the batch fails instead, loading nothing."""
    properties = {"id": {"type": ["integer", "null"]}, "name": {"type": ["string", "null"]}}
    schema = harness.schema("items", properties, keys=["id"])
    harness.run([schema, *harness.records("items", [{"id": 1, "name": "a"}])])
    bad = [{"id": 2, "name": "b"}, {"id": None, "name": "x"}, {"id": None, "name": "y"}]

    with pytest.raises(
        ValueError,
        match=r"Stream 'items'.*key property 'id' is null in 2 record\(s\).*append-only",
    ):
        harness.run([schema, *harness.records("items", bad)], load_method=load_method)

    assert harness.query("SELECT id, name FROM items") == [(1, "a")]


def test_integer_beyond_64_bits_fails_naming_stream_and_column(harness: Harness) -> None:
    properties = {"id": {"type": "integer"}, "n": {"type": ["integer", "null"]}}
    records = [{"id": 1, "n": 1}, {"id": 2, "n": 12345678901234567890}]

    with pytest.raises(ValueError, match=r"Stream 'big': column 'n': an integer does not fit"):
        harness.run(
            [harness.schema("big", properties, keys=["id"]), *harness.records("big", records)]
        )

    assert harness.query("SELECT count(*) FROM big") == [(0,)]


def test_streams_without_keys_append(harness: Harness) -> None:
    messages = [
        harness.schema("events", ITEMS),
        *harness.records("events", [{"id": 1, "name": "a"}, {"id": 1, "name": "a"}]),
    ]
    harness.run(messages)
    harness.run(messages)

    assert harness.query("SELECT count(*) FROM events") == [(4,)]


@pytest.mark.parametrize("n", [1, 2, 9, 250])
@pytest.mark.parametrize("batch_size_rows", [1, 10_000])
def test_every_row_lands_whatever_the_batch_size(
    harness: Harness, n: int, batch_size_rows: int
) -> None:
    """Regression: PyPI target-duckdb 0.8.0 dropped the first row of every batch."""
    records = [{"id": i, "name": f"row {i}"} for i in range(n)]
    harness.run(
        [harness.schema("events", ITEMS), *harness.records("events", records)],
        batch_size_rows=batch_size_rows,
    )

    assert harness.query("SELECT count(*), min(id), max(id) FROM events") == [(n, 0, n - 1)]


def test_load_methods(harness: Harness) -> None:
    schema = harness.schema("items", ITEMS, keys=["id"])
    old = harness.records("items", [{"id": 1, "name": "old"}, {"id": 2, "name": "old"}])
    new = harness.records("items", [{"id": 2, "name": "new"}])
    harness.run([schema, *old])

    harness.run([schema, *new], load_method="append-only")
    assert harness.query("SELECT id, name FROM items ORDER BY id, name") == [
        (1, "old"),
        (2, "new"),
        (2, "old"),
    ]

    harness.run([schema, *new, *new], load_method="overwrite", batch_size_rows=1)
    assert harness.query("SELECT id, name FROM items") == [(2, "new")]


def test_types_follow_the_json_schema(harness: Harness) -> None:
    properties = {
        "id": {"type": "integer"},
        "amount": {"type": ["number", "null"]},
        "active": {"type": "boolean"},
        "updated_at": {"type": "string", "format": "date-time"},
        "day": {"type": "string", "format": "date"},
        "at": {"type": "string", "format": "time"},
        "label": {"type": "string"},
        "either_number": {"anyOf": [{"type": "integer"}, {"type": "number"}]},
        "either_text": {"type": ["integer", "string", "null"]},
        "maybe_date": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "string"}]},
        "anything": {},
        "details": {"type": "object", "properties": {"k": {"type": "string"}}},
        "tags": {"type": "array", "items": {"type": "string"}},
    }
    record = {
        "id": 1,
        "amount": 2.5,
        "active": True,
        "updated_at": "2024-03-01T12:00:00+02:00",
        "day": "2024-03-01",
        "at": "13:45:00",
        "label": "x",
        "either_number": 3,
        "either_text": 7,
        "maybe_date": "not a date",
        "anything": {"free": ["form", 1]},
        "details": {"k": "v", "n": {"deep": True}},
        "tags": ["a", "b"],
    }
    harness.run([harness.schema("t", properties), *harness.records("t", [record])])

    assert harness.column_types("t") == {
        "id": "BIGINT",
        "amount": "DOUBLE",
        "active": "BOOLEAN",
        "updated_at": "TIMESTAMP WITH TIME ZONE",
        "day": "DATE",
        "at": "TIME",
        "label": "VARCHAR",
        "either_number": "DOUBLE",
        "either_text": "VARCHAR",
        "maybe_date": "VARCHAR",
        "anything": "JSON",
        "details": "JSON",
        "tags": "JSON",
    }
    row = harness.query(
        'SELECT amount, updated_at, day, "at", either_number, either_text, maybe_date,'
        " anything->>'$.free[0]', details->>'k', details->'n'->>'deep', tags->>0,"
        " json_array_length(tags) FROM t"
    )
    assert row == [
        (
            2.5,
            datetime.datetime(2024, 3, 1, 10, 0, tzinfo=UTC),
            datetime.date(2024, 3, 1),
            datetime.time(13, 45),
            3.0,
            "7",
            "not a date",
            "form",
            "v",
            "true",
            "a",
            2,
        )
    ]


def test_date_times_keep_their_instant(harness: Harness) -> None:
    properties = {
        "id": {"type": "integer"},
        "ts": {"type": ["string", "null"], "format": "date-time"},
    }
    values = [
        "2024-01-01T00:00:00Z",
        "2024-01-01T05:30:00+05:30",
        "2023-12-31T19:00:00-05:00",
        "2024-01-01T00:00:00",  # no offset: UTC
        "2024-01-01T00:00:00.123456Z",
        None,
    ]
    records = [{"id": i, "ts": value} for i, value in enumerate(values)]
    harness.run([harness.schema("t", properties), *harness.records("t", records)])

    midnight = datetime.datetime(2024, 1, 1, tzinfo=UTC)
    assert harness.query("SELECT ts FROM t ORDER BY id") == [
        (midnight,),
        (midnight,),
        (midnight,),
        (midnight,),
        (midnight.replace(microsecond=123456),),
        (None,),
    ]


def test_unparseable_date_time_fails_the_batch_naming_stream_column_value(
    harness: Harness,
) -> None:
    properties = {"id": {"type": "integer"}, "due": {"type": "string", "format": "date-time"}}
    good = harness.records("tasks", [{"id": 1, "due": "2024-01-01T00:00:00Z"}])
    harness.run([harness.schema("tasks", properties, keys=["id"]), *good])
    bad = harness.records(
        "tasks", [{"id": 2, "due": "2024-01-02T00:00:00Z"}, {"id": 3, "due": "someday"}]
    )

    with pytest.raises(ValueError, match=r"Stream 'tasks'.*'someday'.*column 'due'"):
        harness.run([harness.schema("tasks", properties, keys=["id"]), *bad])

    assert harness.query("SELECT id FROM tasks") == [(1,)]


def test_schema_evolution_adds_and_widens_never_drops(harness: Harness) -> None:
    def load(properties: dict, record: dict) -> None:
        harness.run([harness.schema("t", properties, keys=["id"]), *harness.records("t", [record])])

    load(
        {"id": {"type": "integer"}, "x": {"type": "integer"}, "gone": {"type": "string"}},
        {"id": 1, "x": 1, "gone": "kept"},
    )
    load(
        {"id": {"type": "integer"}, "x": {"type": "number"}, "new": {"type": "boolean"}},
        {"id": 2, "x": 2.5, "new": True},
    )
    assert harness.column_types("t") == {
        "id": "BIGINT",
        "x": "DOUBLE",
        "gone": "VARCHAR",
        "new": "BOOLEAN",
    }
    load(
        {"id": {"type": "integer"}, "x": {"type": "string"}, "new": {"type": "string"}},
        {"id": 3, "x": "three", "new": "maybe"},
    )

    assert harness.column_types("t") == {
        "id": "BIGINT",
        "x": "VARCHAR",
        "gone": "VARCHAR",
        "new": "VARCHAR",
    }
    assert harness.query("SELECT id, x, gone, new FROM t ORDER BY id") == [
        (1, "1.0", "kept", None),
        (2, "2.5", None, "true"),
        (3, "three", None, "maybe"),
    ]


def test_schema_change_mid_stream_keeps_arrival_order(harness: Harness) -> None:
    """Rows buffered under the old schema load before newer rows of the same key."""
    v1 = harness.schema("t", {"id": {"type": "integer"}, "v": {"type": "string"}}, keys=["id"])
    v2 = harness.schema(
        "t", {"id": {"type": "integer"}, "v": {"type": "string"}, "w": {"type": "integer"}}, ["id"]
    )
    messages = [
        v1,
        *harness.records("t", [{"id": 1, "v": "old"}]),
        v2,
        *harness.records("t", [{"id": 1, "v": "new", "w": 1}, {"id": 2, "v": "x", "w": 2}]),
    ]
    harness.run(messages, batch_size_rows=2)

    assert harness.query("SELECT id, v, w FROM t ORDER BY id") == [(1, "new", 1), (2, "x", 2)]


def test_key_change_merges_on_the_new_key(harness: Harness) -> None:
    """Keys are not constraints: each SCHEMA's key properties drive its merges."""
    properties = {"id": {"type": "integer"}, "email": {"type": "string"}}
    harness.run(
        [
            harness.schema("u", properties, keys=["id"]),
            *harness.records("u", [{"id": 1, "email": "a@x"}]),
        ]
    )
    harness.run(
        [
            harness.schema("u", properties, keys=["email"]),
            *harness.records("u", [{"id": 2, "email": "a@x"}, {"id": 3, "email": "b@x"}]),
        ]
    )

    assert harness.query("SELECT id, email FROM u ORDER BY id") == [(2, "a@x"), (3, "b@x")]


def test_awkward_names_are_quoted_and_streams_sanitized(harness: Harness) -> None:
    properties = {
        "ECL ID": {"type": "integer"},
        "MixedCase": {"type": "string"},
        "select": {"type": "string"},
        'quote"d': {"type": "string"},
    }
    record = {"ECL ID": 7, "MixedCase": "m", "select": "s", 'quote"d': "q"}
    harness.run(
        [
            harness.schema("tap-x.my stream", properties, keys=["ECL ID"]),
            *harness.records("tap-x.my stream", [record]),
        ],
        default_target_schema="tap_x",
    )

    assert list(harness.column_types("tap_x.tap_x_my_stream")) == [
        "ECL ID",
        "MixedCase",
        "select",
        'quote"d',
    ]
    assert harness.query(
        'SELECT "ECL ID", "MixedCase", "select", "quote""d" FROM tap_x.tap_x_my_stream'
    ) == [(7, "m", "s", "q")]


def test_record_metadata_columns(harness: Harness) -> None:
    message = harness.records("items", [{"id": 1, "name": "a"}])[0]
    message["time_extracted"] = "2024-05-01T00:00:00Z"
    harness.run([harness.schema("items", ITEMS, keys=["id"]), message], add_record_metadata=True)

    types = harness.column_types("items")
    assert types["_sdc_extracted_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["_sdc_sequence"] == "BIGINT"
    extracted, batched, sequence = harness.query(
        "SELECT _sdc_extracted_at, _sdc_batched_at, _sdc_sequence FROM items"
    )[0]
    assert extracted == datetime.datetime(2024, 5, 1, tzinfo=UTC)
    assert batched is not None
    assert sequence > 0


def test_missing_path_is_a_clear_config_error() -> None:
    with pytest.raises(ConfigValidationError) as excinfo:
        TargetDuckDB(config={"default_target_schema": "x"}, validate_config=True)

    assert "'path' is a required property" in str(excinfo.value.errors)


EVENTS = {
    "user": {"type": "integer"},
    "at": {"type": "string", "format": "date-time"},
    "group": {"type": "string"},
    "score": {"type": ["number", "null"]},
}


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_loads_insert_new_keys_and_merge_known_ones_exactly(
    harness: Harness, caplog: pytest.LogCaptureFixture, seed: int
) -> None:
    """Batches of a three-column key, mostly new keys in key order (as a paging tap
    sends them), some within the range of loaded keys without being loaded, some
    repeated within a batch or from earlier batches: a batch whose keys are all new is
    INSERTed, one touching a loaded key MERGEd, and the table equals the last value
    of every key either way."""
    draw = random.Random(seed)
    start = datetime.datetime(2024, 1, 1, tzinfo=UTC)
    records, expected = [], {}
    for i in range(draw.randint(300, 600)):
        back = draw.random() < 0.1 and records  # an earlier key, or a gap within the range
        user = draw.choice(records)["user"] if back else i // 3
        at = start + datetime.timedelta(minutes=user % 7)
        group = draw.choice("ab") if back else "abc"[i % 3]
        record = {"user": user, "at": at.isoformat(), "group": group, "score": draw.random()}
        records.append(record)
        expected[(user, at, group)] = record["score"]
    caplog.set_level(logging.INFO, logger="target-duckdb")
    harness.run(
        [
            harness.schema("events", EVENTS, keys=["user", "at", "group"]),
            *harness.records("events", records),
        ],
        batch_size_rows=draw.randint(20, 90),
    )

    rows = harness.query('SELECT "user", "at", "group", score FROM events')
    assert {(u, a, g): s for u, a, g, s in rows} == expected
    assert len(rows) == len(expected)
    statements = {m.split("(")[-1] for m in caplog.messages if m.startswith("Loaded ")}
    assert statements == {"INSERT)", "MERGE)"}
