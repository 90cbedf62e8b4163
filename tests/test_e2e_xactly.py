"""Xactly → DuckDB end to end: real `meltano run tap-xactly target-duckdb` over JDBC
against the H2 stand-in, compared with the sandbox's ground truth over four epochs
(rows deleted and committed late from epoch 2 on), with sessions aborted under the
tap, and with the whole pipeline killed in the middle of a full read."""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from dataops import warehouse
from dataops.demo import SANDBOX_FOR_EXTRACTOR
from dataops.sandbox import records, serve
from dataops.sandbox.xactly import KEY_PROPERTIES, XactlySandbox
from dataops.testing import pipelines

SEED = 13


def assert_warehouse_equals_truth(env: dict[str, str], epoch: int, scale: int = 1) -> None:
    path = Path(env["TARGET_DUCKDB_PATH"])
    pipelines.assert_equals_truth(path, "xactly", seed=SEED, epoch=epoch, scale=scale)


def start_pipeline(
    env: dict[str, str], sandbox: XactlySandbox, log: Path, *options: str
) -> subprocess.Popen:
    """`meltano run tap-xactly target-duckdb` in its own process group, logging to `log`."""
    pointed = SANDBOX_FOR_EXTRACTOR["tap-xactly"].env(sandbox)
    return pipelines.start("tap-xactly", "target-duckdb", {**env, **pointed}, *options, log=log)


def wait_for_log(pipeline: subprocess.Popen, log: Path, text: str, timeout: float = 120) -> bool:
    """Wait until `text` appears in the log; False if the pipeline ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return True
        if pipeline.poll() is not None:
            return False
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not logged within {timeout} s")


def wait_for_stored_bookmark(
    pipeline: subprocess.Popen,
    env: dict[str, str],
    stream: str,
    stored_bookmarks: Callable[[dict[str, str]], list[dict]],
    timeout: float = 120,
) -> bool:
    """Wait until Meltano's system database holds state with a bookmark for `stream`
    (the target passed on a STATE after committing rows); False if the run ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pipeline.poll() is not None:
            return False
        if any(
            bookmarks.get(stream, {}).get("replication_key_value") is not None
            for bookmarks in stored_bookmarks(env)
        ):
            return True
        time.sleep(0.05)
    raise AssertionError(f"no bookmark for {stream} stored within {timeout} s")


def sync_with_aborted_sessions(env: dict[str, str], epoch: int, log: Path) -> int:
    """One sync; every open JDBC session is aborted once the tap is paging."""
    with serve("xactly", seed=SEED, epoch=epoch) as sandbox:
        pipeline = start_pipeline(env, sandbox, log)
        aborter = threading.Thread(
            target=lambda: wait_for_log(pipeline, log, ": page 2,") and sandbox.abort_sessions()
        )
        aborter.start()
        code = pipeline.wait(timeout=300)
        aborter.join()
        aborted = sandbox.stats.sessions_aborted
    assert code == 0, failure_lines(log)
    return aborted


