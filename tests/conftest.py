"""Fixtures for platform tests: an isolated Meltano system database and warehouse."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataops import project


@pytest.fixture
def isolated(tmp_path: Path) -> dict[str, str]:
    """Env giving `meltano` commands their own system directory and database."""
    return project.isolated_env(tmp_path)


@pytest.fixture
def meltano_env(tmp_path: Path) -> dict[str, str]:
    """Env for `meltano` runs of one test: `ci` environment, own system directory
    (run files, state database) and warehouse, so tests can run in parallel."""
    return {
        **project.isolated_env(tmp_path),
        "MELTANO_ENVIRONMENT": "ci",
        "TARGET_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
    }
