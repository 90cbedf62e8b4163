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
    ):
        tap_errors = own_tap_log if tap_log else errors
        started = time.perf_counter()
        producer = subprocess.Popen(tap, stdout=subprocess.PIPE, stderr=tap_errors, env=full_env)
        consumer = subprocess.Popen(
            target, stdin=producer.stdout, stdout=output, stderr=errors, env=full_env
        )
        assert producer.stdout is not None
        producer.stdout.close()  # the target owns the pipe now
        _, tap_status, tap_usage = os.wait4(producer.pid, 0)
        _, target_status, target_usage = os.wait4(consumer.pid, 0)
        wall = time.perf_counter() - started
    producer.returncode = os.waitstatus_to_exitcode(tap_status)
    consumer.returncode = os.waitstatus_to_exitcode(target_status)
    if producer.returncode or consumer.returncode:
        codes = f"tap {producer.returncode}, target {consumer.returncode}"
        logs = f"{log} and {tap_log}" if tap_log else str(log)
        msg = f"pipeline failed ({codes}); see {logs}"
        raise RuntimeError(msg)
    return PipelineMeasurement(wall, tap_usage.ru_maxrss / 1024, target_usage.ru_maxrss / 1024)
