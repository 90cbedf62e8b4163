"""Every plugin's README shows its settings as its `--about` prints them now, and the
generated table stays a table whatever the settings say (`dataops.plugin_readme`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataops import plugin_readme, project
from dataops.plugin_readme import COMMAND, Plugin

ROOT = project.root()


@pytest.mark.parametrize(
    "plugin", plugin_readme.plugins(ROOT), ids=lambda plugin: plugin.executable
)
def test_readme_settings_match_about(plugin: Plugin) -> None:
    problem = plugin_readme.problem(plugin)
    assert problem is None, f"{plugin.executable}: {problem}; run `{COMMAND}` and commit it"


def test_every_cell_is_escaped_and_constraints_shown() -> None:
    section = plugin_readme.settings_section(
        {
            "capabilities": ["about"],
            "settings": {
                "type": "object",
                "required": ["pattern"],
                "properties": {
                    "pattern": {"type": ["string"], "default": "(^|_)id$", "secret": True},
                    "url": {"type": ["string", "null"], "description": "https://<tenant>/a|b"},
                    "size": {"type": ["integer", "null"], "minimum": 1, "default": 10},
                    "mode": {"type": ["string", "null"], "enum": ["a", "b", None]},
                },
            },
        }
    )
    rows = section.splitlines()[5:-1]
    assert rows == [
        r"| `pattern` | string, secret | yes | `(^\|_)id$` |  |",
        r"| `url` | string |  |  | https://&lt;tenant>/a\|b |",
        "| `size` | integer ≥ 1 |  | `10` |  |",
        "| `mode` | string: `a`, `b` |  |  |  |",
    ]


def test_a_readme_without_the_markers_is_reported(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# tap-x\n")
    problem = plugin_readme.problem(Plugin(tmp_path, "tap-x"))
    assert problem is not None
    assert plugin_readme.BEGIN in problem
