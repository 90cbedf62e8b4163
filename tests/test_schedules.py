"""`dataops schedules export`: the schedules file Airflow's DAGs are made from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dataops import project, schedules
from dataops.cli import app

DECLARED = project.root() / "meltano" / "schedules.meltano.yml"
# Per interval: the shortest wait between two cron times (the sync's timeout) and twice
# the longest (the default freshness SLO), in hours.
TIMEOUT_AND_SLO_HOURS = {
    "0 */8 * * *": (8, 16),
    "0 7 * * *": (24, 48),
    "0 0,5 * * *": (5, 38),
    "0 4 * * *": (24, 48),
}


def test_export_writes_every_schedule_sorted_and_the_cli_the_same_bytes(
    isolated: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out" / "schedules.json"
    entries = schedules.export(path, env=isolated)
    assert json.loads(path.read_text()) == {"schedules": entries}
    assert [e["name"] for e in entries] == sorted(e["name"] for e in entries)
    declared = {s["name"]: s for s in yaml.safe_load(DECLARED.read_text())["schedules"]}
    assert {e["name"]: e for e in entries} == {
        name: {
            "name": name,
            "extractor": s["extractor"],
            "loader": s["loader"],
            "interval": s["interval"],
            "start_date": str(s["start_date"]),
            "timeout_seconds": TIMEOUT_AND_SLO_HOURS[s["interval"]][0] * 3600,
            "slo_seconds": (
                26 * 3600  # annotations.dataops.freshness_slo
                if s.get("annotations")
                else TIMEOUT_AND_SLO_HOURS[s["interval"]][1] * 3600
            ),
        }
        for name, s in declared.items()
    }

    for name, value in isolated.items():
        monkeypatch.setenv(name, value)
    again = tmp_path / "again.json"
    result = CliRunner().invoke(app, ["schedules", "export", "--output", str(again)])
    assert result.exit_code == 0, result.output
    assert f"{len(entries)} schedules written to" in result.output
    assert again.read_bytes() == path.read_bytes()  # stable: same project, same bytes
