"""`dataops demo`: every local schedule into DuckDB; a second run changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from dataops import project
from dataops.demo import SandboxOptions, run_demo
from dataops.sandbox import truth


def test_demo_loads_every_collection_and_a_second_run_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in project.isolated_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "warehouse.duckdb"
    console = Console(file=(tmp_path / "demo.txt").open("w"), width=120)

    first = run_demo(SandboxOptions(), console, path)
    expected = {
        f"tap_{vendor}.{stream}": found["rows"]
        for vendor in ("zengrc", "edcast", "xactly", "adaptive")
        for stream, found in truth(vendor).items()
        if stream != "edcast_users"  # a second dataset the tap can be configured for
    }
    assert {c.table: c.rows for c in first} == expected
    assert {c.table: c.added for c in first} == expected

    second = run_demo(SandboxOptions(), console, path)
    assert {c.table: (c.rows, c.added, c.updated) for c in second} == {
        table: (rows, 0, 0) for table, rows in expected.items()
    }

    third = run_demo(SandboxOptions(epoch=1), console, path)
    assert sum(c.added for c in third) > 0
    assert sum(c.updated for c in third) > 0
