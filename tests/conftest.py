"""Fixtures for platform tests: an isolated Meltano system database and warehouse."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def meltano_env(tmp_path: Path) -> dict[str, str]:
    """Env for `meltano` runs of one test: `ci` environment, own state DB and warehouse."""
    return {
        "MELTANO_ENVIRONMENT": "ci",
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
        "TARGET_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
    }
