"""Run a Singer tap of this project as its own process and read what it wrote.

Used by the taps' tests and the benchmarks: the executable beside this Python
(the workspace venv), a config and optional state file, messages parsed from stdout.
A :class:`Replica` applies them as a merging, hard-deleting loader would, so a test
can compare what a tap's runs add up to with the sandbox's ground truth.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TapRun:
    returncode: int
    messages: list[dict[str, Any]]
    """Every message, unless a replica took the RECORDs (then the others only)."""
    stderr: str

    @property
    def last_state(self) -> dict[str, Any]:
        states = [m["value"] for m in self.messages if m["type"] == "STATE"]
        return states[-1] if states else {}


@dataclass
class Replica:
    """A loader's tables after a tap's messages: rows merged on the stream's key
    properties (the last record of a key wins), rows older than an ACTIVATE_VERSION's
    version (or without one) deleted."""

    rows: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = field(default_factory=dict)
    versions: dict[str, dict[tuple[Any, ...], int | None]] = field(default_factory=dict)
    keys: dict[str, list[str]] = field(default_factory=dict)
    activations: dict[str, int] = field(default_factory=dict)
    """ACTIVATE_VERSION messages seen, per stream."""

    def apply(self, message: dict[str, Any]) -> None:
        kind, stream = message["type"], message.get("stream", "")
        if kind == "SCHEMA":
            self.keys[stream] = list(message.get("key_properties") or [])
        elif kind == "RECORD":
            record = message["record"]
            key = tuple(record[k] for k in self.keys[stream])
            self.rows.setdefault(stream, {})[key] = record
            self.versions.setdefault(stream, {})[key] = message.get("version")
        elif kind == "ACTIVATE_VERSION":
            self.activations[stream] = self.activations.get(stream, 0) + 1
            version = int(message["version"])
            versions = self.versions.get(stream, {})
            for key, stamped in list(versions.items()):
                if stamped is None or stamped < version:
                    del versions[key]
                    del self.rows[stream][key]

    def table(self, stream: str) -> list[dict[str, Any]]:
        return list(self.rows.get(stream, {}).values())


def run_tap(
    executable: str,
    workdir: Path,
    config: dict[str, Any],
    state: dict | None = None,
    into: Replica | None = None,
) -> TapRun:
    """`executable --config … [--state …]` to completion (5 min at most). With `into`,
    RECORD and ACTIVATE_VERSION messages are applied to it as they arrive instead of
    being kept (a large sync needs no list of every record)."""
    config_file = workdir / "config.json"
    config_file.write_text(json.dumps(config))
    args = [str(Path(sys.executable).with_name(executable)), "--config", str(config_file)]
    if state is not None:
        state_file = workdir / "state.json"
        state_file.write_text(json.dumps(state))
        args += ["--state", str(state_file)]
    stderr_file = workdir / "stderr.txt"
    messages: list[dict[str, Any]] = []
    with (
        stderr_file.open("w") as stderr,
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, text=True) as tap,
    ):
        assert tap.stdout is not None
        for line in tap.stdout:
            if not line.strip():
                continue
            message = json.loads(line)
            if into is not None and message["type"] != "STATE":
                into.apply(message)
                if message["type"] != "SCHEMA":
                    continue
            messages.append(message)
        returncode = tap.wait(timeout=300)
    return TapRun(returncode, messages, stderr_file.read_text())
