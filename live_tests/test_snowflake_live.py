"""ZenGRC → a real Snowflake account, over two epochs, compared with ground truth.

Collected only when credentials are in the environment: `make test` adds this folder
when TARGET_SNOWFLAKE_ACCOUNT is set (`make test-snowflake` runs it alone). Needs
TARGET_SNOWFLAKE_ACCOUNT, _USER, _DATABASE, _WAREHOUSE, optionally _ROLE, and one of
_PRIVATE_KEY or _PASSWORD. Loads into a schema of its own and drops it at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from dataops import project
from dataops.sandbox import records, serve

SEED = 5
REQUIRED = ("ACCOUNT", "USER", "DATABASE", "WAREHOUSE")
PYTHON = (
    project.PROJECT_ROOT / ".meltano" / "loaders" / "target-snowflake" / "venv" / "bin" / "python"
)


def snowflake_config(schema: str) -> dict[str, str]:
    missing = [
        f"TARGET_SNOWFLAKE_{name}"
        for name in REQUIRED
        if not os.environ.get(f"TARGET_SNOWFLAKE_{name}")
    ]
    if not (
        os.environ.get("TARGET_SNOWFLAKE_PRIVATE_KEY")
        or os.environ.get("TARGET_SNOWFLAKE_PASSWORD")
    ):
        missing.append("TARGET_SNOWFLAKE_PRIVATE_KEY or TARGET_SNOWFLAKE_PASSWORD")
    if missing:
        pytest.fail(f"the live Snowflake test needs {', '.join(missing)} in the environment")
    names = (*REQUIRED, "ROLE", "PRIVATE_KEY", "PASSWORD")
    config = {
        name.lower(): os.environ[f"TARGET_SNOWFLAKE_{name}"]
        for name in names
        if os.environ.get(f"TARGET_SNOWFLAKE_{name}")
    }
    return {**config, "default_target_schema": schema}


def loaded_keys(config: dict[str, str], keys: dict[str, list[str]], drop: bool = False) -> dict:
    given = {
        "config": config,
        "schema": config["default_target_schema"],
        "keys": keys,
        "drop": drop,
    }
    done = subprocess.run(
        [str(PYTHON), str(Path(__file__).with_name("snowflake_keys.py"))],
        input=json.dumps(given),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_zengrc_to_snowflake_matches_truth_over_two_epochs(tmp_path: Path) -> None:
    schema = f"tap_zengrc_live_{uuid.uuid4().hex[:8]}"
    config = snowflake_config(schema)
    env = {
        **project.isolated_env(tmp_path),
        "MELTANO_ENVIRONMENT": "ci",
        "TARGET_SNOWFLAKE_DEFAULT_TARGET_SCHEMA": schema,
    }
    keys = {stream: ["id"] for stream in records("zengrc", seed=SEED)}
    try:
        for epoch in (0, 1):
            with serve("zengrc", seed=SEED, epoch=epoch) as sandbox:
                project.meltano(
                    "run",
                    "tap-zengrc",
                    "target-snowflake",
                    env={**env, "TAP_ZENGRC_BASE_URL": sandbox.url},
                )
            truth = records("zengrc", seed=SEED, epoch=epoch)
            loaded = loaded_keys(config, keys)
            for stream, rows in truth.items():
                got = sorted(row[0] for row in loaded[stream])
                assert got == sorted(int(row["id"]) for row in rows), (
                    f"{schema}.{stream}, epoch {epoch}"
                )
    finally:
        loaded_keys(config, {}, drop=True)
