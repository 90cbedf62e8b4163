"""`dataops demo`: every local schedule into DuckDB; a second run changes nothing; and
`dataops status` reports what each run did, as JSON and as a page in a real browser."""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from dataops import project
from dataops.demo import SandboxOptions, run_demo
from dataops.sandbox import truth

DATAOPS = str(Path(project.meltano_executable()).with_name("dataops"))
ARTEFACTS = project.root() / "output" / "test-artefacts"


def dataops_status(*args: str) -> tuple[int, dict[str, Any]]:
    """`dataops status --json ARGS…` in this environment: exit code and report."""
    done = subprocess.run(
        [DATAOPS, "status", "--json", *args], capture_output=True, text=True, check=False
    )
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def loaded_per_table(report: dict[str, Any]) -> dict[str, int]:
    """Rows each table received in the last run of every schedule, per the ledger."""
    loaded: dict[str, int] = defaultdict(int)
    for schedule in report["schedules"]:
        schema = schedule["extractor"].replace("-", "_")
        for stream, counts in schedule["last_run"]["streams"].items():
            loaded[f"{schema}.{stream}"] += counts["rows_loaded"]
    return dict(loaded)


def test_demo_loads_every_collection_and_a_second_run_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in project.isolated_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "warehouse.duckdb"
    console = Console(file=(tmp_path / "demo.txt").open("w"), width=120)

    first = run_demo(SandboxOptions(), console, path)
    expected = {
        f"tap_{vendor}.{stream}": found["rows"]
        for vendor in ("zengrc", "edcast", "xactly", "adaptive")
        for stream, found in truth(vendor).items()
        if stream != "edcast_users"  # a second dataset the tap can be configured for
    }
    assert {c.table: c.rows for c in first} == expected
    assert {c.table: c.added for c in first} == expected
    code, report = dataops_status()
    assert code == 0, report
    assert {s["name"] for s in report["schedules"]} == {s.name for s in project.local_schedules()}
    for schedule in report["schedules"]:
        last = schedule["last_run"]
        assert (last["status"], schedule["stale"]) == ("success", False), schedule["name"]
        assert last["ended_at"]
        assert last["error"] is None
        assert not last["mismatched_streams"], schedule["name"]
    # What the tables received, as the loader counted it (equal to what the taps sent:
    # no mismatch above). The EdCast dataset's key is not unique (its spec): the rows
    # sharing a key reach the table as one.
    loaded = loaded_per_table(report)
    assert loaded.keys() == expected.keys()
    for table, rows in expected.items():
        repeats_keys = table.startswith("tap_edcast.glue_")
        assert loaded[table] >= rows if repeats_keys else loaded[table] == rows, table

    second = run_demo(SandboxOptions(), console, path)
    assert {c.table: (c.rows, c.added, c.updated) for c in second} == {
        table: (rows, 0, 0) for table, rows in expected.items()
    }

    code, report = dataops_status("--runs", "5")
    assert code == 0
    assert {s["name"]: len(s["runs"]) for s in report["schedules"]} == {
        s["name"]: 2 for s in report["schedules"]
    }
    # Judged three days later (an injected clock), every schedule is stale.
    later = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    code, stale = dataops_status("--at", later)
    assert code == 1
    assert all(s["stale"] for s in stale["schedules"])
    assert_status_page_in_chromium(tmp_path / "status.html", report)

    third = run_demo(SandboxOptions(epoch=1), console, path)
    assert sum(c.added for c in third) > 0
    assert sum(c.updated for c in third) > 0


def assert_status_page_in_chromium(page: Path, report: dict[str, Any]) -> None:
    """`dataops status --html` opened in headless Chromium: the DOM shows every
    schedule with its status and freshness, its streams, and a chart per schedule."""
    done = subprocess.run(
        [DATAOPS, "status", "--html", str(page), "--runs", "5"], capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1400,2400")
    options.binary_location = "/usr/bin/chromium"
    browser = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    try:
        browser.get(page.as_uri())
        assert browser.find_element(By.ID, "environment").text == report["environment"]
        assert browser.find_element(By.ID, "overall").get_attribute("data-healthy") == "true"
        rows = browser.find_elements(By.CSS_SELECTOR, "#schedules tbody tr")
        shown = {
            row.get_attribute("data-schedule"): (
                row.get_attribute("data-status"),
                row.get_attribute("data-stale"),
                row.find_element(By.CSS_SELECTOR, ".fresh").text.split()[0],
            )
            for row in rows
        }
        assert shown == {s["name"]: ("success", "false", "fresh") for s in report["schedules"]}
        for schedule in report["schedules"]:
            section = browser.find_element(By.ID, schedule["name"])
            streams = {
                row.get_attribute("data-stream")
                for row in section.find_elements(By.CSS_SELECTOR, "table.streams tbody tr")
            }
            assert streams == set(schedule["last_run"]["streams"])
            for chart in ("rows", "seconds"):
                svg = section.find_element(By.ID, f"{schedule['name']}-{chart}")
                assert svg.is_displayed()
                assert len(svg.find_elements(By.TAG_NAME, "rect")) == len(schedule["runs"])
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(ARTEFACTS / "status-page.png"))
    finally:
        browser.quit()
