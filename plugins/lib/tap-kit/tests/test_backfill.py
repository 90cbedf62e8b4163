"""tapkit.backfill in the three taps that read incrementally, against their sandboxes: a
run with `backfill_from` after a first sync sends exactly the rows from that moment on,
activates no table version (older rows stay), leaves the bookmark where it was, and the
run after it is incremental again; together the runs hold exactly the truth."""

from __future__ import annotations

import typing as t
from datetime import UTC, datetime
from pathlib import Path

import pytest
from singer_sdk.exceptions import ConfigValidationError

from dataops.sandbox import records, serve
from dataops.sandbox.registry import get_vendor
from dataops.testing import singer_run, verify
from dataops.testing.tap_tests import activated, config_for, replay, run_tap, sent
from tapkit.backfill import backfill_from, instant, rewound

SEED = 17
CASES = {
    # vendor: (a stream, its replication key)
    "zengrc": ("audits", "updated_at"),
    "edcast": ("glue_groups_g3_group_performance_data_explorer", "Time"),
    "xactly": ("xc_user", "MODIFIED_DATE"),
}


@pytest.mark.parametrize("vendor", sorted(CASES))
def test_a_backfill_sends_the_rows_from_its_date_on_and_removes_nothing(
    vendor: str, tmp_path: Path
) -> None:
    stream, key = CASES[vendor]
    keys = get_vendor(vendor).key_properties[stream]
    truth = records(vendor, seed=SEED, epoch=1)
    moments = sorted(m for row in truth[stream] if (m := instant(row[key])) is not None)
    since = moments[len(moments) // 2]  # half the rows are older
    newer = [row for row in truth[stream] if (m := instant(row[key])) and m >= since]
    runs = []
    with serve(vendor, seed=SEED, epoch=1) as sandbox:
        config = config_for(vendor, sandbox)
        state = None
        # A first sync, the backfill, a run after it.
        for settings in (config, {**config, "backfill_from": since.isoformat()}, config):
            run = run_tap(vendor, tmp_path, settings, state)
            assert run.returncode == 0, run.stderr[-3000:]
            runs.append(run)
            state = run.last_state
    first, again, after = runs
    replica = replay([m for run in runs for m in run.messages], singer_run.Replica())

    def key_of(row: dict[str, t.Any]) -> tuple[t.Any, ...]:
        return tuple(verify.normalise(row[k]) for k in keys)

    backfilled = [m["record"] for m in sent(again.messages, stream)]
    assert {key_of(row) for row in backfilled} == {key_of(row) for row in newer}
    assert stream not in activated(again.messages)  # nothing older removed downstream
    bookmark = first.last_state["bookmarks"][stream]["replication_key_value"]
    assert again.last_state["bookmarks"][stream]["replication_key_value"] == bookmark
    assert stream not in activated(after.messages)  # incremental again: the state adds up
    report = verify.compare_rows(stream, replica.table(stream), truth[stream], list(keys))
    assert report.ok, report.describe()


def test_a_backfill_after_the_bookmark_skips_nothing_and_a_bad_date_is_refused() -> None:
    bookmark = datetime(2024, 6, 1, tzinfo=UTC)
    assert rewound(bookmark, {"backfill_from": "2025-01-01"}) == bookmark
    assert rewound(bookmark, {"backfill_from": "2024-05-01"}) == datetime(2024, 5, 1, tzinfo=UTC)
    naive = datetime(2024, 6, 1)
    assert rewound(naive, {"backfill_from": "2024-05-01T02:00:00+02:00"}) == datetime(2024, 5, 1)
    assert backfill_from({"backfill_from": ""}) is None
    with pytest.raises(ConfigValidationError, match="ISO date or date-time"):
        backfill_from({"backfill_from": "last tuesday"})
    assert instant("2024-05-01 03:00:00") == datetime(2024, 5, 1, 3, tzinfo=UTC)
