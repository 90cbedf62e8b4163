"""target-duckdb against PyPI's target-duckdb 0.8.0 on the same Singer input.

The input is ZenGRC-shaped (`audits`: nested refs, custom attributes, timestamps),
N records with distinct ids, so every loader should end with exactly N rows.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.measure import run_measured
from dataops import warehouse
from dataops.sandbox import records
from tap_zengrc.streams import collection_stream

ROOT = Path(__file__).resolve().parents[1]
OURS = str(Path(sys.executable).with_name("target-duckdb"))
STOCK_VENV = ROOT / "bench" / ".stock-venv"
STOCK_VERSION = "0.8.0"
UV = ROOT / ".tools" / "bin" / "uv"


def stock_target() -> str:
    """PyPI target-duckdb in its own venv (made on first use)."""
    executable = STOCK_VENV / "bin" / "target-duckdb"
    if not executable.exists():
        subprocess.run([str(UV), "venv", "--quiet", str(STOCK_VENV)], check=True)
        subprocess.run(
            [
                str(UV),
                "pip",
                "install",
                "--quiet",
                "--python",
                str(STOCK_VENV / "bin" / "python"),
                f"target-duckdb=={STOCK_VERSION}",
            ],
            check=True,
        )
    return str(executable)


def write_input(path: Path, n: int) -> None:
    """SCHEMA, n RECORDs (distinct ids, sandbox-shaped), one STATE."""
    schema = collection_stream("audits").schema
    templates = records("zengrc")["audits"]
    with path.open("w") as out:
        out.write(
            json.dumps(
                {"type": "SCHEMA", "stream": "audits", "schema": schema, "key_properties": ["id"]}
            )
            + "\n"
        )
        for i in range(n):
            record = {**templates[i % len(templates)], "id": i + 1}
            out.write(json.dumps({"type": "RECORD", "stream": "audits", "record": record}) + "\n")
        out.write(json.dumps({"type": "STATE", "value": {"bookmarks": {"audits": {}}}}) + "\n")


def rows_loaded(db: Path, table: str = "audits") -> int:
    """Rows in `table`, whichever schema the loader put it in."""
    counts = [n for (_, name), n in warehouse.table_counts(db).items() if name == table]
    assert counts, f"no {table} table in {db}"
    return counts[0]


def run(n: int = 200_000) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        messages = Path(tmp) / "input.jsonl"
        write_input(messages, n)
        for name, executable, settings in (
            # As meltano.yml runs it: records are typed by the tap's schema, and a value
            # DuckDB cannot convert still fails its batch with a clear error.
            ("target-duckdb (this project)", OURS, {"validate_records": False}),
            (f"target-duckdb {STOCK_VERSION} (PyPI)", stock_target(), {}),
        ):
            db = Path(tmp) / f"{len(results)}.duckdb"
            config = Path(tmp) / "config.json"
            config.write_text(
                json.dumps({"path": str(db), "default_target_schema": "bench", **settings})
            )
            measured = run_measured([executable, "--config", str(config)], stdin=messages)
            assert measured.returncode == 0, f"{name} failed"
            results.append(
                {
                    "loader": name,
                    "records_in": n,
                    "rows_loaded": rows_loaded(db),
                    "wall_s": round(measured.wall_s, 2),
                    "records_per_s": round(n / measured.wall_s),
                    "peak_rss_mib": round(measured.peak_rss_mib, 1),
                }
            )
    return results
