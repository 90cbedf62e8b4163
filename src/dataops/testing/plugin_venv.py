"""Run a script inside a Meltano plugin's own venv, where that plugin's libraries are
(target-snowflake's connector, say), with a JSON document on stdin."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from dataops import project


def run_script(kind: str, plugin: str, script: Path, given: dict[str, Any]) -> str:
    """What `script` printed, run by the Python of the installed `plugin` (a `kind`
    such as "loaders"); an AssertionError with its last words when it fails."""
    python = project.root() / ".meltano" / kind / plugin / "venv" / "bin" / "python"
    done = subprocess.run(
        [str(python), str(script)],
        input=json.dumps(given),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(
            f"{script.name} in {plugin}'s venv exited {done.returncode}:\n{done.stderr[-3000:]}"
        )
    return done.stdout
