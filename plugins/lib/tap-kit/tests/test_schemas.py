"""tapkit.schemas: how a stream's schema is described and compared, and what a real
tap (tap-zengrc, against its sandbox) does when the description in its state differs:
under freeze it stops before any message, under evolve it reads and keeps the new one."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from dataops.sandbox import serve
from dataops.testing import singer_run
from dataops.testing.tap_tests import config_for, run_tap
from tapkit.schemas import STATE_KEY, changes, type_text


@pytest.mark.parametrize(
    ("prop", "text"),
    [
        ({"type": ["integer", "null"]}, "integer"),
        ({"type": "string", "format": "date-time"}, "string (date-time)"),
        ({"anyOf": [{"type": "number"}, {"type": "string"}, {"type": "null"}]}, "number|string"),
        ({"type": ["null"]}, "null"),
    ],
)
def test_a_type_is_described_without_its_nullability(prop: dict, text: str) -> None:
    assert type_text(prop) == text


def test_changes_name_every_added_retyped_removed_column_and_a_new_key() -> None:
    before = {"key": ["id"], "columns": [["id", "integer"], ["name", "string"], ["n", "integer"]]}
    now = {"key": ["id", "day"], "columns": [["id", "integer"], ["n", "string"], ["day", "string"]]}
    assert changes(before, now) == [
        "retyped n: integer → string",
        "added day (string)",
        "removed name (string)",
        "key ['id'] → ['id', 'day']",
    ]
    assert changes(now, copy.deepcopy(now)) == []


def run(tmp_path: Path, policy: str, state: dict | None) -> singer_run.TapRun:
    with serve("zengrc", seed=5) as sandbox:
        return run_tap(
            "zengrc", tmp_path, config_for("zengrc", sandbox, schema_policy=policy), state
        )


def test_a_tap_under_freeze_stops_before_any_message_and_evolve_takes_the_new_schema(
    tmp_path: Path,
) -> None:
    first = run(tmp_path, "freeze", None)  # nothing accepted yet: the schema is taken
    assert first.returncode == 0, first.stderr[-2000:]
    accepted = first.last_state["bookmarks"]["audits"][STATE_KEY]
    assert accepted["key"] == ["id"]
    assert ["id", "integer"] in accepted["columns"]

    older = copy.deepcopy(first.last_state)
    columns = older["bookmarks"]["audits"][STATE_KEY]["columns"]
    columns[:] = [[n, "string" if n == "id" else k] for n, k in columns if n != "title"]
    frozen = run(tmp_path, "freeze", older)
    assert frozen.returncode == 1
    assert frozen.messages == []
    assert "audits: retyped id: string → integer, added title (string)" in frozen.stderr
    assert "Traceback" not in frozen.stderr

    evolved = run(tmp_path, "evolve", older)
    assert evolved.returncode == 0, evolved.stderr[-2000:]
    assert any(m["type"] == "RECORD" and m["stream"] == "audits" for m in evolved.messages)
    assert evolved.last_state["bookmarks"]["audits"][STATE_KEY] == accepted
