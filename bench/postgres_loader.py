"""target-postgres (MeltanoLabs, as Meltano installs it) under each of its speed settings,
on the same Singer input as the DuckDB loader scenario, into the local PostgreSQL.

Each configuration loads into a new database; a correct one ends with exactly N rows
and then merges the same N records again (every key already present) to N rows.
"""

from __future__ import annotations

import gzip
import json
import tempfile
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench.loader_throughput import write_input
from bench.measure import run_measured
from dataops import project, warehouse

SERVER = "postgresql://postgres@127.0.0.1:5432"
FAST = {"use_copy": True, "validate_records": False}
CONFIGURATIONS: list[tuple[str, dict[str, Any], bool]] = [
    ("defaults (INSERT, validation on)", {}, False),
    ("use_copy", {"use_copy": True}, False),
    ("validate_records off", {"validate_records": False}, False),
    ("use_copy + validate_records off (chosen)", FAST, False),
    (
        "use_copy + validate_records off, batch_size_rows 50,000",
        {**FAST, "batch_size_rows": 50_000},
        False,
    ),
    ("BATCH (JSONL gzip files) + use_copy + validate_records off", FAST, True),
]


def batch_input(records_input: Path, folder: Path, per_file: int = 50_000) -> Path:
    """The same SCHEMA, records and STATE, the records as BATCH messages of gzip JSONL files."""
    lines = records_input.read_text().splitlines()
    schema, state = lines[0], lines[-1]
    records = [json.loads(line)["record"] for line in lines[1:-1]]
    manifest = []
    for start in range(0, len(records), per_file):
        path = folder / f"audits-{start}.jsonl.gz"
        with gzip.open(path, "wt") as out:
            out.writelines(json.dumps(r) + "\n" for r in records[start : start + per_file])
        manifest.append(path.as_uri())
    batch = {
        "type": "BATCH",
        "stream": "audits",
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "manifest": manifest,
    }
    result = folder / "batch-input.jsonl"
    result.write_text("\n".join([schema, json.dumps(batch), state]) + "\n")
    return result


def run(n: int = 200_000) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    target_postgres = (
        project.root()
        / ".meltano"
        / "loaders"
        / "target-postgres"
        / "venv"
        / "bin"
        / "target-postgres"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        messages = folder / "input.jsonl"
        write_input(messages, n)
        batches = batch_input(messages, folder)
        for name, settings, as_batch in CONFIGURATIONS:
            database = f"bench_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as con:
                con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            try:
                config = folder / "config.json"
                url = f"postgresql+psycopg://postgres:unused@127.0.0.1:5432/{database}"
                config.write_text(
                    json.dumps(
                        {"sqlalchemy_url": url, "default_target_schema": "bench", **settings}
                    )
                )
                command = [str(target_postgres), "--config", str(config)]
                source = batches if as_batch else messages
                first = run_measured(command, stdin=source)
                assert first.returncode == 0, f"{name} failed"
                loaded = len(warehouse.rows(f"{SERVER}/{database}", "bench", "audits"))
                again = run_measured(command, stdin=source)
                assert again.returncode == 0, f"{name} failed to merge"
                merged = len(warehouse.rows(f"{SERVER}/{database}", "bench", "audits"))
            finally:
                with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as con:
                    con.execute(
                        sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(database))
                    )
            results.append(
                {
                    "target-postgres 0.8.1": name,
                    "records in": n,
                    "rows loaded": loaded,
                    "wall s": round(first.wall_s, 2),
                    "records/s": round(n / first.wall_s),
                    "peak RSS MiB": round(first.peak_rss_mib, 1),
                    "rows after merging again": merged,
                    "merge wall s": round(again.wall_s, 2),
                }
            )
    return results
