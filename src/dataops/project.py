"""The Meltano project as this package sees it: where it is and how to call Meltano."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WAREHOUSE = PROJECT_ROOT / "output" / "warehouse.duckdb"
LOCAL_LOADER = "target-duckdb"


def meltano_executable() -> str:
    """Meltano from this venv (it sits beside the running Python)."""
    return str(Path(sys.executable).with_name("meltano"))


def meltano(
    *args: str,
    env: dict[str, str] | None = None,
    capture: bool = False,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run `meltano ARGS…` in the project root, with `env` added to this environment."""
    full_env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", **(env or {})}
    return subprocess.run(
        [meltano_executable(), *args],
        cwd=PROJECT_ROOT,
        env=full_env,
        text=True,
        capture_output=capture,
        check=check,
    )


@dataclass(frozen=True)
class Schedule:
    name: str
    extractor: str
    loader: str
    interval: str


def schedules(env: dict[str, str] | None = None) -> list[Schedule]:
    """Every ELT schedule declared in meltano.yml (as Meltano itself resolves them)."""
    listing = meltano("schedule", "list", "--format=json", env=env, capture=True)
    return [
        Schedule(s["name"], s["extractor"], s["loader"], s["interval"])
        for s in json.loads(listing.stdout)["schedules"]["elt"]
    ]


def local_schedules(env: dict[str, str] | None = None) -> list[Schedule]:
    """The schedules that load into the local DuckDB warehouse."""
    return [s for s in schedules(env) if s.loader == LOCAL_LOADER]
