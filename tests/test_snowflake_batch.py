"""EdCast's BATCH files and target-snowflake 0.20.4 (issue 15, item 6): the decision and
what it rests on, checked without a Snowflake account.

The decision: `edcast-to-snowflake` sends records, not BATCH files. The loader reads
JSON-lines BATCH files (and its own Arrow manifests, not Parquet) and loads them the way
it loads records: PUT of the local file to the user stage, the same MERGE on the key
properties, ACTIVATE_VERSION honoured through each row's `_sdc_table_version`. But it
loads the file's values as they are, and tap-edcast's files differ from what the loader
stages for the same records: timestamps without their UTC offset (`2021-01-01
00:00:00`, which Snowflake reads in the session's TIMEZONE, America/Los_Angeles unless
the account says otherwise; the record path stages `…+00:00`), and no `_sdc_extracted_at`,
`_sdc_received_at`, `_sdc_batched_at`, `_sdc_sequence`, `_sdc_sync_started_at` (NULL,
and a MERGE overwrites them with NULL).

The resolved config comes from Meltano (`meltano schedule run … --dump`, as the sync
pods run it); the code path is the installed loader's own (tests/snowflake_load.py
runs it on the tap's real output with only its connection to Snowflake replaced).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from dataops import project
from dataops.sandbox import serve
from dataops.testing import plugin_venv

ROOT = project.root()
SCHEDULE = "edcast-to-snowflake"
SEED = 31
DATA_STREAM = "glue_groups_g3_group_performance_data_explorer"
SNOWFLAKE_ENV = {
    "TARGET_SNOWFLAKE_ACCOUNT": "example-org-prod",
    "TARGET_SNOWFLAKE_USER": "MELTANO_LOADER",
    "TARGET_SNOWFLAKE_DATABASE": "RAW",
    "TARGET_SNOWFLAKE_WAREHOUSE": "LOADING",
}
AUTH = {
    "production": {"TARGET_SNOWFLAKE_PRIVATE_KEY": "-----BEGIN…"},
    "staging": {"TARGET_SNOWFLAKE_PASSWORD": "from-the-secret"},
}
# What the record path stages beside the row and the batch path cannot know.
LOADER_METADATA = {
    "_sdc_extracted_at",
    "_sdc_received_at",
    "_sdc_batched_at",
    "_sdc_sequence",
    "_sdc_sync_started_at",
}
BATCH_ENCODINGS = {
    "jsonl": {"format": "jsonl", "compression": "gzip"},
    "parquet": {"format": "parquet", "compression": "none"},
}


def loader_declaration(name: str) -> dict[str, Any]:
    text = (ROOT / "meltano" / "loaders.meltano.yml").read_text()
    (plugin,) = [p for p in yaml.safe_load(text)["plugins"]["loaders"] if p["name"] == name]
    return dict(plugin)


def batch_formats(loader: str) -> set[str]:
    """The BATCH formats the project says `loader` reads (what `dataops check` uses)."""
    return set(loader_declaration(loader)["annotations"]["dataops"]["batch_formats"])


def dumped(environment: str, schedule: str, what: str, env: dict[str, str]) -> dict[str, Any]:
    """The config Meltano hands the tap or the loader when the sync pod runs
    `meltano schedule run SCHEDULE` (the schedule's `env` included)."""
    done = project.meltano(
        "--environment",
        environment,
        "schedule",
        "run",
        schedule,
        f"--dump={what}-config",
        env=env,
        capture=True,
    )
    return dict(json.loads(done.stdout))


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_edcast_to_snowflake_sends_records(environment: str, isolated: dict[str, str]) -> None:
    env = {**isolated, **SNOWFLAKE_ENV, **AUTH[environment]}
    tap = dumped(environment, SCHEDULE, "extractor", env)
    assert "batch_config" not in tap, (
        f"{SCHEDULE} in {environment} makes tap-edcast write BATCH files: "
        f"{tap['batch_config']} (see this module's docstring for why it sends records)"
    )
    loader = dumped(environment, SCHEDULE, "loader", env)
    # What the record path's correctness rests on (as in production today).
    assert loader["default_target_schema"] == "tap_edcast"
    assert loader["load_method"] == "upsert"
    assert loader["add_record_metadata"] is True
    assert loader["process_activate_version_messages"] is True
    assert loader["timestamp_type"] == "TIMESTAMP_TZ"
    assert "batch_config" not in loader
    # The dump sees a schedule's env: the DuckDB twin's fast path is there, in a
    # format its loader reads.
    twin = dumped(environment, "edcast-to-duckdb", "extractor", env)
    assert twin["batch_config"]["encoding"]["format"] in batch_formats("target-duckdb")


def test_installed_loader_is_the_release_this_decision_read() -> None:
    """A guard against upgrades: the decision was read from these releases' code."""
    pins = (ROOT / "plugins" / "loaders" / "target-snowflake.constraints.txt").read_text()
    assert (
        "meltanolabs-target-snowflake==0.20.4" in loader_declaration("target-snowflake")["pip_url"]
    )
    assert "singer-sdk==0.55.0b3 \\" in pins.splitlines()  # then its hashes
    assert batch_formats("target-snowflake") == {"jsonl", "arrow"}


def tap_output(env: dict[str, str], url: str, path: Path, batch: dict | None) -> Path:
    """What tap-edcast writes on stdout (records, or BATCH messages naming its files)."""
    run_env = {**env, "TAP_EDCAST_URL_BASE": url, "TAP_EDCAST_PAGE_SIZE": "700"}
    if batch is not None:
        run_env["TAP_EDCAST_BATCH_CONFIG"] = json.dumps(batch)
    done = project.meltano("invoke", "tap-edcast", env=run_env, capture=True)
    path.write_text(done.stdout)
    return path


def load(messages: Path, config: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Run the installed target-snowflake on `messages` (tests/snowflake_load.py)."""
    workdir.mkdir(parents=True, exist_ok=True)
    given = {"config": config, "messages": str(messages), "workdir": str(workdir)}
    plugin_venv.run_script(
        "loaders", "target-snowflake", Path(__file__).with_name("snowflake_load.py"), given
    )
    return dict(json.loads((workdir / "recorded.json").read_text()))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The production loader on tap-edcast's output in record mode and in each batch
    encoding (one sandbox epoch), with the messages the tap sent."""
    work = tmp_path_factory.mktemp("snowflake-batch")
    env = {**project.isolated_env(work), "MELTANO_ENVIRONMENT": "ci"}
    production = {**env, **SNOWFLAKE_ENV, **AUTH["production"]}
    config = dumped("production", SCHEDULE, "loader", production)
    outputs = {}
    with serve("edcast", seed=SEED, epoch=0) as sandbox:
        outputs["records"] = tap_output(env, sandbox.url, work / "records.jsonl", None)
        for name, encoding in BATCH_ENCODINGS.items():
            batch = {
                "encoding": encoding,
                "storage": {"root": (work / name).as_uri(), "prefix": "edcast-"},
            }
            outputs[name] = tap_output(env, sandbox.url, work / f"{name}.jsonl", batch)
    messages = {
        mode: [json.loads(line) for line in path.read_text().splitlines()]
        for mode, path in outputs.items()
    }
    recorded = {mode: load(path, config, work / f"load-{mode}") for mode, path in outputs.items()}
    return {"messages": messages, "recorded": recorded}


def of_stream(recorded: dict[str, Any], stream: str) -> list[dict[str, Any]]:
    """The statements the loader sent for one stream's table, in order."""
    names = (f'"{stream.upper()}"', f"target-snowflake/{stream}-", f'"tf-{stream}-')
    return [s for s in recorded["statements"] if any(name in s["sql"] for name in names)]


def anonymous(sql: str) -> str:
    """A statement without the names made unique per sink and batch."""
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "…", sql)


def staged_rows(recorded: dict[str, Any], stream: str) -> list[dict[str, Any]]:
    return [
        row
        for sync_id, rows in recorded["staged"].items()
        if sync_id.startswith(f"{stream}-")
        for row in rows
    ]


def test_loader_is_the_release_read_and_reads_jsonl_not_parquet(runs: dict[str, Any]) -> None:
    for recorded in runs["recorded"].values():
        assert recorded["versions"] == {
            "meltanolabs-target-snowflake": "0.20.4",
            "singer-sdk": "0.55.0b3",
        }
    assert runs["recorded"]["jsonl"]["error"] is None
    assert runs["recorded"]["parquet"]["error"] == (
        "NotImplementedError: Unsupported batch file encoding: parquet"
    )
    assert "parquet" not in batch_formats("target-snowflake")


def test_batch_files_are_put_from_local_disk_and_merged_like_records(
    runs: dict[str, Any],
) -> None:
    """Answers: the loader PUTs each file the tap names (a `file://` path on the
    loader's own disk, uploaded by its client: no storage the stage must read), then
    MERGEs it on the key properties with the very statement of the record path (a
    rerun updates rows, it adds none) and removes it from the stage."""
    manifests = [
        uri
        for message in runs["messages"]["jsonl"]
        if message["type"] == "BATCH" and message["stream"] == DATA_STREAM
        for uri in message["manifest"]
    ]
    assert manifests, "tap-edcast wrote no BATCH file"
    assert all(uri.startswith("file:///") for uri in manifests)
    batch = of_stream(runs["recorded"]["jsonl"], DATA_STREAM)
    puts = [s for s in batch if s["sql"].startswith("put ")]
    assert [s["params"]["file_uri"] for s in puts] == manifests
    steps = [s["sql"].split()[0].lower() for s in batch if not s["sql"].startswith("--")]
    # Its JSON file format, once; each file staged, merged, unstaged; ACTIVATE_VERSION.
    assert steps == ["create", *["put", "merge", "remove"] * len(manifests), "update", "drop"]
    records = of_stream(runs["recorded"]["records"], DATA_STREAM)
    merge_sql = {
        mode: {anonymous(s["sql"]) for s in statements if s["sql"].startswith("merge ")}
        for mode, statements in (("records", records), ("jsonl", batch))
    }
    assert len(merge_sql["jsonl"]) == 1
    assert merge_sql["jsonl"] == merge_sql["records"]
    (merge,) = merge_sql["jsonl"]
    (schema,) = [
        m for m in runs["messages"]["jsonl"] if m["type"] == "SCHEMA" and m["stream"] == DATA_STREAM
    ]
    on = merge.split(" on ", 1)[1].split(" when matched ", 1)[0]
    joined = re.findall(r'd\.("[^"]+"|\w+) = s\.\1', on)
    assert len(joined) == on.count(" and ") + 1
    assert {name.strip('"').casefold() for name in joined} == {
        key.casefold() for key in schema["key_properties"]
    }
    assert "QUALIFY ROW_NUMBER() OVER (PARTITION BY" in merge


def test_batch_rows_carry_the_table_version_activate_version_needs(
    runs: dict[str, Any],
) -> None:
    """Answers: each staged row has the `_sdc_table_version` the tap wrote into the
    file, and ACTIVATE_VERSION (after the last MERGE) soft-deletes the rows of older
    versions, so rows the source no longer has leave the live table."""
    (version,) = {
        m["version"]
        for m in runs["messages"]["jsonl"]
        if m["type"] == "ACTIVATE_VERSION" and m["stream"] == DATA_STREAM
    }
    rows = staged_rows(runs["recorded"]["jsonl"], DATA_STREAM)
    assert rows
    assert {row["_sdc_table_version"] for row in rows} == {version}
    statements = of_stream(runs["recorded"]["jsonl"], DATA_STREAM)
    (update,) = [s for s in statements if s["sql"].startswith("UPDATE")]
    assert "WHERE _sdc_table_version < :version" in update["sql"]
    assert update["params"]["version"] == str(version)
    merges = [i for i, s in enumerate(statements) if s["sql"].startswith("merge ")]
    assert statements.index(update) > max(merges)


def test_batch_path_stages_other_values_than_the_record_path(runs: dict[str, Any]) -> None:
    """Why `edcast-to-snowflake` sends records: for the same rows, the batch path
    stages date-times without their offset (Snowflake reads them in the session's
    TIMEZONE) and none of the loader's metadata; every other value is identical.
    If this fails because the values now agree, reconsider BATCH for the schedule."""
    (schema,) = [
        m
        for m in runs["messages"]["records"]
        if m["type"] == "SCHEMA" and m["stream"] == DATA_STREAM
    ]
    date_times = {
        name
        for name, prop in schema["schema"]["properties"].items()
        if prop.get("format") == "date-time"
    }
    assert date_times == {"Time"}

    def instant(text: str | None) -> datetime | None:
        """The wall time in UTC (an offset-less text is taken as UTC, as the tap means)."""
        if text is None:
            return None
        value = datetime.fromisoformat(text)
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value

    def key(row: dict[str, Any]) -> list[Any]:
        return [
            str(instant(row[k])) if k in date_times else str(row[k])
            for k in schema["key_properties"]
        ]

    records, batch = (
        sorted(staged_rows(runs["recorded"][mode], DATA_STREAM), key=key)
        for mode in ("records", "jsonl")
    )
    assert len(records) == len(batch) > 0
    differing: set[str] = set()
    for got, expected in zip(batch, records, strict=True):
        assert key(got) == key(expected)
        for name in set(got) | set(expected):
            if name != "_sdc_table_version" and got.get(name) != expected.get(name):
                differing.add(name)
        for name in date_times:
            if expected[name] is not None:
                assert datetime.fromisoformat(expected[name]).utcoffset() == timedelta(0)
                assert datetime.fromisoformat(got[name]).tzinfo is None, got[name]
    assert differing == date_times | LOADER_METADATA, (
        "the batch path now stages other differences than the missing UTC offset and "
        f"loader metadata: {sorted(differing)}"
    )
