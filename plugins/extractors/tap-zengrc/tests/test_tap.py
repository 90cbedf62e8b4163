"""tap-zengrc against the sandbox, run as a real process: faults, errors, increments,
deletions, data moving during a sync, kills."""

from __future__ import annotations

import copy
import itertools
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import urllib3
from singer_sdk.exceptions import FatalAPIError
from typing_extensions import override

from dataops.sandbox import records, serve
from dataops.sandbox.zengrc import clock
from dataops.testing import tap_tests
from dataops.testing.singer_run import Replica, TapRun
from dataops.testing.tap_tests import FAST_RETRIES, records_by_stream
from dataops.testing.verify import normalise, same
from tap_zengrc.client import server_clock
from tap_zengrc.scans import LAST_ID_COUNT, LAST_MAX_ID
from tap_zengrc.streams import COLLECTIONS
from tap_zengrc.tap import TapZenGRC
from tapkit.versions import UNFINISHED


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def config_for(sandbox: Any, **extra: Any) -> dict[str, Any]:
    return tap_tests.config_for("zengrc", sandbox, **extra)


def run_tap(
    tmp_path: Path, config: dict[str, Any], state: dict | None = None, into: Replica | None = None
) -> TapRun:
    return tap_tests.run_tap("zengrc", tmp_path, config, state, into)


@dataclass
class Loaded(Replica):
    """A replica that also counts what each run sent, and every key sent twice with
    one table version (a duplicate within one read)."""

    sent: Counter[str] = field(default_factory=Counter)
    doubled: list[tuple[str, int, Any]] = field(default_factory=list)
    _stamped: set[tuple[str, int, Any]] = field(default_factory=set)

    @override
    def apply(self, message: dict[str, Any]) -> None:
        if message["type"] == "RECORD":
            self.sent[message["stream"]] += 1
            stamped = (message["stream"], message["version"], message["record"]["id"])
            if stamped in self._stamped:
                self.doubled.append(stamped)
            self._stamped.add(stamped)
        super().apply(message)


def sync(
    tmp_path: Path, loaded: Loaded, state: dict | None, *, seed: int, epoch: int, **options: Any
) -> tuple[TapRun, Counter[str]]:
    """One tap run against the sandbox at `epoch` into `loaded`: the run and what it sent.

    `options` go to `serve` (page_size, move_after), but `max_parallel_streams` to the tap.
    """
    parallel = options.pop("max_parallel_streams", 6)
    before = Counter(loaded.sent)
    with serve("zengrc", seed=seed, epoch=epoch, **options) as sandbox:
        config = config_for(sandbox, max_parallel_streams=parallel)
        done = run_tap(tmp_path, config, state, into=loaded)
        assert sandbox.moved == ("move_after" in options)
    assert done.returncode == 0, done.stderr[-3000:]
    return done, loaded.sent - before


def assert_equal_to_truth(replica: Replica, seed: int, epoch: int) -> None:
    tap_tests.assert_replica_is_truth(replica, "zengrc", seed=seed, epoch=epoch)


def test_every_object_arrives_through_every_kind_of_fault(tmp_path: Path) -> None:
    faults = (
        "429:0.08,429-bare:0.05,500:0.05,502:0.05,503:0.05,"
        "reset:0.05,truncate:0.05,html:0.05,stall:0.02"
    )
    with serve(
        "zengrc", seed=5, faults=faults, page_size=10, retry_after=0, stall_seconds=4
    ) as sandbox:
        done = run_tap(tmp_path, config_for(sandbox))
        injected = sandbox.stats.snapshot()["faults"]
    assert done.returncode == 0, done.stderr[-3000:]
    truth = records("zengrc", seed=5)
    got = records_by_stream(done.messages)
    for stream in COLLECTIONS:
        ids = [r["id"] for r in got[stream]]
        assert sorted(ids) == [r["id"] for r in truth[stream]], stream
    assert sum(injected.values()) >= 30, injected
    assert set(injected) == {
        "429",
        "429-bare",
        "500",
        "502",
        "503",
        "reset",
        "truncate",
        "html",
        "stall",
    }


