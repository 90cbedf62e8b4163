"""target-duckdb's overrides of singer-sdk methods, private ones included
(``Target._process_state_message``, ``Target._write_state_message``,
``Sink._parse_timestamps_in_record``): a target cannot go through tap-kit's seam, so
this test guards them the same way. It fails naming the method when an SDK upgrade
renames one, changes its parameters or stops calling it: read the new SDK's code then."""

from __future__ import annotations

from dataops.testing.tap_tests import overrides_out_of_step
from target_duckdb.sink import DuckDBSink
from target_duckdb.target import FloatJSONReader, TargetDuckDB


def test_every_override_matches_the_installed_sdk() -> None:
    assert overrides_out_of_step(TargetDuckDB, DuckDBSink, FloatJSONReader) == []
