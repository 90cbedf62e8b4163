"""`dataops airflow` stops everything it started when asked to by a signal, not only on
Ctrl-C: Airflow standalone's components and the sandboxes."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil

from dataops import project

DATAOPS = str(Path(project.meltano_executable()).with_name("dataops"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def components(leader: psutil.Process) -> list[psutil.Process]:
    try:
        return leader.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def test_sigterm_stops_airflow_and_the_sandboxes(tmp_path: Path) -> None:
    log = tmp_path / "airflow.log"
    with log.open("w") as out:
        started = subprocess.Popen(
            [DATAOPS, "airflow", "--port", str(free_port())],
            cwd=project.root(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    leader = psutil.Process(started.pid)
    deadline = time.monotonic() + 240
    # Up: the scheduler among the standalone's components (the sandboxes run before it).
    while not any("scheduler" in " ".join(p.cmdline()) for p in components(leader)):
        assert started.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "airflow standalone never started its scheduler"
        time.sleep(0.5)
    running = components(leader)

    started.send_signal(signal.SIGTERM)
    assert started.wait(timeout=120) == 0, log.read_text()[-3000:]
    _, alive = psutil.wait_procs(running, timeout=30)
    assert alive == [], [" ".join(p.cmdline()) for p in alive]
    assert "SIGTERM: stopping Airflow" in log.read_text()