def test_messages_keep_singer_order_when_collections_run_concurrently(tmp_path: Path) -> None:
    with serve("zengrc", seed=6, page_size=7, latency_ms=5) as sandbox:
        runs = [run_tap(tmp_path, config_for(sandbox, max_parallel_streams=n)) for n in (11, 1)]
    assert [run.returncode for run in runs] == [0, 0], runs[0].stderr[-3000:]
    parallel, serial = (run.messages for run in runs)
    schema_seen: set[str] = set()
    for message in parallel:
        if message["type"] == "SCHEMA":
            schema_seen.add(message["stream"])
        elif message["type"] == "RECORD":
            assert message["stream"] in schema_seen, "RECORD before its SCHEMA"
    streams_in_order = [m["stream"] for m in parallel if m["type"] == "RECORD"]
    # Really interleaved: records of one collection do not all come in one block.
    switches = sum(1 for a, b in itertools.pairwise(streams_in_order) if a != b)
    assert switches > len(COLLECTIONS)
    assert records_by_stream(parallel) == records_by_stream(serial) or {
        s: sorted(r["id"] for r in rs) for s, rs in records_by_stream(parallel).items()
    } == {s: sorted(r["id"] for r in rs) for s, rs in records_by_stream(serial).items()}
    final_state = [m for m in parallel if m["type"] == "STATE"][-1]["value"]
    truth = records("zengrc", seed=6)
    for stream in COLLECTIONS:
        bookmark = final_state["bookmarks"][stream]
        assert "progress_markers" not in bookmark
        assert not bookmark.get(UNFINISHED)
        newest = max(instant(r["updated_at"]) for r in truth[stream])
        assert instant(bookmark["replication_key_value"]) == newest


def test_second_sync_emits_only_objects_changed_since_the_bookmark(tmp_path: Path) -> None:
    with serve("zengrc", seed=8, epoch=0) as sandbox:
        first = run_tap(tmp_path, config_for(sandbox))
    assert first.returncode == 0, first.stderr[-3000:]
    state = first.last_state
    with serve("zengrc", seed=8, epoch=1) as sandbox:
        config = config_for(sandbox, lookback_seconds=0)
        second = run_tap(tmp_path, config, state=state)
    assert second.returncode == 0, second.stderr[-3000:]
    old = {s: {r["id"]: r for r in rs} for s, rs in records("zengrc", seed=8, epoch=0).items()}
    new = records("zengrc", seed=8, epoch=1)
    emitted = records_by_stream(second.messages)
    for stream in COLLECTIONS:
        bookmark = instant(state["bookmarks"][stream]["replication_key_value"])
        changed = {r["id"] for r in new[stream] if old[stream].get(r["id"]) != r}
        at_bookmark = {r["id"] for r in new[stream] if instant(r["updated_at"]) == bookmark}
        got = {r["id"] for r in emitted[stream]}
        assert changed, f"epoch 1 changes nothing in {stream}"
        assert changed <= got <= changed | at_bookmark, stream


# (seed, page size, max_parallel_streams): the results must not depend on the last two.
SETTINGS = [(3, 20, 1), (14, 50, 11)]


