"""The Singer SDK's standard target test suite, against a per-session DuckDB file."""

from __future__ import annotations

import typing as t

import pytest
from singer_sdk.testing import get_target_test_class
from singer_sdk.testing.runners import TargetTestRunner
from typing_extensions import override

from target_duckdb.target import TargetDuckDB

if t.TYPE_CHECKING:
    from pathlib import Path

_StandardTests = get_target_test_class(TargetDuckDB, config={})


@pytest.fixture(scope="session")
def session_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("standard") / "warehouse.duckdb"


class TestTargetDuckDB(_StandardTests):  # type: ignore[misc,valid-type]
    """All standard target tests; the runner points at the session's database."""

    @pytest.fixture
    @override
    def runner(self, session_db: Path) -> TargetTestRunner:
        return TargetTestRunner(TargetDuckDB, config={"path": str(session_db)})
