"""What the plugins' tests share: each tap's settings against its sandbox, a tap run as
a process and what its messages say, and the guard of overrides of the SDK's private
methods (tap-kit's seam, target-duckdb)."""

from __future__ import annotations

import functools
import inspect
import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import singer_sdk

from dataops.testing import singer_run, verify
from dataops.testing.singer_run import Replica, TapRun

FAST_RETRIES = {"backoff_base_seconds": 0.01, "backoff_max_seconds": 1}
"""Retry timing for tests: a retried fault costs milliseconds, not seconds."""
VENDORS = ("zengrc", "edcast", "xactly", "adaptive")


def connection(vendor: str, sandbox: Any) -> dict[str, Any]:
    """The settings that point ``tap-<vendor>`` at a running sandbox."""
    if vendor == "zengrc":
        # 2 s: shorter than the sandbox's stalls, so that a stalled answer is retried.
        return {"base_url": sandbox.url, **sandbox.credentials, "request_timeout": 2}
    if vendor == "edcast":
        return {"url_base": sandbox.url, **sandbox.credentials, "request_timeout": 5}
    if vendor == "adaptive":
        login = {name: sandbox.credentials[name] for name in ("username", "password")}
        return {"url_base": sandbox.url, **login, "request_timeout": 5}
    if vendor == "xactly":
        return {
            **sandbox.credentials,
            "client_id": "sandbox",
            "consumer": "sandbox",
            "driver_jar": sandbox.driver_jar,
            "driver_class": sandbox.driver_class,
            "jdbc_url": sandbox.url,
        }
    msg = f"no tap for vendor {vendor!r} (one of {', '.join(VENDORS)})"
    raise ValueError(msg)


def config_for(vendor: str, sandbox: Any, **extra: Any) -> dict[str, Any]:
    """A test's config of ``tap-<vendor>``: the sandbox, fast retries, then ``extra``."""
    return {**connection(vendor, sandbox), **FAST_RETRIES, **extra}


def run_tap(
    vendor: str,
    workdir: Path,
    config: dict[str, Any],
    state: dict | None = None,
    into: Replica | None = None,
) -> TapRun:
    """``tap-<vendor>`` run to its end (:func:`singer_run.run_tap`)."""
    return singer_run.run_tap(f"tap-{vendor}", workdir, config, state, into)


def start_tap(
    vendor: str, workdir: Path, config: dict[str, Any], state: dict | None = None
) -> subprocess.Popen[str]:
    """``tap-<vendor>`` started, its messages to be read line by line from ``stdout``
    (a test that kills it midway); its stderr goes to ``workdir / "stderr.log"``."""
    (workdir / "config.json").write_text(json.dumps(config))
    args = [str(Path(sys.executable).with_name(f"tap-{vendor}"))]
    args += ["--config", str(workdir / "config.json")]
    if state is not None:
        (workdir / "state.json").write_text(json.dumps(state))
        args += ["--state", str(workdir / "state.json")]
    with (workdir / "stderr.log").open("w") as stderr:
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, text=True)


def sent(messages: list[dict], stream: str, kind: str = "RECORD") -> list[dict]:
    """The messages of one kind a run sent for ``stream``."""
    return [m for m in messages if m["type"] == kind and m["stream"] == stream]


def records_by_stream(messages: list[dict]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = defaultdict(list)
    for message in messages:
        if message["type"] == "RECORD":
            found[message["stream"]].append(message["record"])
    return found


def emitted(messages: list[dict]) -> Counter[str]:
    """RECORD messages per stream."""
    return Counter(m["stream"] for m in messages if m["type"] == "RECORD")


def activated(messages: list[dict]) -> dict[str, int]:
    """The version each stream activated (ACTIVATE_VERSION)."""
    return {m["stream"]: m["version"] for m in messages if m["type"] == "ACTIVATE_VERSION"}


def replay(messages: list[dict], replica: Replica) -> Replica:
    """``replica`` after ``messages``, applied in order."""
    for message in messages:
        replica.apply(message)
    return replica


def assert_replica_is_truth(replica: Replica, vendor: str, **options: Any) -> None:
    """Every stream (or ``streams``) of the replica equals the sandbox's truth;
    ``options`` as :func:`verify.compare_replica` takes them (seed, epoch, …)."""
    reports = verify.compare_replica(replica, vendor, **options)
    assert [r.describe() for r in reports if not r.ok] == []


def overrides_out_of_step(*classes: type) -> list[str]:
    """What an SDK upgrade broke of the ``@override`` methods of ``classes``: each
    must still find its method in a base class, taking the same parameters (names and
    kinds; ``*args, **kwargs`` pass anything on), and a private one must still be
    called somewhere in singer-sdk (else it is no hook any more). An empty list: all
    in step."""
    found = []
    for cls in classes:
        for name, ours in vars(cls).items():
            method: Any = ours.fget if isinstance(ours, property) else ours
            if not getattr(method, "__override__", False):
                continue
            base = next((b for b in cls.__mro__[1:] if name in vars(b)), None)
            if base is None:
                found.append(f"{cls.__name__}.{name}: no base class has it any longer")
                continue
            private = name.startswith("_") and not name.startswith("__")
            if private and not re.search(rf"\.{name}\b", _sdk_source()):
                found.append(f"{cls.__name__}.{name}: singer-sdk no longer calls it")
            theirs = vars(base)[name]
            if isinstance(theirs, property) or isinstance(ours, property):
                continue
            if _parameters(method) != _parameters(theirs) and not _passes_anything(method, theirs):
                found.append(
                    f"{cls.__name__}.{name}: {base.__module__}.{base.__qualname__}.{name} now "
                    f"takes {inspect.signature(theirs)}, ours {inspect.signature(method)}"
                )
    return found


def _parameters(function: Any) -> list[tuple[str, Any]]:
    target = inspect.unwrap(function.__func__ if hasattr(function, "__func__") else function)
    return [(p.name, p.kind) for p in inspect.signature(target).parameters.values()]


def _passes_anything(ours: Any, theirs: Any) -> bool:
    """Whether ``ours`` takes whatever ``theirs`` does and passes it on: ``**kwargs``,
    and ``*args`` unless ``theirs`` takes keywords only."""
    kinds = {kind for _, kind in _parameters(ours)}
    positional = [
        name
        for name, kind in _parameters(theirs)[1:]
        if kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    if inspect.Parameter.VAR_KEYWORD not in kinds:
        return False
    return inspect.Parameter.VAR_POSITIONAL in kinds or not positional


@functools.cache
def _sdk_source() -> str:
    """The text of every module of the installed singer-sdk."""
    root = Path(singer_sdk.__file__).parent
    return "\n".join(path.read_text() for path in sorted(root.rglob("*.py")))