def failure_lines(log: Path) -> str:
    """The log's warnings and errors (metrics left out), then its end."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if "METRIC" not in line]
    said = [line for line in lines if "warning" in line or "error" in line.lower()]
    return "\n".join([*said[-40:], "…", *lines[-15:]])


def warehouse_keys(env: dict[str, str], stream: str) -> set[tuple]:
    rows = warehouse.rows(Path(env["TARGET_DUCKDB_PATH"]), "tap_xactly", stream)
    return {tuple(row[k] for k in KEY_PROPERTIES[stream]) for row in rows}


def test_xactly_to_duckdb_matches_truth_over_epochs(
    meltano_env: dict[str, str], tmp_path: Path, records_sent: Callable[..., Counter[str]]
) -> None:
    """Epochs 0 → 3 with sessions aborted mid-sync: after each the warehouse equals the
    truth — rows Xactly deleted are gone (hard_delete), late commits are in, every
    history row is kept."""
    env = {**meltano_env, "TAP_XACTLY_PAGE_SIZE": "40", "TAP_XACTLY_MAX_PARALLEL_STREAMS": "3"}
    first_log = tmp_path / "epoch0.log"
    # Small pages: the sessions are surely in use when they are aborted.
    aborted = sync_with_aborted_sessions({**env, "TAP_XACTLY_PAGE_SIZE": "10"}, 0, first_log)
    assert aborted >= 1, "no session was open to abort"
    assert "reconnecting in" in first_log.read_text()
    assert_warehouse_equals_truth(env, epoch=0)

    second_log = tmp_path / "epoch1.log"
    sync_with_aborted_sessions(env, 1, second_log)
    assert_warehouse_equals_truth(env, epoch=1)
    # Incremental: the rows dated from the bookmark less the hour of look-back on
    # (string-keyed tables: all of them).
    old, new = records("xactly", seed=SEED), records("xactly", seed=SEED, epoch=1)
    sent = records_sent(env, "tap-xactly", "target-duckdb")
    for stream, rows in new.items():
        since = max(r["MODIFIED_DATE"] for r in old[stream]) - timedelta(hours=1)
        whole = stream in ("xc_attainment_measure", "xc_quota_relationship")
        assert sent[stream] == sum(whole or r["MODIFIED_DATE"] >= since for r in rows), stream

    credits, history = warehouse_keys(env, "xc_credit"), warehouse_keys(env, "xc_position_hist")
    for epoch in (2, 3):
        sync_with_aborted_sessions(env, epoch, tmp_path / f"epoch{epoch}.log")
        assert_warehouse_equals_truth(env, epoch=epoch)
    assert credits - warehouse_keys(env, "xc_credit"), "no credit was deleted"
    assert history <= warehouse_keys(env, "xc_position_hist")  # history is never deleted
    versions = Counter(key[0] for key in warehouse_keys(env, "xc_position_hist"))
    assert max(versions.values()) >= 3  # every version kept, none merged away


def test_sync_killed_in_a_full_read_converges_on_rerun(
    meltano_env: dict[str, str],
    tmp_path: Path,
    records_sent: Callable[..., Counter[str]],
    stored_bookmarks: Callable[[dict[str, str]], list[dict]],
) -> None:
    """SIGKILL the pipeline in the middle of xc_credit's first (full) read; the rerun
    reads xc_credit whole again with a newer table version, carries on incrementally
    with the tables finished before the kill, and the warehouse ends equal to the
    source, nothing doubled."""
    env = {
        **meltano_env,
        "TAP_XACTLY_PAGE_SIZE": "25",
        "TAP_XACTLY_MAX_PARALLEL_STREAMS": "1",
        "TARGET_DUCKDB_BATCH_SIZE_ROWS": "50",  # commit (and pass STATE on) often
    }
    scale = 3
    log = tmp_path / "killed.log"
    with serve("xactly", seed=SEED, scale=scale) as sandbox:
        pipeline = start_pipeline(env, sandbox, log)
        # Killed once Meltano has stored a bookmark inside xc_credit: rows are committed.
        assert wait_for_stored_bookmark(pipeline, env, "xc_credit", stored_bookmarks), (
            "the sync ended unkilled"
        )
        pipelines.kill_group(pipeline)

        path = Path(env["TARGET_DUCKDB_PATH"])
        partial = warehouse.table_counts(path)
        truth = records("xactly", seed=SEED, scale=scale)
        assert 0 < partial.get(("tap_xactly", "xc_credit"), 0) < len(truth["xc_credit"])
        for (_, table), count in partial.items():
            keys = KEY_PROPERTIES[table]
            loaded = {tuple(r[k] for k in keys) for r in warehouse.rows(path, "tap_xactly", table)}
            assert len(loaded) == count, f"{table}: duplicates after the kill"
        [killed_version] = {
            r["_sdc_table_version"] for r in warehouse.rows(path, "tap_xactly", "xc_credit")
        }

        rerun_log = tmp_path / "rerun.log"
        # --force: the killed run is still marked running in Meltano's database
        rerun = start_pipeline(env, sandbox, rerun_log, "--force")
        assert rerun.wait(timeout=300) == 0, rerun_log.read_text(errors="replace")[-4000:]
    sent = records_sent(env, "tap-xactly", "target-duckdb")
    assert sent["xc_credit"] == len(truth["xc_credit"]), "xc_credit was not read again whole"
    finished = "xc_attainment_measure_criteria"  # before xc_credit, one table at a time
    assert 0 < sent[finished] < len(truth[finished]), f"{finished} was read whole again"
    assert_warehouse_equals_truth(env, epoch=0, scale=scale)
    [version] = {
        row["_sdc_table_version"] for row in warehouse.rows(path, "tap_xactly", "xc_credit")
    }
    assert version > killed_version
