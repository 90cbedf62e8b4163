"""ACTIVATE_VERSION: rows the source no longer has are deleted or soft-deleted."""

from __future__ import annotations

import typing as t

import pytest

if t.TYPE_CHECKING:
    from conftest import Harness

ITEMS = {"id": {"type": "integer"}, "name": {"type": ["string", "null"]}}
METADATA = {"add_record_metadata": True}


def full_read(harness: Harness, version: int, rows: list[dict], **settings: t.Any) -> list[dict]:
    """One full read of stream `items` as a tap sends it: every row, then the activation."""
    return harness.run(
        [
            harness.schema("items", ITEMS, keys=["id"]),
            *harness.records("items", rows, version=version),
            harness.activate("items", version),
            {"type": "STATE", "value": {"version": version}},
        ],
        **METADATA,
        **settings,
    )


def test_hard_delete_removes_rows_missing_from_the_new_version(harness: Harness) -> None:
    full_read(harness, 1, [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}])
    full_read(harness, 2, [{"id": 1, "name": "a"}, {"id": 3, "name": "C"}], hard_delete=True)

    assert harness.query("SELECT id, name, _sdc_table_version FROM items ORDER BY id") == [
        (1, "a", 2),
        (3, "C", 2),
    ]


def test_soft_delete_marks_missing_rows_and_a_returning_row_comes_back(harness: Harness) -> None:
    full_read(harness, 1, [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}])
    full_read(harness, 2, [{"id": 1, "name": "a"}])
    assert harness.query("SELECT id, name, _sdc_deleted_at IS NOT NULL FROM items ORDER BY id") == [
        (1, "a", False),
        (2, "b", True),
    ]
    deleted_at = harness.query("SELECT _sdc_deleted_at FROM items WHERE id = 2")

    full_read(harness, 3, [{"id": 1, "name": "a"}])  # already marked: keeps its time
    assert harness.query("SELECT _sdc_deleted_at FROM items WHERE id = 2") == deleted_at

    full_read(harness, 4, [{"id": 2, "name": "b"}])  # 2 is back, 1 is gone
    assert harness.query("SELECT id, _sdc_deleted_at IS NOT NULL FROM items ORDER BY id") == [
        (1, True),
        (2, False),
    ]


def test_rows_loaded_without_a_version_are_older_than_any(harness: Harness) -> None:
    schema = harness.schema("items", ITEMS, keys=["id"])
    harness.run([schema, *harness.records("items", [{"id": 9, "name": "x"}])], **METADATA)
    full_read(harness, 5, [{"id": 1, "name": "a"}], hard_delete=True)

    assert harness.query("SELECT id FROM items") == [(1,)]


@pytest.mark.parametrize("batch_size_rows", [1, 3, 10_000])
def test_records_still_buffered_are_loaded_before_the_deletion(
    harness: Harness, batch_size_rows: int
) -> None:
    """Whatever the batch size, a row sent before the activation survives it."""
    full_read(harness, 1, [{"id": i, "name": "old"} for i in range(10)])
    rows = [{"id": i, "name": "new"} for i in range(0, 10, 2)]
    full_read(harness, 2, rows, hard_delete=True, batch_size_rows=batch_size_rows)

    assert harness.query("SELECT id, name FROM items ORDER BY id") == [
        (i, "new") for i in range(0, 10, 2)
    ]


def test_only_the_activated_stream_changes(harness: Harness) -> None:
    other = harness.schema("others", ITEMS, keys=["id"])
    harness.run([other, *harness.records("others", [{"id": 1, "name": "z"}], 1)], **METADATA)
    full_read(harness, 7, [{"id": 1, "name": "a"}], hard_delete=True)

    assert harness.query("SELECT id, name FROM others") == [(1, "z")]


def test_the_state_after_an_activation_is_passed_on(harness: Harness) -> None:
    assert full_read(harness, 3, [{"id": 1, "name": "a"}]) == [{"version": 3}]


def test_activation_without_metadata_columns_fails_clearly(harness: Harness) -> None:
    with pytest.raises(ValueError, match=r"Stream 'items'.*set add_record_metadata to true"):
        harness.run(
            [
                harness.schema("items", ITEMS, keys=["id"]),
                *harness.records("items", [{"id": 1, "name": "a"}], version=1),
                harness.activate("items", 1),
            ]
        )


def test_activation_can_be_turned_off(harness: Harness) -> None:
    full_read(harness, 1, [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}])
    full_read(harness, 2, [{"id": 1, "name": "a"}], process_activate_version_messages=False)

    assert harness.query("SELECT id, _sdc_deleted_at FROM items ORDER BY id") == [
        (1, None),
        (2, None),
    ]


def test_a_full_read_of_unchanged_rows_moves_only_their_version(harness: Harness) -> None:
    """`_sdc_batched_at` says when a row's data last changed: a full read that finds it
    unchanged stamps the new version and nothing else."""
    rows = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    full_read(harness, 1, rows)
    before = harness.query("SELECT id, name, _sdc_batched_at FROM items ORDER BY id")
    full_read(harness, 2, [rows[0], {"id": 2, "name": "B"}])
    after = harness.query(
        "SELECT id, name, _sdc_batched_at, _sdc_table_version FROM items ORDER BY id"
    )

    assert after[0] == (*before[0], 2)
    assert after[1][1:] != before[1][1:]
    assert after[1][3] == 2
