"""Run a command and measure it: wall time and the peak RSS of that process.

A process's peak RSS (wait4's ``ru_maxrss``) starts at what its parent held when it was
forked and survives exec, so a command forked by a bench holding a sandbox or a truth
table would report the bench's size. Each command is therefore started by a small
launcher (a bare interpreter, a few MiB), which forks it, waits for it and writes its
peak RSS to a file; the launcher adds about 20 ms to the wall time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as peak:
    peak.write(str(usage.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


@contextmanager
def launched(command: list[str]) -> Iterator[tuple[list[str], Path]]:
    """`command` as the launcher runs it, and the file its peak RSS (KiB) lands in."""
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as tmp:
        peak = Path(tmp) / "peak"
        yield [sys.executable, "-S", "-c", LAUNCHER, str(peak), *command], peak


def peak_mib(peak: Path) -> float:
    return int(peak.read_text()) / 1024


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
        launched(command) as (launcher, peak),
    ):
        started = time.perf_counter()
        process = subprocess.run(
            launcher,
            stdin=fin,
            stdout=fout,
            stderr=ferr,
            env={**os.environ, **(env or {})},
            check=False,
        )
        wall = time.perf_counter() - started
        return Measurement(wall, peak_mib(peak), process.returncode)


@dataclass(frozen=True)
class PipelineMeasurement:
    wall_s: float
    tap_peak_rss_mib: float
    target_peak_rss_mib: float


def run_pipeline(
    tap: list[str],
    target: list[str],
    *,
    log: Path,
    env: dict[str, str] | None = None,
    tap_log: Path | None = None,
    target_stdout: Path | None = None,
) -> PipelineMeasurement:
    """`tap | target`, as Meltano runs them (stdout piped); each one's own peak RSS.

    Both write their logs to `log`, the tap to `tap_log` if given; the target's output
    (its STATE messages) is discarded unless `target_stdout` is given."""
    full_env = {**os.environ, **(env or {})}
    with (
        log.open("wb") as errors,
        (tap_log or Path(os.devnull)).open("wb") as own_tap_log,
        (target_stdout or Path(os.devnull)).open("wb") as output,
        launched(tap) as (tap_launcher, tap_peak),
        launched(target) as (target_launcher, target_peak),
    ):
        tap_errors = own_tap_log if tap_log else errors
        started = time.perf_counter()
        producer = subprocess.Popen(
            tap_launcher, stdout=subprocess.PIPE, stderr=tap_errors, env=full_env
        )
        consumer = subprocess.Popen(
            target_launcher, stdin=producer.stdout, stdout=output, stderr=errors, env=full_env
        )
        assert producer.stdout is not None
        producer.stdout.close()  # the target owns the pipe now
        tap_code, target_code = producer.wait(), consumer.wait()
        wall = time.perf_counter() - started
        if tap_code or target_code:
            logs = f"{log} and {tap_log}" if tap_log else str(log)
            msg = f"pipeline failed (tap {tap_code}, target {target_code}); see {logs}"
            raise RuntimeError(msg)
        return PipelineMeasurement(wall, peak_mib(tap_peak), peak_mib(target_peak))
