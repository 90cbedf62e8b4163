"""Fixtures for target-duckdb tests: build Singer messages, run the target, query DuckDB."""

from __future__ import annotations

import contextlib
import io
import json
import typing as t

import duckdb
import pytest

from target_duckdb.target import TargetDuckDB

if t.TYPE_CHECKING:
    from pathlib import Path


class Harness:
    """Runs the target in-process against one DuckDB file in a test's tmp dir."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.config: dict[str, t.Any] = {"path": str(db)}

    @staticmethod
    def schema(stream: str, properties: dict, keys: list[str] | None = None) -> dict:
        return {
            "type": "SCHEMA",
            "stream": stream,
            "schema": {"type": "object", "properties": properties},
            "key_properties": keys or [],
        }

    @staticmethod
    def records(stream: str, records: list[dict], version: int | None = None) -> list[dict]:
        versioned = {} if version is None else {"version": version}
        return [
            {"type": "RECORD", "stream": stream, "record": record, **versioned}
            for record in records
        ]

    @staticmethod
    def activate(stream: str, version: int) -> dict:
        return {"type": "ACTIVATE_VERSION", "stream": stream, "version": version}

    def run(self, messages: list[dict], **settings: t.Any) -> list[dict]:
        """Feed `messages` to a fresh target; return the STATE values it emitted."""
        target = TargetDuckDB(config={**self.config, **settings}, validate_config=True)
        lines = io.StringIO("".join(json.dumps(message) + "\n" for message in messages))
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            target.listen(lines)
        return [json.loads(line) for line in stdout.getvalue().splitlines() if line]

    def query(self, sql: str) -> list[tuple]:
        """Query through a new connection: it sees committed data only."""
        with duckdb.connect(str(self.db)) as connection:
            connection.execute("SET TimeZone = 'UTC'")
            return connection.execute(sql).fetchall()

    def column_types(self, table: str) -> dict[str, str]:
        return {row[0]: row[1] for row in self.query(f"DESCRIBE {table}")}


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path / "nested" / "dir" / "warehouse.duckdb")
