"""STATE goes out only after the rows before it are committed; kills lose no committed
batch, show no partial one, and re-running converges."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import typing as t
from pathlib import Path

import duckdb
import pytest

from target_duckdb.target import TargetDuckDB

if t.TYPE_CHECKING:
    from conftest import Harness

EXECUTABLE = Path(sys.executable).with_name("target-duckdb")
SCHEMA = {
    "type": "SCHEMA",
    "stream": "items",
    "schema": {"properties": {"id": {"type": "integer"}, "v": {"type": "string"}}},
    "key_properties": ["id"],
}


def records(ids: range) -> list[dict]:
    return [{"type": "RECORD", "stream": "items", "record": {"id": i, "v": f"v{i}"}} for i in ids]


def jsonl(messages: list[dict]) -> bytes:
    return "".join(json.dumps(message) + "\n" for message in messages).encode()


def start_target(tmp_path: Path, **settings: t.Any) -> subprocess.Popen[bytes]:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"path": str(tmp_path / "w.duckdb"), **settings}))
    return subprocess.Popen(
        [str(EXECUTABLE), "--config", str(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def count(db: Path) -> int:
    with duckdb.connect(str(db)) as connection:
        return int(connection.execute("SELECT count(*) FROM items").fetchall()[0][0])


def test_each_state_follows_the_commit_of_its_rows(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At every STATE the target writes, a separate connection (which only sees
    committed data) already finds every row sent before that STATE."""
    committed_at_emission: list[tuple[int, int]] = []
    write_state = TargetDuckDB._write_state_message

    def spy(target: TargetDuckDB, state: dict) -> None:
        with duckdb.connect(str(harness.db)) as connection:
            rows = connection.execute("SELECT count(*) FROM items").fetchall()[0][0]
        committed_at_emission.append((state["sent"], rows))
        write_state(target, state)

    monkeypatch.setattr(TargetDuckDB, "_write_state_message", spy)
    monkeypatch.setattr(TargetDuckDB, "_MAX_RECORD_AGE_IN_MINUTES", 0)  # drain at every message
    messages = [SCHEMA]
    for sent in range(5, 30, 5):
        messages += [*records(range(sent - 5, sent)), {"type": "STATE", "value": {"sent": sent}}]

    harness.run(messages)

    assert len(committed_at_emission) > 5
    assert all(rows >= sent for sent, rows in committed_at_emission)
    assert committed_at_emission[-1] == (25, 25)


def test_state_is_passed_on_once_a_batch_is_committed(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only at the end of input: the first STATE after a full batch was committed
    goes out (the other sinks drained first), so a killed run resumes near where it was."""
    emitted_with_rows: list[tuple[int, int]] = []
    write_state = TargetDuckDB._write_state_message

    def spy(target: TargetDuckDB, state: dict) -> None:
        with duckdb.connect(str(harness.db)) as connection:
            rows = connection.execute("SELECT count(*) FROM items").fetchall()[0][0]
            others = connection.execute("SELECT count(*) FROM other").fetchall()[0][0]
        emitted_with_rows.append((state["sent"], rows + others))
        write_state(target, state)

    monkeypatch.setattr(TargetDuckDB, "_write_state_message", spy)
    other = {**SCHEMA, "stream": "other"}
    messages = [SCHEMA, other]
    for sent in range(5, 55, 5):
        messages += records(range(sent - 5, sent - 2))  # 3 to items, 2 to other
        messages += [{**m, "stream": "other"} for m in records(range(sent - 2, sent))]
        messages.append({"type": "STATE", "value": {"sent": sent}})

    harness.run(messages, batch_size_rows=10)

    # items (3 rows per STATE) fills its 10-row batch before STATE 20, and again before
    # STATE 40 (all sinks were drained at 20); the end of input passes the last one on
    assert [sent for sent, _ in emitted_with_rows] == [20, 40, 50]
    assert all(rows == sent for sent, rows in emitted_with_rows)


def test_state_line_means_rows_are_durable(tmp_path: Path) -> None:
    """Kill the real process the moment its STATE line arrives: the rows are there."""
    target = start_target(tmp_path)
    assert target.stdin
    assert target.stdout
    target.stdin.write(jsonl([SCHEMA, *records(range(1000)), {"type": "STATE", "value": {"n": 1}}]))
    target.stdin.close()

    state = target.stdout.readline()
    target.send_signal(signal.SIGKILL)
    target.wait()

    assert json.loads(state) == {"n": 1}
    assert count(tmp_path / "w.duckdb") == 1000


def test_kill_mid_stream_leaves_whole_batches_and_rerun_converges(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    payload = jsonl([SCHEMA, *records(range(3000)), {"type": "STATE", "value": {"n": 3000}}])
    target = start_target(tmp_path, batch_size_rows=500)
    assert target.stdin
    assert target.stderr
    stdin = target.stdin

    def feed() -> None:
        # The target may die mid-write.
        try:
            stdin.write(payload[: len(payload) // 2 + 1000])  # never the end of input
            stdin.flush()
        except BrokenPipeError:
            pass

    threading.Thread(target=feed, daemon=True).start()
    loads = 0
    for line in target.stderr:
        loads += b"Loaded 500 rows" in line
        if loads == 2:  # two batches committed, a third being received
            break
    target.send_signal(signal.SIGKILL)
    target.wait()

    assert count(db) in {1000, 1500}  # whole batches only, nothing partial

    for _ in range(2):
        rerun = subprocess.run(
            [str(EXECUTABLE), "--config", str(tmp_path / "config.json")],
            input=payload,
            capture_output=True,
            check=True,
        )
        assert json.loads(rerun.stdout) == {"n": 3000}
        with duckdb.connect(str(db)) as connection:
            assert connection.execute(
                "SELECT count(*), count(DISTINCT id), bool_and(v = 'v' || id) FROM items"
            ).fetchall() == [(3000, 3000, True)]


def test_missing_path_fails_the_executable_clearly(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text("{}")
    result = subprocess.run(
        [str(EXECUTABLE), "--config", str(config)], input=b"", capture_output=True, check=False
    )

    assert result.returncode != 0
    assert b"'path' is a required property" in result.stderr
