"""`dataops sandbox …` as a user runs it: the installed entry point, in a subprocess."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from dataops.sandbox import truth

DATAOPS = str(Path(sys.executable).parent / "dataops")


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_url_first_and_stops_cleanly(stop_signal: signal.Signals) -> None:
    command = [DATAOPS, "sandbox", "serve", "zengrc", "--seed", "2", "--page-size", "5"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            url = proc.stdout.readline().strip()  # type: ignore[union-attr]
            info = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
            assert url.startswith("http://127.0.0.1:")
            assert url.endswith("/api/v2")
            credentials = info["credentials"]
            response = requests.get(
                f"{url}/audits", auth=(credentials["username"], credentials["password"]), timeout=5
            )
            assert len(response.json()["data"]) == 5
        finally:
            proc.send_signal(stop_signal)
            _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "Traceback" not in stderr


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DATAOPS, "sandbox", *args], capture_output=True, text=True, timeout=30)


def test_truth_prints_json() -> None:
    result = run("truth", "zengrc", "--epoch", "1")
    assert result.returncode == 0
    assert json.loads(result.stdout) == truth("zengrc", epoch=1)


@pytest.mark.parametrize("vendor", ["zengrc", "edcast", "xactly", "adaptive"])
def test_truth_rows_adds_every_live_row_with_its_values(vendor: str) -> None:
    args = ("truth", vendor, "--seed", "3", "--epoch", "2")
    plain, with_rows = run(*args), run(*args, "--rows")
    assert with_rows.returncode == 0, with_rows.stderr
    printed = json.loads(with_rows.stdout)
    assert {
        stream: {k: v for k, v in info.items() if k != "records"}
        for stream, info in printed.items()
    } == json.loads(plain.stdout)
    for stream, info in printed.items():
        assert len(info["records"]) == info["rows"], stream
        keys = sorted([record[k] for k in info["key"]] for record in info["records"])
        assert keys == info["keys"], stream


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["truth", "nope"], "known vendors: zengrc"),
        (["serve", "nope"], "known vendors: zengrc"),
        (["serve", "zengrc", "--faults", "500:0.5,boom:0.1"], "'boom'"),
    ],
)
def test_user_errors_exit_2_without_traceback(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
