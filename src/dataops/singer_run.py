"""Run a Singer tap of this project as its own process and read what it wrote.

Used by the taps' tests and the benchmarks: the executable beside this Python
(the workspace venv), a config and optional state file, messages parsed from stdout.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TapRun:
    returncode: int
    messages: list[dict[str, Any]]
    stderr: str


def run_tap(
    executable: str, workdir: Path, config: dict[str, Any], state: dict | None = None
) -> TapRun:
    """`executable --config … [--state …]` to completion (5 min at most)."""
    config_file = workdir / "config.json"
    config_file.write_text(json.dumps(config))
    args = [str(Path(sys.executable).with_name(executable)), "--config", str(config_file)]
    if state is not None:
        state_file = workdir / "state.json"
        state_file.write_text(json.dumps(state))
        args += ["--state", str(state_file)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    messages = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return TapRun(done.returncode, messages, done.stderr)