@pytest.mark.parametrize(("seed", "page_size", "parallel"), SETTINGS)
def test_deletions_leave_the_replica_and_only_they_cost_a_second_scan(
    tmp_path: Path, seed: int, page_size: int, parallel: int
) -> None:
    """Epochs 0 → 1 → 2 → 2 → 3, the replica equal to the truth after each run. A
    collection is read whole (then ACTIVATE_VERSION) at the first sync and when objects
    were deleted (every collection from epoch 2 on), in the same run as the scan that
    found it out; a run without deletions sends only what changed."""
    loaded, state = Loaded(), None
    shape = {"page_size": page_size, "max_parallel_streams": parallel}
    for epoch, deleted in ((0, False), (1, False), (2, True), (2, False), (3, True)):
        activations = dict(loaded.activations)
        done, sent = sync(tmp_path, loaded, state, seed=seed, epoch=epoch, **shape)
        assert_equal_to_truth(loaded, seed, epoch)
        assert not loaded.doubled
        rows = records("zengrc", seed=seed, epoch=epoch)
        for stream in COLLECTIONS:
            full_reads = loaded.activations[stream] - activations.get(stream, 0)
            if state is None:
                assert (full_reads, sent[stream]) == (1, len(rows[stream])), stream
            elif deleted:  # what changed, then every object again
                assert full_reads == 1, stream
                assert sent[stream] > len(rows[stream]), stream
            else:
                assert full_reads == 0, stream
                assert 0 < sent[stream] < len(rows[stream]) / 2, stream
        assert done.stderr.count("objects were deleted") == (len(COLLECTIONS) if deleted else 0)
        state = done.last_state


# (seed, epoch the data moves from, answers before it moves, page size, parallel streams):
# a first sync (a full read) moving, incremental scans moving into an epoch with
# deletions, and a move during the full reads that deletions lead to.
MOVES = [
    (42, 0, 70, 10, 4),
    (46, 2, 60, 10, 3),
    (47, 2, 250, 10, 1),
]


@pytest.mark.parametrize(("seed", "epoch", "move_after", "page_size", "parallel"), MOVES)
def test_data_moving_during_a_sync_is_caught_up_by_the_next_run(
    tmp_path: Path, seed: int, epoch: int, move_after: int, page_size: int, parallel: int
) -> None:
    """The sandbox moves from `epoch` to the next after `move_after` answers, under the
    tap's scans. That run leaves no key twice and none outside either epoch, each row as
    one of them has it; the next run, with the data still, leaves exactly the truth."""
    loaded, state = Loaded(), None
    shape = {"page_size": page_size, "max_parallel_streams": parallel}
    if epoch > 0:
        done, _ = sync(tmp_path, loaded, None, seed=seed, epoch=epoch - 1, page_size=page_size)
        state = done.last_state
    done, _ = sync(tmp_path, loaded, state, seed=seed, epoch=epoch, move_after=move_after, **shape)
    assert not loaded.doubled
    old = records("zengrc", seed=seed, epoch=epoch)
    new = records("zengrc", seed=seed, epoch=epoch + 1)
    for stream in COLLECTIONS:
        either = [{row["id"]: row for row in rows[stream]} for rows in (old, new)]
        for row in loaded.table(stream):
            candidates = [rows[row["id"]] for rows in either if row["id"] in rows]
            assert candidates, f"{stream} {row['id']}: in neither epoch"
            assert any(same(normalise(row), normalise(c)) for c in candidates), (stream, row)
    sync(tmp_path, loaded, done.last_state, seed=seed, epoch=epoch + 1, **shape)
    assert_equal_to_truth(loaded, seed, epoch + 1)


