"""BATCH messages: SDK batch files load exactly like the same data sent as RECORDs."""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

import pytest
from singer_sdk.contrib.batch_encoder_jsonl import JSONLinesBatcher
from singer_sdk.contrib.batch_encoder_parquet import ParquetBatcher
from singer_sdk.helpers._batch import BatchConfig

if t.TYPE_CHECKING:
    from conftest import Harness

PROPERTIES = {
    "id": {"type": "integer"},
    "amount": {"type": ["number", "null"]},
    "active": {"type": ["boolean", "null"]},
    "Display Name": {"type": ["string", "null"]},
    "updated_at": {"type": ["string", "null"], "format": "date-time"},
    "details": {"type": ["object", "null"], "properties": {"k": {"type": "string"}}},
}
RECORDS = [
    {
        "id": i % 40,  # ids repeat: the last record of each id must win
        "amount": i * 1.5,
        "active": i % 2 == 0,
        "Display Name": f"name {i}",
        "updated_at": f"2024-01-01T{i % 24:02d}:00:00+01:00",
        "details": {"k": f"v{i}"},
    }
    for i in range(100)
]
COLUMNS = '"id", amount, active, "Display Name", updated_at, details'


def write_batches(tmp_path: Path, encoding: dict) -> list[str]:
    """Write RECORDS as SDK batch files (3 files); return their manifest URLs."""
    config = BatchConfig.from_dict(
        {
            "encoding": encoding,
            "storage": {"root": tmp_path.as_uri(), "prefix": "batch-"},
            "batch_size": 40,
        }
    )
    batcher_class = ParquetBatcher if encoding["format"] == "parquet" else JSONLinesBatcher
    batcher = batcher_class("tap-test", "items", config)
    return [url for manifest in batcher.get_batches(iter(RECORDS)) for url in manifest]


def plain_jsonl(tmp_path: Path) -> list[str]:
    """RECORDS as one uncompressed JSONL file, as a tap may write it."""
    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in RECORDS))
    return [path.as_uri()]


@pytest.mark.parametrize(
    "encoding",
    [
        {"format": "jsonl", "compression": "gzip"},
        {"format": "jsonl", "compression": "none"},
        {"format": "parquet", "compression": "none"},
        {"format": "parquet", "compression": "gzip"},
    ],
)
def test_batch_files_load_like_records(harness: Harness, tmp_path: Path, encoding: dict) -> None:
    if encoding == {"format": "jsonl", "compression": "none"}:
        manifest = plain_jsonl(tmp_path)
    else:
        manifest = write_batches(tmp_path, encoding)
    batch = {"type": "BATCH", "stream": "via_batch", "encoding": encoding, "manifest": manifest}
    harness.run(
        [
            harness.schema("via_records", PROPERTIES, keys=["id"]),
            *harness.records("via_records", RECORDS),
            harness.schema("via_batch", PROPERTIES, keys=["id"]),
            batch,
            {"type": "STATE", "value": {"done": True}},
        ]
    )

    expected = harness.query(f"SELECT {COLUMNS} FROM via_records ORDER BY id")
    assert len(expected) == 40
    assert harness.query(f"SELECT {COLUMNS} FROM via_batch ORDER BY id") == expected
    assert harness.column_types("via_batch") == harness.column_types("via_records")


def test_batch_after_records_keeps_arrival_order(harness: Harness, tmp_path: Path) -> None:
    """Records buffered before a BATCH message are loaded before its files."""
    encoding = {"format": "jsonl", "compression": "gzip"}
    harness.run(
        [
            harness.schema("items", PROPERTIES, keys=["id"]),
            *harness.records("items", [{"id": 0, "Display Name": "stale"}]),
            {
                "type": "BATCH",
                "stream": "items",
                "encoding": encoding,
                "manifest": write_batches(tmp_path, encoding),
            },
        ]
    )

    assert harness.query('SELECT "Display Name" FROM items WHERE id = 0') == [("name 80",)]


def test_batch_files_fill_record_metadata(harness: Harness, tmp_path: Path) -> None:
    encoding = {"format": "parquet", "compression": "none"}
    batch = {
        "type": "BATCH",
        "stream": "items",
        "encoding": encoding,
        "manifest": write_batches(tmp_path, encoding),
    }
    harness.run([harness.schema("items", PROPERTIES, keys=["id"]), batch], add_record_metadata=True)

    assert harness.query(
        "SELECT count(*), count(_sdc_batched_at), count(_sdc_sync_started_at) FROM items"
    ) == [(40, 40, 40)]


def test_null_key_in_batch_file_fails_the_batch(harness: Harness, tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    rows = [{"id": 1, "amount": 1.0}, {"id": None, "amount": 2.0}, {"amount": 3.0}]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    batch = {
        "type": "BATCH",
        "stream": "items",
        "encoding": {"format": "jsonl", "compression": "none"},
        "manifest": [path.as_uri()],
    }

    with pytest.raises(ValueError, match=r"Stream 'items'.*key property 'id' is null in 2"):
        harness.run([harness.schema("items", PROPERTIES, keys=["id"]), batch])

    assert harness.query("SELECT count(*) FROM items") == [(0,)]


@pytest.mark.parametrize("delete", [True, False])
def test_loaded_batch_files_are_deleted_only_when_asked(
    harness: Harness, tmp_path: Path, delete: bool
) -> None:
    encoding = {"format": "parquet", "compression": "none"}
    manifest = write_batches(tmp_path, encoding)
    batch = {"type": "BATCH", "stream": "items", "encoding": encoding, "manifest": manifest}
    harness.run(
        [harness.schema("items", PROPERTIES, keys=["id"]), batch], delete_batch_files=delete
    )

    assert harness.query("SELECT count(*) FROM items") == [(40,)]
    remaining = [url for url in manifest if Path(url.removeprefix("file://")).exists()]
    assert remaining == ([] if delete else manifest)
