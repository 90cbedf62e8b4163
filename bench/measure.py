"""Run a command and measure it: wall time and the peak RSS of that process."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Measurement:
    wall_s: float
    peak_rss_mib: float
    returncode: int


def run_measured(
    command: list[str],
    *,
    stdin: Path | None = None,
    stdout: Path | None = None,
    stderr: Path | None = None,
    env: dict[str, str] | None = None,
) -> Measurement:
    """Run `command` to completion; its own peak RSS comes from wait4's rusage."""
    devnull = Path(os.devnull)
    with (
        (stdin or devnull).open("rb") as fin,
        (stdout or devnull).open("wb") as fout,
        (stderr or devnull).open("wb") as ferr,
    ):
        started = time.perf_counter()
        process = subprocess.Popen(
            command, stdin=fin, stdout=fout, stderr=ferr, env={**os.environ, **(env or {})}
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return Measurement(wall, usage.ru_maxrss / 1024, process.returncode)
