"""Whole pipelines against a sandbox, and the warehouse compared with its truth: what
the end-to-end tests and `dataops soak` do.

A pipeline is `meltano run [OPTIONS] EXTRACTOR LOADER` in the project, the extractor
pointed at its vendor's sandbox as the demo points it (`dataops.demo.SANDBOX_FOR_EXTRACTOR`).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from dataops import project, warehouse
from dataops.demo import SANDBOX_FOR_EXTRACTOR
from dataops.sandbox import HttpSandbox, XactlySandbox, records, serve
from dataops.sandbox.registry import get_vendor
from dataops.testing import verify

RUN_TIMEOUT_SECONDS = 900


def command(extractor: str, loader: str, *options: str) -> list[str]:
    return [project.meltano_executable(), "run", *options, extractor, loader]


def _env(env: Mapping[str, str]) -> dict[str, str]:
    return {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", **env}


def _completed(
    extractor: str, loader: str, env: Mapping[str, str], *options: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    """The pipeline run to its end, its log (stderr) kept."""
    return subprocess.run(
        command(extractor, loader, *options),
        cwd=project.root(),
        env=_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run(
    extractor: str,
    loader: str,
    env: Mapping[str, str],
    *options: str,
    timeout: float = RUN_TIMEOUT_SECONDS,
) -> str:
    """Run the pipeline to its end: '' when it succeeded, else what went wrong (the
    exit status and Meltano's last log lines)."""
    try:
        done = _completed(extractor, loader, env, *options, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"`meltano run {extractor} {loader}` ran past {timeout} s"
    if done.returncode == 0:
        return ""
    last = [line for line in done.stderr.splitlines() if line.strip()][-3:]
    return f"`meltano run {extractor} {loader}` exited {done.returncode}: " + " | ".join(last)


def start(
    extractor: str, loader: str, env: Mapping[str, str], *options: str, log: Path | None = None
) -> subprocess.Popen:
    """The pipeline started in a session of its own (so `kill_group` stops all of it),
    its output written to `log` if given."""
    with log.open("w") if log else open(os.devnull, "w") as out:
        return subprocess.Popen(
            command(extractor, loader, *options),
            cwd=project.root(),
            env=_env(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill_group(pipeline: subprocess.Popen) -> None:
    """SIGKILL a pipeline started by `start` (meltano, tap and target at once); return
    when none of them is alive, so the loader's lock on the warehouse is gone."""
    members = [p for p in psutil.process_iter() if _group_of(p) == pipeline.pid]
    os.killpg(pipeline.pid, signal.SIGKILL)
    pipeline.wait()
    psutil.wait_procs(members, timeout=30)


def _group_of(process: psutil.Process) -> int | None:
    try:
        return os.getpgid(process.pid)
    except (ProcessLookupError, psutil.Error):
        return None


def killed_midway(extractor: str, loader: str, env: Mapping[str, str], after: float) -> bool:
    """Start the pipeline and kill all of it `after` seconds in; False when it had
    already ended."""
    pipeline = start(extractor, loader, env)
    try:
        pipeline.wait(timeout=after)
        return False
    except subprocess.TimeoutExpired:
        kill_group(pipeline)
        return True


@dataclass
class Synced:
    """What one sync against a sandbox did."""

    log: str
    """Meltano's log (stderr)."""
    faults: dict[str, int] = field(default_factory=dict)
    """Faults the sandbox injected, by kind (HTTP sandboxes; the JDBC one's fault is an
    aborted session, counted in its own stats)."""
    moved: bool = False
    """Whether the sandbox's data moved on to the next epoch during the sync."""


@contextmanager
def sandbox_env(
    extractor: str, **options: Any
) -> Iterator[tuple[HttpSandbox | XactlySandbox, dict[str, str]]]:
    """The extractor's vendor sandbox, served with `options`, and the env vars that
    point the extractor at it."""
    binding = SANDBOX_FOR_EXTRACTOR[extractor]
    with serve(binding.vendor, **options) as sandbox:
        yield sandbox, binding.env(sandbox)


def sync(
    extractor: str,
    loader: str,
    env: Mapping[str, str],
    *options: str,
    **sandbox_options: Any,
) -> Synced:
    """One `meltano run` against the extractor's sandbox; an AssertionError with
    Meltano's last words when it fails."""
    with sandbox_env(extractor, **sandbox_options) as (sandbox, pointed):
        done = _completed(
            extractor, loader, {**env, **pointed}, *options, timeout=RUN_TIMEOUT_SECONDS
        )
        faults = sandbox.stats.snapshot()["faults"] if isinstance(sandbox, HttpSandbox) else {}
        synced = Synced(done.stderr, dict(faults), sandbox.moved)
    assert done.returncode == 0, done.stderr[-4000:]
    return synced


def differences(
    location: warehouse.Location,
    vendor: str,
    *,
    seed: int,
    epoch: int,
    scale: int = 1,
    streams: Iterable[str] | None = None,
    dropped_fields: Mapping[str, frozenset[str]] | None = None,
) -> list[str]:
    """How the vendor's tables in the warehouse differ from its truth (none: exact)."""
    reports = verify.compare_with_truth(
        location,
        vendor,
        f"tap_{vendor}",
        seed=seed,
        epoch=epoch,
        scale=scale,
        streams=streams,
        dropped_fields=dropped_fields,
    )
    return [report.describe() for report in reports if not report.ok]


def assert_equals_truth(location: warehouse.Location, vendor: str, **truth: Any) -> None:
    """`differences` as a test assertion (the first 20 differences in its message)."""
    found = differences(location, vendor, **truth)
    assert not found, "\n".join(found[:20])


def moving_run_problems(
    location: warehouse.Location,
    vendor: str,
    *,
    seed: int,
    epoch: int,
    scale: int = 1,
    streams: Iterable[str] | None = None,
) -> list[str]:
    """Right after a sync that read data moving from `epoch` to the next: no key twice,
    and every key one the source had at one of the two epochs (the next sync must then
    make the warehouse exact)."""
    before = records(vendor, seed=seed, scale=scale, epoch=epoch)
    after = records(vendor, seed=seed, scale=scale, epoch=epoch + 1)
    keys = get_vendor(vendor).key_properties
    problems = []
    for stream in streams or after:
        known = {
            tuple(verify.normalise(row[k]) for k in keys[stream])
            for row in [*before.get(stream, []), *after.get(stream, [])]
        }
        loaded = Counter(
            tuple(verify.normalise(row[k]) for k in keys[stream])
            for row in warehouse.rows(location, f"tap_{vendor}", stream)
            if row.get("_sdc_deleted_at") is None
        )
        doubled = [key for key, n in loaded.items() if n > 1]
        unknown = sorted(set(loaded) - known)
        if doubled or unknown:
            problems.append(
                f"{stream} after moving data: {len(doubled)} doubled, {len(unknown)} never "
                f"in the source, e.g. {(doubled + unknown)[:3]}"
            )
    return problems