@pytest.mark.parametrize("first_sync", [True, False])
def test_a_run_killed_while_scanning_is_followed_by_a_full_read(
    tmp_path: Path, first_sync: bool
) -> None:
    """A killed run may have loaded rows its last STATE does not cover: new ids the next
    scan's id count cannot vouch for, rows of a full read that were deleted since. The
    run is cut at a STATE while collections are mid-scan (in the full reads of a first
    sync, or in incremental scans): the loader holds every message before the next STATE
    (records after the cut got in too), the state is the cut's. Rerun at the same epoch,
    exactly the collections that had not finished are read whole; rerun after more
    deletions, every one is: the replica equals the truth either way."""
    seed = 52 if first_sync else 53
    base, state = Loaded(), None
    if not first_sync:
        done, _ = sync(tmp_path, base, None, seed=seed, epoch=0)
        state = done.last_state
    with serve("zengrc", seed=seed, epoch=1, page_size=10) as sandbox:
        config = config_for(sandbox, max_parallel_streams=3)
        killed = run_tap(tmp_path, config, state)
    assert killed.returncode == 0, killed.stderr[-3000:]
    states = [i for i, m in enumerate(killed.messages) if m["type"] == "STATE"]

    def marked(index: int, key: str) -> set[str]:
        bookmarks = killed.messages[index]["value"]["bookmarks"]
        return {s for s, b in bookmarks.items() if b.get(key) not in (None, False)}

    mid_scan = [i for i in states if marked(i, UNFINISHED)]
    cut = mid_scan[len(mid_scan) // 2]
    unfinished = marked(cut, UNFINISHED) | (set(COLLECTIONS) - marked(cut, LAST_ID_COUNT))
    assert unfinished != set(COLLECTIONS)
    kill = next(i for i in states if i > cut)
    for rerun_epoch in (1, 2):
        loaded = copy.deepcopy(base)
        for message in killed.messages[:kill]:
            if message["type"] != "STATE":
                loaded.apply(message)
        activations = dict(loaded.activations)
        sync(tmp_path, loaded, killed.messages[cut]["value"], seed=seed, epoch=rerun_epoch)
        assert_equal_to_truth(loaded, seed, rerun_epoch)
        read_whole = {s for s in COLLECTIONS if loaded.activations[s] > activations.get(s, 0)}
        assert read_whole == (unfinished if rerun_epoch == 1 else set(COLLECTIONS))


def test_a_new_object_is_sent_however_old_its_updated_at(tmp_path: Path) -> None:
    """An object committed late, its `updated_at` already behind the bookmark, is sent
    all the same when its id is above the largest id of the last scan."""
    seed = 61
    loaded = Loaded()
    first, _ = sync(tmp_path, loaded, None, seed=seed, epoch=0)
    state = copy.deepcopy(first.last_state)
    for bookmark in state["bookmarks"].values():  # past every object of epoch 1
        bookmark["replication_key_value"] = "2030-01-01T00:00:00.000000Z"
    _, sent = sync(tmp_path, loaded, state, seed=seed, epoch=1)
    old, new = records("zengrc", seed=seed, epoch=0), records("zengrc", seed=seed, epoch=1)
    for stream in COLLECTIONS:
        largest = first.last_state["bookmarks"][stream][LAST_MAX_ID]
        assert largest == max(row["id"] for row in old[stream])
        created = [row for row in new[stream] if row["id"] > largest]
        assert 0 < sent[stream] == len(created), stream
        assert {row["id"]: row for row in loaded.table(stream)}.keys() >= {
            row["id"] for row in created
        }
    assert set(loaded.activations.values()) == {1}  # no collection read whole again


def response_dated(*dates: str) -> requests.Response:
    """A response as `requests` builds it, with these `Date` lines."""
    response = requests.Response()
    response.raw = urllib3.HTTPResponse(
        headers=urllib3.HTTPHeaderDict([("Date", date) for date in dates])
    )
    return response


def test_the_server_clock_is_read_from_date_the_earliest_when_several() -> None:
    feb_28 = datetime(2025, 2, 28, 18, tzinfo=UTC)
    assert server_clock(response_dated()) is None
    assert server_clock(response_dated("yesterday")) is None
    assert server_clock(response_dated("Fri, 28 Feb 2025 18:00:00 GMT")) == feb_28
    proxied = response_dated("Wed, 25 Nov 2026 22:19:13 GMT", "Fri, 28 Feb 2025 18:00:00 GMT")
    assert server_clock(proxied) == feb_28


def test_the_bookmark_cap_is_our_clock_without_a_server_clock() -> None:
    tap = TapZenGRC(
        config={"base_url": "https://acme.api.zengrc.com/api/v2", "username": "u", "password": "p"}
    )
    stream = tap.streams["audits"]
    ours = datetime.fromtimestamp(tap.initialized_at / 1000, tz=UTC)
    assert stream.bookmark_cap(None) == ours
    assert stream.bookmark_cap(clock(3)) == clock(3)
    assert stream.bookmark_cap(datetime(2999, 1, 1, tzinfo=UTC)) == ours


def test_batch_mode_is_refused_clearly(tmp_path: Path) -> None:
    """The SDK's BATCH files carry no table version: a full read's activation would
    delete every row loaded from them."""
    batch = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": tmp_path.as_uri(), "prefix": "zengrc-"},
    }
    with serve("zengrc") as sandbox:
        done = run_tap(tmp_path, config_for(sandbox, batch_config=batch))
    assert done.returncode == 1
    assert "tap-zengrc failed: tap-zengrc stream '" in done.stderr
    assert "does not write BATCH files" in done.stderr
    assert "remove `batch_config`" in done.stderr
    assert not [m for m in done.messages if m["type"] in ("RECORD", "BATCH")]
    assert "Traceback" not in done.stderr


def test_wrong_credentials_fail_clearly_without_leaking_them(tmp_path: Path) -> None:
    with serve("zengrc") as sandbox:
        config = config_for(sandbox, password="not-the-secret-xyz")
        done = run_tap(tmp_path, config)
    assert done.returncode == 1
    assert "tap-zengrc failed: ZenGRC refused the credentials (HTTP 401)" in done.stderr
    assert "TAP_ZENGRC_PASSWORD" in done.stderr
    assert "not-the-secret-xyz" not in done.stderr
    assert "Traceback" not in done.stderr
    # The first failure stops the sync: not every collection fails on its own.
    assert done.stderr.count("refused the credentials") < len(COLLECTIONS)


def test_wrong_base_url_fails_clearly(tmp_path: Path) -> None:
    with serve("zengrc") as sandbox:
        config = config_for(sandbox, base_url=sandbox.origin + "/api/v1")
        done = run_tap(tmp_path, config)
    assert done.returncode == 1
    assert "ZenGRC answered 404 for GET /api/v1/" in done.stderr
    assert "check the tap-zengrc `base_url` setting" in done.stderr
    assert "Traceback" not in done.stderr


def test_unreachable_host_gives_up_after_bounded_retries(tmp_path: Path) -> None:
    with serve("zengrc") as sandbox:
        dead_url = sandbox.url  # the port is closed once the sandbox stops
        credentials = sandbox.credentials
    config = {"base_url": dead_url, **credentials, **FAST_RETRIES, "max_retries": 2}
    done = run_tap(tmp_path, config)
    assert done.returncode == 1
    assert "attempt 2 of 3 failed (" in done.stderr
    assert "gave up after 3 attempts: " in done.stderr
    assert "check the tap-zengrc `base_url` setting" in done.stderr
    assert "Traceback" not in done.stderr


def empty_page(next_href: str) -> tuple[Any, requests.Response]:
    """The audits stream of a tap for acme, and an empty page of it linking on."""
    tap = TapZenGRC(
        config={"base_url": "https://acme.api.zengrc.com/api/v2", "username": "u", "password": "p"}
    )
    stream = tap.streams["audits"]
    response = requests.Response()
    response.status_code = 200
    response.headers["Content-Type"] = "application/json"
    response.request = requests.Request("GET", f"{stream.url_base}/audits").prepare()
    response._content = json.dumps({"data": [], "links": {"next": {"href": next_href}}}).encode()
    stream.validate_response(response)
    return stream, response


def test_next_page_link_to_another_host_is_refused() -> None:
    stream, response = empty_page("https://evil.example.com/api/v2/audits?c=1")
    with pytest.raises(FatalAPIError, match="another host"):
        stream.get_new_paginator().get_next(response)


def test_an_empty_page_with_a_next_link_does_not_end_the_scan() -> None:
    stream, response = empty_page("/api/v2/audits?cursor=abc")
    paginator = stream.get_new_paginator()
    assert paginator.continue_if_empty(response)
    paginator.advance(response)
    assert not paginator.finished
    assert paginator.current_value == "https://acme.api.zengrc.com/api/v2/audits?cursor=abc"
